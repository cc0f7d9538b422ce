//! Client quotas: what AlterClientQuotas sets and DescribeClientQuotas lists, persisted in
//! the data dir as `josefine-client-quotas.json`, and the throttling they drive.
//!
//! An entity is a set of (entity type, name) pairs: `user` and/or `client-id`, or `ip`; a
//! missing name is the type's default entity (`<default>`). Keys are Kafka's:
//! `producer_byte_rate` and `consumer_byte_rate` (bytes/s, LONG), `request_percentage`
//! (percent of one request handler thread, DOUBLE), `controller_mutation_rate` (DOUBLE,
//! stored; Josefine has no controller mutations to throttle) and, for `ip` entities,
//! `connection_creation_rate` (INT, stored, not enforced).
//!
//! Which quota applies to a request of principal `user` with client id `client` follows
//! Kafka's precedence (documentation section "Quotas"), for each quota key on its own:
//!
//! 1. `/config/users/<user>/clients/<client-id>`
//! 2. `/config/users/<user>/clients/<default>`
//! 3. `/config/users/<user>`
//! 4. `/config/users/<default>/clients/<client-id>`
//! 5. `/config/users/<default>/clients/<default>`
//! 6. `/config/users/<default>`
//! 7. `/config/clients/<client-id>`
//! 8. `/config/clients/<default>`
//!
//! Clients sharing the matched entity share its rate (Kafka's quota metric tags): a quota on
//! `/config/users/alice` is the total of all of alice's client ids. User names are compared as
//! given; Kafka compares them URL-encoded (`Sanitizer`), which is the same relation.
//!
//! References: Kafka documentation section 6.9 "Quotas"; KIP-13 (byte rate quotas), KIP-55
//! (user quotas), KIP-124 (request quotas), KIP-546 (the client quota APIs), Kafka 3.7's
//! `ClientQuotaControlManager`, `ClientQuotasImage.describe` and
//! `ClientQuotaManager.DefaultQuotaCallback`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

use crate::config::QuotaConfig;
use crate::security::throttle::QuotaManager;

/// The file holding the quotas, in the data dir root.
pub(crate) const CLIENT_QUOTAS_FILE: &str = "josefine-client-quotas.json";

/// The `user` entity type.
pub(crate) const USER: &str = "user";
/// The `client-id` entity type.
pub(crate) const CLIENT_ID: &str = "client-id";
/// The `ip` entity type.
pub(crate) const IP: &str = "ip";

/// Producer bytes per second.
pub(crate) const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// Consumer bytes per second.
pub(crate) const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// Percentage of one request handler thread's time.
pub(crate) const REQUEST_PERCENTAGE: &str = "request_percentage";
/// Partition mutations per second (KIP-599).
pub(crate) const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
/// New connections per second from one IP (KIP-612).
pub(crate) const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// A quota entity: entity type to name, `None` naming the type's default entity.
pub(crate) type ClientQuotaEntity = BTreeMap<String, Option<String>>;

/// A refusal of a request or of one entity of it: a Kafka error code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaError {
    /// The error code.
    pub code: ResponseError,
    /// Kafka's message.
    pub message: String,
}

fn invalid_request(message: impl Into<String>) -> QuotaError {
    QuotaError {
        code: ResponseError::InvalidRequest,
        message: message.into(),
    }
}

/// Why the quotas could not be loaded at start.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct QuotaStoreError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// One entity's changes of an AlterClientQuotas request: `(key, Some(value))` sets,
/// `(key, None)` removes.
#[derive(Debug, Clone)]
pub struct Alteration {
    /// The entity.
    pub entity: ClientQuotaEntity,
    /// The operations, in request order.
    pub ops: Vec<(String, Option<f64>)>,
}

/// One filter component of DescribeClientQuotas.
#[derive(Debug, Clone)]
pub struct Component {
    /// The entity type.
    pub entity_type: String,
    /// 0 EXACT, 1 DEFAULT, 2 SPECIFIED (any name).
    pub match_type: i8,
    /// The name for EXACT.
    pub name: Option<String>,
}

/// The value type of a quota key (Kafka's `QuotaConfigs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Long,
    Int,
    Double,
}

/// A name slot of an entity, borrowed for lookups.
#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    /// The entity has no such type.
    Absent,
    /// The default entity of the type.
    Default,
    /// A named entity.
    Named(&'a str),
}

/// The client-id dimension of one user slot of the index.
#[derive(Debug, Default, Clone)]
struct Clients {
    absent: Option<f64>,
    default: Option<f64>,
    named: HashMap<String, f64>,
}

impl Clients {
    fn get(&self, slot: Slot<'_>) -> Option<f64> {
        match slot {
            Slot::Absent => self.absent,
            Slot::Default => self.default,
            Slot::Named(name) => self.named.get(name).copied(),
        }
    }
}

/// The quotas of one key by (user, client id), looked up without allocating.
#[derive(Debug, Default, Clone)]
struct KeyIndex {
    absent: Clients,
    default: Clients,
    named: HashMap<String, Clients>,
}

impl KeyIndex {
    fn get(&self, user: Slot<'_>, client: Slot<'_>) -> Option<f64> {
        match user {
            Slot::Absent => self.absent.get(client),
            Slot::Default => self.default.get(client),
            Slot::Named(name) => self.named.get(name)?.get(client),
        }
    }

    fn contains(&self, user: Slot<'_>, client: Slot<'_>) -> bool {
        self.get(user, client).is_some()
    }

    fn insert(&mut self, entity: &ClientQuotaEntity, value: f64) {
        let clients = match entity.get(USER) {
            None => &mut self.absent,
            Some(None) => &mut self.default,
            Some(Some(name)) => self.named.entry(name.clone()).or_default(),
        };
        match entity.get(CLIENT_ID) {
            None => clients.absent = Some(value),
            Some(None) => clients.default = Some(value),
            Some(Some(name)) => {
                clients.named.insert(name.clone(), value);
            }
        }
    }

    /// Kafka's quota metric tags for `user` and `client_id`: whose sensor the request counts
    /// in (`DefaultQuotaCallback.quotaMetricTags`).
    fn metric_tags<'a>(&self, user: &'a str, client_id: &'a str) -> (&'a str, &'a str) {
        use Slot::*;
        let (u, c) = (Named(user), Named(client_id));
        if self.contains(u, c) || self.contains(u, Default) {
            (user, client_id)
        } else if self.contains(u, Absent) {
            (user, "")
        } else if self.contains(Default, c) || self.contains(Default, Default) {
            (user, client_id)
        } else if self.contains(Default, Absent) {
            (user, "")
        } else {
            ("", client_id)
        }
    }

    /// The quota of the sensor with `tags` (`DefaultQuotaCallback.quotaLimit`).
    fn limit(&self, tags: (&str, &str)) -> Option<f64> {
        use Slot::*;
        let (user, client_id) = tags;
        let (u, c) = (Named(user), Named(client_id));
        if !user.is_empty() && !client_id.is_empty() {
            self.get(u, c)
                .or_else(|| self.get(u, Default))
                .or_else(|| self.get(Default, c))
                .or_else(|| self.get(Default, Default))
        } else if !user.is_empty() {
            self.get(u, Absent).or_else(|| self.get(Default, Absent))
        } else if !client_id.is_empty() {
            self.get(Absent, c).or_else(|| self.get(Absent, Default))
        } else {
            None
        }
    }

    fn is_empty(&self) -> bool {
        self.absent.absent.is_none()
            && self.absent.default.is_none()
            && self.absent.named.is_empty()
            && self.default.absent.is_none()
            && self.default.default.is_none()
            && self.default.named.is_empty()
            && self.named.is_empty()
    }
}

/// One entity's quotas: key to value.
pub(crate) type Quotas = BTreeMap<String, f64>;

/// Every entity's quotas, as stored.
type Entities = BTreeMap<ClientQuotaEntity, Quotas>;

/// The quotas and their lookup indexes: replaced as a whole by each alteration.
#[derive(Debug, Default)]
struct Snapshot {
    entities: Entities,
    produce: KeyIndex,
    fetch: KeyIndex,
    request: KeyIndex,
}

impl Snapshot {
    fn new(entities: Entities) -> Self {
        let mut snapshot = Snapshot::default();
        for (entity, quotas) in &entities {
            if entity.contains_key(IP) {
                continue;
            }
            for (key, value) in quotas {
                let index = match key.as_str() {
                    PRODUCER_BYTE_RATE => &mut snapshot.produce,
                    CONSUMER_BYTE_RATE => &mut snapshot.fetch,
                    REQUEST_PERCENTAGE => &mut snapshot.request,
                    _ => continue,
                };
                index.insert(entity, *value);
            }
        }
        snapshot.entities = entities;
        snapshot
    }
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct StoredQuotas {
    entries: Vec<StoredEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredEntry {
    entity: ClientQuotaEntity,
    quotas: BTreeMap<String, f64>,
}

/// The quota types a request can be throttled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaType {
    /// Produce request bytes (`producer_byte_rate`).
    Produce,
    /// Fetch response bytes (`consumer_byte_rate`).
    Fetch,
    /// Request handling time (`request_percentage`).
    Request,
}

/// The client quotas of the broker and their sensors.
#[derive(Debug)]
pub struct ClientQuotas {
    config: QuotaConfig,
    path: Option<PathBuf>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serializes alterations: each reads, writes the file, then publishes.
    writer: tokio::sync::Mutex<()>,
    produce: QuotaManager,
    fetch: QuotaManager,
    request: QuotaManager,
    started: Instant,
}

impl ClientQuotas {
    /// Quotas kept in memory only (no file): for tests.
    pub fn in_memory(config: QuotaConfig) -> Self {
        Self::with_entities(None, config, Entities::new())
    }

    fn with_entities(path: Option<PathBuf>, config: QuotaConfig, entities: Entities) -> Self {
        let quotas = Self {
            config,
            path,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            writer: tokio::sync::Mutex::new(()),
            produce: QuotaManager::new(config, None),
            fetch: QuotaManager::new(config, None),
            // Kafka's ClientRequestQuotaManager throttles at most one window.
            request: QuotaManager::new(config, Some(config.window_size)),
            started: Instant::now(),
        };
        quotas.publish(Snapshot::new(entities));
        quotas
    }

    /// Loads `josefine-client-quotas.json` from the data dir `dir` (none there: no quotas).
    /// Blocks on the disk: call it off the runtime workers.
    ///
    /// Errors: the file exists but cannot be read or parsed.
    pub fn open(dir: &Path, config: QuotaConfig) -> Result<Self, QuotaStoreError> {
        let path = dir.join(CLIENT_QUOTAS_FILE);
        let error = |reason: String| QuotaStoreError {
            path: path.clone(),
            reason,
        };
        let stored: StoredQuotas = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredQuotas::default(),
            Err(e) => return Err(error(e.to_string())),
        };
        let entities = stored
            .entries
            .into_iter()
            .filter(|e| !e.quotas.is_empty())
            .map(|e| (e.entity, e.quotas))
            .collect();
        Ok(Self::with_entities(Some(path), config, entities))
    }

    fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn publish(&self, snapshot: Snapshot) {
        self.produce.set_enabled(!snapshot.produce.is_empty());
        self.fetch.set_enabled(!snapshot.fetch.is_empty());
        self.request.set_enabled(!snapshot.request.is_empty());
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
    }

    fn manager(&self, quota_type: QuotaType) -> &QuotaManager {
        match quota_type {
            QuotaType::Produce => &self.produce,
            QuotaType::Fetch => &self.fetch,
            QuotaType::Request => &self.request,
        }
    }

    /// Whether any entity has a quota of `quota_type`: when not, recording is skipped
    /// entirely (no lock, no allocation).
    pub fn enabled(&self, quota_type: QuotaType) -> bool {
        self.manager(quota_type).enabled()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Records `value` (bytes, or percent-seconds of a thread for requests) for the request of
    /// `user` with `client_id` and returns how long the client is throttled: zero within its
    /// quota or with no quota (Kafka's `maybeRecordAndGetThrottleTimeMs`).
    pub fn record(
        &self,
        quota_type: QuotaType,
        user: &str,
        client_id: &str,
        value: f64,
    ) -> Duration {
        let manager = self.manager(quota_type);
        if !manager.enabled() {
            return Duration::ZERO;
        }
        let snapshot = self.current();
        let index = match quota_type {
            QuotaType::Produce => &snapshot.produce,
            QuotaType::Fetch => &snapshot.fetch,
            QuotaType::Request => &snapshot.request,
        };
        let tags = index.metric_tags(user, client_id);
        let Some(limit) = index.limit(tags) else {
            return Duration::ZERO;
        };
        manager.record(tags, limit, value, self.now_ms())
    }

    /// Takes back `value` recorded by [`ClientQuotas::record`] (a throttled fetch sends no
    /// records: Kafka's `unrecordQuotaSensor`).
    pub fn unrecord(&self, quota_type: QuotaType, user: &str, client_id: &str, value: f64) {
        let manager = self.manager(quota_type);
        if !manager.enabled() {
            return;
        }
        let snapshot = self.current();
        let index = match quota_type {
            QuotaType::Produce => &snapshot.produce,
            QuotaType::Fetch => &snapshot.fetch,
            QuotaType::Request => &snapshot.request,
        };
        let tags = index.metric_tags(user, client_id);
        manager.unrecord(tags, value, self.now_ms());
    }

    /// The quota of `quota_type` that applies to `user` with `client_id`, if any.
    pub fn quota(&self, quota_type: QuotaType, user: &str, client_id: &str) -> Option<f64> {
        let snapshot = self.current();
        let index = match quota_type {
            QuotaType::Produce => &snapshot.produce,
            QuotaType::Fetch => &snapshot.fetch,
            QuotaType::Request => &snapshot.request,
        };
        index.limit(index.metric_tags(user, client_id))
    }

    /// The most a client may record in the quota window without being throttled when
    /// nothing was recorded before: its quota times `quota.window.num - 1` windows (Kafka's
    /// `getMaxValueInQuotaWindow`); `None` without a quota.
    pub fn max_value_in_quota_window(
        &self,
        quota_type: QuotaType,
        user: &str,
        client_id: &str,
    ) -> Option<f64> {
        let window = &self.config;
        self.quota(quota_type, user, client_id).map(|quota| {
            quota
                * f64::from(window.window_num.saturating_sub(1))
                * window.window_size.as_secs_f64()
        })
    }

    /// The entities matching the DescribeClientQuotas filter `components` (all of them when
    /// empty; with `strict`, only entities of exactly the filtered types), with their quotas.
    ///
    /// Errors (Kafka's `ClientQuotasImage.describe`): INVALID_REQUEST for an empty or repeated
    /// entity type, a match string that does not fit the match type, an unknown match type or
    /// `ip` combined with `user`/`client-id`; UNSUPPORTED_VERSION for an unknown entity type.
    pub fn describe(
        &self,
        components: &[Component],
        strict: bool,
    ) -> Result<Vec<(ClientQuotaEntity, Quotas)>, QuotaError> {
        let mut exact: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        let mut specified: Vec<&str> = Vec::new();
        for component in components {
            let entity_type = component.entity_type.as_str();
            if entity_type.is_empty() {
                return Err(invalid_request("Invalid empty entity type."));
            }
            if exact.contains_key(entity_type) || specified.contains(&entity_type) {
                return Err(invalid_request(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                )));
            }
            if ![IP, USER, CLIENT_ID].contains(&entity_type) {
                return Err(QuotaError {
                    code: ResponseError::UnsupportedVersion,
                    message: format!("Unsupported entity type {entity_type}"),
                });
            }
            match (component.match_type, component.name.as_deref()) {
                (0, None) => {
                    return Err(invalid_request(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                    ))
                }
                (0, Some(name)) => {
                    exact.insert(entity_type, Some(name));
                }
                (1, Some(_)) => {
                    return Err(invalid_request(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                    ))
                }
                (1, None) => {
                    exact.insert(entity_type, None);
                }
                (2, Some(_)) => return Err(invalid_request(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                )),
                (2, None) => specified.push(entity_type),
                (other, _) => return Err(invalid_request(format!("Unknown match type {other}"))),
            }
        }
        let has = |t: &str| exact.contains_key(t) || specified.contains(&t);
        if has(IP) && (has(USER) || has(CLIENT_ID)) {
            return Err(invalid_request(
                "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
            ));
        }
        let snapshot = self.current();
        Ok(snapshot
            .entities
            .iter()
            .filter(|(entity, _)| {
                (!strict || entity.len() == exact.len() + specified.len())
                    && exact
                        .iter()
                        .all(|(t, name)| entity.get(*t).is_some_and(|n| n.as_deref() == *name))
                    && specified.iter().all(|t| entity.contains_key(*t))
            })
            .map(|(entity, quotas)| (entity.clone(), quotas.clone()))
            .collect())
    }

    /// Applies AlterClientQuotas `alterations` (or only checks them with `validate_only`) and
    /// writes the file; one result per distinct entity, in request order. An entity's changes
    /// apply all or not at all.
    ///
    /// Errors per entity are Kafka's (`ClientQuotaControlManager`); a failed file write fails
    /// every entity that changed with KAFKA_STORAGE_ERROR and changes nothing.
    pub async fn alter(
        &self,
        alterations: Vec<Alteration>,
        validate_only: bool,
    ) -> Vec<(ClientQuotaEntity, Result<(), QuotaError>)> {
        let _writer = self.writer.lock().await;
        let snapshot = self.current();
        let mut entities = snapshot.entities.clone();
        let mut results: Vec<(ClientQuotaEntity, Result<(), QuotaError>)> = Vec::new();
        for alteration in alterations {
            let mut changes: BTreeMap<&str, Option<f64>> = BTreeMap::new();
            let mut duplicate_key = None;
            for (key, value) in &alteration.ops {
                if changes.contains_key(key.as_str()) {
                    duplicate_key.get_or_insert(key.as_str());
                } else {
                    changes.insert(key.as_str(), *value);
                }
            }
            let entity = alteration.entity;
            let seen = results.iter().position(|(e, _)| *e == entity);
            if duplicate_key.is_some() || seen.is_some() {
                // Kafka records the duplicate key, then replaces it with this message.
                let error = Err(invalid_request(format!(
                    "Ignoring duplicate entity {}",
                    entity_string(&entity)
                )));
                match seen {
                    Some(at) => {
                        if let Some(slot) = results.get_mut(at) {
                            slot.1 = error;
                        }
                    }
                    None => results.push((entity, error)),
                }
                continue;
            }
            let result = alter_entity(&mut entities, &entity, &changes);
            results.push((entity, result));
        }
        if validate_only || entities == snapshot.entities {
            return results;
        }
        if let Some(path) = &self.path {
            let stored = StoredQuotas {
                entries: entities
                    .iter()
                    .map(|(entity, quotas)| StoredEntry {
                        entity: entity.clone(),
                        quotas: quotas.clone(),
                    })
                    .collect(),
            };
            let path = path.clone();
            let written = tokio::task::spawn_blocking(move || {
                let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| e.to_string())?;
                josefine_storage::write_atomically(&path, &bytes).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            if let Err(reason) = written {
                tracing::error!(%reason, file = CLIENT_QUOTAS_FILE, "cannot write client quotas");
                for (_, result) in &mut results {
                    if result.is_ok() {
                        *result = Err(QuotaError {
                            code: ResponseError::KafkaStorageError,
                            message: format!("cannot write {CLIENT_QUOTAS_FILE}: {reason}"),
                        });
                    }
                }
                return results;
            }
        }
        tracing::info!(entities = entities.len(), "client quotas changed");
        self.publish(Snapshot::new(entities));
        results
    }
}

/// Kafka's `ClientQuotaEntity.toString`.
fn entity_string(entity: &ClientQuotaEntity) -> String {
    let entries: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", entries.join(", "))
}

/// Validates one entity and its changes and applies them to `entities`
/// (`alterClientQuotaEntity`).
fn alter_entity(
    entities: &mut Entities,
    entity: &ClientQuotaEntity,
    changes: &BTreeMap<&str, Option<f64>>,
) -> Result<(), QuotaError> {
    if entity.is_empty() {
        return Err(invalid_request("Invalid empty client quota entity"));
    }
    for (entity_type, name) in entity {
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err(invalid_request(format!(
                "Unhandled client quota entity type: {entity_type}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(invalid_request(format!(
                "Empty {entity_type} not supported"
            )));
        }
    }
    let keys: &[(&str, KeyType)] = if let Some(ip) = entity.get(IP) {
        if entity.len() > 1 {
            // Kafka's message, its missing space included.
            return Err(invalid_request(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ));
        }
        if let Some(ip) = ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid_request(format!(
                    "{ip} is not a valid IP or resolvable host."
                )));
            }
        }
        &[(CONNECTION_CREATION_RATE, KeyType::Int)]
    } else {
        &[
            (PRODUCER_BYTE_RATE, KeyType::Long),
            (CONSUMER_BYTE_RATE, KeyType::Long),
            (REQUEST_PERCENTAGE, KeyType::Double),
            (CONTROLLER_MUTATION_RATE, KeyType::Double),
        ]
    };
    let mut quotas = entities.get(entity).cloned().unwrap_or_default();
    for (key, value) in changes {
        match value {
            None => {
                quotas.remove(*key);
            }
            Some(value) => {
                let Some((_, key_type)) = keys.iter().find(|(k, _)| k == key) else {
                    return Err(invalid_request(format!("Invalid configuration key {key}")));
                };
                validate_value(key, *key_type, *value)?;
                quotas.insert(key.to_string(), *value);
            }
        }
    }
    if quotas.is_empty() {
        entities.remove(entity);
    } else {
        entities.insert(entity.clone(), quotas);
    }
    Ok(())
}

/// Kafka's `validateQuotaKeyValue`.
fn validate_value(key: &str, key_type: KeyType, value: f64) -> Result<(), QuotaError> {
    // NaN compares false everywhere: Kafka's `value <= 0.0` lets it through, and so would we
    // into the rates; refuse it with the same message.
    if value.is_nan() || value <= 0.0 {
        return Err(invalid_request(format!(
            "Quota {key} must be greater than 0"
        )));
    }
    let (max, article, name) = match key_type {
        KeyType::Double => return Ok(()),
        KeyType::Int => (f64::from(i32::MAX), "an", "INT"),
        KeyType::Long => (i64::MAX as f64, "a", "LONG"),
    };
    if value > max {
        return Err(invalid_request(format!(
            "Proposed value for {key} is too large for {article} {name}."
        )));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(invalid_request(format!(
            "{key} cannot be a fractional value."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(pairs: &[(&str, Option<&str>)]) -> ClientQuotaEntity {
        pairs
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect()
    }

    fn set(e: ClientQuotaEntity, key: &str, value: f64) -> Alteration {
        Alteration {
            entity: e,
            ops: vec![(key.to_string(), Some(value))],
        }
    }

    /// Each level of Kafka's precedence, from the most specific down: adding the next more
    /// specific entity changes the quota alice's client "app" gets.
    #[tokio::test]
    async fn precedence_follows_kafkas_order() {
        let quotas = ClientQuotas::in_memory(QuotaConfig::default());
        let q = |user: &str, client: &str| quotas.quota(QuotaType::Produce, user, client);
        assert_eq!(q("alice", "app"), None);
        let levels = [
            (entity(&[(CLIENT_ID, None)]), 8.0),
            (entity(&[(CLIENT_ID, Some("app"))]), 7.0),
            (entity(&[(USER, None)]), 6.0),
            (entity(&[(USER, None), (CLIENT_ID, None)]), 5.0),
            (entity(&[(USER, None), (CLIENT_ID, Some("app"))]), 4.0),
            (entity(&[(USER, Some("alice"))]), 3.0),
            (entity(&[(USER, Some("alice")), (CLIENT_ID, None)]), 2.0),
            (
                entity(&[(USER, Some("alice")), (CLIENT_ID, Some("app"))]),
                1.0,
            ),
        ];
        for (e, value) in levels {
            let results = quotas
                .alter(vec![set(e, PRODUCER_BYTE_RATE, value)], false)
                .await;
            assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
            assert_eq!(q("alice", "app"), Some(value));
        }
        // Other users and clients fall to the levels that still match them.
        assert_eq!(q("bob", "app"), Some(4.0));
        assert_eq!(q("bob", "other"), Some(5.0));
        assert_eq!(q("alice", "other"), Some(2.0));
        // A key resolves on its own: no consumer quota anywhere.
        assert_eq!(quotas.quota(QuotaType::Fetch, "alice", "app"), None);
    }

    #[tokio::test]
    async fn a_user_quota_is_shared_by_its_client_ids() {
        let quotas = ClientQuotas::in_memory(QuotaConfig::default());
        quotas
            .alter(
                vec![set(
                    entity(&[(USER, Some("alice"))]),
                    PRODUCER_BYTE_RATE,
                    1000.0,
                )],
                false,
            )
            .await;
        // 10 s minimum window: 10000 bytes is exactly the quota, one more byte is over it.
        assert_eq!(
            quotas.record(QuotaType::Produce, "alice", "a", 10_000.0),
            Duration::ZERO
        );
        assert!(quotas.record(QuotaType::Produce, "alice", "b", 1000.0) > Duration::ZERO);
        assert_eq!(
            quotas.record(QuotaType::Produce, "bob", "a", 1e9),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn validation_errors_are_kafkas() {
        let quotas = ClientQuotas::in_memory(QuotaConfig::default());
        let user = || entity(&[(USER, Some("u"))]);
        let cases = [
            (set(user(), "bogus", 1.0), "Invalid configuration key bogus"),
            (set(user(), PRODUCER_BYTE_RATE, 0.0), "Quota producer_byte_rate must be greater than 0"),
            (set(user(), PRODUCER_BYTE_RATE, 1.5), "producer_byte_rate cannot be a fractional value."),
            (set(user(), PRODUCER_BYTE_RATE, 1e300), "Proposed value for producer_byte_rate is too large for a LONG."),
            (set(entity(&[]), PRODUCER_BYTE_RATE, 1.0), "Invalid empty client quota entity"),
            (set(entity(&[("group", Some("g"))]), PRODUCER_BYTE_RATE, 1.0), "Unhandled client quota entity type: group"),
            (set(entity(&[(USER, Some(""))]), PRODUCER_BYTE_RATE, 1.0), "Empty user not supported"),
            (set(entity(&[(IP, Some("1.2.3.4")), (USER, None)]), CONNECTION_CREATION_RATE, 1.0), "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"),
            (set(entity(&[(IP, Some("not an ip"))]), CONNECTION_CREATION_RATE, 1.0), "not an ip is not a valid IP or resolvable host."),
            (set(entity(&[(IP, None)]), PRODUCER_BYTE_RATE, 1.0), "Invalid configuration key producer_byte_rate"),
            (set(entity(&[(IP, None)]), CONNECTION_CREATION_RATE, 3e9), "Proposed value for connection_creation_rate is too large for an INT."),
        ];
        for (alteration, message) in cases {
            let results = quotas.alter(vec![alteration], false).await;
            assert_eq!(
                results.first().map(|(_, r)| r.clone()),
                Some(Err(invalid_request(message)))
            );
        }
        let duplicate = Alteration {
            entity: user(),
            ops: vec![
                (PRODUCER_BYTE_RATE.into(), Some(1.0)),
                (PRODUCER_BYTE_RATE.into(), None),
            ],
        };
        let results = quotas.alter(vec![duplicate], false).await;
        assert_eq!(
            results.first().map(|(_, r)| r.clone()),
            Some(Err(invalid_request(
                "Ignoring duplicate entity ClientQuotaEntity(entries={user=u})"
            )))
        );
        assert!(quotas
            .describe(&[], false)
            .map(|e| e.is_empty())
            .unwrap_or(false));
    }

    #[tokio::test]
    async fn describe_filters_as_kafka_does() -> Result<(), QuotaError> {
        let quotas = ClientQuotas::in_memory(QuotaConfig::default());
        quotas
            .alter(
                vec![
                    set(entity(&[(USER, Some("alice"))]), CONSUMER_BYTE_RATE, 1.0),
                    set(entity(&[(USER, None)]), CONSUMER_BYTE_RATE, 2.0),
                    set(
                        entity(&[(USER, Some("alice")), (CLIENT_ID, Some("c"))]),
                        REQUEST_PERCENTAGE,
                        50.5,
                    ),
                    set(entity(&[(CLIENT_ID, None)]), PRODUCER_BYTE_RATE, 3.0),
                ],
                false,
            )
            .await;
        let c = |t: &str, m: i8, n: Option<&str>| Component {
            entity_type: t.into(),
            match_type: m,
            name: n.map(str::to_string),
        };
        assert_eq!(quotas.describe(&[], false)?.len(), 4);
        assert_eq!(
            quotas.describe(&[c(USER, 0, Some("alice"))], false)?.len(),
            2
        );
        assert_eq!(
            quotas.describe(&[c(USER, 0, Some("alice"))], true)?.len(),
            1
        );
        assert_eq!(quotas.describe(&[c(USER, 1, None)], false)?.len(), 1);
        assert_eq!(quotas.describe(&[c(USER, 2, None)], false)?.len(), 3);
        assert_eq!(quotas.describe(&[c(CLIENT_ID, 2, None)], true)?.len(), 1);
        let err = |components: &[Component]| quotas.describe(components, false).err();
        assert_eq!(
            err(&[c("group", 2, None)]).map(|e| e.code),
            Some(ResponseError::UnsupportedVersion)
        );
        assert_eq!(
            err(&[c(USER, 0, None)]).map(|e| e.message),
            Some("Request specified MATCH_TYPE_EXACT, but set match string to null.".into())
        );
        assert_eq!(
            err(&[c(USER, 2, None), c(USER, 1, None)]).map(|e| e.message),
            Some("Entity type user cannot appear more than once in the filter.".into())
        );
        assert_eq!(
            err(&[c(IP, 2, None), c(USER, 1, None)]).map(|e| e.code),
            Some(ResponseError::InvalidRequest)
        );
        // validate_only changes nothing; a removal of the last key drops the entity.
        quotas
            .alter(
                vec![set(entity(&[(USER, Some("x"))]), PRODUCER_BYTE_RATE, 9.0)],
                true,
            )
            .await;
        assert_eq!(quotas.describe(&[], false)?.len(), 4);
        let remove = Alteration {
            entity: entity(&[(CLIENT_ID, None)]),
            ops: vec![(PRODUCER_BYTE_RATE.into(), None)],
        };
        quotas.alter(vec![remove], false).await;
        assert_eq!(quotas.describe(&[], false)?.len(), 3);
        assert!(!quotas.enabled(QuotaType::Produce));
        Ok(())
    }

    #[tokio::test]
    async fn quotas_survive_a_reopen() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let quotas = ClientQuotas::open(dir.path(), QuotaConfig::default())?;
        let results = quotas
            .alter(
                vec![set(
                    entity(&[(USER, None), (CLIENT_ID, Some("c"))]),
                    PRODUCER_BYTE_RATE,
                    5.0,
                )],
                false,
            )
            .await;
        assert!(results.iter().all(|(_, r)| r.is_ok()));
        drop(quotas);
        let reopened = ClientQuotas::open(dir.path(), QuotaConfig::default())?;
        assert_eq!(reopened.quota(QuotaType::Produce, "anyone", "c"), Some(5.0));
        assert!(reopened.enabled(QuotaType::Produce));
        std::fs::write(dir.path().join(CLIENT_QUOTAS_FILE), b"{not json")?;
        assert!(ClientQuotas::open(dir.path(), QuotaConfig::default()).is_err());
        Ok(())
    }
}
