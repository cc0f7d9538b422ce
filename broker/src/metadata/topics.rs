//! Topics and their partitions: creation, deletion, growth, persistence across restarts.
//!
//! On disk, beside Kafka's `<topic>-<partition>` directories (each with the Kafka
//! `partition.metadata` file naming the topic id), `josefine-topics/<topic>.json` in the log
//! dir holds one topic's id, partition count and config overrides. A topic's file is written
//! atomically (temp file, fsync, rename, fsync of the directory) before its partition
//! directories are created, and removed before they are, so a crash leaves at worst an orphan
//! directory, which start-up reports. One file per topic keeps a creation, deletion or config
//! change at one small write however many topics there are (the single
//! `josefine-topics.json` of earlier versions was rewritten whole for each: O(n^2) bytes for n
//! auto-created topics); that file is read once and split at start-up.
//!
//! References: Kafka documentation section 6.x "Topic-Level Configs"; KIP-516 (topic ids).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use josefine_storage::batch::ControlType;
use josefine_storage::{
    write_atomically, AppendInfo, AppendOrigin, LogDir, OffsetCheckpoint, PartitionLog,
    StorageError, TopicPartition,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::topic::{BrokerConfigLayers, TopicConfigError, TopicConfigs};

/// Why a name cannot be a topic's, with Kafka's messages (INVALID_TOPIC_EXCEPTION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    /// The empty name.
    #[error("Topic name is illegal, it can't be empty")]
    Empty,
    /// `.` or `..`.
    #[error("Topic name cannot be \".\" or \"..\"")]
    Dots,
    /// More than 249 characters.
    #[error("Topic name is illegal, it can't be longer than 249 characters, topic name: {0}")]
    TooLong(String),
    /// A character outside `[a-zA-Z0-9._-]`.
    #[error("Topic name {0} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'")]
    IllegalCharacter(String),
    /// Equal to an existing topic's name once `.` and `_` are treated alike.
    #[error("Topic '{0}' collides with an existing topic: topics with a period ('.') or underscore ('_') could collide")]
    Collides(String),
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
///
/// Errors: the [`TopicNameError`] naming the rule broken.
pub(crate) fn validate_topic_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name == "." || name == ".." {
        return Err(TopicNameError::Dots);
    }
    if name.len() > 249 {
        return Err(TopicNameError::TooLong(name.to_string()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(TopicNameError::IllegalCharacter(name.to_string()));
    }
    Ok(())
}

pub(crate) use josefine_storage::{random_uuid, uuid_to_kafka_string};

pub(crate) use josefine_storage::LogEvent;

/// One partition of a topic: its index and its log. Appends wake the fetches parked on the
/// log ([`PartitionLog::register_waiter`]).
#[derive(Debug)]
pub struct Partition {
    /// Partition index.
    pub index: i32,
    /// The log.
    pub log: PartitionLog,
}

impl Partition {
    /// Appends `records` from `origin` (see [`PartitionLog::append_from`]).
    pub fn append_from(
        &self,
        records: &[u8],
        origin: AppendOrigin,
    ) -> Result<AppendInfo, StorageError> {
        self.log.append_from(records, 0, origin)
    }

    /// Writes a transaction marker (see [`PartitionLog::append_marker`]).
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        control: ControlType,
    ) -> Result<i64, StorageError> {
        self.log
            .append_marker(producer_id, producer_epoch, control, 0)
    }

    /// Calls `f` for every keyed record and every marker of the log, in offset order: the
    /// replay of an internal topic at start-up (see [`PartitionLog::replay`]).
    pub(crate) fn replay(&self, f: impl FnMut(LogEvent<'_>)) {
        self.log.replay(f);
    }
}

/// A topic.
#[derive(Debug)]
pub struct Topic {
    /// Its name.
    pub name: String,
    /// Its id (KIP-516).
    pub id: Uuid,
    partitions: RwLock<Vec<Arc<Partition>>>,
    overrides: RwLock<BTreeMap<String, String>>,
    configs: RwLock<TopicConfigs>,
}

impl Topic {
    /// The partition with this index.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let partitions = self.partitions.read().ok()?;
        usize::try_from(index)
            .ok()
            .and_then(|i| partitions.get(i))
            .cloned()
    }
    /// All partitions, in index order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .map(|p| p.clone())
            .unwrap_or_default()
    }
    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().map_or(0, |p| p.len() as i32)
    }
    /// The topic's resolved configs.
    pub fn configs(&self) -> TopicConfigs {
        #[allow(clippy::expect_used)]
        self.configs.read().expect("config lock").clone()
    }
    /// The topic-level overrides.
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.overrides.read().map(|o| o.clone()).unwrap_or_default()
    }
    /// Makes `configs` the topic's configs and applies their storage settings to every
    /// partition (from the next append, retention or cleaning pass).
    fn apply(&self, configs: TopicConfigs) {
        let log_config = configs.log_config();
        if let Ok(mut c) = self.configs.write() {
            *c = configs;
        }
        for partition in self.partitions() {
            partition.log.set_config(log_config);
        }
    }

    /// Whether this is one of Kafka's internal topics.
    pub fn is_internal(&self) -> bool {
        self.name == "__consumer_offsets" || self.name == "__transaction_state"
    }
}

/// Why a topic operation failed; each maps to a Kafka error code.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// INVALID_TOPIC_EXCEPTION.
    #[error(transparent)]
    InvalidName(#[from] TopicNameError),
    /// TOPIC_ALREADY_EXISTS.
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("This server does not host this topic-partition.")]
    Unknown,
    /// INVALID_PARTITIONS.
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_CONFIG.
    #[error("{0}")]
    InvalidConfig(#[from] TopicConfigError),
    /// KAFKA_STORAGE_ERROR.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// KAFKA_STORAGE_ERROR for metadata files.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
struct StoredTopics {
    topics: Vec<StoredTopic>,
}

/// Kafka's file naming a partition directory's topic id (KIP-516).
const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// The topic id a partition directory's `partition.metadata` names (`topic_id: <id>`), `None`
/// when the file is missing or has none.
fn read_partition_topic_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("topic_id:"))
        .map(|id| id.trim().to_string())
}

/// The single topics file of earlier versions, split into [`TOPICS_DIR`] at start-up.
const LEGACY_TOPICS_FILE: &str = "josefine-topics.json";
/// Directory of the log dir with one `<topic>.json` per topic.
const TOPICS_DIR: &str = "josefine-topics";
/// The dynamic broker configs (KIP-226): `{"default": {..}, "broker": {..}}`.
const DYNAMIC_CONFIGS_FILE: &str = "josefine-dynamic-configs.json";

#[derive(Debug, Serialize, Deserialize, Default)]
struct StoredDynamicConfigs {
    #[serde(default)]
    default: BTreeMap<String, String>,
    #[serde(default)]
    broker: BTreeMap<String, String>,
}

/// All topics of this broker.
#[derive(Debug)]
pub struct TopicRegistry {
    log_dir: Arc<LogDir>,
    /// The broker-level defaults of topic configs, dynamic layers included (KIP-226).
    broker_configs: RwLock<BrokerConfigLayers>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    by_id: RwLock<HashMap<Uuid, Arc<Topic>>>,
    /// Names with `.` written as `_`: two topics may not share one (Kafka's collision rule).
    /// Changed only under `changes`.
    collision_names: Mutex<HashMap<String, String>>,
    /// Serialises creations, deletions and the metadata files.
    changes: Mutex<()>,
    /// Directories of deleted partitions (`*-delete`) and when they may be removed, ms since
    /// the epoch ([`TopicRegistry::remove_deleted_logs`]).
    deleted_logs: Mutex<Vec<(PathBuf, i64)>>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TopicError + '_ {
    move |source| TopicError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl TopicRegistry {
    /// Loads every topic of the locked `log_dir`, recovering partition logs unless `clean`.
    pub fn open(
        log_dir: Arc<LogDir>,
        broker_properties: BTreeMap<String, String>,
        clean: bool,
    ) -> Result<Self, TopicError> {
        let dynamic_path = log_dir.path().join(DYNAMIC_CONFIGS_FILE);
        let dynamic: StoredDynamicConfigs = match std::fs::read(&dynamic_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TopicError::Io {
                path: dynamic_path.clone(),
                source: std::io::Error::other(e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredDynamicConfigs::default(),
            Err(e) => {
                return Err(TopicError::Io {
                    path: dynamic_path,
                    source: e,
                })
            }
        };
        let registry = Self {
            log_dir: Arc::clone(&log_dir),
            broker_configs: RwLock::new(BrokerConfigLayers {
                dynamic_broker: dynamic.broker,
                dynamic_default: dynamic.default,
                static_broker: broker_properties,
            }),
            topics: RwLock::new(HashMap::new()),
            by_id: RwLock::new(HashMap::new()),
            collision_names: Mutex::new(HashMap::new()),
            changes: Mutex::new(()),
            // Deleted partitions a stop left behind go at the first removal pass.
            deleted_logs: Mutex::new(
                log_dir
                    .deleted_partition_dirs()
                    .into_iter()
                    .map(|dir| (dir, 0))
                    .collect(),
            ),
        };
        for stored in load_stored_topics(log_dir.path())? {
            let topic = registry.open_topic(
                &stored.name,
                stored.id,
                stored.partitions,
                stored.configs,
                clean,
            )?;
            registry.insert(topic);
        }
        let log_starts = log_dir.read_checkpoint(OffsetCheckpoint::LogStartOffset);
        let first_dirty = log_dir.read_checkpoint(OffsetCheckpoint::CleanerOffset);
        for topic in registry.all() {
            for partition in topic.partitions() {
                let key = TopicPartition::new(topic.name.clone(), partition.index);
                if let Some(offset) = log_starts.get(&key) {
                    partition.log.restore_log_start_offset(*offset);
                }
                if let Some(offset) = first_dirty.get(&key) {
                    partition.log.restore_first_dirty_offset(*offset);
                }
            }
        }
        Ok(registry)
    }

    /// The broker-level config layers topic configs default to.
    pub fn broker_configs(&self) -> BrokerConfigLayers {
        self.broker_configs
            .read()
            .map(|b| b.clone())
            .unwrap_or_default()
    }

    /// Replaces the dynamic broker configs (AlterConfigs/IncrementalAlterConfigs on a broker
    /// resource): checks that every topic's configs still resolve, persists them, and applies
    /// the new defaults to every partition at once. `validate_only` checks only.
    ///
    /// Errors: `InvalidConfig` for a bad value, `Io` when the file cannot be written.
    pub fn set_dynamic_broker_configs(
        &self,
        dynamic_broker: BTreeMap<String, String>,
        dynamic_default: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let layers = BrokerConfigLayers {
            dynamic_broker,
            dynamic_default,
            static_broker: self.broker_configs().static_broker,
        };
        TopicConfigs::resolve(&layers, &BTreeMap::new())?;
        let mut resolved = Vec::new();
        for topic in self.all() {
            resolved.push((TopicConfigs::resolve(&layers, &topic.overrides())?, topic));
        }
        if validate_only {
            return Ok(());
        }
        let path = self.log_dir.path().join(DYNAMIC_CONFIGS_FILE);
        let stored = StoredDynamicConfigs {
            default: layers.dynamic_default.clone(),
            broker: layers.dynamic_broker.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| TopicError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&path, &bytes).map_err(io_err(&path))?;
        if let Ok(mut b) = self.broker_configs.write() {
            *b = layers;
        }
        for (configs, topic) in resolved {
            topic.apply(configs);
        }
        Ok(())
    }

    /// Replaces a topic's config overrides (AlterConfigs/IncrementalAlterConfigs on a topic):
    /// resolves and checks them, persists them, and applies them to every partition at once.
    /// `validate_only` checks only.
    ///
    /// Errors: `InvalidConfig` for an unknown key or a bad value, `Io`.
    pub fn set_topic_overrides(
        &self,
        topic: &Arc<Topic>,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let configs = TopicConfigs::resolve(&self.broker_configs(), &overrides)?;
        if validate_only {
            return Ok(());
        }
        let previous = topic.overrides();
        if let Ok(mut o) = topic.overrides.write() {
            *o = overrides;
        }
        if let Err(err) = self.write_topic_file(topic, topic.partition_count()) {
            if let Ok(mut o) = topic.overrides.write() {
                *o = previous;
            }
            return Err(err);
        }
        topic.apply(configs);
        tracing::info!(topic = %topic.name, "altered topic configs");
        Ok(())
    }

    /// Writes Kafka's `log-start-offset-checkpoint` and `cleaner-offset-checkpoint` for every
    /// partition (after DeleteRecords, retention and cleaning, and at shutdown). The offsets
    /// are read under each file's lock: of two writers at once the later one's offsets win.
    ///
    /// Errors: `Io`.
    pub fn write_checkpoints(&self) -> Result<(), TopicError> {
        self.write_checkpoint(OffsetCheckpoint::LogStartOffset, |_, log| {
            Some(log.log_start_offset())
        })?;
        self.write_checkpoint(OffsetCheckpoint::CleanerOffset, |topic, log| {
            topic
                .configs()
                .log_config()
                .cleanup_compact
                .then(|| log.first_dirty_offset())
        })
    }

    /// Writes Kafka's `recovery-point-offset-checkpoint`: each partition's recovery point
    /// (every offset below it is fsynced), from which a restart after a crash re-reads the
    /// log (`log.flush.offset.checkpoint.interval.ms`, and at shutdown).
    ///
    /// Errors: `Io`.
    pub fn write_recovery_point_checkpoint(&self) -> Result<(), TopicError> {
        self.write_checkpoint(OffsetCheckpoint::RecoveryPoint, |_, log| {
            Some(log.recovery_point())
        })
    }

    fn write_checkpoint(
        &self,
        file: OffsetCheckpoint,
        offset: impl Fn(&Topic, &PartitionLog) -> Option<i64>,
    ) -> Result<(), TopicError> {
        self.log_dir
            .update_checkpoint(file, || {
                let mut entries = Vec::new();
                for topic in self.all() {
                    for partition in topic.partitions() {
                        if let Some(offset) = offset(&topic, &partition.log) {
                            entries.push((partition.log.topic_partition().clone(), offset));
                        }
                    }
                }
                entries
            })
            .map_err(StorageError::from)?;
        Ok(())
    }

    /// One retention pass over every partition (`log.retention.check.interval.ms`), which also
    /// unmaps closed segments unread since the last pass. Returns whether any log start offset
    /// moved.
    pub fn apply_retention_all(&self, now_ms: i64) -> bool {
        let mut moved = false;
        for topic in self.all() {
            for partition in topic.partitions() {
                match partition.log.apply_retention(now_ms) {
                    Ok(outcome) => moved |= outcome.deleted_segments > 0,
                    Err(StorageError::Closed { .. }) => {}
                    Err(err) => {
                        tracing::error!(topic = %topic.name, partition = partition.index, %err, "retention failed");
                    }
                }
                // Closed segments unread since the last pass give their mappings back.
                partition.log.release_idle_segments();
            }
        }
        moved
    }

    /// Forgets, in every partition, the producer ids idle for `expiration` at `now_ms`
    /// without an open transaction (`producer.id.expiration.ms`, see
    /// [`PartitionLog::remove_expired_producers`]). Returns how many went.
    pub fn remove_expired_producers_all(
        &self,
        now_ms: i64,
        expiration: std::time::Duration,
    ) -> usize {
        self.all()
            .iter()
            .flat_map(|topic| topic.partitions())
            .map(|partition| partition.log.remove_expired_producers(now_ms, expiration))
            .sum()
    }

    /// One cleaner pass over every compacted partition (`log.cleaner.backoff.ms`). Returns the
    /// passes that cleaned something.
    pub fn clean_all(&self, now_ms: i64) -> Vec<josefine_storage::CleanerStats> {
        let mut cleaned = Vec::new();
        for topic in self.all() {
            for partition in topic.partitions() {
                match partition.log.clean(now_ms) {
                    Ok(Some(stats)) => cleaned.push(stats),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::error!(topic = %topic.name, partition = partition.index, %err, "cleaning failed; the old segments are kept");
                    }
                }
            }
        }
        cleaned
    }

    fn insert(&self, topic: Arc<Topic>) {
        self.collision_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(collision_name(&topic.name), topic.name.clone());
        if let Ok(mut by_id) = self.by_id.write() {
            by_id.insert(topic.id, Arc::clone(&topic));
        }
        if let Ok(mut topics) = self.topics.write() {
            topics.insert(topic.name.clone(), topic);
        }
    }

    fn open_partition(
        &self,
        topic: &str,
        id: Uuid,
        index: i32,
        configs: &TopicConfigs,
        clean: bool,
    ) -> Result<Arc<Partition>, TopicError> {
        let topic_partition = TopicPartition::new(topic, index);
        self.move_aside_if_stray(&topic_partition, id)?;
        let log = PartitionLog::open(&self.log_dir, &topic_partition, configs.log_config(), clean)?;
        // Written again when missing or different; its fsync comes with the log's next flush
        // (Kafka's `PartitionMetadataFile` is flushed later too), so creating a topic's
        // partitions costs no fsync.
        let metadata = format!("version: 0\ntopic_id: {}\n", uuid_to_kafka_string(id));
        log.replace_regenerated_file(PARTITION_METADATA_FILE, metadata.as_bytes())?;
        Ok(Arc::new(Partition { index, log }))
    }

    /// A partition directory whose `partition.metadata` names another topic id than `id`
    /// holds data of another topic of the same name (one deleted while its directory could not
    /// be renamed, or before a crash): it is not adopted but renamed
    /// `<topic>-<partition>.<uuid>-stray` and kept for the operator, as Kafka moves stray
    /// logs aside.
    ///
    /// Errors: `Io` when it cannot be renamed (the partition must not open over it).
    fn move_aside_if_stray(
        &self,
        topic_partition: &TopicPartition,
        id: Uuid,
    ) -> Result<(), TopicError> {
        let dir = self.log_dir.partition_dir(topic_partition);
        let Some(stored) = read_partition_topic_id(&dir) else {
            return Ok(());
        };
        let expected = uuid_to_kafka_string(id);
        if stored == expected {
            return Ok(());
        }
        let renamed = josefine_storage::log_dir::rename_partition_dir(
            &dir,
            topic_partition,
            josefine_storage::log_dir::STRAY_DIR_SUFFIX,
        )
        .map_err(io_err(&dir))?;
        tracing::warn!(
            %topic_partition,
            stored_topic_id = %stored,
            topic_id = %expected,
            renamed = %renamed.display(),
            "partition directory belongs to another topic id; moved aside as stray"
        );
        Ok(())
    }

    fn open_topic(
        &self,
        name: &str,
        id: Uuid,
        partitions: i32,
        overrides: BTreeMap<String, String>,
        clean: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let configs = TopicConfigs::resolve(&self.broker_configs(), &overrides)?;
        let mut opened = Vec::with_capacity(partitions.max(0) as usize);
        for index in 0..partitions {
            opened.push(self.open_partition(name, id, index, &configs, clean)?);
        }
        Ok(Arc::new(Topic {
            name: name.to_string(),
            id,
            partitions: RwLock::new(opened),
            overrides: RwLock::new(overrides),
            configs: RwLock::new(configs),
        }))
    }

    /// Writes `topic`'s file atomically with `partitions` partitions (written before the
    /// directories of new partitions are created).
    fn write_topic_file(&self, topic: &Topic, partitions: i32) -> Result<(), TopicError> {
        write_stored_topic(
            self.log_dir.path(),
            &StoredTopic {
                name: topic.name.clone(),
                id: topic.id,
                partitions,
                configs: topic.overrides(),
            },
        )
    }

    /// Removes `topic`'s file, durably.
    fn remove_topic_file(&self, topic: &Topic) -> Result<(), TopicError> {
        let dir = self.log_dir.path().join(TOPICS_DIR);
        let path = dir.join(format!("{}.json", topic.name));
        match std::fs::remove_file(&path) {
            Ok(()) => josefine_storage::sync_dir(&dir).map_err(io_err(&dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TopicError::Io { path, source: e }),
        }
    }

    /// The topic named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().ok()?.get(name).cloned()
    }
    /// The topic with id `id`.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.by_id.read().ok()?.get(&id).cloned()
    }
    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self
            .topics
            .read()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Checks a creation without performing it (CreateTopics `validate_only`, and before a
    /// real one): name, partition count and configs.
    pub fn validate_create(
        &self,
        name: &str,
        partitions: i32,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfigs, TopicError> {
        validate_topic_name(name).map_err(TopicError::InvalidName)?;
        if self.get(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(
                "Number of partitions was set to an invalid non-positive value.".into(),
            ));
        }
        Ok(TopicConfigs::resolve(&self.broker_configs(), overrides)?)
    }

    /// Creates a topic with `partitions` partitions and the given config overrides.
    ///
    /// Errors: `InvalidName`, `AlreadyExists`, `InvalidPartitions`, `InvalidConfig`, `Storage`/`Io`.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        self.validate_create(name, partitions, &overrides)?;
        let collides = self
            .collision_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&collision_name(name));
        if collides {
            return Err(TopicNameError::Collides(name.to_string()).into());
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: random_uuid(),
            partitions: RwLock::new(Vec::new()),
            overrides: RwLock::new(overrides.clone()),
            configs: RwLock::new(TopicConfigs::resolve(&self.broker_configs(), &overrides)?),
        });
        self.insert(Arc::clone(&topic));
        let opened = (|| {
            self.write_topic_file(&topic, partitions)?;
            let configs = topic.configs();
            let mut opened = Vec::new();
            for index in 0..partitions {
                opened.push(self.open_partition(name, topic.id, index, &configs, true)?);
            }
            Ok::<_, TopicError>(opened)
        })();
        match opened {
            Ok(opened) => {
                if let Ok(mut p) = topic.partitions.write() {
                    *p = opened;
                }
                tracing::info!(topic = name, partitions, "created topic");
                Ok(topic)
            }
            Err(err) => {
                self.remove(&topic);
                let _ = self.remove_topic_file(&topic);
                // The directories this creation made go too: a retry (the coordinators retry
                // their internal topics) must not open their preallocated files as if a
                // clean shutdown had trimmed them. Reading an index's untrimmed tail on a full
                // tmpfs raises SIGBUS.
                for index in 0..partitions {
                    let dir = self
                        .log_dir
                        .partition_dir(&TopicPartition::new(name, index));
                    if dir.exists() {
                        if let Err(err) = std::fs::remove_dir_all(&dir) {
                            tracing::warn!(dir = %dir.display(), %err, "could not remove the directory of a failed creation");
                        }
                    }
                }
                Err(err)
            }
        }
    }

    fn remove(&self, topic: &Arc<Topic>) {
        self.collision_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&collision_name(&topic.name));
        if let Ok(mut topics) = self.topics.write() {
            topics.remove(&topic.name);
        }
        if let Ok(mut by_id) = self.by_id.write() {
            by_id.remove(&topic.id);
        }
    }

    /// Deletes a topic, as Kafka's `LogManager.asyncDelete`: the topic is gone from the
    /// registry and the metadata file at once (requests for it get UNKNOWN_TOPIC_OR_PARTITION),
    /// each partition's log is closed and its directory renamed
    /// `<topic>-<partition>.<uuid>-delete`, to be removed by
    /// [`TopicRegistry::remove_deleted_logs`] `file.delete.delay.ms` after `now_ms`. A topic
    /// created again with the same name starts empty, in new directories, with a new id.
    ///
    /// Errors: `Io` when the metadata file cannot be written (the topic is gone from memory
    /// all the same). A directory that cannot be renamed is logged and left: the next creation
    /// of the name moves it aside.
    pub fn delete(&self, topic: &Arc<Topic>, now_ms: i64) -> Result<(), TopicError> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        self.remove(topic);
        self.remove_topic_file(topic)?;
        let due = now_ms.saturating_add(self.file_delete_delay_ms());
        for partition in topic.partitions() {
            match partition.log.close_for_deletion() {
                Ok(renamed) => self.lock_deleted_logs().push((renamed, due)),
                Err(err) => {
                    tracing::error!(topic = %topic.name, partition = partition.index, %err, "cannot rename a deleted partition's directory");
                }
            }
        }
        tracing::info!(topic = %topic.name, "deleted topic; its directories are scheduled for removal");
        Ok(())
    }

    fn lock_deleted_logs(&self) -> std::sync::MutexGuard<'_, Vec<(PathBuf, i64)>> {
        self.deleted_logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `file.delete.delay.ms` at broker level (`log.segment.delete.delay.ms`, KIP-226 layers
    /// included): how long a deleted partition's directory stays. Default 60 s.
    pub fn file_delete_delay_ms(&self) -> i64 {
        TopicConfigs::resolve(&self.broker_configs(), &BTreeMap::new())
            .ok()
            .and_then(|c| c.get("file.delete.delay.ms")?.trim().parse::<i64>().ok())
            .unwrap_or(60_000)
            .max(0)
    }

    /// Removes the directories of deleted partitions whose delay has passed at `now_ms`
    /// (Kafka's `kafka-delete-logs` task). Blocks on the disk. Returns when the next one is
    /// due (ms since the epoch), `None` when none is left. A directory that cannot be removed
    /// is logged and forgotten: its `-delete` name gets it removed at the next start.
    pub fn remove_deleted_logs(&self, now_ms: i64) -> Option<i64> {
        let due: Vec<PathBuf> = {
            let mut deleted = self.lock_deleted_logs();
            let (due, waiting): (Vec<_>, Vec<_>) =
                deleted.drain(..).partition(|(_, at)| *at <= now_ms);
            *deleted = waiting;
            due.into_iter().map(|(dir, _)| dir).collect()
        };
        for dir in due {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "removed a deleted partition's directory")
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::error!(dir = %dir.display(), %err, "cannot remove a deleted partition's directory")
                }
            }
        }
        self.lock_deleted_logs().iter().map(|(_, at)| *at).min()
    }

    /// Grows `topic` to `count` partitions (CreatePartitions); `validate_only` checks only.
    pub fn add_partitions(
        &self,
        topic: &Arc<Topic>,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let current = topic.partition_count();
        if count < current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than the requested {count}."
            )));
        }
        if count == current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {current} partitions."
            )));
        }
        if validate_only {
            return Ok(());
        }
        self.write_topic_file(topic, count)?;
        let configs = topic.configs();
        let mut added = Vec::new();
        for index in current..count {
            added.push(self.open_partition(&topic.name, topic.id, index, &configs, true)?);
        }
        if let Ok(mut partitions) = topic.partitions.write() {
            partitions.extend(added);
        }
        Ok(())
    }

    /// The internal topic `name` (`__consumer_offsets`, `__transaction_state`), created on first
    /// use compacted, with `partitions` partitions of `segment_bytes` segments, as Kafka's
    /// coordinators create theirs.
    ///
    /// Errors: those of [`TopicRegistry::create`] but `AlreadyExists` (a concurrent creation wins).
    pub fn internal_topic(
        &self,
        name: &str,
        partitions: i32,
        segment_bytes: i64,
    ) -> Result<Arc<Topic>, TopicError> {
        if let Some(topic) = self.get(name) {
            return Ok(topic);
        }
        let overrides = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
            ("compression.type".to_string(), "producer".to_string()),
        ]);
        match self.create(name, partitions, overrides) {
            Err(TopicError::AlreadyExists(_)) => self.get(name).ok_or(TopicError::Unknown),
            created => created,
        }
    }

    /// Flushes every partition (the `log.flush.interval.ms` policy).
    pub fn flush_all(&self) {
        for topic in self.all() {
            for partition in topic.partitions() {
                if let Err(err) = partition.log.flush() {
                    tracing::error!(topic = %topic.name, partition = partition.index, %err, "flush failed");
                }
            }
        }
    }

    /// Flushes and trims every partition for a clean shutdown. Returns false if any failed.
    pub fn close_all(&self) -> bool {
        let mut ok = true;
        for topic in self.all() {
            for partition in topic.partitions() {
                if let Err(err) = partition.log.close() {
                    tracing::error!(topic = %topic.name, partition = partition.index, %err, "close failed");
                    ok = false;
                }
            }
        }
        ok
    }
}

/// `name` with `.` written as `_`: equal for two names that Kafka says collide.
fn collision_name(name: &str) -> String {
    name.replace('.', "_")
}

fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> TopicError + '_ {
    move |e| TopicError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// Writes one topic's file, `<log dir>/josefine-topics/<name>.json`, atomically.
fn write_stored_topic(log_dir: &Path, stored: &StoredTopic) -> Result<(), TopicError> {
    let path = log_dir
        .join(TOPICS_DIR)
        .join(format!("{}.json", stored.name));
    let bytes = serde_json::to_vec_pretty(stored).map_err(json_err(&path))?;
    write_atomically(&path, &bytes).map_err(io_err(&path))
}

/// Every topic of the log dir at `log_dir`: the files of [`TOPICS_DIR`], after splitting the
/// single file of earlier versions into it (then removing that file). Temp files a crash left
/// are removed: the rename that would have published them never happened.
///
/// Errors: `Io` when a file cannot be read or does not parse.
fn load_stored_topics(log_dir: &Path) -> Result<Vec<StoredTopic>, TopicError> {
    let dir = log_dir.join(TOPICS_DIR);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let legacy = log_dir.join(LEGACY_TOPICS_FILE);
    match std::fs::read(&legacy) {
        Ok(bytes) => {
            let stored: StoredTopics = serde_json::from_slice(&bytes).map_err(json_err(&legacy))?;
            for topic in &stored.topics {
                write_stored_topic(log_dir, topic)?;
            }
            std::fs::remove_file(&legacy).map_err(io_err(&legacy))?;
            josefine_storage::sync_dir(log_dir).map_err(io_err(log_dir))?;
            tracing::info!(
                topics = stored.topics.len(),
                "split josefine-topics.json into one file per topic"
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(TopicError::Io {
                path: legacy,
                source: e,
            })
        }
    }
    let mut topics = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let path = entry.map_err(io_err(&dir))?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                let bytes = std::fs::read(&path).map_err(io_err(&path))?;
                topics
                    .push(serde_json::from_slice::<StoredTopic>(&bytes).map_err(json_err(&path))?);
            }
            Some("tmp") => {
                tracing::warn!(path = %path.display(), "removing an unfinished topic file");
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
            _ => {}
        }
    }
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(validate_topic_name("orders.v2_eu-1").is_ok());
        assert!(matches!(
            validate_topic_name(""),
            Err(TopicNameError::Empty)
        ));
        assert!(matches!(
            validate_topic_name(".."),
            Err(TopicNameError::Dots)
        ));
        assert!(matches!(
            validate_topic_name(&"x".repeat(250)),
            Err(TopicNameError::TooLong(_))
        ));
        assert!(matches!(
            validate_topic_name("a b"),
            Err(TopicNameError::IllegalCharacter(_))
        ));
        assert_eq!(
            TopicNameError::IllegalCharacter("a b".into()).to_string(),
            "Topic name a b is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        );
    }

    fn open_registry(path: &Path) -> TopicRegistry {
        let log_dir = Arc::new(josefine_storage::LogDir::open(path).unwrap());
        TopicRegistry::open(log_dir, BTreeMap::new(), true).unwrap()
    }

    fn close(topics: TopicRegistry) {
        topics.close_all();
        topics.log_dir.unlock();
    }

    fn summary(topics: &TopicRegistry) -> Vec<(String, Uuid, i32, BTreeMap<String, String>)> {
        topics
            .all()
            .iter()
            .map(|t| (t.name.clone(), t.id, t.partition_count(), t.overrides()))
            .collect()
    }

    fn inode(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn topics_survive_a_restart_and_each_change_writes_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let topics = open_registry(dir.path());
        topics.create("a", 2, BTreeMap::new()).unwrap();
        let a_file = dir.path().join(TOPICS_DIR).join("a.json");
        let a_inode = inode(&a_file);
        let b = topics.create("b", 1, BTreeMap::new()).unwrap();
        let c = topics.create("c", 1, BTreeMap::new()).unwrap();
        topics.add_partitions(&b, 3, false).unwrap();
        let overrides = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        topics.set_topic_overrides(&b, overrides, false).unwrap();
        topics.delete(&c, 0).unwrap();
        // Creating, growing, altering and deleting other topics left a's file alone.
        assert_eq!(inode(&a_file), a_inode);
        assert!(!dir.path().join(TOPICS_DIR).join("c.json").exists());
        let before = summary(&topics);
        close(topics);
        let topics = open_registry(dir.path());
        assert_eq!(summary(&topics), before);
        assert_eq!(before.len(), 2);
        assert_eq!(before[1].2, 3);
        assert!(matches!(
            topics.create("c", 1, BTreeMap::new()),
            Ok(ref t) if t.partition_count() == 1
        ));
    }

    #[test]
    fn an_unfinished_write_leaves_the_last_complete_set() {
        let dir = tempfile::tempdir().unwrap();
        let topics = open_registry(dir.path());
        topics.create("a", 1, BTreeMap::new()).unwrap();
        topics.create("b", 1, BTreeMap::new()).unwrap();
        let before = summary(&topics);
        close(topics);
        // A crash before the rename: a torn temp file for a new topic and for a change of a.
        let topics_dir = dir.path().join(TOPICS_DIR);
        std::fs::write(topics_dir.join("c.json.tmp"), b"{\"name\": \"c\", \"id").unwrap();
        std::fs::write(topics_dir.join("a.json.tmp"), b"").unwrap();
        let topics = open_registry(dir.path());
        assert_eq!(summary(&topics), before);
        assert!(!topics_dir.join("c.json.tmp").exists());
        assert!(!topics_dir.join("a.json.tmp").exists());
    }

    #[test]
    fn the_single_file_of_earlier_versions_is_split() {
        let dir = tempfile::tempdir().unwrap();
        let id = random_uuid();
        let legacy = serde_json::json!({"topics": [
            {"name": "old", "id": id, "partitions": 2, "configs": {"cleanup.policy": "compact"}},
        ]});
        std::fs::write(
            dir.path().join(LEGACY_TOPICS_FILE),
            serde_json::to_vec(&legacy).unwrap(),
        )
        .unwrap();
        let topics = open_registry(dir.path());
        let old = topics.get("old").unwrap();
        assert_eq!((old.id, old.partition_count()), (id, 2));
        assert_eq!(old.overrides()["cleanup.policy"], "compact");
        assert!(!dir.path().join(LEGACY_TOPICS_FILE).exists());
        assert!(dir.path().join(TOPICS_DIR).join("old.json").exists());
        close(topics);
        let topics = open_registry(dir.path());
        assert_eq!(topics.get("old").map(|t| t.id), Some(id));
    }

    #[test]
    fn names_that_collide_on_dots_and_underscores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = Arc::new(josefine_storage::LogDir::open(dir.path()).unwrap());
        let topics = TopicRegistry::open(log_dir, BTreeMap::new(), true).unwrap();
        topics.create("a.b", 1, BTreeMap::new()).unwrap();
        assert!(matches!(
            topics.create("a_b", 1, BTreeMap::new()),
            Err(TopicError::InvalidName(TopicNameError::Collides(_)))
        ));
    }

    /// The partition directories of `dir` (the topic metadata directory left out).
    fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir() && e.file_name() != TOPICS_DIR)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_deleted_topic_is_renamed_then_removed_and_its_name_starts_empty(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = Arc::new(josefine_storage::LogDir::open(dir.path())?);
        let topics = TopicRegistry::open(Arc::clone(&log_dir), BTreeMap::new(), true)?;
        let old = topics.create("orders", 2, BTreeMap::new())?;
        let records = josefine_storage::batch::build_batch(&[(1, None, Some(b"old"))]);
        old.partition(0)
            .unwrap()
            .append_from(&records, AppendOrigin::Client)?;
        topics.delete(&old, 1_000)?;
        assert!(topics.get("orders").is_none());
        // The old logs are closed: a producer holding the partition cannot write any more.
        assert!(matches!(
            old.partition(0)
                .unwrap()
                .append_from(&records, AppendOrigin::Client),
            Err(StorageError::Closed { .. })
        ));
        let names = dir_names(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        for name in &names {
            assert!(
                name.starts_with("orders-") && name.ends_with("-delete"),
                "{name}"
            );
            let (_, unique) = name.trim_end_matches("-delete").split_once('.').unwrap();
            assert_eq!(unique.len(), 32);
        }

        let new = topics.create("orders", 1, BTreeMap::new())?;
        assert_ne!(new.id, old.id);
        let log = &new.partition(0).unwrap().log;
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));

        // Not yet: file.delete.delay.ms (60 s by default) has not passed.
        assert_eq!(topics.remove_deleted_logs(60_999), Some(61_000));
        assert_eq!(dir_names(dir.path()).len(), 3);
        assert_eq!(topics.remove_deleted_logs(61_000), None);
        assert_eq!(dir_names(dir.path()), vec!["orders-0".to_string()]);
        Ok(())
    }

    #[test]
    fn leftover_deleted_dirs_go_and_a_stray_dir_is_moved_aside(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(
            dir.path()
                .join("gone-0.0123456789abcdef0123456789abcdef-delete"),
        )?;
        // A directory of another `orders` (another topic id), left by a crash.
        std::fs::create_dir_all(dir.path().join("orders-0"))?;
        std::fs::write(
            dir.path().join("orders-0").join(PARTITION_METADATA_FILE),
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n",
        )?;
        let log_dir = Arc::new(josefine_storage::LogDir::open(dir.path())?);
        let topics = TopicRegistry::open(Arc::clone(&log_dir), BTreeMap::new(), true)?;
        assert_eq!(topics.remove_deleted_logs(0), None);
        let topic = topics.create("orders", 1, BTreeMap::new())?;
        let names = dir_names(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names
            .iter()
            .any(|n| n.starts_with("orders-0.") && n.ends_with("-stray")));
        assert_eq!(
            read_partition_topic_id(&dir.path().join("orders-0")),
            Some(uuid_to_kafka_string(topic.id))
        );
        Ok(())
    }
}
