//! Retention (`retention.ms`, `retention.bytes`) and DeleteRecords: whole segments go,
//! oldest first, and the log start offset moves.
//!
//! References: Kafka's `UnifiedLog.deleteOldSegments`; KIP-107 (DeleteRecords).

use std::sync::atomic::Ordering;

use super::PartitionLog;
use crate::error::{Result, StorageError};
use crate::segment::file_name;
use crate::segment::files::SEGMENT_SUFFIXES;
use crate::time::{duration_ms, now_ms};

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

impl PartitionLog {
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
    pub(super) fn delete_oldest_segments(
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
        let due = writer.roll_flush_due.take();
        drop(writer);
        self.flush_rolled(due)?;
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
}
