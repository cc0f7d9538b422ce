//! librdkafka produces and consumes through the embedded broker.

use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;
use crate::watchdog;

const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

fn codec_round_trip(codec: &str) -> TestResult {
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let topic = format!("codec-{codec}");
    create_topic(&bootstrap, &topic, 3, &[])?;
    let (producer, deliveries) = producer(
        &bootstrap,
        &[("compression.type", codec), ("linger.ms", "20")],
    )?;
    let reports = produce_numbered(&producer, &deliveries, &topic, 3, 100_000, BASE_TIMESTAMP)?;
    assert_eq!(reports.len(), 100_000);
    assert!(
        reports.iter().all(Result::is_ok),
        "{:?}",
        reports.iter().find(|r| r.is_err())
    );
    let consumer = consumer(&bootstrap, &[])?;
    assign_from_beginning(&consumer, &topic, 3)?;
    let records = consume(&consumer, 100_000)?;
    check_numbered(&records, 3, 100_000, BASE_TIMESTAMP, 0)?;
    Ok(())
}

#[test]
fn round_trip_uncompressed() -> TestResult {
    let _watchdog = watchdog::guard();
    codec_round_trip("none")
}
#[test]
fn round_trip_gzip() -> TestResult {
    let _watchdog = watchdog::guard();
    codec_round_trip("gzip")
}
#[test]
fn round_trip_snappy() -> TestResult {
    let _watchdog = watchdog::guard();
    codec_round_trip("snappy")
}
#[test]
fn round_trip_lz4() -> TestResult {
    let _watchdog = watchdog::guard();
    codec_round_trip("lz4")
}
#[test]
fn round_trip_zstd() -> TestResult {
    let _watchdog = watchdog::guard();
    codec_round_trip("zstd")
}

#[test]
fn acks_zero_one_and_all() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let mut expected_offset = 0;
    for acks in ["0", "1", "all"] {
        let (producer, deliveries) = producer(&bootstrap, &[("acks", acks)])?;
        let reports = produce_numbered(&producer, &deliveries, "acks", 1, 1000, BASE_TIMESTAMP)?;
        assert!(
            reports.iter().all(Result::is_ok),
            "acks={acks}: all delivered"
        );
        if acks != "0" {
            let offsets: Vec<i64> = reports
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(|(_, o)| *o)
                .collect();
            assert_eq!(
                offsets,
                (expected_offset..expected_offset + 1000).collect::<Vec<_>>(),
                "acks={acks}: offsets reported"
            );
        }
        expected_offset += 1000;
    }
    let consumer = consumer(&bootstrap, &[])?;
    assign_from_beginning(&consumer, "acks", 1)?;
    let records = consume(&consumer, 3000)?;
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.offset, i as i64);
        assert_eq!(
            record.key.as_deref(),
            Some(format!("k{}", i % 1000).as_bytes())
        );
    }
    Ok(())
}

#[test]
fn one_mebibyte_record() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "big", 1, &[("max.message.bytes", "2097152")])?;
    let (producer, deliveries) = producer(&bootstrap, &[("message.max.bytes", "3000000")])?;
    let value: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    enqueue(
        &producer,
        BaseRecord::to("big").key("big").payload(value.as_slice()),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(matches!(reports.as_slice(), [Ok((0, 0))]), "{reports:?}");
    // The consumer's limits are smaller than the record: KIP-74 still returns it.
    let consumer = consumer(
        &bootstrap,
        &[
            ("message.max.bytes", "1000"),
            ("fetch.max.bytes", "100000"),
            ("max.partition.fetch.bytes", "100000"),
        ],
    )?;
    assign_from_beginning(&consumer, "big", 1)?;
    let records = consume(&consumer, 1)?;
    assert_eq!(records[0].payload.as_deref(), Some(value.as_slice()));

    // The same record on a topic with the default max.message.bytes is refused by the broker.
    create_topic(&bootstrap, "small", 1, &[])?;
    enqueue(
        &producer,
        BaseRecord::to("small").key("big").payload(value.as_slice()),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(
        matches!(
            reports.as_slice(),
            [Err(rdkafka::error::KafkaError::MessageProduction(
                rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge
            ))]
        ),
        "{reports:?}"
    );
    Ok(())
}

#[test]
fn auto_created_and_explicit_topics() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("num.partitions", "4")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "explicit", 2, &[])?;
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    enqueue(
        &producer,
        BaseRecord::to("explicit").key("a").payload(b"1".as_slice()),
    )?;
    enqueue(
        &producer,
        BaseRecord::to("auto-created")
            .key("b")
            .payload(b"2".as_slice()),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    let consumer = consumer(&bootstrap, &[])?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    let partitions = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.partitions().len())
    };
    assert_eq!(partitions("explicit"), Some(2));
    assert_eq!(
        partitions("auto-created"),
        Some(4),
        "auto-created topics get num.partitions"
    );
    // Creating it again is refused with TOPIC_ALREADY_EXISTS.
    let err = create_topic(&bootstrap, "explicit", 2, &[]).expect_err("duplicate create fails");
    assert!(err.to_string().contains("already exists"), "{err}");
    Ok(())
}

#[test]
fn auto_create_disabled_answers_unknown_topic() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("auto.create.topics.enable", "false")
        .start_blocking()?;
    let consumer = consumer(&broker.bootstrap_servers(), &[])?;
    let metadata = consumer.fetch_metadata(Some("missing"), Duration::from_secs(10))?;
    let topic = metadata
        .topics()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no topic in metadata"))?;
    assert_eq!(
        topic.error(),
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    Ok(())
}

#[test]
fn list_offsets_by_timestamp() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "times", 1, &[])?;
    // Three batches (lz4-compressed, so the broker reads inside them) with rising timestamps.
    let (producer, deliveries) = producer(
        &bootstrap,
        &[("compression.type", "lz4"), ("linger.ms", "50")],
    )?;
    for i in 0..30i64 {
        enqueue(
            &producer,
            BaseRecord::to("times")
                .key("k")
                .payload(b"v".as_slice())
                .timestamp(BASE_TIMESTAMP + i * 10),
        )?;
        if i % 10 == 9 {
            flush(&producer, &deliveries)?;
        }
    }
    let consumer = consumer(&bootstrap, &[])?;
    let mut query = TopicPartitionList::new();
    for (probe, expected) in [
        (BASE_TIMESTAMP, 0),
        (BASE_TIMESTAMP + 5, 1),
        (BASE_TIMESTAMP + 150, 15),
        (BASE_TIMESTAMP + 290, 29),
    ] {
        query.add_partition_offset("times", 0, Offset::Offset(probe))?;
        let found = consumer.offsets_for_times(query.clone(), Duration::from_secs(10))?;
        let offset = found.find_partition("times", 0).map(|p| p.offset());
        assert_eq!(offset, Some(Offset::Offset(expected)), "timestamp {probe}");
        query = TopicPartitionList::new();
    }
    query.add_partition_offset("times", 0, Offset::Offset(BASE_TIMESTAMP + 10_000))?;
    let found = consumer.offsets_for_times(query, Duration::from_secs(10))?;
    assert_eq!(
        found.find_partition("times", 0).map(|p| p.offset()),
        Some(Offset::End),
        "past the last record"
    );
    let (low, high) = consumer.fetch_watermarks("times", 0, Duration::from_secs(10))?;
    assert_eq!((low, high), (0, 30));
    Ok(())
}

#[test]
fn restart_on_the_same_dir_keeps_everything() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let first = josefine::Broker::builder()
        .log_dir(dir.path())
        .property("log.segment.bytes", "65536")
        .start_blocking()?;
    let bootstrap = first.bootstrap_servers();
    create_topic(&bootstrap, "durable", 3, &[("segment.bytes", "100000")])?;
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    let reports = produce_numbered(&producer, &deliveries, "durable", 3, 20_000, BASE_TIMESTAMP)?;
    assert!(
        reports.iter().all(Result::is_ok),
        "{:?}",
        reports.iter().find(|r| r.is_err())
    );
    drop((producer, deliveries));
    first.shutdown();

    let second = josefine::Broker::builder()
        .log_dir(dir.path())
        .start_blocking()?;
    let bootstrap = second.bootstrap_servers();
    let consumer = consumer(&bootstrap, &[])?;
    let metadata = consumer.fetch_metadata(Some("durable"), Duration::from_secs(10))?;
    assert_eq!(
        metadata.topics().first().map(|t| t.partitions().len()),
        Some(3)
    );
    assign_from_beginning(&consumer, "durable", 3)?;
    let records = consume(&consumer, 20_000)?;
    check_numbered(&records, 3, 20_000, BASE_TIMESTAMP, 0)?;
    // And it keeps appending after the last offset.
    let (after, after_deliveries) = crate::common::producer(&bootstrap, &[])?;
    enqueue(
        &after,
        BaseRecord::to("durable")
            .partition(0)
            .key("after")
            .payload(b"restart".as_slice()),
    )?;
    let reports = flush(&after, &after_deliveries)?;
    assert!(
        matches!(reports.as_slice(), [Ok((0, offset))] if *offset == 20_000 / 3 + 1),
        "{reports:?}"
    );
    Ok(())
}

#[test]
fn long_poll_fetch_is_woken_by_a_produce() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "wake", 1, &[])?;
    // A consumer parked on an empty partition with a max wait far beyond the tests' patience...
    let consumer = consumer(
        &bootstrap,
        &[
            ("fetch.wait.max.ms", "250000"),
            ("socket.timeout.ms", "300000"),
        ],
    )?;
    assign_from_beginning(&consumer, "wake", 1)?;
    assert!(consumer
        .poll(Duration::from_millis(300))
        .is_none_or(|m| m.is_err()));
    // ...receives a record produced meanwhile, long before its wait ends.
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    enqueue(
        &producer,
        BaseRecord::to("wake").key("k").payload(b"now".as_slice()),
    )?;
    assert!(flush(&producer, &deliveries)?.iter().all(Result::is_ok));
    // consume() gives up after PATIENCE, well before the 300 s wait would end on its own.
    let records = consume(&consumer, 1)?;
    assert_eq!(records[0].payload.as_deref(), Some(b"now".as_slice()));
    Ok(())
}

#[test]
fn idempotent_producer_gets_a_producer_id() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "idempotent", 2, &[])?;
    let (producer, deliveries) = producer(
        &bootstrap,
        &[("enable.idempotence", "true"), ("acks", "all")],
    )?;
    let reports = produce_numbered(
        &producer,
        &deliveries,
        "idempotent",
        2,
        10_000,
        BASE_TIMESTAMP,
    )?;
    assert!(
        reports.iter().all(Result::is_ok),
        "{:?}",
        reports.iter().find(|r| r.is_err())
    );
    let consumer = consumer(&bootstrap, &[])?;
    assign_from_beginning(&consumer, "idempotent", 2)?;
    let records = consume(&consumer, 10_000)?;
    check_numbered(&records, 2, 10_000, BASE_TIMESTAMP, 0)
}

#[test]
fn log_append_time_topics_stamp_the_broker_clock() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(
        &bootstrap,
        "stamped",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    )?;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let (producer, deliveries) = producer(&bootstrap, &[("compression.type", "gzip")])?;
    for i in 0..10 {
        enqueue(
            &producer,
            BaseRecord::to("stamped")
                .key("k")
                .payload(b"v".as_slice())
                .timestamp(1000 + i),
        )?;
    }
    assert!(flush(&producer, &deliveries)?.iter().all(Result::is_ok));
    let consumer = consumer(&bootstrap, &[])?;
    assign_from_beginning(&consumer, "stamped", 1)?;
    let start = std::time::Instant::now();
    let mut seen = 0;
    while seen < 10 {
        anyhow::ensure!(start.elapsed() < PATIENCE, "timed out");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            use rdkafka::message::Message;
            match message.timestamp() {
                rdkafka::Timestamp::LogAppendTime(t) => {
                    assert!(t >= before, "append time {t} is the broker's clock")
                }
                other => anyhow::bail!("expected LogAppendTime, got {other:?}"),
            }
            seen += 1;
        }
    }
    Ok(())
}

#[test]
fn fetch_out_of_range_resets_per_auto_offset_reset() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "range", 1, &[])?;
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    let reports = produce_numbered(&producer, &deliveries, "range", 1, 10, BASE_TIMESTAMP)?;
    assert!(reports.iter().all(Result::is_ok));
    // Offset 500 is past the log end: the broker answers OFFSET_OUT_OF_RANGE and librdkafka
    // resets to the earliest offset.
    let consumer = consumer(&bootstrap, &[("auto.offset.reset", "earliest")])?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("range", 0, Offset::Offset(500))?;
    consumer.assign(&list)?;
    let records = consume(&consumer, 10)?;
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    // With auto.offset.reset=error the client surfaces the broker's error instead.
    let strict = consumer_with_reset_error(&bootstrap)?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("range", 0, Offset::Offset(500))?;
    strict.assign(&list)?;
    let start = std::time::Instant::now();
    loop {
        anyhow::ensure!(start.elapsed() < PATIENCE, "no offset-out-of-range error");
        match strict.poll(Duration::from_millis(100)) {
            Some(Err(err))
                if err.to_string().contains("out of range")
                    || err.to_string().contains("Offset out of range") =>
            {
                break
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(err))
                if err.rdkafka_error_code()
                    == Some(rdkafka::types::RDKafkaErrorCode::AutoOffsetReset) =>
            {
                break
            }
            Some(other) => anyhow::bail!("unexpected {other:?}"),
        }
    }
    Ok(())
}

fn consumer_with_reset_error(bootstrap: &str) -> TestResult<rdkafka::consumer::BaseConsumer> {
    consumer(bootstrap, &[("auto.offset.reset", "error")])
}

#[test]
fn manual_replica_assignment_on_this_broker() -> TestResult {
    let _watchdog = watchdog::guard();
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let admin = admin(&bootstrap)?;
    let assigned = NewTopic::new(
        "assigned",
        3,
        TopicReplication::Variable(&[&[0], &[0], &[0]]),
    );
    let results = block_on(admin.create_topics([&assigned], &AdminOptions::new()))??;
    assert!(matches!(results.as_slice(), [Ok(_)]), "{results:?}");
    let elsewhere = NewTopic::new("elsewhere", 1, TopicReplication::Variable(&[&[7]]));
    let results = block_on(admin.create_topics([&elsewhere], &AdminOptions::new()))??;
    assert!(
        matches!(
            results.as_slice(),
            [Err((
                _,
                rdkafka::types::RDKafkaErrorCode::InvalidReplicaAssignment
            ))]
        ),
        "{results:?}"
    );
    let consumer = consumer(&bootstrap, &[])?;
    let metadata = consumer.fetch_metadata(Some("assigned"), Duration::from_secs(10))?;
    assert_eq!(
        metadata.topics().first().map(|t| t.partitions().len()),
        Some(3)
    );
    Ok(())
}
