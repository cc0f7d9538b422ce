//! Retention, DeleteRecords and the cleaner on `PartitionLog`, checked against a plain model
//! of the records: what stays, at which offsets, and after an interrupted clean.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use josefine_storage::batch::{
    self, attributes, build_batch, build_batch_as, BatchHeader, BatchProducer, ControlType,
    RecordIter,
};
use josefine_storage::{LogConfig, LogDir, PartitionLog, StorageError, TopicPartition};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOW: i64 = 1_700_000_000_000;

fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        cleanup_compact: true,
        cleanup_delete: false,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention: Duration::from_millis(1_000),
        ..LogConfig::default()
    }
}

fn record(key: &str, value: Option<&str>) -> Vec<u8> {
    build_batch(&[(NOW, Some(key.as_bytes()), value.map(str::as_bytes))])
}

/// Every record from the log start as (offset, key, value).
type Records = Vec<(i64, String, Option<String>)>;

fn records(log: &PartitionLog) -> Result<Records, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    loop {
        let bytes = log.read(offset, 1 << 20, true)?;
        if bytes.is_empty() {
            return Ok(out);
        }
        let mut rest = &bytes[..];
        while let Some(header) = BatchHeader::parse(rest) {
            let size = header.total_size();
            assert_eq!(batch::validate_stored_batch(&rest[..size]), Ok(size));
            offset = header.last_offset() + 1;
            if !header.is_control() {
                let section = batch::records_section(&rest[..size])?;
                for r in RecordIter::new(&section) {
                    let r = r?;
                    out.push((
                        header.base_offset() + r.offset_delta,
                        String::from_utf8_lossy(r.key.unwrap_or_default()).into_owned(),
                        r.value.map(|v| String::from_utf8_lossy(v).into_owned()),
                    ));
                }
            }
            rest = &rest[size..];
        }
    }
}

/// Appends `count` updates over `keys` keys (value = the update number); returns the model:
/// key -> (last offset, last value).
fn fill(
    log: &PartitionLog,
    count: usize,
    keys: usize,
) -> Result<BTreeMap<String, (i64, Option<String>)>, StorageError> {
    let mut model = BTreeMap::new();
    for i in 0..count {
        let key = format!("k{}", (i * 7) % keys);
        let value = format!("v{i}");
        let info = log.append(&record(&key, Some(&value)), 0)?;
        model.insert(key, (info.base_offset, Some(value)));
    }
    Ok(model)
}

/// Opens partition `t-0` of `log_dir`.
fn open(log_dir: &LogDir, config: LogConfig, clean: bool) -> Result<PartitionLog, StorageError> {
    PartitionLog::open(log_dir, &TopicPartition::new("t", 0), config, clean)
}

#[test]
fn compaction_keeps_the_last_record_per_key_at_its_offset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, compacted(), true)?;
    let model = fill(&log, 300, 10)?;
    let end = log.log_end_offset();
    let size = log.size_in_bytes();
    let stats = log.clean(NOW)?.ok_or("nothing cleaned")?;
    assert!(stats.records_kept < stats.records_read);
    assert!(log.size_in_bytes() < size);
    assert_eq!(log.log_end_offset(), end);
    let after = records(&log)?;
    // The active segment is not cleaned: every key's last value is there, and each record
    // left is either the last of its key or lies in the active segment.
    for (key, (offset, value)) in &model {
        assert!(
            after.contains(&(*offset, key.clone(), value.clone())),
            "{key}"
        );
    }
    let offsets: Vec<i64> = after.iter().map(|r| r.0).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets rise");
    let cleaned_end = stats.first_dirty_offset;
    let mut seen = BTreeMap::new();
    for (offset, key, _) in after.iter().filter(|r| r.0 < cleaned_end) {
        assert!(seen.insert(key.clone(), *offset).is_none(), "{key} twice");
    }
    // A consumer positioned on a removed offset reads on from the next record kept.
    let first_removed = (0..end)
        .find(|o| !offsets.contains(o))
        .ok_or("none removed")?;
    let bytes = log.read(first_removed, 1 << 20, true)?;
    let header = BatchHeader::parse(&bytes).ok_or("no batch")?;
    assert!(header.last_offset() >= first_removed);
    // The cleaned log reopens after a crash (no clean-shutdown marker) with the same records,
    // and appends continue at the same log end offset.
    drop(log);
    let log = open(&log_dir, compacted(), false)?;
    assert_eq!(records(&log)?, after);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        log.append(&record("k1", Some("again")), 0)?.base_offset,
        end
    );
    Ok(())
}

#[test]
fn tombstones_stay_for_delete_retention_then_go() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, compacted(), true)?;
    fill(&log, 100, 5)?;
    log.append(&record("k0", None), 0)?;
    fill(&log, 100, 5)?; // rolls the tombstone's segment closed...
    log.append(&record("gone", Some("x")), 0)?;
    log.append(&record("gone", None), 0)?;
    fill(&log, 60, 3)?; // ...and this one, keys k0..k2 only
    log.clean(NOW)?.ok_or("nothing cleaned")?;
    let after = records(&log)?;
    assert!(
        after.iter().any(|r| r.1 == "gone" && r.2.is_none()),
        "the tombstone survives its first cleaning"
    );
    assert!(!after.iter().any(|r| r.1 == "gone" && r.2.is_some()));
    // Before delete.retention.ms (1 s) passes nothing is due; after, the tombstone goes.
    assert_eq!(log.clean(NOW + 500)?, None);
    assert!(records(&log)?.iter().any(|r| r.1 == "gone"));
    log.clean(NOW + 2_000)?
        .ok_or("expired tombstone did not trigger a pass")?;
    assert!(!records(&log)?.iter().any(|r| r.1 == "gone"));
    Ok(())
}

#[test]
fn records_without_keys_are_refused_by_compacted_logs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, compacted(), true)?;
    let keyless = build_batch(&[(NOW, None, Some(b"v"))]);
    assert!(matches!(
        log.append(&keyless, 0),
        Err(StorageError::RecordsRejected(rejected)) if !rejected.invalid_timestamp
    ));
    assert_eq!(log.log_end_offset(), 0);
    Ok(())
}

fn txn_batch(producer_id: i64, sequence: i32, key: &str) -> Vec<u8> {
    build_batch_as(
        &BatchProducer {
            producer_id,
            producer_epoch: 0,
            base_sequence: sequence,
            attributes: attributes::TRANSACTIONAL,
        },
        &[(NOW, Some(key.as_bytes()), Some(b"t"))],
    )
}

#[test]
fn cleaning_drops_aborted_records_and_keeps_markers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, compacted(), true)?;
    log.append(&txn_batch(7, 0, "aborted"), 0)?;
    let abort = log.append_marker(7, 0, ControlType::Abort, 0)?;
    log.append(&txn_batch(7, 1, "committed"), 0)?;
    let commit = log.append_marker(7, 0, ControlType::Commit, 0)?;
    fill(&log, 200, 4)?;
    log.clean(NOW)?.ok_or("nothing cleaned")?;
    let after = records(&log)?;
    assert!(!after.iter().any(|r| r.1 == "aborted"));
    assert!(after.iter().any(|r| r.1 == "committed"));
    let mut markers = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20, true)?;
        let mut rest = &bytes[..];
        while let Some(h) = BatchHeader::parse(rest) {
            if h.is_control() {
                markers.push(h.base_offset());
            }
            offset = h.last_offset() + 1;
            rest = &rest[h.total_size()..];
        }
    }
    assert_eq!(
        markers,
        vec![abort, commit],
        "markers stay at their offsets"
    );
    assert_eq!(log.aborted_transactions(0, i64::MAX).len(), 1);
    Ok(())
}

#[test]
fn retention_by_size_and_time_moves_the_log_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let config = LogConfig {
        segment_bytes: 1024,
        retention: None,
        retention_bytes: Some(4096),
        ..LogConfig::default()
    };
    let log = open(&log_dir, config, true)?;
    for i in 0..200 {
        log.append(&record("k", Some(&format!("v{i}"))), 0)?;
    }
    let outcome = log.apply_retention(NOW)?;
    assert!(outcome.deleted_segments > 0);
    assert!(log.size_in_bytes() <= 4096 + 1024);
    assert_eq!(outcome.log_start_offset, log.log_start_offset());
    assert!(log.log_start_offset() > 0);
    assert!(matches!(
        log.read(0, 1024, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let first = records(&log)?.first().map(|r| r.0);
    assert_eq!(first, Some(log.log_start_offset()));

    // Time: every record is from NOW; an hour later with retention.ms of a minute, all go,
    // the log rolls and stays appendable at the same log end offset.
    log.set_config(LogConfig {
        retention: Some(Duration::from_secs(60)),
        retention_bytes: None,
        ..config
    });
    let end = log.log_end_offset();
    log.apply_retention(NOW + 3_600_000)?;
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.append(&record("k", Some("new")), 0)?.base_offset, end);
    // The log start survives a reopen through the segments left.
    drop(log);
    let log = open(&log_dir, config, false)?;
    assert_eq!(log.log_start_offset(), end);
    Ok(())
}

#[test]
fn delete_records_moves_the_log_start_inside_a_segment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, LogConfig::default(), true)?;
    for i in 0..10 {
        log.append(&record("k", Some(&format!("v{i}"))), 0)?;
    }
    assert_eq!(log.delete_records_before(4)?, 4);
    assert_eq!(log.log_start_offset(), 4);
    assert!(matches!(
        log.read(3, 1024, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.delete_records_before(11),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    // Lower is a no-op; the high watermark is allowed.
    assert_eq!(log.delete_records_before(2)?, 4);
    assert_eq!(log.delete_records_before(10)?, 10);
    let checkpoint = std::fs::read_to_string(dir.path().join("t-0/leader-epoch-checkpoint"))?;
    assert_eq!(checkpoint, "0\n1\n0 10\n");
    // Restored from a checkpoint after a restart.
    drop(log);
    let log = open(&log_dir, LogConfig::default(), true)?;
    assert_eq!(log.log_start_offset(), 0);
    log.restore_log_start_offset(10);
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.end_offset_for_leader_epoch(0), (0, 10));
    assert_eq!(log.end_offset_for_leader_epoch(3), (-1, -1));
    Ok(())
}

/// Copies every file of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[test]
fn an_interrupted_clean_leaves_the_old_segments_or_completes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = open(&log_dir, compacted(), true)?;
    fill(&log, 300, 10)?;
    log.close()?;
    let before = records(&log)?;
    drop(log);
    let partition = dir.path().join("t-0");
    let pristine = dir.path().join("pristine");
    copy_dir(&partition, &pristine)?;

    // Crash while building: a half-written `.cleaner/` and index `.swap` files without the
    // `.log.swap` commit point. The old segments are intact and the leftovers go.
    let cleaned = open(&log_dir, compacted(), true)?;
    cleaned.clean(NOW)?.ok_or("nothing cleaned")?;
    let after = records(&cleaned)?;
    cleaned.close()?;
    drop(cleaned);
    let cleaned_copy = dir.path().join("cleaned");
    copy_dir(&partition, &cleaned_copy)?;

    std::fs::remove_dir_all(&partition)?;
    copy_dir(&pristine, &partition)?;
    std::fs::create_dir_all(partition.join(".cleaner"))?;
    std::fs::write(
        partition.join(".cleaner/00000000000000000000.log"),
        b"partial",
    )?;
    std::fs::copy(
        cleaned_copy.join("00000000000000000000.index"),
        partition.join("00000000000000000000.index.swap"),
    )?;
    let log = open(&log_dir, compacted(), false)?;
    assert_eq!(records(&log)?, before);
    assert!(!partition.join(".cleaner").exists());
    assert!(!partition.join("00000000000000000000.index.swap").exists());
    drop(log);

    // Crash after the commit point: the `.log.swap` is there, old segments partly removed.
    std::fs::remove_dir_all(&partition)?;
    copy_dir(&pristine, &partition)?;
    for suffix in [".log", ".index", ".timeindex"] {
        std::fs::copy(
            cleaned_copy.join(format!("00000000000000000000{suffix}")),
            partition.join(format!("00000000000000000000{suffix}.swap")),
        )?;
    }
    std::fs::remove_file(partition.join("00000000000000000000.log"))?;
    let log = open(&log_dir, compacted(), false)?;
    let recovered = records(&log)?;
    let cleaned_part: Vec<_> = after
        .iter()
        .filter(|r| recovered.first().is_some_and(|f| r.0 >= f.0))
        .cloned()
        .collect();
    // Every record the completed clean kept is there, in offset order, and nothing the
    // clean removed below the swapped segment's end came back.
    for r in &cleaned_part {
        assert!(recovered.contains(r), "{r:?}");
    }
    let offsets: Vec<i64> = recovered.iter().map(|r| r.0).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(log.log_end_offset(), before.last().map_or(0, |r| r.0 + 1));
    Ok(())
}
