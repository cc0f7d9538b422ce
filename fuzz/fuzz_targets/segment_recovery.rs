//! Recovery of an arbitrary active segment: never a panic, and what it keeps reads back.
#![no_main]

use josefine_storage::{LogConfig, LogDir, PartitionLog, TopicPartition};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let partition = dir.path().join("t-0");
    std::fs::create_dir_all(&partition).expect("partition dir");
    std::fs::write(partition.join("00000000000000000000.log"), data).expect("segment");
    let config = LogConfig {
        segment_bytes: 1 << 16,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    };
    let log_dir = LogDir::open(dir.path()).expect("lock log dir");
    let Ok(log) = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config, false) else {
        return;
    };
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log
            .read(offset, 1 << 20, true)
            .expect("offsets below the log end offset read");
        let header = josefine_storage::batch::BatchHeader::parse(&bytes)
            .expect("reads return whole batches");
        assert!(header.last_offset() >= offset);
        offset = header.last_offset() + 1;
    }
});
