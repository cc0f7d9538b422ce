//! Topic administration and configs through librdkafka's admin client.

use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

use crate::common::*;
use crate::watchdog;

#[test]
fn create_topics_errors_follow_kafka() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let admin = admin(&bootstrap)?;
    let options = AdminOptions::new();
    let cases = [
        (
            NewTopic::new("rf3", 1, TopicReplication::Fixed(3)),
            RDKafkaErrorCode::InvalidReplicationFactor,
        ),
        (
            NewTopic::new("bad/name", 1, TopicReplication::Fixed(1)),
            RDKafkaErrorCode::InvalidTopic,
        ),
        (
            NewTopic::new("zero", 0, TopicReplication::Fixed(1)),
            RDKafkaErrorCode::InvalidPartitions,
        ),
        (
            NewTopic::new("badconf", 1, TopicReplication::Fixed(1)).set("no.such.config", "1"),
            RDKafkaErrorCode::InvalidConfig,
        ),
        (
            NewTopic::new("badvalue", 1, TopicReplication::Fixed(1))
                .set("message.timestamp.type", "Sometimes"),
            RDKafkaErrorCode::InvalidConfig,
        ),
    ];
    for (topic, expected) in cases {
        let name = topic.name.to_string();
        let results = block_on(admin.create_topics([&topic], &options))??;
        assert!(
            matches!(results.as_slice(), [Err((_, code))] if *code == expected),
            "{name}: {results:?}"
        );
    }
    // validate_only creates nothing.
    let validate = AdminOptions::new().validate_only(true);
    let results = block_on(admin.create_topics(
        [&NewTopic::new("checked", 2, TopicReplication::Fixed(1))],
        &validate,
    ))??;
    assert!(matches!(results.as_slice(), [Ok(_)]), "{results:?}");
    let consumer = consumer(&bootstrap, &[])?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    assert!(
        metadata.topics().iter().all(|t| t.name() != "checked"),
        "validate_only created the topic"
    );
    Ok(())
}

#[test]
fn delete_topics_and_create_partitions() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let admin = admin(&bootstrap)?;
    let options = AdminOptions::new();
    create_topic(&bootstrap, "grow", 1, &[])?;
    let results = block_on(admin.create_partitions([&NewPartitions::new("grow", 4)], &options))??;
    assert!(matches!(results.as_slice(), [Ok(_)]), "{results:?}");
    let results = block_on(admin.create_partitions([&NewPartitions::new("grow", 2)], &options))??;
    assert!(
        matches!(
            results.as_slice(),
            [Err((_, RDKafkaErrorCode::InvalidPartitions))]
        ),
        "{results:?}"
    );
    let results = block_on(admin.create_partitions([&NewPartitions::new("nope", 2)], &options))??;
    assert!(
        matches!(
            results.as_slice(),
            [Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))]
        ),
        "{results:?}"
    );
    // The new partitions take records.
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    let reports = produce_numbered(&producer, &deliveries, "grow", 4, 40, 1_700_000_000_000)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");

    let results = block_on(admin.delete_topics(&["grow"], &options))??;
    assert!(matches!(results.as_slice(), [Ok(_)]), "{results:?}");
    let results = block_on(admin.delete_topics(&["grow"], &options))??;
    assert!(
        matches!(
            results.as_slice(),
            [Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))]
        ),
        "{results:?}"
    );
    // A deleted topic can be created again, empty.
    create_topic(&bootstrap, "grow", 1, &[])?;
    let consumer = consumer(&bootstrap, &[])?;
    let (low, high) = consumer.fetch_watermarks("grow", 0, Duration::from_secs(10))?;
    assert_eq!((low, high), (0, 0));
    Ok(())
}

#[test]
fn describe_configs_of_topic_and_broker() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("log.retention.hours", "1")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    let admin = admin(&bootstrap)?;
    create_topic(
        &bootstrap,
        "configured",
        1,
        &[("cleanup.policy", "compact"), ("segment.bytes", "1048576")],
    )?;
    let results = block_on(admin.describe_configs(
        [
            &ResourceSpecifier::Topic("configured"),
            &ResourceSpecifier::Broker(0),
        ],
        &AdminOptions::new(),
    ))??;
    let topic = results[0].as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let get = |name: &str| {
        topic
            .get(name)
            .map(|e| (e.value.clone(), format!("{:?}", e.source)))
    };
    assert_eq!(
        get("cleanup.policy"),
        Some((Some("compact".into()), "DynamicTopic".to_string()))
    );
    assert_eq!(
        get("segment.bytes"),
        Some((Some("1048576".into()), "DynamicTopic".to_string()))
    );
    assert_eq!(
        get("retention.ms"),
        Some((Some("3600000".into()), "StaticBroker".to_string()))
    );
    assert_eq!(
        get("max.message.bytes"),
        Some((Some("1048588".into()), "Default".to_string()))
    );
    let broker_configs = results[1].as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        broker_configs
            .get("log.retention.hours")
            .and_then(|e| e.value.clone()),
        Some("1".into())
    );
    assert_eq!(
        broker_configs
            .get("num.partitions")
            .and_then(|e| e.value.clone()),
        Some("1".into())
    );
    // rust-rdkafka drops per-resource errors, so an unknown topic shows as no entries here;
    // bad_input.rs checks the UNKNOWN_TOPIC_OR_PARTITION code on the wire.
    let results = block_on(
        admin.describe_configs([&ResourceSpecifier::Topic("missing")], &AdminOptions::new()),
    )??;
    assert!(
        matches!(results.as_slice(), [Ok(resource)] if resource.entries.is_empty()),
        "{results:?}"
    );
    Ok(())
}
