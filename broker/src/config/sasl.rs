//! SASL settings of the SASL_PLAINTEXT and SASL_SSL listeners: enabled mechanisms, the JAAS
//! line of each mechanism, re-authentication and the pre-authentication frame limit.
//!
//! Per listener, Kafka's lookup: `listener.name.<l>.sasl.enabled.mechanisms` else
//! `sasl.enabled.mechanisms` (default `GSSAPI`, which Josefine does not serve: a SASL listener
//! must name its mechanisms); JAAS from `listener.name.<l>.<mechanism>.sasl.jaas.config`
//! (mechanism in lower case) else `sasl.jaas.config`. PLAIN users are the
//! `user_<name>="<password>"` options of `PlainLoginModule`; the OAUTHBEARER unsecured
//! validator reads the `unsecuredValidator*` options of `OAuthBearerLoginModule`.
//!
//! References: Kafka documentation sections 7.4 (SASL) and 3.1 (`sasl.*`,
//! `connections.max.reauth.ms`, `sasl.server.max.receive.size`); KIP-368 (re-authentication);
//! KIP-255 (OAUTHBEARER, unsecured tokens).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::jaas;
use super::{invalid, ConfigError, Listener};

/// A SASL mechanism Josefine serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616).
    Plain,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// OAUTHBEARER (RFC 7628) with Kafka's unsecured-JWS validator.
    OAuthBearer,
}

impl SaslMechanism {
    /// The SASL name, e.g. `SCRAM-SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism of a SASL name (exact, upper case), if served.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
            SaslMechanism::OAuthBearer,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// The options of Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredValidatorOptions {
    /// `unsecuredValidatorPrincipalClaimName`. Default `sub`.
    pub principal_claim_name: String,
    /// `unsecuredValidatorScopeClaimName`. Default `scope`.
    pub scope_claim_name: String,
    /// `unsecuredValidatorRequiredScope`, space separated. Default none.
    pub required_scope: Vec<String>,
    /// `unsecuredValidatorAllowableClockSkewMs`. Default 0.
    pub allowable_clock_skew: Duration,
}

impl Default for UnsecuredValidatorOptions {
    fn default() -> Self {
        Self {
            principal_claim_name: "sub".into(),
            scope_claim_name: "scope".into(),
            required_scope: Vec::new(),
            allowable_clock_skew: Duration::ZERO,
        }
    }
}

/// A password from a JAAS line: Debug and Display print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A password.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The SASL settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerSaslConfig {
    /// The enabled mechanisms, in configured order (what SaslHandshake lists).
    pub enabled_mechanisms: Vec<SaslMechanism>,
    /// PLAIN's users and passwords (`user_<name>` options of `PlainLoginModule`).
    pub plain_users: BTreeMap<String, Password>,
    /// The OAUTHBEARER unsecured validator's options.
    pub oauthbearer: UnsecuredValidatorOptions,
    /// Session lifetime per mechanism (KIP-368):
    /// `listener.name.<l>.<mechanism>.connections.max.reauth.ms`, else
    /// `connections.max.reauth.ms`; mechanisms without a limit are absent.
    pub connections_max_reauth: BTreeMap<SaslMechanism, Duration>,
}

/// The SASL settings of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// Per SASL listener, by listener name.
    pub listeners: BTreeMap<String, ListenerSaslConfig>,
    /// `connections.max.reauth.ms`: most time an authenticated session lasts before the
    /// client must re-authenticate (KIP-368); `None` (0, the default) for no limit.
    pub connections_max_reauth: Option<Duration>,
    /// `sasl.server.max.receive.size`: largest frame accepted before authentication
    /// completes. Default 524288.
    pub server_max_receive_size: usize,
}

/// Kafka's default `sasl.server.max.receive.size`.
pub const DEFAULT_SERVER_MAX_RECEIVE_SIZE: usize = 524_288;

const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

fn listener_value<'a>(
    properties: &'a BTreeMap<String, String>,
    listener: &str,
    key: &str,
) -> Option<(String, &'a str)> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    if let Some(v) = properties.get(&prefixed) {
        return Some((prefixed, v.trim()));
    }
    properties.get(key).map(|v| (key.to_string(), v.trim()))
}

impl SaslConfig {
    /// Reads and checks the SASL keys for `listeners`.
    ///
    /// Errors: `Invalid` naming the key for an unsupported mechanism (GSSAPI included), a SASL
    /// listener without mechanisms, a malformed JAAS line, PLAIN without `PlainLoginModule`,
    /// a bad number.
    pub fn from_properties(
        properties: &BTreeMap<String, String>,
        listeners: &[Listener],
    ) -> Result<Self, ConfigError> {
        let reauth = super::number_or(properties, "connections.max.reauth.ms", 0, 0)?;
        let max_receive = super::number_or(
            properties,
            "sasl.server.max.receive.size",
            DEFAULT_SERVER_MAX_RECEIVE_SIZE as i64,
            1,
        )?;
        if max_receive > i64::from(i32::MAX) {
            return Err(invalid(
                "sasl.server.max.receive.size",
                &max_receive.to_string(),
                "must be at most 2147483647",
            ));
        }
        let mut out = BTreeMap::new();
        for listener in listeners.iter().filter(|l| l.security_protocol.uses_sasl()) {
            let (key, value) =
                listener_value(properties, &listener.name, "sasl.enabled.mechanisms")
                    .unwrap_or(("sasl.enabled.mechanisms".into(), "GSSAPI"));
            let mut enabled_mechanisms = Vec::new();
            for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
                    invalid(
                        &key,
                        value,
                        format!(
                            "SASL mechanism {name} of listener {} is not supported \
                             (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER are)",
                            listener.name
                        ),
                    )
                })?;
                if !enabled_mechanisms.contains(&mechanism) {
                    enabled_mechanisms.push(mechanism);
                }
            }
            if enabled_mechanisms.is_empty() {
                return Err(invalid(
                    &key,
                    value,
                    format!("SASL listener {} has no SASL mechanism", listener.name),
                ));
            }
            let mut config = ListenerSaslConfig {
                enabled_mechanisms: enabled_mechanisms.clone(),
                ..ListenerSaslConfig::default()
            };
            for mechanism in enabled_mechanisms {
                let reauth_key = format!(
                    "listener.name.{}.{}.connections.max.reauth.ms",
                    listener.name.to_ascii_lowercase(),
                    mechanism.name().to_ascii_lowercase()
                );
                let ms = super::number_or(properties, &reauth_key, reauth, 0)?;
                if ms > 0 {
                    config
                        .connections_max_reauth
                        .insert(mechanism, Duration::from_millis(ms as u64));
                }
                let jaas_key =
                    format!("{}.sasl.jaas.config", mechanism.name().to_ascii_lowercase());
                let prefixed = format!(
                    "listener.name.{}.{jaas_key}",
                    listener.name.to_ascii_lowercase()
                );
                let jaas = match properties.get(&prefixed) {
                    Some(v) => Some((prefixed.clone(), v)),
                    None => properties
                        .get("sasl.jaas.config")
                        .map(|v| ("sasl.jaas.config".to_string(), v)),
                };
                let entry = match jaas {
                    // The value is a secret: the error quotes none of it.
                    Some((key, value)) => Some(
                        jaas::parse(value).map_err(|reason| invalid(&key, "<redacted>", reason))?,
                    ),
                    None => None,
                };
                match mechanism {
                    SaslMechanism::Plain => {
                        let entry = entry
                            .filter(|e| e.login_module == PLAIN_LOGIN_MODULE)
                            .ok_or_else(|| {
                                invalid(
                                    &prefixed,
                                    "",
                                    format!("PLAIN on listener {} needs a {PLAIN_LOGIN_MODULE} JAAS line", listener.name),
                                )
                            })?;
                        for (option, password) in &entry.options {
                            if let Some(user) = option.strip_prefix("user_") {
                                config
                                    .plain_users
                                    .insert(user.to_string(), Password(password.clone()));
                            }
                        }
                    }
                    SaslMechanism::OAuthBearer => {
                        let options = entry.map(|e| e.options).unwrap_or_default();
                        let o = &mut config.oauthbearer;
                        let nonblank = |k: &str| {
                            options
                                .get(k)
                                .map(|v| v.trim())
                                .filter(|v| !v.is_empty())
                                .map(str::to_string)
                        };
                        if let Some(v) = nonblank("unsecuredValidatorPrincipalClaimName") {
                            o.principal_claim_name = v;
                        }
                        if let Some(v) = nonblank("unsecuredValidatorScopeClaimName") {
                            o.scope_claim_name = v;
                        }
                        if let Some(v) = nonblank("unsecuredValidatorRequiredScope") {
                            o.required_scope = v.split_whitespace().map(str::to_string).collect();
                        }
                        if let Some(v) = nonblank("unsecuredValidatorAllowableClockSkewMs") {
                            let ms: u32 = v.parse().map_err(|_| {
                                invalid(
                                    &prefixed,
                                    &v,
                                    "unsecuredValidatorAllowableClockSkewMs must be a non-negative number",
                                )
                            })?;
                            o.allowable_clock_skew = Duration::from_millis(u64::from(ms));
                        }
                    }
                    SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {}
                }
            }
            out.insert(listener.name.clone(), config);
        }
        Ok(Self {
            listeners: out,
            connections_max_reauth: (reauth > 0).then(|| Duration::from_millis(reauth as u64)),
            server_max_receive_size: max_receive as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn config(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        let mut all = vec![("listeners", "SASL_PLAINTEXT://127.0.0.1:0")];
        all.extend_from_slice(pairs);
        BrokerConfig::from_properties(super::super::tests::props(&all))
    }

    #[test]
    fn listener_overrides_and_plain_users() -> Result<(), ConfigError> {
        let config = config(&[
            ("sasl.enabled.mechanisms", "GSSAPI"),
            (
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                "PLAIN,SCRAM-SHA-512",
            ),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\";",
            ),
            ("connections.max.reauth.ms", "60000"),
            (
                "listener.name.sasl_plaintext.scram-sha-512.connections.max.reauth.ms",
                "0",
            ),
        ])?;
        let sasl = &config.sasl.listeners["SASL_PLAINTEXT"];
        assert_eq!(
            sasl.enabled_mechanisms,
            [SaslMechanism::Plain, SaslMechanism::ScramSha512]
        );
        assert_eq!(sasl.plain_users["admin"].expose(), "admin-secret");
        assert!(!format!("{:?}", config.sasl).contains("admin-secret"));
        assert_eq!(
            config.sasl.connections_max_reauth,
            Some(Duration::from_secs(60))
        );
        assert_eq!(config.sasl.server_max_receive_size, 524_288);
        assert_eq!(
            sasl.connections_max_reauth.get(&SaslMechanism::Plain),
            Some(&Duration::from_secs(60))
        );
        assert_eq!(
            sasl.connections_max_reauth.get(&SaslMechanism::ScramSha512),
            None
        );
        Ok(())
    }

    #[test]
    fn unsupported_or_missing_mechanisms_fail_naming_the_key() {
        for (pairs, key) in [
            (vec![], "sasl.enabled.mechanisms"),
            (
                vec![("sasl.enabled.mechanisms", "GSSAPI")],
                "sasl.enabled.mechanisms",
            ),
            (
                vec![("listener.name.sasl_plaintext.sasl.enabled.mechanisms", " ")],
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
            ),
            (
                vec![("sasl.enabled.mechanisms", "PLAIN")],
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            ),
            (
                vec![
                    ("sasl.enabled.mechanisms", "PLAIN"),
                    ("sasl.jaas.config", "broken"),
                ],
                "sasl.jaas.config",
            ),
        ] {
            let err = config(&pairs).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(key), "{err} names {key}");
        }
    }
}
