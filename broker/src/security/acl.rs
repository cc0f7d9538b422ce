//! ACLs and the authorizer: Kafka's `StandardAuthorizer` decision over bindings kept in the
//! data dir as `josefine-acls.json`.
//!
//! The decision, in Kafka's order: a super user (`super.users`) may do anything; otherwise
//! every ACL whose pattern matches the resource (the literal name, the literal wildcard `*`,
//! and every PREFIXED pattern the name starts with) and whose principal (or `User:*`) and host
//! (or `*`) match is consulted. A matching DENY refuses; else a matching ALLOW allows, where
//! ALLOW of ALL implies every operation, ALLOW of READ, WRITE, DELETE or ALTER implies
//! DESCRIBE and ALLOW of ALTER_CONFIGS implies DESCRIBE_CONFIGS (DENY implies nothing but for
//! ALL). When no ACL at all names the resource, `allow.everyone.if.no.acl.found` decides.
//!
//! The index is per resource type: a hash map of literal names and an ordered map of
//! prefixes, looked up by each prefix of the name, so a check costs a few map lookups and no
//! allocation, whatever the number of ACLs. Without `authorizer.class.name` every check is
//! allowed before any lookup.
//!
//! References: Kafka documentation section 7.5 "Authorization and ACLs"; KIP-11; KIP-290
//! (prefixed ACLs); KIP-430 (authorized operations); KIP-801 (StandardAuthorizer);
//! `org.apache.kafka.metadata.authorizer.StandardAuthorizerData`, `AclControlManager`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::{KafkaPrincipal, Operation, ResourceType};
use crate::config::AuthorizerConfig;

/// The file in the data dir root that holds every ACL.
pub(crate) const ACLS_FILE: &str = "josefine-acls.json";

/// The literal resource name that matches every name (`ResourcePattern.WILDCARD_RESOURCE`).
pub(crate) const WILDCARD_RESOURCE: &str = "*";

/// The host that matches every client host.
pub(crate) const WILDCARD_HOST: &str = "*";

/// How an ACL's resource name matches (`PatternType`), with Kafka's wire codes. ANY (1) and
/// MATCH (2) exist only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum PatternType {
    /// LITERAL (3): the name itself, or every name when it is `*`.
    Literal = 3,
    /// PREFIXED (4): every name that starts with it.
    Prefixed = 4,
}

/// Whether an ACL allows or denies (`AclPermissionType`), with Kafka's wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum Permission {
    /// DENY (2).
    Deny = 2,
    /// ALLOW (3).
    Allow = 3,
}

impl PatternType {
    /// The pattern type of wire code `code`, if it is LITERAL or PREFIXED.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            3 => Some(Self::Literal),
            4 => Some(Self::Prefixed),
            _ => None,
        }
    }

    /// Kafka's name, e.g. `PREFIXED`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Literal => "LITERAL",
            Self::Prefixed => "PREFIXED",
        }
    }
}

impl Permission {
    /// The permission of wire code `code`, if it is DENY or ALLOW.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(Self::Deny),
            3 => Some(Self::Allow),
            _ => None,
        }
    }

    /// Kafka's name, e.g. `ALLOW`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deny => "DENY",
            Self::Allow => "ALLOW",
        }
    }
}

/// Kafka's name of a filter's pattern type code (`PatternType.fromCode`).
fn pattern_code_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        2 => "MATCH",
        3 => "LITERAL",
        4 => "PREFIXED",
        _ => "UNKNOWN",
    }
}

/// Kafka's name of a resource type code (`ResourceType.fromCode`).
fn resource_code_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        _ => ResourceType::from_code(code).map_or("UNKNOWN", ResourceType::name),
    }
}

/// Kafka's name of an operation code (`AclOperation.fromCode`).
fn operation_code_name(code: i8) -> &'static str {
    match code {
        1 => "ANY",
        _ => Operation::from_code(code).map_or("UNKNOWN", Operation::name),
    }
}

/// One ACL (`AclBinding`): a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The resource name or prefix; `*` with LITERAL names every resource of the type.
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: PatternType,
    /// The principal, `Type:name`; `User:*` is every user.
    pub principal: String,
    /// The client host (an IP address as the broker sees it), or `*`.
    pub host: String,
    /// The operation; ALL is every operation.
    pub operation: Operation,
    /// ALLOW or DENY.
    pub permission: Permission,
}

/// A refusal of a binding or filter: Kafka's INVALID_REQUEST with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

impl AclBinding {
    /// The binding of a CreateAcls creation's wire fields, checked as Kafka's `AclApis` and
    /// `AclControlManager.validateNewAcl` check it.
    ///
    /// Errors: [`InvalidAcl`] with Kafka's message (a CLUSTER name other than
    /// `kafka-cluster`, an empty name, an UNKNOWN or ANY type, operation or permission, a
    /// principal without `:`).
    pub fn from_wire(
        resource_type: i8,
        resource_name: &str,
        pattern_type: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> Result<Self, InvalidAcl> {
        let invalid = |message: String| Err(InvalidAcl(message));
        if resource_type == ResourceType::Cluster as i8 && resource_name != super::CLUSTER_NAME {
            return invalid(format!(
                "The only valid name for the CLUSTER resource is {}",
                super::CLUSTER_NAME
            ));
        }
        if resource_name.is_empty() {
            return invalid("Invalid empty resource name".into());
        }
        let Some(resource) = ResourceType::from_code(resource_type) else {
            return invalid(format!(
                "Invalid resourceType {}",
                resource_code_name(resource_type)
            ));
        };
        let Some(pattern) = PatternType::from_code(pattern_type) else {
            return invalid(format!(
                "Invalid patternType {}",
                pattern_code_name(pattern_type)
            ));
        };
        let Some(op) = Operation::from_code(operation) else {
            return invalid(format!(
                "Invalid operation {}",
                operation_code_name(operation)
            ));
        };
        let Some(permission_type) = Permission::from_code(permission) else {
            return invalid(format!(
                "Invalid permissionType {}",
                match permission {
                    1 => "ANY",
                    _ => "UNKNOWN",
                }
            ));
        };
        if !principal.contains(':') {
            return invalid(format!("Could not parse principal from `{principal}` (no colon is present separating the principal type from the principal name)"));
        }
        Ok(Self {
            resource_type: resource,
            resource_name: resource_name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: host.into(),
            operation: op,
            permission: permission_type,
        })
    }
}

/// An ACL filter of DescribeAcls and DeleteAcls (`AclBindingFilter`), in wire codes: `None`
/// strings match anything; resource type, operation and permission ANY (1) match anything;
/// pattern type ANY matches any pattern with this exact name, MATCH every pattern that
/// matches the name (literal, `*` and prefixes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    /// Resource type code; 1 = ANY.
    pub resource_type: i8,
    /// Resource name; `None` matches any.
    pub resource_name: Option<String>,
    /// Pattern type code: 1 = ANY, 2 = MATCH, 3 = LITERAL, 4 = PREFIXED.
    pub pattern_type: i8,
    /// Principal; `None` matches any.
    pub principal: Option<String>,
    /// Host; `None` matches any.
    pub host: Option<String>,
    /// Operation code; 1 = ANY.
    pub operation: i8,
    /// Permission code; 1 = ANY.
    pub permission: i8,
}

const ANY: i8 = 1;
const MATCH: i8 = 2;

impl AclBindingFilter {
    /// Refuses filters with UNKNOWN elements (`AclControlManager.validateFilter`).
    ///
    /// Errors: [`InvalidAcl`] "Unknown patternFilter." or "Unknown entryFilter.".
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let known_resource =
            self.resource_type == ANY || ResourceType::from_code(self.resource_type).is_some();
        let known_pattern = matches!(self.pattern_type, 1..=4);
        if !known_resource || !known_pattern {
            return Err(InvalidAcl("Unknown patternFilter.".into()));
        }
        let known_operation =
            self.operation == ANY || Operation::from_code(self.operation).is_some();
        let known_permission =
            self.permission == ANY || Permission::from_code(self.permission).is_some();
        if !known_operation || !known_permission {
            return Err(InvalidAcl("Unknown entryFilter.".into()));
        }
        Ok(())
    }

    /// Whether `acl` matches (`AclBindingFilter.matches`).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl) && self.matches_entry(acl)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ANY && self.resource_type != acl.resource_type as i8 {
            return false;
        }
        let pattern = acl.pattern_type as i8;
        if self.pattern_type != ANY && self.pattern_type != MATCH && self.pattern_type != pattern {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == ANY || self.pattern_type == pattern {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            PatternType::Literal => {
                *name == acl.resource_name || acl.resource_name == WILDCARD_RESOURCE
            }
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
        }
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == ANY || self.operation == acl.operation as i8)
            && (self.permission == ANY || self.permission == acl.permission as i8)
    }
}

/// Which client hosts an ACL applies to, parsed once so a check compares addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Ip(IpAddr),
    /// Not an address: Kafka compares it with the client's address text, so it never matches.
    Never,
}

/// One entry of the index: what an ACL says about the resources its pattern matches.
#[derive(Debug, Clone)]
struct Entry {
    /// `None` for `User:*`.
    principal: Option<(String, String)>,
    host: HostMatch,
    operation: Operation,
    permission: Permission,
}

/// What one matching entry decides, `None` when it does not apply (`findResult`).
fn decide(
    entry: &Entry,
    principal: &KafkaPrincipal,
    host: IpAddr,
    operation: Operation,
) -> Option<Permission> {
    if let Some((principal_type, name)) = &entry.principal {
        if *principal_type != principal.principal_type || *name != principal.name {
            return None;
        }
    }
    match entry.host {
        HostMatch::Any => {}
        HostMatch::Ip(ip) if ip == host => {}
        _ => return None,
    }
    if entry.operation != Operation::All {
        let applies = match (entry.permission, operation) {
            (Permission::Allow, Operation::Describe) => matches!(
                entry.operation,
                Operation::Describe
                    | Operation::Read
                    | Operation::Write
                    | Operation::Delete
                    | Operation::Alter
            ),
            (Permission::Allow, Operation::DescribeConfigs) => matches!(
                entry.operation,
                Operation::DescribeConfigs | Operation::AlterConfigs
            ),
            _ => entry.operation == operation,
        };
        if !applies {
            return None;
        }
    }
    Some(entry.permission)
}

#[derive(Debug, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: BTreeMap<String, Vec<Entry>>,
}

/// Every ACL, and the index built from them.
#[derive(Debug, Default)]
struct AclIndex {
    /// The bindings, in creation order, without duplicates.
    bindings: Vec<AclBinding>,
    /// Indexed by resource type code (2..=7).
    types: [TypeIndex; 8],
}

impl AclIndex {
    fn new(bindings: Vec<AclBinding>) -> Self {
        let mut index = Self::default();
        for acl in &bindings {
            let entry = Entry {
                principal: match acl.principal.split_once(':') {
                    Some(("User", "*")) => None,
                    Some((t, n)) => Some((t.to_string(), n.to_string())),
                    None => Some((acl.principal.clone(), String::new())),
                },
                host: if acl.host == WILDCARD_HOST {
                    HostMatch::Any
                } else {
                    acl.host.parse().map_or(HostMatch::Never, HostMatch::Ip)
                },
                operation: acl.operation,
                permission: acl.permission,
            };
            let Some(types) = index.types.get_mut(acl.resource_type as usize) else {
                continue;
            };
            let map = match acl.pattern_type {
                PatternType::Literal => types.literal.entry(acl.resource_name.clone()).or_default(),
                PatternType::Prefixed => {
                    types.prefixed.entry(acl.resource_name.clone()).or_default()
                }
            };
            map.push(entry);
        }
        index.bindings = bindings;
        index
    }

    /// `Some(permission)` of the decision of the ACLs naming the resource, `None` when none
    /// names it.
    fn decide(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<Permission> {
        let types = self.types.get(resource_type as usize)?;
        let mut found = false;
        let mut allowed = false;
        let mut consult = |entries: &[Entry]| -> bool {
            for entry in entries {
                found = true;
                match decide(entry, principal, host, operation) {
                    Some(Permission::Deny) => return true,
                    Some(Permission::Allow) => allowed = true,
                    None => {}
                }
            }
            false
        };
        if let Some(entries) = types.literal.get(name) {
            if consult(entries) {
                return Some(Permission::Deny);
            }
        }
        if name != WILDCARD_RESOURCE {
            if let Some(entries) = types.literal.get(WILDCARD_RESOURCE) {
                if consult(entries) {
                    return Some(Permission::Deny);
                }
            }
        }
        if !types.prefixed.is_empty() {
            for (end, _) in name.char_indices().skip(1).chain([(name.len(), ' ')]) {
                if let Some(entries) = name.get(..end).and_then(|p| types.prefixed.get(p)) {
                    if consult(entries) {
                        return Some(Permission::Deny);
                    }
                }
            }
        }
        if allowed {
            Some(Permission::Allow)
        } else if found {
            Some(Permission::Deny)
        } else {
            None
        }
    }
}

/// A failure to load or persist the ACLs.
#[derive(Debug, thiserror::Error)]
pub enum AclStoreError {
    /// The file could not be read, parsed or written.
    #[error("{path}: {reason}")]
    File {
        /// The ACL file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The authorizer: `StandardAuthorizer` decisions over the ACLs of `josefine-acls.json`, or
/// allow-all when `authorizer.class.name` is unset.
#[derive(Debug, Default)]
pub struct Authorizer {
    /// `None` without an authorizer: every check is allowed.
    config: Option<AuthorizerConfig>,
    /// Super users, split into (type, name).
    super_users: Vec<(String, String)>,
    index: RwLock<AclIndex>,
    /// The ACL file; `None` for an authorizer that does not persist (tests).
    path: Option<PathBuf>,
    /// Serializes CreateAcls and DeleteAcls: each persists the whole set.
    writes: tokio::sync::Mutex<()>,
}

/// The JSON form of one ACL in `josefine-acls.json`, with Kafka's enum names.
#[derive(Debug, Serialize, Deserialize)]
struct StoredAcl {
    resource_type: String,
    resource_name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission_type: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAcls {
    version: u32,
    acls: Vec<StoredAcl>,
}

fn to_stored(acl: &AclBinding) -> StoredAcl {
    StoredAcl {
        resource_type: acl.resource_type.name().into(),
        resource_name: acl.resource_name.clone(),
        pattern_type: acl.pattern_type.name().into(),
        principal: acl.principal.clone(),
        host: acl.host.clone(),
        operation: acl.operation.name().into(),
        permission_type: acl.permission.name().into(),
    }
}

fn from_stored(stored: &StoredAcl) -> Option<AclBinding> {
    let resource_type = (2..=7)
        .filter_map(ResourceType::from_code)
        .find(|t| t.name() == stored.resource_type)?;
    let pattern_type = [PatternType::Literal, PatternType::Prefixed]
        .into_iter()
        .find(|p| p.name() == stored.pattern_type)?;
    let operation = (2..=14)
        .filter_map(Operation::from_code)
        .find(|o| o.name() == stored.operation)?;
    let permission = [Permission::Deny, Permission::Allow]
        .into_iter()
        .find(|p| p.name() == stored.permission_type)?;
    Some(AclBinding {
        resource_type,
        resource_name: stored.resource_name.clone(),
        pattern_type,
        principal: stored.principal.clone(),
        host: stored.host.clone(),
        operation,
        permission,
    })
}

/// The outcome of one CreateAcls creation.
pub(crate) type CreateResult = Result<(), InvalidAcl>;

impl Authorizer {
    /// The authorizer of `config`, with the ACLs of `dir/josefine-acls.json` (none when the file
    /// does not exist). Blocking: call it off the runtime workers.
    ///
    /// Errors: `File` when the ACL file cannot be read or parsed.
    pub fn open(config: &AuthorizerConfig, dir: &std::path::Path) -> Result<Self, AclStoreError> {
        let path = dir.join(ACLS_FILE);
        let mut bindings = Vec::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: StoredAcls =
                    serde_json::from_slice(&bytes).map_err(|e| AclStoreError::File {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                for acl in &stored.acls {
                    match from_stored(acl) {
                        Some(binding) if !bindings.contains(&binding) => bindings.push(binding),
                        Some(_) => {}
                        None => {
                            tracing::warn!(path = %path.display(), ?acl, "unreadable ACL skipped")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(AclStoreError::File {
                    path,
                    reason: e.to_string(),
                })
            }
        }
        let mut authorizer = Self::in_memory(config, bindings);
        authorizer.path = Some(path);
        Ok(authorizer)
    }

    /// An authorizer of `config` holding `bindings`, persisting nothing (for tests).
    pub fn in_memory(config: &AuthorizerConfig, bindings: Vec<AclBinding>) -> Self {
        Self {
            config: config.enabled.then(|| config.clone()),
            super_users: config
                .super_users
                .iter()
                .filter_map(|p| p.split_once(':'))
                .map(|(t, n)| (t.to_string(), n.to_string()))
                .collect(),
            index: RwLock::new(AclIndex::new(bindings)),
            path: None,
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether an authorizer is configured (`authorizer.class.name`): without one the ACL
    /// APIs answer SECURITY_DISABLED.
    pub fn is_enabled(&self) -> bool {
        self.config.is_some()
    }

    /// Whether `principal` connecting from `host` may perform `operation` on the resource
    /// `(resource_type, name)` (`StandardAuthorizer.authorize`; see the module docs).
    pub fn authorize(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let Some(config) = &self.config else {
            return true;
        };
        if self.is_super_user(principal) {
            return true;
        }
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        match index.decide(principal, host, operation, resource_type, name) {
            Some(permission) => permission == Permission::Allow,
            None => config.allow_everyone_if_no_acl_found,
        }
    }

    /// Whether `principal` may perform `operation` on some resource of `resource_type`
    /// (`Authorizer.authorizeByResourceType`, KIP-679): a super user may; otherwise some
    /// ALLOW binding for the principal (or `User:*`), host and operation must name a pattern
    /// that no DENY covers, or no ACL of the type exists and `allow.everyone.if.no.acl.found`.
    pub fn authorize_by_resource_type(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        let Some(config) = &self.config else {
            return true;
        };
        if self.is_super_user(principal) {
            return true;
        }
        let candidates: Vec<String> = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            let of_type = index
                .bindings
                .iter()
                .filter(|acl| acl.resource_type == resource_type);
            if config.allow_everyone_if_no_acl_found && of_type.clone().next().is_none() {
                return true;
            }
            of_type
                .filter(|acl| acl.permission == Permission::Allow)
                .map(|acl| acl.resource_name.clone())
                .collect()
        };
        candidates
            .iter()
            .any(|name| self.authorize(principal, host, operation, resource_type, name))
    }

    fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        self.super_users
            .iter()
            .any(|(t, n)| *t == principal.principal_type && *n == principal.name)
    }

    /// The operations `principal` may perform on the resource, as KIP-430's bit set (bit
    /// `1 << code` per operation) over the operations the resource type supports; every
    /// supported operation without an authorizer.
    pub fn authorized_operations(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        resource_type
            .supported_operations()
            .iter()
            .filter(|op| self.authorize(principal, host, **op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << (*op as i8)))
    }

    /// The ACLs `filter` matches (`Authorizer.acls`), in creation order.
    pub fn acls(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        index
            .bindings
            .iter()
            .filter(|acl| filter.matches(acl))
            .cloned()
            .collect()
    }

    /// Adds the valid bindings (`Ok`) of `creations`, persists the set, and answers each
    /// creation in order; a binding already present succeeds without a second copy.
    ///
    /// Errors: `File` when the ACLs cannot be persisted (nothing changed).
    pub async fn create_acls(
        &self,
        creations: Vec<Result<AclBinding, InvalidAcl>>,
    ) -> Result<Vec<CreateResult>, AclStoreError> {
        let _write = self.writes.lock().await;
        let mut bindings = self.current_bindings();
        let before = bindings.len();
        let results = creations
            .into_iter()
            .map(|creation| {
                let binding = creation?;
                if !bindings.contains(&binding) {
                    bindings.push(binding);
                }
                Ok(())
            })
            .collect();
        if bindings.len() != before {
            self.replace(bindings).await?;
        }
        Ok(results)
    }

    /// Deletes every ACL that one of `filters` matches, persists the set, and answers per
    /// filter the ACLs it matched, or its [`InvalidAcl`].
    ///
    /// Errors: `File` when the ACLs cannot be persisted (nothing changed).
    pub async fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>, InvalidAcl>>, AclStoreError> {
        let _write = self.writes.lock().await;
        let bindings = self.current_bindings();
        let results: Vec<Result<Vec<AclBinding>, InvalidAcl>> = filters
            .iter()
            .map(|filter| {
                filter.validate()?;
                Ok(bindings
                    .iter()
                    .filter(|acl| filter.matches(acl))
                    .cloned()
                    .collect())
            })
            .collect();
        let deleted: Vec<&AclBinding> = results.iter().flatten().flatten().collect();
        if !deleted.is_empty() {
            let kept = bindings
                .iter()
                .filter(|acl| !deleted.contains(acl))
                .cloned()
                .collect();
            self.replace(kept).await?;
        }
        Ok(results)
    }

    fn current_bindings(&self) -> Vec<AclBinding> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .bindings
            .clone()
    }

    /// Persists `bindings` (off the runtime workers) and then serves them.
    async fn replace(&self, bindings: Vec<AclBinding>) -> Result<(), AclStoreError> {
        if let Some(path) = self.path.clone() {
            let stored = StoredAcls {
                version: 1,
                acls: bindings.iter().map(to_stored).collect(),
            };
            let failed = |reason: String| AclStoreError::File {
                path: path.clone(),
                reason,
            };
            let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| failed(e.to_string()))?;
            let target = path.clone();
            tokio::task::spawn_blocking(move || {
                josefine_storage::write_atomically(&target, &bytes)
            })
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))?;
        }
        let index = AclIndex::new(bindings);
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = index;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission,
        }
    }

    fn enabled(allow_everyone: bool) -> AuthorizerConfig {
        AuthorizerConfig {
            enabled: true,
            super_users: vec!["User:admin".into()],
            allow_everyone_if_no_acl_found: allow_everyone,
        }
    }

    fn user(name: &str) -> KafkaPrincipal {
        KafkaPrincipal {
            principal_type: "User".into(),
            name: name.into(),
        }
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn without_an_authorizer_everything_is_allowed() {
        let authorizer = Authorizer::default();
        assert!(!authorizer.is_enabled());
        assert!(authorizer.authorize(
            &user("x"),
            LOCAL,
            Operation::Alter,
            ResourceType::Cluster,
            "kafka-cluster"
        ));
        assert_eq!(
            authorizer.authorized_operations(&user("x"), LOCAL, ResourceType::Group, "g"),
            (1 << 3) | (1 << 6) | (1 << 8)
        );
    }

    #[test]
    fn the_decision_table_follows_the_standard_authorizer() {
        use Operation::*;
        use PatternType::*;
        use Permission::*;
        use ResourceType::*;
        let authorizer = Authorizer::in_memory(
            &enabled(false),
            vec![
                acl(Topic, "orders", Literal, "User:alice", Read, Allow),
                acl(Topic, "orders", Literal, "User:bob", All, Allow),
                acl(Topic, "orders", Literal, "User:bob", Write, Deny),
                acl(Topic, "pay-", Prefixed, "User:*", Write, Allow),
                acl(Topic, "pay-secret", Literal, "User:carol", Describe, Deny),
                acl(Topic, "*", Literal, "User:dave", AlterConfigs, Allow),
                acl(Group, "g", Literal, "User:alice", Read, Allow),
            ],
        );
        let check =
            |who: &str, op, rt, name: &str| authorizer.authorize(&user(who), LOCAL, op, rt, name);
        // READ implies DESCRIBE, not WRITE.
        assert!(check("alice", Read, Topic, "orders"));
        assert!(check("alice", Describe, Topic, "orders"));
        assert!(!check("alice", Write, Topic, "orders"));
        // ALL allows all but what a DENY names.
        assert!(check("bob", Delete, Topic, "orders"));
        assert!(!check("bob", Write, Topic, "orders"));
        // A prefixed wildcard-principal ALLOW; DENY of DESCRIBE does not deny WRITE.
        assert!(check("carol", Write, Topic, "pay-in"));
        assert!(check("carol", Write, Topic, "pay-secret"));
        assert!(!check("carol", Describe, Topic, "pay-secret"));
        assert!(!check("carol", Write, Topic, "pa"));
        // ALTER_CONFIGS implies DESCRIBE_CONFIGS, on every topic through `*`.
        assert!(check("dave", DescribeConfigs, Topic, "anything"));
        assert!(!check("dave", Describe, Topic, "anything"));
        // Super users, and no ACL on the resource.
        assert!(check("admin", Write, Topic, "orders"));
        assert!(!check("alice", Describe, Cluster, "kafka-cluster"));
        assert!(!check("alice", Read, Group, "other"));
        let open = Authorizer::in_memory(
            &enabled(true),
            vec![acl(Group, "g", Literal, "User:alice", Read, Allow)],
        );
        assert!(open.authorize(&user("x"), LOCAL, Read, Group, "other"));
        assert!(!open.authorize(&user("x"), LOCAL, Read, Group, "g"));
        assert_eq!(
            authorizer.authorized_operations(&user("alice"), LOCAL, Topic, "orders"),
            (1 << 3) | (1 << 8)
        );
    }

    #[test]
    fn by_resource_type_needs_an_allow_that_no_deny_covers() {
        use Operation::*;
        let authorizer = Authorizer::in_memory(
            &enabled(false),
            vec![
                acl(
                    ResourceType::Topic,
                    "out-",
                    PatternType::Prefixed,
                    "User:a",
                    Write,
                    Permission::Allow,
                ),
                acl(
                    ResourceType::Topic,
                    "out-",
                    PatternType::Prefixed,
                    "User:b",
                    Write,
                    Permission::Allow,
                ),
                acl(
                    ResourceType::Topic,
                    "out",
                    PatternType::Prefixed,
                    "User:b",
                    Write,
                    Permission::Deny,
                ),
            ],
        );
        let any = |who: &str| {
            authorizer.authorize_by_resource_type(&user(who), LOCAL, Write, ResourceType::Topic)
        };
        assert!(any("a"));
        assert!(!any("b"));
        assert!(!any("c"));
        assert!(any("admin"));
    }

    #[test]
    fn hosts_match_exactly_or_by_wildcard() {
        let mut binding = acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "User:alice",
            Operation::Read,
            Permission::Allow,
        );
        binding.host = "10.0.0.1".into();
        let authorizer = Authorizer::in_memory(&enabled(false), vec![binding]);
        let from = |ip: [u8; 4]| {
            authorizer.authorize(
                &user("alice"),
                IpAddr::from(ip),
                Operation::Read,
                ResourceType::Topic,
                "t",
            )
        };
        assert!(from([10, 0, 0, 1]));
        assert!(!from([10, 0, 0, 2]));
    }

    #[test]
    fn filters_match_as_kafkas_acl_binding_filter() {
        use PatternType::*;
        let literal = acl(
            ResourceType::Topic,
            "orders",
            Literal,
            "User:a",
            Operation::Read,
            Permission::Allow,
        );
        let wildcard = acl(
            ResourceType::Topic,
            "*",
            Literal,
            "User:a",
            Operation::Read,
            Permission::Allow,
        );
        let prefixed = acl(
            ResourceType::Topic,
            "ord",
            Prefixed,
            "User:a",
            Operation::Read,
            Permission::Deny,
        );
        let filter = |pattern_type: i8, name: Option<&str>| AclBindingFilter {
            resource_type: ResourceType::Topic as i8,
            resource_name: name.map(str::to_string),
            pattern_type,
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        };
        let matched = |f: &AclBindingFilter| {
            [&literal, &wildcard, &prefixed]
                .iter()
                .filter(|a| f.matches(a))
                .count()
        };
        assert_eq!(matched(&filter(MATCH, Some("orders"))), 3);
        assert_eq!(matched(&filter(ANY, Some("orders"))), 1);
        assert_eq!(matched(&filter(ANY, None)), 3);
        assert_eq!(matched(&filter(3, None)), 2);
        assert_eq!(matched(&filter(4, Some("orders"))), 0);
        assert_eq!(matched(&filter(4, Some("ord"))), 1);
        let mut by_permission = filter(ANY, None);
        by_permission.permission = Permission::Deny as i8;
        assert_eq!(matched(&by_permission), 1);
        by_permission.principal = Some("User:b".into());
        assert_eq!(matched(&by_permission), 0);
        assert_eq!(
            filter(0, None).validate(),
            Err(InvalidAcl("Unknown patternFilter.".into()))
        );
        let mut unknown_op = filter(ANY, None);
        unknown_op.operation = 0;
        assert_eq!(
            unknown_op.validate(),
            Err(InvalidAcl("Unknown entryFilter.".into()))
        );
    }

    #[test]
    fn bad_bindings_get_kafkas_messages() {
        let bad = |rt, name: &str, pt, principal: &str, op, perm| {
            AclBinding::from_wire(rt, name, pt, principal, "*", op, perm)
                .err()
                .map(|e| e.0)
                .unwrap_or_default()
        };
        assert_eq!(
            bad(4, "c", 3, "User:a", 3, 3),
            "The only valid name for the CLUSTER resource is kafka-cluster"
        );
        assert_eq!(bad(2, "", 3, "User:a", 3, 3), "Invalid empty resource name");
        assert_eq!(bad(1, "t", 3, "User:a", 3, 3), "Invalid resourceType ANY");
        assert_eq!(bad(2, "t", 2, "User:a", 3, 3), "Invalid patternType MATCH");
        assert_eq!(bad(2, "t", 3, "User:a", 1, 3), "Invalid operation ANY");
        assert_eq!(
            bad(2, "t", 3, "User:a", 3, 0),
            "Invalid permissionType UNKNOWN"
        );
        assert!(bad(2, "t", 3, "alice", 3, 3).starts_with("Could not parse principal from `alice`"));
        assert!(AclBinding::from_wire(2, "t", 4, "User:a", "*", 2, 2).is_ok());
    }

    #[tokio::test]
    async fn acls_persist_and_reload() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let config = enabled(false);
        let authorizer = Authorizer::open(&config, dir.path())?;
        let binding = acl(
            ResourceType::Topic,
            "t",
            PatternType::Prefixed,
            "User:a",
            Operation::Write,
            Permission::Allow,
        );
        let results = authorizer
            .create_acls(vec![
                Ok(binding.clone()),
                Ok(binding.clone()),
                Err(InvalidAcl("x".into())),
            ])
            .await?;
        assert_eq!(results, vec![Ok(()), Ok(()), Err(InvalidAcl("x".into()))]);
        let reopened = Authorizer::open(&config, dir.path())?;
        let all = AclBindingFilter {
            resource_type: ANY,
            resource_name: None,
            pattern_type: ANY,
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        };
        assert_eq!(reopened.acls(&all), vec![binding.clone()]);
        assert!(reopened.authorize(
            &user("a"),
            LOCAL,
            Operation::Write,
            ResourceType::Topic,
            "tx"
        ));
        let deleted = reopened.delete_acls(std::slice::from_ref(&all)).await?;
        assert_eq!(deleted, vec![Ok(vec![binding])]);
        assert!(Authorizer::open(&config, dir.path())?.acls(&all).is_empty());
        Ok(())
    }
}
