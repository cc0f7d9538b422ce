//! Log compaction: keep the last record per key in the closed segments of a compacted log.
//!
//! One pass over a partition ([`PartitionLog::clean`]):
//! 1. The cleanable range is the closed segments from the log start, up to the first segment
//!    that reaches the last stable offset or is younger than `min.compaction.lag.ms`. The
//!    dirty part of it starts at the cleaner checkpoint ([`PartitionLog::first_dirty_offset`]).
//! 2. The pass runs when the dirty bytes are at least `min.cleanable.dirty.ratio` of the
//!    range, when the oldest dirty record is older than `max.compaction.lag.ms`, or when a
//!    tombstone kept by an earlier pass has outlived `delete.retention.ms`.
//! 3. A map of key -> last offset is built over the dirty part (records of aborted
//!    transactions and control batches are not keys).
//! 4. The whole range is rewritten, a group of consecutive segments (at most `segment.bytes`)
//!    at a time, into new files under `.cleaner/`: a record stays when its offset is the last
//!    of its key; records without a key and records of aborted transactions go; a tombstone
//!    (and a transaction marker whose transaction kept no record) goes only once it lies in
//!    an already cleaned segment older than `delete.retention.ms`. Batches keep their base
//!    offset and last offset delta, so offsets never change; a batch that loses some records
//!    is rebuilt with the same codec, one that loses all disappears.
//! 5. The new files are swapped in: each is renamed to `<name>.swap`, `.log` last (the commit
//!    point), the old segments' files are removed and the `.swap` files renamed to their final
//!    names. At open, `recover_swap` (`segment/swap.rs`) finishes or discards a swap that a
//!    crash interrupted, so the old segments stay intact until the new ones are complete.
//!
//! References: Kafka documentation section 4.8 "Log Compaction"; Kafka's `LogCleaner`;
//! KIP-58 (min.compaction.lag.ms), KIP-354 (max.compaction.lag.ms), KIP-98 (markers).
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::batch::{self, Batch, BatchHeader, RecordIter};
use crate::error::{Result, StorageError};
use crate::log::PartitionLog;
use crate::producer_state::AbortedTransaction;
use crate::segment::files::{CLEANER_DIR, SEGMENT_SUFFIXES, SWAP_SUFFIX, TXN_INDEX_SUFFIX};
use crate::segment::swap::{finish_swap, sync_dir};
use crate::segment::{file_name, Segment};
use crate::time::duration_ms;

/// What one cleaning pass did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CleanerStats {
    /// Segments read.
    pub segments_read: usize,
    /// Segments written.
    pub segments_written: usize,
    /// Bytes read from the cleanable range.
    pub bytes_read: u64,
    /// Bytes of the segments written.
    pub bytes_written: u64,
    /// Records read.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Wall time of the pass, seconds.
    pub elapsed_secs: f64,
    /// The cleaner checkpoint after the pass.
    pub first_dirty_offset: i64,
}

/// A transactional batch's place among the aborted transactions.
struct AbortedIndex(HashMap<i64, Vec<(i64, i64)>>);

impl AbortedIndex {
    fn new(aborted: &[AbortedTransaction]) -> Self {
        let mut map: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for a in aborted {
            map.entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        Self(map)
    }

    /// Whether the transactional batch of `producer_id` at `offset` was aborted.
    fn contains(&self, producer_id: i64, offset: i64) -> bool {
        self.0.get(&producer_id).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|(first, marker)| *first <= offset && offset < *marker)
        })
    }
}

/// Whether the records of `bytes` (one batch) are data that compaction judges per key.
fn is_aborted(header: &BatchHeader<'_>, aborted: &AbortedIndex) -> bool {
    header.is_transactional() && aborted.contains(header.producer_id(), header.base_offset())
}

/// Why a record stays or goes, decided per pass.
struct Retainer<'a> {
    /// Last offset of each key in the dirty range.
    last_offsets: &'a HashMap<Vec<u8>, i64>,
    aborted: &'a AbortedIndex,
    now: i64,
    delete_retention: i64,
    first_dirty_offset: i64,
    /// Per producer: whether its current transaction kept a record so far.
    transaction_kept: HashMap<i64, bool>,
    /// When the earliest kept tombstone or marker may go.
    expiry: i64,
    /// For the segment being read: whether its tombstones may go, else when they may.
    segment_expired: bool,
    segment_expires: i64,
}

/// The output of one batch.
enum Outcome {
    Keep,
    Rebuild(Vec<u8>),
    Drop,
}

impl Retainer<'_> {
    /// Starts reading `segment`: a tombstone or an emptied transaction's marker in it may go
    /// when the segment was cleaned before (below the checkpoint) and is older than
    /// `delete.retention.ms`; one seen for the first time waits that long from now.
    fn enter(&mut self, segment: &Segment) {
        let cleaned_before = segment.base_offset() < self.first_dirty_offset;
        let since = if cleaned_before {
            segment.last_modified_ms()
        } else {
            self.now
        };
        self.segment_expires = since.saturating_add(self.delete_retention);
        self.segment_expired = cleaned_before && self.segment_expires <= self.now;
    }

    /// Whether a tombstone or emptied marker of the current segment may go; notes when it
    /// may otherwise.
    fn may_remove_delete_marker(&mut self) -> bool {
        if !self.segment_expired {
            self.expiry = self.expiry.min(self.segment_expires);
        }
        self.segment_expired
    }

    fn judge(&mut self, segment: &Segment, batch: Batch<'_>) -> Result<(Outcome, u64, u64)> {
        let Batch { header, bytes, .. } = batch;
        let count = u64::try_from(header.records_count()).unwrap_or(0);
        if header.is_control() {
            let kept = self
                .transaction_kept
                .remove(&header.producer_id())
                .unwrap_or(false);
            if !kept && self.may_remove_delete_marker() {
                return Ok((Outcome::Drop, count, 0));
            }
            return Ok((Outcome::Keep, count, count));
        }
        if is_aborted(&header, self.aborted) {
            self.transaction_kept
                .entry(header.producer_id())
                .or_insert(false);
            return Ok((Outcome::Drop, count, 0));
        }
        let section = batch::records_section(bytes).map_err(|reason| StorageError::Damaged {
            path: segment.path().to_path_buf(),
            reason: format!("batch at offset {}: {reason}", header.base_offset()),
        })?;
        let mut kept_records = Vec::new();
        let mut kept = 0u64;
        let mut read = 0u64;
        let mut records = RecordIter::new(&section);
        while let Some(record) = records.next_raw() {
            let (raw, record) = record.map_err(|reason| StorageError::Damaged {
                path: segment.path().to_path_buf(),
                reason: format!("batch at offset {}: {reason}", header.base_offset()),
            })?;
            read += 1;
            let offset = header.base_offset() + record.offset_delta;
            let Some(key) = record.key else { continue };
            if self
                .last_offsets
                .get(key)
                .is_some_and(|last| *last > offset)
            {
                continue;
            }
            if record.value.is_none() && self.may_remove_delete_marker() {
                continue;
            }
            kept += 1;
            kept_records.extend_from_slice(raw);
        }
        if header.is_transactional() {
            *self
                .transaction_kept
                .entry(header.producer_id())
                .or_insert(false) |= kept > 0;
        }
        let outcome = if kept == read {
            Outcome::Keep
        } else if kept == 0 {
            Outcome::Drop
        } else {
            let count = i32::try_from(kept).unwrap_or(i32::MAX);
            let rebuilt = batch::rebuild_batch(bytes, &kept_records, count).map_err(|reason| {
                StorageError::Damaged {
                    path: segment.path().to_path_buf(),
                    reason: format!(
                        "rebuilding batch at offset {}: {reason}",
                        header.base_offset()
                    ),
                }
            })?;
            Outcome::Rebuild(rebuilt)
        };
        Ok((outcome, read, kept))
    }
}

impl PartitionLog {
    /// Runs one cleaning pass when the log is compacted and cleanable (see the module
    /// documentation). Returns `None` when there was nothing to do.
    ///
    /// Errors: `Io` for file operations, `Damaged` for a batch that does not decode; the old
    /// segments are intact after any error.
    pub fn clean(&self, now_ms: i64) -> Result<Option<CleanerStats>> {
        let config = self.config();
        if !config.cleanup_compact {
            return Ok(None);
        }
        let _maintenance = self.lock_maintenance();
        let started = Instant::now();
        let segments = self.all_segments();
        let last_stable_offset = self.last_stable_offset();
        let min_lag = duration_ms(config.min_compaction_lag);
        let mut cleanable: Vec<Arc<Segment>> = Vec::new();
        for pair in segments.windows(2) {
            let (Some(segment), Some(next)) = (pair.first(), pair.get(1)) else {
                break;
            };
            if next.base_offset() > last_stable_offset
                || (min_lag > 0 && now_ms.saturating_sub(segment.largest_timestamp()) < min_lag)
            {
                break;
            }
            cleanable.push(Arc::clone(segment));
        }
        let Some(end_offset) = segments
            .get(cleanable.len())
            .map(|s| s.base_offset())
            .filter(|_| !cleanable.is_empty())
        else {
            return Ok(None);
        };
        let first_dirty_offset = self.first_dirty_offset();
        let (dirty, clean): (Vec<&Arc<Segment>>, Vec<&Arc<Segment>>) = cleanable
            .iter()
            .partition(|s| s.base_offset() >= first_dirty_offset);
        let dirty_bytes: u64 = dirty.iter().map(|s| s.size() as u64).sum();
        let clean_bytes: u64 = clean.iter().map(|s| s.size() as u64).sum();
        let ratio = if dirty_bytes + clean_bytes == 0 {
            0.0
        } else {
            dirty_bytes as f64 / (dirty_bytes + clean_bytes) as f64
        };
        let oldest_dirty = dirty
            .first()
            .map(|s| first_batch_timestamp(s))
            .unwrap_or(i64::MAX);
        let due = (dirty_bytes > 0
            && (ratio >= config.min_cleanable_dirty_ratio
                || now_ms.saturating_sub(oldest_dirty) > duration_ms(config.max_compaction_lag)))
            || self.tombstone_expiry.load(Ordering::Acquire) <= now_ms;
        if !due {
            return Ok(None);
        }

        let start_offset = cleanable.first().map_or(end_offset, |s| s.base_offset());
        let aborted_list = self.aborted_transactions(start_offset, end_offset);
        let aborted = AbortedIndex::new(&aborted_list);
        let last_offsets = build_offset_map(&dirty, &aborted)?;
        let mut retainer = Retainer {
            last_offsets: &last_offsets,
            aborted: &aborted,
            now: now_ms,
            delete_retention: duration_ms(config.delete_retention),
            first_dirty_offset,
            transaction_kept: HashMap::new(),
            expiry: i64::MAX,
            segment_expired: false,
            segment_expires: i64::MAX,
        };
        let mut stats = CleanerStats {
            segments_read: cleanable.len(),
            ..CleanerStats::default()
        };
        let work = self.dir.join(CLEANER_DIR);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(StorageError::io(&work))?;
        let mut removed_markers = HashSet::new();
        for group in groups(&cleanable, end_offset, config.segment_bytes) {
            let written = self.clean_group(
                group,
                &work,
                &mut retainer,
                &aborted_list,
                &mut removed_markers,
                &mut stats,
            );
            if let Err(err) = written {
                let _ = std::fs::remove_dir_all(&work);
                return Err(err);
            }
        }
        let _ = std::fs::remove_dir_all(&work);
        if !removed_markers.is_empty() {
            if let Ok(mut aborted) = self.aborted.write() {
                aborted.retain(|a| !removed_markers.contains(&a.last_offset));
            }
        }
        self.first_dirty_offset
            .fetch_max(end_offset, Ordering::AcqRel);
        self.tombstone_expiry
            .store(retainer.expiry, Ordering::Release);
        stats.first_dirty_offset = self.first_dirty_offset();
        stats.elapsed_secs = started.elapsed().as_secs_f64();
        tracing::info!(
            dir = %self.dir.display(),
            segments = stats.segments_read,
            bytes_read = stats.bytes_read,
            bytes_written = stats.bytes_written,
            records_kept = stats.records_kept,
            records_read = stats.records_read,
            "cleaned log"
        );
        Ok(Some(stats))
    }

    /// Rewrites one group of segments and swaps
    /// the result in. A single segment that would come out unchanged is left alone.
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &self,
        group: &[Arc<Segment>],
        work: &Path,
        retainer: &mut Retainer<'_>,
        aborted_list: &[AbortedTransaction],
        removed_markers: &mut HashSet<i64>,
        stats: &mut CleanerStats,
    ) -> Result<()> {
        let config = self.config();
        let Some(first) = group.first() else {
            return Ok(());
        };
        let base = first.base_offset();
        let capacity: usize = group.iter().map(|s| s.size()).sum::<usize>() + (1 << 20);
        let output = Segment::create(work, base, capacity, config.segment_index_bytes, 0)?;
        let mut since_index = 0usize;
        let mut changed = group.len() > 1;
        let mut kept_markers = HashSet::new();
        let mut newest_source = 0i64;
        for segment in group {
            stats.bytes_read += segment.size() as u64;
            let cleaned_before = segment.base_offset() < retainer.first_dirty_offset;
            newest_source = newest_source.max(if cleaned_before {
                segment.last_modified_ms()
            } else {
                retainer.now
            });
            retainer.enter(segment);
            segment.for_each_batch(|batch| {
                let bytes = batch.bytes;
                let (outcome, read, kept) = retainer.judge(segment, batch)?;
                stats.records_read += read;
                stats.records_kept += kept;
                let is_marker = batch.header.is_control();
                let offset = batch.header.base_offset();
                match outcome {
                    Outcome::Keep => {
                        if is_marker {
                            kept_markers.insert(offset);
                        }
                        output.append_stored(bytes, config.index_interval_bytes, &mut since_index)
                    }
                    Outcome::Rebuild(rebuilt) => {
                        changed = true;
                        output.append_stored(
                            &rebuilt,
                            config.index_interval_bytes,
                            &mut since_index,
                        )
                    }
                    Outcome::Drop => {
                        changed = true;
                        if is_marker {
                            removed_markers.insert(offset);
                        }
                        Ok(())
                    }
                }
            })?;
        }
        if !changed {
            drop(output);
            for suffix in SEGMENT_SUFFIXES {
                let _ = std::fs::remove_file(work.join(file_name(base, suffix)));
            }
            stats.bytes_written += first.size() as u64;
            return Ok(());
        }
        output.seal()?;
        output.flush()?;
        output.set_last_modified_ms(newest_source)?;
        stats.bytes_written += output.size() as u64;
        stats.segments_written += 1;
        drop(output);
        let txn_entries: Vec<u8> = aborted_list
            .iter()
            .filter(|a| kept_markers.contains(&a.last_offset))
            .flat_map(|a| a.encode())
            .collect();
        if !txn_entries.is_empty() {
            let path = work.join(file_name(base, TXN_INDEX_SUFFIX));
            crate::durable::write_synced(&path, &txn_entries).map_err(StorageError::io(&path))?;
        }
        self.swap_in(group, work, base)
    }

    /// Replaces the segments of `group` by the cleaned segment `base` built in `work`.
    fn swap_in(&self, group: &[Arc<Segment>], work: &Path, base: i64) -> Result<()> {
        // Indexes first, the .log last: its .swap is the commit point for recovery.
        for suffix in SEGMENT_SUFFIXES.iter().rev() {
            let from = work.join(file_name(base, suffix));
            if !from.exists() {
                continue;
            }
            let to = self
                .dir
                .join(format!("{}{SWAP_SUFFIX}", file_name(base, suffix)));
            std::fs::rename(&from, &to).map_err(StorageError::io(&to))?;
        }
        sync_dir(&self.dir)?;
        for segment in group {
            self.remove_segment_files(segment.base_offset())?;
        }
        finish_swap(&self.dir, base)?;
        let replacement = Arc::new(self.open_closed_segment(base)?);
        if let Ok(mut segments) = self.segments.write() {
            for segment in group {
                segments.remove(&segment.base_offset());
            }
            segments.insert(base, replacement);
        }
        Ok(())
    }
}

/// The timestamp of a segment's first batch (for `max.compaction.lag.ms`), or its age.
fn first_batch_timestamp(segment: &Segment) -> i64 {
    segment
        .first_batch_max_timestamp()
        .filter(|t| *t >= 0)
        .unwrap_or_else(|| segment.largest_timestamp())
}

/// The last offset of every key in the `dirty` segments.
fn build_offset_map(
    dirty: &[&Arc<Segment>],
    aborted: &AbortedIndex,
) -> Result<HashMap<Vec<u8>, i64>> {
    let mut map: HashMap<Vec<u8>, i64> = HashMap::new();
    for segment in dirty {
        segment.for_each_batch(|Batch { header, bytes, .. }| {
            if header.is_control() || is_aborted(&header, aborted) {
                return Ok(());
            }
            let section =
                batch::records_section(bytes).map_err(|reason| StorageError::Damaged {
                    path: segment.path().to_path_buf(),
                    reason: format!("batch at offset {}: {reason}", header.base_offset()),
                })?;
            for record in RecordIter::new(&section) {
                let record = record.map_err(|reason| StorageError::Damaged {
                    path: segment.path().to_path_buf(),
                    reason: format!("batch at offset {}: {reason}", header.base_offset()),
                })?;
                if let Some(key) = record.key {
                    let offset = header.base_offset() + record.offset_delta;
                    match map.get_mut(key) {
                        Some(last) => *last = offset,
                        None => {
                            map.insert(key.to_vec(), offset);
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(map)
}

/// Splits `segments` into runs of consecutive segments whose sizes add up to at most
/// `max_bytes` (at least one each) and whose offsets fit a segment.
fn groups(segments: &[Arc<Segment>], end_offset: i64, max_bytes: usize) -> Vec<&[Arc<Segment>]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let Some(first) = segments.get(start) else {
            break;
        };
        let mut end = start + 1;
        let mut bytes = first.size();
        while let Some(next) = segments.get(end) {
            let next_end = segments
                .get(end + 1)
                .map_or(end_offset, |s| s.base_offset());
            if bytes + next.size() > max_bytes
                || next_end - first.base_offset() > i64::from(i32::MAX)
            {
                break;
            }
            bytes += next.size();
            end += 1;
        }
        if let Some(group) = segments.get(start..end) {
            out.push(group);
        }
        start = end;
    }
    out
}
