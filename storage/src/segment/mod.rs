//! One segment of a partition log: `<base offset, 20 digits>.log` plus its `.index` and
//! `.timeindex`, all memory-mapped.
//!
//! Only the active segment keeps its files mapped for its whole life. A closed segment maps
//! its files when first read and keeps them until a maintenance pass finds them unused since
//! the previous pass ([`crate::PartitionLog::release_idle_segments`]), as Kafka opens
//! indexes lazily (`LazyIndex`): a log of thousands of segments, or ten thousand partitions,
//! holds mappings only for what is being read. `Bytes` views keep their mapping alive on
//! their own.
//!
//! References: Kafka's `LogSegment`; Kafka documentation section 5.4 "Log".
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub(crate) mod files;
pub(crate) mod index;
#[allow(unsafe_code)]
pub(crate) mod mmap;
pub(crate) mod swap;

pub use files::file_name;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::batch::{self, Batch, BatchError, BatchHeader, Batches, Check, RECORD_BATCH_OVERHEAD};
use crate::error::{Result, StorageError};
use index::{IndexFile, OffsetIndex, TimeIndex, OFFSET_ENTRY, TIME_ENTRY};
use mmap::MappedFile;

/// Batches below this size (bytes) are copied in through the mapping, larger ones written
/// through the file (see [`Segment::write_batch`]).
const SMALL_BATCH: usize = 4096;

/// The mapped files of a segment.
#[derive(Debug)]
struct SegmentFiles {
    log: Arc<MappedFile>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

impl SegmentFiles {
    /// The committed batches of a `.log` of `size` bytes, from byte `position` on.
    fn batches_from(&self, size: usize, position: usize) -> Batches<'_> {
        Batches::new(self.log.slice(0, size)).starting_at(position)
    }

    /// The first batch whose last offset is >= `offset`, scanning from the index entry at or
    /// below it; the walk goes on from there.
    fn find(&self, size: usize, offset: i64) -> Option<(Batch<'_>, Batches<'_>)> {
        let mut batches = self.batches_from(size, self.offset_index.lookup(offset));
        let first = batches.find(|b| b.header.last_offset() >= offset)?;
        Some((first, batches))
    }
}

/// A segment: the batches from `base_offset` on, up to the next segment's base offset.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    dir: PathBuf,
    log_path: PathBuf,
    /// The mapped files: always there while the segment takes appends, else mapped on use.
    files: RwLock<Option<Arc<SegmentFiles>>>,
    /// Whether the segment takes appends (its files stay mapped).
    active: AtomicBool,
    /// Whether the files were used since the last [`Segment::release_if_idle`].
    used: AtomicBool,
    /// Committed bytes of the `.log`: readers never look past it.
    size: AtomicUsize,
    /// One past the last offset in the segment (`base_offset` when empty).
    next_offset: AtomicI64,
    /// Largest batch max timestamp so far, -1 when none.
    max_timestamp: AtomicI64,
    /// Last offset of the first batch that reached `max_timestamp`.
    offset_of_max_timestamp: AtomicI64,
    /// When the segment was created, ms since the epoch (for `segment.ms`).
    created_ms: i64,
}

/// A segment's append position and index lengths before an append ([`Segment::append_mark`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendMark {
    size: usize,
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    offset_entries: usize,
    time_entries: usize,
}

impl Segment {
    /// Creates an empty segment with its `.log` preallocated to `log_capacity` bytes and its
    /// indexes to `index_capacity` bytes.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        log_capacity: usize,
        index_capacity: usize,
        now_ms: i64,
    ) -> Result<Self> {
        let segment = Self::open(dir, base_offset, log_capacity, index_capacity, 0, 0, 0)?;
        Ok(Self {
            created_ms: now_ms,
            ..segment
        })
    }

    /// Opens an existing segment whose `.log` holds `size` valid bytes and whose indexes hold
    /// the given entry counts; growing files to the capacities given (0 keeps them as they are).
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        log_capacity: usize,
        index_capacity: usize,
        size: usize,
        offset_entries: usize,
        time_entries: usize,
    ) -> Result<Self> {
        let log_path = dir.join(file_name(base_offset, ".log"));
        // Only a segment that takes appends (opened with a capacity) keeps its descriptor.
        let log = MappedFile::open(
            &log_path,
            log_capacity,
            mmap::LOG_ALLOCATION_CHUNK,
            log_capacity > 0,
        )
        .map_err(StorageError::io(&log_path))?;
        let offset_index = OffsetIndex::new(
            IndexFile::open(
                &dir.join(file_name(base_offset, ".index")),
                OFFSET_ENTRY,
                index_capacity,
                offset_entries,
            )?,
            base_offset,
        );
        let time_index = TimeIndex::new(
            IndexFile::open(
                &dir.join(file_name(base_offset, ".timeindex")),
                TIME_ENTRY,
                index_capacity,
                time_entries,
            )?,
            base_offset,
        );
        let (max_timestamp, offset_of_max_timestamp) =
            time_index.last().unwrap_or((-1, base_offset));
        let size = size.min(log.capacity());
        Ok(Self {
            base_offset,
            dir: dir.to_path_buf(),
            log_path,
            files: RwLock::new(Some(Arc::new(SegmentFiles {
                log: Arc::new(log),
                offset_index,
                time_index,
            }))),
            active: AtomicBool::new(log_capacity > 0),
            used: AtomicBool::new(true),
            size: AtomicUsize::new(size),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(max_timestamp),
            offset_of_max_timestamp: AtomicI64::new(offset_of_max_timestamp),
            created_ms: 0,
        })
    }

    /// The first offset this segment may hold.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    /// Committed bytes in the `.log`.
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }
    /// One past the last offset in the segment.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }
    /// Largest timestamp seen in the segment, -1 when none.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }
    pub(crate) fn created_ms(&self) -> i64 {
        self.created_ms
    }
    /// Sets the time `segment.ms` counts from for a segment opened from disk: its first
    /// batch's max timestamp, or `now_ms` when it has none, as Kafka's
    /// `LogSegment.rollingBasedTimestamp` (else `created`, the time the segment was loaded).
    /// Without it a reopened active segment looked ancient and the first append after a
    /// restart rolled a new segment in every partition.
    pub(crate) fn set_rolling_base(&mut self, now_ms: i64) {
        self.created_ms = self
            .first_batch_max_timestamp()
            .filter(|t| *t >= 0)
            .unwrap_or(now_ms);
    }
    pub(crate) fn capacity(&self) -> usize {
        self.files().map_or(0, |f| f.log.capacity())
    }
    pub(crate) fn index_full(&self) -> bool {
        self.files().map_or(true, |f| {
            f.offset_index.file.is_full() || f.time_index.file.is_full()
        })
    }

    /// The mapped files, mapping them if they are not.
    ///
    /// Errors: `Io` when a file cannot be opened (a segment deleted meanwhile).
    fn files(&self) -> Result<Arc<SegmentFiles>> {
        self.used.store(true, Ordering::Relaxed);
        if let Some(files) = self.files.read().ok().and_then(|f| f.clone()) {
            return Ok(files);
        }
        let mut slot = self.files.write().unwrap_or_else(|p| p.into_inner());
        if let Some(files) = slot.as_ref() {
            return Ok(Arc::clone(files));
        }
        // A closed segment's files are trimmed to their contents: map them as they are.
        let log = MappedFile::open(&self.log_path, 0, mmap::LOG_ALLOCATION_CHUNK, false)
            .map_err(StorageError::io(&self.log_path))?;
        let index = |suffix: &str, entry| {
            IndexFile::open(
                &self.dir.join(file_name(self.base_offset, suffix)),
                entry,
                0,
                usize::MAX,
            )
        };
        let files = Arc::new(SegmentFiles {
            log: Arc::new(log),
            offset_index: OffsetIndex::new(index(".index", OFFSET_ENTRY)?, self.base_offset),
            time_index: TimeIndex::new(index(".timeindex", TIME_ENTRY)?, self.base_offset),
        });
        *slot = Some(Arc::clone(&files));
        Ok(files)
    }

    /// Unmaps a closed segment's files if nothing used them since the last call (a second
    /// chance, as a clock cache); returns whether it did. The active segment keeps them.
    pub(crate) fn release_if_idle(&self) -> bool {
        !self.used.swap(false, Ordering::Relaxed) && self.release()
    }

    /// Unmaps a closed segment's files now; returns whether it did.
    pub(crate) fn release(&self) -> bool {
        if self.active.load(Ordering::Acquire) {
            return false;
        }
        let mut slot = self.files.write().unwrap_or_else(|p| p.into_inner());
        slot.take().is_some()
    }

    /// Whether the files are mapped now.
    pub(crate) fn is_mapped(&self) -> bool {
        self.files.read().is_ok_and(|f| f.is_some())
    }

    /// Copies one validated batch in at the committed end, stamps it with its base offset and
    /// leader epoch (and log append time), and returns its header's (last offset, max
    /// timestamp). The batch is not yet visible: call [`Segment::commit`].
    pub(crate) fn write_batch(
        &self,
        position: usize,
        bytes: &[u8],
        base_offset: i64,
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> Result<(i64, i64)> {
        // The stamped header is a copy; the records go from the request to the page cache in
        // one copy. Large batches are written through the file: a store through the mapping
        // into a new page faults and the kernel zero-fills the page first, about 0.9 us per
        // 4 KiB page, while a write call costs about that much once per batch. Small batches
        // share pages, so for them the mapping is cheaper.
        let (head, records) =
            bytes
                .split_at_checked(RECORD_BATCH_OVERHEAD)
                .ok_or(BatchError::ShortHeader {
                    position,
                    available: bytes.len(),
                })?;
        let mut header = [0u8; RECORD_BATCH_OVERHEAD];
        header.copy_from_slice(head);
        batch::stamp_header(
            &mut header,
            records,
            base_offset,
            leader_epoch,
            log_append_time,
        );
        let records_position = position + RECORD_BATCH_OVERHEAD;
        let files = self.files()?;
        let log = &files.log;
        let written = if bytes.len() < SMALL_BATCH {
            log.write_at(position, &header)
                .and_then(|()| log.write_at(records_position, records))
        } else {
            log.write_through_file(position, &header)
                .and_then(|()| log.write_through_file(records_position, records))
        };
        written.map_err(StorageError::io(&self.log_path))?;
        let header = BatchHeader::parse(&header).ok_or(BatchError::ShortHeader {
            position,
            available: header.len(),
        })?;
        Ok((header.last_offset(), header.max_timestamp()))
    }

    /// Updates the indexes for a batch written at `position` (Kafka's rule: an entry each time
    /// more than `index.interval.bytes` were appended since the last one).
    pub(crate) fn index_batch(
        &self,
        position: usize,
        last_offset: i64,
        max_timestamp: i64,
        index_due: bool,
    ) -> Result<()> {
        if max_timestamp > self.max_timestamp() {
            self.max_timestamp.store(max_timestamp, Ordering::Release);
            self.offset_of_max_timestamp
                .store(last_offset, Ordering::Release);
        }
        if index_due {
            let files = self.files()?;
            files.offset_index.append(last_offset, position)?;
            files.time_index.maybe_append(
                self.max_timestamp(),
                self.offset_of_max_timestamp.load(Ordering::Acquire),
            )?;
        }
        Ok(())
    }

    /// Where the next append starts: what [`Segment::rewind`] goes back to.
    pub(crate) fn append_mark(&self) -> Result<AppendMark> {
        let files = self.files()?;
        Ok(AppendMark {
            size: self.size(),
            next_offset: self.next_offset(),
            max_timestamp: self.max_timestamp(),
            offset_of_max_timestamp: self.offset_of_max_timestamp.load(Ordering::Acquire),
            offset_entries: files.offset_index.file.len(),
            time_entries: files.time_index.file.len(),
        })
    }

    /// Cuts off what was written since `mark` (bytes, offsets and index entries), before the
    /// log end offset was published past it.
    pub(crate) fn rewind(&self, mark: &AppendMark) -> Result<()> {
        let files = self.files()?;
        files
            .offset_index
            .file
            .truncate_entries(mark.offset_entries);
        files.time_index.file.truncate_entries(mark.time_entries);
        self.max_timestamp
            .store(mark.max_timestamp, Ordering::Release);
        self.offset_of_max_timestamp
            .store(mark.offset_of_max_timestamp, Ordering::Release);
        self.commit(mark.size, mark.next_offset);
        Ok(())
    }

    /// Publishes the bytes up to `size` and offsets up to `next_offset` to readers.
    pub(crate) fn commit(&self, size: usize, next_offset: i64) {
        self.size.store(size, Ordering::Release);
        self.next_offset.store(next_offset, Ordering::Release);
    }

    /// The files for a read; `None` (logged) when they cannot be mapped.
    fn files_for_read(&self) -> Option<Arc<SegmentFiles>> {
        self.files()
            .inspect_err(|err| tracing::warn!(%err, "cannot map a segment for a read"))
            .ok()
    }

    /// Whole batches from the one holding `offset`, as a zero-copy view of the mapping: up to
    /// `max_bytes` bytes, but at least the first batch when `min_one` (KIP-74), and none that
    /// starts at or after `max_offset` (the high watermark or last stable offset: the reader
    /// never sees batches committed to the segment but not yet published). `None` when no
    /// batch of this segment holds `offset` or a later one.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Option<Bytes> {
        let files = self.files_for_read()?;
        let (first, rest) = files.find(self.size(), offset)?;
        if first.header.base_offset() >= max_offset || (first.bytes.len() > max_bytes && !min_one) {
            return Some(Bytes::new());
        }
        let mut end = first.position + first.bytes.len();
        for batch in rest {
            if batch.header.base_offset() >= max_offset {
                break;
            }
            let batch_end = batch.position + batch.bytes.len();
            if batch_end - first.position > max_bytes {
                break;
            }
            end = batch_end;
        }
        Some(mmap::bytes_of(&files.log, first.position, end))
    }

    /// Visits each committed batch from the one holding `from_offset`, in order, until `f`
    /// returns `Some`.
    pub(crate) fn find_batch<T>(
        &self,
        from_offset: i64,
        mut f: impl FnMut(Batch<'_>) -> Option<T>,
    ) -> Option<T> {
        let files = self.files_for_read()?;
        let (first, rest) = files.find(self.size(), from_offset)?;
        std::iter::once(first).chain(rest).find_map(&mut f)
    }

    /// The first offset at or after which a record's timestamp may be >= `timestamp`,
    /// according to the time index.
    pub(crate) fn time_lookup(&self, timestamp: i64) -> i64 {
        self.files_for_read()
            .and_then(|f| f.time_index.lookup(timestamp))
            .unwrap_or(self.base_offset)
    }

    /// Scans the `.log` from the start, keeping each batch whose length and CRC check out and
    /// whose offsets rise, rebuilding both indexes. Returns the valid length in bytes.
    pub(crate) fn recover(&self, index_interval_bytes: usize, limit: usize) -> Result<usize> {
        let files = self.files()?;
        files.offset_index.file.clear();
        files.time_index.file.clear();
        self.max_timestamp.store(-1, Ordering::Release);
        let mut position = 0usize;
        let mut next_offset = self.base_offset;
        let mut since_index = 0usize;
        let limit = limit.min(files.log.capacity());
        for batch in Batches::checked(files.log.slice(0, limit), Check::Stored) {
            let header = batch.header;
            if header.base_offset() < next_offset
                || header.last_offset() - self.base_offset > i64::from(i32::MAX)
            {
                break;
            }
            let due = since_index > index_interval_bytes;
            self.index_batch(
                batch.position,
                header.last_offset(),
                header.max_timestamp(),
                due,
            )?;
            since_index = if due { 0 } else { since_index } + batch.bytes.len();
            next_offset = header.last_offset() + 1;
            position = batch.position + batch.bytes.len();
        }
        self.commit(position, next_offset);
        Ok(position)
    }

    /// After opening with trusted sizes: finds the next offset by scanning from the last
    /// offset index entry. Returns false if the tail does not parse.
    pub(crate) fn load_tail(&self) -> bool {
        let Some(files) = self.files_for_read() else {
            return false;
        };
        let (position, mut next_offset) = match files.offset_index.file.len().checked_sub(1) {
            Some(last) => {
                let (_, position) = files.offset_index.get(last);
                (position, self.base_offset)
            }
            None => (0, self.base_offset),
        };
        let mut batches = files.batches_from(self.size(), position);
        for Batch { header, .. } in batches.by_ref() {
            // Base offsets lie outside the CRC: offsets that run backwards or past what the
            // index can hold mean the tail cannot be trusted, as `recover` would find.
            let last_offset = header
                .base_offset()
                .checked_add(i64::from(header.last_offset_delta()));
            let Some(last_offset) = last_offset.filter(|last| {
                header.base_offset() >= next_offset
                    && *last >= header.base_offset()
                    && last
                        .checked_sub(self.base_offset)
                        .is_some_and(|relative| relative <= i64::from(i32::MAX))
            }) else {
                return false;
            };
            next_offset = last_offset + 1;
            if header.max_timestamp() > self.max_timestamp() {
                self.max_timestamp
                    .store(header.max_timestamp(), Ordering::Release);
                self.offset_of_max_timestamp
                    .store(last_offset, Ordering::Release);
            }
        }
        self.next_offset.store(next_offset, Ordering::Release);
        batches.finish() == Ok(self.size())
    }

    /// Whether both indexes are consistent with the log.
    pub(crate) fn indexes_sane(&self) -> bool {
        self.files_for_read()
            .is_some_and(|f| f.offset_index.is_sane(self.size()) && f.time_index.is_sane())
    }

    /// Closes the segment to appends: adds the final time index entry and trims the `.log`
    /// and indexes to their contents, as Kafka does when it rolls a segment.
    pub(crate) fn seal(&self) -> Result<()> {
        let files = self.files()?;
        let _ = files.time_index.maybe_append(
            self.max_timestamp(),
            self.offset_of_max_timestamp.load(Ordering::Acquire),
        )?;
        files.offset_index.file.trim()?;
        files.time_index.file.trim()?;
        files
            .log
            .set_file_len(self.size())
            .map_err(StorageError::io(&self.log_path))?;
        // A sealed segment takes no more appends: it needs no descriptor, and its mappings
        // may go once unused.
        files.log.release_fd();
        self.active.store(false, Ordering::Release);
        Ok(())
    }

    /// Writes the committed bytes and index entries to disk and waits for it.
    pub(crate) fn flush(&self) -> Result<()> {
        let files = self.files()?;
        files
            .log
            .flush_range(0, self.size())
            .map_err(StorageError::io(&self.log_path))?;
        files.offset_index.file.flush()?;
        files.time_index.file.flush()?;
        files.log.sync().map_err(StorageError::io(&self.log_path))?;
        crate::durable::power_loss::file_synced(&self.log_path);
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.log_path
    }

    /// The `.log` file's modification time, ms since the epoch (0 when unknown).
    pub(crate) fn last_modified_ms(&self) -> i64 {
        std::fs::metadata(&self.log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Sets the `.log` file's modification time (ms since the epoch).
    pub(crate) fn set_last_modified_ms(&self, ms: i64) -> Result<()> {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        self.files()?
            .log
            .set_modified(time)
            .map_err(StorageError::io(&self.log_path))
    }

    /// The segment's age for retention: its newest record's timestamp, or the file's
    /// modification time when no record has one (Kafka's `LogSegment.largestTimestamp`).
    pub fn largest_timestamp(&self) -> i64 {
        match self.max_timestamp() {
            t if t >= 0 => t,
            _ => self.last_modified_ms(),
        }
    }

    /// The max timestamp of the first batch, if any.
    pub(crate) fn first_batch_max_timestamp(&self) -> Option<i64> {
        self.files_for_read()?
            .batches_from(self.size(), 0)
            .next()
            .map(|batch| batch.header.max_timestamp())
    }

    /// Calls `f` with each committed batch, in order.
    pub(crate) fn for_each_batch(&self, mut f: impl FnMut(Batch<'_>) -> Result<()>) -> Result<()> {
        self.files()?
            .batches_from(self.size(), 0)
            .try_for_each(&mut f)
    }

    /// Appends a batch that already carries its final offsets (the cleaner's output),
    /// indexing it as an append would. `bytes_since_index` carries the index interval.
    pub(crate) fn append_stored(
        &self,
        bytes: &[u8],
        index_interval_bytes: usize,
        bytes_since_index: &mut usize,
    ) -> Result<()> {
        let header = BatchHeader::parse(bytes).ok_or(BatchError::ShortHeader {
            position: 0,
            available: bytes.len(),
        })?;
        let position = self.size();
        self.files()?
            .log
            .write_through_file(position, bytes)
            .map_err(StorageError::io(&self.log_path))?;
        let due = *bytes_since_index > index_interval_bytes;
        self.index_batch(position, header.last_offset(), header.max_timestamp(), due)?;
        *bytes_since_index = if due { 0 } else { *bytes_since_index } + bytes.len();
        self.commit(position + bytes.len(), header.last_offset() + 1);
        Ok(())
    }
}
