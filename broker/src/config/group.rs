//! The group coordinator's settings: `group.*` and `offsets.topic.*`.
//!
//! References: Kafka documentation section 3.1 "Broker Configs"; KIP-134 (initial rebalance
//! delay); KIP-848 (`group.consumer.*`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{duration_or, number_or, ConfigError};

/// The server-side assignors of KIP-848 groups this broker runs, by short name.
pub const KNOWN_ASSIGNORS: &[&str] = &["uniform", "range"];

/// The short name of an assignor given by class name (`...UniformAssignor` -> `uniform`).
pub fn assignor_short_name(name: &str) -> &str {
    match name.rsplit('.').next().unwrap_or(name) {
        "UniformAssignor" => "uniform",
        "RangeAssignor" => "range",
        _ => name,
    }
}

/// The group coordinator's settings: Apache Kafka's broker keys and defaults, except
/// `group.initial.rebalance.delay.ms`, 0 here (Kafka: 3000) so that tests do not wait.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members before
    /// its first rebalance completes (KIP-134). Default 0 (Kafka: 3 s).
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`. Default 6 s.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`. Default 30 min.
    pub max_session_timeout: Duration,
    /// `group.max.size`: members per classic group. Default unlimited.
    pub max_size: usize,
    /// `offsets.topic.num.partitions`. Default 50.
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.segment.bytes`. Default 104857600.
    pub offsets_topic_segment_bytes: i64,
    /// `offset.metadata.max.bytes`: longest commit metadata accepted. Default 4096.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms` (KIP-848). Default 45 s.
    pub consumer_session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848). Default 5 s.
    pub consumer_heartbeat_interval: Duration,
    /// `group.consumer.max.size`: members per consumer group. Default unlimited.
    pub consumer_max_size: usize,
    /// `group.consumer.assignors`: server-side assignors by name, the first the default.
    /// Default `uniform,range`.
    pub consumer_assignors: Vec<String>,
    /// `offsets.retention.minutes`: how long committed offsets outlive their group's last
    /// member, or their commit for groups that only commit (KIP-211). Default 7 days.
    pub offsets_retention: Duration,
    /// `offsets.retention.check.interval.ms`: how often offsets are checked for expiry.
    /// Default 10 min.
    pub offsets_retention_check_interval: Duration,
}

impl GroupConfig {
    /// Reads the group keys of `properties`. Errors name the key.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let number = |key: &str, default: i64, min: i64| number_or(properties, key, default, min);
        let ms = |key: &str, default: i64, min: i64| duration_or(properties, key, default, min);
        let assignors: Vec<String> = properties
            .get("group.consumer.assignors")
            .map(|v| {
                v.split(',')
                    .map(|s| assignor_short_name(s.trim()).to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec!["uniform".into(), "range".into()]);
        if let Some(unknown) = assignors
            .iter()
            .find(|a| !KNOWN_ASSIGNORS.contains(&a.as_str()))
        {
            return Err(ConfigError::Invalid {
                key: "group.consumer.assignors".into(),
                value: unknown.clone(),
                reason: "known assignors are uniform and range".into(),
            });
        }
        Ok(Self {
            initial_rebalance_delay: ms("group.initial.rebalance.delay.ms", 0, 0)?,
            min_session_timeout: ms("group.min.session.timeout.ms", 6000, 0)?,
            max_session_timeout: ms("group.max.session.timeout.ms", 1_800_000, 0)?,
            max_size: number("group.max.size", i64::from(i32::MAX), 1)? as usize,
            offsets_topic_partitions: number("offsets.topic.num.partitions", 50, 1)?
                .min(i64::from(i32::MAX)) as i32,
            offsets_topic_segment_bytes: number("offsets.topic.segment.bytes", 104_857_600, 1)?,
            offset_metadata_max_bytes: number("offset.metadata.max.bytes", 4096, 0)? as usize,
            consumer_session_timeout: ms("group.consumer.session.timeout.ms", 45_000, 1)?,
            consumer_heartbeat_interval: ms("group.consumer.heartbeat.interval.ms", 5000, 1)?,
            consumer_max_size: number("group.consumer.max.size", i64::from(i32::MAX), 1)? as usize,
            consumer_assignors: assignors,
            offsets_retention: Duration::from_secs(
                (number("offsets.retention.minutes", 10_080, 1)?.min(i64::from(i32::MAX)) as u64)
                    * 60,
            ),
            offsets_retention_check_interval: ms(
                "offsets.retention.check.interval.ms",
                600_000,
                1,
            )?,
        })
    }
}
