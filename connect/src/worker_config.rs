//! Worker properties (`connect-standalone.properties`, CONNECT.md b.3), parsed once into a
//! checked [`WorkerConfig`].
//!
//! References: Kafka Connect's `WorkerConfig` and `StandaloneConfig` (Kafka 3.7).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config_def::{
    with_prefix, ConfigDef, ConfigKey, ConfigType, Default, Importance, ParsedConfig,
};
use crate::connector::Config;
use crate::data::ConnectError;

/// Kafka's default header converter.
pub const SIMPLE_HEADER_CONVERTER: &str = "org.apache.kafka.connect.storage.SimpleHeaderConverter";

/// The `bootstrap.servers` value that asks for a Josefine broker inside the worker's process.
pub const EMBEDDED: &str = "embedded";

/// Worker keys with this prefix configure the embedded broker: `josefine.embedded.log.dirs`
/// is its data dir (a temporary dir when unset), any other key is a broker property
/// (`josefine.embedded.listeners=PLAINTEXT://127.0.0.1:9092`).
pub const EMBEDDED_PREFIX: &str = "josefine.embedded.";

fn key(name: &str, config_type: ConfigType, default: Default, doc: &str) -> ConfigKey {
    ConfigKey::new(name, config_type, default, Importance::High, doc)
}

fn value(text: &str) -> Default {
    Default::Value(text.to_string())
}

/// The keys of a standalone worker.
pub fn worker_config_def() -> ConfigDef {
    use ConfigType::*;
    ConfigDef::new()
        .define(key(
            "bootstrap.servers",
            List,
            value("localhost:9092"),
            "Kafka cluster to use; `embedded` starts a Josefine broker in this process.",
        ))
        .define(key(
            "key.converter",
            Class,
            Default::Required,
            "Converter for record keys.",
        ))
        .define(key(
            "value.converter",
            Class,
            Default::Required,
            "Converter for record values.",
        ))
        .define(key(
            "header.converter",
            Class,
            value(SIMPLE_HEADER_CONVERTER),
            "Converter for header values.",
        ))
        .define(key(
            "offset.storage.file.filename",
            String,
            Default::Required,
            "File holding source connector offsets.",
        ))
        .define(key(
            "offset.flush.interval.ms",
            Long,
            value("60000"),
            "How often source offsets are flushed and sink offsets committed, in ms.",
        ))
        .define(key(
            "offset.flush.timeout.ms",
            Long,
            value("5000"),
            "Longest wait for an offset flush, in ms.",
        ))
        .define(key(
            "task.shutdown.graceful.timeout.ms",
            Long,
            value("5000"),
            "Longest wait for one task to stop, in ms.",
        ))
        .define(key(
            "plugin.path",
            List,
            Default::Null,
            "Accepted and ignored: every plugin is built in.",
        ))
        .define(key(
            "listeners",
            List,
            value("http://:8083"),
            "REST API listeners.",
        ))
        .define(key(
            "rest.advertised.host.name",
            String,
            Default::Null,
            "Host the worker advertises.",
        ))
        .define(key(
            "rest.advertised.port",
            Int,
            Default::Null,
            "Port the worker advertises.",
        ))
        .define(key(
            "rest.advertised.listener",
            String,
            Default::Null,
            "Protocol the worker advertises.",
        ))
        .define(key(
            "access.control.allow.origin",
            String,
            value(""),
            "CORS allowed origin; empty = CORS off.",
        ))
        .define(key(
            "access.control.allow.methods",
            String,
            value(""),
            "CORS allowed methods.",
        ))
        .define(key(
            "topic.creation.enable",
            Boolean,
            value("true"),
            "Whether source connectors may create topics.",
        ))
        .define(key(
            "topic.tracking.enable",
            Boolean,
            value("true"),
            "Whether active topics are tracked.",
        ))
        .define(key(
            "topic.tracking.allow.reset",
            Boolean,
            value("true"),
            "Whether active topics may be reset.",
        ))
        .define(key(
            "config.providers",
            List,
            value(""),
            "Config provider aliases.",
        ))
        .define(key(
            "connector.client.config.override.policy",
            String,
            value("All"),
            "Which client overrides connectors may set.",
        ))
        .define(key(
            "exactly.once.source.support",
            String,
            value("disabled"),
            "Exactly-once source support.",
        ))
}

/// Prefixes whose keys are passed on, not checked (clients, converters, providers).
const PASSED_ON: &[&str] = &[
    "producer.",
    "consumer.",
    "admin.",
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "config.providers.",
    "listeners.https.",
    EMBEDDED_PREFIX,
];

/// A checked worker configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    parsed: ParsedConfig,
}

impl WorkerConfig {
    /// Checks `props` (the worker file's keys). Unknown keys are logged once and kept.
    /// Errors with Kafka's message for a missing or malformed key.
    pub fn new(props: BTreeMap<String, String>) -> Result<WorkerConfig, ConnectError> {
        let def = worker_config_def();
        for name in props.keys() {
            if def.key(name).is_none() && !PASSED_ON.iter().any(|prefix| name.starts_with(prefix)) {
                tracing::warn!(key = %name, "unknown worker property");
            }
        }
        let parsed = def.parse(&props).map_err(ConnectError::config)?;
        if parsed
            .list("plugin.path")
            .iter()
            .any(|path| !path.is_empty())
        {
            tracing::info!("plugin.path is ignored: every plugin is built in");
        }
        Ok(WorkerConfig { parsed })
    }

    /// All worker properties as given.
    pub fn originals(&self) -> &Config {
        self.parsed.originals()
    }

    /// The typed values.
    pub fn parsed(&self) -> &ParsedConfig {
        &self.parsed
    }

    /// `bootstrap.servers` as one comma-separated string.
    pub fn bootstrap_servers(&self) -> String {
        self.parsed.list("bootstrap.servers").join(",")
    }

    /// True when `bootstrap.servers=embedded`.
    pub fn is_embedded(&self) -> bool {
        self.bootstrap_servers() == EMBEDDED
    }

    /// Replaces `bootstrap.servers` (the embedded broker's listener).
    pub fn with_bootstrap_servers(&self, servers: &str) -> Result<WorkerConfig, ConnectError> {
        let mut props = self.originals().clone();
        props.insert("bootstrap.servers".to_string(), servers.to_string());
        WorkerConfig::new(props)
    }

    /// Source offsets file.
    pub fn offset_storage_file(&self) -> std::path::PathBuf {
        self.parsed
            .string("offset.storage.file.filename")
            .unwrap_or_default()
            .into()
    }

    /// `offset.flush.interval.ms`.
    pub fn offset_flush_interval(&self) -> Duration {
        millis(self.parsed.long("offset.flush.interval.ms"))
    }

    /// `offset.flush.timeout.ms`.
    pub fn offset_flush_timeout(&self) -> Duration {
        millis(self.parsed.long("offset.flush.timeout.ms"))
    }

    /// `task.shutdown.graceful.timeout.ms`.
    pub fn task_shutdown_graceful_timeout(&self) -> Duration {
        millis(self.parsed.long("task.shutdown.graceful.timeout.ms"))
    }

    /// Worker keys with `prefix` (`producer.`, `consumer.`, `admin.`), prefix removed.
    pub fn client_properties(&self, prefix: &str) -> Config {
        with_prefix(self.originals(), prefix)
    }

    /// `listeners`.
    pub fn listeners(&self) -> Vec<String> {
        self.parsed.list("listeners").to_vec()
    }
}

fn millis(value: Option<i64>) -> Duration {
    Duration::from_millis(value.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_start_worker_file_parses() {
        let props: BTreeMap<String, String> = [
            ("bootstrap.servers", "localhost:9092"),
            (
                "key.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("key.converter.schemas.enable", "true"),
            ("offset.storage.file.filename", "/tmp/connect.offsets"),
            ("offset.flush.interval.ms", "10000"),
            ("plugin.path", "libs/connect-file-3.7.0.jar"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = WorkerConfig::new(props).unwrap();
        assert_eq!(config.offset_flush_interval(), Duration::from_secs(10));
        assert_eq!(config.bootstrap_servers(), "localhost:9092");
        assert!(!config.is_embedded());
    }

    #[test]
    fn missing_converter_is_refused_with_kafkas_text() {
        let props: BTreeMap<String, String> =
            [("offset.storage.file.filename".to_string(), "x".to_string())]
                .into_iter()
                .collect();
        let error = WorkerConfig::new(props).unwrap_err();
        assert_eq!(
            error.message,
            "Missing required configuration \"key.converter\" which has no default value."
        );
    }
}
