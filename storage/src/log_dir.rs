//! The log dir: the directory a broker keeps all its data in, and the files of its own that
//! Kafka keeps there.
//!
//! [`LogDir::open`] creates the directory and takes the exclusive `.lock` that the mmap
//! soundness rule rests on (no other process shrinks or rewrites our files; see
//! `segment/mmap.rs`): a [`crate::PartitionLog`] opens only inside a locked `LogDir`. The
//! `LogDir` reads and writes:
//! - `meta.properties` (KRaft format: `node.id`, `directory.id`, `version=1`, `cluster.id`),
//!   checked against the configured node id and cluster id ([`LogDir::load_meta_properties`]);
//! - `.kafka_cleanshutdown`, Kafka's clean-shutdown marker: whether it was there at open
//!   ([`LogDir::had_clean_shutdown`]) decides whether logs are trusted or recovered;
//! - the offset checkpoint files `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`
//!   and `recovery-point-offset-checkpoint` ([`OffsetCheckpoint`]).
//!
//! ```
//! use josefine_storage::{LogConfig, LogDir, OffsetCheckpoint, PartitionLog, TopicPartition};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log_dir = LogDir::open(dir.path())?;
//! let meta = log_dir.load_meta_properties(1, None)?;
//! assert_eq!(meta.cluster_id.len(), 22);
//! let orders = TopicPartition::new("orders", 0);
//! let log = PartitionLog::open(&log_dir, &orders, LogConfig::default(), log_dir.had_clean_shutdown())?;
//! log_dir.write_checkpoint(OffsetCheckpoint::LogStartOffset, &[(orders, log.log_start_offset())])?;
//! log.close()?;
//! log_dir.write_clean_shutdown_marker()?;
//! # Ok(()) }
//! ```
//!
//! References: Kafka's `LogManager` (lock, clean shutdown, checkpoints),
//! `MetaPropertiesEnsemble` (meta.properties), `OffsetCheckpointFile`.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::durable::{sync_dir, write_atomically};
use crate::ids::{random_uuid, uuid_to_kafka_string};
use crate::TopicPartition;

/// The lock file, held with an exclusive lock while a broker runs.
pub const LOCK_FILE: &str = ".lock";
/// Kafka's broker metadata file.
pub const META_PROPERTIES_FILE: &str = "meta.properties";
/// Kafka's clean-shutdown marker.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// Suffix of a deleted partition's directory waiting for its removal in the background
/// (Kafka's `DeleteDirSuffix`).
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Suffix of a partition directory moved aside because it belongs to another topic id than
/// the topic of that name (Kafka's `StrayDirSuffix`): kept for the operator, never removed.
pub const STRAY_DIR_SUFFIX: &str = "-stray";

/// The name a partition directory is renamed to when it is deleted or moved aside:
/// `<topic>-<partition>.<uuid without dashes><suffix>`, the topic cut short so that the name
/// fits 255 bytes (Kafka's `LocalLog.logDirNameWithSuffixCappedLength`).
///
/// ```
/// use josefine_storage::{log_dir, TopicPartition};
/// let name = log_dir::renamed_dir_name(&TopicPartition::new("orders", 3), log_dir::DELETE_DIR_SUFFIX);
/// assert!(name.starts_with("orders-3.") && name.ends_with("-delete"));
/// assert_eq!(name.len(), "orders-3.".len() + 32 + "-delete".len());
/// ```
pub fn renamed_dir_name(topic_partition: &TopicPartition, suffix: &str) -> String {
    let unique = random_uuid().simple().to_string();
    let tail = format!("-{}.{unique}{suffix}", topic_partition.partition);
    let keep = topic_partition
        .topic
        .len()
        .min(255usize.saturating_sub(tail.len()));
    // Topic names are ASCII, so any byte index is a character boundary.
    let topic = topic_partition.topic.get(..keep).unwrap_or_default();
    format!("{topic}{tail}")
}

/// Renames the partition directory `dir` of `topic_partition` beside itself to
/// [`renamed_dir_name`] with `suffix`, then fsyncs the parent so the rename survives a crash.
/// Returns the new path.
///
/// Errors: the `io::Error` of the rename or the fsync.
pub fn rename_partition_dir(
    dir: &Path,
    topic_partition: &TopicPartition,
    suffix: &str,
) -> io::Result<PathBuf> {
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    let renamed = parent.join(renamed_dir_name(topic_partition, suffix));
    std::fs::rename(dir, &renamed)?;
    crate::durable::sync_dir(parent)?;
    Ok(renamed)
}

/// Why a log dir operation failed. Every variant names the log dir or the file.
#[derive(Debug, thiserror::Error)]
pub enum LogDirError {
    /// The log dir cannot be created or its lock file opened.
    #[error("log dir {path}: {source}")]
    Create {
        /// The log dir.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `LogDir` in this one) holds the lock.
    #[error("log dir {path}: locked by another broker process (.lock)")]
    Locked {
        /// The log dir.
        path: PathBuf,
    },
    /// The lock was released ([`LogDir::unlock`]): no log may open any more.
    #[error("log dir {path}: no longer locked by this broker")]
    Unlocked {
        /// The log dir.
        path: PathBuf,
    },
    /// `meta.properties` names another node id than the configured one.
    #[error("log dir {path}: stored node.id {stored} in meta.properties does not match the configured node.id {configured}")]
    NodeIdMismatch {
        /// The log dir.
        path: PathBuf,
        /// The node id in the file.
        stored: i32,
        /// The configured node id.
        configured: i32,
    },
    /// `meta.properties` has no `cluster.id`.
    #[error("log dir {path}: meta.properties has no cluster.id")]
    MissingClusterId {
        /// The log dir.
        path: PathBuf,
    },
    /// `meta.properties` names another cluster id than the configured one.
    #[error("log dir {path}: cluster.id {configured} does not match {stored} in meta.properties")]
    ClusterIdMismatch {
        /// The log dir.
        path: PathBuf,
        /// The configured cluster id.
        configured: String,
        /// The cluster id in the file.
        stored: String,
    },
    /// A file of the log dir cannot be read or written.
    #[error("log dir {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// What `meta.properties` says (Kafka's KRaft format, version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// `node.id`: the broker's id.
    pub node_id: i32,
    /// `cluster.id`: 22 characters of URL-safe base64 when generated (Kafka's `Uuid`).
    pub cluster_id: String,
    /// `directory.id` (KIP-858), when the file has one.
    pub directory_id: Option<String>,
}

/// The log-dir checkpoint files: Kafka's offset checkpoint format, `0`, the entry count, then
/// one `topic partition offset` line per partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetCheckpoint {
    /// `log-start-offset-checkpoint`: each partition's log start offset (after
    /// DeleteRecords, retention, shutdown).
    LogStartOffset,
    /// `cleaner-offset-checkpoint`: each compacted partition's first dirty offset.
    CleanerOffset,
    /// `recovery-point-offset-checkpoint`: the offset below which each partition was
    /// fsynced.
    RecoveryPoint,
}

impl OffsetCheckpoint {
    /// The file's name in the log dir.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::LogStartOffset => "log-start-offset-checkpoint",
            Self::CleanerOffset => "cleaner-offset-checkpoint",
            Self::RecoveryPoint => "recovery-point-offset-checkpoint",
        }
    }
}

/// A locked log dir (see the module documentation).
#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    /// The open `.lock` file holding the lock; `None` once released.
    lock: Mutex<Option<File>>,
    clean_shutdown: bool,
    /// `recovery-point-offset-checkpoint` as it was at open: where each log's recovery
    /// starts after an unclean shutdown.
    recovery_points: HashMap<TopicPartition, i64>,
    /// One lock per checkpoint file (in [`OffsetCheckpoint`] order): writers of one file
    /// (retention, DeleteRecords, the cleaner, the flush timer, shutdown) take turns, so they
    /// never share its temp file.
    checkpoint_locks: [Mutex<()>; 3],
}

impl LogDir {
    /// Creates the log dir at `path` if needed, takes its lock (`.lock`, an exclusive `flock`
    /// held until [`LogDir::unlock`] or drop) and notes whether Kafka's clean-shutdown marker
    /// is there.
    ///
    /// Errors: `Create` when the directory or the lock file cannot be made, `Locked` when
    /// another process (or another `LogDir` of this one) holds the lock.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, LogDirError> {
        let path = path.into();
        let create = |source| LogDirError::Create {
            path: path.clone(),
            source,
        };
        crate::durable::create_dir_durably(&path).map_err(create)?;
        let lock = File::create(path.join(LOCK_FILE)).map_err(create)?;
        if lock.try_lock().is_err() {
            return Err(LogDirError::Locked { path });
        }
        let clean_shutdown = path.join(CLEAN_SHUTDOWN_FILE).exists();
        let recovery_points =
            read_checkpoint_file(&path.join(OffsetCheckpoint::RecoveryPoint.file_name()));
        Ok(Self {
            path,
            lock: Mutex::new(Some(lock)),
            clean_shutdown,
            recovery_points,
            checkpoint_locks: Default::default(),
        })
    }

    /// The recovery point of `topic_partition` in `recovery-point-offset-checkpoint` as it was
    /// when the dir was opened (Kafka's `LogManager` reads it once at start-up), `None` without
    /// an entry. After an unclean shutdown [`crate::PartitionLog::open`] re-reads the
    /// segments from there on.
    pub fn recovery_point(&self, topic_partition: &TopicPartition) -> Option<i64> {
        self.recovery_points.get(topic_partition).copied()
    }

    /// The log dir.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of a partition's log: `<log dir>/<topic>-<partition>`.
    pub fn partition_dir(&self, topic_partition: &TopicPartition) -> PathBuf {
        self.path.join(topic_partition.dir_name())
    }

    fn lock_state(&self) -> MutexGuard<'_, Option<File>> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this `LogDir` still holds the lock.
    pub fn is_locked(&self) -> bool {
        self.lock_state().is_some()
    }

    /// Fails unless the lock is still held: logs open only in a locked dir.
    ///
    /// Errors: `Unlocked`.
    pub fn ensure_locked(&self) -> Result<(), LogDirError> {
        if self.is_locked() {
            Ok(())
        } else {
            Err(LogDirError::Unlocked {
                path: self.path.clone(),
            })
        }
    }

    /// Releases the lock, after the broker closed every log (clean shutdown): another process
    /// may take the dir from now on, and no log of this `LogDir` opens any more. Releasing
    /// twice is harmless.
    pub fn unlock(&self) {
        self.lock_state().take();
    }

    /// Whether Kafka's clean-shutdown marker was there when the dir was opened: the logs were
    /// closed cleanly and their files can be trusted without recovery.
    pub fn had_clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// Removes the clean-shutdown marker, once the logs are open for writing: from now on a
    /// crash must lead to recovery. The log dir is fsynced, so that the removal is on disk
    /// before the first append. A missing marker is fine.
    ///
    /// Errors: `Io`.
    pub fn remove_clean_shutdown_marker(&self) -> Result<(), LogDirError> {
        let path = self.path.join(CLEAN_SHUTDOWN_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.path).map_err(|source| LogDirError::Io {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LogDirError::Io { path, source }),
        }
    }

    /// Writes the clean-shutdown marker (an empty file, written atomically: the log dir is
    /// fsynced), after every log was flushed and closed.
    ///
    /// Errors: `Io`.
    pub fn write_clean_shutdown_marker(&self) -> Result<(), LogDirError> {
        let path = self.path.join(CLEAN_SHUTDOWN_FILE);
        write_atomically(&path, b"").map_err(|source| LogDirError::Io { path, source })
    }

    /// Reads `meta.properties` and checks it against the configured `node_id` and
    /// `cluster_id`; without a readable file, writes a new one (atomically) with `cluster_id`
    /// or a new random one, and a new random directory id.
    ///
    /// Errors: `NodeIdMismatch`, `MissingClusterId`, `ClusterIdMismatch`, `Io` when the new
    /// file cannot be written.
    pub fn load_meta_properties(
        &self,
        node_id: i32,
        cluster_id: Option<&str>,
    ) -> Result<MetaProperties, LogDirError> {
        let meta_path = self.path.join(META_PROPERTIES_FILE);
        if let Some(meta) = read_properties(&meta_path) {
            if let Some(stored) = meta.get("node.id").and_then(|n| n.parse::<i32>().ok()) {
                if stored != node_id {
                    return Err(LogDirError::NodeIdMismatch {
                        path: self.path.clone(),
                        stored,
                        configured: node_id,
                    });
                }
            }
            let stored =
                meta.get("cluster.id")
                    .cloned()
                    .ok_or_else(|| LogDirError::MissingClusterId {
                        path: self.path.clone(),
                    })?;
            if let Some(configured) = cluster_id {
                if configured != stored {
                    return Err(LogDirError::ClusterIdMismatch {
                        path: self.path.clone(),
                        configured: configured.to_string(),
                        stored,
                    });
                }
            }
            return Ok(MetaProperties {
                node_id,
                cluster_id: stored,
                directory_id: meta.get("directory.id").cloned(),
            });
        }
        let cluster_id = cluster_id
            .map(str::to_string)
            .unwrap_or_else(|| uuid_to_kafka_string(random_uuid()));
        let directory_id = uuid_to_kafka_string(random_uuid());
        let text = format!(
            "#\n#Written by josefine\nnode.id={node_id}\ndirectory.id={directory_id}\nversion=1\ncluster.id={cluster_id}\n"
        );
        write_atomically(&meta_path, text.as_bytes()).map_err(|source| LogDirError::Io {
            path: meta_path,
            source,
        })?;
        Ok(MetaProperties {
            node_id,
            cluster_id,
            directory_id: Some(directory_id),
        })
    }

    /// The directories of deleted partitions not removed yet (`*-delete`, left by a stop
    /// before their removal), for the broker to remove again.
    pub fn deleted_partition_dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(DELETE_DIR_SUFFIX))
            })
            .map(|e| e.path())
            .collect()
    }

    /// Reads a checkpoint file. A missing file reads as empty; so does a malformed one, with a
    /// warning (the offsets are then taken from the segments).
    pub fn read_checkpoint(&self, file: OffsetCheckpoint) -> HashMap<TopicPartition, i64> {
        read_checkpoint_file(&self.path.join(file.file_name()))
    }

    /// Replaces a checkpoint file with `entries`, atomically (temp file, fsync, rename, fsync
    /// of the log dir). Concurrent writers of one file take turns.
    ///
    /// Errors: `Io`.
    pub fn write_checkpoint(
        &self,
        file: OffsetCheckpoint,
        entries: &[(TopicPartition, i64)],
    ) -> Result<(), LogDirError> {
        let _turn = self.lock_checkpoint(file);
        let path = self.path.join(file.file_name());
        write_atomically(&path, encode_checkpoint(entries).as_bytes())
            .map_err(|source| LogDirError::Io { path, source })
    }

    /// [`LogDir::write_checkpoint`] with entries computed by `entries` while the file's
    /// lock is held, so that of two writers at once the later one's offsets win (an older
    /// set of offsets never replaces a newer one).
    ///
    /// Errors: `Io`.
    pub fn update_checkpoint(
        &self,
        file: OffsetCheckpoint,
        entries: impl FnOnce() -> Vec<(TopicPartition, i64)>,
    ) -> Result<(), LogDirError> {
        let _turn = self.lock_checkpoint(file);
        let path = self.path.join(file.file_name());
        write_atomically(&path, encode_checkpoint(&entries()).as_bytes())
            .map_err(|source| LogDirError::Io { path, source })
    }

    fn lock_checkpoint(&self, file: OffsetCheckpoint) -> MutexGuard<'_, ()> {
        let [start, cleaner, recovery] = &self.checkpoint_locks;
        let lock = match file {
            OffsetCheckpoint::LogStartOffset => start,
            OffsetCheckpoint::CleanerOffset => cleaner,
            OffsetCheckpoint::RecoveryPoint => recovery,
        };
        lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads a checkpoint file: empty when missing, and when malformed (with a warning).
fn read_checkpoint_file(path: &Path) -> HashMap<TopicPartition, i64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    match decode_checkpoint(&text) {
        Some(entries) => entries,
        None => {
            tracing::warn!(path = %path.display(), "ignoring a malformed checkpoint file");
            HashMap::new()
        }
    }
}

fn read_properties(path: &Path) -> Option<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).ok()?;
    parse_java_properties(&bytes)
        .ok()
        .map(|m| m.into_iter().collect())
}

/// Parses Java properties text into key-value pairs. The bytes are ISO-8859-1, as
/// `java.util.Properties.load(InputStream)` reads `server.properties` and `meta.properties`.
///
/// Errors: the parser's message for malformed text.
///
/// The bytes are decoded here and handed to the `java-properties` crate as UTF-8: given raw
/// bytes, the crate sniffs a UTF-16 byte order mark and then uses its decoder after it
/// finished, a panic (found by the broker_start fuzz target on a damaged `meta.properties`).
/// UTF-8 text never holds the bytes of such a mark. Should the crate panic anyway, that is
/// caught and returned as an error.
pub fn parse_java_properties(bytes: &[u8]) -> std::result::Result<HashMap<String, String>, String> {
    let text: String = bytes.iter().copied().map(char::from).collect();
    let parsed = std::panic::catch_unwind(|| {
        let mut map = HashMap::new();
        java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8)
            .read_into(|key, value| {
                map.insert(key, value);
            })
            .map(|()| map)
    });
    match parsed {
        Ok(Ok(map)) => Ok(map),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("malformed properties text".to_string()),
    }
}

/// Kafka's offset checkpoint text: `0`, the entry count, then `topic partition offset` lines.
fn encode_checkpoint(entries: &[(TopicPartition, i64)]) -> String {
    let mut out = format!("0\n{}\n", entries.len());
    for (topic_partition, offset) in entries {
        out.push_str(&format!(
            "{} {} {offset}\n",
            topic_partition.topic, topic_partition.partition
        ));
    }
    out
}

/// The entries of a checkpoint's text; `None` when it is malformed.
fn decode_checkpoint(text: &str) -> Option<HashMap<TopicPartition, i64>> {
    let mut lines = text.lines();
    let header_ok = lines.next() == Some("0") && lines.next().is_some();
    let mut out = HashMap::new();
    for line in lines {
        let mut fields = line.split(' ');
        match (
            fields.next(),
            fields.next().map(str::parse),
            fields.next().map(str::parse),
        ) {
            (Some(topic), Some(Ok(partition)), Some(Ok(offset))) if header_ok => {
                out.insert(TopicPartition::new(topic, partition), offset);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_properties_file_parses_without_a_panic() {
        // Found by the broker_start fuzz target: a damaged meta.properties on which the
        // crate, given its raw bytes, used its decoder after it finished (a panic).
        let damaged = include_bytes!("../tests/fixtures/meta-properties-decoder-panic.bin");
        assert!(parse_java_properties(damaged).is_ok());
        // ISO-8859-1, as Java reads it.
        assert_eq!(
            parse_java_properties(b"name=caf\xe9\n")
                .unwrap()
                .get("name")
                .map(String::as_str),
            Some("caf\u{e9}")
        );
        assert_eq!(
            parse_java_properties(b"node.id=1\n# c\ncluster.id=x\n")
                .unwrap()
                .get("cluster.id")
                .map(String::as_str),
            Some("x")
        );
    }

    #[test]
    fn a_second_open_is_refused_until_the_lock_is_released() -> Result<(), LogDirError> {
        let dir = tempfile::tempdir().map_err(|source| LogDirError::Io {
            path: PathBuf::new(),
            source,
        })?;
        let first = LogDir::open(dir.path().join("data"))?;
        assert!(first.path().join(LOCK_FILE).exists());
        assert!(matches!(
            LogDir::open(dir.path().join("data")),
            Err(LogDirError::Locked { path }) if path == first.path()
        ));
        first.unlock();
        assert!(!first.is_locked());
        assert!(matches!(
            first.ensure_locked(),
            Err(LogDirError::Unlocked { .. })
        ));
        let second = LogDir::open(dir.path().join("data"))?;
        drop(second);
        LogDir::open(dir.path().join("data"))?;
        Ok(())
    }

    #[test]
    fn logs_open_only_while_the_dir_is_locked() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        let orders = TopicPartition::new("orders", 1);
        let log = crate::PartitionLog::open(&log_dir, &orders, crate::LogConfig::default(), true)?;
        assert_eq!(log.dir(), dir.path().join("orders-1"));
        assert_eq!(log.topic_partition(), &orders);
        log.close()?;
        log_dir.unlock();
        assert!(matches!(
            crate::PartitionLog::open(&log_dir, &orders, crate::LogConfig::default(), true),
            Err(crate::StorageError::LogDir(LogDirError::Unlocked { .. }))
        ));
        Ok(())
    }

    #[test]
    fn meta_properties_are_written_once_then_checked() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        let written = log_dir.load_meta_properties(7, None)?;
        assert_eq!(written.node_id, 7);
        assert_eq!(written.cluster_id.len(), 22);
        let directory_id = written.directory_id.clone().unwrap();
        let text = std::fs::read_to_string(dir.path().join(META_PROPERTIES_FILE))?;
        assert_eq!(
            text,
            format!(
                "#\n#Written by josefine\nnode.id=7\ndirectory.id={directory_id}\nversion=1\ncluster.id={}\n",
                written.cluster_id
            )
        );
        assert_eq!(log_dir.load_meta_properties(7, None)?, written);
        assert_eq!(
            log_dir.load_meta_properties(7, Some(&written.cluster_id))?,
            written
        );
        assert!(matches!(
            log_dir.load_meta_properties(8, None),
            Err(LogDirError::NodeIdMismatch {
                stored: 7,
                configured: 8,
                ..
            })
        ));
        let error = log_dir.load_meta_properties(7, Some("other")).unwrap_err();
        assert!(matches!(
            &error,
            LogDirError::ClusterIdMismatch { configured, stored, .. }
                if configured == "other" && *stored == written.cluster_id
        ));
        assert!(error
            .to_string()
            .contains("cluster.id other does not match"));

        std::fs::write(
            dir.path().join(META_PROPERTIES_FILE),
            "node.id=7\nversion=1\n",
        )?;
        assert!(matches!(
            log_dir.load_meta_properties(7, None),
            Err(LogDirError::MissingClusterId { .. })
        ));
        Ok(())
    }

    #[test]
    fn a_configured_cluster_id_is_written() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        let meta = log_dir.load_meta_properties(1, Some("my-cluster"))?;
        assert_eq!(meta.cluster_id, "my-cluster");
        let stored = read_properties(&dir.path().join(META_PROPERTIES_FILE)).unwrap();
        assert_eq!(
            stored.get("cluster.id").map(String::as_str),
            Some("my-cluster")
        );
        assert_eq!(stored.get("version").map(String::as_str), Some("1"));
        Ok(())
    }

    #[test]
    fn the_clean_shutdown_marker_is_seen_removed_and_written(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        assert!(!log_dir.had_clean_shutdown());
        log_dir.write_clean_shutdown_marker()?;
        drop(log_dir);

        let log_dir = LogDir::open(dir.path())?;
        assert!(log_dir.had_clean_shutdown());
        log_dir.remove_clean_shutdown_marker()?;
        assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        // What was seen at open stays: the logs opened afterwards still trust their files.
        assert!(log_dir.had_clean_shutdown());
        log_dir.remove_clean_shutdown_marker()?;
        drop(log_dir);

        assert!(!LogDir::open(dir.path())?.had_clean_shutdown());
        Ok(())
    }

    #[test]
    fn checkpoints_round_trip_in_kafka_format() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        assert!(log_dir
            .read_checkpoint(OffsetCheckpoint::LogStartOffset)
            .is_empty());
        let entries = vec![
            (TopicPartition::new("orders", 0), 42),
            (TopicPartition::new("__consumer_offsets", 12), 0),
        ];
        log_dir.write_checkpoint(OffsetCheckpoint::LogStartOffset, &entries)?;
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint"))?,
            "0\n2\norders 0 42\n__consumer_offsets 12 0\n"
        );
        assert_eq!(
            log_dir.read_checkpoint(OffsetCheckpoint::LogStartOffset),
            entries.into_iter().collect::<HashMap<_, _>>()
        );
        assert!(log_dir
            .read_checkpoint(OffsetCheckpoint::CleanerOffset)
            .is_empty());

        std::fs::write(
            dir.path().join("cleaner-offset-checkpoint"),
            "0\n1\norders zero 42\n",
        )?;
        assert!(log_dir
            .read_checkpoint(OffsetCheckpoint::CleanerOffset)
            .is_empty());
        std::fs::write(
            dir.path().join("cleaner-offset-checkpoint"),
            "1\n1\norders 0 42\n",
        )?;
        assert!(log_dir
            .read_checkpoint(OffsetCheckpoint::CleanerOffset)
            .is_empty());
        Ok(())
    }
}
