//! Regressions found by the `log_recovery` fuzz target (`fuzz/fuzz_targets/log_recovery.rs`):
//! logs whose files were damaged in ways a crash or a bad disk can leave, opened as the broker
//! opens them.

use std::path::Path;

use josefine_storage::batch::build_batch;
use josefine_storage::{LogConfig, LogDir, PartitionLog, TopicPartition};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 12,
        segment_index_bytes: 4096,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

/// A closed log of `batches` one-record batches at offsets 0.., and the sizes of its batches.
fn closed_log(dir: &Path, batches: u8) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    let log_dir = LogDir::open(dir)?;
    let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config(), true)?;
    let mut sizes = Vec::new();
    for i in 0..batches {
        let batch = build_batch(&[(1_700_000_000_000, Some(&[i]), Some(&[i; 40]))]);
        sizes.push(batch.len());
        log.append(&batch, 0)?;
    }
    log.close()?;
    log_dir.unlock();
    Ok(sizes)
}

/// The base offset is outside the CRC: a flipped bit there left a clean segment whose last
/// batch claims a negative offset, and the log end offset was read off it (-463112187 in the
/// fuzzer's input). The tail is now checked like recovery checks it, and recovered.
#[test]
fn a_clean_segment_whose_offsets_run_backwards_is_recovered() -> TestResult {
    let dir = tempfile::tempdir()?;
    let sizes = closed_log(dir.path(), 4)?;
    let segment = dir.path().join("t-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment)?;
    let last: usize = sizes[..3].iter().sum();
    bytes[last..last + 8].copy_from_slice(&(-463_112_187i64).to_be_bytes());
    std::fs::write(&segment, &bytes)?;

    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config(), true)?;
    assert_eq!(
        log.log_end_offset(),
        3,
        "cut before the batch going backwards"
    );
    assert_eq!(log.high_watermark(), 3);
    assert_eq!(
        log.append(&build_batch(&[(1, Some(b"k"), Some(b"v"))]), 0)?
            .base_offset,
        3
    );
    Ok(())
}

/// A base offset near `i64::MAX` (outside the CRC, so the batch still checks out) made the
/// last offset overflow while the tail was re-read after an unclean shutdown.
#[test]
fn a_base_offset_near_the_end_of_the_offset_range_is_cut_off() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config(), true)?;
    let first = build_batch(&[(1_700_000_000_000, Some(b"a"), Some(b"1"))]);
    log.append(&first, 0)?;
    log.append(
        &build_batch(&[
            (1_700_000_000_001, Some(b"b"), Some(b"2")),
            (1_700_000_000_002, Some(b"c"), Some(b"3")),
        ]),
        0,
    )?;
    log.close()?;
    drop(log);
    log_dir.unlock();
    let segment = dir.path().join("t-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment)?;
    let second = first.len();
    bytes[second..second + 8].copy_from_slice(&i64::MAX.to_be_bytes());

    for clean in [true, false] {
        std::fs::write(&segment, &bytes)?;
        let log_dir = LogDir::open(dir.path())?;
        let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config(), clean)?;
        assert_eq!(log.log_end_offset(), 1, "clean: {clean}");
        drop(log);
        log_dir.unlock();
    }
    Ok(())
}

/// A closed segment is trusted: a batch in it whose base offset (outside the CRC) runs back
/// below the batch before it sent the producer state replay at start round in circles for
/// ever (a `log_recovery` timeout). The replay now skips batches behind it.
#[test]
fn a_closed_segment_whose_offsets_run_backwards_does_not_hang_the_replay() -> TestResult {
    let dir = tempfile::tempdir()?;
    let batch = |i: u8| build_batch(&[(1_700_000_000_000, Some(&[i]), Some(&[i; 8]))]);
    let size = batch(0).len();
    let config = LogConfig {
        segment_bytes: 3 * size,
        ..config()
    };
    {
        let log_dir = LogDir::open(dir.path())?;
        let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config, true)?;
        for i in 0..4 {
            log.append(&batch(i), 0)?;
        }
        assert_eq!(log.segment_count(), 2);
        log.close()?;
        drop(log);
        log_dir.unlock();
    }
    let partition = dir.path().join("t-0");
    for entry in std::fs::read_dir(&partition)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path)?;
        }
    }
    let segment = partition.join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment)?;
    bytes[2 * size..2 * size + 8].copy_from_slice(&0i64.to_be_bytes());
    std::fs::write(&segment, &bytes)?;

    let log_dir = LogDir::open(dir.path())?;
    // The recovery point at the log end: the damaged closed segment lies below it and is
    // trusted (not re-read), so the replay meets its backward offsets.
    log_dir.write_checkpoint(
        josefine_storage::OffsetCheckpoint::RecoveryPoint,
        &[(TopicPartition::new("t", 0), 4)],
    )?;
    drop(log_dir);
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config, false)?;
    assert_eq!(log.log_end_offset(), 4);
    Ok(())
}
