//! Recovery after an unclean shutdown (Kafka's rule): segments below the recovery point are
//! trusted, the others re-read and cut at the first bad batch; and a simulated power cut
//! (`josefine_storage::power_loss`: the disk keeps exactly what was fsynced) loses nothing
//! that a flush covered.

use std::path::{Path, PathBuf};

use josefine_storage::batch::{
    attributes, build_batch, build_batch_as, records_section, BatchHeader, BatchProducer,
    ControlType, RecordIter,
};
use josefine_storage::{
    power_loss, LogConfig, LogDir, OffsetCheckpoint, PartitionLog, TopicPartition,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 128,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn partition() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// One record whose value names its offset.
fn record(n: usize) -> Vec<u8> {
    let value = format!("record-{n}-{}", "x".repeat(90));
    build_batch(&[(
        1_700_000_000_000 + n as i64,
        Some(b"k"),
        Some(value.as_bytes()),
    )])
}

/// Every record's value from the log start (`record-{n}` without the padding); control
/// batches and records without a value are skipped.
fn values(log: &PartitionLog) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 16, true)?;
        let mut rest = &bytes[..];
        while let Some(header) = BatchHeader::parse(rest) {
            let size = header.total_size();
            let section = records_section(&rest[..size])?;
            for record in RecordIter::new(&section) {
                let value = record?.value.unwrap_or_default();
                let text = String::from_utf8_lossy(value);
                if let Some(name) = text.rsplit_once('-').map(|(name, _)| name) {
                    if !header.is_control() && text.starts_with("record-") {
                        out.push(name.to_string());
                    }
                }
            }
            offset = header.last_offset() + 1;
            rest = &rest[size..];
        }
    }
    Ok(out)
}

fn expected(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("record-{n}")).collect()
}

/// Segment `.log` files of `dir`, by base offset.
fn segment_logs(dir: &Path) -> Result<Vec<(i64, PathBuf)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(stem) = name.strip_suffix(".log") {
            out.push((stem.parse()?, path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// Flips a byte inside the first batch of the `.log` at `path` (its records: the CRC no
/// longer checks out, the length still does).
fn damage_first_batch(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, 80)?;
    byte[0] ^= 0xff;
    file.write_all_at(&byte, 80)
}

/// Appends `count` records to a new log in `dir` and closes it cleanly.
fn write_closed_log(dir: &Path, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let log_dir = LogDir::open(dir)?;
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), true)?;
    for n in 0..count {
        log.append(&record(n), 0)?;
    }
    log.close()?;
    Ok(())
}

#[test]
fn a_damaged_older_segment_ends_the_log_there_and_start_up_goes_on() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_closed_log(dir.path(), 120)?;
    let segments = segment_logs(&dir.path().join("t-0"))?;
    assert!(segments.len() >= 4, "4 KiB segments roll: {segments:?}");
    let (damaged_base, damaged) = segments[1].clone();
    damage_first_batch(&damaged)?;

    // No clean-shutdown marker and no recovery point: every segment is re-read.
    let log_dir = LogDir::open(dir.path())?;
    assert_eq!(log_dir.recovery_point(&partition()), None);
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), false)?;
    assert_eq!(
        log.log_end_offset(),
        damaged_base,
        "the log ends at the bad batch"
    );
    assert_eq!(values(&log)?, expected(0..damaged_base as usize));
    let left = segment_logs(&dir.path().join("t-0"))?;
    assert_eq!(
        left.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
        vec![0, damaged_base],
        "later segments are deleted"
    );
    assert!(!dir
        .path()
        .join("t-0")
        .join(format!("{:020}.index", segments[2].0))
        .exists());
    // The log goes on from there: the damaged segment is the active one again.
    let info = log.append(&record(999), 0)?;
    assert_eq!(info.base_offset, damaged_base);
    assert_eq!(
        log.recovery_point(),
        0,
        "only a flush moves the recovery point"
    );
    log.flush()?;
    assert_eq!(log.recovery_point(), damaged_base + 1);
    Ok(())
}

#[test]
fn segments_below_the_recovery_point_are_trusted_and_later_ones_re_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_closed_log(dir.path(), 120)?;
    let segments = segment_logs(&dir.path().join("t-0"))?;
    assert!(segments.len() >= 4);
    // Kafka's behaviour: damage below the recovery point goes unnoticed at start-up.
    damage_first_batch(&segments[0].1)?;
    damage_first_batch(&segments[2].1)?;
    let point = segments[1].0;
    {
        let log_dir = LogDir::open(dir.path())?;
        log_dir.write_checkpoint(OffsetCheckpoint::RecoveryPoint, &[(partition(), point)])?;
    }
    let log_dir = LogDir::open(dir.path())?;
    assert_eq!(log_dir.recovery_point(&partition()), Some(point));
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), false)?;
    // Segment 0 (below the point) was trusted; segment 1 (holding it) was re-read and is
    // whole; segment 2 is damaged at its first batch: the log ends there.
    assert_eq!(log.log_end_offset(), segments[2].0);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.recovery_point(), point);
    let first = log.read(0, 1 << 16, true)?;
    assert!(!first.is_empty(), "the trusted segment is served as it is");
    Ok(())
}

#[test]
fn with_the_recovery_point_at_the_log_end_only_the_last_segment_is_re_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_closed_log(dir.path(), 120)?;
    let segments = segment_logs(&dir.path().join("t-0"))?;
    let last = segments.last().ok_or("no segment")?.0;
    damage_first_batch(&segments[1].1)?;
    {
        let log_dir = LogDir::open(dir.path())?;
        log_dir.write_checkpoint(OffsetCheckpoint::RecoveryPoint, &[(partition(), 120)])?;
    }
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), false)?;
    assert_eq!(log.log_end_offset(), 120);
    assert_eq!(log.segment_count(), segments.len());
    assert_eq!(log.recovery_point(), 120);
    // The last segment is re-read: damage there cuts the log.
    drop(log);
    drop(log_dir);
    damage_first_batch(
        &segment_logs(&dir.path().join("t-0"))?
            .last()
            .ok_or("none")?
            .1,
    )?;
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), false)?;
    assert_eq!(log.log_end_offset(), last);
    assert_eq!(
        log.recovery_point(),
        last,
        "the recovery point stays within the log"
    );
    Ok(())
}

#[test]
fn flushes_rolls_and_close_move_the_recovery_point() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), true)?;
    assert_eq!(log.recovery_point(), 0);
    for n in 0..10 {
        log.append(&record(n), 0)?;
    }
    assert_eq!(
        log.recovery_point(),
        0,
        "no flush policy: appends do not fsync"
    );
    log.flush()?;
    assert_eq!(log.recovery_point(), 10);
    let mut n = 10;
    while log.segment_count() == 1 {
        log.append(&record(n), 0)?;
        n += 1;
    }
    let active_base = segment_logs(&dir.path().join("t-0"))?
        .last()
        .ok_or("none")?
        .0;
    assert_eq!(
        log.recovery_point(),
        active_base,
        "a roll flushes everything below the new segment"
    );
    log.close()?;
    assert_eq!(log.recovery_point(), log.log_end_offset());

    let every = PartitionLog::open(
        &log_dir,
        &TopicPartition::new("every", 0),
        LogConfig {
            flush_messages: Some(1),
            ..small_config()
        },
        true,
    )?;
    for n in 0..50 {
        every.append(&record(n), 0)?;
        assert_eq!(every.recovery_point(), every.log_end_offset());
    }
    Ok(())
}

#[test]
fn the_recovery_point_checkpoint_round_trips_and_takes_concurrent_writers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let entries = vec![(partition(), 42), (TopicPartition::new("u", 3), 7)];
    log_dir.write_checkpoint(OffsetCheckpoint::RecoveryPoint, &entries)?;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint"))?,
        "0\n2\nt 0 42\nu 3 7\n"
    );
    // The copy read at open is what recovery uses; a new one sees the file.
    assert_eq!(log_dir.recovery_point(&partition()), None);
    // Writers at once take turns: each write succeeds and the file is whole afterwards.
    std::thread::scope(|scope| {
        for t in 0..8i64 {
            let log_dir = &log_dir;
            scope.spawn(move || {
                for i in 0..50i64 {
                    let offset = t * 1000 + i;
                    log_dir
                        .update_checkpoint(OffsetCheckpoint::RecoveryPoint, || {
                            vec![(partition(), offset)]
                        })
                        .expect("a checkpoint write fails under concurrency");
                }
            });
        }
    });
    assert_eq!(
        log_dir
            .read_checkpoint(OffsetCheckpoint::RecoveryPoint)
            .len(),
        1
    );
    drop(log_dir);
    let reopened = LogDir::open(dir.path())?;
    assert!(reopened.recovery_point(&partition()).is_some());
    Ok(())
}

#[test]
fn a_power_cut_keeps_every_record_flushed_by_flush_messages() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("data");
    let log_dir = LogDir::open(&root)?;
    power_loss::track(&root)?;
    let config = LogConfig {
        flush_messages: Some(1),
        ..small_config()
    };
    let log = PartitionLog::open(&log_dir, &partition(), config, log_dir.had_clean_shutdown())?;
    let acknowledged = 150;
    for n in 0..acknowledged {
        log.append(&record(n), 0)?;
    }
    // A transaction aborted and acknowledged: its `.txnindex` entry must survive too.
    let transactional = build_batch_as(
        &BatchProducer {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
            attributes: attributes::TRANSACTIONAL,
        },
        &[(
            1_700_000_000_000,
            Some(b"k".as_slice()),
            Some(b"aborted".as_slice()),
        )],
    );
    log.append(&transactional, 0)?;
    let marker = log.append_marker(7, 0, ControlType::Abort, 0)?;
    // Rolls after the marker: the producer state snapshots they write lie after the abort,
    // so recovery's replay does not write its `.txnindex` entry again; it must be on disk.
    let segments = log.segment_count();
    let mut after = Vec::new();
    while log.segment_count() < segments + 2 {
        let n = 1000 + after.len();
        log.append(&record(n), 0)?;
        after.push(format!("record-{n}"));
    }
    assert!(log.segment_count() > 3, "the records span several rolls");
    let cut = dir.path().join("cut");
    power_loss::cut(&root, &cut)?;
    // The crashed process's files are gone with it: only what was fsynced is left.
    drop(log);
    drop(log_dir);

    let log_dir = LogDir::open(&cut)?;
    assert!(!log_dir.had_clean_shutdown());
    let log = PartitionLog::open(&log_dir, &partition(), config, false)?;
    assert_eq!(log.log_end_offset(), marker + 1 + after.len() as i64);
    let mut all = expected(0..acknowledged);
    all.extend(after);
    assert_eq!(values(&log)?, all);
    let aborted = log.aborted_transactions(0, log.log_end_offset());
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].producer_id, 7);
    assert_eq!(aborted[0].last_offset, marker);
    Ok(())
}

#[test]
fn a_power_cut_keeps_a_prefix_up_to_the_last_flush() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("data");
    let log_dir = LogDir::open(&root)?;
    power_loss::track(&root)?;
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), true)?;
    for n in 0..60 {
        log.append(&record(n), 0)?;
    }
    log.flush()?;
    let flushed = log.recovery_point();
    assert_eq!(flushed, 60);
    log_dir.write_checkpoint(OffsetCheckpoint::RecoveryPoint, &[(partition(), flushed)])?;
    for n in 60..100 {
        log.append(&record(n), 0)?;
    }
    let cut = dir.path().join("cut");
    power_loss::cut(&root, &cut)?;
    drop(log);
    drop(log_dir);

    let log_dir = LogDir::open(&cut)?;
    assert_eq!(log_dir.recovery_point(&partition()), Some(flushed));
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), false)?;
    let end = log.log_end_offset() as usize;
    assert!(end >= 60, "flushed records are kept: the log ends at {end}");
    assert_eq!(values(&log)?, expected(0..end));
    // The log takes appends from its end again.
    assert_eq!(log.append(&record(end), 0)?.base_offset, end as i64);
    Ok(())
}

#[test]
fn damage_found_while_rebuilding_a_trusted_segments_index_cuts_that_segment_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    write_closed_log(dir.path(), 120)?;
    let partition_dir = dir.path().join("t-0");
    let segments = segment_logs(&partition_dir)?;
    assert!(segments.len() >= 4);
    // Segment 1 lies below the recovery point, but its offset index is gone: rebuilding it
    // reads the segment and meets the damage (Kafka's `LogLoader` does the same).
    damage_first_batch(&segments[1].1)?;
    std::fs::remove_file(partition_dir.join(format!("{:020}.index", segments[1].0)))?;
    {
        let log_dir = LogDir::open(dir.path())?;
        log_dir.write_checkpoint(OffsetCheckpoint::RecoveryPoint, &[(partition(), 120)])?;
    }
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &partition(), small_config(), false)?;
    assert_eq!(
        log.segment_count(),
        segments.len(),
        "later segments are kept"
    );
    assert_eq!(log.log_end_offset(), 120);
    assert_eq!(
        std::fs::metadata(&segments[1].1)?.len(),
        0,
        "the damaged segment is cut at its first batch"
    );
    let mut expected_values = expected(0..segments[1].0 as usize);
    expected_values.extend(expected(segments[2].0 as usize..120));
    assert_eq!(values(&log)?, expected_values);
    Ok(())
}
