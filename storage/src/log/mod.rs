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

use std::collections::BTreeMap;
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
    /// the last close. Otherwise the last segment is scanned: the first torn or invalid batch
    /// and everything after it is cut off and its indexes rebuilt. Indexes of other segments
    /// are rebuilt when missing or inconsistent.
    ///
    /// Errors: `LogDir` when the log dir is no longer locked, `Io` when a file cannot be
    /// opened, `Damaged` for a bad file name or damage inside a closed segment.
    pub fn open(
        log_dir: &LogDir,
        topic_partition: &TopicPartition,
        config: LogConfig,
        clean: bool,
    ) -> Result<Self> {
        log_dir.ensure_locked()?;
        let dir = log_dir.partition_dir(topic_partition);
        let dir = dir.as_path();
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
        let mut segments = BTreeMap::new();
        let last = base_offsets.last().copied();
        for base in &base_offsets {
            let is_last = Some(*base) == last;
            let mut segment = Self::open_segment(dir, *base, &config, is_last, clean)?;
            if is_last {
                segment.set_rolling_base(now_ms());
            } else {
                // Closed segments map their files when read (see `segment`).
                segment.release();
            }
            segments.insert(*base, Arc::new(segment));
        }
        let active = match segments.values().next_back() {
            Some(segment) => Arc::clone(segment),
            None => {
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
            }),
            log_start_offset: AtomicI64::new(log_start_offset),
            log_end_offset: AtomicI64::new(log_end_offset),
            last_stable_offset: AtomicI64::new(log_end_offset),
            aborted: RwLock::new(Vec::new()),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            maintenance: Mutex::new(()),
            first_dirty_offset: AtomicI64::new(log_start_offset),
            tombstone_expiry: AtomicI64::new(i64::MAX),
            waiters: Mutex::new(Vec::new()),
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

    pub(super) fn flush_segment(&self, segment: &Segment) -> Result<()> {
        segment.flush().inspect_err(|err| {
            self.poisoned.store(true, Ordering::Release);
            tracing::error!(dir = %self.dir.display(), %err, "fsync failed; partition refuses appends until restart");
        })
    }

    /// Writes every committed byte to disk (Kafka's `log.flush.interval.*` policy calls this).
    pub fn flush(&self) -> Result<()> {
        let writer = self.lock_writer();
        self.flush_segment(&writer.active)
    }

    /// Flushes and trims the active segment, leaving the files as a clean shutdown expects.
    /// Later appends fail with `Closed`; reads go on. Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        let writer = self.lock_writer();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.flush_segment(&writer.active)?;
        writer.active.seal()?;
        self.write_snapshot(self.log_end_offset(), &writer.producers)
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
