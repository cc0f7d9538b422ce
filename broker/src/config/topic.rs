//! Topic-level configs: Kafka's names, defaults, broker synonyms and types, resolved from a
//! topic's overrides over the broker's properties over Kafka's defaults.
//!
//! References: Kafka documentation section 3.2 "Topic-Level Configs"; KIP-226 (config sources
//! and synonyms in DescribeConfigs).

use std::collections::BTreeMap;
use std::time::Duration;

use josefine_storage::{LogConfig, TimestampType};

/// DescribeConfigs config types (v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    /// true/false.
    Boolean = 1,
    /// Free text.
    String = 2,
    /// 32-bit integer.
    Int = 3,
    /// 16-bit integer.
    Short = 4,
    /// 64-bit integer.
    Long = 5,
    /// Floating point.
    Double = 6,
    /// Comma-separated list.
    List = 7,
}

/// DescribeConfigs config sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    /// A topic override (DYNAMIC_TOPIC_CONFIG).
    Topic = 1,
    /// Set for this broker at run time (DYNAMIC_BROKER_CONFIG, KIP-226).
    DynamicBroker = 2,
    /// Set for all brokers at run time (DYNAMIC_DEFAULT_BROKER_CONFIG, KIP-226).
    DynamicDefaultBroker = 3,
    /// A key of `server.properties` (STATIC_BROKER_CONFIG).
    StaticBroker = 4,
    /// Kafka's default (DEFAULT_CONFIG).
    Default = 5,
}

/// One topic config's definition.
#[derive(Debug)]
pub struct TopicConfigDef {
    /// The topic-level key.
    pub name: &'static str,
    /// Broker keys that set its default, most specific first (`log.retention.ms` before
    /// `log.retention.hours`), with a factor to milliseconds or 1.
    pub synonyms: &'static [(&'static str, i64)],
    /// Kafka's default value.
    pub default: &'static str,
    /// Its type.
    pub config_type: ConfigType,
    /// One line of documentation.
    pub doc: &'static str,
}

const MAX: &str = "9223372036854775807";
const HOUR: i64 = 3_600_000;

/// Every topic config of Apache Kafka 3.7, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        synonyms: &[("log.cleanup.policy", 1)],
        default: "delete",
        config_type: ConfigType::List,
        doc: "delete or compact or both",
    },
    TopicConfigDef {
        name: "compression.type",
        synonyms: &[("compression.type", 1)],
        default: "producer",
        config_type: ConfigType::String,
        doc: "final compression type of the topic",
    },
    TopicConfigDef {
        name: "delete.retention.ms",
        synonyms: &[("log.cleaner.delete.retention.ms", 1)],
        default: "86400000",
        config_type: ConfigType::Long,
        doc: "how long delete tombstones are kept",
    },
    TopicConfigDef {
        name: "file.delete.delay.ms",
        synonyms: &[("log.segment.delete.delay.ms", 1)],
        default: "60000",
        config_type: ConfigType::Long,
        doc: "wait before deleting a file",
    },
    TopicConfigDef {
        name: "flush.messages",
        synonyms: &[("log.flush.interval.messages", 1)],
        default: MAX,
        config_type: ConfigType::Long,
        doc: "records between fsyncs",
    },
    TopicConfigDef {
        name: "flush.ms",
        synonyms: &[("log.flush.interval.ms", 1)],
        default: MAX,
        config_type: ConfigType::Long,
        doc: "ms between fsyncs",
    },
    TopicConfigDef {
        name: "follower.replication.throttled.replicas",
        synonyms: &[("follower.replication.throttled.replicas", 1)],
        default: "",
        config_type: ConfigType::List,
        doc: "throttled follower replicas",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        synonyms: &[("log.index.interval.bytes", 1)],
        default: "4096",
        config_type: ConfigType::Int,
        doc: "bytes between offset index entries",
    },
    TopicConfigDef {
        name: "leader.replication.throttled.replicas",
        synonyms: &[("leader.replication.throttled.replicas", 1)],
        default: "",
        config_type: ConfigType::List,
        doc: "throttled leader replicas",
    },
    TopicConfigDef {
        name: "local.retention.bytes",
        synonyms: &[("log.local.retention.bytes", 1)],
        default: "-2",
        config_type: ConfigType::Long,
        doc: "local retention in bytes (tiered storage)",
    },
    TopicConfigDef {
        name: "local.retention.ms",
        synonyms: &[("log.local.retention.ms", 1)],
        default: "-2",
        config_type: ConfigType::Long,
        doc: "local retention in ms (tiered storage)",
    },
    TopicConfigDef {
        name: "max.compaction.lag.ms",
        synonyms: &[("log.cleaner.max.compaction.lag.ms", 1)],
        default: MAX,
        config_type: ConfigType::Long,
        doc: "longest time a record stays uncompacted",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        synonyms: &[("message.max.bytes", 1)],
        default: "1048588",
        config_type: ConfigType::Int,
        doc: "largest record batch size",
    },
    TopicConfigDef {
        name: "message.downconversion.enable",
        synonyms: &[("log.message.downconversion.enable", 1)],
        default: "true",
        config_type: ConfigType::Boolean,
        doc: "down-conversion for old consumers",
    },
    TopicConfigDef {
        name: "message.format.version",
        synonyms: &[("log.message.format.version", 1)],
        default: "3.0-IV1",
        config_type: ConfigType::String,
        doc: "deprecated",
    },
    TopicConfigDef {
        name: "message.timestamp.after.max.ms",
        synonyms: &[("log.message.timestamp.after.max.ms", 1)],
        default: MAX,
        config_type: ConfigType::Long,
        doc: "largest allowed timestamp lead over the broker clock",
    },
    TopicConfigDef {
        name: "message.timestamp.before.max.ms",
        synonyms: &[("log.message.timestamp.before.max.ms", 1)],
        default: MAX,
        config_type: ConfigType::Long,
        doc: "largest allowed timestamp lag behind the broker clock",
    },
    TopicConfigDef {
        name: "message.timestamp.difference.max.ms",
        synonyms: &[("log.message.timestamp.difference.max.ms", 1)],
        default: MAX,
        config_type: ConfigType::Long,
        doc: "deprecated",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        synonyms: &[("log.message.timestamp.type", 1)],
        default: "CreateTime",
        config_type: ConfigType::String,
        doc: "CreateTime or LogAppendTime",
    },
    TopicConfigDef {
        name: "min.cleanable.dirty.ratio",
        synonyms: &[("log.cleaner.min.cleanable.ratio", 1)],
        default: "0.5",
        config_type: ConfigType::Double,
        doc: "dirty ratio that triggers compaction",
    },
    TopicConfigDef {
        name: "min.compaction.lag.ms",
        synonyms: &[("log.cleaner.min.compaction.lag.ms", 1)],
        default: "0",
        config_type: ConfigType::Long,
        doc: "shortest time a record stays uncompacted",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        synonyms: &[("min.insync.replicas", 1)],
        default: "1",
        config_type: ConfigType::Int,
        doc: "replicas that must acknowledge acks=all",
    },
    TopicConfigDef {
        name: "preallocate",
        synonyms: &[("log.preallocate", 1)],
        default: "false",
        config_type: ConfigType::Boolean,
        doc: "preallocate segment files",
    },
    TopicConfigDef {
        name: "remote.storage.enable",
        synonyms: &[],
        default: "false",
        config_type: ConfigType::Boolean,
        doc: "tiered storage",
    },
    TopicConfigDef {
        name: "retention.bytes",
        synonyms: &[("log.retention.bytes", 1)],
        default: "-1",
        config_type: ConfigType::Long,
        doc: "size retention per partition",
    },
    TopicConfigDef {
        name: "retention.ms",
        synonyms: &[
            ("log.retention.ms", 1),
            ("log.retention.minutes", 60_000),
            ("log.retention.hours", HOUR),
        ],
        default: "604800000",
        config_type: ConfigType::Long,
        doc: "time retention",
    },
    TopicConfigDef {
        name: "segment.bytes",
        synonyms: &[("log.segment.bytes", 1)],
        default: "1073741824",
        config_type: ConfigType::Int,
        doc: "segment file size",
    },
    TopicConfigDef {
        name: "segment.index.bytes",
        synonyms: &[("log.index.size.max.bytes", 1)],
        default: "10485760",
        config_type: ConfigType::Int,
        doc: "offset index size",
    },
    TopicConfigDef {
        name: "segment.jitter.ms",
        synonyms: &[("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", HOUR)],
        default: "0",
        config_type: ConfigType::Long,
        doc: "segment roll jitter",
    },
    TopicConfigDef {
        name: "segment.ms",
        synonyms: &[("log.roll.ms", 1), ("log.roll.hours", HOUR)],
        default: "604800000",
        config_type: ConfigType::Long,
        doc: "segment roll time",
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        synonyms: &[("unclean.leader.election.enable", 1)],
        default: "false",
        config_type: ConfigType::Boolean,
        doc: "unclean leader election",
    },
];

/// The broker-level settings topic configs default to, most specific first (KIP-226): this
/// broker's dynamic configs, the cluster-wide dynamic defaults, then `server.properties`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerConfigLayers {
    /// Altered for this broker (resource name = node id), DYNAMIC_BROKER_CONFIG.
    pub dynamic_broker: BTreeMap<String, String>,
    /// Altered for the cluster (empty resource name), DYNAMIC_DEFAULT_BROKER_CONFIG.
    pub dynamic_default: BTreeMap<String, String>,
    /// `server.properties`, STATIC_BROKER_CONFIG.
    pub static_broker: BTreeMap<String, String>,
}

impl BrokerConfigLayers {
    /// Only static properties.
    pub fn from_static(properties: BTreeMap<String, String>) -> Self {
        Self {
            static_broker: properties,
            ..Self::default()
        }
    }

    /// The layers with their sources, most specific first.
    pub fn layers(&self) -> [(ConfigSource, &BTreeMap<String, String>); 3] {
        [
            (ConfigSource::DynamicBroker, &self.dynamic_broker),
            (ConfigSource::DynamicDefaultBroker, &self.dynamic_default),
            (ConfigSource::StaticBroker, &self.static_broker),
        ]
    }

    /// The effective value of a broker key, if any layer sets it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.layers()
            .into_iter()
            .find_map(|(_, layer)| layer.get(key))
            .map(String::as_str)
    }
}

/// Whether `key` is a broker key that sets a topic config default.
pub fn is_broker_synonym(key: &str) -> bool {
    TOPIC_CONFIGS
        .iter()
        .any(|d| d.synonyms.iter().any(|(s, _)| *s == key))
}

/// Looks a topic config up by name.
pub fn definition(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Why a topic config was refused (INVALID_CONFIG).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum TopicConfigError {
    /// Not a topic config of Kafka's.
    #[error("Unknown topic config name: {0}")]
    Unknown(String),
    /// The value does not parse or is out of range.
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// One resolved value with where it came from, and the values it shadows (synonyms).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    /// The effective value.
    pub value: String,
    /// Where it came from.
    pub source: ConfigSource,
    /// (key, value, source) of each level that sets it, most specific first (KIP-226).
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

/// The resolved configs of one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfigs {
    /// Every topic config, by name.
    pub values: BTreeMap<&'static str, ResolvedConfig>,
}

fn check_value(def: &TopicConfigDef, value: &str) -> Result<(), String> {
    let v = value.trim();
    let type_check: Result<(), &str> = match def.config_type {
        ConfigType::Int | ConfigType::Short => v
            .parse::<i32>()
            .map(|_| ())
            .map_err(|_| "not a 32-bit integer"),
        ConfigType::Long => v
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| "not a 64-bit integer"),
        ConfigType::Double => v.parse::<f64>().map(|_| ()).map_err(|_| "not a number"),
        ConfigType::Boolean => matches!(v.to_ascii_lowercase().as_str(), "true" | "false")
            .then_some(())
            .ok_or("expected true or false"),
        ConfigType::String | ConfigType::List => Ok(()),
    };
    type_check.map_err(str::to_string)?;
    let number = v.parse::<i64>().ok();
    let at_least = |min: i64| match number {
        Some(n) if n < min => Err(format!("must be at least {min}")),
        _ => Ok(()),
    };
    match def.name {
        "segment.bytes" => at_least(14),
        "segment.index.bytes" => at_least(8),
        "max.message.bytes"
        | "index.interval.bytes"
        | "min.compaction.lag.ms"
        | "delete.retention.ms"
        | "segment.jitter.ms"
        | "file.delete.delay.ms" => at_least(0),
        "segment.ms"
        | "flush.messages"
        | "flush.ms"
        | "max.compaction.lag.ms"
        | "min.insync.replicas" => at_least(1),
        "retention.ms" | "retention.bytes" => at_least(-1),
        "min.cleanable.dirty.ratio" => match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
            _ => Err("must be between 0 and 1".into()),
        },
        "message.timestamp.type" => match v {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => Err("expected CreateTime or LogAppendTime".into()),
        },
        "cleanup.policy" => v
            .split(',')
            .map(str::trim)
            .all(|p| matches!(p, "delete" | "compact"))
            .then_some(())
            .ok_or_else(|| "expected delete, compact or both".into()),
        "compression.type" => matches!(
            v,
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
        )
        .then_some(())
        .ok_or_else(|| "expected producer, uncompressed, gzip, snappy, lz4 or zstd".into()),
        _ => Ok(()),
    }
}

impl TopicConfigs {
    /// Resolves every topic config from `overrides` (topic level), then the broker's layers,
    /// then Kafka's defaults, checking each value.
    ///
    /// Errors: `Unknown` for an override that is no topic config, `Invalid` for a bad value.
    pub fn resolve(
        broker: &BrokerConfigLayers,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, TopicConfigError> {
        for (key, value) in overrides {
            let def = definition(key).ok_or_else(|| TopicConfigError::Unknown(key.clone()))?;
            check_value(def, value).map_err(|reason| TopicConfigError::Invalid {
                key: key.clone(),
                value: value.clone(),
                reason,
            })?;
        }
        let mut values = BTreeMap::new();
        for def in TOPIC_CONFIGS {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(def.name) {
                synonyms.push((def.name.to_string(), v.clone(), ConfigSource::Topic));
            }
            for ((key, factor), (source, properties)) in broker
                .layers()
                .into_iter()
                .flat_map(|layer| def.synonyms.iter().map(move |synonym| (synonym, layer)))
            {
                if let Some(v) = properties.get(*key) {
                    let v = v.trim();
                    let scaled = if *factor == 1 {
                        v.to_string()
                    } else {
                        v.parse::<i64>()
                            .map_err(|_| TopicConfigError::Invalid {
                                key: key.to_string(),
                                value: v.to_string(),
                                reason: "not a number".into(),
                            })?
                            .saturating_mul(*factor)
                            .to_string()
                    };
                    check_value(def, &scaled).map_err(|reason| TopicConfigError::Invalid {
                        key: key.to_string(),
                        value: v.to_string(),
                        reason,
                    })?;
                    synonyms.push((key.to_string(), scaled, source));
                }
            }
            synonyms.push((
                def.synonyms.first().map_or(def.name, |s| s.0).to_string(),
                def.default.to_string(),
                ConfigSource::Default,
            ));
            // The default entry pushed last guarantees a first element.
            let (value, source) = synonyms.first().map_or(
                (def.default.to_string(), ConfigSource::Default),
                |(_, v, s)| (v.clone(), *s),
            );
            values.insert(
                def.name,
                ResolvedConfig {
                    value,
                    source,
                    synonyms,
                },
            );
        }
        Ok(Self { values })
    }

    /// The effective value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|r| r.value.as_str())
    }

    fn number(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(i64::MAX)
    }

    /// The storage settings these configs imply.
    pub fn log_config(&self) -> LogConfig {
        let ms = |name: &str| Duration::from_millis(self.number(name).max(0) as u64);
        let flush = self.number("flush.messages");
        // KIP-937: the deprecated difference bound applies where the new pair is unset.
        let difference = self.number("message.timestamp.difference.max.ms");
        let bound = |name: &str| match self.number(name) {
            i64::MAX => Duration::from_millis(difference.max(0) as u64),
            n => Duration::from_millis(n.max(0) as u64),
        };
        let policy = self.get("cleanup.policy").unwrap_or("delete");
        let has_policy = |p: &str| policy.split(',').any(|x| x.trim() == p);
        let optional = |name: &str| {
            let n = self.number(name);
            (n >= 0).then_some(n)
        };
        LogConfig {
            segment_bytes: self.number("segment.bytes").clamp(14, i64::from(i32::MAX)) as usize,
            segment_ms: ms("segment.ms"),
            segment_index_bytes: self
                .number("segment.index.bytes")
                .clamp(8, i64::from(i32::MAX)) as usize,
            index_interval_bytes: self
                .number("index.interval.bytes")
                .clamp(0, i64::from(i32::MAX)) as usize,
            max_message_bytes: self
                .number("max.message.bytes")
                .clamp(0, i64::from(i32::MAX)) as usize,
            flush_messages: (flush > 0 && flush < i64::MAX).then_some(flush as u64),
            timestamp_type: if self.get("message.timestamp.type") == Some("LogAppendTime") {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            timestamp_before_max: bound("message.timestamp.before.max.ms"),
            timestamp_after_max: bound("message.timestamp.after.max.ms"),
            retention: optional("retention.ms").map(|n| Duration::from_millis(n as u64)),
            retention_bytes: optional("retention.bytes").map(|n| n as u64),
            cleanup_delete: has_policy("delete"),
            cleanup_compact: has_policy("compact"),
            min_cleanable_dirty_ratio: self
                .get("min.cleanable.dirty.ratio")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.5),
            min_compaction_lag: ms("min.compaction.lag.ms"),
            max_compaction_lag: ms("max.compaction.lag.ms"),
            delete_retention: ms("delete.retention.ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_beats_broker_beats_default() -> Result<(), TopicConfigError> {
        let broker = BrokerConfigLayers::from_static(
            [("log.retention.hours".to_string(), "1".to_string())].into(),
        );
        let topic: BTreeMap<_, _> = [("segment.bytes".to_string(), "1000".to_string())].into();
        let configs = TopicConfigs::resolve(&broker, &topic)?;
        assert_eq!(configs.get("retention.ms"), Some("3600000"));
        assert_eq!(
            configs.values["retention.ms"].source,
            ConfigSource::StaticBroker
        );
        assert_eq!(configs.get("segment.bytes"), Some("1000"));
        assert_eq!(configs.values["segment.bytes"].source, ConfigSource::Topic);
        assert_eq!(configs.values["segment.bytes"].synonyms.len(), 2);
        assert_eq!(configs.get("cleanup.policy"), Some("delete"));
        assert_eq!(configs.log_config().segment_bytes, 1000);
        Ok(())
    }

    #[test]
    fn dynamic_layers_beat_static_and_policies_map_to_the_log() -> Result<(), TopicConfigError> {
        let mut broker = BrokerConfigLayers::from_static(
            [("log.retention.ms".to_string(), "1000".to_string())].into(),
        );
        broker
            .dynamic_default
            .insert("log.retention.ms".into(), "2000".into());
        broker
            .dynamic_default
            .insert("log.cleanup.policy".into(), "compact,delete".into());
        let configs = TopicConfigs::resolve(&broker, &BTreeMap::new())?;
        let retention = &configs.values["retention.ms"];
        assert_eq!(retention.value, "2000");
        assert_eq!(retention.source, ConfigSource::DynamicDefaultBroker);
        assert_eq!(retention.synonyms.len(), 3);
        let log = configs.log_config();
        assert!(log.cleanup_compact && log.cleanup_delete);
        assert_eq!(log.retention, Some(Duration::from_millis(2000)));
        assert_eq!(log.retention_bytes, None);
        let topic: BTreeMap<_, _> = [
            (
                "message.timestamp.difference.max.ms".to_string(),
                "5000".to_string(),
            ),
            ("retention.ms".to_string(), "-1".to_string()),
        ]
        .into();
        let log = TopicConfigs::resolve(&broker, &topic)?.log_config();
        assert_eq!(log.timestamp_before_max, Duration::from_millis(5000));
        assert_eq!(log.timestamp_after_max, Duration::from_millis(5000));
        assert_eq!(log.retention, None);
        Ok(())
    }

    #[test]
    fn unknown_and_invalid_are_refused() {
        let none = BrokerConfigLayers::default();
        let unknown: BTreeMap<_, _> = [("no.such".to_string(), "1".to_string())].into();
        assert_eq!(
            TopicConfigs::resolve(&none, &unknown),
            Err(TopicConfigError::Unknown("no.such".into()))
        );
        let bad: BTreeMap<_, _> =
            [("message.timestamp.type".to_string(), "Now".to_string())].into();
        assert!(matches!(
            TopicConfigs::resolve(&none, &bad),
            Err(TopicConfigError::Invalid { .. })
        ));
    }
}
