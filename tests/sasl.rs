//! SASL on SASL_PLAINTEXT listeners with real clients: PLAIN, SCRAM-SHA-256/512 users made
//! with confluent-kafka's admin client, OAUTHBEARER unsecured tokens, the unframed v0 flow,
//! what is refused before authentication, and KIP-368 re-authentication.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::common::*;
use crate::watchdog;

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
    user_alice=\"alice-secret\";";

/// A broker with one SASL_PLAINTEXT listener serving `mechanisms`, and `extra` properties.
fn sasl_broker(mechanisms: &str, extra: &[(&str, &str)]) -> TestResult<josefine::BlockingBroker> {
    let mut builder = josefine::Broker::builder()
        .property("listeners", "SASL_PLAINTEXT://127.0.0.1:0")
        .property("sasl.enabled.mechanisms", mechanisms)
        .property(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            PLAIN_JAAS,
        );
    for (key, value) in extra {
        builder = builder.property(*key, *value);
    }
    Ok(builder.start_blocking()?)
}

fn sasl_client(mechanism: &str, user: &str, password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", "SASL_PLAINTEXT".into()),
        ("sasl.mechanism", mechanism.into()),
        ("sasl.username", user.into()),
        ("sasl.password", password.into()),
    ]
}

fn as_refs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Produces `count` records to `topic` and checks every one was delivered.
fn produce(
    bootstrap: &str,
    client: &[(&'static str, String)],
    topic: &str,
    count: usize,
) -> TestResult {
    let (producer, deliveries) = producer(bootstrap, &as_refs(client))?;
    for i in 0..count {
        let value = format!("record-{i}");
        enqueue(
            &producer,
            BaseRecord::to(topic).payload(value.as_bytes()).key("k"),
        )?;
    }
    let delivered = flush(&producer, &deliveries)?;
    assert_eq!(delivered.len(), count);
    for delivery in delivered {
        delivery?;
    }
    Ok(())
}

#[test]
fn plain_users_produce_and_consume() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[])?;
    let bootstrap = broker.bootstrap_servers();
    let client = sasl_client("PLAIN", "alice", "alice-secret");
    produce(&bootstrap, &client, "sasl-plain", 10)?;
    let consumer = consumer(&bootstrap, &as_refs(&client))?;
    assign_from_beginning(&consumer, "sasl-plain", 1)?;
    let records = consume(&consumer, 10)?;
    assert_eq!(records[9].payload.as_deref(), Some(&b"record-9"[..]));
    Ok(())
}

#[test]
fn a_wrong_password_is_refused_with_kafkas_message() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[])?;
    let errors = ClientErrors::default();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker.bootstrap_servers());
    for (k, v) in sasl_client("PLAIN", "alice", "wrong") {
        config.set(k, v);
    }
    let producer: BaseProducer<ClientErrors> = config.create_with_context(errors.clone())?;
    let start = Instant::now();
    let refusal = loop {
        producer.poll(Duration::from_millis(100));
        let _ = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(200));
        if let Some(error) = errors
            .all()
            .into_iter()
            .find(|e| e.contains("Authentication"))
        {
            break error;
        }
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "no authentication error: {:?}",
            errors.all()
        );
    };
    assert!(
        refusal.contains("Authentication failed: Invalid username or password"),
        "{refusal}"
    );
    Ok(())
}

#[test]
fn scram_users_from_python_authenticate_and_survive_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let start = || -> TestResult<josefine::BlockingBroker> {
        Ok(josefine::Broker::builder()
            .log_dir(dir.path())
            .property(
                "listeners",
                "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
            )
            .property("sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512")
            .start_blocking()?)
    };
    let broker = start()?;
    let addrs = broker.local_addrs();
    run_python(
        "confluent_kafka",
        "confluent-kafka",
        "scram.py",
        &[&addrs[0].to_string()],
        "python scram ok",
    )?;
    let sasl = addrs[1].to_string();
    produce(
        &sasl,
        &sasl_client("SCRAM-SHA-256", "alice", "alice-secret"),
        "scram",
        3,
    )?;
    // Debian's kcat links librdkafka 2.0.2, whose client-final nonce differs (Kafka accepts it).
    if std::process::Command::new("kcat")
        .arg("-V")
        .output()
        .is_ok()
    {
        let output = std::process::Command::new("kcat")
            .args([
                "-L",
                "-m",
                "20",
                "-b",
                &sasl,
                "-X",
                "security.protocol=SASL_PLAINTEXT",
            ])
            .args([
                "-X",
                "sasl.mechanisms=SCRAM-SHA-256",
                "-X",
                "sasl.username=alice",
            ])
            .args(["-X", "sasl.password=alice-secret"])
            .output()?;
        assert!(
            output.status.success(),
            "kcat with SCRAM-SHA-256 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    } else {
        eprintln!("kcat is not installed: its SCRAM check is skipped");
    }
    produce(
        &sasl,
        &sasl_client("SCRAM-SHA-512", "bob", "bob-secret"),
        "scram",
        3,
    )?;
    broker.shutdown();

    let broker = start()?;
    let sasl = broker.local_addrs()[1].to_string();
    produce(
        &sasl,
        &sasl_client("SCRAM-SHA-512", "bob", "bob-secret"),
        "scram",
        3,
    )?;
    assert_eq!(
        read_to_end(&broker.local_addrs()[0].to_string(), "scram")?.len(),
        9
    );
    Ok(())
}

#[test]
fn oauthbearer_unsecured_tokens_authenticate() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("OAUTHBEARER", &[])?;
    let client = vec![
        ("security.protocol", "SASL_PLAINTEXT".to_string()),
        ("sasl.mechanism", "OAUTHBEARER".to_string()),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true".to_string()),
        ("sasl.oauthbearer.config", "principal=alice".to_string()),
    ];
    produce(&broker.bootstrap_servers(), &client, "oauth", 5)
}

/// Whether the broker closed `stream` (EOF or reset) instead of answering.
fn closed(stream: &mut std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

#[test]
fn only_api_versions_and_sasl_are_served_before_authentication() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[])?;
    let bootstrap = broker.bootstrap_servers();
    let mut stream = connect(&bootstrap)?;
    let versions: ApiVersionsResponse = round_trip(
        &mut stream,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
    )?;
    assert_eq!(versions.error_code, 0);
    stream.write_all(&request(
        ApiKey::Metadata,
        12,
        2,
        &MetadataRequest::default(),
    )?)?;
    assert!(
        closed(&mut stream),
        "Metadata before authentication was served"
    );

    // A frame over sasl.server.max.receive.size (524288) closes before its body is read.
    let mut stream = connect(&bootstrap)?;
    stream.write_all(&524_289i32.to_be_bytes())?;
    assert!(closed(&mut stream), "an oversized frame was accepted");

    // An unknown mechanism gets the enabled list, then the connection closes.
    let mut stream = connect(&bootstrap)?;
    let handshake: SaslHandshakeResponse = round_trip(
        &mut stream,
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI")),
    )?;
    assert_eq!(handshake.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert_eq!(handshake.mechanisms, [StrBytes::from_static_str("PLAIN")]);
    assert!(closed(&mut stream));
    Ok(())
}

#[test]
fn the_unframed_v0_flow_authenticates() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[])?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let handshake: SaslHandshakeResponse = round_trip(
        &mut stream,
        ApiKey::SaslHandshake,
        0,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )?;
    assert_eq!(handshake.error_code, 0);
    let token = b"\0alice\0alice-secret";
    stream.write_all(&(token.len() as i32).to_be_bytes())?;
    stream.write_all(token)?;
    assert!(
        read_response(&mut stream)?.is_empty(),
        "PLAIN answers an empty token"
    );
    let metadata: MetadataResponse = round_trip(
        &mut stream,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default(),
    )?;
    assert_eq!(metadata.brokers.len(), 1);
    Ok(())
}

fn authenticate(
    stream: &mut std::net::TcpStream,
    password: &str,
) -> TestResult<SaslAuthenticateResponse> {
    authenticate_as(stream, "alice", password)
}

fn authenticate_as(
    stream: &mut std::net::TcpStream,
    user: &str,
    password: &str,
) -> TestResult<SaslAuthenticateResponse> {
    let handshake: SaslHandshakeResponse = round_trip(
        stream,
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )?;
    assert_eq!(handshake.error_code, 0);
    round_trip(
        stream,
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(format!("\0{user}\0{password}").into_bytes().into()),
    )
}

#[test]
fn a_failed_exchange_answers_then_closes() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[])?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let refused = authenticate(&mut stream, "wrong")?;
    assert_eq!(refused.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    assert_eq!(
        refused.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(closed(&mut stream));
    Ok(())
}

#[test]
fn sessions_expire_without_re_authentication() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[("connections.max.reauth.ms", "1000")])?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let session = authenticate(&mut stream, "alice-secret")?;
    assert_eq!((session.error_code, session.session_lifetime_ms), (0, 1000));
    // Re-authentication on the same connection, as the same principal.
    let again = authenticate(&mut stream, "alice-secret")?;
    assert_eq!((again.error_code, again.session_lifetime_ms), (0, 1000));
    let metadata: MetadataResponse = round_trip(
        &mut stream,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default(),
    )?;
    assert_eq!(metadata.brokers.len(), 1);
    // SaslAuthenticate outside re-authentication: ILLEGAL_SASL_STATE.
    let illegal: SaslAuthenticateResponse = round_trip(
        &mut stream,
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default(),
    )?;
    assert_eq!(illegal.error_code, 34, "ILLEGAL_SASL_STATE");
    // Past the session's lifetime, a request other than SaslHandshake closes the connection.
    std::thread::sleep(Duration::from_millis(1100));
    stream.write_all(&request(
        ApiKey::Metadata,
        12,
        2,
        &MetadataRequest::default(),
    )?)?;
    assert!(closed(&mut stream), "an expired session was served");

    // Re-authentication may not change the principal.
    let mut stream = connect(&broker.bootstrap_servers())?;
    authenticate(&mut stream, "alice-secret")?;
    let changed = authenticate_as(&mut stream, "admin", "admin-secret")?;
    assert_eq!(changed.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    assert_eq!(
        changed.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User.alice: User.admin")
    );
    assert!(closed(&mut stream));
    Ok(())
}

#[test]
fn a_producer_re_authenticates_across_sessions() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = sasl_broker("PLAIN", &[("connections.max.reauth.ms", "1000")])?;
    let errors = ClientErrors::default();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    for (k, v) in sasl_client("PLAIN", "alice", "alice-secret") {
        config.set(k, v);
    }
    let producer: BaseProducer<ClientErrors> = config.create_with_context(errors.clone())?;
    // Five sessions' worth of traffic: librdkafka must re-authenticate on the same
    // connection each time, or the broker drops it (and librdkafka reports that).
    let until = Instant::now() + Duration::from_millis(5000);
    let mut sent = 0;
    while Instant::now() < until {
        producer
            .send(BaseRecord::<str, [u8]>::to("reauth").payload(&b"x"[..]))
            .map_err(|(e, _)| e)?;
        sent += 1;
        producer.flush(PATIENCE)?;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(sent >= 10);
    assert!(errors.all().is_empty(), "{:?}", errors.all());
    Ok(())
}
