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

use crate::batch::{self, BatchError, BatchHeader, RecordIter};
use crate::error::{Result, StorageError};
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
    /// Records appended.
    pub record_count: u64,
}

/// The appender's state, behind the append lock.
#[derive(Debug)]
struct Writer {
    active: Arc<Segment>,
    bytes_since_index_entry: usize,
    messages_since_flush: u64,
}

/// A partition log in directory `<topic>-<partition>`.
///
/// Appends take a per-partition lock; reads take none beyond a brief read lock of the segment
/// map: the log end offset is published atomically after the bytes are in place.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: RwLock<LogConfig>,
    segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    writer: Mutex<Writer>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    poisoned: AtomicBool,
    closed: AtomicBool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn duration_ms(d: Duration) -> i64 {
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
        Ok(Self {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                active,
                bytes_since_index_entry: 0,
                messages_since_flush: 0,
            }),
            log_start_offset: AtomicI64::new(log_start_offset),
            log_end_offset: AtomicI64::new(log_end_offset),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
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

    /// Validates every batch in `records` (see [`batch::validate_batch`]), then assigns them
    /// consecutive offsets from the log end offset, stamps `leader_epoch`, copies them into the
    /// active segment once, updates the indexes and publishes the new log end offset. Nothing is
    /// written when any batch is invalid.
    ///
    /// Errors: `CorruptBatch` (CORRUPT_MESSAGE), `InvalidRecord` (INVALID_RECORD),
    /// `MessageTooLarge` (MESSAGE_TOO_LARGE), `InvalidTimestamp`, `Poisoned` after an I/O
    /// failure, `Io`.
    pub fn append(&self, records: &[u8], leader_epoch: i32) -> Result<AppendInfo> {
        let config = self.config();
        let now = now_ms();
        // Validate everything before touching the log (no allocation: the write pass below
        // walks the same, now trusted, batch lengths).
        let mut batch_count = 0usize;
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
            record_count += header.records_count() as u64;
            batch_count += 1;
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

        let mut writer = self.lock_writer();
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
        let base_offset = self.log_end_offset();
        let mut next_offset = base_offset;
        let mut start = 0;
        while let Some(header) = records.get(start..).and_then(BatchHeader::parse) {
            let size = header.total_size();
            let records_in_batch = i64::from(header.last_offset_delta()) + 1;
            let bytes = records.get(start..start + size).unwrap_or_default();
            start += size;
            self.maybe_roll(
                &mut writer,
                &config,
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
        self.log_end_offset.store(next_offset, Ordering::Release);
        writer.messages_since_flush += record_count;
        if config
            .flush_messages
            .is_some_and(|n| writer.messages_since_flush >= n)
        {
            writer.messages_since_flush = 0;
            self.flush_segment(&writer.active)?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next_offset - 1,
            log_append_time,
            record_count,
        })
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
            // The empty active segment is replaced by one large enough at the same base offset.
            if let Ok(mut segments) = self.segments.write() {
                segments.remove(&old.base_offset());
            }
            drop(old);
        } else {
            // Seal (trim) before creating the next segment, so that after a crash every
            // segment but the last is trimmed to its contents.
            old.seal()?;
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
        writer.active.seal()
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
