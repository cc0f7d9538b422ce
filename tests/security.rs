//! The security parts together, as production configs combine them: SASL over TLS with SCRAM
//! credentials, Python's confluent-kafka over SASL_SSL, and principals (a SASL login, a client
//! certificate mapped by `ssl.principal.mapping.rules`) decided by ACLs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientContext;

use crate::common::*;
use crate::tls::Pki;
use crate::watchdog;

fn refs<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A broker with a PLAINTEXT listener (for the admin client) and a SASL_SSL listener serving
/// SCRAM-SHA-512, its key store a PEM file.
fn sasl_ssl_broker(pki: &Pki) -> TestResult<josefine::BlockingBroker> {
    Ok(josefine::Broker::builder()
        .property(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        )
        .property("listener.name.sasl_ssl.ssl.keystore.type", "PEM")
        .property(
            "listener.name.sasl_ssl.ssl.keystore.location",
            pki.file("server-store.pem"),
        )
        .property("sasl.enabled.mechanisms", "SCRAM-SHA-512")
        .start_blocking()?)
}

fn scram_client(pki: &Pki, password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", "SASL_SSL".into()),
        ("ssl.ca.location", pki.file("ca.pem")),
        ("sasl.mechanism", "SCRAM-SHA-512".into()),
        ("sasl.username", "carol".into()),
        ("sasl.password", password.into()),
    ]
}

/// Records the errors librdkafka reports, such as authentication failures.
#[derive(Default, Clone)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{error}: {reason}"));
    }
}

impl rdkafka::producer::ProducerContext for Errors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

/// The first authentication error a producer with `settings` reports.
fn authentication_error(
    bootstrap: &str,
    settings: &[(&'static str, String)],
) -> TestResult<String> {
    let errors = Errors::default();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in settings {
        config.set(*key, value);
    }
    let producer: BaseProducer<Errors> = config.create_with_context(errors.clone())?;
    let start = Instant::now();
    loop {
        producer.poll(Duration::from_millis(100));
        let _ = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(200));
        let seen = errors.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(error) = seen.into_iter().find(|e| e.contains("Authentication")) {
            return Ok(error);
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "no authentication error");
    }
}

/// Produces `count` records to `topic` with `settings` and reads them back.
fn round_trip(
    bootstrap: &str,
    settings: &[(&'static str, String)],
    topic: &str,
    count: usize,
) -> TestResult {
    let mut client = refs(settings);
    let (producer, deliveries) = producer(bootstrap, &client)?;
    for i in 0..count {
        let value = format!("secured {i}");
        enqueue(
            &producer,
            BaseRecord::to(topic).key("k").payload(value.as_bytes()),
        )?;
    }
    let reports = flush(&producer, &deliveries)?;
    assert_eq!(reports.len(), count);
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    client.push(("group.id", "security-tests"));
    let consumer = consumer(bootstrap, &client)?;
    assign_from_beginning(&consumer, topic, 1)?;
    let records = consume(&consumer, count)?;
    assert_eq!(
        records.last().and_then(|r| r.payload.clone()),
        Some(format!("secured {}", count - 1).into_bytes())
    );
    Ok(())
}

#[test]
fn sasl_ssl_with_scram_sha_512_for_librdkafka_and_python() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    let broker = sasl_ssl_broker(&pki)?;
    let addresses = broker.local_addrs();
    let (plaintext, sasl_ssl) = (addresses[0].to_string(), addresses[1].to_string());
    // The user is made by Python's admin client over PLAINTEXT, which then produces and
    // consumes over SASL_SSL and sees a wrong password refused.
    run_python(
        "confluent_kafka",
        "confluent-kafka",
        "sasl_ssl.py",
        &[&plaintext, &sasl_ssl, &pki.file("ca.pem")],
        "python sasl_ssl ok",
    )?;
    round_trip(
        &sasl_ssl,
        &scram_client(&pki, "carol-secret"),
        "rust-sasl-ssl",
        200,
    )?;
    let refusal = authentication_error(&sasl_ssl, &scram_client(&pki, "not-carols"))?;
    assert!(
        refusal.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{refusal}"
    );
    Ok(())
}
