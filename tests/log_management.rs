//! Log management with real clients: retention by time and size, DeleteRecords, compaction
//! read back by a consumer, configs altered at run time, OffsetForLeaderEpoch.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;
use crate::watchdog;

/// An embedded broker whose background tasks run often.
fn busy_broker() -> TestResult<josefine::BlockingBroker> {
    Ok(josefine::Broker::builder()
        .property("log.retention.check.interval.ms", "50")
        .property("log.cleaner.backoff.ms", "50")
        .start_blocking()?)
}

/// Produces `(key, value)` records to partition 0, one batch each (linger 0); returns the
/// delivered offsets.
fn produce(
    bootstrap: &str,
    topic: &str,
    records: &[(String, Option<String>)],
) -> TestResult<Vec<i64>> {
    // One record per batch, so that small segments roll as they would with many producers.
    let (producer, deliveries) = producer(
        bootstrap,
        &[("linger.ms", "0"), ("batch.num.messages", "1")],
    )?;
    for (key, value) in records {
        let mut record: BaseRecord<'_, str, [u8]> =
            BaseRecord::to(topic).partition(0).key(key.as_str());
        if let Some(value) = value {
            record = record.payload(value.as_bytes());
        }
        enqueue(&producer, record)?;
    }
    flush(&producer, &deliveries)?
        .into_iter()
        .map(|d| d.map(|(_, offset)| offset).map_err(Into::into))
        .collect()
}

fn watermarks(consumer: &BaseConsumer, topic: &str) -> TestResult<(i64, i64)> {
    Ok(consumer.fetch_watermarks(topic, 0, Duration::from_secs(10))?)
}

/// Waits until `check` holds, polling; fails after [`PATIENCE`].
fn eventually<T>(what: &str, mut check: impl FnMut() -> TestResult<Option<T>>) -> TestResult<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A topic's configs as librdkafka's admin client describes them.
fn describe_topic(
    admin: &rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>,
    topic: &str,
) -> TestResult<rdkafka::admin::ConfigResource> {
    let described = block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()),
    )??;
    described
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no resource"))?
        .map_err(|code| anyhow::anyhow!("describe {topic}: {code}"))
}

fn numbered(range: std::ops::Range<usize>) -> Vec<(String, Option<String>)> {
    range
        .map(|i| {
            (
                format!("k{i}"),
                Some(format!("value-{i}-{}", "x".repeat(100))),
            )
        })
        .collect()
}

#[test]
fn retention_by_size_deletes_segments_and_moves_the_earliest_offset() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = busy_broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(
        &bootstrap,
        "sized",
        1,
        &[("segment.bytes", "2048"), ("retention.bytes", "8192")],
    )?;
    let offsets = produce(&bootstrap, "sized", &numbered(0..400))?;
    assert_eq!(offsets.last(), Some(&399));
    let consumer = consumer(&bootstrap, &[])?;
    // Retention runs while the records arrive, so wait for the pass after the last one: the
    // earliest offset is then within retention.bytes plus the segment that straddles it, and
    // stays put while the log is read.
    let (low, records) = eventually("size retention", || {
        let (low, high) = watermarks(&consumer, "sized")?;
        if low < 400 - (8192 + 2048) / 100 || high != 400 {
            return Ok(None);
        }
        let records = read_to_end(&bootstrap, "sized")?;
        let after = watermarks(&consumer, "sized")?.0;
        Ok((after == low).then_some((low, records)))
    })?;
    // What is left is a suffix of what was produced, from the earliest offset on.
    assert_eq!(records.first().map(|r| r.offset), Some(low));
    for (record, i) in records.iter().zip(low as usize..) {
        assert_eq!(record.offset, i as i64);
        assert_eq!(record.key.as_deref(), Some(format!("k{i}").as_bytes()));
    }
    assert_eq!(records.len(), 400 - low as usize);
    Ok(())
}

#[test]
fn retention_by_time_deletes_everything_old_and_the_log_goes_on() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = busy_broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(
        &bootstrap,
        "timed",
        1,
        &[("segment.bytes", "4096"), ("retention.ms", "1000")],
    )?;
    produce(&bootstrap, "timed", &numbered(0..100))?;
    let consumer = consumer(&bootstrap, &[])?;
    eventually("time retention", || {
        let (low, high) = watermarks(&consumer, "timed")?;
        Ok((low == 100 && high == 100).then_some(()))
    })?;
    let offsets = produce(&bootstrap, "timed", &numbered(100..101))?;
    assert_eq!(offsets, vec![100]);
    let records = read_to_end(&bootstrap, "timed")?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].offset, 100);
    Ok(())
}

#[test]
fn delete_records_moves_the_earliest_offset_and_consumers_follow() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "trimmed", 1, &[])?;
    produce(&bootstrap, "trimmed", &numbered(0..100))?;
    let admin = admin(&bootstrap)?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("trimmed", 0, Offset::Offset(40))?;
    let result = block_on(admin.delete_records(&list, &AdminOptions::new()))??;
    let element = result
        .find_partition("trimmed", 0)
        .ok_or_else(|| anyhow::anyhow!("no result"))?;
    element.error()?;
    assert_eq!(element.offset(), Offset::Offset(40));
    let consumer = consumer(&bootstrap, &[])?;
    assert_eq!(watermarks(&consumer, "trimmed")?, (40, 100));
    // A consumer positioned below the earliest offset gets OFFSET_OUT_OF_RANGE and resets.
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("trimmed", 0, Offset::Offset(10))?;
    consumer.assign(&assignment)?;
    let first = consume(&consumer, 1)?;
    assert_eq!(first[0].offset, 40);
    // Beyond the high watermark is refused; a compacted topic refuses by policy.
    let mut beyond = TopicPartitionList::new();
    beyond.add_partition_offset("trimmed", 0, Offset::Offset(1000))?;
    let result = block_on(admin.delete_records(&beyond, &AdminOptions::new()))??;
    let element = result
        .find_partition("trimmed", 0)
        .ok_or_else(|| anyhow::anyhow!("no result"))?;
    assert!(
        element.error().is_err(),
        "deleting past the high watermark must fail"
    );
    create_topic(&bootstrap, "kept", 1, &[("cleanup.policy", "compact")])?;
    let mut kept = TopicPartitionList::new();
    kept.add_partition_offset("kept", 0, Offset::Offset(0))?;
    let result = block_on(admin.delete_records(&kept, &AdminOptions::new()))??;
    let element = result
        .find_partition("kept", 0)
        .ok_or_else(|| anyhow::anyhow!("no result"))?;
    assert!(
        matches!(element.error(), Err(KafkaError::OffsetFetch(code)) | Err(KafkaError::AdminOp(code)) if code == rdkafka::types::RDKafkaErrorCode::PolicyViolation)
            || format!("{:?}", element.error()).contains("PolicyViolation"),
        "{:?}",
        element.error()
    );
    Ok(())
}

#[test]
fn compaction_keeps_the_last_value_per_key_and_drops_tombstones() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = busy_broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(
        &bootstrap,
        "compacted",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("delete.retention.ms", "500"),
        ],
    )?;
    // 20 keys updated 30 times each, then tombstones for 5 of them, then filler under other
    // keys so that all of it lies in closed segments.
    let mut records = Vec::new();
    for round in 0..30 {
        for key in 0..20 {
            records.push((format!("key-{key}"), Some(format!("{key}-{round}"))));
        }
    }
    for key in 0..5 {
        records.push((format!("key-{key}"), None));
    }
    for i in 0..300 {
        records.push((format!("filler-{}", i % 3), Some("f".repeat(100))));
    }
    produce(&bootstrap, "compacted", &records)?;
    // Keyless records are refused by a compacted topic.
    let (producer, deliveries) = producer(&bootstrap, &[("linger.ms", "0"), ("retries", "0")])?;
    enqueue(
        &producer,
        BaseRecord::<str, [u8]>::to("compacted")
            .partition(0)
            .payload(b"no key"),
    )?;
    let refused = flush(&producer, &deliveries)?;
    assert!(
        matches!(
            &refused[..],
            [Err(KafkaError::MessageProduction(
                rdkafka::types::RDKafkaErrorCode::InvalidRecord
            ))]
        ),
        "{refused:?}"
    );
    let expected: BTreeMap<String, String> = (5..20)
        .map(|k| (format!("key-{k}"), format!("{k}-29")))
        .collect();
    let seen = eventually("compaction and tombstone removal", || {
        let records = read_to_end(&bootstrap, "compacted")?;
        let keyed: Vec<&Received> = records
            .iter()
            .filter(|r| r.key.as_ref().is_some_and(|k| k.starts_with(b"key-")))
            .collect();
        let latest: BTreeMap<String, String> = keyed
            .iter()
            .filter_map(|r| {
                Some((
                    String::from_utf8(r.key.clone()?).ok()?,
                    String::from_utf8(r.payload.clone()?).ok()?,
                ))
            })
            .collect();
        Ok((keyed.len() == expected.len() && latest == expected).then_some(records))
    })?;
    // Offsets only ever rise, and the last filler record is where it was produced.
    assert!(seen.windows(2).all(|w| w[0].offset < w[1].offset));
    assert_eq!(
        seen.last().map(|r| r.offset),
        Some(records.len() as i64 - 1)
    );
    Ok(())
}

#[test]
fn altered_topic_configs_take_effect_without_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "altered", 1, &[])?;
    let admin = admin(&bootstrap)?;
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("altered")).set("max.message.bytes", "1000");
    for result in block_on(admin.alter_configs([&alter], &AdminOptions::new()))?? {
        result.map_err(|(resource, code)| anyhow::anyhow!("{resource:?}: {code}"))?;
    }
    let (producer, deliveries) = producer(&bootstrap, &[("linger.ms", "0"), ("retries", "0")])?;
    let big = vec![b'x'; 4000];
    enqueue(
        &producer,
        BaseRecord::<str, [u8]>::to("altered")
            .partition(0)
            .key("k")
            .payload(&big),
    )?;
    let refused = flush(&producer, &deliveries)?;
    assert!(
        matches!(
            &refused[..],
            [Err(KafkaError::MessageProduction(
                rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge
            ))]
        ),
        "{refused:?}"
    );
    // A bad value changes nothing (the INVALID_CONFIG code itself is checked with
    // confluent-kafka in tests/python/configs.py: rust-rdkafka reports this result as Ok).
    let bad = AlterConfig::new(ResourceSpecifier::Topic("altered")).set("retention.ms", "soon");
    block_on(admin.alter_configs([&bad], &AdminOptions::new()))??;
    let resource = describe_topic(&admin, "altered")?;
    let entry = resource
        .get("max.message.bytes")
        .ok_or_else(|| anyhow::anyhow!("no max.message.bytes"))?;
    assert_eq!(entry.value.as_deref(), Some("1000"));
    assert_eq!(entry.source, rdkafka::admin::ConfigSource::DynamicTopic);
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("604800000")
    );
    Ok(())
}

#[test]
fn topic_and_broker_configs_persist_across_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let start = || {
        josefine::Broker::builder()
            .log_dir(dir.path())
            .start_blocking()
    };
    let broker = start()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "durable", 1, &[])?;
    let client = admin(&bootstrap)?;
    let topic = AlterConfig::new(ResourceSpecifier::Topic("durable")).set("retention.ms", "123456");
    let cluster =
        AlterConfig::new(ResourceSpecifier::Broker(0)).set("log.retention.bytes", "7777777");
    for result in block_on(client.alter_configs([&topic, &cluster], &AdminOptions::new()))?? {
        result.map_err(|(resource, code)| anyhow::anyhow!("{resource:?}: {code}"))?;
    }
    drop(client);
    broker.shutdown();
    let broker = start()?;
    let admin = admin(&broker.bootstrap_servers())?;
    let resource = describe_topic(&admin, "durable")?;
    let retention = resource
        .get("retention.ms")
        .ok_or_else(|| anyhow::anyhow!("no retention.ms"))?;
    assert_eq!(retention.value.as_deref(), Some("123456"));
    let bytes = resource
        .get("retention.bytes")
        .ok_or_else(|| anyhow::anyhow!("no retention.bytes"))?;
    assert_eq!(bytes.value.as_deref(), Some("7777777"));
    assert_eq!(bytes.source, rdkafka::admin::ConfigSource::DynamicBroker);
    Ok(())
}

#[test]
fn offset_for_leader_epoch_answers_the_log_end() -> TestResult {
    let _watchdog = watchdog::guard();
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::{
        ApiKey, BrokerId, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
    };
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "epochs", 1, &[])?;
    produce(&bootstrap, "epochs", &numbered(0..7))?;
    let partition = |current: i32, epoch: i32| {
        OffsetForLeaderPartition::default()
            .with_partition(0)
            .with_current_leader_epoch(current)
            .with_leader_epoch(epoch)
    };
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName("epochs".to_string().into()))
            .with_partitions(vec![
                partition(0, 0),
                partition(-1, 3),
                partition(5, 0),
            ])]);
    let mut stream = connect(&bootstrap)?;
    let response: OffsetForLeaderEpochResponse =
        round_trip(&mut stream, ApiKey::OffsetForLeaderEpoch, 4, &request)?;
    let answers: Vec<(i16, i32, i64)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
        .collect();
    assert_eq!(answers, vec![(0, 0, 7), (0, -1, -1), (75, -1, -1)]);
    Ok(())
}
