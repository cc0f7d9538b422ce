//! The security parts together, as production configs combine them: SASL over TLS with SCRAM
//! credentials, Python's confluent-kafka over SASL_SSL, and principals (a SASL login, a client
//! certificate mapped by `ssl.principal.mapping.rules`) decided by ACLs.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::common::*;
use crate::tls::{round_trip, Pki};
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

/// The first authentication error a producer with `settings` reports.
fn authentication_error(
    bootstrap: &str,
    settings: &[(&'static str, String)],
) -> TestResult<String> {
    let errors = ClientErrors::default();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in settings {
        config.set(*key, value);
    }
    let producer: BaseProducer<ClientErrors> = config.create_with_context(errors.clone())?;
    let start = Instant::now();
    loop {
        producer.poll(Duration::from_millis(100));
        let _ = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(200));
        let seen = errors.all();
        if let Some(error) = seen.into_iter().find(|e| e.contains("Authentication")) {
            return Ok(error);
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "no authentication error");
    }
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
    )?;
    let refusal = authentication_error(&sasl_ssl, &scram_client(&pki, "not-carols"))?;
    assert!(
        refusal.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{refusal}"
    );
    Ok(())
}

const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Gives `principal` WRITE, READ and DESCRIBE on `topic` through the PLAINTEXT listener
/// `admin` (whose `User:ANONYMOUS` is a super user), and creates `topic` and `forbidden`.
fn grant(admin: &str, principal: &str, topic: &str) -> TestResult {
    run_python(
        "confluent_kafka",
        "confluent-kafka",
        "principal_acls.py",
        &[admin, principal, topic],
        &format!("acls for {principal} created"),
    )
}

fn refused(delivery: &Delivery) -> bool {
    matches!(
        delivery,
        Err(KafkaError::MessageProduction(
            RDKafkaErrorCode::TopicAuthorizationFailed
        ))
    )
}

#[test]
fn a_client_certificate_mapped_by_the_rules_is_the_principal_acls_check() -> TestResult {
    let _watchdog = watchdog::guard();
    let pki = Pki::new()?;
    let broker = josefine::Broker::builder()
        .property("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0")
        .property("authorizer.class.name", STANDARD_AUTHORIZER)
        .property("super.users", "User:ANONYMOUS")
        .property("listener.name.ssl.ssl.keystore.type", "PEM")
        .property(
            "listener.name.ssl.ssl.keystore.location",
            pki.file("server-store.pem"),
        )
        .property("listener.name.ssl.ssl.truststore.type", "PEM")
        .property(
            "listener.name.ssl.ssl.truststore.location",
            pki.file("ca.pem"),
        )
        .property("listener.name.ssl.ssl.client.auth", "required")
        // The certificate's subject is `CN=alice,OU=eng,O=Acme,C=US`: the rule keeps the CN.
        .property(
            "ssl.principal.mapping.rules",
            "RULE:^CN=([^,]*),OU=eng,.*$/$1/L,DEFAULT",
        )
        .start_blocking()?;
    let addresses = broker.local_addrs();
    let (plaintext, ssl) = (addresses[0].to_string(), addresses[1].to_string());
    grant(&plaintext, "User:alice", "alice-topic")?;
    let alice = pki.client(true);
    let allowed = produce_one(&ssl, &refs(&alice), "alice-topic")?;
    assert!(allowed.is_ok(), "{allowed:?}");
    let denied = produce_one(&ssl, &refs(&alice), "forbidden")?;
    assert!(refused(&denied), "{denied:?}");
    Ok(())
}

#[test]
fn a_sasl_login_is_the_principal_acls_check() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property(
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        )
        .property("authorizer.class.name", STANDARD_AUTHORIZER)
        .property("super.users", "User:ANONYMOUS")
        .property("sasl.enabled.mechanisms", "PLAIN")
        .property(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             user_alice=\"alice-secret\" user_bob=\"bob-secret\";",
        )
        .start_blocking()?;
    let addresses = broker.local_addrs();
    let (plaintext, sasl) = (addresses[0].to_string(), addresses[1].to_string());
    grant(&plaintext, "User:alice", "alice-only")?;
    let login = |user: &str, password: &str| -> Vec<(&'static str, String)> {
        vec![
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "PLAIN".into()),
            ("sasl.username", user.into()),
            ("sasl.password", password.into()),
        ]
    };
    let alice = produce_one(&sasl, &refs(&login("alice", "alice-secret")), "alice-only")?;
    assert!(alice.is_ok(), "{alice:?}");
    let bob = produce_one(&sasl, &refs(&login("bob", "bob-secret")), "alice-only")?;
    assert!(refused(&bob), "{bob:?}");
    // alice's records are read back by alice, over her own login.
    let mut client = login("alice", "alice-secret");
    client.push(("group.id", "alice-group".into()));
    let consumer = consumer(&sasl, &refs(&client))?;
    assign_from_beginning(&consumer, "alice-only", 1)?;
    assert_eq!(
        consume(&consumer, 1)?[0].payload.as_deref(),
        Some(&b"v"[..])
    );
    Ok(())
}
