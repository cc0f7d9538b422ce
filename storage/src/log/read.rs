//! Reads: whole batches as zero-copy views of the segment mappings, and timestamp look-ups.
//!
//! References: Kafka's `UnifiedLog.read` and `fetchOffsetByTimestamp`; KIP-74 (fetch sizes),
//! KIP-734 (MAX_TIMESTAMP).

use std::sync::Arc;

use bytes::Bytes;

use super::PartitionLog;
use crate::batch::{self, Batch, RecordIter};
use crate::error::{Result, StorageError};
use crate::segment::Segment;

impl PartitionLog {
    /// Reads whole batches from the one holding `offset`: at most `max_bytes` bytes, but at
    /// least one batch when `min_one` (KIP-74), and only batches below the high watermark. The
    /// result is a zero-copy view of the segment mapping, empty at the high watermark.
    ///
    /// Errors: `OffsetOutOfRange` when `offset` is below the log start offset or above the log
    /// end offset.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes> {
        self.read_below(offset, max_bytes, min_one, i64::MAX)
    }

    /// [`PartitionLog::read`] that stops before the first batch starting at or after
    /// `max_offset` or the high watermark, whichever is lower: a read_uncommitted fetch passes
    /// the high watermark it answers with, a read_committed one the last stable offset
    /// (Kafka's `FetchIsolation`). Bytes a concurrent append has copied into the segment but
    /// not yet published are never returned.
    ///
    /// Errors: `OffsetOutOfRange` as `read`.
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        max_offset: i64,
    ) -> Result<Bytes> {
        // The high watermark is published after the bytes below it are in place (Release /
        // Acquire), so every batch below it is whole in the mapping.
        let high_watermark = self.high_watermark();
        let log_end_offset = self.log_end_offset();
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let max_offset = max_offset.min(high_watermark);
        if offset >= max_offset {
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
            if let Some(bytes) = segment.read(offset, max_bytes, min_one, max_offset) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use crate::batch::{self, BatchHeader};
    use crate::{LogConfig, LogDir, PartitionLog, TopicPartition};

    fn records(value: &[u8]) -> Vec<u8> {
        batch::build_batch(&[(crate::now_ms(), None, Some(value))])
    }

    #[test]
    fn reads_stop_at_the_high_watermark_not_at_the_segment_end(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        let log = PartitionLog::open(
            &log_dir,
            &TopicPartition::new("orders", 0),
            LogConfig::default(),
            true,
        )?;
        log.append(&records(b"published"), 0)?;
        // A second batch copied into the segment (as an append does before it publishes the
        // new log end offset), but not published.
        {
            let mut writer = log.lock_writer();
            let config = log.config();
            let next =
                log.write_batches(&mut writer, &config, &records(b"unpublished"), 0, None, 0)?;
            assert_eq!(next, 2);
        }
        assert_eq!(log.high_watermark(), 1);
        let bytes = log.read(0, 1 << 20, true)?;
        assert_eq!(BatchHeader::parse(&bytes).map(|h| h.base_offset()), Some(0));
        assert_eq!(
            BatchHeader::parse(&bytes).map(|h| h.batch_length()),
            Some(bytes.len() as i32 - 12)
        );
        assert!(log.read(1, 1 << 20, true)?.is_empty());
        assert!(log.read_below(0, 1 << 20, true, 0)?.is_empty());
        assert!(matches!(
            log.read(2, 1 << 20, true),
            Err(crate::StorageError::OffsetOutOfRange { .. })
        ));
        Ok(())
    }
}
