//! Fault injection (issue #18, `Broker::faults` and `josefine.faults`) seen by real clients:
//! librdkafka retries Produce requests refused with NOT_LEADER_OR_FOLLOWER and appends the
//! record once; a non-retriable error reaches its delivery report; a closed connection is
//! reopened; a dropped Produce response is retried by an idempotent producer without a
//! duplicate; a delayed Fetch answer is seen late by the confluent-kafka crate's consumer;
//! and a rule list given as a broker property is armed at start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use confluent_kafka::common::serialization::{ByteArrayDeserializer, ByteArraySerializer};
use confluent_kafka::consumer::{Consumer as _, ConsumerConfig, KafkaConsumer};
use confluent_kafka::producer::{KafkaProducer, Producer as _, ProducerConfig, ProducerRecord};
use josefine::messages::{ApiKey, ProduceResponse};
use josefine::{Fault, ResponseError};
use rdkafka::producer::BaseRecord;

use crate::common::{self, TestResult, PATIENCE};
use crate::watchdog;

/// Produces `values` to partition 0 of `topic` with librdkafka and returns the delivery
/// reports.
async fn produce(
    bootstrap: &str,
    topic: &str,
    values: &[&str],
    extra: &[(&str, &str)],
) -> TestResult<Vec<common::Delivery>> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (producer, deliveries) = common::producer(&bootstrap, &extra)?;
        for value in &values {
            common::enqueue(
                &producer,
                BaseRecord::to(&topic)
                    .partition(0)
                    .payload(value.as_bytes()),
            )?;
        }
        common::flush(&producer, &deliveries)
    })
    .await?
}

async fn read_values(bootstrap: &str, topic: &str) -> TestResult<Vec<String>> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let records =
        tokio::task::spawn_blocking(move || common::read_to_end(&bootstrap, &topic)).await??;
    Ok(records
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload.as_deref().unwrap_or_default()).into_owned())
        .collect())
}

async fn create_topic(bootstrap: &str, topic: &str) -> TestResult {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || common::create_topic(&bootstrap, &topic, 1, &[])).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_refused_as_not_leader_is_retried_and_appended_once() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "moved").await?;
    let requests = broker.requests();
    let rule = broker.faults().inject(
        Fault::error(ApiKey::Produce, ResponseError::NotLeaderOrFollower)
            .topic("moved")
            .partition(0)
            .times(2),
    );
    // Another topic is not affected.
    create_topic(&bootstrap, "calm").await?;
    let calm = produce(&bootstrap, "calm", &["c"], &[]).await?;
    assert_eq!(calm.len(), 1);
    assert!(calm[0].is_ok(), "{calm:?}");
    assert_eq!(broker.faults().fired(rule), 0);

    let deliveries = produce(&bootstrap, "moved", &["m"], &[("retry.backoff.ms", "10")]).await?;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].as_ref().ok(), Some(&(0, 0)), "{deliveries:?}");
    assert_eq!(broker.faults().fired(rule), 2);
    assert_eq!(read_values(&bootstrap, "moved").await?, ["m"]);
    // The capture shows the two refusals, then the append.
    let mut codes = Vec::new();
    while codes.len() < 3 {
        let produce = tokio::time::timeout(
            PATIENCE,
            requests.next_matching(|r| {
                r.api_key == ApiKey::Produce
                    && r.request::<josefine::messages::ProduceRequest>()
                        .is_some_and(|p| p.topic_data[0].name.as_str() == "moved")
            }),
        )
        .await?;
        let response: ProduceResponse = produce
            .response()
            .ok_or_else(|| anyhow::anyhow!("no response"))?;
        codes.push(response.responses[0].partition_responses[0].error_code);
    }
    assert_eq!(codes, [6, 6, 0]);
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retriable_error_reaches_the_delivery_report() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "refused").await?;
    broker
        .faults()
        .inject(Fault::error(ApiKey::Produce, ResponseError::TopicAuthorizationFailed).times(1));
    let deliveries = produce(&bootstrap, "refused", &["x"], &[]).await?;
    assert_eq!(deliveries.len(), 1);
    let error = deliveries[0]
        .as_ref()
        .err()
        .ok_or_else(|| anyhow::anyhow!("delivered: {deliveries:?}"))?;
    assert_eq!(
        error.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed)
    );
    assert!(read_values(&bootstrap, "refused").await?.is_empty());
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_produce_response_is_retried_without_a_duplicate_by_an_idempotent_producer(
) -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "lost-answer").await?;
    let requests = broker.requests();
    let rule = broker.faults().inject(
        Fault::drop_response(ApiKey::Produce)
            .topic("lost-answer")
            .times(1),
    );
    let deliveries = produce(
        &bootstrap,
        "lost-answer",
        &["once"],
        &[
            ("enable.idempotence", "true"),
            ("socket.timeout.ms", "4000"),
            ("message.timeout.ms", "60000"),
            ("retry.backoff.ms", "10"),
        ],
    )
    .await?;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].is_ok(), "{deliveries:?}");
    assert_eq!(broker.faults().fired(rule), 1);
    // The first attempt was appended but not answered; the retry, on a new connection, is
    // the same batch (producer id, epoch, sequence): answered with the first append's offset
    // and not appended again.
    let produced: Vec<_> = requests
        .drain()
        .into_iter()
        .filter(|r| r.api_key == ApiKey::Produce)
        .collect();
    // Two attempts, or more when a retry itself was slow on a loaded machine.
    assert!(produced.len() >= 2, "{produced:?}");
    assert!(produced[0].response::<ProduceResponse>().is_none());
    let last = &produced[produced.len() - 1];
    assert_ne!(produced[0].peer, last.peer);
    let retry: ProduceResponse = last
        .response()
        .ok_or_else(|| anyhow::anyhow!("retry not answered"))?;
    let answered = &retry.responses[0].partition_responses[0];
    assert_eq!((answered.error_code, answered.base_offset), (0, 0));
    assert_eq!(read_values(&bootstrap, "lost-answer").await?, ["once"]);
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_metadata_connections_and_delayed_fetches_with_the_confluent_kafka_crate(
) -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "slow").await?;
    let closed = broker.faults().inject(
        Fault::close_connection(ApiKey::Metadata)
            .client_id("java-style")
            .times(1),
    );
    let delay = Duration::from_millis(1500);
    let delayed = broker.faults().inject(
        Fault::delay_response(ApiKey::Fetch, delay)
            .client_id("java-style")
            .topic("slow")
            .times(1),
    );

    let config: HashMap<String, String> = [
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "java-style"),
        ("retry.backoff.ms", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let producer = KafkaProducer::new(
        ProducerConfig::new(&config)?,
        ByteArraySerializer::default(),
        ByteArraySerializer::default(),
    )?;
    let record = ProducerRecord::<&[u8], &[u8]>::new("slow".to_string(), Some(b"late".as_slice()));
    let metadata = producer.send(record, None).await?.get().await?;
    assert_eq!(metadata.offset(), 0);
    producer.close_with_timeout(Duration::from_secs(5)).await?;
    assert_eq!(broker.faults().fired(closed), 1);

    let mut consumer_config = config.clone();
    consumer_config.insert("group.id".into(), "slow-readers".into());
    consumer_config.insert("auto.offset.reset".into(), "earliest".into());
    // The crate speaks only KIP-848's consumer group protocol.
    consumer_config.insert("group.protocol".into(), "consumer".into());
    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::new(&consumer_config)?,
        ByteArrayDeserializer::default(),
        ByteArrayDeserializer::default(),
    )?;
    consumer
        .subscribe_with_topics(vec!["slow".to_string()])
        .await?;
    let start = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() {
        anyhow::ensure!(start.elapsed() < PATIENCE, "nothing consumed");
        for record in consumer.poll(Duration::from_millis(200)).await? {
            got.push(record.value().cloned().unwrap_or_default());
        }
    }
    assert_eq!(got, [b"late".to_vec()]);
    assert_eq!(broker.faults().fired(delayed), 1);
    assert!(
        start.elapsed() >= delay,
        "answered after {:?}",
        start.elapsed()
    );
    let _ = consumer.close().await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_list_in_the_broker_config_is_armed_at_start() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property(
            "josefine.faults",
            "Produce:error=NOT_LEADER_OR_FOLLOWER:topic=configured:times=1",
        )
        .start()
        .await?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "configured").await?;
    let requests = broker.requests();
    let deliveries = produce(
        &bootstrap,
        "configured",
        &["v"],
        &[("retry.backoff.ms", "10")],
    )
    .await?;
    assert!(deliveries[0].is_ok(), "{deliveries:?}");
    let first: ProduceResponse = tokio::time::timeout(PATIENCE, requests.next_of(ApiKey::Produce))
        .await?
        .response()
        .ok_or_else(|| anyhow::anyhow!("no response"))?;
    assert_eq!(first.responses[0].partition_responses[0].error_code, 6);
    broker.shutdown().await;

    let refused = josefine::Broker::builder()
        .property("josefine.faults", "Produce:teleport")
        .start()
        .await;
    assert!(
        matches!(refused, Err(josefine::Error::Config(_))),
        "{refused:?}"
    );
    Ok(())
}
