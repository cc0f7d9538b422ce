//! Produce validation as Kafka's `LogValidator` and Produce v8+ (KIP-467) answer it, internal
//! topics closed to clients, the group-to-partition mapping of `__consumer_offsets`, and
//! Metadata by topic id.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use rdkafka::admin::{AdminOptions, NewPartitions, ResourceSpecifier};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::BaseRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;
use crate::watchdog;

/// INVALID_TOPIC_EXCEPTION, INVALID_TIMESTAMP, INVALID_REQUEST, INVALID_RECORD,
/// UNKNOWN_TOPIC_ID.
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_TIMESTAMP: i16 = 32;
const INVALID_REQUEST: i16 = 42;
const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// Sends `batch` to partition 0 of `topic` as Produce v9 and returns the partition's answer.
fn produce_raw(
    bootstrap: &str,
    topic: &str,
    batch: Vec<u8>,
) -> TestResult<PartitionProduceResponse> {
    let mut stream = connect(bootstrap)?;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.into()))])]);
    let mut response: ProduceResponse = round_trip(&mut stream, ApiKey::Produce, 9, &request)?;
    Ok(response.responses.remove(0).partition_responses.remove(0))
}

fn record_errors(response: &PartitionProduceResponse) -> Vec<(i32, String)> {
    response
        .record_errors
        .iter()
        .map(|e| {
            (
                e.batch_index,
                e.batch_index_error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Every delivery report failed with `code`; there is at least one.
fn all_failed_with(reports: &[Delivery], code: RDKafkaErrorCode) -> bool {
    !reports.is_empty()
        && reports
            .iter()
            .all(|r| matches!(r, Err(KafkaError::MessageProduction(c)) if *c == code))
}

#[test]
fn keyless_records_fail_a_compacted_topics_batch_with_record_errors() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "compacted", 1, &[("cleanup.policy", "compact")])?;

    // librdkafka puts the three records in one batch (linger), which fails as a whole.
    let (lingering, deliveries) = producer(&bootstrap, &[("linger.ms", "200")])?;
    for key in [Some("k0"), None, Some("k2")] {
        let mut record = BaseRecord::to("compacted").partition(0).payload(&b"v"[..]);
        if let Some(key) = key {
            record = record.key(key);
        }
        enqueue(&lingering, record)?;
    }
    let reports = flush(&lingering, &deliveries)?;
    assert!(
        all_failed_with(&reports, RDKafkaErrorCode::InvalidRecord),
        "{reports:?}"
    );

    // On the wire: INVALID_RECORD, one record error per keyless record, Kafka's messages.
    let batch = josefine_storage::batch::build_batch(&[
        (1_700_000_000_000, Some(b"k0"), Some(b"v")),
        (1_700_000_000_000, None, Some(b"v")),
        (1_700_000_000_000, Some(b"k2"), Some(b"v")),
        (1_700_000_000_000, None, Some(b"v")),
    ]);
    let response = produce_raw(&bootstrap, "compacted", batch)?;
    let message =
        "Compacted topic cannot accept message without key in topic partition compacted-0";
    assert_eq!(response.error_code, INVALID_RECORD);
    assert_eq!(response.base_offset, -1);
    assert_eq!(
        record_errors(&response),
        vec![(1, message.to_string()), (3, message.to_string())]
    );
    assert_eq!(
        response.error_message.as_deref(),
        Some(
            format!(
                "One or more records have been rejected due to 2 record errors in total, and \
                 only showing the first three errors at most: [RecordError(batchIndex=1, \
                 message='{message}'), RecordError(batchIndex=3, message='{message}')]"
            )
            .as_str()
        )
    );

    // Nothing was written: a keyed record lands at offset 0.
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    enqueue(
        &producer,
        BaseRecord::to("compacted")
            .partition(0)
            .key("k")
            .payload(&b"v"[..]),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(matches!(reports.as_slice(), [Ok((0, 0))]), "{reports:?}");
    Ok(())
}

#[test]
fn create_times_out_of_range_fail_with_invalid_timestamp() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(
        &bootstrap,
        "recent",
        1,
        &[("message.timestamp.before.max.ms", "3600000")],
    )?;
    let now = josefine_storage::now_ms();
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    enqueue(
        &producer,
        BaseRecord::to("recent")
            .partition(0)
            .payload(&b"old"[..])
            .timestamp(now - 86_400_000),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(
        all_failed_with(&reports, RDKafkaErrorCode::InvalidTimestamp),
        "{reports:?}"
    );
    // The second record is the old one; the header's base timestamp is recent.
    let batch = josefine_storage::batch::build_batch(&[
        (now, None, Some(b"new")),
        (now - 86_400_000, None, Some(b"old")),
    ]);
    let response = produce_raw(&bootstrap, "recent", batch)?;
    assert_eq!(response.error_code, INVALID_TIMESTAMP);
    let errors = record_errors(&response);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 1);
    assert!(errors[0].1.contains("is out of range"), "{errors:?}");
    assert_eq!(
        response.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    Ok(())
}

/// A batch of `values` encoded by kafka-protocol with the given record offsets, compressed
/// with `codec` (3 lz4, 4 zstd) by Josefine's own codecs (the workspace builds kafka-protocol
/// without its codecs).
fn encoded_batch(offsets: &[i64], codec: i16) -> TestResult<Vec<u8>> {
    let records: Vec<Record> = offsets
        .iter()
        .map(|&offset| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset,
            // kafka-protocol starts a new batch where `offset - sequence` changes.
            sequence: offset as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(bytes::Bytes::from_static(b"bad")),
            headers: Default::default(),
        })
        .collect();
    let compression = if codec == 3 {
        Compression::Lz4
    } else {
        Compression::Zstd
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
        Some(
            |section: &mut bytes::BytesMut, out: &mut bytes::BytesMut, _: Compression| {
                let compressed = josefine_storage::batch::compress(codec, &section[..])
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                out.extend_from_slice(&compressed);
                Ok(())
            },
        ),
    )?;
    Ok(buf.to_vec())
}

#[test]
fn compressed_batches_with_bad_records_are_refused_and_the_partition_stays_readable() -> TestResult
{
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "squeezed", 1, &[])?;
    let (producer, deliveries) = producer(&bootstrap, &[("compression.type", "lz4")])?;
    let reports = produce_numbered(
        &producer,
        &deliveries,
        "squeezed",
        1,
        100,
        1_700_000_000_000,
    )?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");

    // A well-formed batch from kafka-protocol is taken...
    let good = produce_raw(&bootstrap, "squeezed", encoded_batch(&[0, 1, 2], 3)?)?;
    assert_eq!(
        (good.error_code, good.base_offset),
        (0, 100),
        "{:?}",
        good.error_message
    );
    // ...one whose inner offsets are 0, 0, 2 (the header's count and last offset delta agree)
    // is not, with either codec.
    for codec in [3, 4] {
        let bad = produce_raw(&bootstrap, "squeezed", encoded_batch(&[0, 0, 2], codec)?)?;
        assert_eq!(bad.error_code, INVALID_RECORD, "codec {codec}");
        assert!(bad.record_errors.is_empty());
    }
    // A record whose varint runs past the record, compressed with zstd.
    let plain = josefine_storage::batch::build_batch(&[
        (1_700_000_000_000, None, Some(b"a")),
        (1_700_000_000_000, None, Some(b"b")),
    ]);
    let overhead = josefine_storage::batch::RECORD_BATCH_OVERHEAD;
    let mut section = plain[overhead..].to_vec();
    let first = usize::from(section[0] / 2) + 1;
    section.truncate(first + 2);
    section.extend_from_slice(&[0xff; 3]);
    section[first] = 4 << 1; // attributes and three bytes of an unfinished varint
    let mut header = plain.clone();
    header[22] |= 4; // zstd
    let broken = josefine_storage::batch::rebuild_batch(&header, &section, 2)?;
    let bad = produce_raw(&bootstrap, "squeezed", broken)?;
    assert_eq!(bad.error_code, INVALID_RECORD);

    // Every record produced before is still there, and consumers read past the refusals.
    let read = read_to_end(&bootstrap, "squeezed")?;
    assert_eq!(read.len(), 103);
    check_numbered(&read[..100], 1, 100, 1_700_000_000_000, 0)?;
    let reports = produce_numbered(&producer, &deliveries, "squeezed", 1, 10, 1_700_000_000_000)?;
    assert!(matches!(reports.first(), Some(Ok((0, 103)))), "{reports:?}");
    Ok(())
}

#[test]
fn clients_cannot_write_to_internal_topics() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("offsets.topic.num.partitions", "3")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    // A committed offset makes the group coordinator create __consumer_offsets.
    let consumer = consumer(&bootstrap, &[("group.id", "internal")])?;
    create_topic(&bootstrap, "plain", 1, &[])?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("plain", 0, Offset::Offset(5))?;
    consumer.commit(&list, CommitMode::Sync)?;

    let batch =
        josefine_storage::batch::build_batch(&[(1_700_000_000_000, Some(b"k"), Some(b"v"))]);
    for topic in ["__consumer_offsets", "__transaction_state"] {
        let response = produce_raw(&bootstrap, topic, batch.clone())?;
        if topic == "__consumer_offsets" {
            assert_eq!(response.error_code, INVALID_TOPIC_EXCEPTION);
            assert_eq!(
                response.error_message.as_deref(),
                Some("Cannot append to internal topic __consumer_offsets")
            );
        } else {
            // Not created yet: unknown, as Kafka answers before its internal-topic check.
            assert_ne!(response.error_code, 0, "{topic}");
        }
    }
    let (producer, deliveries) = producer(&bootstrap, &[("message.timeout.ms", "5000")])?;
    enqueue(
        &producer,
        BaseRecord::to("__consumer_offsets")
            .partition(0)
            .key("k")
            .payload(&b"v"[..]),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(
        reports.iter().all(Result::is_err) && !reports.is_empty(),
        "{reports:?}"
    );
    // The group's offset is intact.
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("plain", 0);
    let committed = consumer.committed_offsets(wanted, PATIENCE)?;
    assert_eq!(
        committed.find_partition("plain", 0).map(|e| e.offset()),
        Some(Offset::Offset(5))
    );
    Ok(())
}

/// Java's `String.hashCode` made non-negative as Kafka's `Utils.abs`, modulo `partitions`:
/// the `__consumer_offsets` partition of a group.
fn kafka_partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

#[test]
fn growing_consumer_offsets_moves_no_group_across_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let start = || {
        josefine::Broker::builder()
            .log_dir(dir.path())
            .property("offsets.topic.num.partitions", "4")
            .start_blocking()
    };
    // A group that a count of 5 would move to a lower partition, so that replaying the
    // partitions in order would let its older commit win.
    let group = (0..)
        .map(|i| format!("group-{i}"))
        .find(|g| kafka_partition_for(g, 5) < kafka_partition_for(g, 4))
        .unwrap_or_default();
    let commit = |bootstrap: &str, offsets: &[(i32, i64)]| -> TestResult {
        let consumer = consumer(bootstrap, &[("group.id", group.as_str())])?;
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            list.add_partition_offset("tracked", *partition, Offset::Offset(*offset))?;
        }
        consumer.commit(&list, CommitMode::Sync)?;
        Ok(())
    };
    {
        let broker = start()?;
        let bootstrap = broker.bootstrap_servers();
        create_topic(&bootstrap, "tracked", 2, &[])?;
        commit(&bootstrap, &[(0, 42)])?;
        // Kafka 3.7 (KRaft) lets an admin grow an internal topic.
        let admin = admin(&bootstrap)?;
        let results = block_on(admin.create_partitions(
            [&NewPartitions::new("__consumer_offsets", 5)],
            &AdminOptions::new(),
        ))??;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        commit(&bootstrap, &[(0, 43), (1, 7)])?;
        broker.shutdown();
    }
    let broker = start()?;
    let consumer = consumer(&broker.bootstrap_servers(), &[("group.id", group.as_str())])?;
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("tracked", 0);
    wanted.add_partition("tracked", 1);
    let committed = consumer.committed_offsets(wanted, PATIENCE)?;
    let offsets: BTreeMap<i32, Offset> = committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(
        offsets,
        [(0, Offset::Offset(43)), (1, Offset::Offset(7))].into()
    );
    Ok(())
}

fn metadata_v12(
    stream: &mut std::net::TcpStream,
    topics: Vec<MetadataRequestTopic>,
) -> TestResult<MetadataResponse> {
    round_trip(
        stream,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(true),
    )
}

#[test]
fn metadata_finds_topics_by_id_whatever_their_name_says() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "by-id", 2, &[])?;
    let mut stream = connect(&bootstrap)?;
    let by_name = metadata_v12(
        &mut stream,
        vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("by-id"))))],
    )?;
    let id = by_name.topics[0].topic_id;
    assert!(!id.is_nil());

    for name in [None, Some("")] {
        let response = metadata_v12(
            &mut stream,
            vec![MetadataRequestTopic::default()
                .with_topic_id(id)
                .with_name(name.map(|n| TopicName(StrBytes::from_static_str(n))))],
        )?;
        assert_eq!(response.topics.len(), 1, "name {name:?}");
        let topic = &response.topics[0];
        assert_eq!(topic.error_code, 0, "name {name:?}");
        assert_eq!(
            topic.name.as_ref().map(|n| n.0.to_string()),
            Some("by-id".to_string())
        );
        assert_eq!(topic.topic_id, id);
        assert_eq!(topic.partitions.len(), 2);
    }
    let unknown = uuid::Uuid::from_u128(0x1234);
    let response = metadata_v12(
        &mut stream,
        vec![MetadataRequestTopic::default().with_topic_id(unknown)],
    )?;
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].error_code, UNKNOWN_TOPIC_ID);
    assert_eq!(response.topics[0].topic_id, unknown);
    assert!(response.topics[0].name.is_none());

    // Versions 10 and 11 take no topic ids (Kafka: INVALID_REQUEST).
    let response: MetadataResponse = round_trip(
        &mut stream,
        ApiKey::Metadata,
        11,
        &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_topic_id(id)
            .with_name(Some(TopicName(StrBytes::from_static_str(""))))])),
    )?;
    assert_eq!(response.topics[0].error_code, INVALID_REQUEST);
    Ok(())
}

#[test]
fn metadata_auto_creates_internal_topics_as_their_coordinators_do() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("offsets.topic.num.partitions", "3")
        .property("transaction.state.log.num.partitions", "2")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    let mut stream = connect(&bootstrap)?;
    for (name, partitions) in [("__consumer_offsets", 3), ("__transaction_state", 2)] {
        let response = metadata_v12(
            &mut stream,
            vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(name))))],
        )?;
        let topic = &response.topics[0];
        assert_eq!(topic.error_code, 0, "{name}");
        assert!(topic.is_internal, "{name}");
        assert_eq!(topic.partitions.len(), partitions, "{name}");
    }
    let admin = admin(&bootstrap)?;
    let results = block_on(admin.describe_configs(
        [
            &ResourceSpecifier::Topic("__consumer_offsets"),
            &ResourceSpecifier::Topic("__transaction_state"),
        ],
        &AdminOptions::new().request_timeout(Some(Duration::from_secs(30))),
    ))??;
    for result in results {
        let configs = result.map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(
            configs.get("cleanup.policy").and_then(|e| e.value.clone()),
            Some("compact".to_string())
        );
    }
    Ok(())
}

/// CORRUPT_MESSAGE: a batch whose records section does not decompress within the limit.
const CORRUPT_MESSAGE: i16 = 2;

/// The bytes of a batch of `count` records whose records section is `body`, already
/// compressed with `codec`: the header of a plain one-record batch, the codec bits, the
/// length, count and CRC32C fixed up around `body`.
fn batch_around(codec: i16, body: &[u8], count: i32) -> Vec<u8> {
    let overhead = josefine_storage::batch::RECORD_BATCH_OVERHEAD;
    let plain = josefine_storage::batch::build_batch(&[(1_700_000_000_000, None, Some(b"x"))]);
    let mut batch = plain[..overhead].to_vec();
    batch[22] |= codec as u8;
    batch.extend_from_slice(body);
    let length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    batch[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

#[test]
fn decompression_bombs_are_refused_with_bounded_memory() -> TestResult {
    let _watchdog = watchdog::guard();
    // A broker process of its own, so that its memory is measured alone.
    let broker = crate::broker_process::BrokerProcess::start()?;
    let bootstrap = broker.bootstrap.clone();
    let pid = broker.pid().to_string();
    create_topic(&bootstrap, "bombs", 1, &[("max.message.bytes", "8388608")])?;
    // Each bomb expands to 1 GiB (gzip and zstd: one compressed 16 MiB of zeros, repeated as
    // concatenated members or frames, which their decoders read on), 128 MiB (lz4: one frame,
    // as Kafka reads one) or 80 MiB (snappy in xerial's framing, whose blocks cannot be
    // repeated cheaply) from a few MiB at most.
    let zeros = vec![0u8; 16 << 20];
    let mut bombs = Vec::new();
    for codec in [1i16, 4] {
        let member = josefine_storage::batch::compress(codec, &zeros)?;
        bombs.push((codec, member.repeat(64)));
    }
    bombs.push((3, josefine_storage::batch::compress(3, &zeros.repeat(8))?));
    let block = snap::raw::Encoder::new().compress_vec(&zeros)?;
    let mut xerial = b"\x82SNAPPY\x00".to_vec();
    xerial.extend_from_slice(&1i32.to_be_bytes());
    xerial.extend_from_slice(&1i32.to_be_bytes());
    for _ in 0..5 {
        xerial.extend_from_slice(&(block.len() as i32).to_be_bytes());
        xerial.extend_from_slice(&block);
    }
    bombs.push((2, xerial));
    let before = peak_rss_of(&pid)?;
    for (codec, body) in bombs {
        assert!(body.len() < 8 << 20, "codec {codec}: {} bytes", body.len());
        let answer = produce_raw(&bootstrap, "bombs", batch_around(codec, &body, 1))?;
        assert_eq!(
            answer.error_code, CORRUPT_MESSAGE,
            "codec {codec}: {:?}",
            answer.error_message
        );
    }
    // Decompressing the gzip or zstd bomb whole would have taken 1 GiB; each stopped at the
    // 64 MiB limit.
    let grown = peak_rss_of(&pid)?.saturating_sub(before);
    assert!(grown < 512 << 20, "peak memory grew by {grown} bytes");
    // The broker goes on serving, and the topic takes and returns records.
    let (producer, deliveries) = producer(&bootstrap, &[("compression.type", "zstd")])?;
    let reports = produce_numbered(&producer, &deliveries, "bombs", 1, 50, 1_700_000_000_000)?;
    assert!(matches!(reports.first(), Some(Ok((0, 0)))), "{reports:?}");
    let read = read_to_end(&bootstrap, "bombs")?;
    check_numbered(&read, 1, 50, 1_700_000_000_000, 0)?;
    Ok(())
}
