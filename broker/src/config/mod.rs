//! Broker configuration: Apache Kafka's `server.properties` keys, parsed once into a checked
//! [`BrokerConfig`]. Unknown keys warn; bad values fail with the key named.
//!
//! References: Kafka documentation section 3.1 "Broker Configs"; KIP-103 (listener names).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub mod authorizer;
mod group;
pub mod jaas;
mod net;
mod quota;
pub mod sasl;
pub mod ssl;
pub mod topic;
mod txn;

pub use authorizer::AuthorizerConfig;
pub use group::{assignor_short_name, GroupConfig, KNOWN_ASSIGNORS};
pub use net::{SocketServerConfig, DEFAULT_QUEUED_MAX_REQUEST_BYTES};
pub use quota::QuotaConfig;
pub use sasl::{SaslConfig, SaslMechanism};
pub use txn::TransactionConfig;

/// A configuration error: the key and why its value is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse or is out of range.
    #[error("invalid value {value:?} for configuration {key}: {reason}")]
    Invalid {
        /// The property key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The properties file could not be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The value of `key` in `properties` as a whole number of at least `min`, or `default` when
/// the key is not set.
///
/// Errors: `Invalid` naming the key when the value does not parse or is below `min`.
pub fn number_or(
    properties: &BTreeMap<String, String>,
    key: &str,
    default: i64,
    min: i64,
) -> Result<i64, ConfigError> {
    match properties.get(key).map(|v| v.trim()) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(invalid(
                key,
                v,
                format!("must be a number of at least {min}"),
            )),
        },
    }
}

/// [`number_or`] read as milliseconds.
pub fn duration_or(
    properties: &BTreeMap<String, String>,
    key: &str,
    default_ms: i64,
    min_ms: i64,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(
        number_or(properties, key, default_ms, min_ms)?.unsigned_abs(),
    ))
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// The security protocol of a listener (`listener.security.protocol.map`), Kafka's
/// `SecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// Unauthenticated, unencrypted TCP.
    Plaintext,
    /// TLS; the principal is the client certificate's (mapped) distinguished name, or
    /// `User:ANONYMOUS` without one.
    Ssl,
    /// SASL authentication over TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name of the protocol.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// The protocol named `name` (Kafka's spelling, any case), if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether connections are encrypted with TLS (SSL and SASL_SSL).
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL before any other API (SASL_PLAINTEXT and
    /// SASL_SSL).
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name (`PLAINTEXT`, or a custom name mapped by `listener.security.protocol.map`).
    pub name: String,
    /// Host to bind; empty means all interfaces.
    pub host: String,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// Its security protocol.
    pub security_protocol: SecurityProtocol,
}

/// Parses a `listeners`-style list: `NAME://host:port,...`.
fn parse_listeners(key: &str, value: &str) -> Result<Vec<(String, String, u16)>, ConfigError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| invalid(key, value, format!("{item} is not NAME://host:port")))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, value, format!("{item} has no port")))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(key, value, format!("bad port in {item}")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        out.push((name.to_ascii_uppercase(), host, port));
    }
    Ok(out)
}

/// The checked broker configuration. Field names follow Kafka's keys. Its `Debug` output
/// shows the values of sensitive keys ([`is_sensitive`]) as `<redacted>`.
#[derive(Clone)]
pub struct BrokerConfig {
    /// `node.id` (or `broker.id`). Default 0.
    pub node_id: i32,
    /// `listeners`, less the KRaft controller listeners (`controller.listener.names`).
    /// Default `PLAINTEXT://127.0.0.1:9092`.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners` as (name, host, port); a listener not named here advertises its
    /// bound address.
    pub advertised_listeners: Vec<(String, String, u16)>,
    /// `log.dirs` (or `log.dir`); the first directory holds all partitions.
    pub log_dir: PathBuf,
    /// `num.partitions`: partitions of an auto-created topic. Default 1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`. Default true.
    pub auto_create_topics_enable: bool,
    /// `socket.request.max.bytes`: largest request frame accepted. Default 104857600.
    pub socket_request_max_bytes: usize,
    /// `log.flush.interval.ms`: flush every partition this often; `None` leaves it to the OS.
    pub log_flush_interval: Option<Duration>,
    /// `log.flush.offset.checkpoint.interval.ms`: how often every partition's recovery point
    /// is written to `recovery-point-offset-checkpoint` (and at shutdown). Default 60 s; 0
    /// (`None`) writes it at shutdown only.
    pub log_flush_offset_checkpoint_interval: Option<Duration>,
    /// `delete.topic.enable`. Default true.
    pub delete_topic_enable: bool,
    /// `log.retention.check.interval.ms`: how often retention runs. Default 5 minutes.
    pub log_retention_check_interval: Duration,
    /// `log.cleaner.enable`: whether compacted topics are cleaned. Default true.
    pub log_cleaner_enable: bool,
    /// `max.incremental.fetch.session.cache.slots` (KIP-227). Default 1000.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// `cluster.id` if given; otherwise read from or written to `meta.properties`.
    pub cluster_id: Option<String>,
    /// The group coordinator's settings (`group.*`, `offsets.topic.*`).
    pub groups: GroupConfig,
    /// The transaction coordinator's settings (`transaction.*`).
    pub transactions: TransactionConfig,
    /// Connection limits, idle timeout and the request memory budget (`max.connections*`,
    /// `connections.max.idle.ms`, `queued.max.request.bytes`).
    pub socket_server: SocketServerConfig,
    /// How client quota rates are sampled (`quota.window.num`, `quota.window.size.seconds`).
    pub quotas: QuotaConfig,
    /// The authorizer (`authorizer.class.name`, `super.users`,
    /// `allow.everyone.if.no.acl.found`).
    pub authorizer: AuthorizerConfig,
    /// Every property as given, for DescribeConfigs and topic config defaults.
    pub properties: BTreeMap<String, String>,
    /// The TLS settings of every SSL and SASL_SSL listener, in `listeners` order.
    pub listener_ssl: Vec<ssl::SslConfig>,
    /// SASL mechanisms, JAAS users and re-authentication of the SASL listeners (`sasl.*`).
    pub sasl: SaslConfig,
}

/// Whether the value of `key` is a secret that is never printed: Kafka's PASSWORD-type keys
/// (`*.password`, `ssl.keystore.key`) and JAAS lines, which carry passwords.
pub fn is_sensitive(key: &str) -> bool {
    key.ends_with("password") || key.ends_with("ssl.keystore.key") || key.ends_with("jaas.config")
}

/// `properties` for `Debug`, with sensitive values redacted.
struct RedactedProperties<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for RedactedProperties<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(key, value)| {
                let shown = if is_sensitive(key) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (key, shown)
            }))
            .finish()
    }
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so that a new field cannot be left out unnoticed.
        let BrokerConfig {
            node_id,
            listeners,
            advertised_listeners,
            log_dir,
            num_partitions,
            auto_create_topics_enable,
            socket_request_max_bytes,
            log_flush_interval,
            log_flush_offset_checkpoint_interval,
            delete_topic_enable,
            log_retention_check_interval,
            log_cleaner_enable,
            max_incremental_fetch_session_cache_slots,
            cluster_id,
            groups,
            transactions,
            socket_server,
            quotas,
            authorizer,
            properties,
            listener_ssl,
            sasl,
        } = self;
        f.debug_struct("BrokerConfig")
            .field("node_id", node_id)
            .field("listeners", listeners)
            .field("advertised_listeners", advertised_listeners)
            .field("log_dir", log_dir)
            .field("num_partitions", num_partitions)
            .field("auto_create_topics_enable", auto_create_topics_enable)
            .field("socket_request_max_bytes", socket_request_max_bytes)
            .field("log_flush_interval", log_flush_interval)
            .field(
                "log_flush_offset_checkpoint_interval",
                log_flush_offset_checkpoint_interval,
            )
            .field("delete_topic_enable", delete_topic_enable)
            .field("log_retention_check_interval", log_retention_check_interval)
            .field("log_cleaner_enable", log_cleaner_enable)
            .field(
                "max_incremental_fetch_session_cache_slots",
                max_incremental_fetch_session_cache_slots,
            )
            .field("cluster_id", cluster_id)
            .field("groups", groups)
            .field("transactions", transactions)
            .field("socket_server", socket_server)
            .field("quotas", quotas)
            .field("authorizer", authorizer)
            .field("properties", &RedactedProperties(properties))
            .field("listener_ssl", listener_ssl)
            .field("sasl", sasl)
            .finish()
    }
}

impl BrokerConfig {
    /// The TLS settings of listener `listener` (checked at start), if it uses TLS.
    pub fn ssl_config(&self, listener: &str) -> Option<&ssl::SslConfig> {
        self.listener_ssl.iter().find(|s| s.listener == listener)
    }

    /// The value of `key` for listener `listener`: `listener.name.<listener>.<key>` (the
    /// listener name in lower case, as Kafka spells the prefix) if set, else `key` itself.
    /// Every `ssl.*` and `sasl.*` key can be given per listener this way (KIP-103).
    pub fn listener_property(&self, listener: &str, key: &str) -> Option<&str> {
        let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
        self.properties
            .get(&prefixed)
            .or_else(|| self.properties.get(key))
            .map(String::as_str)
    }
}

/// Keys that Kafka brokers know and Josefine accepts without a warning (some have no effect
/// on a single node).
const KNOWN_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    // Josefine's own: fault rules for tests (`inspect::faults`).
    "josefine.faults",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "controller.listener.names",
    "process.roles",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "auto.create.topics.enable",
    "socket.request.max.bytes",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.network.threads",
    "num.io.threads",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "default.replication.factor",
    "min.insync.replicas",
    "log.retention.hours",
    "log.retention.minutes",
    "log.retention.ms",
    "log.retention.bytes",
    "log.retention.check.interval.ms",
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.hours",
    "log.index.size.max.bytes",
    "log.index.interval.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.flush.scheduler.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "log.cleanup.policy",
    "log.cleaner.enable",
    "log.cleaner.backoff.ms",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.segment.delete.delay.ms",
    "log.message.timestamp.type",
    "message.max.bytes",
    "compression.type",
    "delete.topic.enable",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "group.consumer.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "group.consumer.min.session.timeout.ms",
    "group.consumer.max.session.timeout.ms",
    "group.consumer.min.heartbeat.interval.ms",
    "group.consumer.max.heartbeat.interval.ms",
    "group.consumer.max.size",
    "group.consumer.assignors",
    "transaction.max.timeout.ms",
    "transaction.state.log.num.partitions",
    "transaction.state.log.segment.bytes",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "transaction.remove.expired.transaction.cleanup.interval.ms",
    "transactional.id.expiration.ms",
    "producer.id.expiration.ms",
    "producer.id.expiration.check.interval.ms",
    "group.coordinator.new.enable",
    "offsets.topic.segment.bytes",
    "offsets.retention.minutes",
    "offsets.retention.check.interval.ms",
    "offsets.commit.timeout.ms",
    "offsets.load.buffer.size",
    "offset.metadata.max.bytes",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "max.incremental.fetch.session.cache.slots",
    "cluster.id",
    "log.preallocate",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "log.message.timestamp.difference.max.ms",
    "unclean.leader.election.enable",
    "replica.lag.time.max.ms",
    "group.coordinator.rebalance.protocols",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "metadata.log.dir",
    "log.cleaner.threads",
    "queued.max.request.bytes",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "connections.max.idle.ms",
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
    "connections.max.reauth.ms",
    "sasl.server.max.receive.size",
    "sasl.mechanism.inter.broker.protocol",
    // Single node: nothing talks to another broker, so these have no effect.
    "security.inter.broker.protocol",
    "sasl.mechanism.controller.protocol",
    "quota.window.num",
    "quota.window.size.seconds",
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
];

impl BrokerConfig {
    /// Reads a Java properties file, applies `overrides` (`key=value`) on top and checks it.
    ///
    /// Errors: `File` when unreadable, `Invalid` naming the first bad key.
    pub fn from_file(
        path: Option<&std::path::Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut properties = BTreeMap::new();
        if let Some(path) = path {
            let bytes = std::fs::read(path).map_err(|e| ConfigError::File {
                path: path.into(),
                reason: e.to_string(),
            })?;
            let map =
                josefine_storage::log_dir::parse_java_properties(&bytes).map_err(|reason| {
                    ConfigError::File {
                        path: path.into(),
                        reason,
                    }
                })?;
            properties.extend(map);
        }
        properties.extend(overrides.iter().cloned());
        Self::from_properties(properties)
    }

    /// Checks a property map. Every validation happens here, before any socket or file opens.
    pub fn from_properties(properties: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        for key in properties.keys() {
            if !KNOWN_KEYS.contains(&key.as_str())
                && !crate::config::topic::is_broker_synonym(key)
                && !key.starts_with("listener.name.")
                && !ssl::is_ssl_key(key)
            {
                tracing::warn!(%key, "unknown configuration key ignored");
            }
        }
        let get = |key: &str| properties.get(key).map(|v| v.trim());
        fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
            value
                .parse()
                .map_err(|_| invalid(key, value, "not a number in range"))
        }
        // The value of `key` parsed as a number, or `default` when it is not set.
        let number_or = |key: &str, default| -> Result<i64, ConfigError> {
            get(key).map_or(Ok(default), |v| parse::<i64>(key, v))
        };
        let node_id = match get("node.id").or(get("broker.id")) {
            Some(v) => parse::<i32>("node.id", v)?.max(0),
            None => 0,
        };
        let controller_names: Vec<String> = get("controller.listener.names")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .collect()
            })
            .unwrap_or_default();
        let mut protocol_map: BTreeMap<String, String> =
            ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
                .iter()
                .map(|p| (p.to_string(), p.to_string()))
                .collect();
        if let Some(map) = get("listener.security.protocol.map") {
            for pair in map.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, protocol) = pair.split_once(':').ok_or_else(|| {
                    invalid(
                        "listener.security.protocol.map",
                        map,
                        format!("{pair} is not NAME:PROTOCOL"),
                    )
                })?;
                protocol_map.insert(
                    name.trim().to_ascii_uppercase(),
                    protocol.trim().to_ascii_uppercase(),
                );
            }
        }
        let listeners_value = get("listeners").unwrap_or("PLAINTEXT://127.0.0.1:9092");
        let mut listeners = Vec::new();
        for (name, host, port) in parse_listeners("listeners", listeners_value)? {
            if controller_names.contains(&name) {
                continue;
            }
            let protocol = protocol_map
                .get(&name)
                .ok_or_else(|| invalid("listeners", listeners_value, format!("listener {name} has no security protocol in listener.security.protocol.map")))?;
            let security_protocol = SecurityProtocol::from_name(protocol).ok_or_else(|| {
                invalid(
                    "listener.security.protocol.map",
                    protocol,
                    format!("unknown security protocol of listener {name}"),
                )
            })?;
            listeners.push(Listener {
                name,
                host,
                port,
                security_protocol,
            });
        }
        if listeners.is_empty() {
            return Err(invalid("listeners", listeners_value, "no broker listener"));
        }
        let advertised_listeners = match get("advertised.listeners") {
            Some(v) => parse_listeners("advertised.listeners", v)?,
            None => Vec::new(),
        };
        let log_dir = get("log.dirs")
            .or(get("log.dir"))
            .map(|v| PathBuf::from(v.split(',').next().unwrap_or(v).trim()))
            .unwrap_or_else(|| PathBuf::from("data"));
        let num_partitions = i32::try_from(number_or("num.partitions", 1)?).map_err(|_| {
            invalid(
                "num.partitions",
                get("num.partitions").unwrap_or(""),
                "not a 32-bit number",
            )
        })?;
        if num_partitions < 1 {
            return Err(invalid(
                "num.partitions",
                &num_partitions.to_string(),
                "must be at least 1",
            ));
        }
        let parse_bool = |key: &str, default: bool| -> Result<bool, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
                Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
                Some(v) => Err(invalid(key, v, "expected true or false")),
            }
        };
        let socket_request_max_bytes =
            i32::try_from(number_or("socket.request.max.bytes", 104_857_600)?).map_err(|_| {
                invalid(
                    "socket.request.max.bytes",
                    get("socket.request.max.bytes").unwrap_or(""),
                    "not a 32-bit number",
                )
            })?;
        if socket_request_max_bytes < 1 {
            return Err(invalid(
                "socket.request.max.bytes",
                &socket_request_max_bytes.to_string(),
                "must be positive",
            ));
        }
        let log_flush_interval = match get("log.flush.interval.ms") {
            Some(v) => {
                let ms: i64 = parse("log.flush.interval.ms", v)?;
                (ms > 0 && ms < i64::MAX).then(|| Duration::from_millis(ms as u64))
            }
            None => None,
        };
        let key = "log.flush.offset.checkpoint.interval.ms";
        let recovery_checkpoint = number_or(key, 60_000)?;
        if !(0..=i64::from(i32::MAX)).contains(&recovery_checkpoint) {
            return Err(invalid(
                key,
                &recovery_checkpoint.to_string(),
                "must be between 0 and 2147483647",
            ));
        }
        let log_flush_offset_checkpoint_interval =
            (recovery_checkpoint > 0).then(|| Duration::from_millis(recovery_checkpoint as u64));
        let key = "log.retention.check.interval.ms";
        let retention_check = number_or(key, 300_000)?;
        if retention_check < 1 {
            return Err(invalid(
                key,
                &retention_check.to_string(),
                "must be at least 1",
            ));
        }
        let key = "max.incremental.fetch.session.cache.slots";
        let slots = usize::try_from(number_or(key, 1000)?)
            .map_err(|_| invalid(key, get(key).unwrap_or(""), "must not be negative"))?;
        let sasl = SaslConfig::from_properties(&properties, &listeners)?;
        if let Some(rules) = get(crate::inspect::faults::FAULTS_KEY) {
            crate::inspect::faults::Fault::parse_list(rules)
                .map_err(|reason| invalid(crate::inspect::faults::FAULTS_KEY, rules, reason))?;
        }
        let config = Self {
            node_id,
            listeners,
            advertised_listeners,
            log_dir,
            num_partitions,
            auto_create_topics_enable: parse_bool("auto.create.topics.enable", true)?,
            socket_request_max_bytes: socket_request_max_bytes as usize,
            log_flush_interval,
            log_flush_offset_checkpoint_interval,
            delete_topic_enable: parse_bool("delete.topic.enable", true)?,
            log_retention_check_interval: Duration::from_millis(retention_check as u64),
            log_cleaner_enable: parse_bool("log.cleaner.enable", true)?,
            max_incremental_fetch_session_cache_slots: slots,
            cluster_id: get("cluster.id").map(str::to_string),
            groups: GroupConfig::from_properties(&properties)?,
            transactions: TransactionConfig::from_properties(&properties)?,
            socket_server: SocketServerConfig::from_properties(
                &properties,
                socket_request_max_bytes as usize,
            )?,
            listener_ssl: Vec::new(),
            quotas: QuotaConfig::from_properties(&properties)?,
            authorizer: AuthorizerConfig::from_properties(&properties)?,
            properties: properties.clone(),
            sasl,
        };
        let mut config = config;
        for listener in &config.listeners {
            if listener.security_protocol.uses_tls() {
                let ssl = ssl::SslConfig::from_properties(
                    &properties,
                    &listener.name,
                    listener.security_protocol.uses_sasl(),
                )?;
                config.listener_ssl.push(ssl);
            }
        }
        // Topic defaults from broker keys must be valid too (log.segment.bytes, ...).
        crate::config::topic::TopicConfigs::resolve(
            &crate::config::topic::BrokerConfigLayers::from_static(config.properties.clone()),
            &BTreeMap::new(),
        )
        .map_err(|e| match e {
            crate::config::topic::TopicConfigError::Invalid { key, value, reason } => {
                ConfigError::Invalid { key, value, reason }
            }
            crate::config::topic::TopicConfigError::Unknown(key) => invalid(&key, "", "unknown"),
        })?;
        Ok(config)
    }

    /// A configuration for tests and embedding: one PLAINTEXT listener on 127.0.0.1:0 and the
    /// given log dir.
    pub fn ephemeral(log_dir: PathBuf) -> Self {
        let mut properties = BTreeMap::new();
        properties.insert("listeners".into(), "PLAINTEXT://127.0.0.1:0".into());
        properties.insert("log.dirs".into(), log_dir.display().to_string());
        #[allow(clippy::expect_used)]
        Self::from_properties(properties).expect("the ephemeral configuration is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A property map from `(key, value)` pairs (shared by the config modules' tests).
    pub(super) fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn debug_output_redacts_passwords_and_jaas_lines() -> Result<(), ConfigError> {
        let config = BrokerConfig::from_properties(props(&[
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_alice=\"alice-secret\";",
            ),
            ("ssl.truststore.password", "trust-secret"),
        ]))?;
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("alice-secret") && !shown.contains("trust-secret"),
            "{shown}"
        );
        assert!(
            shown.contains("<redacted>") && shown.contains("SASL_PLAINTEXT"),
            "{shown}"
        );
        Ok(())
    }

    #[test]
    fn defaults_match_kafka() -> Result<(), ConfigError> {
        let config = BrokerConfig::from_properties(BTreeMap::new())?;
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(
            (config.listeners[0].host.as_str(), config.listeners[0].port),
            ("127.0.0.1", 9092)
        );
        assert_eq!(config.socket_request_max_bytes, 104_857_600);
        assert_eq!(config.num_partitions, 1);
        assert!(config.auto_create_topics_enable);
        assert_eq!(
            config.log_flush_offset_checkpoint_interval,
            Some(Duration::from_secs(60))
        );
        Ok(())
    }

    #[test]
    fn a_zero_recovery_point_checkpoint_interval_checkpoints_at_shutdown_only(
    ) -> Result<(), ConfigError> {
        let config = BrokerConfig::from_properties(props(&[(
            "log.flush.offset.checkpoint.interval.ms",
            "0",
        )]))?;
        assert_eq!(config.log_flush_offset_checkpoint_interval, None);
        Ok(())
    }

    #[test]
    fn kraft_controller_listener_is_skipped() -> Result<(), ConfigError> {
        let config = BrokerConfig::from_properties(props(&[
            ("process.roles", "broker,controller"),
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ),
        ]))?;
        assert_eq!(config.listeners.len(), 1);
        assert_eq!(config.listeners[0].name, "PLAINTEXT");
        Ok(())
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("num.partitions", "zero"),
            ("log.segment.bytes", "-5"),
            ("auto.create.topics.enable", "yes"),
            ("listeners", "nonsense"),
            ("log.flush.offset.checkpoint.interval.ms", "-1"),
        ] {
            let err = BrokerConfig::from_properties(props(&[(key, value)]))
                .map(|_| ())
                .unwrap_err();
            assert!(err.to_string().contains(key), "{err} names {key}");
        }
    }
}
