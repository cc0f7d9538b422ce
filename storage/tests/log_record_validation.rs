//! Record-level validation on append, as Kafka's `LogValidator`: every record of a batch is
//! checked, compressed batches included (decompressed under the hard limit), and records that
//! break the topic's rules are reported by their index in the batch (KIP-467).

use std::time::Duration;

use josefine_storage::batch::{
    build_batch, build_batch_as, rebuild_batch, BatchError, BatchHeader, BatchProducer,
    RecordError, RecordIter, SimpleRecord, RECORD_BATCH_OVERHEAD,
};
use josefine_storage::{
    now_ms, LogConfig, LogDir, PartitionLog, RejectedRecords, StorageError, TopicPartition,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Codec ids of the attributes: gzip, snappy, lz4, zstd.
const CODECS: [i16; 4] = [1, 2, 3, 4];

fn open(
    config: LogConfig,
) -> Result<(tempfile::TempDir, LogDir, PartitionLog), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let log_dir = LogDir::open(dir.path())?;
    let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config, true)?;
    Ok((dir, log_dir, log))
}

/// The records section of an uncompressed batch (its bytes after the header).
fn section(batch: &[u8]) -> Vec<u8> {
    batch[RECORD_BATCH_OVERHEAD..].to_vec()
}

/// `section` compressed with `codec` into a batch with the header of `like` (an uncompressed
/// batch of `count` records), with a fresh CRC.
fn compressed(like: &[u8], section: &[u8], codec: i16, count: i32) -> Vec<u8> {
    let mut header = like.to_vec();
    let attributes = i16::from_be_bytes([header[21], header[22]]) | codec;
    header[21..23].copy_from_slice(&attributes.to_be_bytes());
    rebuild_batch(&header, section, count).expect("compress")
}

/// Where the `index`th record of an uncompressed batch's records section starts.
fn record_position(section: &[u8], index: usize) -> usize {
    let mut records = RecordIter::new(section);
    let mut position = 0;
    for _ in 0..index {
        let (raw, _) = records.next_raw().expect("record").expect("parses");
        position += raw.len();
    }
    position
}

fn compacted() -> LogConfig {
    LogConfig {
        cleanup_compact: true,
        ..LogConfig::default()
    }
}

#[test]
fn compressed_batches_with_good_records_append_and_read_back() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig::default())?;
    let plain = build_batch(&[(1, Some(b"k"), Some(b"a")), (2, None, Some(b"b"))]);
    for codec in CODECS {
        let batch = compressed(&plain, &section(&plain), codec, 2);
        let info = log.append(&batch, 0)?;
        assert_eq!(info.record_count, 2, "codec {codec}");
    }
    assert_eq!(log.log_end_offset(), 8);
    let read = log.read(0, 1 << 20, true)?;
    assert_eq!(BatchHeader::parse(&read).map(|h| h.compression()), Some(1));
    Ok(())
}

#[test]
fn compressed_record_with_wrong_offset_delta_is_invalid() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig::default())?;
    let plain = build_batch(&[(1, None, Some(b"a")), (1, None, Some(b"b"))]);
    let mut records = section(&plain);
    // The second record: length, attributes, timestamp delta 0, offset delta 1 (zigzag 2).
    let second = record_position(&records, 1);
    assert_eq!(records[second + 3], 2);
    records[second + 3] = 4; // offset delta 2
    for codec in CODECS {
        let batch = compressed(&plain, &records, codec, 2);
        let error = log.append(&batch, 0).unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::InvalidRecord(BatchError::RecordOffsetDelta {
                    found: 2,
                    expected: 1,
                    ..
                })
            ),
            "codec {codec}: {error}"
        );
    }
    assert_eq!(log.log_end_offset(), 0);
    Ok(())
}

#[test]
fn compressed_batch_whose_records_disagree_with_its_count_is_invalid() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig::default())?;
    let three = build_batch(&[
        (1, None, Some(b"a")),
        (1, None, Some(b"b")),
        (1, None, Some(b"c")),
    ]);
    let two = build_batch(&[(1, None, Some(b"a")), (1, None, Some(b"b"))]);
    // A header that says three records around a section that holds two.
    let batch = compressed(&three, &section(&two), 3, 3);
    assert!(matches!(
        log.append(&batch, 0),
        Err(StorageError::InvalidRecord(
            BatchError::RecordCountMismatch {
                seen: 2,
                count: 3,
                ..
            }
        ))
    ));
    assert_eq!(log.log_end_offset(), 0);
    Ok(())
}

#[test]
fn compressed_record_with_a_bad_varint_is_invalid_and_the_log_stays_readable() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig::default())?;
    log.append(&build_batch(&[(1, None, Some(b"before"))]), 0)?;
    let plain = build_batch(&[(1, None, Some(b"a")), (1, None, Some(b"b"))]);
    let mut records = section(&plain);
    let second = record_position(&records, 1);
    // Eleven continuation bytes from the second record's timestamp delta on: a varint longer
    // than 10 bytes, the rest of the record swallowed.
    records.truncate(second + 2);
    records.extend_from_slice(&[0xff; 11]);
    records[second] = ((records.len() - second - 1) as u8) << 1; // length prefix (zigzag)
    let batch = compressed(&plain, &records, 4, 2);
    let error = log.append(&batch, 0).unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::InvalidRecord(BatchError::Record {
                source: RecordError::VarintTooLong { .. } | RecordError::VarintPastEnd { .. },
                ..
            })
        ),
        "{error}"
    );
    // The partition holds only the good batch, which still reads back.
    assert_eq!(log.log_end_offset(), 1);
    let read = log.read(0, 1 << 20, true)?;
    assert_eq!(
        BatchHeader::parse(&read).map(|h| h.records_count()),
        Some(1)
    );
    Ok(())
}

#[test]
fn a_section_that_does_not_decompress_is_corrupt() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig::default())?;
    let producer = BatchProducer {
        attributes: 3, // lz4, but the section is not an lz4 frame
        ..BatchProducer::NONE
    };
    let batch = build_batch_as(&producer, &[(1, None, Some(b"a"))]);
    assert!(matches!(
        log.append(&batch, 0),
        Err(StorageError::CorruptBatch(BatchError::Codec { .. }))
    ));
    Ok(())
}

#[test]
fn keyless_records_of_a_compacted_log_are_named_by_their_index() -> TestResult {
    let (_dir, _log_dir, log) = open(compacted())?;
    let records: [SimpleRecord<'_>; 4] = [
        (1, Some(b"k"), Some(b"a")),
        (1, None, Some(b"b")),
        (1, Some(b"k"), Some(b"c")),
        (1, None, Some(b"d")),
    ];
    let plain = build_batch(&records);
    let message = "Compacted topic cannot accept message without key in topic partition t-0";
    for batch in [plain.clone(), compressed(&plain, &section(&plain), 3, 4)] {
        let error = log.append(&batch, 0).unwrap_err();
        let StorageError::RecordsRejected(rejected) = &error else {
            panic!("expected RecordsRejected, got {error}");
        };
        assert_eq!(
            rejected,
            &RejectedRecords {
                invalid_timestamp: false,
                records: vec![(1, message.to_string()), (3, message.to_string())],
            }
        );
        assert_eq!(
            error.to_string(),
            format!(
                "One or more records have been rejected due to 2 record errors in total, and \
                 only showing the first three errors at most: [RecordError(batchIndex=1, \
                 message='{message}'), RecordError(batchIndex=3, message='{message}')]"
            )
        );
    }
    assert_eq!(log.log_end_offset(), 0);
    log.append(&build_batch(&[(1, Some(b"k"), Some(b"a"))]), 0)?;
    assert_eq!(log.log_end_offset(), 1);
    Ok(())
}

#[test]
fn create_times_out_of_range_are_named_by_their_index() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig {
        timestamp_before_max: Duration::from_secs(3600),
        timestamp_after_max: Duration::from_secs(3600),
        ..LogConfig::default()
    })?;
    let now = now_ms();
    let day = 24 * 3_600_000;
    // The header's base and max timestamps stay in range: only the records tell.
    let plain = build_batch(&[
        (now, None, Some(b"a")),
        (now - day, None, Some(b"b")),
        (now, None, Some(b"c")),
    ]);
    for batch in [plain.clone(), compressed(&plain, &section(&plain), 4, 3)] {
        let error = log.append(&batch, 0).unwrap_err();
        let StorageError::RecordsRejected(rejected) = &error else {
            panic!("expected RecordsRejected, got {error}");
        };
        assert!(rejected.invalid_timestamp);
        assert_eq!(rejected.records.len(), 1);
        let (index, message) = &rejected.records[0];
        assert_eq!(*index, 1);
        assert!(
            message.starts_with(&format!(
                "Timestamp {} of message with offset 1 is out of range.",
                now - day
            )),
            "{message}"
        );
        assert_eq!(
            error.to_string(),
            "One or more records have been rejected due to invalid timestamp"
        );
    }
    // No timestamp (-1) is not checked.
    log.append(&build_batch(&[(-1, None, Some(b"a"))]), 0)?;
    assert_eq!(log.log_end_offset(), 1);
    Ok(())
}

#[test]
fn with_the_default_timestamp_bounds_any_create_time_is_taken() -> TestResult {
    let (_dir, _log_dir, log) = open(LogConfig::default())?;
    log.append(
        &build_batch(&[(0, None, Some(b"a")), (i64::MAX / 2, None, Some(b"b"))]),
        0,
    )?;
    assert_eq!(log.log_end_offset(), 2);
    Ok(())
}
