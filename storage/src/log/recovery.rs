//! Opening segments: trusted after a clean shutdown, and below the recovery point after an
//! unclean one; every segment at or above the recovery point is re-read (Kafka's rule: the
//! log is cut at the first bad batch and later segments are deleted). Indexes of trusted
//! segments are rebuilt when missing or inconsistent. Damage never stops the open.
//!
//! References: Kafka's `LogLoader.recoverLog`; storage/FORMAT.md "Recovery".
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use super::{LogConfig, PartitionLog};
use crate::error::{Result, StorageError};
use crate::segment::files::SEGMENT_SUFFIXES;
use crate::segment::index::{IndexFile, OFFSET_ENTRY, TIME_ENTRY};
use crate::segment::{file_name, Segment};

impl PartitionLog {
    /// Opens the segments at `base_offsets` (ascending). `recovery_point` is `None` after a
    /// clean shutdown (every segment trusted), else the checkpointed recovery point: each
    /// segment holding offsets at or above it is re-read, and at the first one with damage
    /// the log ends: the later segments' files are deleted.
    pub(super) fn open_segments(
        dir: &Path,
        base_offsets: &[i64],
        config: &LogConfig,
        recovery_point: Option<i64>,
    ) -> Result<Vec<Segment>> {
        let mut segments = Vec::with_capacity(base_offsets.len());
        let mut recovered = 0usize;
        for (i, base) in base_offsets.iter().enumerate() {
            let next_base = base_offsets.get(i + 1).copied();
            let is_last = next_base.is_none();
            // Kafka's `segments.values(recoveryPoint, ..)`: the segment holding the recovery
            // point and all later ones.
            let recover = recovery_point.is_some_and(|point| next_base.is_none_or(|n| n > point));
            recovered += usize::from(recover);
            let (segment, damaged) = Self::open_segment(dir, *base, config, is_last, recover)?;
            if !(damaged && recover && !is_last) {
                segments.push(segment);
                continue;
            }
            // The log ends in this segment: delete the later ones, then reopen this one as the
            // active segment (writable, preallocated).
            let later = base_offsets.get(i + 1..).unwrap_or_default();
            let dropped_bytes: u64 = later
                .iter()
                .filter_map(|b| std::fs::metadata(dir.join(file_name(*b, ".log"))).ok())
                .map(|m| m.len())
                .sum();
            tracing::warn!(
                dir = %dir.display(),
                base_offset = base,
                next_offset = segment.next_offset(),
                deleted_segments = later.len(),
                dropped_bytes,
                "recovery truncated the log inside an older segment; later segments deleted"
            );
            drop(segment);
            for later_base in later {
                for suffix in SEGMENT_SUFFIXES {
                    let path = dir.join(file_name(*later_base, suffix));
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(StorageError::Io { path, source: e });
                        }
                        _ => {}
                    }
                }
            }
            crate::segment::swap::sync_dir(dir)?;
            let (segment, _) = Self::open_segment(dir, *base, config, true, true)?;
            segments.push(segment);
            break;
        }
        if recovered > 0 {
            tracing::info!(dir = %dir.display(), segments = recovered, recovery_point = recovery_point.unwrap_or(0), "re-read segments above the recovery point");
        }
        Ok(segments)
    }

    /// Opens the closed segment at `base` as written (the cleaner's swapped-in output).
    pub(crate) fn open_closed_segment(&self, base: i64) -> Result<Segment> {
        Self::open_segment(&self.dir, base, &self.config(), false, false).map(|(s, _)| s)
    }

    /// Opens the segment at `base`: trusted (sizes from the file lengths, indexes as they are
    /// when they look consistent) unless `recover`, which re-reads it from the start. A
    /// segment that does not check out is cut at its first bad batch and its indexes rebuilt.
    /// Returns the segment and whether non-zero bytes were cut off (damage, as opposed to the
    /// zeros of a preallocated tail).
    pub(super) fn open_segment(
        dir: &Path,
        base: i64,
        config: &LogConfig,
        is_last: bool,
        recover: bool,
    ) -> Result<(Segment, bool)> {
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
        let trusted = !recover && offset_entries.is_some() && time_entries.is_some();
        if trusted && segment.indexes_sane() && segment.load_tail() {
            return Ok((segment, false));
        }
        if !recover {
            tracing::warn!(segment = %log_path.display(), "rebuilding missing or corrupt indexes");
        }
        // Rebuilding needs room in the index files: reopen them large enough, trim afterwards.
        // A closed segment gets at most one entry per `index.interval.bytes` of its log, so
        // its indexes need not grow to `segment.index.bytes` (then shrink back).
        drop(segment);
        let rebuild_capacity = if is_last {
            config.segment_index_bytes
        } else {
            let entries = log_len / config.index_interval_bytes.max(1) + 2;
            config
                .segment_index_bytes
                .min(entries.saturating_mul(TIME_ENTRY.max(OFFSET_ENTRY)))
        };
        let segment = Segment::open(dir, base, log_capacity, rebuild_capacity, log_len, 0, 0)?;
        let valid = segment.recover(config.index_interval_bytes, log_len)?;
        let mut damaged = false;
        if valid < log_len {
            let dropped = log_len - valid;
            // Zeros are a preallocated tail (of the active segment, or of a rolled one whose
            // trim did not reach the disk): nothing is lost by cutting them.
            damaged = !segment_tail_is_zero(&segment, valid);
            if damaged {
                tracing::warn!(segment = %log_path.display(), position = valid, dropped, next_offset = segment.next_offset(), "recovery truncated a torn or invalid batch and everything after it in the segment");
            }
        }
        if !is_last {
            segment.seal()?;
        }
        Ok((segment, damaged))
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
