//! TLS settings of one listener: Apache Kafka's `ssl.*` broker keys, each read as
//! `listener.name.<listener>.<key>` first and then as `<key>` (KIP-103), checked before any
//! socket or file opens.
//!
//! The stores themselves are read at start-up (`security::keystore`), so that a bad password
//! or a damaged file fails the start, naming the file.
//!
//! References: Kafka documentation section 7.3 "Encryption and Authentication using SSL";
//! Kafka's `SslConfigs`, `BrokerSecurityConfigs`, `DefaultSslEngineFactory` (store rules) and
//! `SslPrincipalMapper` (KIP-371, `ssl.principal.mapping.rules`); KIP-651 (PEM stores).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use regex::Regex;

use super::{invalid, ConfigError};

/// The `ssl.*` keys a Kafka broker knows. The ones that select Java providers or algorithms
/// (`ssl.keymanager.algorithm`, `ssl.provider`, ...) are accepted and have no effect here.
pub const SSL_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.protocol",
    "ssl.cipher.suites",
    "ssl.principal.mapping.rules",
    "ssl.endpoint.identification.algorithm",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "ssl.provider",
    "ssl.engine.factory.class",
    "ssl.allow.dn.changes",
    "ssl.allow.san.changes",
];

/// Whether `key` is one of [`SSL_KEYS`] (without a listener prefix).
pub fn is_ssl_key(key: &str) -> bool {
    SSL_KEYS.contains(&key)
}

/// A secret configuration value (Kafka's `PASSWORD` type): `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that uses it (never for logs).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The format of a key store or trust store (`ssl.keystore.type`, `ssl.truststore.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// Java's JKS format (Kafka's default).
    Jks,
    /// PKCS#12 (`.p12`, `.pfx`), as Java 9+ keytool writes by default.
    Pkcs12,
    /// PEM: a file, or inline values (`ssl.keystore.key`, `ssl.keystore.certificate.chain`,
    /// `ssl.truststore.certificates`). KIP-651.
    Pem,
}

impl StoreType {
    fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_uppercase().as_str() {
            "JKS" => Ok(StoreType::Jks),
            "PKCS12" => Ok(StoreType::Pkcs12),
            "PEM" => Ok(StoreType::Pem),
            _ => Err(invalid(
                key,
                value,
                "supported store types are JKS, PKCS12 and PEM",
            )),
        }
    }
}

/// `ssl.client.auth`: whether the broker asks TLS clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for (Kafka's default).
    None,
    /// A certificate is asked for; a client without one is `User:ANONYMOUS`.
    Requested,
    /// A client without a certificate trusted by the trust store is refused.
    Required,
}

/// One store as configured: where it is and how to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `ssl.keystore.type` / `ssl.truststore.type`. Default JKS.
    pub store_type: StoreType,
    /// `ssl.keystore.location` / `ssl.truststore.location`.
    pub location: Option<PathBuf>,
    /// `ssl.keystore.password` / `ssl.truststore.password`.
    pub password: Option<Password>,
    /// The configuration key of `location`, as given (with its listener prefix if it had
    /// one), for error messages.
    pub location_key: String,
}

/// The TLS settings of one listener (SSL or SASL_SSL).
#[derive(Debug, Clone)]
pub struct SslConfig {
    /// The listener these settings are for.
    pub listener: String,
    /// The key store: the broker's private key and certificate chain.
    pub keystore: StoreConfig,
    /// `ssl.key.password`: the private key's password in a JKS or PKCS12 store (default: the
    /// store's password), or the password of an encrypted PKCS#8 key in PEM.
    pub key_password: Option<Password>,
    /// `ssl.keystore.certificate.chain`: the certificate chain in PEM, inline.
    pub keystore_certificate_chain: Option<Password>,
    /// `ssl.keystore.key`: the private key in PKCS#8 PEM (maybe encrypted), inline.
    pub keystore_key: Option<Password>,
    /// The trust store: the CAs client certificates are checked against.
    pub truststore: StoreConfig,
    /// `ssl.truststore.certificates`: trusted certificates in PEM, inline.
    pub truststore_certificates: Option<Password>,
    /// `ssl.client.auth`. Default none.
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`. Default `TLSv1.2,TLSv1.3`.
    pub enabled_protocols: Vec<String>,
    /// `ssl.protocol`. Default `TLSv1.3`. Checked; it selects no versions beyond
    /// `ssl.enabled.protocols`.
    pub protocol: String,
    /// `ssl.cipher.suites`: Java/IANA names; empty (default) for all of rustls' suites.
    pub cipher_suites: Vec<String>,
    /// `ssl.principal.mapping.rules`. Default `DEFAULT`.
    pub principal_mapping_rules: PrincipalMappingRules,
}

impl SslConfig {
    /// The TLS settings of `listener` from `properties` (the whole property map); `sasl` for a
    /// SASL_SSL listener, where only a listener-prefixed `ssl.client.auth` applies (KIP-684).
    ///
    /// Errors: `Invalid` naming the key: an unknown store type or `ssl.client.auth` value, a
    /// listener without a key store, a store with a location and no password (JKS, PKCS12),
    /// a password on a PEM store, a bad mapping rule.
    pub fn from_properties(
        properties: &BTreeMap<String, String>,
        listener: &str,
        sasl: bool,
    ) -> Result<Self, ConfigError> {
        let prefixed = |key: &str| format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
        // (effective key, value): the listener's own value first.
        let get = |key: &str| -> Option<(String, String)> {
            let long = prefixed(key);
            match properties.get(&long) {
                Some(v) => Some((long, v.clone())),
                None => properties.get(key).map(|v| (key.to_string(), v.clone())),
            }
        };
        let text = |key: &str| -> Option<String> {
            get(key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let secret = |key: &str| text(key).map(Password::new);
        let store_type = |key: &str| -> Result<StoreType, ConfigError> {
            match get(key) {
                Some((k, v)) if !v.trim().is_empty() => StoreType::parse(&k, &v),
                _ => Ok(StoreType::Jks),
            }
        };
        let store = |prefix: &str| -> Result<StoreConfig, ConfigError> {
            let location_key = format!("ssl.{prefix}.location");
            Ok(StoreConfig {
                store_type: store_type(&format!("ssl.{prefix}.type"))?,
                location: text(&location_key).map(PathBuf::from),
                password: secret(&format!("ssl.{prefix}.password")),
                location_key: get(&location_key).map(|(k, _)| k).unwrap_or(location_key),
            })
        };
        let keystore = store("keystore")?;
        let truststore = store("truststore")?;
        // KIP-684: on SASL_SSL listeners only the listener's own ssl.client.auth applies.
        let client_auth_setting = if sasl {
            let key = prefixed("ssl.client.auth");
            properties.get(&key).map(|v| (key, v.clone()))
        } else {
            get("ssl.client.auth")
        };
        let client_auth = match client_auth_setting {
            None => ClientAuth::None,
            Some((key, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "none" | "" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                _ => {
                    return Err(invalid(
                        &key,
                        &value,
                        "String must be one of: required, requested, none",
                    ))
                }
            },
        };
        let list = |key: &str, default: &str| -> Vec<String> {
            text(key)
                .unwrap_or_else(|| default.to_string())
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let principal_mapping_rules = match get("ssl.principal.mapping.rules") {
            Some((key, value)) => PrincipalMappingRules::parse(&value)
                .map_err(|reason| invalid(&key, &value, reason))?,
            None => PrincipalMappingRules::default(),
        };
        let config = Self {
            listener: listener.to_string(),
            keystore,
            key_password: secret("ssl.key.password"),
            keystore_certificate_chain: secret("ssl.keystore.certificate.chain"),
            keystore_key: secret("ssl.keystore.key"),
            truststore,
            truststore_certificates: secret("ssl.truststore.certificates"),
            client_auth,
            enabled_protocols: list("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
            protocol: text("ssl.protocol").unwrap_or_else(|| "TLSv1.3".into()),
            cipher_suites: list("ssl.cipher.suites", ""),
            principal_mapping_rules,
        };
        config.check(&get)?;
        Ok(config)
    }

    /// Kafka's `DefaultSslEngineFactory` rules on which keys go together.
    fn check(&self, get: &dyn Fn(&str) -> Option<(String, String)>) -> Result<(), ConfigError> {
        let key_of = |key: &str| get(key).map(|(k, _)| k).unwrap_or_else(|| key.to_string());
        let refuse = |key: &str, reason: String| Err(invalid(&key_of(key), "", reason));
        let listener = &self.listener;
        let inline_key = self.keystore_key.is_some() || self.keystore_certificate_chain.is_some();
        if inline_key {
            if self.keystore.store_type != StoreType::Pem {
                return refuse(
                    "ssl.keystore.key",
                    "a key and certificate chain in the configuration need ssl.keystore.type=PEM"
                        .into(),
                );
            }
            if self.keystore_key.is_none() || self.keystore_certificate_chain.is_none() {
                return refuse(
                    "ssl.keystore.key",
                    "ssl.keystore.key and ssl.keystore.certificate.chain go together".into(),
                );
            }
            if self.keystore.location.is_some() {
                return refuse(
                    "ssl.keystore.location",
                    "a key store location cannot be combined with ssl.keystore.key".into(),
                );
            }
        }
        if self.keystore.location.is_none() && !inline_key {
            return refuse(
                "ssl.keystore.location",
                format!("listener {listener} uses TLS and has no key store (set ssl.keystore.location, or ssl.keystore.key and ssl.keystore.certificate.chain)"),
            );
        }
        for (prefix, store) in [
            ("keystore", &self.keystore),
            ("truststore", &self.truststore),
        ] {
            let password_key = format!("ssl.{prefix}.password");
            match store.store_type {
                StoreType::Pem if store.password.is_some() => {
                    return refuse(
                        &password_key,
                        format!("SSL {prefix} password cannot be specified with PEM format, only key password may be specified"),
                    );
                }
                StoreType::Pem => {}
                _ if store.location.is_some() && store.password.is_none() => {
                    return refuse(
                        &password_key,
                        format!(
                            "SSL {prefix} is specified, but {prefix} password is not specified"
                        ),
                    );
                }
                _ if store.location.is_none() && store.password.is_some() => {
                    return refuse(
                        &password_key,
                        format!(
                            "SSL {prefix} is not specified, but {prefix} password is specified"
                        ),
                    );
                }
                _ => {}
            }
        }
        if self.truststore_certificates.is_some() {
            if self.truststore.store_type != StoreType::Pem {
                return refuse(
                    "ssl.truststore.certificates",
                    "trusted certificates in the configuration need ssl.truststore.type=PEM".into(),
                );
            }
            if self.truststore.location.is_some() {
                return refuse(
                    "ssl.truststore.location",
                    "a trust store location cannot be combined with ssl.truststore.certificates"
                        .into(),
                );
            }
        }
        for protocol in &self.enabled_protocols {
            if !KNOWN_PROTOCOLS.contains(&protocol.as_str()) {
                return Err(invalid(
                    &key_of("ssl.enabled.protocols"),
                    protocol,
                    format!(
                        "unknown protocol; known ones are {}",
                        KNOWN_PROTOCOLS.join(", ")
                    ),
                ));
            }
        }
        if !KNOWN_PROTOCOLS.contains(&self.protocol.as_str()) && self.protocol != "TLS" {
            return Err(invalid(
                &key_of("ssl.protocol"),
                &self.protocol,
                format!(
                    "unknown protocol; known ones are TLS, {}",
                    KNOWN_PROTOCOLS.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Whether a trust store is configured (a file or inline certificates).
    pub fn has_truststore(&self) -> bool {
        self.truststore.location.is_some() || self.truststore_certificates.is_some()
    }
}

/// Protocol names Java knows for `ssl.enabled.protocols`; rustls serves TLSv1.2 and TLSv1.3.
const KNOWN_PROTOCOLS: &[&str] = &[
    "TLSv1.3",
    "TLSv1.2",
    "TLSv1.1",
    "TLSv1",
    "SSLv3",
    "SSLv2Hello",
];

/// `ssl.principal.mapping.rules`: how a certificate's distinguished name becomes a principal
/// name. Kafka's grammar: rules separated by commas (and white space), each `DEFAULT` (the
/// name unchanged) or `RULE:pattern/replacement/` with an optional `L` or `U` (lower or upper
/// case) after the last slash; the first rule whose pattern matches the whole name applies.
#[derive(Debug, Clone)]
pub struct PrincipalMappingRules {
    rules: Vec<MappingRule>,
}

#[derive(Debug, Clone)]
enum MappingRule {
    Default,
    Rule {
        pattern: Regex,
        /// `pattern` anchored at both ends: Java's `Matcher.matches()`.
        whole: Regex,
        /// The replacement in the `regex` crate's syntax (`${1}` for Java's `$1`).
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl Default for PrincipalMappingRules {
    fn default() -> Self {
        Self {
            rules: vec![MappingRule::Default],
        }
    }
}

impl PartialEq for PrincipalMappingRules {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

/// One rule of Kafka's `SslPrincipalMapper.RULE_PATTERN`.
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)";

impl PrincipalMappingRules {
    /// Parses Kafka's rule grammar.
    ///
    /// Errors: the reason, for a rule that does not parse or a pattern that is not a regular
    /// expression.
    pub fn parse(value: &str) -> Result<Self, String> {
        let splitter =
            Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(,\s*|$)")).map_err(|e| e.to_string())?;
        let parser = Regex::new(&format!("^(?:{RULE_PATTERN})")).map_err(|e| e.to_string())?;
        let mut rules = Vec::new();
        let trimmed = value.trim();
        let mut at = 0;
        // Java's Matcher.find(): successive matches; an empty match moves on by one char.
        while at <= trimmed.len() {
            let Some(found) = splitter.captures_at(trimmed, at) else {
                break;
            };
            let Some(whole) = found.get(0) else { break };
            let rule = found.get(1).map_or("", |m| m.as_str());
            at = if whole.end() == whole.start() {
                whole.end()
                    + trimmed[whole.end()..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8)
            } else {
                whole.end()
            };
            let Some(parsed) = parser.captures(rule) else {
                return Err(format!("Invalid rule: {rule}"));
            };
            let end = parsed.get(0).map_or(0, |m| m.end());
            if end != rule.len() {
                return Err(format!(
                    "Invalid rule: `{rule}`, unmatched substring: `{}`",
                    &rule[end..]
                ));
            }
            if parsed.get(1).is_some() {
                rules.push(MappingRule::Default);
            } else if let Some(pattern) = parsed.get(2) {
                let pattern = pattern.as_str();
                let replacement = parsed.get(4).map_or("", |m| m.as_str());
                let case = match parsed.get(6).map(|m| m.as_str()) {
                    Some("L") => Case::Lower,
                    Some("U") => Case::Upper,
                    _ => Case::Keep,
                };
                let whole = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("Invalid rule pattern {pattern}: {e}"))?;
                let groups = whole.captures_len().saturating_sub(1);
                rules.push(MappingRule::Rule {
                    pattern: Regex::new(pattern)
                        .map_err(|e| format!("Invalid rule pattern {pattern}: {e}"))?,
                    whole,
                    replacement: java_replacement(replacement, groups),
                    case,
                });
            }
            if whole.end() == trimmed.len() {
                break;
            }
        }
        Ok(Self { rules })
    }

    /// The principal name for `distinguished_name`: the result of the first rule that
    /// applies, or `None` when none does (Kafka's `NoMatchingRule`, which fails the
    /// authentication).
    pub fn apply(&self, distinguished_name: &str) -> Option<String> {
        for rule in &self.rules {
            match rule {
                MappingRule::Default => return Some(distinguished_name.to_string()),
                MappingRule::Rule {
                    pattern,
                    whole,
                    replacement,
                    case,
                } => {
                    if !whole.is_match(distinguished_name) {
                        continue;
                    }
                    let replaced = pattern
                        .replace_all(distinguished_name, replacement.as_str())
                        .into_owned();
                    return Some(match case {
                        Case::Keep => replaced,
                        Case::Lower => replaced.to_lowercase(),
                        Case::Upper => replaced.to_uppercase(),
                    });
                }
            }
        }
        None
    }
}

/// A Java `replaceAll` replacement in the `regex` crate's syntax: `$n` is group n (digits
/// taken while such a group exists, as Java does), `\x` is a literal x, and other `$` signs
/// are literal.
fn java_replacement(java: &str, groups: usize) -> String {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut group = 0usize;
                let mut first = true;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    let next = group * 10 + d as usize;
                    if !first && next > groups {
                        break;
                    }
                    group = next;
                    first = false;
                    chars.next();
                }
                out.push_str(&format!("${{{group}}}"));
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::props;

    #[test]
    fn kafka_documented_mapping_rules() -> Result<(), String> {
        // Kafka documentation 7.3 and SslPrincipalMapperTest.
        let rules = PrincipalMappingRules::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
        )?;
        assert_eq!(
            rules.apply("CN=kafka-server1,OU=ServiceUsers,O=org,L=city,ST=state,C=US"),
            Some("kafka-server1".into())
        );
        assert_eq!(
            rules.apply("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=city,ST=state,C=US"),
            Some("duke@javasoft".into())
        );
        assert_eq!(
            rules.apply("OU=JavaSoft,O=Sun Microsystems,C=US"),
            Some("OU=JavaSoft,O=Sun Microsystems,C=US".into())
        );
        let upper = PrincipalMappingRules::parse("RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/U")?;
        assert_eq!(
            upper.apply("CN=duke,OU=JavaSoft,O=Sun"),
            Some("DUKE@JAVASOFT".into())
        );
        assert_eq!(upper.apply("O=Sun"), None, "no rule applies");
        let multi_line = PrincipalMappingRules::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n  RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L,\n DEFAULT",
        )?;
        assert_eq!(
            multi_line.apply("CN=Duke,OU=JavaSoft,O=Sun"),
            Some("duke@javasoft".into())
        );
        assert_eq!(
            PrincipalMappingRules::default().apply("CN=alice,O=Acme"),
            Some("CN=alice,O=Acme".into())
        );
        Ok(())
    }

    #[test]
    fn invalid_mapping_rules_are_refused() {
        for bad in [
            "DEFAULT/L",
            "DEFAUL",
            "RULE:/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(
                PrincipalMappingRules::parse(bad).is_err(),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn java_replacements_become_regex_replacements() {
        assert_eq!(java_replacement("$1@$2", 2), "${1}@${2}");
        assert_eq!(java_replacement("$12", 1), "${1}2");
        assert_eq!(java_replacement("a\\$b", 1), "a$$b");
    }

    #[test]
    fn listener_keys_override_and_checks_name_the_key() -> Result<(), ConfigError> {
        let base = [
            ("ssl.keystore.location", "/ks.jks"),
            ("ssl.keystore.password", "store-secret"),
            ("ssl.key.password", "key-secret"),
            ("listener.name.internal.ssl.client.auth", "required"),
        ];
        let config = SslConfig::from_properties(&props(&base), "INTERNAL", false)?;
        assert_eq!(config.client_auth, ClientAuth::Required);
        assert_eq!(config.keystore.store_type, StoreType::Jks);
        assert_eq!(config.enabled_protocols, ["TLSv1.2", "TLSv1.3"]);
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret"), "passwords are redacted: {debug}");
        let other = SslConfig::from_properties(&props(&base), "EXTERNAL", false)?;
        assert_eq!(other.client_auth, ClientAuth::None);
        let mut sasl = props(&base);
        sasl.insert("ssl.client.auth".into(), "required".into());
        let sasl_ssl = SslConfig::from_properties(&sasl, "EXTERNAL", true)?;
        assert_eq!(sasl_ssl.client_auth, ClientAuth::None, "KIP-684");
        let sasl_ssl = SslConfig::from_properties(&sasl, "INTERNAL", true)?;
        assert_eq!(sasl_ssl.client_auth, ClientAuth::Required);

        let bad = SslConfig::from_properties(
            &props(&[
                ("listener.name.ssl.ssl.client.auth", "sometimes"),
                base[0],
                base[1],
            ]),
            "SSL",
            false,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            bad.to_string()
                .contains("listener.name.ssl.ssl.client.auth"),
            "{bad}"
        );
        let missing = SslConfig::from_properties(&props(&[]), "SSL", false)
            .map(|_| ())
            .unwrap_err();
        assert!(
            missing.to_string().contains("ssl.keystore.location"),
            "{missing}"
        );
        let no_password = SslConfig::from_properties(&props(&[base[0]]), "SSL", false)
            .map(|_| ())
            .unwrap_err();
        assert!(
            no_password.to_string().contains("ssl.keystore.password"),
            "{no_password}"
        );
        let pem_password = SslConfig::from_properties(
            &props(&[("ssl.keystore.type", "PEM"), base[0], base[1]]),
            "SSL",
            false,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            pem_password.to_string().contains("ssl.keystore.password"),
            "{pem_password}"
        );
        Ok(())
    }
}
