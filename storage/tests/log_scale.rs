//! Logs at scale: a first append as cheap as the second, segments opened on demand.

use josefine_storage::batch::build_batch;
use josefine_storage::{LogConfig, LogDir, PartitionLog, StorageError, TopicPartition};

fn open(log_dir: &LogDir, config: LogConfig, clean: bool) -> Result<PartitionLog, StorageError> {
    PartitionLog::open(log_dir, &TopicPartition::new("t", 0), config, clean)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[test]
fn the_first_append_after_a_reopen_does_not_roll() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let config = LogConfig::default();
    let log = open(&log_dir, config, true)?;
    log.append(&build_batch(&[(now_ms(), None, Some(b"one"))]), 0)?;
    log.close()?;
    drop(log);
    for clean in [true, false] {
        let log = open(&log_dir, config, clean)?;
        // Inline means no roll and no fsync was needed (segment.ms is 7 days).
        let info = log.try_append_inline(&build_batch(&[(now_ms(), None, Some(b"two"))]), 0)?;
        assert!(info.is_some(), "the first append after a reopen would roll");
        assert_eq!(log.segment_count(), 1);
        log.close()?;
    }
    Ok(())
}

fn open_fds() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

#[test]
fn many_segments_hold_no_file_descriptors() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let config = LogConfig {
        segment_bytes: 1024,
        segment_index_bytes: 4096,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let before = open_fds()?;
    let log = open(&log_dir, config, true)?;
    let value = vec![7u8; 600];
    // One batch of ~700 bytes per 1 KiB segment: every append rolls.
    for i in 0..300 {
        log.append(&build_batch(&[(now_ms(), None, Some(&value[..]))]), 0)?;
        assert_eq!(log.log_end_offset(), i + 1);
    }
    assert!(log.segment_count() >= 300);
    let held = open_fds()?.saturating_sub(before);
    // The active segment's .log keeps one; other tests of this binary may hold a few.
    assert!(
        held < 16,
        "{held} descriptors held for {} segments",
        log.segment_count()
    );
    log.close()?;
    drop(log);
    // Reopened: old segments are still read, and still hold no descriptor.
    let log = open(&log_dir, config, true)?;
    let held = open_fds()?.saturating_sub(before);
    assert!(held < 16, "{held} descriptors held after reopen");
    assert_eq!(
        log.mapped_segment_count(),
        1,
        "only the active segment is mapped"
    );
    let mut views = Vec::new();
    for offset in [0, 1, 150, 299] {
        let bytes = log.read(offset, 1 << 20, true)?;
        let header = josefine_storage::batch::BatchHeader::parse(&bytes).ok_or("no batch")?;
        assert_eq!(header.base_offset(), offset);
        views.push(bytes);
    }
    assert_eq!(log.mapped_segment_count(), 4);
    // Read since the last pass: kept; then unmapped by the next pass without a read.
    assert_eq!(log.release_idle_segments(), 0);
    assert_eq!(log.release_idle_segments(), 3);
    assert_eq!(log.mapped_segment_count(), 1);
    // Views taken before keep their mapping: the bytes are still there.
    for (view, offset) in views.iter().zip([0, 1, 150, 299]) {
        let header = josefine_storage::batch::BatchHeader::parse(view).ok_or("no batch")?;
        assert_eq!(header.base_offset(), offset);
    }
    assert_eq!(log.read(150, 1 << 20, true)?, views[2]);
    assert!(open_fds()?.saturating_sub(before) < 16);
    Ok(())
}
