//! A partition's log: an ordered set of segments, one appender, many lock-free readers.
//!
//! References: Kafka's `UnifiedLog` and `LogLoader`; Kafka documentation section 5.4 "Log".
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::batch::{self, BatchError, BatchHeader, ControlType, RecordIter};
use crate::error::{Result, StorageError};
use crate::producer_state::{
    self, AbortedTransaction, Admission, AppendOrigin, ProducerEntry, ProducerState,
};
use crate::segment::index::{IndexFile, OFFSET_ENTRY, TIME_ENTRY};
use crate::segment::{file_name, Segment};

/// Whether batch timestamps are the producer's (`CreateTime`) or the broker's
/// (`LogAppendTime`); Kafka's `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Overwrite the batch max timestamp with the broker's clock on append.
    LogAppendTime,
}

/// The per-partition settings of a log, named after Kafka's topic configs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: a segment rolls when the next batch would not fit. Default 1 GiB.
    pub segment_bytes: usize,
    /// `segment.ms`: a non-empty segment older than this rolls. Default 7 days.
    pub segment_ms: Duration,
    /// `segment.index.bytes`: preallocated size of each index file. Default 10 MiB.
    pub segment_index_bytes: usize,
    /// `index.interval.bytes`: bytes between index entries. Default 4096.
    pub index_interval_bytes: usize,
    /// `max.message.bytes`: the largest record batch accepted, in bytes. Default 1048588.
    pub max_message_bytes: usize,
    /// `flush.messages`: fsync after this many records; `None` leaves it to the OS (default).
    pub flush_messages: Option<u64>,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` (KIP-937): how far in the past a CreateTime may be.
    pub timestamp_before_max: Duration,
    /// `message.timestamp.after.max.ms` (KIP-937): how far in the future a CreateTime may be.
    pub timestamp_after_max: Duration,
    /// `retention.ms`: a closed segment whose newest record is older is deleted; `None` (-1)
    /// keeps segments forever. Applies only with `cleanup_delete`. Default 7 days.
    pub retention: Option<Duration>,
    /// `retention.bytes`: oldest segments are deleted while the log is larger than this many
    /// bytes; `None` (-1, the default) sets no limit. Applies only with `cleanup_delete`.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy` contains `delete`: time and size retention apply (default).
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`: the cleaner keeps the last record per key, and
    /// records without a key are refused.
    pub cleanup_compact: bool,
    /// `min.cleanable.dirty.ratio`: share of not yet cleaned bytes that makes the log
    /// cleanable. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a segment is cleaned only once its newest record is this old.
    pub min_compaction_lag: Duration,
    /// `max.compaction.lag.ms`: dirty records older than this make the log cleanable whatever
    /// the dirty ratio. Default: never.
    pub max_compaction_lag: Duration,
    /// `delete.retention.ms`: how long a tombstone (and an emptied transaction's marker)
    /// outlives its first cleaning. Default 1 day.
    pub delete_retention: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: Duration::from_millis(7 * 24 * 3_600_000),
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            flush_messages: None,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max: Duration::from_millis(i64::MAX as u64),
            timestamp_after_max: Duration::from_millis(i64::MAX as u64),
            retention: Some(Duration::from_millis(7 * 24 * 3_600_000)),
            retention_bytes: None,
            cleanup_delete: true,
            cleanup_compact: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag: Duration::ZERO,
            max_compaction_lag: Duration::from_millis(i64::MAX as u64),
            delete_retention: Duration::from_millis(24 * 3_600_000),
        }
    }
}

/// What one append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker time stamped into the batches for `LogAppendTime` topics, else `None`.
    pub log_append_time: Option<i64>,
    /// Records appended; 0 for a duplicate.
    pub record_count: u64,
    /// The batch was a producer's retry of one already in the log (same producer id, epoch
    /// and sequence numbers): nothing was written and the offsets are the original batch's.
    pub duplicate: bool,
}

/// What one retention pass or DeleteRecords removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Bytes of the deleted segments' `.log` files.
    pub deleted_bytes: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

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
}

/// Suffix of Kafka's producer state snapshots, named by the offset they describe the state at.
const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Suffix of Kafka's aborted transaction index, one per segment.
pub(crate) const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Kafka's leader epoch checkpoint in each partition directory.
const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// The files of one segment, `.log` first: deleting in this order never brings a segment
/// back after a crash (an index without its `.log` is an orphan that start-up removes).
pub(crate) const SEGMENT_SUFFIXES: [&str; 4] = [".log", ".index", ".timeindex", TXN_INDEX_SUFFIX];

/// The coordinator epoch in a control batch's record value (version i16, epoch i32).
fn control_coordinator_epoch(batch: &[u8]) -> i32 {
    batch::records_section(batch)
        .ok()
        .and_then(|section| {
            RecordIter::new(&section)
                .next()
                .and_then(|r| r.ok())
                .and_then(|r| r.value)
                .and_then(|v| (v.len() >= 6).then(|| batch::be_i32(v, 2)))
        })
        .unwrap_or(-1)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl PartitionLog {
    /// Opens the log in `dir`, creating the directory and a first segment if needed.
    ///
    /// With `clean` (the log dir had Kafka's `.kafka_cleanshutdown` marker) the files are
    /// trusted as written at the last close. Otherwise the last segment is scanned: the first
    /// torn or invalid batch and everything after it is cut off and its indexes rebuilt.
    /// Indexes of other segments are rebuilt when missing or inconsistent.
    ///
    /// Errors: `Io` when a file cannot be opened, `Damaged` for a bad file name.
    pub fn open(dir: &Path, config: LogConfig, clean: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        crate::cleaner::recover_swap(dir)?;
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
            let segment = Self::open_segment(dir, *base, &config, is_last, clean)?;
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
        };
        log.load_producer_state()?;
        log.write_leader_epoch_checkpoint()?;
        Ok(log)
    }

    /// Writes Kafka's `leader-epoch-checkpoint` (version 0, then `epoch start_offset` lines).
    /// A single node has one leader epoch, 0, starting at the log start offset.
    fn write_leader_epoch_checkpoint(&self) -> Result<()> {
        let path = self.dir.join(LEADER_EPOCH_CHECKPOINT);
        let contents = format!("0\n1\n0 {}\n", self.log_start_offset());
        if std::fs::read_to_string(&path).is_ok_and(|c| c == contents) {
            return Ok(());
        }
        let tmp = self.dir.join(format!("{LEADER_EPOCH_CHECKPOINT}.tmp"));
        std::fs::write(&tmp, contents).map_err(StorageError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(StorageError::io(&path))
    }

    /// The end offset of `leader_epoch` (OffsetForLeaderEpoch, KIP-101/KIP-279): this
    /// node's only epoch, 0, ends at the log end offset; any other epoch is unknown here.
    /// Returns (epoch, end offset), or (-1, -1) for an unknown epoch, as Kafka's
    /// `LeaderEpochFileCache.endOffsetFor`.
    pub fn end_offset_for_leader_epoch(&self, leader_epoch: i32) -> (i32, i64) {
        if leader_epoch == 0 {
            (0, self.log_end_offset())
        } else {
            (-1, -1)
        }
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

    /// Restores the producer state: the newest readable snapshot at or below the log end
    /// offset, then every batch after it replayed (none after a clean shutdown, which
    /// snapshots at the log end). Aborted transactions come from the `.txnindex` files, those
    /// after the snapshot from the replay.
    fn load_producer_state(&self) -> Result<()> {
        let log_end_offset = self.log_end_offset();
        let mut snapshots = self.snapshot_offsets()?;
        let mut state = None;
        while let Some(offset) = snapshots.pop() {
            let path = self.dir.join(file_name(offset, SNAPSHOT_SUFFIX));
            if offset > log_end_offset {
                // Written before a crash cut the log shorter: it describes records now gone.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| ProducerState::decode_snapshot(&bytes))
            {
                Ok(loaded) => {
                    state = Some((offset, loaded));
                    break;
                }
                Err(reason) => {
                    tracing::warn!(snapshot = %path.display(), %reason, "ignoring an unreadable producer state snapshot");
                }
            }
        }
        let (from, mut producers) =
            state.unwrap_or((self.log_start_offset(), ProducerState::default()));
        // A snapshot older than the log start describes records since deleted: replay what
        // is left.
        let from = from.max(self.log_start_offset());
        let mut aborted = Vec::new();
        for base in self.segment_bases() {
            let path = self.dir.join(file_name(base, TXN_INDEX_SUFFIX));
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let entries = AbortedTransaction::decode_all(&bytes);
            let kept: Vec<_> = entries
                .iter()
                .filter(|e| e.last_offset < from)
                .copied()
                .collect();
            if kept.len() != entries.len() || bytes.len() % producer_state::TXN_INDEX_ENTRY != 0 {
                // The replay below writes these entries again.
                let bytes: Vec<u8> = kept.iter().flat_map(|e| e.encode()).collect();
                std::fs::write(&path, bytes).map_err(StorageError::io(&path))?;
            }
            aborted.extend(kept);
        }
        let mut offset = from;
        let mut replayed = 0u64;
        while offset < log_end_offset {
            let chunk = self.read(offset, 1 << 20, true)?;
            if chunk.is_empty() {
                break;
            }
            let mut position = 0;
            while let Some(header) = chunk.get(position..).and_then(BatchHeader::parse) {
                let size = header.total_size();
                let bytes = chunk.get(position..position + size).unwrap_or_default();
                position += size;
                offset = header.last_offset() + 1;
                replayed += 1;
                if header.producer_id() < 0 {
                    continue;
                }
                if header.is_control() {
                    let first = producers.complete_transaction(
                        header.producer_id(),
                        header.producer_epoch(),
                        control_coordinator_epoch(bytes),
                        header.max_timestamp(),
                    );
                    if let (Some(ControlType::Abort), Some(first)) =
                        (batch::control_type(bytes), first)
                    {
                        let entry = AbortedTransaction {
                            producer_id: header.producer_id(),
                            first_offset: first,
                            last_offset: header.base_offset(),
                            last_stable_offset: producers
                                .first_unstable_offset()
                                .unwrap_or(header.base_offset() + 1),
                        };
                        self.write_txn_index(self.segment_base_of(header.base_offset()), &entry)?;
                        aborted.push(entry);
                    }
                } else {
                    let mut entry = producers.entry_or_new(header.producer_id());
                    producer_state::record_batch(
                        &mut entry,
                        &header,
                        header.base_offset(),
                        header.last_offset(),
                    );
                    producers.put(entry);
                }
            }
            if position == 0 {
                break;
            }
        }
        if replayed > 0 {
            tracing::info!(dir = %self.dir.display(), from, batches = replayed, "rebuilt producer state");
        }
        self.last_stable_offset.store(
            producers.first_unstable_offset().unwrap_or(log_end_offset),
            Ordering::Release,
        );
        if let Ok(mut a) = self.aborted.write() {
            *a = aborted;
        }
        self.lock_writer().producers = producers;
        Ok(())
    }

    /// Base offsets of the segments, ascending.
    fn segment_bases(&self) -> Vec<i64> {
        self.segments
            .read()
            .map_or_else(|_| Vec::new(), |s| s.keys().copied().collect())
    }

    /// Base offset of the segment holding `offset`.
    fn segment_base_of(&self, offset: i64) -> i64 {
        self.segments
            .read()
            .ok()
            .and_then(|s| s.range(..=offset).next_back().map(|(b, _)| *b))
            .unwrap_or(0)
    }

    /// Offsets of the producer state snapshots in the directory, ascending.
    fn snapshot_offsets(&self) -> Result<Vec<i64>> {
        let mut offsets = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(StorageError::io(&self.dir))? {
            let entry = entry.map_err(StorageError::io(&self.dir))?;
            let name = entry.file_name();
            if let Some(offset) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX))
                .and_then(|n| n.parse::<i64>().ok())
            {
                offsets.push(offset);
            }
        }
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// Writes a producer state snapshot for `offset` (temp file and rename: a crash leaves the
    /// old set of snapshots) and keeps only the two newest.
    fn write_snapshot(&self, offset: i64, producers: &ProducerState) -> Result<()> {
        let path = self.dir.join(file_name(offset, SNAPSHOT_SUFFIX));
        let tmp = self
            .dir
            .join(format!("{}.tmp", file_name(offset, SNAPSHOT_SUFFIX)));
        std::fs::write(&tmp, producers.encode_snapshot()).map_err(StorageError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(StorageError::io(&path))?;
        let offsets = self.snapshot_offsets()?;
        for old in offsets.iter().take(offsets.len().saturating_sub(2)) {
            let _ = std::fs::remove_file(self.dir.join(file_name(*old, SNAPSHOT_SUFFIX)));
        }
        Ok(())
    }

    /// Appends an aborted transaction to the `.txnindex` of segment `base`.
    fn write_txn_index(&self, base: i64, entry: &AbortedTransaction) -> Result<()> {
        use std::io::Write;
        let path = self.dir.join(file_name(base, TXN_INDEX_SUFFIX));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&entry.encode()))
            .map_err(StorageError::io(&path))
    }

    /// Opens the closed segment at `base` as written (the cleaner's swapped-in output).
    pub(crate) fn open_closed_segment(&self, base: i64) -> Result<Segment> {
        Self::open_segment(&self.dir, base, &self.config(), false, true)
    }

    fn open_segment(
        dir: &Path,
        base: i64,
        config: &LogConfig,
        is_last: bool,
        clean: bool,
    ) -> Result<Segment> {
        let log_path = dir.join(file_name(base, ".log"));
        let file_len = |suffix: &str| {
            std::fs::metadata(dir.join(file_name(base, suffix)))
                .map(|m| m.len())
                .ok()
        };
        let log_len = usize::try_from(file_len(".log").unwrap_or(0)).unwrap_or(usize::MAX);
        let offset_entries = file_len(".index").map(|l| IndexFile::entries_in(l, OFFSET_ENTRY));
        let time_entries = file_len(".timeindex").map(|l| IndexFile::entries_in(l, TIME_ENTRY));
        let (log_capacity, index_capacity) = if is_last {
            (
                config.segment_bytes.max(log_len),
                config.segment_index_bytes,
            )
        } else {
            (0, 0)
        };
        let segment = Segment::open(
            dir,
            base,
            log_capacity,
            index_capacity,
            log_len,
            offset_entries.unwrap_or(0),
            time_entries.unwrap_or(0),
        )?;
        let trusted = (clean || !is_last) && offset_entries.is_some() && time_entries.is_some();
        if trusted && segment.indexes_sane() && segment.load_tail() {
            return Ok(segment);
        }
        if !is_last
            && (offset_entries.is_none() || time_entries.is_none() || !segment.indexes_sane())
        {
            tracing::warn!(segment = %log_path.display(), "rebuilding missing or corrupt indexes");
        }
        // Rebuilding needs room in the index files: reopen them at full size, trim afterwards.
        drop(segment);
        let segment = Segment::open(
            dir,
            base,
            log_capacity,
            config.segment_index_bytes,
            log_len,
            0,
            0,
        )?;
        let valid = segment.recover(config.index_interval_bytes, log_len)?;
        if valid < log_len && !is_last {
            return Err(StorageError::Damaged {
                path: log_path,
                reason: format!("invalid batch at position {valid} of a closed segment"),
            });
        }
        if valid < log_len {
            let dropped = log_len - valid;
            let trailing_zeros = segment_tail_is_zero(&segment, valid);
            if !trailing_zeros {
                tracing::warn!(segment = %log_path.display(), position = valid, dropped, "recovery truncated a torn or invalid tail");
            }
        }
        if !is_last {
            segment.seal()?;
        }
        Ok(segment)
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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
    /// Aborted transactions whose records may lie in `from..upper` (marker at or after
    /// `from`, first offset before `upper`), for a read_committed fetch to skip.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTransaction> {
        let Ok(aborted) = self.aborted.read() else {
            return Vec::new();
        };
        let start = aborted.partition_point(|a| a.last_offset < from);
        aborted
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|a| a.first_offset < upper)
            .copied()
            .collect()
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

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The append lock, when the log still takes appends.
    ///
    /// Errors: `Closed` after [`PartitionLog::close`], `Poisoned` after a failed fsync.
    fn lock_writable(&self) -> Result<MutexGuard<'_, Writer>> {
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

    /// Validates every batch in `records` (see [`batch::validate_batch`]), then assigns them
    /// consecutive offsets from the log end offset, stamps `leader_epoch`, copies them into the
    /// active segment once, updates the indexes and publishes the new log end offset. Nothing is
    /// written when any batch is invalid.
    ///
    /// Errors: `CorruptBatch` (CORRUPT_MESSAGE), `InvalidRecord` (INVALID_RECORD),
    /// `MessageTooLarge` (MESSAGE_TOO_LARGE), `InvalidTimestamp`, `Poisoned` after an I/O
    /// failure, `Io`.
    pub fn append(&self, records: &[u8], leader_epoch: i32) -> Result<AppendInfo> {
        self.append_from(records, leader_epoch, AppendOrigin::Client)
    }

    /// [`PartitionLog::append`] for batches from `origin`. Batches with a producer id are
    /// checked against the producer state first (KIP-98): a retry of one of the producer's
    /// last five batches is not written again and answered with its original offsets; a gap
    /// in the sequence, an old epoch or a non-transactional batch during the producer's
    /// transaction fails the append. Coordinators' batches skip the sequence check. Control
    /// batches are refused: markers come from [`PartitionLog::append_marker`] only.
    ///
    /// Errors: those of `append`, and `Producer` for the producer state checks.
    pub fn append_from(
        &self,
        records: &[u8],
        leader_epoch: i32,
        origin: AppendOrigin,
    ) -> Result<AppendInfo> {
        let config = self.config();
        let now = now_ms();
        // Validate everything before touching the log (no allocation: the write pass below
        // walks the same, now trusted, batch lengths).
        let mut batch_count = 0usize;
        // Whether any batch has a producer id: only then is the producer state consulted.
        let mut idempotent = false;
        let mut position = 0;
        let mut record_count = 0u64;
        while position < records.len() {
            let rest = records.get(position..).unwrap_or_default();
            let size = batch::validate_batch(rest).map_err(|e| match e {
                BatchError::Corrupt(reason) => StorageError::CorruptBatch { position, reason },
                BatchError::Invalid(reason) => StorageError::InvalidRecord { position, reason },
            })?;
            if size > config.max_message_bytes {
                return Err(StorageError::MessageTooLarge {
                    size,
                    max: config.max_message_bytes,
                });
            }
            let header = BatchHeader::parse(rest).ok_or(StorageError::CorruptBatch {
                position,
                reason: "short header".into(),
            })?;
            if config.timestamp_type == TimestampType::CreateTime {
                for timestamp in [header.base_timestamp(), header.max_timestamp()] {
                    if timestamp >= 0
                        && (now.saturating_sub(timestamp)
                            > duration_ms(config.timestamp_before_max)
                            || timestamp.saturating_sub(now)
                                > duration_ms(config.timestamp_after_max))
                    {
                        return Err(StorageError::InvalidTimestamp { timestamp });
                    }
                }
            }
            if header.is_control() {
                return Err(StorageError::InvalidRecord {
                    position,
                    reason: "control batches are written by the transaction coordinator only"
                        .into(),
                });
            }
            if config.cleanup_compact {
                check_keys(rest.get(..size).unwrap_or_default(), position)?;
            }
            if header.is_transactional() && header.producer_id() < 0 {
                return Err(StorageError::InvalidRecord {
                    position,
                    reason: "a transactional batch without a producer id".into(),
                });
            }
            record_count += header.records_count() as u64;
            batch_count += 1;
            idempotent |= header.producer_id() >= 0;
            position += size;
        }
        if batch_count == 0 {
            return Err(StorageError::CorruptBatch {
                position: 0,
                reason: "no record batch".into(),
            });
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);

        let mut writer = self.lock_writable()?;
        let base_offset = self.log_end_offset();
        let touched = if idempotent {
            match check_producers(&writer.producers, records, base_offset, origin)? {
                Ok(touched) => touched,
                Err(original) => {
                    return Ok(AppendInfo {
                        base_offset: original.first_offset,
                        last_offset: original.last_offset,
                        log_append_time: None,
                        record_count: 0,
                        duplicate: true,
                    });
                }
            }
        } else {
            Vec::new()
        };
        let active_before = writer.active.base_offset();
        let next_offset = self.write_batches(
            &mut writer,
            &config,
            records,
            leader_epoch,
            log_append_time,
            now,
        )?;
        if writer.active.base_offset() != active_before {
            // Rolled: snapshot the state as of this append's first offset, from which a
            // recovery replays.
            if let Err(err) = self.write_snapshot(base_offset, &writer.producers) {
                tracing::warn!(dir = %self.dir.display(), %err, "cannot write a producer state snapshot");
            }
        }
        for entry in touched {
            writer.producers.put(entry);
        }
        self.publish(&mut writer, &config, next_offset, record_count)?;
        Ok(AppendInfo {
            base_offset,
            last_offset: next_offset - 1,
            log_append_time,
            record_count,
            duplicate: false,
        })
    }

    /// Writes a transaction marker (KIP-98) for `producer_id`: a control batch that commits or
    /// aborts its open transaction in this partition, moving the last stable offset on. An
    /// abort is recorded in the `.txnindex` of the active segment. Returns the marker's offset.
    ///
    /// Errors: `Producer` (INVALID_PRODUCER_EPOCH) when `producer_epoch` is older than the
    /// producer's; `Closed`, `Poisoned`, `Io`.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        control: ControlType,
        coordinator_epoch: i32,
    ) -> Result<i64> {
        let config = self.config();
        let now = now_ms();
        let marker = batch::build_control_batch(
            producer_id,
            producer_epoch,
            control,
            coordinator_epoch,
            now,
        );
        let mut writer = self.lock_writable()?;
        if let Some(entry) = writer.producers.get(producer_id) {
            if producer_epoch < entry.producer_epoch {
                return Err(StorageError::Producer(
                    producer_state::ProducerStateError::InvalidProducerEpoch {
                        producer_id,
                        epoch: producer_epoch,
                        current: entry.producer_epoch,
                    },
                ));
            }
        }
        let offset = self.log_end_offset();
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let next_offset =
            self.write_batches(&mut writer, &config, &marker, 0, log_append_time, now)?;
        let first = writer.producers.complete_transaction(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            now,
        );
        if let (ControlType::Abort, Some(first_offset)) = (control, first) {
            let entry = AbortedTransaction {
                producer_id,
                first_offset,
                last_offset: offset,
                last_stable_offset: writer
                    .producers
                    .first_unstable_offset()
                    .unwrap_or(next_offset),
            };
            if let Ok(mut aborted) = self.aborted.write() {
                aborted.push(entry);
            }
            self.write_txn_index(writer.active.base_offset(), &entry)?;
        }
        self.publish(&mut writer, &config, next_offset, 1)?;
        Ok(offset)
    }

    /// Publishes the log end and last stable offsets after a write and applies the flush
    /// policy.
    fn publish(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        next_offset: i64,
        record_count: u64,
    ) -> Result<()> {
        self.log_end_offset.store(next_offset, Ordering::Release);
        self.last_stable_offset.store(
            writer
                .producers
                .first_unstable_offset()
                .unwrap_or(next_offset),
            Ordering::Release,
        );
        writer.messages_since_flush += record_count;
        if config
            .flush_messages
            .is_some_and(|n| writer.messages_since_flush >= n)
        {
            writer.messages_since_flush = 0;
            self.flush_segment(&writer.active)?;
        }
        Ok(())
    }

    /// Copies validated `records` into the active segment (rolling as needed) from the log
    /// end offset on; returns the next offset. Publishes nothing.
    fn write_batches(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        records: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let mut next_offset = self.log_end_offset();
        let mut start = 0;
        while let Some(header) = records.get(start..).and_then(BatchHeader::parse) {
            let size = header.total_size();
            let records_in_batch = i64::from(header.last_offset_delta()) + 1;
            let bytes = records.get(start..start + size).unwrap_or_default();
            start += size;
            self.maybe_roll(
                writer,
                config,
                size,
                next_offset,
                next_offset + records_in_batch - 1,
                now,
            )?;
            let segment = Arc::clone(&writer.active);
            let write_position = segment.size();
            let (last_offset, max_timestamp) = segment.write_batch(
                write_position,
                bytes,
                next_offset,
                leader_epoch,
                log_append_time,
            )?;
            let due = writer.bytes_since_index_entry > config.index_interval_bytes;
            segment.index_batch(write_position, last_offset, max_timestamp, due)?;
            writer.bytes_since_index_entry = if due {
                0
            } else {
                writer.bytes_since_index_entry
            } + size;
            next_offset = last_offset + 1;
            segment.commit(write_position + size, next_offset);
        }
        Ok(next_offset)
    }

    /// Rolls to a new segment when the batch would not fit, the relative offsets would
    /// overflow, an index is full, or the segment is older than `segment.ms`.
    fn maybe_roll(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        size: usize,
        base_offset: i64,
        last_offset: i64,
        now: i64,
    ) -> Result<()> {
        if writer.active_sealed {
            return self.roll(writer, config, base_offset, size, now, false);
        }
        let active = &writer.active;
        let used = active.size();
        let empty = used == 0;
        let fits = used + size <= active.capacity();
        let offsets_fit = last_offset - active.base_offset() <= i64::from(i32::MAX);
        let young = now.saturating_sub(active.created_ms()) < duration_ms(config.segment_ms);
        if empty && !fits {
            // A batch larger than segment.bytes gets a segment of its own size, as in Kafka.
            return self.roll(writer, config, base_offset, size, now, true);
        }
        if fits && offsets_fit && !active.index_full() && (young || empty) {
            return Ok(());
        }
        self.roll(writer, config, base_offset, size, now, false)
    }

    fn roll(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        base_offset: i64,
        size: usize,
        now: i64,
        replace_empty: bool,
    ) -> Result<()> {
        let old = Arc::clone(&writer.active);
        if replace_empty {
            // The empty active segment is replaced by one large enough at the same base
            // offset: the same files, grown; the map entry is replaced below.
            drop(old);
        } else if !writer.active_sealed {
            // Seal (trim) before creating the next segment, so that after a crash every
            // segment but the last is trimmed to its contents.
            old.seal()?;
            writer.active_sealed = true;
        }
        let capacity = config.segment_bytes.max(size);
        let segment = Arc::new(Segment::create(
            &self.dir,
            base_offset,
            capacity,
            config.segment_index_bytes,
            now,
        )?);
        if let Ok(mut segments) = self.segments.write() {
            segments.insert(base_offset, Arc::clone(&segment));
        }
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled segment");
        writer.active = segment;
        writer.active_sealed = false;
        writer.bytes_since_index_entry = 0;
        Ok(())
    }

    fn flush_segment(&self, segment: &Segment) -> Result<()> {
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

    /// Applies `retention.ms` and `retention.bytes` (when `cleanup.policy` has `delete`) and
    /// removes segments wholly below the log start offset, oldest first, stopping at the
    /// first segment to keep (Kafka's `UnifiedLog.deleteOldSegments`). A segment's age is its
    /// newest record's timestamp, or the file's modification time when it has none. When
    /// every segment goes, the log first rolls, so that an empty active segment remains at
    /// the log end offset. The log start offset moves to the first segment left.
    ///
    /// Errors: `Io` when a new segment cannot be created or a file cannot be removed.
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionOutcome> {
        let config = self.config();
        let _maintenance = self.lock_maintenance();
        let segments = self.all_segments();
        let total: u64 = segments.iter().map(|s| s.size() as u64).sum();
        let mut excess = config
            .retention_bytes
            .filter(|_| config.cleanup_delete)
            .map(|limit| i128::from(total) - i128::from(limit));
        let retention = config
            .retention
            .filter(|_| config.cleanup_delete)
            .map(duration_ms);
        let log_start_offset = self.log_start_offset();
        let mut doomed = 0usize;
        for (i, segment) in segments.iter().enumerate() {
            let next = segments.get(i + 1);
            if next.is_none() && segment.size() == 0 {
                break;
            }
            let size = segment.size() as i128;
            let below_start = next.is_some_and(|n| n.base_offset() <= log_start_offset);
            let expired =
                retention.is_some_and(|r| now_ms.saturating_sub(segment.largest_timestamp()) > r);
            let too_big = excess.is_some_and(|e| e >= size);
            if !(below_start || expired || too_big) {
                break;
            }
            if let Some(e) = excess.as_mut() {
                *e -= size;
            }
            doomed += 1;
        }
        self.delete_oldest_segments(doomed, segments.len(), now_ms)
    }

    /// DeleteRecords (KIP-107): moves the log start offset up to `offset` and deletes the
    /// segments wholly below it. Returns the log start offset afterwards (unchanged when
    /// `offset` is not above it).
    ///
    /// Errors: `OffsetOutOfRange` when `offset` is above the high watermark; `Io`.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let _maintenance = self.lock_maintenance();
        let high_watermark = self.high_watermark();
        if offset > high_watermark || offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: high_watermark,
            });
        }
        let before = self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        let log_start_offset = self.log_start_offset();
        if log_start_offset != before {
            self.write_leader_epoch_checkpoint()?;
        }
        let segments = self.all_segments();
        let doomed = segments
            .windows(2)
            .take_while(|pair| {
                pair.get(1)
                    .is_some_and(|n| n.base_offset() <= log_start_offset)
            })
            .count();
        self.delete_oldest_segments(doomed, segments.len(), now_ms())?;
        Ok(self.log_start_offset())
    }

    /// Deletes the `count` oldest of the log's `total` segments (rolling first when that is
    /// all of them), moves the log start offset to the first segment left, forgets aborted
    /// transactions below it and removes the files. Callers hold the maintenance lock.
    fn delete_oldest_segments(
        &self,
        count: usize,
        total: usize,
        now: i64,
    ) -> Result<RetentionOutcome> {
        if count == 0 {
            return Ok(RetentionOutcome {
                log_start_offset: self.log_start_offset(),
                ..RetentionOutcome::default()
            });
        }
        let config = self.config();
        let mut writer = self.lock_writable()?;
        if count >= total {
            let log_end_offset = self.log_end_offset();
            self.roll(&mut writer, &config, log_end_offset, 0, now, false)?;
        }
        let mut removed = Vec::with_capacity(count);
        if let Ok(mut segments) = self.segments.write() {
            for _ in 0..count {
                let Some((_, segment)) = segments.pop_first() else {
                    break;
                };
                removed.push(segment);
            }
            if let Some(first) = segments.keys().next() {
                self.log_start_offset.fetch_max(*first, Ordering::AcqRel);
            }
        }
        let log_start_offset = self.log_start_offset();
        self.first_dirty_offset
            .fetch_max(log_start_offset, Ordering::AcqRel);
        if let Ok(mut aborted) = self.aborted.write() {
            aborted.retain(|a| a.last_offset >= log_start_offset);
        }
        drop(writer);
        let mut deleted_bytes = 0;
        for segment in &removed {
            deleted_bytes += segment.size() as u64;
            self.remove_segment_files(segment.base_offset())?;
        }
        self.write_leader_epoch_checkpoint()?;
        tracing::info!(dir = %self.dir.display(), segments = removed.len(), deleted_bytes, log_start_offset, "deleted old segments");
        Ok(RetentionOutcome {
            deleted_segments: removed.len(),
            deleted_bytes,
            log_start_offset,
        })
    }

    /// Removes the files of the segment at `base` (readers holding its mapping keep it).
    pub(crate) fn remove_segment_files(&self, base: i64) -> Result<()> {
        for suffix in SEGMENT_SUFFIXES {
            let path = self.dir.join(file_name(base, suffix));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::Io { path, source: e }),
            }
        }
        Ok(())
    }

    fn segments_from(&self, offset: i64) -> Vec<Arc<Segment>> {
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

    /// Reads whole batches from the one holding `offset`: at most `max_bytes` bytes, but at
    /// least one batch when `min_one` (KIP-74). The result is a zero-copy view of the segment
    /// mapping, empty at the log end offset.
    ///
    /// Errors: `OffsetOutOfRange` when `offset` is below the log start offset or above the log
    /// end offset.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes> {
        self.read_below(offset, max_bytes, min_one, i64::MAX)
    }

    /// [`PartitionLog::read`] that stops before the first batch starting at or after
    /// `max_offset`: a read_committed fetch passes the last stable offset.
    ///
    /// Errors: `OffsetOutOfRange` as `read`.
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Bytes> {
        let bytes = self.read_range(offset, max_bytes, min_one)?;
        if max_offset == i64::MAX {
            return Ok(bytes);
        }
        let mut end = 0;
        while let Some(header) = bytes.get(end..).and_then(BatchHeader::parse) {
            if header.base_offset() >= max_offset {
                break;
            }
            end += header.total_size();
        }
        Ok(bytes.slice(..end.min(bytes.len())))
    }

    fn read_range(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes> {
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset == log_end_offset {
            return Ok(Bytes::new());
        }
        let Ok(segments) = self.segments.read() else {
            return Ok(Bytes::new());
        };
        let mut cursor = segments
            .range(..=offset)
            .next_back()
            .map(|(_, s)| Arc::clone(s));
        drop(segments);
        while let Some(segment) = cursor {
            if let Some(bytes) = segment.read(offset, max_bytes, min_one) {
                return Ok(bytes);
            }
            let Ok(segments) = self.segments.read() else {
                break;
            };
            cursor = segments
                .range(segment.base_offset() + 1..)
                .next()
                .map(|(_, s)| Arc::clone(s));
        }
        Ok(Bytes::new())
    }

    /// The first record whose timestamp is >= `timestamp`, as (offset, timestamp); `None`
    /// when every record is older. Reads (and decompresses) the records of one batch.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Option<(i64, i64)> {
        let log_start_offset = self.log_start_offset();
        for segment in self.segments_from(log_start_offset) {
            if segment.max_timestamp() < timestamp {
                continue;
            }
            let from = segment.time_lookup(timestamp).max(log_start_offset);
            let found = segment.find_batch(from, |bytes| {
                let header = BatchHeader::parse(bytes)?;
                if header.max_timestamp() < timestamp {
                    return None;
                }
                first_record_where(bytes, |t| t >= timestamp)
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The record with the largest timestamp (the first of them), as (offset, timestamp);
    /// `None` for an empty log (ListOffsets MAX_TIMESTAMP, KIP-734).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let segments = self.segments_from(self.log_start_offset());
        let best = segments.iter().filter(|s| s.max_timestamp() >= 0).fold(
            None::<&Arc<Segment>>,
            |best, s| match best {
                Some(b) if b.max_timestamp() >= s.max_timestamp() => Some(b),
                _ => Some(s),
            },
        )?;
        let max = best.max_timestamp();
        best.find_batch(best.base_offset(), |bytes| {
            let header = BatchHeader::parse(bytes)?;
            if header.max_timestamp() != max {
                return None;
            }
            first_record_where(bytes, |t| t == max)
        })
    }
}

/// Checks every batch of `records` against the producer state, predicting the offsets the
/// writes will assign from `base_offset`. Returns the updated copies of the entries touched
/// (the state itself is left as it was, so a refusal changes nothing), or `Err` with the batch
/// that the append retries (KIP-98 duplicate).
///
/// Errors: `Producer` for a gap, an old epoch or a transaction rule.
fn check_producers(
    producers: &ProducerState,
    records: &[u8],
    base_offset: i64,
    origin: AppendOrigin,
) -> Result<Result<Vec<ProducerEntry>, producer_state::BatchMetadata>> {
    let mut touched: Vec<ProducerEntry> = Vec::new();
    let mut next_offset = base_offset;
    let mut start = 0;
    while let Some(header) = records.get(start..).and_then(BatchHeader::parse) {
        start += header.total_size();
        let last_offset = next_offset + i64::from(header.last_offset_delta());
        next_offset = last_offset + 1;
        if header.producer_id() < 0 {
            continue;
        }
        let index = match touched
            .iter()
            .position(|e| e.producer_id == header.producer_id())
        {
            Some(index) => index,
            None => {
                touched.push(producers.entry_or_new(header.producer_id()));
                touched.len() - 1
            }
        };
        let Some(entry) = touched.get_mut(index) else {
            break;
        };
        match producer_state::check_batch(entry, &header, origin)? {
            Admission::Duplicate(original) => return Ok(Err(original)),
            Admission::Append => producer_state::record_batch(
                entry,
                &header,
                last_offset - i64::from(header.last_offset_delta()),
                last_offset,
            ),
        }
    }
    Ok(Ok(touched))
}

/// A compacted log keeps records by key: one without a key is refused (INVALID_RECORD), as
/// Kafka's `LogValidator` does for compacted topics.
fn check_keys(bytes: &[u8], position: usize) -> Result<()> {
    let section = batch::records_section(bytes)
        .map_err(|reason| StorageError::CorruptBatch { position, reason })?;
    for record in RecordIter::new(&section) {
        let record = record.map_err(|reason| StorageError::InvalidRecord { position, reason })?;
        if record.key.is_none() {
            return Err(StorageError::InvalidRecord {
                position,
                reason: "Compacted topic cannot accept message without key".into(),
            });
        }
    }
    Ok(())
}

/// The first record of a batch whose timestamp satisfies `pred`, as (offset, timestamp).
fn first_record_where(bytes: &[u8], pred: impl Fn(i64) -> bool) -> Option<(i64, i64)> {
    let header = BatchHeader::parse(bytes)?;
    if header.is_log_append_time() {
        return pred(header.max_timestamp())
            .then_some((header.base_offset(), header.max_timestamp()));
    }
    let section = match batch::records_section(bytes) {
        Ok(section) => section,
        Err(reason) => {
            tracing::warn!(base_offset = header.base_offset(), %reason, "cannot read records for a timestamp look-up");
            return Some((header.base_offset(), header.max_timestamp()));
        }
    };
    RecordIter::new(&section)
        .map_while(|r| r.ok())
        .find_map(|record| {
            let t = header.base_timestamp() + record.timestamp_delta;
            pred(t).then_some((header.base_offset() + record.offset_delta, t))
        })
}

/// Whether the bytes at `from` are zeros: the preallocated tail of an active segment, whose
/// removal loses nothing. Anything else there was a torn or invalid batch.
fn segment_tail_is_zero(segment: &Segment, from: usize) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(file) = std::fs::File::open(segment.path()) else {
        return false;
    };
    let mut byte = [0u8; 12];
    match file.read_at(&mut byte, from as u64) {
        Ok(n) => byte.get(..n).is_some_and(|b| b.iter().all(|b| *b == 0)),
        Err(_) => false,
    }
}
