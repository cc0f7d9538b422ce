//! Sparse index files: `.index` (offset -> position) and `.timeindex` (timestamp -> offset).
//!
//! Entries are big-endian and fixed-size as in Apache Kafka: an offset index entry is the
//! relative offset (i32) then the byte position in the `.log` (i32); a time index entry is the
//! timestamp (i64, ms) then the relative offset (i32). The active segment's index files are
//! preallocated to `segment.index.bytes` and trimmed to their entries when the segment closes.
//!
//! References: Kafka's `OffsetIndex` and `TimeIndex` (storage module), KIP-33.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::mmap::MappedFile;
use crate::batch::{be_i32, be_i64};
use crate::error::{Result, StorageError};

/// A file of fixed-size entries, appended by the writer and binary-searched by readers.
#[derive(Debug)]
pub(crate) struct IndexFile {
    path: PathBuf,
    file: MappedFile,
    entry_size: usize,
    /// Entries published to readers (release on write, acquire on read).
    entries: AtomicUsize,
}

impl IndexFile {
    /// Opens `path`, keeping `entries` existing entries, and makes room for `capacity` bytes.
    pub(crate) fn open(
        path: &Path,
        entry_size: usize,
        capacity: usize,
        entries: usize,
    ) -> Result<Self> {
        let file = MappedFile::open(path, capacity, super::mmap::INDEX_ALLOCATION_CHUNK, false)
            .map_err(StorageError::io(path))?;
        let entries = entries.min(file.capacity() / entry_size);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entry_size,
            entries: AtomicUsize::new(entries),
        })
    }

    /// Entries a file of `len` bytes holds.
    pub(crate) fn entries_in(len: u64, entry_size: usize) -> usize {
        usize::try_from(len).unwrap_or(usize::MAX) / entry_size
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    pub(crate) fn is_full(&self) -> bool {
        (self.len() + 1) * self.entry_size > self.file.capacity()
    }

    fn entry(&self, i: usize) -> &[u8] {
        self.file
            .slice(i * self.entry_size, (i + 1) * self.entry_size)
    }

    /// Appends one entry; returns false when the file is full.
    pub(crate) fn push(&self, entry: &[u8]) -> Result<bool> {
        debug_assert_eq!(entry.len(), self.entry_size);
        if self.is_full() {
            return Ok(false);
        }
        let n = self.len();
        self.file
            .write_at(n * self.entry_size, entry)
            .map_err(StorageError::io(&self.path))?;
        self.entries.store(n + 1, Ordering::Release);
        Ok(true)
    }

    /// Forgets the entries from the `len`th on (an append that failed part way, before the
    /// log end offset reached them).
    pub(crate) fn truncate_entries(&self, len: usize) {
        self.entries.fetch_min(len, Ordering::AcqRel);
    }

    /// Forgets all entries (recovery only, before readers exist).
    pub(crate) fn clear(&self) {
        self.entries.store(0, Ordering::Release);
    }

    /// Index of the last entry whose key is <= `target`, by binary search; `key` reads an
    /// entry's key.
    fn floor(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Option<usize> {
        let n = self.len();
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    pub(crate) fn trim(&self) -> Result<()> {
        self.file
            .set_file_len(self.len() * self.entry_size)
            .map_err(StorageError::io(&self.path))
    }

    /// Writes the entries to disk and waits (`msync`, which on Linux syncs the file's pages
    /// like `fsync`).
    pub(crate) fn flush(&self) -> Result<()> {
        self.file
            .flush_range(0, self.len() * self.entry_size)
            .map_err(StorageError::io(&self.path))?;
        crate::durable::power_loss::file_synced(&self.path);
        Ok(())
    }
}

/// `.index`: maps a batch's last offset to the byte position where the batch starts.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    pub(crate) file: IndexFile,
    base_offset: i64,
}

/// Bytes of one `.index` entry.
pub(crate) const OFFSET_ENTRY: usize = 8;
/// Bytes of one `.timeindex` entry.
pub(crate) const TIME_ENTRY: usize = 12;

impl OffsetIndex {
    pub(crate) fn new(file: IndexFile, base_offset: i64) -> Self {
        Self { file, base_offset }
    }

    /// The entry at `i` as (offset, position).
    pub(crate) fn get(&self, i: usize) -> (i64, usize) {
        let e = self.file.entry(i);
        (
            self.base_offset + i64::from(be_i32(e, 0)),
            be_i32(e, 4).max(0) as usize,
        )
    }

    /// The position of a batch at or before the batch holding `offset`: 0 when no entry is
    /// at or below it.
    pub(crate) fn lookup(&self, offset: i64) -> usize {
        let base = self.base_offset;
        self.file
            .floor(offset, |e| base + i64::from(be_i32(e, 0)))
            .map_or(0, |i| self.get(i).1)
    }

    pub(crate) fn append(&self, offset: i64, position: usize) -> Result<bool> {
        let mut entry = [0u8; OFFSET_ENTRY];
        entry[..4].copy_from_slice(&((offset - self.base_offset) as i32).to_be_bytes());
        entry[4..].copy_from_slice(&(position as i32).to_be_bytes());
        self.file.push(&entry)
    }

    /// Whether the entries rise strictly and point inside a log of `log_size` bytes.
    pub(crate) fn is_sane(&self, log_size: usize) -> bool {
        let mut previous: Option<(i64, usize)> = None;
        for i in 0..self.file.len() {
            let (offset, position) = self.get(i);
            if position >= log_size.max(1) || offset < self.base_offset {
                return false;
            }
            if let Some((o, p)) = previous {
                if offset <= o || position <= p {
                    return false;
                }
            }
            previous = Some((offset, position));
        }
        true
    }
}

/// `.timeindex`: maps a timestamp to the offset of the batch that reached it.
#[derive(Debug)]
pub(crate) struct TimeIndex {
    pub(crate) file: IndexFile,
    base_offset: i64,
}

impl TimeIndex {
    pub(crate) fn new(file: IndexFile, base_offset: i64) -> Self {
        Self { file, base_offset }
    }

    /// The entry at `i` as (timestamp, offset).
    pub(crate) fn get(&self, i: usize) -> (i64, i64) {
        let e = self.file.entry(i);
        (be_i64(e, 0), self.base_offset + i64::from(be_i32(e, 8)))
    }

    pub(crate) fn last(&self) -> Option<(i64, i64)> {
        self.file.len().checked_sub(1).map(|i| self.get(i))
    }

    /// The offset of the last entry whose timestamp is <= `timestamp`.
    pub(crate) fn lookup(&self, timestamp: i64) -> Option<i64> {
        self.file
            .floor(timestamp, |e| be_i64(e, 0))
            .map(|i| self.get(i).1)
    }

    /// Appends (timestamp, offset) if the timestamp rises past the last entry, as Kafka's
    /// `maybeAppend`.
    pub(crate) fn maybe_append(&self, timestamp: i64, offset: i64) -> Result<bool> {
        if timestamp < 0 || self.last().is_some_and(|(t, _)| timestamp <= t) {
            return Ok(false);
        }
        let mut entry = [0u8; TIME_ENTRY];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&((offset - self.base_offset) as i32).to_be_bytes());
        self.file.push(&entry)
    }

    pub(crate) fn is_sane(&self) -> bool {
        let mut previous: Option<(i64, i64)> = None;
        for i in 0..self.file.len() {
            let (t, o) = self.get(i);
            if o < self.base_offset || previous.is_some_and(|(pt, po)| t <= pt || o < po) {
                return false;
            }
            previous = Some((t, o));
        }
        true
    }
}
