//! Opening segments: trusted after a clean shutdown, re-read after an unclean one (Kafka's
//! rule: the last segment is scanned and cut at the first bad batch; indexes of other
//! segments are rebuilt when missing or inconsistent).
//!
//! References: Kafka's `LogLoader`; storage/FORMAT.md "Recovery".
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use super::{LogConfig, PartitionLog};
use crate::error::{Result, StorageError};
use crate::segment::index::{IndexFile, OFFSET_ENTRY, TIME_ENTRY};
use crate::segment::{file_name, Segment};

impl PartitionLog {
    /// Opens the closed segment at `base` as written (the cleaner's swapped-in output).
    pub(crate) fn open_closed_segment(&self, base: i64) -> Result<Segment> {
        Self::open_segment(&self.dir, base, &self.config(), false, true)
    }

    pub(super) fn open_segment(
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
