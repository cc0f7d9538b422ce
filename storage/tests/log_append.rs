//! `PartitionLog` checked against a plain `Vec` model: append, read back, reopen clean and torn.

use std::path::Path;

use josefine_storage::batch::{build_batch, BatchHeader};
use josefine_storage::{LogConfig, LogDir, PartitionLog, StorageError, TopicPartition};
use proptest::prelude::*;

type Record = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn batch_of(records: &[Record]) -> Vec<u8> {
    let refs: Vec<_> = records
        .iter()
        .map(|(t, k, v)| (*t, k.as_deref(), v.as_deref()))
        .collect();
    build_batch(&refs)
}

/// Reads every batch from offset 0 and returns (base offset, records count, bytes) per batch.
fn read_all(log: &PartitionLog) -> Result<Vec<(i64, i32, Vec<u8>)>, StorageError> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 16, true)?;
        assert!(
            !bytes.is_empty(),
            "read at {offset} below the log end offset returned nothing"
        );
        let mut rest = &bytes[..];
        while let Some(header) = BatchHeader::parse(rest) {
            let size = header.total_size();
            out.push((
                header.base_offset(),
                header.records_count(),
                rest[12..size].to_vec(),
            ));
            offset = header.last_offset() + 1;
            rest = &rest[size..];
        }
    }
    Ok(out)
}

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 128,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// Records whose batches straddle 4 KiB, where the log switches from copying through the
/// mapping to writing through the file.
fn record_strategy() -> impl Strategy<Value = Record> {
    (
        0i64..1_000_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..1500)),
    )
}

fn check_against_model(log: &PartitionLog, model: &[Vec<Record>]) -> Result<(), TestCaseError> {
    let read = read_all(log).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(read.len(), model.len());
    let mut expected_offset = 0i64;
    for ((base, count, bytes), records) in read.iter().zip(model) {
        prop_assert_eq!(*base, expected_offset);
        prop_assert_eq!(*count as usize, records.len());
        // From the magic byte on, the stored batch is the appended one, byte for byte (`bytes`
        // starts at the partition leader epoch, which the log stamps).
        let appended = batch_of(records);
        prop_assert_eq!(&bytes[4..], &appended[16..]);
        expected_offset += records.len() as i64;
    }
    prop_assert_eq!(log.log_end_offset(), expected_offset);
    Ok(())
}

fn append_all(log: &PartitionLog, model: &[Vec<Record>]) -> Result<(), TestCaseError> {
    let mut next = 0;
    for records in model {
        let info = log
            .append(&batch_of(records), 0)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(info.base_offset, next);
        next += records.len() as i64;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn append_then_read_returns_the_same_batches(model in proptest::collection::vec(proptest::collection::vec(record_strategy(), 1..6), 1..40)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let log_dir = LogDir::open(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let log = open(&log_dir, small_config(), true).map_err(|e| TestCaseError::fail(e.to_string()))?;
        append_all(&log, &model)?;
        check_against_model(&log, &model)?;
        // Timestamp look-up agrees with a scan of the model.
        let all: Vec<(i64, i64)> = model.iter().flatten().enumerate().map(|(i, r)| (i as i64, r.0)).collect();
        for probe in [0i64, 250_000, 500_000, 999_999] {
            let expected = all.iter().find(|(_, t)| *t >= probe).copied();
            prop_assert_eq!(log.offset_for_timestamp(probe), expected);
        }
        let max = all.iter().map(|(_, t)| *t).max();
        let expected_max = max.and_then(|m| all.iter().find(|(_, t)| *t == m).copied());
        prop_assert_eq!(log.max_timestamp(), expected_max);
    }

    #[test]
    fn reopen_after_clean_close_returns_everything(model in proptest::collection::vec(proptest::collection::vec(record_strategy(), 1..4), 1..30)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let log_dir = LogDir::open(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        {
            let log = open(&log_dir, small_config(), true).map_err(|e| TestCaseError::fail(e.to_string()))?;
            append_all(&log, &model)?;
            log.close().map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let log = open(&log_dir, small_config(), true).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_against_model(&log, &model)?;
        // And it keeps appending after the reopen.
        let extra = vec![(5, None, Some(b"after".to_vec()))];
        let info = log.append(&batch_of(&extra), 0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(info.base_offset, model.iter().map(Vec::len).sum::<usize>() as i64);
    }

    #[test]
    fn reopen_after_torn_write_keeps_the_valid_prefix(
        model in proptest::collection::vec(proptest::collection::vec(record_strategy(), 1..4), 2..20),
        cut in 1usize..200,
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let log_dir = LogDir::open(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("t-0");
        let config = LogConfig { segment_bytes: 1 << 20, ..small_config() };
        {
            let log = open(&log_dir, config, true).map_err(|e| TestCaseError::fail(e.to_string()))?;
            append_all(&log, &model)?;
            // No close: the process "crashed". Tear the last batch by zeroing its tail.
        }
        let last_size = batch_of(model.last().map(Vec::as_slice).unwrap_or_default()).len();
        let total: usize = model.iter().map(|r| batch_of(r).len()).sum();
        let cut = cut.min(last_size);
        tear(&path.join(format!("{:020}.log", 0)), total - cut, cut).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let log = open(&log_dir, config, false).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_against_model(&log, &model[..model.len() - 1])?;
    }
}

/// Opens partition `t-0` of `log_dir`.
fn open(log_dir: &LogDir, config: LogConfig, clean: bool) -> Result<PartitionLog, StorageError> {
    PartitionLog::open(log_dir, &TopicPartition::new("t", 0), config, clean)
}

fn tear(path: &Path, from: usize, len: usize) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all_at(&vec![0xAB; len], from as u64)
}

#[test]
fn invalid_batch_writes_nothing() -> Result<(), StorageError> {
    let dir = tempfile::tempdir().map_err(|e| StorageError::Io {
        path: "tmp".into(),
        source: e,
    })?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, LogConfig::default(), true)?;
    let good = build_batch(&[(1, None, Some(b"a"))]);
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let mut both = good.clone();
    both.extend_from_slice(&bad);
    assert!(matches!(
        log.append(&both, 0),
        Err(StorageError::CorruptBatch { .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
    let big = build_batch(&[(1, None, Some(&vec![0u8; 2_000_000]))]);
    assert!(matches!(
        log.append(&big, 0),
        Err(StorageError::MessageTooLarge { .. })
    ));
    assert!(matches!(
        log.read(1, 100, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    log.append(&good, 0)?;
    assert_eq!(log.log_end_offset(), 1);
    Ok(())
}

#[test]
fn kafka_layout_on_disk() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("orders-3");
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(
        &log_dir,
        &TopicPartition::new("orders", 3),
        small_config(),
        true,
    )?;
    for i in 0..100 {
        log.append(&build_batch(&[(i, Some(b"key"), Some(&[7u8; 100]))]), 0)?;
    }
    log.close()?;
    let mut names: Vec<String> = std::fs::read_dir(&path)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert!(log.segment_count() > 1, "4 KiB segments must roll");
    assert!(names.contains(&"00000000000000000000.log".to_string()));
    assert!(names.contains(&"00000000000000000000.index".to_string()));
    assert!(names.contains(&"00000000000000000000.timeindex".to_string()));
    // Closed segments are trimmed: each .log is exactly its batches, each index a whole number of entries.
    let first_len = std::fs::metadata(path.join("00000000000000000000.log"))?.len();
    assert!(first_len <= 4096 && first_len > 0);
    assert_eq!(
        std::fs::metadata(path.join("00000000000000000000.index"))?.len() % 8,
        0
    );
    assert_eq!(
        std::fs::metadata(path.join("00000000000000000000.timeindex"))?.len() % 12,
        0
    );
    Ok(())
}

#[test]
fn missing_or_corrupt_indexes_are_rebuilt() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("t-0");
    let log_dir = LogDir::open(dir.path())?;
    let model: Vec<Vec<Record>> = (0..200)
        .map(|i| vec![(i, Some(b"k".to_vec()), Some(vec![i as u8; 90]))])
        .collect();
    {
        let log = open(&log_dir, small_config(), true)?;
        for records in &model {
            log.append(&batch_of(records), 0)?;
        }
        log.close()?;
    }
    // Remove one closed segment's offset index and garble another's time index.
    std::fs::remove_file(path.join("00000000000000000000.index"))?;
    let mut segments: Vec<_> = std::fs::read_dir(&path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".timeindex"))
        .collect();
    segments.sort();
    let second = segments.get(1).ok_or("expected several segments")?;
    std::fs::write(path.join(second), [0xffu8; 25])?;
    let log = open(&log_dir, small_config(), true)?;
    check_against_model(&log, &model).map_err(|e| format!("{e}"))?;
    assert!(
        std::fs::metadata(path.join("00000000000000000000.index"))?.len() > 0,
        "the offset index was rebuilt"
    );
    assert_eq!(log.offset_for_timestamp(150), Some((150, 150)));
    Ok(())
}

/// Counts its wakes.
#[derive(Debug, Default)]
struct Counter(std::sync::atomic::AtomicUsize);

impl josefine_storage::AppendWaiter for Counter {
    fn wake(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn an_append_wakes_each_parked_waiter_once() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, small_config(), true)?;
    let counter = Arc::new(Counter::default());
    let parked: Arc<dyn josefine_storage::AppendWaiter> = counter.clone();
    log.register_waiter(&parked);
    log.register_waiter(&parked);
    log.append(&batch_of(&[(1, None, Some(b"a".to_vec()))]), 0)?;
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken once");
    // The wake consumed the registration: the next append wakes nobody.
    log.append(&batch_of(&[(2, None, Some(b"b".to_vec()))]), 0)?;
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    // A refused append publishes nothing and wakes nobody.
    log.register_waiter(&parked);
    assert!(log.append(b"not a batch", 0).is_err());
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    Ok(())
}

#[test]
fn appends_that_roll_or_fsync_are_refused_inline() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, small_config(), true)?;
    let small = batch_of(&[(1, None, Some(vec![b'a'; 100]))]);
    let info = log.try_append_inline(&small, 0)?;
    assert_eq!(
        info.map(|i| i.base_offset),
        Some(0),
        "a small batch is a copy"
    );
    let large = batch_of(&[(2, None, Some(vec![b'b'; 5000]))]);
    assert_eq!(
        log.try_append_inline(&large, 0)?,
        None,
        "a batch past segment.bytes (4096) rolls"
    );
    assert_eq!(log.log_end_offset(), 1, "the refused batch was not written");
    assert_eq!(log.append(&large, 0)?.base_offset, 1, "append rolls it");
    let flushing = PartitionLog::open(
        &log_dir,
        &TopicPartition::new("flushing", 0),
        LogConfig {
            flush_messages: Some(3),
            ..small_config()
        },
        true,
    )?;
    let two = batch_of(&[
        (1, None, Some(b"a".to_vec())),
        (1, None, Some(b"b".to_vec())),
    ]);
    assert!(
        flushing.try_append_inline(&two, 0)?.is_some(),
        "2 of 3 messages"
    );
    let one = batch_of(&[(2, None, Some(b"c".to_vec()))]);
    assert_eq!(
        flushing.try_append_inline(&one, 0)?,
        None,
        "the third fsyncs"
    );
    Ok(())
}
