//! Recovery of an arbitrary active segment: never a panic, and what it keeps reads back.
#![no_main]

use josefine_storage::{LogConfig, LogDir, PartitionLog, TopicPartition};
use libfuzzer_sys::fuzz_target;

/// A segment of three batches at offsets 0, 1 and 3 (the last holds two records): CRCs that
/// check out, which random bytes almost never reach.
fn seeds() -> Vec<(String, Vec<u8>)> {
    use josefine_storage::batch::{build_batch, stamp_batch};
    let mut segment = Vec::new();
    let batches: [&[josefine_storage::batch::SimpleRecord<'_>]; 3] = [
        &[(1_700_000_000_000, Some(b"a"), Some(b"1"))],
        &[(1_700_000_000_001, None, Some(b"2"))],
        &[
            (1_700_000_000_002, Some(b"b"), None),
            (1_700_000_000_003, Some(b"c"), Some(b"4")),
        ],
    ];
    for (records, base_offset) in batches.into_iter().zip([0, 1, 3]) {
        let mut batch = build_batch(records);
        stamp_batch(&mut batch, base_offset, 0, None);
        segment.extend_from_slice(&batch);
    }
    vec![("three-batches".into(), segment)]
}

fuzz_target!(init: josefine_fuzz::write_seeds_if_asked(seeds), |data: &[u8]| {
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
