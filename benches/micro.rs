//! Micro-benchmarks of the hot paths: segment append, read by offset, batch validation, the
//! decoding and encoding of Produce and Fetch, the log cleaner's throughput, and opening a log
//! after a crash.
//!
//! Run: `cargo bench --bench micro` (a filter narrows it: `cargo bench --bench micro -- append`).
//! Criterion reports time per operation and, where a throughput is set, bytes per second.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use josefine_broker::protocol::apis::decode_request;
use josefine_broker::protocol::fetch_response;
use josefine_broker::protocol::frame::BodyBuilder;
use josefine_storage::batch::{build_batch, rebuild_batch, validate_batch, RECORD_BATCH_OVERHEAD};
use josefine_storage::{LogConfig, LogDir, PartitionLog, TopicPartition};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// An uncompressed batch of records of `record_size` bytes, about `batch_size` bytes long.
fn batch(batch_size: usize, record_size: usize) -> Vec<u8> {
    let value = vec![b'v'; record_size];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let count = (batch_size / (record_size + 8)).max(1);
    let records: Vec<_> = (0..count).map(|_| (now, None, Some(&value[..]))).collect();
    build_batch(&records)
}

fn temp_log(config: LogConfig) -> (tempfile::TempDir, LogDir, PartitionLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_dir = LogDir::open(dir.path()).expect("lock log dir");
    let log = PartitionLog::open(&log_dir, &TopicPartition::new("bench", 0), config, true)
        .expect("open log");
    (dir, log_dir, log)
}

/// Appends of 1 KiB, 16 KiB and 1 MiB batches. A fresh log every 256 MiB keeps the disk use
/// bounded; opening and removing it is not timed.
fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_append");
    for (name, size) in [("1KiB", 1 << 10), ("16KiB", 16 << 10), ("1MiB", 1000 << 10)] {
        let batch = batch(size, 100.min(size / 2));
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iterations| {
                let per_log = ((256usize << 20) / batch.len()).max(1) as u64;
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iterations {
                    let (_dir, _log_dir, log) = temp_log(LogConfig::default());
                    let n = per_log.min(iterations - done);
                    let started = Instant::now();
                    for _ in 0..n {
                        log.append(&batch, 0).expect("append");
                    }
                    total += started.elapsed();
                    done += n;
                }
                total
            })
        });
    }
    group.finish();
}

/// Appends of 1 MiB batches into 16 MiB segments: a roll every 16 appends, each fsyncing the
/// segment it closes (FORMAT.md "fsync order").
fn append_rolling(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_append");
    let batch = batch(1000 << 10, 100);
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("1MiB_into_16MiB_segments", |b| {
        b.iter_custom(|iterations| {
            let per_log = ((256usize << 20) / batch.len()).max(1) as u64;
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iterations {
                let (_dir, _log_dir, log) = temp_log(LogConfig {
                    segment_bytes: 16 << 20,
                    ..LogConfig::default()
                });
                let n = per_log.min(iterations - done);
                let started = Instant::now();
                for _ in 0..n {
                    log.append(&batch, 0).expect("append");
                }
                total += started.elapsed();
                done += n;
            }
            total
        })
    });
    group.finish();
}

/// Opening a log of 64 closed segments of 1 MiB (16 KiB batches) after an unclean shutdown:
/// with `recovery-point-offset-checkpoint` at the log end only the last segment is re-read;
/// without a checkpoint every segment is (Kafka's rule).
fn recover(c: &mut Criterion) {
    use josefine_storage::OffsetCheckpoint;
    let mut group = c.benchmark_group("log_recover");
    let dir = tempfile::tempdir().expect("temp dir");
    let partition = TopicPartition::new("bench", 0);
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let log_end_offset = {
        let log_dir = LogDir::open(dir.path()).expect("lock log dir");
        let log = PartitionLog::open(&log_dir, &partition, config, true).expect("open log");
        let batch = batch(16 << 10, 100);
        while log.segment_count() < 64 {
            log.append(&batch, 0).expect("append");
        }
        log.close().expect("close");
        log.log_end_offset()
    };
    group.throughput(Throughput::Bytes(64 << 20));
    for (name, checkpoint) in [
        ("64x1MiB/recovery_point_at_end", Some(log_end_offset)),
        ("64x1MiB/no_checkpoint", None),
    ] {
        {
            let log_dir = LogDir::open(dir.path()).expect("lock log dir");
            let entries: Vec<_> = checkpoint
                .map(|offset| (partition.clone(), offset))
                .into_iter()
                .collect();
            log_dir
                .write_checkpoint(OffsetCheckpoint::RecoveryPoint, &entries)
                .expect("checkpoint");
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                let log_dir = LogDir::open(dir.path()).expect("lock log dir");
                let log = PartitionLog::open(&log_dir, &partition, config, false).expect("open");
                assert_eq!(log.log_end_offset(), log_end_offset);
            })
        });
    }
    group.finish();
}

/// A batch of 900 records of 1 KiB of pseudo-random letters (compressible about as the
/// throughput harness's values), compressed with `codec` (3 lz4, 4 zstd); it stays below
/// `max.message.bytes` even when the codec cannot shrink it.
fn compressed_batch(codec: i16) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let letters: Vec<u8> = (0..900 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'a' + (state % 26) as u8
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records: Vec<_> = letters
        .chunks(1024)
        .map(|value| (now, None, Some(value)))
        .collect();
    let plain = build_batch(&records);
    let mut header = plain[..RECORD_BATCH_OVERHEAD].to_vec();
    header[22] |= codec as u8;
    rebuild_batch(
        &header,
        &plain[RECORD_BATCH_OVERHEAD..],
        records.len() as i32,
    )
    .expect("compress")
}

/// Appends of compressed 900 KiB batches: every record is decompressed and checked on
/// append. Throughput counts the uncompressed record bytes.
fn append_compressed(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_append_compressed");
    for (name, codec) in [("lz4", 3), ("zstd", 4)] {
        let batch = compressed_batch(codec);
        group.throughput(Throughput::Bytes(900 * 1024));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iterations| {
                let per_log = ((256usize << 20) / batch.len()).max(1) as u64;
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iterations {
                    let (_dir, _log_dir, log) = temp_log(LogConfig::default());
                    let n = per_log.min(iterations - done);
                    let started = Instant::now();
                    for _ in 0..n {
                        log.append(&batch, 0).expect("append");
                    }
                    total += started.elapsed();
                    done += n;
                }
                total
            })
        });
    }
    group.finish();
}

/// Reads of up to 1 MiB at offsets spread over a 64 MiB log of 16 KiB batches.
fn read(c: &mut Criterion) {
    let (_dir, _log_dir, log) = temp_log(LogConfig::default());
    let batch = batch(16 << 10, 100);
    for _ in 0..(64 << 20) / batch.len() {
        log.append(&batch, 0).expect("append");
    }
    let end = log.log_end_offset();
    let mut group = c.benchmark_group("log_read");
    let mut offset = 0i64;
    group.bench_function("by_offset_1MiB", |b| {
        b.iter(|| {
            offset = (offset + 7919) % end;
            let bytes = log.read(offset, 1 << 20, true).expect("read");
            assert!(!bytes.is_empty());
            bytes
        })
    });
    group.finish();
}

/// CRC32C and header checks (and the record walk of an uncompressed batch).
fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_validate");
    for (name, size) in [("16KiB", 16 << 10), ("1MiB", 1000 << 10)] {
        let batch = batch(size, 1000);
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| validate_batch(&batch).expect("valid"))
        });
    }
    group.finish();
}

fn frame(api_key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bench")))
        .encode(&mut buf, api_key.request_header_version(version))
        .expect("header");
    body.encode(&mut buf, version).expect("body");
    buf.freeze()
}

/// Decoding a Produce request of 8 partitions of 16 KiB batches and a Fetch request of 8
/// partitions; encoding a Fetch response of 8 x 1 MiB of records, by kafka-protocol (one
/// buffer, records copied) and by our framing (records spliced in).
fn protocol(c: &mut Criterion) {
    let mut group = c.benchmark_group("protocol");
    let records = Bytes::from(batch(16 << 10, 100));
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("bench")))
            .with_partition_data(
                (0..8)
                    .map(|p| {
                        PartitionProduceData::default()
                            .with_index(p)
                            .with_records(Some(records.clone()))
                    })
                    .collect(),
            )]);
    let produce_frame = frame(ApiKey::Produce, 9, &produce);
    group.throughput(Throughput::Bytes(produce_frame.len() as u64));
    group.bench_function("decode_produce_v9_8x16KiB", |b| {
        b.iter(|| decode_request(produce_frame.clone()).expect("decode"))
    });
    let fetch = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_max_bytes(50 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(uuid::Uuid::from_u128(7))
            .with_partitions(
                (0..8)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(1000)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]);
    let fetch_frame = frame(ApiKey::Fetch, 16, &fetch);
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_fetch_v16_8_partitions", |b| {
        b.iter(|| decode_request(fetch_frame.clone()).expect("decode"))
    });
    let megabyte = Bytes::from(vec![7u8; 1 << 20]);
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic_id(uuid::Uuid::from_u128(7))
        .with_partitions(
            (0..8)
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p)
                        .with_high_watermark(1 << 20)
                        .with_preferred_read_replica(BrokerId(-1))
                        .with_records(Some(megabyte.clone()))
                })
                .collect(),
        )]);
    group.throughput(Throughput::Bytes(8 << 20));
    group.bench_function("encode_fetch_v16_8x1MiB/kafka_protocol_copy", |b| {
        b.iter(|| {
            let mut out = BytesMut::new();
            response.encode(&mut out, 16).expect("encode");
            out
        })
    });
    group.bench_function("encode_fetch_v16_8x1MiB/spliced", |b| {
        b.iter(|| {
            let mut body = BodyBuilder::new();
            fetch_response::encode(&response, 16, &mut body).expect("encode");
            body.finish(1, 1).expect("frame")
        })
    });
    group.finish();
}

/// The log cleaner on 32 MiB of closed 1 MiB segments: 1 KiB values in batches of 16
/// records under 4096 keys (each key updated 8 times), so that about 7/8 of the records go
/// and every batch is rebuilt. Throughput is the bytes read per pass (MB/s compacted);
/// building the log is not timed.
fn clean(c: &mut Criterion) {
    const KEYS: usize = 4096;
    const RECORDS: usize = 32 * 1024;
    let mut group = c.benchmark_group("log_clean");
    group.sample_size(10);
    let value = vec![b'v'; 1000];
    let keys: Vec<String> = (0..KEYS).map(|k| format!("key-{k:08}")).collect();
    let batches: Vec<Vec<u8>> = (0..RECORDS / 16)
        .map(|b| {
            let records: Vec<_> = (0..16)
                .map(|r| {
                    let key = &keys[((b * 16 + r) * 7919) % KEYS];
                    (1_700_000_000_000i64, Some(key.as_bytes()), Some(&value[..]))
                })
                .collect();
            build_batch(&records)
        })
        .collect();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        cleanup_compact: true,
        cleanup_delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let bytes: usize = batches.iter().map(Vec::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("32MiB_4096_keys", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let (_dir, _log_dir, log) = temp_log(config);
                for batch in &batches {
                    log.append(batch, 0).expect("append");
                }
                // Roll once more so that the last full segment is closed too.
                log.append(&batches[0], 0).expect("append");
                let started = Instant::now();
                let stats = log
                    .clean(1_700_000_000_000)
                    .expect("clean")
                    .expect("cleanable");
                total += started.elapsed();
                assert!(stats.records_kept < stats.records_read);
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = append, append_rolling, append_compressed, read, validate, protocol, clean, recover
}
criterion_main!(benches);
