//! Reads: whole batches as zero-copy views of the segment mappings, and timestamp look-ups.
//!
//! References: Kafka's `UnifiedLog.read` and `fetchOffsetByTimestamp`; KIP-74 (fetch sizes),
//! KIP-734 (MAX_TIMESTAMP).

use std::sync::Arc;

use bytes::Bytes;

use super::PartitionLog;
use crate::batch::{self, Batch, Batches, RecordIter};
use crate::error::{Result, StorageError};
use crate::segment::Segment;

impl PartitionLog {
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
        let end = Batches::new(&bytes)
            .take_while(|batch| batch.header.base_offset() < max_offset)
            .last()
            .map_or(0, |batch| batch.position + batch.bytes.len());
        Ok(bytes.slice(..end))
    }

    pub(super) fn read_range(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes> {
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
            let found = segment.find_batch(from, |batch| {
                if batch.header.max_timestamp() < timestamp {
                    return None;
                }
                first_record_where(batch, |t| t >= timestamp)
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
        best.find_batch(best.base_offset(), |batch| {
            if batch.header.max_timestamp() != max {
                return None;
            }
            first_record_where(batch, |t| t == max)
        })
    }
}

/// The first record of a batch whose timestamp satisfies `pred`, as (offset, timestamp).
fn first_record_where(batch: Batch<'_>, pred: impl Fn(i64) -> bool) -> Option<(i64, i64)> {
    let Batch { header, bytes, .. } = batch;
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
