//! The WebSocket bridge (CONNECT.md g.4) against real peers on loopback: tokio-tungstenite
//! clients of WebSocketSink (selectors, the envelope, a slow client evicted with 1008 or
//! dropped-oldest while a fast one gets everything) and a tokio-tungstenite server feeding
//! WebSocketSource (subscription messages and handshake headers checked, a reconnect after
//! the server closed, and one after the server went silent and answered no ping). Records
//! are produced and read with librdkafka; counters are read from `GET /connectors/{c}/status`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use josefine::connect::connector::config_from as props;
use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use serde_json::{json, Value as Json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{self, TestResult, PATIENCE};
use crate::watchdog;

const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTES: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An embedded broker and an in-process standalone worker with its REST API.
struct Connect {
    worker: Option<Standalone>,
    // Dropped after the worker.
    _broker: josefine::Broker,
    bootstrap: String,
    rest: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Connect {
    async fn start() -> TestResult<Connect> {
        let broker = josefine::Broker::builder().start().await?;
        let bootstrap = broker.bootstrap_servers();
        let dir = tempfile::tempdir()?;
        let offsets = dir.path().join("connect.offsets").display().to_string();
        let config = WorkerConfig::new(props(&[
            ("bootstrap.servers", &bootstrap),
            ("listeners", "http://127.0.0.1:0"),
            ("key.converter", STRING),
            ("value.converter", STRING),
            ("offset.storage.file.filename", &offsets),
            ("offset.flush.interval.ms", "200"),
        ]))?;
        let worker = Standalone::start(config, Vec::new(), None).await?;
        let rest = format!("http://{}", worker.rest_address());
        Ok(Connect {
            _broker: broker,
            worker: Some(worker),
            bootstrap,
            rest,
            http: reqwest::Client::new(),
            _dir: dir,
        })
    }

    async fn create(&self, name: &str, config: Json) -> TestResult {
        let response = self
            .http
            .put(format!("{}/connectors/{name}/config", self.rest))
            .json(&config)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "creating {name}: {} {}",
            response.status(),
            response.text().await?
        );
        Ok(())
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

    /// Polls task 0's status until `check` accepts it.
    async fn task_until(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Json) -> bool,
    ) -> TestResult<Json> {
        let start = Instant::now();
        loop {
            let status = self.status(name).await?;
            let task = status["tasks"][0].clone();
            anyhow::ensure!(
                task["state"] != "FAILED",
                "{name} failed: {}",
                task["trace"]
            );
            if check(&task) {
                return Ok(task);
            }
            anyhow::ensure!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn shutdown(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await;
        }
    }
}

fn counter(task: &Json, name: &str) -> u64 {
    task["counters"][name].as_u64().unwrap_or(0)
}

/// Produces `(topic, key, value)` records and waits for their acknowledgements.
async fn produce(bootstrap: &str, records: Vec<(String, String, Vec<u8>)>) -> TestResult {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || -> TestResult {
        let (producer, deliveries) = common::producer(&bootstrap, &[])?;
        for (topic, key, value) in &records {
            let headers = OwnedHeaders::new().insert(Header {
                key: "h",
                value: Some("x"),
            });
            common::enqueue(
                &producer,
                BaseRecord::to(topic)
                    .key(key.as_str())
                    .payload(value.as_slice())
                    .headers(headers),
            )?;
        }
        let reports = common::flush(&producer, &deliveries)?;
        anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
        Ok(())
    })
    .await?
}

/// The next data frame of `client` (pings and pongs skipped); None when it closed.
async fn next_frame(client: &mut Client) -> TestResult<Option<Message>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let next = tokio::time::timeout_at(deadline.into(), client.next())
            .await
            .map_err(|_| anyhow::anyhow!("no frame within {PATIENCE:?}"))?;
        match next {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Ok(Some(message)),
            Some(Err(error)) => anyhow::bail!("client error: {error}"),
            None => return Ok(None),
        }
    }
}

async fn next_envelope(client: &mut Client) -> TestResult<Json> {
    match next_frame(client).await? {
        Some(Message::Text(text)) => Ok(serde_json::from_str(text.as_str())?),
        other => anyhow::bail!("expected a text frame, got {other:?}"),
    }
}

async fn sink_listener(connect: &Connect, name: &str) -> TestResult<String> {
    let task = connect
        .task_until(name, "the sink's listener", |task| {
            task["state"] == "RUNNING" && task["listener"].is_string()
        })
        .await?;
    Ok(task["listener"].as_str().unwrap_or_default().to_string())
}

async fn wait_clients(connect: &Connect, name: &str, clients: u64) -> TestResult {
    connect
        .task_until(name, &format!("{clients} clients"), |task| {
            task["clients"].as_u64() == Some(clients)
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_websocket_sink_sends_selected_topics_in_offset_order() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start().await?;
    // Both topics exist (one record each) before the connector subscribes.
    produce(
        &connect.bootstrap,
        vec![
            ("orders-eu".into(), "w".into(), b"warm".to_vec()),
            ("audit".into(), "w".into(), b"warm".to_vec()),
        ],
    )
    .await?;
    connect
        .create(
            "ws-sink",
            json!({
                "connector.class": "WebSocketSink",
                "topics": "orders-eu,audit",
                "ws.listener": "127.0.0.1:0",
            }),
        )
        .await?;
    let listener = sink_listener(&connect, "ws-sink").await?;
    // The warm-up records went to nobody.
    connect
        .task_until("ws-sink", "the warm-up records", |task| {
            counter(task, "accepted") >= 2
        })
        .await?;

    let (mut orders, _) =
        tokio_tungstenite::connect_async(format!("ws://{listener}/ws?selector=orders.*")).await?;
    // The second client selects with a subscribe frame; the error answer to an invalid one
    // proves the first was applied (frames are handled in order).
    let (mut audit, _) = tokio_tungstenite::connect_async(format!("ws://{listener}/ws")).await?;
    audit
        .send(Message::text(r#"{"subscribe":"aud.t"}"#))
        .await?;
    audit.send(Message::text(r#"{"subscribe":"("}"#)).await?;
    let error = next_envelope(&mut audit).await?;
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid selector")),
        "{error}"
    );
    wait_clients(&connect, "ws-sink", 2).await?;

    let mut records = Vec::new();
    for i in 0..5 {
        records.push((
            "orders-eu".to_string(),
            format!("k{i}"),
            format!("v{i}").into_bytes(),
        ));
        records.push((
            "audit".to_string(),
            format!("a{i}"),
            format!("e{i}").into_bytes(),
        ));
    }
    produce(&connect.bootstrap, records).await?;

    for i in 0..5i64 {
        let frame = next_envelope(&mut orders).await?;
        assert_eq!(frame["topic"], "orders-eu", "{frame}");
        assert_eq!(frame["partition"], 0, "{frame}");
        assert_eq!(frame["offset"], i + 1, "{frame}");
        assert_eq!(frame["key"], format!("k{i}"), "{frame}");
        assert_eq!(frame["value"], format!("v{i}"), "{frame}");
        assert_eq!(
            frame["headers"],
            json!([{"key": "h", "value": "x"}]),
            "{frame}"
        );
        assert!(
            frame["timestamp"].as_i64().is_some_and(|t| t > 0),
            "{frame}"
        );
    }
    for i in 0..5i64 {
        let frame = next_envelope(&mut audit).await?;
        assert_eq!(frame["topic"], "audit", "{frame}");
        assert_eq!(frame["offset"], i + 1, "{frame}");
        assert_eq!(frame["value"], format!("e{i}"), "{frame}");
    }
    // Nothing of the other topic follows: a marker on each client's own topic arrives next.
    produce(
        &connect.bootstrap,
        vec![
            ("audit".into(), "end".into(), b"end".to_vec()),
            ("orders-eu".into(), "end".into(), b"end".to_vec()),
        ],
    )
    .await?;
    let frame = next_envelope(&mut orders).await?;
    assert_eq!(
        (&frame["topic"], &frame["value"]),
        (&json!("orders-eu"), &json!("end"))
    );
    let frame = next_envelope(&mut audit).await?;
    assert_eq!(
        (&frame["topic"], &frame["value"]),
        (&json!("audit"), &json!("end"))
    );

    let task = connect
        .task_until("ws-sink", "the counters", |task| {
            counter(task, "accepted") == 14 && counter(task, "delivered") == 12
        })
        .await?;
    assert_eq!(counter(&task, "failed"), 0, "{task}");
    let status = connect.status("ws-sink").await?;
    assert_eq!(status["connector"]["counters"]["delivered"], 12, "{status}");

    orders.close(None).await?;
    audit.close(None).await?;
    wait_clients(&connect, "ws-sink", 0).await?;
    connect.shutdown().await;
    Ok(())
}

/// A client whose socket receive buffer is tiny, so that not reading soon stalls the
/// server's sends to it.
async fn slow_client(listener: &str) -> TestResult<Client> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(listener.parse()?).await?;
    let (client, _) = tokio_tungstenite::client_async(
        format!("ws://{listener}/ws?selector=.*"),
        MaybeTlsStream::Plain(stream),
    )
    .await?;
    Ok(client)
}

/// The sequence number at the front of a `big` value.
fn sequence(frame: &Message) -> TestResult<u64> {
    match frame {
        Message::Binary(bytes) if bytes.len() >= 8 => {
            Ok(u64::from_be_bytes(bytes[..8].try_into()?))
        }
        other => anyhow::bail!("unexpected frame {:?}", other.len()),
    }
}

/// Produces 64 KiB records numbered from `*next` to `big`, five at a time, each batch read
/// by `fast` before the next, until the sink counted a dropped frame (and `extra` batches
/// more). Returns the numbers `fast` received.
async fn feed_until_dropped(
    connect: &Connect,
    fast: &mut Client,
    next: &mut u64,
    extra: usize,
) -> TestResult<Vec<u64>> {
    let mut received = Vec::new();
    let mut extra_left = extra;
    let start = Instant::now();
    for _ in 0..400 {
        let batch: Vec<_> = (*next..*next + 5)
            .map(|n| {
                let mut value = n.to_be_bytes().to_vec();
                value.resize(64 * 1024, b'.');
                ("big".to_string(), n.to_string(), value)
            })
            .collect();
        *next += 5;
        produce(&connect.bootstrap, batch).await?;
        while received.len() < *next as usize {
            let frame = next_frame(fast)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the fast client was closed"))?;
            received.push(sequence(&frame)?);
        }
        let task = connect.status("ws-big").await?["tasks"][0].clone();
        if counter(&task, "failed") > 0 {
            if extra_left == 0 {
                return Ok(received);
            }
            extra_left -= 1;
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "no frame was ever dropped");
    }
    anyhow::bail!("no frame was dropped after 2000 records")
}

async fn slow_client_case(overflow: &str) -> TestResult {
    let connect = Connect::start().await?;
    produce(
        &connect.bootstrap,
        vec![("big".into(), "w".into(), b"warm".to_vec())],
    )
    .await?;
    connect
        .create(
            "ws-big",
            json!({
                "connector.class": "io.josefine.connect.websocket.WebSocketSinkConnector",
                "topics": "big",
                "ws.listener": "127.0.0.1:0",
                "ws.frame": "value",
                "ws.client.queue.max": "10",
                "ws.overflow": overflow,
                "value.converter": BYTES,
            }),
        )
        .await?;
    let listener = sink_listener(&connect, "ws-big").await?;
    connect
        .task_until("ws-big", "the warm-up record", |task| {
            counter(task, "accepted") >= 1
        })
        .await?;
    let (mut fast, _) =
        tokio_tungstenite::connect_async(format!("ws://{listener}/ws?selector=.*")).await?;
    let mut slow = slow_client(&listener).await?;
    wait_clients(&connect, "ws-big", 2).await?;

    let mut next = 0;
    let extra = if overflow == "disconnect" { 0 } else { 2 };
    let fast_got = feed_until_dropped(&connect, &mut fast, &mut next, extra).await?;
    // The fast client got every record, in order, although the slow one stalled.
    assert_eq!(fast_got, (0..next).collect::<Vec<_>>());

    // Now the slow client reads what reached it.
    let mut slow_got = Vec::new();
    let close = loop {
        match next_frame(&mut slow).await? {
            Some(Message::Close(close)) => break close,
            Some(frame) => {
                slow_got.push(sequence(&frame)?);
                if overflow == "drop-oldest" && slow_got.last() == Some(&(next - 1)) {
                    break None;
                }
            }
            None => anyhow::bail!("the slow client's connection ended without a close frame"),
        }
    };
    assert!(
        slow_got.windows(2).all(|w| w[0] < w[1]),
        "slow client frames out of order: {slow_got:?}"
    );
    assert!(
        (slow_got.len() as u64) < next,
        "the slow client lost nothing: {}",
        slow_got.len()
    );
    let slow_count = slow_got.len() as u64;
    let task = connect
        .task_until("ws-big", "the delivered count", |task| {
            counter(task, "delivered") >= next + slow_count
        })
        .await?;
    if overflow == "disconnect" {
        let close = close.ok_or_else(|| anyhow::anyhow!("close frame without a code"))?;
        assert_eq!(close.code, CloseCode::Policy, "{close:?}");
        wait_clients(&connect, "ws-big", 1).await?;
        // The ten queued frames and the one that overflowed count as failed.
        assert_eq!(counter(&task, "failed"), 11, "{task}");
    } else {
        // Drop-oldest keeps the newest frames: the slow client ends at the last record and
        // is still connected.
        assert_eq!(slow_got.last(), Some(&(next - 1)));
        assert_eq!(task["clients"], 2, "{task}");
        assert_eq!(counter(&task, "failed"), next - slow_count, "{task}");
        slow.close(None).await?;
    }
    assert_eq!(counter(&task, "accepted"), next + 1, "{task}");
    assert_eq!(counter(&task, "delivered"), next + slow_count, "{task}");
    fast.close(None).await?;
    connect.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_websocket_sink_closes_a_slow_client_with_1008() -> TestResult {
    let _watchdog = watchdog::guard();
    slow_client_case("disconnect").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_websocket_sink_drops_oldest_frames_of_a_slow_client() -> TestResult {
    let _watchdog = watchdog::guard();
    slow_client_case("drop-oldest").await
}

/// What the test server saw of each connection: handshake header, subscription frames.
#[derive(Debug, Default, Clone)]
struct Seen {
    token: Option<String>,
    subscriptions: Vec<String>,
}

/// A WebSocket server on loopback: per connection it reads two subscription frames, sends
/// `frames` JSON texts numbered on, and closes the first connection (the second stays open
/// until the test ends).
async fn feed_server(
    frames: u64,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> TestResult<(String, tokio::task::JoinHandle<TestResult>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let server = tokio::spawn(async move {
        let mut keep = Vec::new();
        for connection in 0..2u64 {
            let (stream, _) = listener.accept().await?;
            let token = Arc::new(Mutex::new(None));
            let header = token.clone();
            // The handshake callback's signature is tungstenite's (a large error type).
            #[allow(clippy::result_large_err)]
            let callback =
                move |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                      response| {
                    *header.lock().unwrap_or_else(|p| p.into_inner()) = request
                        .headers()
                        .get("x-token")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    Ok(response)
                };
            let mut socket = tokio_tungstenite::accept_hdr_async(stream, callback).await?;
            let mut entry = Seen {
                token: token.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                subscriptions: Vec::new(),
            };
            while entry.subscriptions.len() < 2 {
                match tokio::time::timeout(PATIENCE, socket.next()).await? {
                    Some(Ok(Message::Text(text))) => entry.subscriptions.push(text.to_string()),
                    Some(Ok(_)) => {}
                    other => anyhow::bail!("no subscription: {other:?}"),
                }
            }
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
            for i in 0..frames {
                let id = connection * frames + i;
                let frame = json!({"id": id, "user": format!("u{}", id % 3), "px": 1.5});
                socket.send(Message::text(frame.to_string())).await?;
            }
            if connection == 0 {
                socket.close(None).await?;
            } else {
                keep.push(socket);
            }
        }
        // Hold the second connection until the test aborts the server.
        std::future::pending::<()>().await;
        drop(keep);
        Ok(())
    });
    Ok((address, server))
}

fn read_topic(bootstrap: &str, topic: &str) -> TestResult<Vec<common::Received>> {
    common::read_to_end(bootstrap, topic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_websocket_source_resubscribes_after_a_close_and_keeps_order() -> TestResult {
    let _watchdog = watchdog::guard();
    const N: u64 = 20;
    let connect = Connect::start().await?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (address, server) = feed_server(N, seen.clone()).await?;
    let subscription = r#"{"op":"subscribe","channels":["a","b"]}"#;
    connect
        .create(
            "ws-source",
            json!({
                "connector.class": "WebSocketSource",
                "ws.url": format!("ws://{address}/feeds/prices"),
                "ws.subscription.messages": format!("{subscription}\n{{\"op\":\"hello\"}}"),
                "ws.headers": "X-Token: secret-1",
                "ws.reconnect.backoff.ms": "100",
                "kafka.topic": "ws_${topic}",
                "key.field": "user",
            }),
        )
        .await?;
    let task = connect
        .task_until("ws-source", "every frame delivered", |task| {
            counter(task, "delivered") >= 2 * N
        })
        .await?;
    assert_eq!(counter(&task, "accepted"), 2 * N, "{task}");
    assert_eq!(counter(&task, "failed"), 0, "{task}");
    assert_eq!(task["connections"], 2, "{task}");

    let bootstrap = connect.bootstrap.clone();
    let records =
        tokio::task::spawn_blocking(move || read_topic(&bootstrap, "ws_feeds_prices")).await??;
    assert_eq!(records.len() as u64, 2 * N);
    for (i, record) in records.iter().enumerate() {
        let value: Json = serde_json::from_slice(record.payload.as_deref().unwrap_or_default())?;
        assert_eq!(value["id"], i as u64, "{value}");
        assert_eq!(
            record.key.as_deref(),
            Some(format!("u{}", i % 3).as_bytes()),
            "record {i}"
        );
    }
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for connection in &seen {
        assert_eq!(connection.token.as_deref(), Some("secret-1"));
        assert_eq!(
            connection.subscriptions,
            [subscription, r#"{"op":"hello"}"#]
        );
    }

    server.abort();
    connect.shutdown().await;
    Ok(())
}

/// A server that goes silent (it keeps the TCP connection open but neither sends nor reads,
/// so it answers no ping) is taken as dead after two `ws.ping.interval.ms`: the source opens
/// a second connection, which delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_websocket_source_reconnects_when_the_server_goes_silent() -> TestResult {
    let _watchdog = watchdog::guard();
    let connect = Connect::start().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let server = tokio::spawn(async move {
        let mut silent = Vec::new();
        for connection in 0..2u64 {
            let (stream, _) = listener.accept().await?;
            let mut socket = tokio_tungstenite::accept_async(stream).await?;
            let frame = json!({ "connection": connection });
            socket.send(Message::text(frame.to_string())).await?;
            // Never read again: no pong, no close.
            silent.push(socket);
        }
        std::future::pending::<()>().await;
        drop(silent);
        TestResult::Ok(())
    });
    connect
        .create(
            "ws-silent",
            json!({
                "connector.class": "WebSocketSource",
                "ws.url": format!("ws://{address}/silent"),
                "ws.ping.interval.ms": "200",
                "ws.reconnect.backoff.ms": "50",
                "topic": "silent",
            }),
        )
        .await?;
    let task = connect
        .task_until("ws-silent", "a second connection delivered", |task| {
            counter(task, "delivered") >= 2 && task["connections"] == 2
        })
        .await?;
    assert_eq!(counter(&task, "accepted"), 2, "{task}");
    let bootstrap = connect.bootstrap.clone();
    let records = tokio::task::spawn_blocking(move || read_topic(&bootstrap, "silent")).await??;
    let values: Vec<Json> = records
        .iter()
        .map(|r| serde_json::from_slice(r.payload.as_deref().unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    assert_eq!(values, [json!({"connection": 0}), json!({"connection": 1})]);
    server.abort();
    connect.shutdown().await;
    Ok(())
}
