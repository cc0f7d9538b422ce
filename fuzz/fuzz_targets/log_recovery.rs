//! Start-up of one partition from arbitrary files: every file storage reads at start. The
//! input's first byte holds flags (bit 0: the clean-shutdown marker is there, so the files are
//! trusted; bit 1: the topic is compacted and the cleaner runs), the rest is a list of files
//! (`josefine_fuzz::split_files` of `RECOVERY_FILES`): segments `.log` at base offsets 0 and 5 with their
//! `.index`, `.timeindex`, `.txnindex` and producer `.snapshot`, `leader-epoch-checkpoint`,
//! `.swap` files of an interrupted compaction, and the log dir's `meta.properties` and offset
//! checkpoints. The harness opens them as the broker does (`TopicRegistry::open`).
//!
//! Checks: never a panic; offsets stay ordered (log start <= high watermark <= log end,
//! last stable offset <= high watermark); a recovered log takes an append at its log end
//! offset and reads it back; closed and reopened clean, it keeps its log end offset. (Closed
//! segments are trusted, as Kafka trusts segments below the recovery point, so damage inside
//! one is read back as it is.)
#![no_main]

use josefine_storage::batch::{
    build_batch, build_control_batch, BatchHeader, BatchProducer, ControlType,
};
use josefine_storage::log_dir::CLEAN_SHUTDOWN_FILE;
use josefine_storage::{LogConfig, LogDir, OffsetCheckpoint, PartitionLog, TopicPartition};
use libfuzzer_sys::fuzz_target;

const CLEAN: u8 = 1;
const COMPACTED: u8 = 2;

fn config(flags: u8) -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 12,
        segment_index_bytes: 4096,
        index_interval_bytes: 64,
        cleanup_compact: flags & COMPACTED != 0,
        ..LogConfig::default()
    }
}

/// A log that rolled (segments at 0 and 5 when its batches are small enough), with a
/// transaction aborted, closed cleanly: every file kind in a consistent state.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut seeds = Vec::new();
    {
        let log_dir = LogDir::open(dir.path()).expect("log dir");
        let _ = log_dir.load_meta_properties(0, None);
        let tp = TopicPartition::new("t", 0);
        let config = LogConfig {
            segment_bytes: 600,
            ..config(0)
        };
        let log = PartitionLog::open(&log_dir, &tp, config, true).expect("open");
        for i in 0..5u8 {
            let _ = log.append(
                &build_batch(&[(1_700_000_000_000 + i64::from(i), Some(&[i]), Some(&[i; 40]))]),
                1,
            );
        }
        let producer = BatchProducer {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
            attributes: josefine_storage::batch::attributes::TRANSACTIONAL,
        };
        let _ = log.append(
            &josefine_storage::batch::build_batch_as(
                &producer,
                &[(1_700_000_000_010, None, Some(b"t"))],
            ),
            2,
        );
        let _ = log.append_marker(7, 0, ControlType::Abort, 0);
        let _ = log.append(&build_control_batch(-1, -1, ControlType::Commit, 0, 0), 2);
        let _ = log.close();
        let tps = [(tp, log.log_end_offset())];
        for file in [
            OffsetCheckpoint::RecoveryPoint,
            OffsetCheckpoint::LogStartOffset,
            OffsetCheckpoint::CleanerOffset,
        ] {
            let _ = log_dir.write_checkpoint(file, &tps);
        }
    }
    let files = josefine_fuzz::read_files(dir.path(), josefine_fuzz::RECOVERY_FILES);
    for flags in [0u8, CLEAN, COMPACTED] {
        let mut input = vec![flags];
        input.extend(josefine_fuzz::join_files(&files));
        seeds.push((format!("rolled-log-flags-{flags}"), input));
    }
    seeds
}

fuzz_target!(
    init: josefine_fuzz::write_seeds_if_asked(seeds),
    |data: &[u8]| {
        let Some((&flags, rest)) = data.split_first() else {
            return;
        };
        let files = josefine_fuzz::split_files(josefine_fuzz::RECOVERY_FILES, rest);
        let dir = tempfile::tempdir().expect("temp dir");
        josefine_fuzz::write_files(dir.path(), josefine_fuzz::RECOVERY_FILES, &files).expect("write files");
        std::fs::create_dir_all(dir.path().join("t-0")).expect("partition dir");
        if flags & CLEAN != 0 {
            std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"").expect("marker");
        }
        let log_dir = LogDir::open(dir.path()).expect("lock log dir");
        let _ = log_dir.load_meta_properties(0, None);
        let tp = TopicPartition::new("t", 0);
        let log_starts = log_dir.read_checkpoint(OffsetCheckpoint::LogStartOffset);
        let first_dirty = log_dir.read_checkpoint(OffsetCheckpoint::CleanerOffset);
        let _ = log_dir.read_checkpoint(OffsetCheckpoint::RecoveryPoint);
        let clean = log_dir.had_clean_shutdown();
        let Ok(log) = PartitionLog::open(&log_dir, &tp, config(flags), clean) else {
            return;
        };
        if let Some(offset) = log_starts.get(&tp) {
            log.restore_log_start_offset(*offset);
        }
        if let Some(offset) = first_dirty.get(&tp) {
            log.restore_first_dirty_offset(*offset);
        }
        let check_offsets = |log: &PartitionLog| {
            let (start, high_watermark, end) =
                (log.log_start_offset(), log.high_watermark(), log.log_end_offset());
            assert!(start <= high_watermark && high_watermark <= end, "{start} {high_watermark} {end}");
            assert!(log.last_stable_offset() <= high_watermark);
        };
        check_offsets(&log);
        if flags & COMPACTED != 0 {
            let _ = log.clean(i64::MAX / 2);
            check_offsets(&log);
        }
        // Clean files are trusted as written: garbage in them is not recovery's to find.
        if clean {
            return;
        }
        // Closed segments are trusted as fsynced when they rolled (only their indexes are
        // checked), so damage inside one may read back as anything but a panic; the walk
        // stops where the batches stop making sense.
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let Ok(bytes) = log.read(offset, 1 << 20, true) else {
                break;
            };
            let Some(last) = BatchHeader::parse(&bytes)
                .map(|h| h.last_offset())
                .filter(|last| *last >= offset)
            else {
                break;
            };
            offset = last + 1;
        }
        let _ = log.aborted_transactions(log.log_start_offset(), log.log_end_offset());
        let _ = log.end_offset_for_leader_epoch(0);
        let _ = log.offset_for_timestamp(0);
        let end = log.log_end_offset();
        let appended = log
            .append(&build_batch(&[(1_700_000_000_000, Some(b"k"), Some(b"after"))]), 0)
            .expect("a recovered log takes appends");
        assert_eq!(appended.base_offset, end);
        let bytes = log.read(end, 1 << 20, true).expect("the append reads back");
        assert_eq!(BatchHeader::parse(&bytes).map(|h| h.base_offset()), Some(end));
        log.close().expect("close");
        let end = log.log_end_offset();
        drop(log);
        let again = PartitionLog::open(&log_dir, &tp, config(flags), true).expect("reopen");
        assert_eq!(again.log_end_offset(), end);
    }
);
