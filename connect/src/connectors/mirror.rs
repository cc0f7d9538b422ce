//! MirrorSource (CONNECT.md g.5): Kafka to Kafka, a MirrorMaker 2 subset of Kafka 3.7's
//! `org.apache.kafka.connect.mirror` (KIP-382).
//!
//! [`MirrorSourceConnector`] copies records, topic configurations and (folded into the same
//! task, instead of a separate `MirrorCheckpointConnector`) translated consumer group offsets
//! from a source cluster into the worker's cluster:
//!
//! - **Records** are read by the task's own consumer on the source cluster
//!   (`source.cluster.bootstrap.servers` plus `source.cluster.`-prefixed client keys;
//!   `source.cluster.consumer.*` for the consumer only), assign-based (no group), starting after
//!   the offset stored for each source partition `{"cluster":alias,"topic":t,"partition":p}` /
//!   `{"offset":o}` (`o` = offset of the last record copied, as Kafka's `MirrorSourceTask`).
//!   Each record keeps its key, value (null kept), headers, timestamp and partition number.
//!   The task pins `key.converter`, `value.converter` and `header.converter` to
//!   `ByteArrayConverter` in its task configuration, so bytes pass through whatever converters
//!   the worker or connector name.
//! - **Topics**: `topics` / `topics.exclude` (alias `topics.blacklist`) regex lists, full
//!   matches as Kafka's `DefaultTopicFilter`; the remote name follows
//!   `replication.policy.class` (`DefaultReplicationPolicy`: `<source alias><separator><topic>`;
//!   `IdentityReplicationPolicy`: unchanged). Remote topics are created with the source's
//!   partition count and its non-default configs (`config.properties.exclude` filtered), and
//!   configs are synced again every `sync.topic.configs.interval.seconds`; new source topics,
//!   and partitions added to copied ones (the remote topic grows to the same count), are found
//!   every `refresh.topics.interval.seconds`. A remote topic that existed before this run gets
//!   all its configs set at the first sync, so changes made while no worker ran are not missed.
//! - **Offset syncs**: `mm2-offset-syncs.<other alias>.internal` (Kafka's name: the target
//!   alias when `offset-syncs.topic.location=source`, the default, else the source alias), one
//!   partition, compacted; key = STRING topic + INT32 partition, value = INT64 upstream offset +
//!   INT64 downstream offset (Kafka protocol encoding, big-endian); emitted as Kafka's
//!   `PartitionState` decides (first record, downstream drift `>= offset.lag.max`, a gap
//!   upstream, a truncated downstream) and, for the rest, on each offset commit.
//! - **Checkpoints** (`emit.checkpoints.enabled`, every `emit.checkpoints.interval.seconds`):
//!   committed offsets of the source groups matching `groups` / `groups.exclude` are translated
//!   with the offset syncs this task emitted (Kafka's `OffsetSyncStore.translateDownstream`:
//!   downstream offset of the latest sync at or before the group's offset, +1 unless equal) and
//!   written to `<source alias>.checkpoints.internal` on the target (key: STRING group, STRING
//!   remote topic, INT32 partition; value: INT16 version 0, INT64 upstream, INT64 downstream,
//!   STRING metadata). With `sync.group.offsets.enabled` the translated offsets are also
//!   committed to the same group on the target when they are ahead of what it has there.
//!   DIVERGE: translations use the syncs of the task's current run (a restarted task emits a
//!   fresh sync with its first record), not a re-read of the offset-syncs topic.
//!
//! Records always go to the worker's cluster (its producer); `target.cluster.bootstrap.servers`
//! (default: the worker's cluster) is used for admin work on the target (topics, configs,
//! checkpoints, group offsets) and must name the same cluster. Delivery is at-least-once:
//! after a crash the records since the last offset flush are copied again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use confluent_kafka::admin::config_entry::ConfigSource;
use confluent_kafka::admin::{
    Admin, AdminClient, AdminClientConfig, AlterConfigOp, ConfigEntry,
    ListConsumerGroupOffsetsSpec, NewPartitions, NewTopic, OpType,
};
use confluent_kafka::common::config::config_resource::Type as ResourceType;
use confluent_kafka::common::config::ConfigResource;
use confluent_kafka::common::header::{Header as _, Headers as _};
use confluent_kafka::common::serialization::ByteArrayDeserializer;
use confluent_kafka::common::TopicPartition as KafkaTopicPartition;
use confluent_kafka::consumer::{Consumer as _, ConsumerConfig, KafkaConsumer, OffsetAndMetadata};
use regex::Regex;

use crate::config_def::{with_prefix, ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::{
    Config, Connector, ConnectorType, PartitionOffset, RecordMetadata, SourceTask,
    SourceTaskContext,
};
use crate::data::{
    ConnectError, ConnectRecord, Headers, JsonMap, Schema, SchemaType, SourceRecord, Value,
};
use crate::plugins::{Factory, PluginDesc, PluginType};
use crate::runtime::client::{KafkaProducerClient, ProducerClient, RawRecord};
use crate::status::{Counter, TaskCounters};

/// Kafka's class name.
pub const SOURCE_CLASS: &str = "org.apache.kafka.connect.mirror.MirrorSourceConnector";
/// Kafka's default replication policy: remote topic `<source alias><separator><topic>`.
pub const DEFAULT_REPLICATION_POLICY: &str =
    "org.apache.kafka.connect.mirror.DefaultReplicationPolicy";
/// Kafka's identity replication policy: the remote topic keeps the source name.
pub const IDENTITY_REPLICATION_POLICY: &str =
    "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";
/// The ByteArrayConverter every task pins (raw pass-through).
const BYTE_ARRAY_CONVERTER: &str = crate::converters::byte_array::CLASS;
/// Source partition key: the source cluster alias.
pub const CLUSTER_FIELD: &str = "cluster";
/// Source partition key: the source topic.
pub const TOPIC_FIELD: &str = "topic";
/// Source partition key: the source partition.
pub const PARTITION_FIELD: &str = "partition";
/// Source offset key: offset of the last record copied.
pub const OFFSET_FIELD: &str = "offset";

const TASK_INDEX: &str = "task.index";
const TASK_COUNT: &str = "task.count";
const TOPICS_EXCLUDE_DEFAULT: &str = ".*[\\-\\.]internal, .*\\.replica, __.*";
const GROUPS_EXCLUDE_DEFAULT: &str = "console-consumer-.*, connect-.*, __.*";
const CONFIG_EXCLUDE_DEFAULT: &str = "follower\\.replication\\.throttled\\.replicas, \
     leader\\.replication\\.throttled\\.replicas, message\\.timestamp\\.difference\\.max\\.ms, \
     message\\.timestamp\\.type, unclean\\.leader\\.election\\.enable, min\\.insync\\.replicas";
/// Syncs kept per partition for checkpoint translation (oldest dropped first).
const MAX_SYNCS_PER_PARTITION: usize = 256;
/// Timeout of one admin call, ms.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The MirrorSource connector.
pub fn plugins() -> Vec<PluginDesc> {
    vec![PluginDesc {
        class: SOURCE_CLASS,
        plugin_type: PluginType::Source,
        config_def: source_config_def,
        factory: Factory::Connector(|| Box::new(MirrorSourceConnector::default())),
    }]
}

fn key(name: &str, config_type: ConfigType, default: Default, doc: &str) -> ConfigKey {
    ConfigKey::new(name, config_type, default, Importance::Medium, doc)
}

fn value(text: &str) -> Default {
    Default::Value(text.to_string())
}

/// MirrorSourceConnector's keys (CONNECT.md g.5 table, plus the checkpoint keys of Kafka's
/// `MirrorCheckpointConnector` since this task also translates group offsets).
pub fn source_config_def() -> ConfigDef {
    use ConfigType::{Boolean, Int, List, Long, String as Str};
    [
        key("source.cluster.alias", Str, value("source"), "Alias of the source cluster."),
        key("target.cluster.alias", Str, value("target"), "Alias of the target cluster."),
        key("source.cluster.bootstrap.servers", Str, Default::Required, "Bootstrap servers of the source cluster; other source client keys take the prefix 'source.cluster.'."),
        key("target.cluster.bootstrap.servers", Str, Default::Null, "Bootstrap servers of the target cluster for admin work; default the worker's cluster, where records always go."),
        key("topics", List, value(".*"), "Topics to replicate: comma list of names or regexes."),
        key("topics.exclude", List, value(TOPICS_EXCLUDE_DEFAULT), "Topics not to replicate: comma list of names or regexes."),
        key("topics.blacklist", List, Default::Null, "Deprecated alias of topics.exclude."),
        key("replication.policy.class", Str, value(DEFAULT_REPLICATION_POLICY), "DefaultReplicationPolicy (remote topic '<alias><separator><topic>') or IdentityReplicationPolicy (same name)."),
        key("replication.policy.separator", Str, value("."), "Separator of DefaultReplicationPolicy."),
        key("refresh.topics.enabled", Boolean, value("true"), "Look for new source topics periodically."),
        key("refresh.topics.interval.seconds", Long, value("600"), "Period of the topic refresh, seconds."),
        key("sync.topic.configs.enabled", Boolean, value("true"), "Copy topic configs to the remote topics."),
        key("sync.topic.configs.interval.seconds", Long, value("600"), "Period of the topic config sync, seconds."),
        key("config.properties.exclude", List, value(CONFIG_EXCLUDE_DEFAULT), "Topic config names or regexes not copied."),
        key("replication.factor", Int, value("2"), "Replication factor of remote topics (clamped to the target's broker count)."),
        key("offset-syncs.topic.location", Str, value("source"), "Cluster holding the offset-syncs topic: 'source' or 'target'."),
        key("offset-syncs.topic.replication.factor", Int, value("3"), "Replication factor of the offset-syncs topic (clamped to the broker count)."),
        key("offset.lag.max", Long, value("100"), "Emit an offset sync when the downstream offset drifted this many records from the last sync."),
        key("consumer.poll.timeout.ms", Long, value("1000"), "Poll timeout of the source consumer, ms."),
        key("emit.checkpoints.enabled", Boolean, value("true"), "Translate source consumer group offsets into '<source alias>.checkpoints.internal' on the target."),
        key("emit.checkpoints.interval.seconds", Long, value("60"), "Period of checkpoints, seconds."),
        key("groups", List, value(".*"), "Consumer groups to checkpoint: comma list of names or regexes."),
        key("groups.exclude", List, value(GROUPS_EXCLUDE_DEFAULT), "Consumer groups not to checkpoint."),
        key("checkpoints.topic.replication.factor", Int, value("3"), "Replication factor of the checkpoints topic (clamped to the broker count)."),
        key("sync.group.offsets.enabled", Boolean, value("false"), "Also commit translated offsets to the same group on the target."),
    ]
    .into_iter()
    .fold(ConfigDef::new(), ConfigDef::define)
}

/// Kafka's `MirrorUtils.compilePatternList`: a comma list of regexes, any of which must match
/// the whole name.
fn pattern_list(items: &[String]) -> Result<Option<Regex>, String> {
    let items: Vec<&str> = items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{})$", items.join("|")))
        .map(Some)
        .map_err(|error| error.to_string())
}

/// How a source topic is named on the target (Kafka's `ReplicationPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationPolicy {
    /// `<source alias><separator><topic>`.
    Default {
        /// Separator, `.` by default.
        separator: String,
    },
    /// The source name unchanged.
    Identity,
}

impl ReplicationPolicy {
    /// The policy named by `class` (full or simple class name).
    pub fn parse(class: &str, separator: &str) -> Result<ReplicationPolicy, String> {
        let simple = class.trim().rsplit('.').next().unwrap_or_default();
        match simple {
            "DefaultReplicationPolicy" => Ok(ReplicationPolicy::Default {
                separator: separator.to_string(),
            }),
            "IdentityReplicationPolicy" => Ok(ReplicationPolicy::Identity),
            _ => Err(format!(
                "Invalid value {class} for configuration replication.policy.class: \
                 only DefaultReplicationPolicy and IdentityReplicationPolicy are built in"
            )),
        }
    }

    /// The remote topic of `topic` from cluster `alias`.
    pub fn format_remote_topic(&self, alias: &str, topic: &str) -> String {
        match self {
            ReplicationPolicy::Default { separator } => format!("{alias}{separator}{topic}"),
            ReplicationPolicy::Identity => topic.to_string(),
        }
    }

    /// True when `topic` is itself a copy from cluster `alias` (replicating it back would
    /// loop): Kafka's cycle check for the default policy.
    fn is_from(&self, alias: &str, topic: &str) -> bool {
        match self {
            ReplicationPolicy::Default { separator } => topic
                .strip_prefix(alias)
                .is_some_and(|rest| rest.starts_with(separator.as_str())),
            ReplicationPolicy::Identity => false,
        }
    }
}

/// `mm2-offset-syncs.<alias>.internal` (Kafka's `DefaultReplicationPolicy.offsetSyncsTopic`).
pub fn offset_syncs_topic(alias: &str) -> String {
    format!("mm2-offset-syncs.{alias}.internal")
}

/// `<alias>.checkpoints.internal` (Kafka's `DefaultReplicationPolicy.checkpointsTopic`).
pub fn checkpoints_topic(alias: &str) -> String {
    format!("{alias}.checkpoints.internal")
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as i16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// An offset sync record's key: Kafka-protocol STRING topic (INT16 length + UTF-8) + INT32
/// partition.
pub fn offset_sync_key(topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + topic.len());
    put_string(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// An offset sync record's value: INT64 upstream offset + INT64 downstream offset.
pub fn offset_sync_value(upstream: i64, downstream: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&upstream.to_be_bytes());
    out.extend_from_slice(&downstream.to_be_bytes());
    out
}

/// A checkpoint record's key: STRING group + STRING topic + INT32 partition.
pub fn checkpoint_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + group.len() + topic.len());
    put_string(&mut out, group);
    put_string(&mut out, topic);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// A checkpoint record's value: INT16 version 0 + INT64 upstream + INT64 downstream + STRING
/// metadata.
pub fn checkpoint_value(upstream: i64, downstream: i64, metadata: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + metadata.len());
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&upstream.to_be_bytes());
    out.extend_from_slice(&downstream.to_be_bytes());
    put_string(&mut out, metadata);
    out
}

/// Kafka's `MirrorSourceTask.PartitionState`: decides when an offset sync is due.
#[derive(Debug, Clone, Copy)]
struct PartitionState {
    previous_upstream: i64,
    previous_downstream: i64,
    last_sync_downstream: i64,
}

impl PartitionState {
    fn new() -> PartitionState {
        PartitionState {
            previous_upstream: -1,
            previous_downstream: -1,
            last_sync_downstream: -1,
        }
    }

    /// True when a sync must be emitted now: none yet this run, the translation would be
    /// `max_lag` or more behind, a skipped upstream offset, or a truncated downstream topic.
    fn update(&mut self, upstream: i64, downstream: i64, max_lag: i64) -> bool {
        let first = self.last_sync_downstream == -1;
        let stale = downstream - (self.last_sync_downstream + 1) >= max_lag;
        let skipped = upstream - self.previous_upstream != 1;
        let truncated = downstream < self.previous_downstream;
        let due = first || stale || skipped || truncated;
        if due {
            self.last_sync_downstream = downstream;
        }
        self.previous_upstream = upstream;
        self.previous_downstream = downstream;
        due
    }
}

/// Kafka's `OffsetSyncStore.translateDownstream` over `syncs` (upstream → downstream): the
/// downstream offset of the latest sync at or before `upstream`, +1 when the group is past
/// it; None when no sync is that old.
pub fn translate_downstream(syncs: &BTreeMap<i64, i64>, upstream: i64) -> Option<i64> {
    let (&sync_upstream, &sync_downstream) = syncs.range(..=upstream).next_back()?;
    Some(sync_downstream + i64::from(upstream != sync_upstream))
}

/// Copies topics from another Kafka cluster (Kafka's `MirrorSourceConnector`).
#[derive(Debug, Default)]
pub struct MirrorSourceConnector {
    config: Config,
}

/// Checks what the config def cannot: the regex lists, the policy, the location.
fn validate_config(config: &Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let parsed = match source_config_def().parse(config) {
        Ok(parsed) => parsed,
        Err(error) => return vec![("source.cluster.bootstrap.servers".into(), error)],
    };
    for name in [
        "topics",
        "topics.exclude",
        "topics.blacklist",
        "groups",
        "groups.exclude",
        "config.properties.exclude",
    ] {
        if let Err(error) = pattern_list(parsed.list(name)) {
            errors.push((
                name.to_string(),
                format!("Invalid regex in {name}: {error}"),
            ));
        }
    }
    if let Err(error) = ReplicationPolicy::parse(
        parsed
            .string("replication.policy.class")
            .unwrap_or_default(),
        parsed.string("replication.policy.separator").unwrap_or("."),
    ) {
        errors.push(("replication.policy.class".into(), error));
    }
    let location = parsed
        .string("offset-syncs.topic.location")
        .unwrap_or("source");
    if location != "source" && location != "target" {
        errors.push((
            "offset-syncs.topic.location".into(),
            format!("Invalid value {location} for configuration offset-syncs.topic.location: must be 'source' or 'target'"),
        ));
    }
    errors
}

#[async_trait]
impl Connector for MirrorSourceConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Source
    }

    fn config_def(&self) -> ConfigDef {
        source_config_def()
    }

    fn validate(&self, config: &Config) -> Vec<(String, String)> {
        validate_config(config)
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        if let Some((key, message)) = validate_config(config).into_iter().next() {
            return Err(ConnectError::config(format!("{key}: {message}")));
        }
        self.config = config.clone();
        Ok(())
    }

    /// `max_tasks` tasks; task `i` of `n` copies the source partitions `(t, p)` with
    /// `(fnv1a(t) + p) mod n == i`, a split that needs no listing and stays stable when
    /// topics appear. Every task config pins ByteArrayConverter for key, value and headers.
    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        let count = max_tasks.max(1);
        (0..count)
            .map(|index| {
                let mut config = self.config.clone();
                config.retain(|key, _| {
                    !key.starts_with("key.converter")
                        && !key.starts_with("value.converter")
                        && !key.starts_with("header.converter")
                });
                for converter in ["key.converter", "value.converter", "header.converter"] {
                    config.insert(converter.to_string(), BYTE_ARRAY_CONVERTER.to_string());
                }
                config.insert(TASK_INDEX.to_string(), index.to_string());
                config.insert(TASK_COUNT.to_string(), count.to_string());
                config
            })
            .collect()
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(MirrorSourceTask::default()))
    }

    fn alter_offsets(
        &self,
        _config: &Config,
        offsets: &[PartitionOffset],
    ) -> Result<(), ConnectError> {
        for entry in offsets {
            for field in [CLUSTER_FIELD, TOPIC_FIELD, PARTITION_FIELD] {
                if !entry.partition.contains_key(field) {
                    return Err(ConnectError::connect(format!(
                        "Partition objects should contain the key '{field}'"
                    )));
                }
            }
            if let Some(offset) = &entry.offset {
                if !offset.get(OFFSET_FIELD).is_some_and(|o| o.is_i64()) {
                    return Err(ConnectError::connect(
                        "Offset objects should either be null or contain the key 'offset' with a Long value",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The client config of one cluster for one role: `<prefix>*` without the alias and the
/// role sub-prefixes, then `<prefix><role>.*`.
fn client_config(config: &Config, prefix: &str, role: &str, bootstrap: &str) -> Config {
    let mut out: Config = with_prefix(config, prefix)
        .into_iter()
        .filter(|(key, _)| {
            key != "alias"
                && !key.starts_with("consumer.")
                && !key.starts_with("producer.")
                && !key.starts_with("admin.")
        })
        .collect();
    out.insert("bootstrap.servers".into(), bootstrap.to_string());
    out.extend(with_prefix(config, &format!("{prefix}{role}.")));
    out
}

fn admin_client(config: &Config) -> Result<Box<dyn Admin>, ConnectError> {
    let map: HashMap<String, String> = config.clone().into_iter().collect();
    let config = AdminClientConfig::new(&map)
        .map_err(|e| ConnectError::config(format!("Invalid admin configuration: {e}")))?;
    AdminClient::create(config)
        .map_err(|e| ConnectError::connect(format!("Failed to create admin client: {e}")))
}

fn kafka_error(context: impl std::fmt::Display, error: impl std::fmt::Display) -> ConnectError {
    ConnectError::retriable(format!("{context}: {error}"))
}

async fn timed<T>(
    context: &str,
    future: impl std::future::Future<Output = Result<T, confluent_kafka::common::Error>>,
) -> Result<T, ConnectError> {
    match tokio::time::timeout(ADMIN_TIMEOUT, future).await {
        Ok(result) => result.map_err(|e| kafka_error(context, e)),
        Err(_) => Err(kafka_error(context, "timed out")),
    }
}

/// One source topic being copied.
#[derive(Debug)]
struct Mirrored {
    remote: String,
    /// By partition: offset state for offset syncs.
    states: Vec<PartitionState>,
    /// By partition: the latest (upstream, downstream) not synced yet, sent at the next
    /// commit.
    delayed: Vec<Option<(i64, i64)>>,
    /// By partition: the source partition map of its records.
    source_partitions: Vec<JsonMap>,
}

/// The task of [`MirrorSourceConnector`] (Kafka's `MirrorSourceTask`, plus checkpoints).
#[derive(Default)]
pub struct MirrorSourceTask {
    inner: Option<Box<Running>>,
}

impl std::fmt::Debug for MirrorSourceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorSourceTask").finish_non_exhaustive()
    }
}

struct Settings {
    source_alias: String,
    target_alias: String,
    policy: ReplicationPolicy,
    topics: Option<Regex>,
    exclude: Option<Regex>,
    groups: Option<Regex>,
    groups_exclude: Option<Regex>,
    config_exclude: Option<Regex>,
    refresh: Option<Duration>,
    sync_configs: Option<Duration>,
    checkpoints: Option<Duration>,
    sync_group_offsets: bool,
    replication_factor: i16,
    internal_replication_factor: i16,
    checkpoints_replication_factor: i16,
    offset_lag_max: i64,
    poll_timeout: Duration,
    task_index: u64,
    task_count: u64,
    syncs_topic: String,
    checkpoints_topic: String,
}

struct Running {
    settings: Settings,
    counters: Arc<TaskCounters>,
    context: SourceTaskContext,
    consumer: KafkaConsumer<Vec<u8>, Vec<u8>>,
    source_admin: Box<dyn Admin>,
    target_admin: Box<dyn Admin>,
    /// Producer of offset syncs (on the offset-syncs location).
    sync_producer: KafkaProducerClient,
    /// Producer of checkpoints (target), when checkpoints are on.
    checkpoint_producer: Option<KafkaProducerClient>,
    mirrored: HashMap<String, Mirrored>,
    assigned: Vec<KafkaTopicPartition>,
    /// Offset syncs due now: (source topic, partition, upstream, downstream).
    pending_syncs: Vec<(String, i32, i64, i64)>,
    /// Syncs emitted this run, for translation: (source topic, partition) → upstream →
    /// downstream.
    syncs: HashMap<(String, i32), BTreeMap<i64, i64>>,
    /// Last checkpoint written per (group, source topic, partition): (upstream, downstream).
    last_checkpoints: HashMap<(String, String, i32), (i64, i64)>,
    next_refresh: Instant,
    next_config_sync: Instant,
    next_checkpoint: Instant,
    topic_configs: HashMap<String, BTreeMap<String, String>>,
    syncs_sent: u64,
    checkpoints_sent: u64,
}

fn seconds(
    parsed: &crate::config_def::ParsedConfig,
    enabled: &str,
    interval: &str,
) -> Option<Duration> {
    parsed
        .boolean(enabled)
        .then(|| Duration::from_secs(parsed.long(interval).unwrap_or(600).max(0) as u64))
}

fn settings(config: &Config) -> Result<Settings, ConnectError> {
    let parsed = source_config_def()
        .parse(config)
        .map_err(ConnectError::config)?;
    let regex = |name: &str| pattern_list(parsed.list(name)).map_err(ConnectError::config);
    let exclude =
        if config.contains_key("topics.exclude") || !config.contains_key("topics.blacklist") {
            regex("topics.exclude")?
        } else {
            regex("topics.blacklist")?
        };
    let source_alias = parsed
        .string("source.cluster.alias")
        .unwrap_or("source")
        .to_string();
    let target_alias = parsed
        .string("target.cluster.alias")
        .unwrap_or("target")
        .to_string();
    let location = parsed
        .string("offset-syncs.topic.location")
        .unwrap_or("source");
    let syncs_topic = offset_syncs_topic(if location == "target" {
        &source_alias
    } else {
        &target_alias
    });
    let number = |name: &str, default: u64| {
        config
            .get(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default)
    };
    Ok(Settings {
        policy: ReplicationPolicy::parse(
            parsed
                .string("replication.policy.class")
                .unwrap_or_default(),
            parsed.string("replication.policy.separator").unwrap_or("."),
        )
        .map_err(ConnectError::config)?,
        topics: regex("topics")?,
        exclude,
        groups: regex("groups")?,
        groups_exclude: regex("groups.exclude")?,
        config_exclude: regex("config.properties.exclude")?,
        refresh: seconds(
            &parsed,
            "refresh.topics.enabled",
            "refresh.topics.interval.seconds",
        ),
        sync_configs: seconds(
            &parsed,
            "sync.topic.configs.enabled",
            "sync.topic.configs.interval.seconds",
        ),
        checkpoints: seconds(
            &parsed,
            "emit.checkpoints.enabled",
            "emit.checkpoints.interval.seconds",
        ),
        sync_group_offsets: parsed.boolean("sync.group.offsets.enabled"),
        replication_factor: parsed
            .int("replication.factor")
            .unwrap_or(2)
            .clamp(1, 32767) as i16,
        internal_replication_factor: parsed
            .int("offset-syncs.topic.replication.factor")
            .unwrap_or(3)
            .clamp(1, 32767) as i16,
        checkpoints_replication_factor: parsed
            .int("checkpoints.topic.replication.factor")
            .unwrap_or(3)
            .clamp(1, 32767) as i16,
        offset_lag_max: parsed.long("offset.lag.max").unwrap_or(100),
        poll_timeout: Duration::from_millis(
            parsed
                .long("consumer.poll.timeout.ms")
                .unwrap_or(1000)
                .max(0) as u64,
        ),
        task_index: number(TASK_INDEX, 0),
        task_count: number(TASK_COUNT, 1).max(1),
        syncs_topic,
        checkpoints_topic: checkpoints_topic(&source_alias),
        source_alias,
        target_alias,
    })
}

fn bytes_schema() -> Arc<Schema> {
    static SCHEMA: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(SchemaType::Bytes).optional()))
        .clone()
}

impl Settings {
    /// Matches `topics`, not `topics.exclude`, and is not a copy from the target (a cycle).
    fn replicates(&self, topic: &str) -> bool {
        self.topics.as_ref().is_some_and(|r| r.is_match(topic))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(topic))
            && !self.policy.is_from(&self.target_alias, topic)
    }

    fn owns(&self, topic: &str, partition: i32) -> bool {
        (fnv1a(topic).wrapping_add(partition as u64)) % self.task_count == self.task_index
    }

    fn group_included(&self, group: &str) -> bool {
        self.groups.as_ref().is_some_and(|r| r.is_match(group))
            && !self
                .groups_exclude
                .as_ref()
                .is_some_and(|r| r.is_match(group))
    }
}

/// Creates `topic` on the cluster of `admin` with `partitions` (None = broker default) and
/// `configs`, clamping the replication factor to the broker count; Ok(false) if it exists.
async fn create_topic(
    admin: &dyn Admin,
    topic: &str,
    partitions: Option<i32>,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
) -> Result<bool, ConnectError> {
    let brokers = timed(
        "Failed to describe cluster",
        admin.describe_cluster().nodes().get(),
    )
    .await?
    .len()
    .max(1);
    let factor = replication_factor.min(brokers as i16).max(1);
    if factor < replication_factor {
        tracing::warn!(topic, "Replication factor {replication_factor} clamped to {factor}: the cluster has {brokers} broker(s)");
    }
    let new_topic =
        NewTopic::with_num_partitions_replication_factor(topic, partitions, Some(factor))
            .set_configs((!configs.is_empty()).then_some(configs));
    match admin.create_topics(&[new_topic]).all().get().await {
        Ok(()) => Ok(true),
        Err(error) if error.to_string().contains("already exists") => Ok(false),
        Err(error) => Err(kafka_error(
            format!("Failed to create topic {topic}"),
            error,
        )),
    }
}

impl Running {
    async fn start(config: &Config, context: SourceTaskContext) -> Result<Running, ConnectError> {
        let settings = settings(config)?;
        let source_bootstrap = config
            .get("source.cluster.bootstrap.servers")
            .cloned()
            .unwrap_or_default();
        let target_bootstrap = config
            .get("target.cluster.bootstrap.servers")
            .filter(|b| !b.trim().is_empty())
            .or_else(|| config.get(crate::runtime::WORKER_BOOTSTRAP_KEY))
            .cloned()
            .ok_or_else(|| {
                ConnectError::config(
                    "Missing target.cluster.bootstrap.servers and no worker cluster known",
                )
            })?;
        let mut consumer_config =
            client_config(config, "source.cluster.", "consumer", &source_bootstrap);
        consumer_config
            .entry("auto.offset.reset".into())
            .or_insert_with(|| "earliest".into());
        consumer_config.insert("enable.auto.commit".into(), "false".into());
        // The client supports only the KIP-848 protocol; an assign-only consumer joins no group.
        consumer_config.insert("group.protocol".into(), "consumer".into());
        consumer_config.remove("group.id");
        let map: HashMap<String, String> = consumer_config.into_iter().collect();
        let consumer = KafkaConsumer::new(
            ConsumerConfig::new(&map).map_err(|e| {
                ConnectError::config(format!("Invalid source consumer configuration: {e}"))
            })?,
            ByteArrayDeserializer::default(),
            ByteArrayDeserializer::default(),
        )
        .map_err(|e| ConnectError::connect(format!("Failed to construct source consumer: {e}")))?;
        let source_admin = admin_client(&client_config(
            config,
            "source.cluster.",
            "admin",
            &source_bootstrap,
        ))?;
        let target_admin = admin_client(&client_config(
            config,
            "target.cluster.",
            "admin",
            &target_bootstrap,
        ))?;
        let producer = |prefix: &str, bootstrap: &str| {
            let mut props = client_config(config, prefix, "producer", bootstrap);
            props.entry("acks".into()).or_insert_with(|| "all".into());
            props
                .entry("linger.ms".into())
                .or_insert_with(|| "0".into());
            KafkaProducerClient::new(&props)
        };
        let location_target = settings.syncs_topic == offset_syncs_topic(&settings.source_alias);
        let (sync_admin, sync_producer) = if location_target {
            (
                &target_admin,
                producer("target.cluster.", &target_bootstrap)?,
            )
        } else {
            (
                &source_admin,
                producer("source.cluster.", &source_bootstrap)?,
            )
        };
        let compacted = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
        create_topic(
            sync_admin.as_ref(),
            &settings.syncs_topic,
            Some(1),
            settings.internal_replication_factor,
            compacted.clone(),
        )
        .await?;
        let checkpoint_producer = match settings.checkpoints {
            Some(_) => {
                create_topic(
                    target_admin.as_ref(),
                    &settings.checkpoints_topic,
                    Some(1),
                    settings.checkpoints_replication_factor,
                    compacted,
                )
                .await?;
                Some(producer("target.cluster.", &target_bootstrap)?)
            }
            None => None,
        };
        let counters = context.counters.clone();
        counters.set_detail("offset_syncs_topic", settings.syncs_topic.clone().into());
        let now = Instant::now();
        Ok(Running {
            settings,
            counters,
            context,
            consumer,
            source_admin,
            target_admin,
            sync_producer,
            checkpoint_producer,
            mirrored: HashMap::new(),
            assigned: Vec::new(),
            pending_syncs: Vec::new(),
            syncs: HashMap::new(),
            last_checkpoints: HashMap::new(),
            next_refresh: now,
            next_config_sync: now,
            next_checkpoint: now,
            topic_configs: HashMap::new(),
            syncs_sent: 0,
            checkpoints_sent: 0,
        })
    }

    /// The non-default, not excluded configs of `topics` on the source cluster.
    async fn source_configs(
        &mut self,
        topics: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>, ConnectError> {
        source_configs(
            self.source_admin.as_ref(),
            self.settings.config_exclude.as_ref(),
            topics,
        )
        .await
    }
}

/// The non-default (`DYNAMIC_TOPIC_CONFIG`), not excluded configs of `topics`.
async fn source_configs(
    admin: &dyn Admin,
    exclude: Option<&Regex>,
    topics: &[String],
) -> Result<HashMap<String, BTreeMap<String, String>>, ConnectError> {
    {
        if topics.is_empty() {
            return Ok(HashMap::new());
        }
        let resources: Vec<ConfigResource> = topics
            .iter()
            .map(|topic| ConfigResource::new(ResourceType::Topic, topic.clone()))
            .collect();
        let described = timed(
            "Failed to describe source topic configs",
            admin.describe_configs(&resources).all().get(),
        )
        .await?;
        Ok(described
            .into_iter()
            .map(|(resource, config)| {
                let entries = config
                    .entries()
                    .filter(|entry| entry.source() == ConfigSource::DynamicTopicConfig)
                    .filter(|entry| !exclude.is_some_and(|r| r.is_match(entry.name())))
                    .filter_map(|entry| {
                        entry
                            .value()
                            .map(|v| (entry.name().to_string(), v.to_string()))
                    })
                    .collect();
                (resource.name().to_string(), entries)
            })
            .collect())
    }
}

impl Running {
    /// Finds source topics to copy, creates their remote topics, and assigns the consumer to
    /// this task's partitions (each new one seeked past its stored offset).
    async fn refresh_topics(&mut self) -> Result<(), ConnectError> {
        let listed = timed("Failed to list source topics", self.consumer.list_topics()).await?;
        let mut new_topics: Vec<(String, i32)> = listed
            .iter()
            .filter(|(topic, _)| !self.mirrored.contains_key(topic.as_str()))
            .filter(|(topic, _)| self.settings.replicates(topic))
            .map(|(topic, partitions)| (topic.clone(), partitions.len() as i32))
            .collect();
        new_topics.sort();
        let mut added = self.grow_partitions(&listed).await?;
        if new_topics.is_empty() && added.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = new_topics.iter().map(|(t, _)| t.clone()).collect();
        let configs = if names.is_empty() {
            HashMap::new()
        } else if self.settings.sync_configs.is_some() {
            self.source_configs(&names).await?
        } else {
            HashMap::new()
        };
        let mut found = Vec::with_capacity(new_topics.len());
        for (topic, partitions) in new_topics {
            let remote = self
                .settings
                .policy
                .format_remote_topic(&self.settings.source_alias, &topic);
            let mut topic_configs = configs.get(&topic).cloned().unwrap_or_default();
            if create_topic(
                self.target_admin.as_ref(),
                &remote,
                Some(partitions),
                self.settings.replication_factor,
                topic_configs.clone(),
            )
            .await?
            {
                tracing::info!(topic, remote, partitions, "Created remote topic");
            } else {
                // The remote topic was there (an earlier run): its configs may lag changes
                // made while no worker ran, so the next config sync sets them all.
                topic_configs.clear();
            }
            let source_partitions = (0..partitions)
                .map(|p| source_partition(&self.settings.source_alias, &topic, p))
                .collect();
            for partition in 0..partitions {
                if self.settings.owns(&topic, partition) {
                    added.push(KafkaTopicPartition::new(topic.as_str(), partition));
                }
            }
            found.push((
                topic,
                Mirrored {
                    remote,
                    states: vec![PartitionState::new(); partitions as usize],
                    delayed: vec![None; partitions as usize],
                    source_partitions,
                },
                topic_configs,
            ));
        }
        // Topics are registered only once they are assigned: a failure above leaves them
        // unregistered, so the next refresh tries them again.
        let register =
            |this: &mut Running, found: Vec<(String, Mirrored, BTreeMap<String, String>)>| {
                for (topic, mirrored, topic_configs) in found {
                    this.topic_configs.insert(topic.clone(), topic_configs);
                    this.mirrored.insert(topic, mirrored);
                }
            };
        if added.is_empty() {
            register(self, found);
            return Ok(());
        }
        // Remember where every assigned partition is, so a re-assign loses no position.
        let mut positions = Vec::with_capacity(self.assigned.len());
        for tp in &self.assigned {
            let position = timed("Failed to read position", self.consumer.position(tp)).await?;
            positions.push((tp.clone(), position));
        }
        let mut assignment = self.assigned.clone();
        assignment.extend(added.iter().cloned());
        timed("Failed to assign", self.consumer.assign(assignment.clone())).await?;
        self.assigned = assignment;
        register(self, found);
        for (tp, position) in positions {
            timed(
                "Failed to seek",
                self.consumer.seek_with_offset(tp, position),
            )
            .await?;
        }
        for tp in added {
            let stored = self.context.offsets.offset(&source_partition(
                &self.settings.source_alias,
                tp.topic(),
                tp.partition(),
            ));
            if let Some(offset) = stored
                .as_ref()
                .and_then(|o| o.get(OFFSET_FIELD))
                .and_then(|o| o.as_i64())
                .filter(|&o| o >= 0)
            {
                timed(
                    "Failed to seek",
                    self.consumer.seek_with_offset(tp, offset + 1),
                )
                .await?;
            }
        }
        self.counters
            .set_detail("partitions", (self.assigned.len() as u64).into());
        Ok(())
    }

    /// Source topics already copied that gained partitions (Kafka's
    /// `MirrorSourceConnector` does the same on refresh): their remote topics are grown to
    /// the same count, and the new partitions this task owns are returned to be assigned
    /// (from the beginning, or past a stored offset).
    async fn grow_partitions(
        &mut self,
        listed: &HashMap<String, Vec<confluent_kafka::common::PartitionInfo>>,
    ) -> Result<Vec<KafkaTopicPartition>, ConnectError> {
        let mut added = Vec::new();
        let mut grown: Vec<(&String, i32)> = listed
            .iter()
            .filter_map(|(topic, partitions)| {
                let known = self.mirrored.get(topic.as_str())?.states.len();
                (partitions.len() > known).then_some((topic, partitions.len() as i32))
            })
            .collect();
        grown.sort();
        for (topic, count) in grown {
            let Some(mirrored) = self.mirrored.get_mut(topic.as_str()) else {
                continue;
            };
            let request =
                HashMap::from([(mirrored.remote.clone(), NewPartitions::increase_to(count))]);
            let created = tokio::time::timeout(
                ADMIN_TIMEOUT,
                self.target_admin.create_partitions(&request).all().get(),
            )
            .await;
            match created {
                Ok(Ok(())) => {
                    tracing::info!(topic, remote = %mirrored.remote, count, "Grew remote topic");
                }
                // INVALID_PARTITIONS: the remote topic already has them (another task, or an
                // earlier run).
                Ok(Err(error)) if error.is_invalid_partitions_error() => {}
                Ok(Err(error)) => return Err(kafka_error("Failed to create partitions", error)),
                Err(_) => return Err(kafka_error("Failed to create partitions", "timed out")),
            }
            let known = mirrored.states.len() as i32;
            for partition in known..count {
                mirrored.states.push(PartitionState::new());
                mirrored.delayed.push(None);
                mirrored.source_partitions.push(source_partition(
                    &self.settings.source_alias,
                    topic,
                    partition,
                ));
                if self.settings.owns(topic, partition) {
                    added.push(KafkaTopicPartition::new(topic.as_str(), partition));
                }
            }
        }
        Ok(added)
    }

    /// Copies changed source topic configs to the remote topics.
    async fn sync_topic_configs(&mut self) -> Result<(), ConnectError> {
        let topics: Vec<String> = self.mirrored.keys().cloned().collect();
        let configs = self.source_configs(&topics).await?;
        let mut alter = HashMap::new();
        for (topic, entries) in configs {
            if self.topic_configs.get(&topic) == Some(&entries) || entries.is_empty() {
                continue;
            }
            let Some(mirrored) = self.mirrored.get(&topic) else {
                continue;
            };
            let ops = entries
                .iter()
                .map(|(name, value)| {
                    AlterConfigOp::new(
                        ConfigEntry::new(name.clone(), Some(value.clone())),
                        OpType::Set,
                    )
                })
                .collect::<Vec<_>>();
            alter.insert(
                ConfigResource::new(ResourceType::Topic, mirrored.remote.clone()),
                ops,
            );
            self.topic_configs.insert(topic, entries);
        }
        if alter.is_empty() {
            return Ok(());
        }
        timed(
            "Failed to alter remote topic configs",
            self.target_admin
                .incremental_alter_configs(&alter)
                .all()
                .get(),
        )
        .await
    }

    /// Sends every due offset sync (fire and forget; failures are logged).
    async fn fire_syncs(&mut self) {
        for (topic, partition, upstream, downstream) in std::mem::take(&mut self.pending_syncs) {
            let record = RawRecord {
                topic: self.settings.syncs_topic.clone(),
                partition: Some(0),
                offset: -1,
                timestamp: None,
                timestamp_type: crate::data::TimestampType::CreateTime,
                key: Some(offset_sync_key(&topic, partition)),
                value: Some(offset_sync_value(upstream, downstream)),
                headers: Vec::new(),
            };
            match self.sync_producer.send(record).await {
                Ok(ack) => {
                    tokio::spawn(async move {
                        if let Err(error) = ack.await {
                            tracing::error!(%error, "Failure sending offset sync.");
                        }
                    });
                    self.syncs_sent += 1;
                }
                Err(error) => tracing::error!(%error, "Failure sending offset sync."),
            }
            let syncs = self.syncs.entry((topic, partition)).or_default();
            syncs.insert(upstream, downstream);
            while syncs.len() > MAX_SYNCS_PER_PARTITION {
                syncs.pop_first();
            }
        }
        self.counters
            .set_detail("offset_syncs", self.syncs_sent.into());
    }

    /// Translates the committed offsets of the source groups for this task's partitions and
    /// writes checkpoints (and, if enabled, the target groups' offsets).
    async fn checkpoint(&mut self) -> Result<(), ConnectError> {
        let Some(producer) = &self.checkpoint_producer else {
            return Ok(());
        };
        let groups = timed(
            "Failed to list groups",
            self.source_admin.list_groups().all().get(),
        )
        .await?;
        let groups: Vec<String> = groups
            .iter()
            .map(|g| g.group_id().to_string())
            .filter(|g| self.settings.group_included(g))
            .collect();
        for group in groups {
            let specs = HashMap::from([(group.clone(), ListConsumerGroupOffsetsSpec::new())]);
            let offsets = timed(
                "Failed to list consumer group offsets",
                self.source_admin
                    .list_consumer_group_offsets_with_group_specs(&specs)
                    .all()
                    .get(),
            )
            .await?;
            let mut translated: HashMap<KafkaTopicPartition, i64> = HashMap::new();
            for (tp, offset) in offsets.get(&group).into_iter().flatten() {
                let Some(offset) = offset else { continue };
                let key = (tp.topic().to_string(), tp.partition());
                let Some(syncs) = self.syncs.get(&key) else {
                    continue;
                };
                let Some(mirrored) = self.mirrored.get(tp.topic()) else {
                    continue;
                };
                let upstream = offset.offset();
                let Some(downstream) = translate_downstream(syncs, upstream) else {
                    continue;
                };
                let last = (group.clone(), key.0.clone(), key.1);
                if self.last_checkpoints.get(&last) == Some(&(upstream, downstream)) {
                    continue;
                }
                let record = RawRecord {
                    topic: self.settings.checkpoints_topic.clone(),
                    partition: Some(0),
                    offset: -1,
                    timestamp: None,
                    timestamp_type: crate::data::TimestampType::CreateTime,
                    key: Some(checkpoint_key(&group, &mirrored.remote, tp.partition())),
                    value: Some(checkpoint_value(upstream, downstream, offset.metadata())),
                    headers: Vec::new(),
                };
                producer.send(record).await?.await?;
                self.checkpoints_sent += 1;
                self.last_checkpoints.insert(last, (upstream, downstream));
                translated.insert(
                    KafkaTopicPartition::new(mirrored.remote.as_str(), tp.partition()),
                    downstream,
                );
            }
            if self.settings.sync_group_offsets && !translated.is_empty() {
                sync_group(self.target_admin.as_ref(), &group, translated).await;
            }
        }
        self.counters
            .set_detail("checkpoints", self.checkpoints_sent.into());
        Ok(())
    }
}

/// Commits `translated` offsets to `group` on the target where they are ahead (Kafka's
/// `syncGroupOffset`); a group with active members refuses, which is logged.
async fn sync_group(admin: &dyn Admin, group: &str, translated: HashMap<KafkaTopicPartition, i64>) {
    {
        let specs = HashMap::from([(group.to_string(), ListConsumerGroupOffsetsSpec::new())]);
        let current = match timed(
            "Failed to list target group offsets",
            admin
                .list_consumer_group_offsets_with_group_specs(&specs)
                .all()
                .get(),
        )
        .await
        {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(group, error = %error.message, "Not syncing group offsets");
                return;
            }
        };
        let existing = current.get(group);
        let mut map = HashMap::new();
        for (tp, offset) in translated {
            let ahead = existing
                .and_then(|offsets| offsets.get(&tp))
                .and_then(|o| o.as_ref())
                .is_none_or(|o| o.offset() < offset);
            if ahead {
                if let Ok(offset) = OffsetAndMetadata::new(offset) {
                    map.insert(tp, offset);
                }
            }
        }
        if map.is_empty() {
            return;
        }
        if let Err(error) = timed(
            "Failed to sync group offsets",
            admin.alter_consumer_group_offsets(group, &map).all().get(),
        )
        .await
        {
            tracing::warn!(group, error = %error.message, "Unable to sync offsets for consumer group");
        }
    }
}

impl Running {
    fn to_source_record(
        &self,
        record: &confluent_kafka::consumer::ConsumerRecord<Vec<u8>, Vec<u8>>,
    ) -> Option<SourceRecord> {
        let mirrored = self.mirrored.get(record.topic())?;
        let partition = record.partition();
        let mut headers = Headers::default();
        for header in record.headers().iter() {
            headers.add(
                header.key(),
                Some(bytes_schema()),
                header
                    .value()
                    .map_or(Value::Null, |v| Value::Bytes(v.to_vec())),
            );
        }
        let mut offset = JsonMap::new();
        offset.insert(OFFSET_FIELD.into(), record.offset().into());
        Some(SourceRecord {
            record: ConnectRecord {
                topic: mirrored.remote.clone(),
                kafka_partition: Some(partition),
                key_schema: Some(bytes_schema()),
                key: record
                    .key()
                    .map_or(Value::Null, |k| Value::Bytes(k.clone())),
                value_schema: Some(bytes_schema()),
                value: record
                    .value()
                    .map_or(Value::Null, |v| Value::Bytes(v.clone())),
                timestamp: (record.timestamp() >= 0).then(|| record.timestamp()),
                headers,
                ..ConnectRecord::default()
            },
            source_partition: mirrored.source_partitions.get(partition as usize)?.clone(),
            source_offset: offset,
        })
    }
}

fn source_partition(alias: &str, topic: &str, partition: i32) -> JsonMap {
    let mut map = JsonMap::new();
    map.insert(CLUSTER_FIELD.into(), alias.into());
    map.insert(TOPIC_FIELD.into(), topic.into());
    map.insert(PARTITION_FIELD.into(), partition.into());
    map
}

#[async_trait]
impl SourceTask for MirrorSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SourceTaskContext,
    ) -> Result<(), ConnectError> {
        self.inner = Some(Box::new(Running::start(config, context).await?));
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        let Some(running) = self.inner.as_mut() else {
            return Ok(Vec::new());
        };
        let now = Instant::now();
        if now >= running.next_refresh {
            let first = running.mirrored.is_empty();
            let result = running.refresh_topics().await;
            running.next_refresh = now
                + match (&result, running.settings.refresh) {
                    // Nothing found yet, or a failure: look again soon.
                    (Err(_), _) => Duration::from_secs(5),
                    (Ok(()), _) if first && running.mirrored.is_empty() => Duration::from_secs(5),
                    (Ok(()), Some(interval)) => interval,
                    (Ok(()), None) => Duration::from_secs(365 * 86_400),
                };
            if let Err(error) = result {
                tracing::warn!(error = %error.message, "Topic refresh failed; retrying");
            }
        }
        if let Some(interval) = running.settings.sync_configs {
            if now >= running.next_config_sync && running.settings.task_index == 0 {
                running.next_config_sync = now + interval;
                if let Err(error) = running.sync_topic_configs().await {
                    tracing::warn!(error = %error.message, "Topic config sync failed");
                }
            }
        }
        if let Some(interval) = running.settings.checkpoints {
            if now >= running.next_checkpoint {
                running.next_checkpoint = now + interval;
                if let Err(error) = running.checkpoint().await {
                    tracing::warn!(error = %error.message, "Checkpoint failed");
                }
            }
        }
        if running.assigned.is_empty() {
            tokio::time::sleep(running.settings.poll_timeout.min(Duration::from_secs(1))).await;
            return Ok(Vec::new());
        }
        let records = running
            .consumer
            .poll(running.settings.poll_timeout)
            .await
            .map_err(|e| kafka_error("Failed to poll the source cluster", e))?;
        let mut out = Vec::with_capacity(records.count());
        for record in &records {
            if let Some(converted) = running.to_source_record(record) {
                out.push(converted);
            }
        }
        running.counters.add(Counter::Accepted, out.len() as u64);
        Ok(out)
    }

    async fn commit_record(&mut self, record: &SourceRecord, metadata: Option<&RecordMetadata>) {
        let (Some(running), Some(metadata)) = (self.inner.as_mut(), metadata) else {
            return;
        };
        running.counters.incr(Counter::Delivered);
        let (Some(topic), Some(upstream)) = (
            record
                .source_partition
                .get(TOPIC_FIELD)
                .and_then(|t| t.as_str()),
            record
                .source_offset
                .get(OFFSET_FIELD)
                .and_then(|o| o.as_i64()),
        ) else {
            return;
        };
        let partition = metadata.partition;
        let max_lag = running.settings.offset_lag_max;
        let Some(mirrored) = running.mirrored.get_mut(topic) else {
            return;
        };
        let (Some(state), Some(delayed)) = (
            mirrored.states.get_mut(partition as usize),
            mirrored.delayed.get_mut(partition as usize),
        ) else {
            return;
        };
        if state.update(upstream, metadata.offset, max_lag) {
            *delayed = None;
            running
                .pending_syncs
                .push((topic.to_string(), partition, upstream, metadata.offset));
            running.fire_syncs().await;
        } else {
            *delayed = Some((upstream, metadata.offset));
        }
    }

    /// After each offset flush: the delayed syncs go out too (Kafka's `commit`).
    async fn commit(&mut self) {
        if let Some(running) = self.inner.as_mut() {
            for (topic, mirrored) in &mut running.mirrored {
                for (partition, delayed) in mirrored.delayed.iter_mut().enumerate() {
                    if let Some((upstream, downstream)) = delayed.take() {
                        running.pending_syncs.push((
                            topic.clone(),
                            partition as i32,
                            upstream,
                            downstream,
                        ));
                    }
                }
            }
            running.fire_syncs().await;
        }
    }

    async fn stop(&mut self) {
        if let Some(mut running) = self.inner.take() {
            let _ = running.sync_producer.flush().await;
            running.sync_producer.close(Duration::from_secs(5)).await;
            if let Some(producer) = &running.checkpoint_producer {
                producer.close(Duration::from_secs(5)).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), running.consumer.close()).await;
            running
                .source_admin
                .close_with_timeout(Duration::from_secs(5))
                .await;
            running
                .target_admin
                .close_with_timeout(Duration::from_secs(5))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_sync_layout_is_kafka_protocol() {
        assert_eq!(
            offset_sync_key("orders", 2),
            [&[0u8, 6][..], b"orders", &[0, 0, 0, 2]].concat()
        );
        assert_eq!(
            offset_sync_value(5, 7),
            [[0u8, 0, 0, 0, 0, 0, 0, 5], [0, 0, 0, 0, 0, 0, 0, 7]].concat()
        );
        assert_eq!(
            checkpoint_key("g", "A.t", 1),
            [&[0u8, 1][..], b"g", &[0, 3], b"A.t", &[0, 0, 0, 1]].concat()
        );
        assert_eq!(
            checkpoint_value(1, 2, ""),
            [
                &[0u8, 0][..],
                &[0, 0, 0, 0, 0, 0, 0, 1],
                &[0, 0, 0, 0, 0, 0, 0, 2],
                &[0, 0]
            ]
            .concat()
        );
    }

    #[test]
    fn partition_state_follows_kafka() {
        let mut state = PartitionState::new();
        assert!(state.update(0, 0, 3), "first record of a run");
        assert!(!state.update(1, 1, 3));
        assert!(!state.update(2, 2, 3));
        assert!(!state.update(3, 3, 3));
        assert!(state.update(4, 4, 3), "drift reached offset.lag.max");
        assert!(!state.update(5, 5, 3));
        assert!(state.update(7, 6, 3), "upstream gap");
        assert!(state.update(8, 2, 3), "downstream truncated");
    }

    #[test]
    fn translation_takes_latest_sync_at_or_before() {
        let syncs = BTreeMap::from([(10, 110), (20, 125)]);
        assert_eq!(translate_downstream(&syncs, 5), None);
        assert_eq!(translate_downstream(&syncs, 10), Some(110));
        assert_eq!(translate_downstream(&syncs, 15), Some(111));
        assert_eq!(translate_downstream(&syncs, 20), Some(125));
        assert_eq!(translate_downstream(&syncs, 1000), Some(126));
    }

    #[test]
    fn policies_and_filters() -> Result<(), String> {
        let default = ReplicationPolicy::parse(DEFAULT_REPLICATION_POLICY, ".")?;
        assert_eq!(default.format_remote_topic("A", "orders"), "A.orders");
        let identity = ReplicationPolicy::parse("IdentityReplicationPolicy", ".")?;
        assert_eq!(identity.format_remote_topic("A", "orders"), "orders");
        assert!(ReplicationPolicy::parse("x.Custom", ".").is_err());
        let exclude = pattern_list(&crate::config_def::parse_list(TOPICS_EXCLUDE_DEFAULT))?
            .ok_or("no regex")?;
        for topic in [
            "mm2-offset-syncs.B.internal",
            "A.checkpoints.internal",
            "x.replica",
            "__consumer_offsets",
        ] {
            assert!(exclude.is_match(topic), "{topic}");
        }
        assert!(!exclude.is_match("orders"));
        assert!(default.is_from("B", "B.orders"));
        assert!(!default.is_from("B", "Borders"));
        Ok(())
    }

    #[test]
    fn task_configs_pin_byte_array_converters_and_split() {
        let mut connector = MirrorSourceConnector::default();
        connector.config = crate::connector::config_from(&[
            ("source.cluster.bootstrap.servers", "a:1"),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "false"),
        ]);
        let configs = connector.task_configs(3);
        assert_eq!(configs.len(), 3);
        for (i, config) in configs.iter().enumerate() {
            assert_eq!(config["value.converter"], BYTE_ARRAY_CONVERTER);
            assert_eq!(config["header.converter"], BYTE_ARRAY_CONVERTER);
            assert!(!config.contains_key("value.converter.schemas.enable"));
            assert_eq!(config[TASK_INDEX], i.to_string());
        }
        let owners: Vec<usize> = (0..30)
            .map(|p| {
                configs
                    .iter()
                    .filter(|c| settings(c).map(|s| s.owns("orders", p)).unwrap_or(false))
                    .count()
            })
            .collect();
        assert!(
            owners.iter().all(|&n| n == 1),
            "each partition has one owner"
        );
    }

    #[test]
    fn offsets_syncs_topic_follows_location() -> Result<(), ConnectError> {
        let base = [
            ("source.cluster.bootstrap.servers", "a:1"),
            ("source.cluster.alias", "A"),
            ("target.cluster.alias", "B"),
        ];
        let source = settings(&crate::connector::config_from(&base))?;
        assert_eq!(source.syncs_topic, "mm2-offset-syncs.B.internal");
        assert_eq!(source.checkpoints_topic, "A.checkpoints.internal");
        let mut target = base.to_vec();
        target.push(("offset-syncs.topic.location", "target"));
        let target = settings(&crate::connector::config_from(&target))?;
        assert_eq!(target.syncs_topic, "mm2-offset-syncs.A.internal");
        Ok(())
    }
}
