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
