//! HttpIngestSource (CONNECT.md g.1) end to end: reqwest POSTs events to a connector created
//! through the REST API of an in-process Connect worker on an in-process broker; rdkafka reads
//! them back. Routing, keys, Java-murmur2 partitions (checked by kafka-python), byte-identical
//! values, 200 only after the broker acknowledged (a consumer started afterwards sees every
//! event), 400/401/404/405/413/415, 429 and 503 with the broker held by a stalling TCP proxy,
//! 503 for an event the broker refused under `errors.tolerance=all`,
//! Avro in raw and Confluent form decoded by fastavro, and the counters in the REST status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, Received, TestResult, PATIENCE};
use crate::watchdog;

const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTES: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

/// A worker with its REST API, on a broker reachable at `bootstrap`.
struct Worker {
    standalone: Standalone,
    rest: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Worker {
    async fn start(bootstrap: &str) -> TestResult<Worker> {
        let dir = tempfile::tempdir()?;
        let offsets = dir.path().join("connect.offsets").display().to_string();
        let config = WorkerConfig::new(josefine::connect::connector::config_from(&[
            ("bootstrap.servers", bootstrap),
            ("listeners", "http://127.0.0.1:0"),
            ("key.converter", STRING),
            ("value.converter", BYTES),
            ("offset.storage.file.filename", &offsets),
            ("offset.flush.interval.ms", "200"),
        ]))?;
        let standalone = Standalone::start(config, Vec::new(), None).await?;
        let rest = format!("http://{}", standalone.rest_address());
        Ok(Worker {
            standalone,
            rest,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            _dir: dir,
        })
    }

    async fn status(&self, name: &str) -> TestResult<Json> {
        Ok(self
            .http
            .get(format!("{}/connectors/{name}/status", self.rest))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Creates connector `name` and returns its events URL once its task runs.
    async fn create(&self, name: &str, config: Json) -> TestResult<String> {
        let response = self
            .http
            .post(format!("{}/connectors", self.rest))
            .json(&json!({ "name": name, "config": config }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 201,
            "create {name}: {} {}",
            response.status(),
            response.text().await?
        );
        let start = Instant::now();
        loop {
            let status = self.status(name).await?;
            let task = &status["tasks"][0];
            anyhow::ensure!(task["state"] != "FAILED", "{name} failed: {status}");
            if let (Some("RUNNING"), Some(listener)) =
                (task["state"].as_str(), task["listener"].as_str())
            {
                let path = config["http.path"].as_str().unwrap_or("/v1/events");
                return Ok(format!("http://{listener}{path}"));
            }
            anyhow::ensure!(start.elapsed() < PATIENCE, "{name} never ran: {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The counters of task 0 of `name`.
    async fn counters(&self, name: &str) -> TestResult<Json> {
        Ok(self.status(name).await?["tasks"][0]["counters"].clone())
    }

    async fn shutdown(self) {
        self.standalone.shutdown().await;
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &str,
) -> TestResult<(u16, Option<String>, Json)> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
    Ok((status, retry_after, body))
}

async fn create_topics(bootstrap: &str, topics: &[&str], partitions: i32) -> TestResult {
    let bootstrap = bootstrap.to_string();
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || -> TestResult {
        for topic in topics {
            common::create_topic(&bootstrap, &topic, partitions, &[])?;
        }
        Ok(())
    })
    .await?
}

/// Reads `count` records of `topic` (partitions `0..partitions`) from the beginning with a
/// consumer created now.
async fn read(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> TestResult<Vec<Received>> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || -> TestResult<Vec<Received>> {
        let consumer = common::consumer(&bootstrap, &[])?;
        common::assign_from_beginning(&consumer, &topic, partitions)?;
        let records = common::consume(&consumer, count)?;
        // Nothing beyond `count` (a short bounded look).
        let extra = consumer.poll(Duration::from_millis(300));
        anyhow::ensure!(
            !matches!(extra, Some(Ok(_))),
            "{topic} has more than {count} records"
        );
        Ok(records)
    })
    .await?
}

fn text(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A RudderStack-like batch; the events are spelled with odd spacing on purpose, so that any
/// re-serialisation would show.
const EVENT_TRACK: &str = r#"{"type":"track","event":"Order Completed","userId":"user-42","anonymousId":"anon-1","properties":{"total": 12.50,"currency":"EUR"},"messageId":"m1"}"#;
const EVENT_IDENTIFY: &str = r#"{ "type" : "identify", "userId": "user-42", "traits": {"email":"a@example.com"}, "messageId":"m2" }"#;
const EVENT_PAGE: &str = r#"{"type":"page","name":"Home","anonymousId":"anon-7","properties":{"path":"/"},"messageId":"m3"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_ingest_routes_a_batch_with_keys_partitions_and_exact_bytes() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topics(&bootstrap, &["orders", "users", "events"], 4).await?;
    let worker = Worker::start(&bootstrap).await?;
    let url = worker
        .create(
            "ingest",
            json!({
                "connector.class": "HttpIngestSource",
                "tasks.max": "2",
                "topic": "events",
                "http.listener": "127.0.0.1:0",
                "topic.mapping.enabled": "true",
                "topic.mapping.event.Order Completed": "orders",
                "topic.mapping.type.identify": "users",
                "headers.from.http": "X-Request-Id",
            }),
        )
        .await?;
    let status = worker.status("ingest").await?;
    assert_eq!(
        status["tasks"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );

    let body = format!(
        "{{\"batch\": [\n  {EVENT_TRACK},\n  {EVENT_IDENTIFY} ,{EVENT_PAGE}\n], \"sentAt\": \"2026-12-01T00:00:00Z\"}}"
    );
    let response = worker
        .http
        .post(&url)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-request-id", "req-1")
        .body(body)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Json>().await?, json!({"accepted": 3}));

    // The 200 came after the broker's acknowledgement: consumers created now see everything.
    let orders = read(&bootstrap, "orders", 4, 1).await?;
    let users = read(&bootstrap, "users", 4, 1).await?;
    let events = read(&bootstrap, "events", 4, 1).await?;
    let mut placed = Vec::new();
    for (records, key, event) in [
        (&orders, "user-42", EVENT_TRACK),
        (&users, "user-42", EVENT_IDENTIFY),
        (&events, "anon-7", EVENT_PAGE),
    ] {
        let record = &records[0];
        assert_eq!(text(&record.key).as_deref(), Some(key));
        assert_eq!(record.payload.as_deref(), Some(event.as_bytes()));
        assert_eq!(
            record.headers,
            [("X-Request-Id".to_string(), Some(b"req-1".to_vec()))]
        );
        placed.push(format!("{key}={}", record.partition));
    }

    // Many keys, each on its Java murmur2 partition; null keys in one request stay together.
    let keyed: Vec<String> = (0..40)
        .map(|i| format!("{{\"type\":\"track\",\"event\":\"x\",\"userId\":\"user-{i}\"}}"))
        .chain((0..10).map(|i| format!("{{\"type\":\"track\",\"event\":\"y\",\"n\":{i}}}")))
        .collect();
    let (status, _, answer) = post(&worker.http, &url, &format!("[{}]", keyed.join(","))).await?;
    assert_eq!((status, answer), (200, json!({"accepted": 50})));
    let events = read(&bootstrap, "events", 4, 51).await?;
    let mut null_partitions = std::collections::BTreeSet::new();
    for record in &events {
        match text(&record.key) {
            Some(key) => placed.push(format!("{key}={}", record.partition)),
            None => {
                null_partitions.insert(record.partition);
            }
        }
    }
    // The page event (anon-7) is read a second time with the 50 new events of `events`.
    assert_eq!(placed.len(), 44);
    let distinct: std::collections::BTreeSet<_> = events.iter().map(|r| r.partition).collect();
    assert!(
        distinct.len() > 1,
        "every key on one partition: {distinct:?}"
    );
    let placed_refs: Vec<&str> = placed.iter().map(String::as_str).collect();
    let mut args = vec!["4"];
    args.extend(placed_refs);
    common::run_python(
        "kafka",
        "kafka-python",
        "murmur2.py",
        &args,
        "murmur2 ok 44",
    )?;
    assert_eq!(
        null_partitions.len(),
        1,
        "null keys spread: {null_partitions:?}"
    );

    let counters = worker.counters("ingest").await?;
    assert_eq!(counters["accepted"], 53, "{counters}");
    assert_eq!(counters["delivered"], 53, "{counters}");
    assert_eq!(counters["failed"], 0, "{counters}");
    let status = worker.status("ingest").await?;
    assert_eq!(status["connector"]["counters"]["delivered"], 53, "{status}");
    let offsets: Json = worker
        .http
        .get(format!("{}/connectors/ingest/offsets", worker.rest))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(offsets, json!({"offsets": []}));
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_ingest_rejects_bad_requests_without_producing() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topics(&bootstrap, &["strict"], 1).await?;
    let worker = Worker::start(&bootstrap).await?;
    let url = worker
        .create(
            "strict",
            json!({
                "connector.class": "io.josefine.connect.http.HttpIngestSourceConnector",
                "topic": "strict",
                "http.listener": "127.0.0.1:0",
                "http.path": "/v1/batch",
                "http.auth": "basic",
                "http.auth.username": "write-key",
                "max.request.bytes": "300",
            }),
        )
        .await?;
    let http = &worker.http;
    let send = |body: &str, content_type: &str, user: Option<&str>| {
        let mut request = http
            .post(&url)
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some(user) = user {
            request = request.basic_auth(user, Some(""));
        }
        request.send()
    };
    let good = "{\"userId\":\"u\",\"type\":\"track\",\"event\":\"e\"}";

    let response = send(good, "application/json", None).await?;
    assert_eq!(response.status(), 401);
    assert!(response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic")));
    assert_eq!(
        send(good, "application/json", Some("wrong"))
            .await?
            .status(),
        401
    );
    assert_eq!(
        send(good, "text/plain", Some("write-key")).await?.status(),
        415
    );
    let large = format!("[{}]", [good; 10].join(","));
    assert_eq!(
        send(&large, "application/json", Some("write-key"))
            .await?
            .status(),
        413
    );
    for (body, index) in [
        ("[{\"a\":1}, 7]", json!(1)),
        ("[{\"a\":1}, {\"b\":2}, {\"c\": }]", json!(2)),
        (
            "{\"batch\":[{}, {\"integrations\":{\"Kafka\":{\"topic\":\"no/slash\"}}}]}",
            json!(1),
        ),
        ("{oops", Json::Null),
    ] {
        let response = send(body, "application/json", Some("write-key")).await?;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Json = response.json().await?;
        assert_eq!(answer["index"], index, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let get = http
        .get(&url)
        .basic_auth("write-key", Some(""))
        .send()
        .await?;
    assert_eq!(get.status(), 405);
    let elsewhere = url.replace("/v1/batch", "/v1/other");
    let other = http
        .post(&elsewhere)
        .basic_auth("write-key", Some(""))
        .send()
        .await?;
    assert_eq!(other.status(), 404);

    let response = send(good, "application/json", Some("write-key")).await?;
    assert_eq!(response.status(), 200);
    // Only the good event reached Kafka: the rejected requests produced nothing.
    let records = read(&bootstrap, "strict", 1, 1).await?;
    assert_eq!(records[0].payload.as_deref(), Some(good.as_bytes()));
    let counters = worker.counters("strict").await?;
    assert_eq!(
        (counters["accepted"].clone(), counters["delivered"].clone()),
        (json!(1), json!(1))
    );
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

/// An event the broker refuses (larger than the topic's `max.message.bytes`: MESSAGE_TOO_LARGE)
/// is lost under `errors.tolerance=all`, so its request gets 503, never 200; the task keeps
/// running and the next request is appended as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_ingest_answers_503_for_an_event_kafka_refused_under_tolerance_all(
) -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            common::create_topic(&bootstrap, "small", 1, &[("max.message.bytes", "1024")])
        })
        .await??;
    }
    let worker = Worker::start(&bootstrap).await?;
    let url = worker
        .create(
            "small",
            json!({
                "connector.class": "HttpIngestSource",
                "topic": "small",
                "http.listener": "127.0.0.1:0",
                "errors.tolerance": "all",
            }),
        )
        .await?;
    let big = json!({ "userId": "big", "blob": "x".repeat(4096) }).to_string();
    let (status, retry_after, answer) = post(&worker.http, &url, &big).await?;
    assert_eq!(status, 503, "{answer}");
    assert!(retry_after.is_some(), "no Retry-After");
    let (status, _, answer) = post(&worker.http, &url, "{\"userId\":\"ok\"}").await?;
    assert_eq!((status, answer), (200, json!({"accepted": 1})));
    let records = read(&bootstrap, "small", 1, 1).await?;
    assert_eq!(text(&records[0].key).as_deref(), Some("ok"));
    let status = worker.status("small").await?;
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    let counters = &status["tasks"][0]["counters"];
    assert_eq!(counters["accepted"], 2, "{counters}");
    assert_eq!(counters["delivered"], 1, "{counters}");
    assert_eq!(counters["failed"], 1, "{counters}");
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

/// A TCP proxy in front of the broker that stops forwarding while `stalled` is set.
struct StallingProxy {
    port: u16,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallingProxy {
    async fn bind() -> TestResult<(StallingProxy, tokio::net::TcpListener)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok((
            StallingProxy {
                port,
                stalled: Arc::new(AtomicBool::new(false)),
                task: tokio::spawn(async {}),
            },
            listener,
        ))
    }

    fn run(&mut self, listener: tokio::net::TcpListener, target: String) {
        let stalled = self.stalled.clone();
        self.task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(&target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (upstream_read, upstream_write) = upstream.into_split();
                tokio::spawn(pipe(client_read, upstream_write, stalled.clone()));
                tokio::spawn(pipe(upstream_read, client_write, stalled.clone()));
            }
        });
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding each chunk while `stalled` is set (checked every 10 ms, for
/// at most [`PATIENCE`]).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let start = Instant::now();
        while stalled.load(Ordering::SeqCst) && start.elapsed() < PATIENCE {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_ingest_answers_429_when_full_and_503_when_the_broker_is_held() -> TestResult {
    let _watchdog = watchdog::guard();
    let (mut proxy, listener) = StallingProxy::bind().await?;
    let broker = josefine::Broker::builder()
        .property(
            "advertised.listeners",
            format!("PLAINTEXT://127.0.0.1:{}", proxy.port),
        )
        .start()
        .await?;
    let target = broker
        .server()
        .local_addrs()
        .first()
        .map(ToString::to_string)
        .ok_or_else(|| anyhow::anyhow!("no listener"))?;
    proxy.run(listener, target);
    let bootstrap = format!("127.0.0.1:{}", proxy.port);
    create_topics(&bootstrap, &["held"], 1).await?;
    let worker = Worker::start(&bootstrap).await?;
    let url = worker
        .create(
            "held",
            json!({
                "connector.class": "HttpIngestSource",
                "topic": "held",
                "http.listener": "127.0.0.1:0",
                "max.in.flight.requests": "1",
                "produce.timeout.ms": "3000",
            }),
        )
        .await?;
    // One request through, so that the producer is connected and knows the topic.
    let (status, _, _) = post(&worker.http, &url, "{\"userId\":\"first\"}").await?;
    assert_eq!(status, 200);

    proxy.stalled.store(true, Ordering::SeqCst);
    let held = {
        let http = worker.http.clone();
        let url = url.clone();
        tokio::spawn(async move { post(&http, &url, "{\"userId\":\"held\"}").await })
    };
    // Wait until the held request's event was taken (accepted), then a second one is refused.
    let start = Instant::now();
    while worker.counters("held").await?["accepted"] != 2 {
        anyhow::ensure!(start.elapsed() < PATIENCE, "the held request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, retry_after, _) = post(&worker.http, &url, "{\"userId\":\"second\"}").await?;
    assert_eq!((status, retry_after.as_deref()), (429, Some("1")));
    let (status, retry_after, answer) = held.await??;
    assert_eq!(status, 503, "{answer}");
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "no Retry-After"
    );

    // Released: the held event is appended after all (at-least-once), and new requests pass
    // once it is: until then it still holds the only place in flight (429, retry).
    proxy.stalled.store(false, Ordering::SeqCst);
    let start = Instant::now();
    let status = loop {
        let (status, _, _) = post(&worker.http, &url, "{\"userId\":\"third\"}").await?;
        if status != 429 || start.elapsed() > PATIENCE {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200);
    let records = read(&bootstrap, "held", 1, 3).await?;
    let keys: Vec<_> = records.iter().map(|r| text(&r.key)).collect();
    assert_eq!(
        keys,
        [
            Some("first".into()),
            Some("held".into()),
            Some("third".into())
        ]
    );
    let counters = worker.counters("held").await?;
    assert_eq!(
        (counters["accepted"].clone(), counters["delivered"].clone()),
        (json!(3), json!(3))
    );
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

const AVRO_SCHEMA: &str = r#"{"type":"record","name":"Event","namespace":"io.josefine.test","fields":[
  {"name":"type","type":"string"},
  {"name":"event","type":["null","string"],"default":null},
  {"name":"userId","type":["null","string"],"default":null},
  {"name":"properties","type":{"type":"map","values":"double"},"default":{}}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_ingest_encodes_avro_raw_and_confluent() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    create_topics(&bootstrap, &["avro-raw", "avro-confluent"], 1).await?;
    let worker = Worker::start(&bootstrap).await?;
    let events = r#"[{"type":"track","event":"Order Completed","userId":"u1","properties":{"total":12.5},"integrations":{"Kafka":{"schemaId":"17"}}},
        {"type":"identify","userId":"u2","integrations":{"Kafka":{"schemaId":17}}}]"#;
    let expected = json!([
        {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"total": 12.5}},
        {"type": "identify", "event": null, "userId": "u2", "properties": {}},
    ])
    .to_string();
    for wire in ["raw", "confluent"] {
        let topic = format!("avro-{wire}");
        let url = worker
            .create(
                &topic,
                json!({
                    "connector.class": "HttpIngestSource",
                    "topic": topic,
                    "http.listener": "127.0.0.1:0",
                    "value.format": "avro",
                    "avro.wire.format": wire,
                    "avro.schema.17": AVRO_SCHEMA,
                }),
            )
            .await?;
        let (status, _, answer) = post(&worker.http, &url, events).await?;
        assert_eq!((status, answer), (200, json!({"accepted": 2})));
        let records = read(&bootstrap, &topic, 1, 2).await?;
        let hex: Vec<String> = records
            .iter()
            .map(|r| {
                r.payload
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        let mut args = vec![AVRO_SCHEMA, wire, "17", expected.as_str()];
        args.extend(hex.iter().map(String::as_str));
        common::run_python("fastavro", "fastavro", "avro_decode.py", &args, "avro ok 2")?;
        // An event the schema cannot encode fails its request with its index.
        let (status, _, answer) =
            post(&worker.http, &url, r#"[{"type":"page"},{"type":3}]"#).await?;
        assert_eq!(
            (status, answer["index"].clone()),
            (400, json!(1)),
            "{answer}"
        );
    }
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}
