//! A partition's log: an ordered set of segments, one appender, many lock-free readers.
//!
//! The log's work is split by job:
//! - this module: the [`PartitionLog`] itself, opening it, its offsets and accessors, flush
//!   and close;
//! - [`config`]: [`LogConfig`] and [`TimestampType`];
//! - `recovery`: opening segments after a clean or unclean shutdown;
//! - `append`: validation, producer checks, offset assignment and segment rolls;
//! - `read`: reads and timestamp look-ups;
//! - `retention`: retention and DeleteRecords;
//! - `transactions`: transaction markers and the aborted transaction index;
//! - `snapshots`: producer state snapshots and the replay that rebuilds the producer state;
//! - `replay`: the record-by-record replay of a whole log ([`LogEvent`]) for the
//!   coordinators;
//! - `leader_epoch`: Kafka's `leader-epoch-checkpoint`.
//!
//! References: Kafka's `UnifiedLog` and `LogLoader`; Kafka documentation section 5.4 "Log".
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

mod append;
pub mod config;
mod leader_epoch;
mod read;
mod recovery;
mod replay;
mod retention;
mod snapshots;
mod transactions;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::error::{Result, StorageError};
use crate::log_dir::LogDir;
use crate::producer_state::{AbortedTransaction, ProducerEntry, ProducerState};
use crate::segment::Segment;
use crate::time::now_ms;
use crate::topic_partition::TopicPartition;

pub use append::AppendInfo;
pub use config::{LogConfig, TimestampType};
pub use replay::LogEvent;
pub use retention::RetentionOutcome;

/// The appender's state, behind the append lock.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) active: Arc<Segment>,
    /// The active segment was sealed (trimmed) but its successor could not be created (a
    /// full disk): the next append must roll before writing.
    active_sealed: bool,
    bytes_since_index_entry: usize,
    messages_since_flush: u64,
    producers: ProducerState,
    /// After a roll: the new active segment's base offset, below which everything is to be
    /// flushed. The append that rolled takes it before it lets go of the append lock and
    /// flushes afterwards on its own (blocking) thread ([`PartitionLog::flush_rolled`]), so an
    /// inline append on a runtime worker never inherits the fsync.
    roll_flush_due: Option<i64>,
}

/// A partition log in directory `<topic>-<partition>`.
///
/// Appends take a per-partition lock; reads take none beyond a brief read lock of the segment
/// map: the log end offset is published atomically after the bytes are in place.
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    topic_partition: TopicPartition,
    config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    pub(crate) writer: Mutex<Writer>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    last_stable_offset: AtomicI64,
    /// Aborted transactions by marker offset (the `.txnindex` files, in memory).
    pub(crate) aborted: RwLock<Vec<AbortedTransaction>>,
    poisoned: AtomicBool,
    closed: AtomicBool,
    /// Kafka's recovery point: every offset below it is on disk (fsynced, with the directory
    /// entries of its files). Moved by [`PartitionLog::flush`], `flush.messages` and the flush
    /// after a roll; written to `recovery-point-offset-checkpoint` by the broker.
    recovery_point: AtomicI64,
    /// Serialises flushes, so that the recovery point moves only after its fsyncs.
    flush_lock: Mutex<()>,
    /// Base offsets of segments whose `.txnindex` was appended to since its last fsync.
    unsynced_txn_indexes: Mutex<BTreeSet<i64>>,
    /// A file was created in the partition directory since its last fsync.
    dir_unsynced: AtomicBool,
    /// The partition directory was created and its log dir not fsynced since.
    parent_unsynced: AtomicBool,
    /// Small files replaced (temp file, rename) without an fsync, which the next flush
    /// fsyncs: files that the log writes again at open when they are missing or differ
    /// (`leader-epoch-checkpoint`, `partition.metadata`), so a crash before that flush loses
    /// nothing. This keeps the creation of a topic's partitions free of fsyncs, as Kafka
    /// flushes `partition.metadata` later too (KAFKA-12637).
    unsynced_files: Mutex<Vec<PathBuf>>,
    /// Serialises the background work that removes or replaces segments: retention,
    /// DeleteRecords and the cleaner.
    pub(crate) maintenance: Mutex<()>,
    /// The cleaner's checkpoint: offsets below it were cleaned at least once (Kafka's
    /// `cleaner-offset-checkpoint` entry). Always a segment base offset or the log start.
    pub(crate) first_dirty_offset: AtomicI64,
    /// When a tombstone or emptied marker kept by the last cleaning may go (ms since the
    /// epoch); `i64::MAX` when none waits.
    pub(crate) tombstone_expiry: AtomicI64,
    /// Readers parked until the log grows (long-polling fetches), woken by every append.
    pub(crate) waiters: Mutex<Vec<Arc<dyn AppendWaiter>>>,
    /// Transaction markers still to fail, for tests of the coordinator's retries
    /// ([`PartitionLog::inject_marker_failures`]).
    pub(crate) marker_faults: std::sync::atomic::AtomicU32,
}

/// Something parked until a partition's log grows: a fetch waiting for `min_bytes`. Storage
/// knows no runtime; the broker implements it over its own notifier.
pub trait AppendWaiter: Send + Sync + std::fmt::Debug {
    /// Called after an append or a transaction marker has published a new log end offset
    /// (or last stable offset). Must not block: it runs under the partition's append lock.
    fn wake(&self);
}

impl PartitionLog {
    /// Opens the log of `topic_partition` in its directory of `log_dir`
    /// (`<log dir>/<topic>-<partition>`), creating the directory and a first segment if
    /// needed. The log dir must be locked: the segments are memory-mapped, which is sound only
    /// while no other process can change their files (see `segment/mmap.rs`).
    ///
    /// With `clean` (the log dir had Kafka's `.kafka_cleanshutdown` marker, see
    /// [`LogDir::had_clean_shutdown`], or the log is new) the files are trusted as written at
    /// the last close. Otherwise (Kafka's rule) every segment at or above the partition's
    /// recovery point (from the log dir's `recovery-point-offset-checkpoint`, 0 without an
    /// entry) is re-read: the log is truncated at the first batch whose length, CRC32C or
    /// offsets do not check out, later segments are deleted and indexes rebuilt, with a
    /// warning naming what was dropped. Segments below the recovery point are trusted; their
    /// indexes are rebuilt when missing or inconsistent. Damage never stops the open.
    ///
    /// Errors: `LogDir` when the log dir is no longer locked, `Io` when a file cannot be
    /// opened, `Damaged` for a segment file name that is not a base offset.
    pub fn open(
        log_dir: &LogDir,
        topic_partition: &TopicPartition,
        config: LogConfig,
        clean: bool,
    ) -> Result<Self> {
        log_dir.ensure_locked()?;
        let dir = log_dir.partition_dir(topic_partition);
        let dir = dir.as_path();
        let created = !dir.is_dir();
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        crate::segment::swap::recover_swap(dir)?;
        let mut base_offsets = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(StorageError::io(dir))? {
            let entry = entry.map_err(StorageError::io(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".log") {
                let base: i64 = stem.parse().map_err(|_| StorageError::Damaged {
                    path: entry.path(),
                    reason: "segment file name is not a base offset".into(),
                })?;
                base_offsets.push(base);
            }
        }
        base_offsets.sort_unstable();
        let checkpointed = (!clean).then(|| log_dir.recovery_point(topic_partition).unwrap_or(0));
        let mut segments = Self::open_segments(dir, &base_offsets, &config, checkpointed)?;
        if let Some(last) = segments.last_mut() {
            last.set_rolling_base(now_ms());
        }
        let mut segments: BTreeMap<i64, Arc<Segment>> = segments
            .into_iter()
            .map(|s| {
                // Closed segments map their files when read (see `segment`); the active one
                // refuses to be released.
                s.release();
                (s.base_offset(), Arc::new(s))
            })
            .collect();
        let mut dir_unsynced = false;
        let active = match segments.values().next_back() {
            Some(segment) => Arc::clone(segment),
            None => {
                dir_unsynced = true;
                let segment = Arc::new(Segment::create(
                    dir,
                    0,
                    config.segment_bytes,
                    config.segment_index_bytes,
                    now_ms(),
                )?);
                segments.insert(0, Arc::clone(&segment));
                segment
            }
        };
        let log_start_offset = segments.keys().next().copied().unwrap_or(0);
        let log_end_offset = active.next_offset();
        // Kafka's `LogLoader`: a clean shutdown flushed everything; otherwise the recovery
        // point stays where it was (within the log), and only a flush moves it.
        let recovery_point = match checkpointed {
            None => log_end_offset,
            Some(checkpointed) => checkpointed.max(log_start_offset).min(log_end_offset),
        };
        let log = Self {
            dir: dir.to_path_buf(),
            topic_partition: topic_partition.clone(),
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                active,
                active_sealed: false,
                bytes_since_index_entry: 0,
                messages_since_flush: 0,
                producers: ProducerState::default(),
                roll_flush_due: None,
            }),
            log_start_offset: AtomicI64::new(log_start_offset),
            log_end_offset: AtomicI64::new(log_end_offset),
            last_stable_offset: AtomicI64::new(log_end_offset),
            aborted: RwLock::new(Vec::new()),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            recovery_point: AtomicI64::new(recovery_point),
            flush_lock: Mutex::new(()),
            unsynced_txn_indexes: Mutex::new(BTreeSet::new()),
            dir_unsynced: AtomicBool::new(dir_unsynced),
            parent_unsynced: AtomicBool::new(created),
            unsynced_files: Mutex::new(Vec::new()),
            maintenance: Mutex::new(()),
            first_dirty_offset: AtomicI64::new(log_start_offset),
            tombstone_expiry: AtomicI64::new(i64::MAX),
            waiters: Mutex::new(Vec::new()),
            marker_faults: std::sync::atomic::AtomicU32::new(0),
        };
        log.load_producer_state()?;
        log.write_leader_epoch_checkpoint()?;
        Ok(log)
    }

    /// Raises the log start offset to `offset` (from Kafka's `log-start-offset-checkpoint`,
    /// read at start-up), within the log end offset.
    pub fn restore_log_start_offset(&self, offset: i64) {
        let offset = offset.min(self.log_end_offset());
        self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        self.first_dirty_offset.fetch_max(offset, Ordering::AcqRel);
    }

    /// Restores the cleaner's checkpoint (Kafka's `cleaner-offset-checkpoint`), within the
    /// log.
    pub fn restore_first_dirty_offset(&self, offset: i64) {
        let offset = offset.clamp(self.log_start_offset(), self.log_end_offset());
        self.first_dirty_offset.store(offset, Ordering::Release);
    }

    /// Offsets below this were cleaned at least once (Kafka's `cleaner-offset-checkpoint`).
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset
            .load(Ordering::Acquire)
            .max(self.log_start_offset())
    }

    /// Base offsets of the segments, ascending.
    pub(super) fn segment_bases(&self) -> Vec<i64> {
        self.segments
            .read()
            .map_or_else(|_| Vec::new(), |s| s.keys().copied().collect())
    }

    /// Base offset of the segment holding `offset`.
    pub(super) fn segment_base_of(&self, offset: i64) -> i64 {
        self.segments
            .read()
            .ok()
            .and_then(|s| s.range(..=offset).next_back().map(|(b, _)| *b))
            .unwrap_or(0)
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The partition this log holds.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// One past the last offset appended.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// The high watermark: on a single node every appended record is committed, so it equals
    /// the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
    }

    /// The last stable offset (KIP-98): the first offset of the earliest open transaction, or
    /// the high watermark when none is open. read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset
            .load(Ordering::Acquire)
            .min(self.high_watermark())
            .max(self.log_start_offset())
    }

    /// The state of every producer that wrote to this log (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerEntry> {
        self.lock_writer().producers.producers()
    }

    /// Forgets the producers without an open transaction whose last write (the max timestamp
    /// of their last batch, or their last marker's time) is `expiration` or more older than
    /// `now_ms` (`producer.id.expiration.ms`, Kafka's `removeExpiredProducers`). A later batch
    /// of such a producer id is taken as a new producer's, at any sequence (KIP-360); a retry
    /// of one of its old batches is no longer recognised. Returns how many went.
    pub fn remove_expired_producers(&self, now_ms: i64, expiration: std::time::Duration) -> usize {
        let expiration_ms = i64::try_from(expiration.as_millis()).unwrap_or(i64::MAX);
        self.lock_writer()
            .producers
            .remove_expired(now_ms, expiration_ms)
    }

    /// A copy of the log's settings.
    pub fn config(&self) -> LogConfig {
        self.config.read().map(|c| *c).unwrap_or_default()
    }

    /// Replaces the log's settings; they apply from the next append.
    pub fn set_config(&self, config: LogConfig) {
        if let Ok(mut c) = self.config.write() {
            *c = config;
        }
    }

    /// Unmaps the files of closed segments that nobody read since the last call, and returns
    /// how many segments it unmapped. The broker calls it on its retention timer, so a closed
    /// segment stays mapped from its first read until a whole interval passes without one.
    pub fn release_idle_segments(&self) -> usize {
        self.all_segments()
            .iter()
            .filter(|segment| segment.release_if_idle())
            .count()
    }

    /// Number of closed and active segments whose files are mapped now.
    pub fn mapped_segment_count(&self) -> usize {
        self.all_segments()
            .iter()
            .filter(|segment| segment.is_mapped())
            .count()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.read().map_or(0, |s| s.len())
    }

    /// Total bytes of all segments.
    pub fn size_in_bytes(&self) -> u64 {
        self.segments
            .read()
            .map_or(0, |s| s.values().map(|seg| seg.size() as u64).sum())
    }

    pub(super) fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The append lock, when the log still takes appends.
    ///
    /// Errors: `Closed` after [`PartitionLog::close`], `Poisoned` after a failed fsync.
    pub(super) fn lock_writable(&self) -> Result<MutexGuard<'_, Writer>> {
        let writer = self.lock_writer();
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed {
                dir: self.dir.clone(),
            });
        }
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StorageError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        Ok(writer)
    }

    /// Replaces the file `name` of the partition directory with `contents` unless it holds
    /// them already: temp file, rename, and the fsyncs of the file and the directory left to
    /// the next flush. For files the log (or the broker) writes again at open when they are
    /// missing or differ.
    ///
    /// Errors: `Io`.
    pub fn replace_regenerated_file(&self, name: &str, contents: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        if std::fs::read(&path).is_ok_and(|c| c == contents) {
            return Ok(());
        }
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, contents).map_err(StorageError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(StorageError::io(&path))?;
        self.unsynced_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path);
        self.dir_unsynced.store(true, Ordering::Release);
        Ok(())
    }

    /// Marks the log poisoned after a failed fsync: it refuses appends until restart.
    fn poison<T>(&self, result: Result<T>) -> Result<T> {
        result.inspect_err(|err| {
            self.poisoned.store(true, Ordering::Release);
            tracing::error!(dir = %self.dir.display(), %err, "fsync failed; partition refuses appends until restart");
        })
    }

    pub(super) fn flush_segment(&self, segment: &Segment) -> Result<()> {
        self.poison(segment.flush())
    }

    /// Kafka's recovery point: every offset below it was fsynced, so a restart after a crash
    /// trusts the segments below it and re-reads the others. The broker writes it to
    /// `recovery-point-offset-checkpoint`.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// Writes every committed byte to disk and moves the recovery point to the log end offset
    /// (Kafka's `log.flush.interval.*` policy calls this). Appends go on meanwhile.
    ///
    /// Errors: `Io` (the log is then poisoned).
    pub fn flush(&self) -> Result<()> {
        self.flush_up_to(self.log_end_offset())
    }

    /// Kafka's `UnifiedLog.flush(offset)`: fsyncs every segment holding offsets from the
    /// recovery point up to `offset` (with their indexes and `.txnindex`), the files replaced
    /// by [`PartitionLog::replace_regenerated_file`], then the log dir when the partition
    /// directory is new and the partition directory when files were created in it, and moves
    /// the recovery point to `offset`.
    /// Never called under the append lock except for `flush.messages`, where the producer
    /// waits for the fsync anyway.
    pub(super) fn flush_up_to(&self, offset: i64) -> Result<()> {
        let _flushing = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let from = self.recovery_point();
        if offset > from {
            for segment in self.segments_from(from) {
                if segment.base_offset() >= offset {
                    break;
                }
                self.flush_segment(&segment)?;
            }
        }
        let txn_indexes: Vec<i64> = {
            let mut unsynced = self
                .unsynced_txn_indexes
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let later = unsynced.split_off(&offset);
            std::mem::replace(&mut *unsynced, later)
                .into_iter()
                .collect()
        };
        for base in txn_indexes {
            let path = self.dir.join(crate::segment::file_name(
                base,
                crate::segment::files::TXN_INDEX_SUFFIX,
            ));
            match crate::durable::sync_path(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return self.poison(Err(StorageError::Io { path, source: e }));
                }
                _ => {}
            }
        }
        let files = std::mem::take(
            &mut *self
                .unsynced_files
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for path in files {
            match crate::durable::sync_path(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return self.poison(Err(StorageError::Io { path, source: e }));
                }
                _ => {}
            }
        }
        if self.parent_unsynced.swap(false, Ordering::AcqRel) {
            let parent = self.dir.parent().unwrap_or(Path::new("."));
            let synced = crate::durable::sync_dir(parent).map_err(StorageError::io(parent));
            if synced.is_err() {
                self.parent_unsynced.store(true, Ordering::Release);
            }
            self.poison(synced)?;
        }
        if self.dir_unsynced.swap(false, Ordering::AcqRel) {
            let synced = crate::durable::sync_dir(&self.dir).map_err(StorageError::io(&self.dir));
            if synced.is_err() {
                self.dir_unsynced.store(true, Ordering::Release);
            }
            self.poison(synced)?;
        }
        self.recovery_point.fetch_max(offset, Ordering::AcqRel);
        Ok(())
    }

    /// After an append that rolled, with the append lock released: flushes everything below
    /// `due`, the new active segment's base offset taken from [`Writer`] (Kafka schedules the
    /// same flush at each roll), so that only the active segment is re-read after a crash.
    pub(super) fn flush_rolled(&self, due: Option<i64>) -> Result<()> {
        let Some(due) = due else {
            return Ok(());
        };
        // The sealed segment was trimmed after its data may have been flushed: fsync it again
        // so that its new length is on disk too.
        let sealed = self
            .segments
            .read()
            .ok()
            .and_then(|s| s.range(..due).next_back().map(|(_, s)| Arc::clone(s)));
        if let Some(sealed) = sealed {
            self.flush_segment(&sealed)?;
        }
        self.flush_up_to(due)
    }

    /// Trims and flushes the active segment and everything not yet flushed, leaving the files
    /// as a clean shutdown expects; the recovery point reaches the log end offset. Later
    /// appends fail with `Closed`; reads go on. Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        let writer = self.lock_writer();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Trim first: the fsync below then makes the new lengths durable too.
        writer.active.seal()?;
        self.flush_segment(&writer.active)?;
        self.flush_up_to(self.log_end_offset())?;
        self.write_snapshot(self.log_end_offset(), &writer.producers)
    }

    /// Closes the log for a topic deletion and renames its directory to
    /// `<topic>-<partition>.<uuid>-delete` (Kafka's `LogManager.asyncDelete`), waiting for a
    /// retention or cleaning pass in progress first. Readers holding segments keep their
    /// mappings; appends fail with `Closed`. A failure to flush the log does not stop the
    /// rename: its data is going. Returns the new directory, for the caller to remove after
    /// `file.delete.delay.ms`.
    ///
    /// Errors: `Io` when the directory cannot be renamed (the log stays closed).
    pub fn close_for_deletion(&self) -> Result<PathBuf> {
        let _maintenance = self.lock_maintenance();
        if let Err(err) = self.close() {
            tracing::warn!(dir = %self.dir.display(), %err, "closing a deleted partition's log failed");
        }
        crate::log_dir::rename_partition_dir(
            &self.dir,
            &self.topic_partition,
            crate::log_dir::DELETE_DIR_SUFFIX,
        )
        .map_err(StorageError::io(&self.dir))
    }

    pub(crate) fn lock_maintenance(&self) -> MutexGuard<'_, ()> {
        self.maintenance
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// All segments, by base offset.
    pub(crate) fn all_segments(&self) -> Vec<Arc<Segment>> {
        self.segments
            .read()
            .map_or_else(|_| Vec::new(), |s| s.values().cloned().collect())
    }

    pub(super) fn segments_from(&self, offset: i64) -> Vec<Arc<Segment>> {
        let Ok(segments) = self.segments.read() else {
            return Vec::new();
        };
        let start = segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(base, _)| *base);
        segments
            .range(start..)
            .map(|(_, s)| Arc::clone(s))
            .collect()
    }
}
