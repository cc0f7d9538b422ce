//! Authorizer settings: `authorizer.class.name`, `super.users` and
//! `allow.everyone.if.no.acl.found`, as Kafka's `StandardAuthorizer` reads them.
//!
//! References: Kafka documentation section 7.5 "Authorization and ACLs"; KIP-801
//! (StandardAuthorizer).

use std::collections::BTreeMap;

use super::{invalid, ConfigError};

/// The class names that enable ACL authorization: Kafka's KRaft `StandardAuthorizer` and its
/// ZooKeeper-era `AclAuthorizer`. Both get `StandardAuthorizer` semantics here.
pub const AUTHORIZER_CLASS_NAMES: &[&str] = &[
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

/// The checked authorizer settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Whether `authorizer.class.name` names one of [`AUTHORIZER_CLASS_NAMES`]. Unset (the
    /// default, empty) allows every operation, as Kafka without an authorizer.
    pub enabled: bool,
    /// `super.users`: `;`-separated principals (`User:admin;User:ops`) allowed every operation.
    /// Default empty.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`: whether an operation on a resource no ACL names is
    /// allowed. Default false.
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// Reads the authorizer keys of `properties`.
    ///
    /// Errors: `Invalid` naming `authorizer.class.name` for a class other than Kafka's two ACL
    /// authorizers, `super.users` for an entry without a `:` between principal type and name,
    /// `allow.everyone.if.no.acl.found` for a value other than true or false.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| properties.get(key).map(|v| v.trim());
        let key = "authorizer.class.name";
        let enabled = match get(key) {
            None | Some("") => false,
            Some(v) if AUTHORIZER_CLASS_NAMES.contains(&v) => true,
            Some(v) => {
                return Err(invalid(
                    key,
                    v,
                    format!(
                        "only {} are supported",
                        AUTHORIZER_CLASS_NAMES.join(" and ")
                    ),
                ))
            }
        };
        let key = "super.users";
        let mut super_users = Vec::new();
        if let Some(value) = get(key) {
            for principal in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                if !principal.contains(':') {
                    return Err(invalid(
                        key,
                        value,
                        format!("principal {principal} is not TYPE:NAME"),
                    ));
                }
                super_users.push(principal.to_string());
            }
        }
        let key = "allow.everyone.if.no.acl.found";
        let allow_everyone_if_no_acl_found = match get(key) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => return Err(invalid(key, v, "expected true or false")),
        };
        Ok(Self {
            enabled,
            super_users,
            allow_everyone_if_no_acl_found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::props;

    #[test]
    fn kafkas_class_names_enable_it_and_others_fail_naming_the_key() -> Result<(), ConfigError> {
        assert_eq!(
            AuthorizerConfig::from_properties(&props(&[]))?,
            AuthorizerConfig::default()
        );
        for class in AUTHORIZER_CLASS_NAMES {
            let config = AuthorizerConfig::from_properties(&props(&[
                ("authorizer.class.name", class),
                ("super.users", "User:admin; User:CN=ops,O=acme"),
                ("allow.everyone.if.no.acl.found", "true"),
            ]))?;
            assert!(config.enabled);
            assert_eq!(config.super_users, ["User:admin", "User:CN=ops,O=acme"]);
            assert!(config.allow_everyone_if_no_acl_found);
        }
        for (key, value) in [
            ("authorizer.class.name", "com.example.MyAuthorizer"),
            ("super.users", "admin"),
            ("allow.everyone.if.no.acl.found", "yes"),
        ] {
            let err = AuthorizerConfig::from_properties(&props(&[(key, value)]))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(key), "{err}");
        }
        Ok(())
    }
}
