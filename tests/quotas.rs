//! Client quotas: AlterClientQuotas / DescribeClientQuotas on the wire (no client library
//! here has them: librdkafka, confluent-kafka and kafka-python lack the APIs), and real
//! librdkafka clients throttled by `producer_byte_rate` and `consumer_byte_rate`, asserted
//! through the throttle times librdkafka itself reports in its statistics.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::common::*;
use crate::watchdog;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An entity of (type, name) pairs; `None` is the default entity.
fn entity(pairs: &[(&str, Option<&str>)]) -> Vec<EntityData> {
    pairs
        .iter()
        .map(|(t, n)| {
            EntityData::default()
                .with_entity_type(s(t))
                .with_entity_name(n.map(s))
        })
        .collect()
}

fn set(key: &str, value: f64) -> OpData {
    OpData::default().with_key(s(key)).with_value(value)
}

fn alter(
    bootstrap: &str,
    entries: Vec<EntryData>,
    validate_only: bool,
) -> TestResult<AlterClientQuotasResponse> {
    let mut stream = connect(bootstrap)?;
    round_trip(
        &mut stream,
        ApiKey::AlterClientQuotas,
        1,
        &AlterClientQuotasRequest::default()
            .with_entries(entries)
            .with_validate_only(validate_only),
    )
}

fn describe(
    bootstrap: &str,
    components: Vec<ComponentData>,
    strict: bool,
) -> TestResult<DescribeClientQuotasResponse> {
    let mut stream = connect(bootstrap)?;
    round_trip(
        &mut stream,
        ApiKey::DescribeClientQuotas,
        1,
        &DescribeClientQuotasRequest::default()
            .with_components(components)
            .with_strict(strict),
    )
}

fn component(entity_type: &str, match_type: i8, name: Option<&str>) -> ComponentData {
    ComponentData::default()
        .with_entity_type(s(entity_type))
        .with_match_type(match_type)
        .with_match(name.map(s))
}

/// One described entity: its `type=name` pairs and its quotas.
type Described = (Vec<String>, Vec<(String, f64)>);

/// Entities of a describe response as `type=name` lists with their values.
fn entries(response: &DescribeClientQuotasResponse) -> Vec<Described> {
    response
        .entries
        .iter()
        .flatten()
        .map(|e| {
            let entity = e
                .entity
                .iter()
                .map(|d| {
                    format!(
                        "{}={}",
                        d.entity_type,
                        d.entity_name.as_deref().unwrap_or("<default>")
                    )
                })
                .collect();
            let values = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            (entity, values)
        })
        .collect()
}

fn assert_all_ok(response: &AlterClientQuotasResponse) {
    assert!(
        response.entries.iter().all(|e| e.error_code == 0),
        "{response:?}"
    );
}

#[test]
fn alter_and_describe_client_quotas_follow_kafka() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let alice_app = || entity(&[("user", Some("alice")), ("client-id", Some("app"))]);
    // validate_only changes nothing.
    let checked = alter(
        &bootstrap,
        vec![EntryData::default()
            .with_entity(alice_app())
            .with_ops(vec![set("producer_byte_rate", 1024.0)])],
        true,
    )?;
    assert_all_ok(&checked);
    assert_eq!(entries(&describe(&bootstrap, vec![], false)?), vec![]);

    let response = alter(
        &bootstrap,
        vec![
            EntryData::default().with_entity(alice_app()).with_ops(vec![
                set("producer_byte_rate", 1024.0),
                set("request_percentage", 12.5),
            ]),
            EntryData::default()
                .with_entity(entity(&[("user", None)]))
                .with_ops(vec![set("consumer_byte_rate", 2048.0)]),
            EntryData::default()
                .with_entity(entity(&[("client-id", Some("app"))]))
                .with_ops(vec![set("controller_mutation_rate", 3.0)]),
        ],
        false,
    )?;
    assert_all_ok(&response);
    assert_eq!(response.entries.len(), 3);

    let all = entries(&describe(&bootstrap, vec![], false)?);
    assert_eq!(all.len(), 3, "{all:?}");
    let exact = entries(&describe(
        &bootstrap,
        vec![component("user", 0, Some("alice"))],
        false,
    )?);
    assert_eq!(
        exact,
        vec![(
            vec!["client-id=app".to_string(), "user=alice".to_string()],
            vec![
                ("producer_byte_rate".to_string(), 1024.0),
                ("request_percentage".to_string(), 12.5)
            ]
        )]
    );
    // strict: only entities of exactly the filtered types.
    assert_eq!(
        describe(&bootstrap, vec![component("user", 0, Some("alice"))], true)?
            .entries
            .map(|e| e.len()),
        Some(0)
    );
    let defaults = entries(&describe(
        &bootstrap,
        vec![component("user", 1, None)],
        true,
    )?);
    assert_eq!(
        defaults,
        vec![(
            vec!["user=<default>".to_string()],
            vec![("consumer_byte_rate".to_string(), 2048.0)]
        )]
    );
    let any_client = describe(&bootstrap, vec![component("client-id", 2, None)], false)?;
    assert_eq!(any_client.entries.map(|e| e.len()), Some(2));

    // Kafka's errors: INVALID_REQUEST (42) per entity with its message, the others applied.
    let response = alter(
        &bootstrap,
        vec![
            EntryData::default()
                .with_entity(entity(&[("user", Some("bob"))]))
                .with_ops(vec![set("no_such_quota", 1.0)]),
            EntryData::default()
                .with_entity(entity(&[("user", Some("carol"))]))
                .with_ops(vec![set("producer_byte_rate", 1.5)]),
            EntryData::default()
                .with_entity(entity(&[("group", Some("g"))]))
                .with_ops(vec![set("producer_byte_rate", 1.0)]),
            EntryData::default()
                .with_entity(entity(&[("ip", Some("10.0.0.1")), ("user", None)]))
                .with_ops(vec![set("connection_creation_rate", 1.0)]),
            EntryData::default()
                .with_entity(entity(&[("user", Some("dave"))]))
                .with_ops(vec![set("producer_byte_rate", 0.0)]),
        ],
        false,
    )?;
    let errors: Vec<(i16, String)> = response
        .entries
        .iter()
        .map(|e| {
            (
                e.error_code,
                e.error_message.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (42, "Invalid configuration key no_such_quota".to_string()),
            (42, "producer_byte_rate cannot be a fractional value.".to_string()),
            (42, "Unhandled client quota entity type: group".to_string()),
            (
                42,
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
                    .to_string()
            ),
            (42, "Quota producer_byte_rate must be greater than 0".to_string()),
        ]
    );
    // An unknown entity type in a filter is UNSUPPORTED_VERSION (35), a bad match INVALID_REQUEST.
    let unknown = describe(&bootstrap, vec![component("group", 2, None)], false)?;
    assert_eq!(unknown.error_code, 35);
    assert_eq!(
        unknown.error_message.as_deref(),
        Some("Unsupported entity type group")
    );
    let bad = describe(&bootstrap, vec![component("user", 1, Some("x"))], false)?;
    assert_eq!(bad.error_code, 42);

    // Removing every key of an entity removes the entity.
    let removed = alter(
        &bootstrap,
        vec![EntryData::default()
            .with_entity(entity(&[("client-id", Some("app"))]))
            .with_ops(vec![OpData::default()
                .with_key(s("controller_mutation_rate"))
                .with_remove(true)])],
        false,
    )?;
    assert_all_ok(&removed);
    assert_eq!(entries(&describe(&bootstrap, vec![], false)?).len(), 2);
    Ok(())
}

#[test]
fn client_quotas_survive_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let broker = josefine::Broker::builder()
        .log_dir(dir.path())
        .start_blocking()?;
    let response = alter(
        &broker.bootstrap_servers(),
        vec![EntryData::default()
            .with_entity(entity(&[("user", None), ("client-id", Some("c"))]))
            .with_ops(vec![set("producer_byte_rate", 4096.0)])],
        false,
    )?;
    assert_all_ok(&response);
    broker.shutdown();
    assert!(dir.path().join("josefine-client-quotas.json").exists());
    let broker = josefine::Broker::builder()
        .log_dir(dir.path())
        .start_blocking()?;
    let described = entries(&describe(&broker.bootstrap_servers(), vec![], false)?);
    assert_eq!(
        described,
        vec![(
            vec!["client-id=c".to_string(), "user=<default>".to_string()],
            vec![("producer_byte_rate".to_string(), 4096.0)]
        )]
    );
    Ok(())
}

/// The longest broker throttle time librdkafka reported in its statistics (ms).
#[derive(Clone, Default)]
struct Throttle(Arc<AtomicI64>);

impl ClientContext for Throttle {
    fn stats(&self, statistics: Statistics) {
        for broker in statistics.brokers.values() {
            if let Some(window) = &broker.throttle {
                self.0.fetch_max(window.max, Ordering::Relaxed);
            }
        }
    }
}

impl ProducerContext for Throttle {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

impl rdkafka::consumer::ConsumerContext for Throttle {}

impl Throttle {
    fn max_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A broker whose quota rates are measured over 2 windows of 1 s, so that throttle times stay
/// around a second.
fn quota_broker() -> TestResult<josefine::BlockingBroker> {
    Ok(josefine::Broker::builder()
        .property("quota.window.num", "2")
        .property("quota.window.size.seconds", "1")
        .start_blocking()?)
}

fn set_client_quota(bootstrap: &str, client_id: &str, key: &str, value: f64) -> TestResult {
    let response = alter(
        bootstrap,
        vec![EntryData::default()
            .with_entity(entity(&[("client-id", Some(client_id))]))
            .with_ops(vec![set(key, value)])],
        false,
    )?;
    assert_all_ok(&response);
    Ok(())
}

#[test]
fn producer_byte_rate_throttles_a_producer() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = quota_broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "throttled", 1, &[])?;
    set_client_quota(&bootstrap, "slow-producer", "producer_byte_rate", 10_240.0)?;
    let produce = |client_id: &str| -> TestResult<i64> {
        let throttle = Throttle::default();
        let producer: BaseProducer<Throttle> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("client.id", client_id)
            .set("statistics.interval.ms", "100")
            .set("linger.ms", "0")
            .set("batch.size", "4096")
            .create_with_context(throttle.clone())?;
        let payload = vec![7u8; 1024];
        for _ in 0..40 {
            producer
                .send(BaseRecord::<(), [u8]>::to("throttled").payload(&payload))
                .map_err(|(e, _)| e)?;
        }
        producer.flush(PATIENCE)?;
        // Statistics come every 100 ms: wait for the interval that saw the responses.
        let deadline = Instant::now() + Duration::from_secs(3);
        while throttle.max_ms() == 0 && Instant::now() < deadline {
            producer.poll(Duration::from_millis(100));
        }
        Ok(throttle.max_ms())
    };
    // 40 KiB against 10 KiB/s over a 1 s window: throttled.
    let throttled = produce("slow-producer")?;
    assert!(throttled > 0, "librdkafka reported no throttle");
    assert!(throttled <= 5000, "throttled {throttled} ms");
    // Another client id has no quota.
    assert_eq!(produce("free-producer")?, 0);
    Ok(())
}

#[test]
fn consumer_byte_rate_throttles_a_consumer() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = quota_broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "metered", 1, &[])?;
    // One record a batch: a batch above the quota's window (10 KiB here) could never be
    // fetched without a throttle, in Kafka as here.
    let (producer, deliveries) = producer(&bootstrap, &[("batch.num.messages", "1")])?;
    let payload = vec![3u8; 1024];
    for _ in 0..40 {
        enqueue(&producer, BaseRecord::to("metered").payload(&payload[..]))?;
    }
    let delivered = flush(&producer, &deliveries)?;
    assert!(delivered.iter().all(Result::is_ok));
    set_client_quota(&bootstrap, "slow-consumer", "consumer_byte_rate", 10_240.0)?;

    let throttle = Throttle::default();
    let consumer: BaseConsumer<Throttle> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("client.id", "slow-consumer")
        .set("group.id", "metered")
        .set("statistics.interval.ms", "100")
        .set("fetch.wait.max.ms", "100")
        .create_with_context(throttle.clone())?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("metered", 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let mut received = 0;
    let deadline = Instant::now() + PATIENCE;
    while (received < 40 || throttle.max_ms() == 0) && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            assert_eq!(message?.payload().map(<[u8]>::len), Some(1024));
            received += 1;
        }
    }
    // Every record arrives, fetch by fetch, and librdkafka saw the broker throttle it.
    assert_eq!(received, 40);
    assert!(throttle.max_ms() > 0, "librdkafka reported no throttle");
    Ok(())
}

#[test]
fn request_percentage_throttles_every_api_within_one_window() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = quota_broker()?;
    let bootstrap = broker.bootstrap_servers();
    // The raw test connection's client id is "raw": every request is past a billionth of a
    // percent of a thread.
    set_client_quota(&bootstrap, "raw", "request_percentage", 1e-9)?;
    let mut stream = connect(&bootstrap)?;
    let metadata: MetadataResponse = round_trip(
        &mut stream,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )?;
    // Kafka bounds a request quota throttle by one window (1 s here).
    assert_eq!(metadata.throttle_time_ms, 1000);
    // The quota APIs are throttled like any other.
    let described: DescribeClientQuotasResponse = round_trip(
        &mut stream,
        ApiKey::DescribeClientQuotas,
        1,
        &DescribeClientQuotasRequest::default(),
    )?;
    assert_eq!(described.throttle_time_ms, 1000);
    Ok(())
}
