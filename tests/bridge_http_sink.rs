//! HttpSink (CONNECT.md g.2) against a scripted loopback HTTP peer (an axum server in this
//! process that records every request and answers from a per-test script), with the
//! embedded broker, a standalone worker and its REST API, librdkafka producing and reading
//! the dead letter queue, and the `josefine` binary killed with SIGKILL for the crash case.
//!
//! Cases: (1) 503, 503, 200 retries in place in order; (2) restarts after k
//! acknowledgements, graceful and SIGKILL, redeliver in order with duplicates only in the
//! in-flight window; (3) 400 with tolerance `all` goes to the DLQ at stage TASK_PUT; (4)
//! expiry on both sides of the boundary, also for a record expiring during its retry; (5)
//! 429 + `Retry-After: 1`; (6) one stalled partition does not stop another; and tolerance
//! `none` + 400 fails the task uncommitted.
//! Counters are read from `GET /connectors/<c>/status`.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use serde_json::{json, Value};

use crate::common::{self, TestResult, PATIENCE};
use crate::watchdog;

const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";

/// One request the peer received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: String,
    at: Instant,
}

/// What the peer answers.
struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
    /// Delay before answering.
    delay: Duration,
}

fn status(status: u16) -> Reply {
    Reply {
        status,
        retry_after: None,
        delay: Duration::ZERO,
    }
}

/// The script: the request and how many earlier requests had the same body.
type Script = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct PeerState {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
}

/// The scripted HTTP peer; stopped when dropped.
struct Peer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    State(state): State<PeerState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        path: uri.path().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let earlier = {
        let mut all = state.seen.lock().unwrap_or_else(|p| p.into_inner());
        let earlier = all.iter().filter(|s| s.body == seen.body).count();
        all.push(seen.clone());
        earlier
    };
    let reply = (state.script)(&seen, earlier);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = StatusCode::from_u16(reply.status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response();
    if let Some(after) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(after));
    }
    response
}

impl Peer {
    async fn start(
        script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> TestResult<Peer> {
        let state = PeerState {
            seen: Arc::default(),
            script: Arc::new(script),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Peer {
            url,
            seen: state.seen,
            server,
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn bodies(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.body).collect()
    }
}

/// Polls `check` until it yields a value; fails after [`PATIENCE`].
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn worker_properties(bootstrap: &str, dir: &Path) -> Vec<(String, String)> {
    [
        ("bootstrap.servers", bootstrap.to_string()),
        ("key.converter", STRING.to_string()),
        ("value.converter", STRING.to_string()),
        (
            "offset.storage.file.filename",
            dir.join("connect.offsets").display().to_string(),
        ),
        ("offset.flush.interval.ms", "100".to_string()),
        ("listeners", "http://127.0.0.1:0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A standalone worker (REST on port 0) against `bootstrap`.
async fn start_worker(bootstrap: &str, dir: &Path) -> TestResult<Standalone> {
    let config = WorkerConfig::new(worker_properties(bootstrap, dir).into_iter().collect())?;
    Ok(Standalone::start(config, Vec::new(), None).await?)
}

/// REST calls against one worker.
struct Rest {
    base: String,
    client: reqwest::Client,
}

impl Rest {
    fn new(worker: &Standalone) -> Rest {
        Rest {
            base: format!("http://{}", worker.rest_address()),
            client: reqwest::Client::new(),
        }
    }

    async fn create(&self, name: &str, config: &[(&str, &str)]) -> TestResult {
        let mut map = serde_json::Map::new();
        map.insert("connector.class".into(), json!("HttpSink"));
        for (k, v) in config {
            map.insert(k.to_string(), json!(v));
        }
        let response = self
            .client
            .post(format!("{}/connectors", self.base))
            .json(&json!({"name": name, "config": map}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "create {name}: {} {}",
            response.status(),
            response.text().await?
        );
        Ok(())
    }

    async fn get(&self, path: &str) -> TestResult<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await?;
        Ok(response.json().await?)
    }

    /// `tasks[0]` of the connector's status, once the task shows.
    async fn task_status(&self, name: &str) -> TestResult<Value> {
        let status = self.get(&format!("/connectors/{name}/status")).await?;
        Ok(status["tasks"][0].clone())
    }

    async fn counter(&self, name: &str, counter: &str) -> TestResult<u64> {
        Ok(self.task_status(name).await?["counters"][counter]
            .as_u64()
            .unwrap_or(0))
    }

    /// The committed offsets of the sink connector, by partition.
    async fn committed(&self, name: &str) -> TestResult<HashMap<i64, i64>> {
        let offsets = self.get(&format!("/connectors/{name}/offsets")).await?;
        Ok(offsets["offsets"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|o| {
                        Some((
                            o["partition"]["kafka_partition"].as_i64()?,
                            o["offset"]["kafka_offset"].as_i64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn wait_committed(&self, name: &str, partition: i64, offset: i64) -> TestResult {
        wait_for(
            &format!("{name} committing {offset} on {partition}"),
            || async {
                Ok((self.committed(name).await?.get(&partition) == Some(&offset)).then_some(()))
            },
        )
        .await
    }

    async fn wait_counter(&self, name: &str, counter: &str, value: u64) -> TestResult {
        wait_for(&format!("{name} {counter}={value}"), || async {
            Ok((self.counter(name, counter).await? == value).then_some(()))
        })
        .await
    }
}

/// One record to produce: partition, value, headers.
type Out<'a> = (i32, String, Vec<(&'a str, String)>);

async fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: Vec<Out<'static>>,
) -> TestResult {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || -> TestResult {
        common::create_topic(&bootstrap, &topic, partitions, &[])?;
        let (producer, deliveries) = common::producer(&bootstrap, &[])?;
        for (partition, value, headers) in &records {
            let mut owned = OwnedHeaders::new();
            for (key, value) in headers {
                owned = owned.insert(Header {
                    key,
                    value: Some(value.as_str()),
                });
            }
            common::enqueue(
                &producer,
                BaseRecord::to(&topic)
                    .partition(*partition)
                    .key("k")
                    .payload(value.as_bytes())
                    .headers(owned),
            )?;
        }
        let reports = common::flush(&producer, &deliveries)?;
        anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
        Ok(())
    })
    .await?
}

fn numbered(count: usize) -> Vec<Out<'static>> {
    (0..count)
        .map(|i| (0, format!("r{i}"), Vec::new()))
        .collect()
}

/// The usual connector settings: string values, fast retries.
fn sink_config<'a>(topic: &'a str, url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("topics", topic),
        ("http.url", url),
        ("value.converter", STRING),
        ("retry.backoff.initial.ms", "50"),
        ("retry.backoff.max.ms", "200"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_retries_503_in_place_and_keeps_order() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|seen, earlier| {
        if seen.body == "r0" && earlier < 2 {
            status(503)
        } else {
            status(200)
        }
    })
    .await?;
    produce(&bootstrap, "retry-in", 1, numbered(2)).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/things/${{topic}}/${{offset}}", peer.url);
    let mut config = sink_config("retry-in", &url);
    config.push(("http.headers", "X-Api: one"));
    rest.create("retry", &config).await?;
    rest.wait_committed("retry", 0, 2).await?;
    assert_eq!(peer.bodies(), ["r0", "r0", "r0", "r1"]);
    let seen = peer.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/things/retry-in/0",
            "/things/retry-in/0",
            "/things/retry-in/0",
            "/things/retry-in/1"
        ]
    );
    assert_eq!(
        seen[0].headers.get("x-api").and_then(|v| v.to_str().ok()),
        Some("one")
    );
    assert_eq!(
        seen[0]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; charset=utf-8")
    );
    let task = rest.task_status("retry").await?;
    assert_eq!(task["state"], "RUNNING");
    assert_eq!(
        task["counters"],
        json!({"accepted": 2, "delivered": 2, "retried": 2, "expired": 0, "dlq": 0, "failed": 0})
    );
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_graceful_restart_redelivers_from_the_first_unacknowledged() -> TestResult
{
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    // First run: r0..r4 acknowledged, r5 never answered (in flight at the stop).
    let second_run = Arc::new(AtomicBool::new(false));
    let flag = second_run.clone();
    let peer = Peer::start(move |seen, _| {
        if seen.body == "r5" && !flag.load(Ordering::SeqCst) {
            Reply {
                status: 200,
                retry_after: None,
                delay: Duration::from_secs(600),
            }
        } else {
            status(200)
        }
    })
    .await?;
    produce(&bootstrap, "restart-in", 1, numbered(20)).await?;
    let url = format!("{}/in", peer.url);
    let mut config = sink_config("restart-in", &url);
    // r5 stays unanswered for the whole first run, never timed out and retried.
    config.push(("http.timeout.ms", "120000"));
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    rest.create("restart", &config).await?;
    rest.wait_committed("restart", 0, 5).await?;
    wait_for("r5 in flight", || async {
        Ok(peer.bodies().contains(&"r5".to_string()).then_some(()))
    })
    .await?;
    worker.shutdown().await;
    let first: Vec<String> = peer.bodies();
    assert_eq!(first, ["r0", "r1", "r2", "r3", "r4", "r5"]);

    second_run.store(true, Ordering::SeqCst);
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    rest.create("restart", &config).await?;
    rest.wait_committed("restart", 0, 20).await?;
    let all = peer.bodies();
    let second: Vec<String> = all[first.len()..].to_vec();
    let expected: Vec<String> = (5..20).map(|i| format!("r{i}")).collect();
    // Only the in-flight record r5 is seen twice; everything in order.
    assert_eq!(second, expected);
    assert_eq!(rest.counter("restart", "delivered").await?, 15);
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

/// `josefine connect-standalone` with an HttpSink, output discarded; killed on drop.
struct WorkerProcess(Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(dir: &Path, bootstrap: &str, url: &str) -> TestResult<WorkerProcess> {
    let props = |pairs: Vec<(String, String)>| -> String {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    };
    let worker = dir.join("worker.properties");
    std::fs::write(&worker, props(worker_properties(bootstrap, dir)))?;
    let sink = dir.join("http-sink.properties");
    let connector: Vec<(String, String)> = [
        ("name", "crash"),
        ("connector.class", "HttpSink"),
        ("tasks.max", "1"),
    ]
    .into_iter()
    .chain(sink_config("crash-in", url))
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    std::fs::write(&sink, props(connector))?;
    let child = Command::new(env!("CARGO_BIN_EXE_josefine"))
        .arg("connect-standalone")
        .arg(&worker)
        .arg(&sink)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(WorkerProcess(child))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_killed_worker_redelivers_in_order_without_gaps() -> TestResult {
    let _watchdog = watchdog::guard();
    // The killed worker's group member leaves after a short session timeout.
    let broker = josefine::Broker::builder()
        .property("group.consumer.session.timeout.ms", "3000")
        .property("group.consumer.heartbeat.interval.ms", "500")
        .start()
        .await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    // Every answer takes 20 ms, so that the kill lands mid-stream.
    let peer = Peer::start(|_, _| Reply {
        status: 200,
        retry_after: None,
        delay: Duration::from_millis(20),
    })
    .await?;
    let count = 60;
    produce(&bootstrap, "crash-in", 1, numbered(count)).await?;
    let url = format!("{}/in", peer.url);
    let index = |body: &str| {
        body.trim_start_matches('r')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    };

    let mut worker = spawn_worker(dir.path(), &bootstrap, &url)?;
    let k = 15;
    wait_for("k acknowledgements", || async {
        Ok((peer.seen().len() > k).then_some(()))
    })
    .await?;
    worker.0.kill()?;
    worker.0.wait()?;
    // A request the first worker wrote just before the kill may be read by the peer a
    // little later: the runs are split by the time the second worker was spawned.
    let restarted_at = Instant::now();
    let _worker = spawn_worker(dir.path(), &bootstrap, &url)?;
    wait_for("the last record", || async {
        Ok(peer
            .bodies()
            .contains(&format!("r{}", count - 1))
            .then_some(()))
    })
    .await?;
    let (first, second): (Vec<Seen>, Vec<Seen>) = peer
        .seen()
        .into_iter()
        .partition(|seen| seen.at < restarted_at);
    let first: Vec<usize> = first.iter().map(|s| index(&s.body)).collect();
    assert_eq!(
        first,
        (0..first.len()).collect::<Vec<_>>(),
        "run 1 in order"
    );
    let second: Vec<usize> = second.iter().map(|s| index(&s.body)).collect();
    let start = second.first().copied().unwrap_or(usize::MAX);
    // Resumes at or before the first record the first run did not see acknowledged (no
    // gap), then every record exactly once, in order.
    assert!(
        start <= first.len(),
        "gap: run 1 saw {first:?}, run 2 starts at {start}"
    );
    assert_eq!(
        second,
        (start..count).collect::<Vec<_>>(),
        "run 2 in order, once each"
    );
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_400_with_tolerance_all_goes_to_the_dlq() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|seen, _| status(if seen.body == "r1" { 400 } else { 200 })).await?;
    produce(&bootstrap, "dlq-http-in", 1, numbered(3)).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/in", peer.url);
    let mut config = sink_config("dlq-http-in", &url);
    config.extend([
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "http-dlq"),
        ("errors.deadletterqueue.context.headers.enable", "true"),
    ]);
    rest.create("dlq", &config).await?;
    rest.wait_committed("dlq", 0, 3).await?;
    assert_eq!(peer.bodies(), ["r0", "r1", "r2"]);
    let dlq = wait_for("the DLQ record", || async {
        let bootstrap = bootstrap.clone();
        let records =
            tokio::task::spawn_blocking(move || common::read_to_end(&bootstrap, "http-dlq"))
                .await?
                .unwrap_or_default();
        Ok((!records.is_empty()).then_some(records))
    })
    .await?;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].payload.as_deref(), Some(&b"r1"[..]));
    let header = |name: &str| {
        dlq[0]
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.clone())
            .map(|value| String::from_utf8_lossy(&value).into_owned())
    };
    assert_eq!(
        header("__connect.errors.stage").as_deref(),
        Some("TASK_PUT")
    );
    assert_eq!(header("__connect.errors.offset").as_deref(), Some("1"));
    assert_eq!(
        header("__connect.errors.class.name").as_deref(),
        Some("io.josefine.connect.http.HttpSinkConnector")
    );
    assert!(header("__connect.errors.exception.message").is_some_and(|m| m.contains("HTTP 400")));
    rest.wait_counter("dlq", "dlq", 1).await?;
    let task = rest.task_status("dlq").await?;
    assert_eq!(task["state"], "RUNNING");
    assert_eq!(task["counters"]["delivered"], 2);
    assert_eq!(task["counters"]["failed"], 0);
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_expired_records_are_not_sent_but_committed() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|_, _| status(200)).await?;
    let ten_seconds_ago = (chrono_now_ms() - 10_000).to_string();
    let records: Vec<Out<'static>> = vec![
        (
            0,
            "stale".into(),
            vec![
                ("creation-time", ten_seconds_ago.clone()),
                ("ttl", "1000".into()),
            ],
        ),
        (
            0,
            "fresh".into(),
            vec![
                ("creation-time", ten_seconds_ago.clone()),
                ("ttl", "60000".into()),
            ],
        ),
        (
            0,
            "malformed".into(),
            vec![("creation-time", ten_seconds_ago), ("ttl", "soon".into())],
        ),
    ];
    produce(&bootstrap, "expiry-in", 1, records).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/in", peer.url);
    rest.create("expiry", &sink_config("expiry-in", &url))
        .await?;
    rest.wait_committed("expiry", 0, 3).await?;
    assert_eq!(peer.bodies(), ["fresh", "malformed"]);
    let counters = rest.task_status("expiry").await?["counters"].clone();
    assert_eq!(counters["expired"], 1);
    assert_eq!(counters["delivered"], 2);
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

/// A record that expires while its request waits for a retry is not sent again: the peer
/// answers the first request with 503 and `Retry-After: 6`, the record's ttl (4 s from its
/// creation) runs out during the wait, and the next request carries the record after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_a_record_expiring_during_its_retry_is_not_resent() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|seen, earlier| {
        if seen.body == "short" && earlier == 0 {
            Reply {
                status: 503,
                retry_after: Some("6"),
                delay: Duration::ZERO,
            }
        } else {
            status(200)
        }
    })
    .await?;
    let now = chrono_now_ms().to_string();
    let records: Vec<Out<'static>> = vec![
        (
            0,
            "short".into(),
            vec![("creation-time", now.clone()), ("ttl", "4000".into())],
        ),
        (
            0,
            "long".into(),
            vec![("creation-time", now), ("ttl", "600000".into())],
        ),
    ];
    produce(&bootstrap, "expiring-in", 1, records).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/in", peer.url);
    rest.create("expiring", &sink_config("expiring-in", &url))
        .await?;
    rest.wait_committed("expiring", 0, 2).await?;
    assert_eq!(peer.bodies(), ["short", "long"]);
    let counters = rest.task_status("expiring").await?["counters"].clone();
    assert_eq!(counters["expired"], 1, "{counters}");
    assert_eq!(counters["delivered"], 1, "{counters}");
    assert_eq!(counters["retried"], 0, "{counters}");
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_429_retry_after_is_honoured() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|_, earlier| {
        if earlier == 0 {
            Reply {
                status: 429,
                retry_after: Some("1"),
                delay: Duration::ZERO,
            }
        } else {
            status(200)
        }
    })
    .await?;
    produce(&bootstrap, "throttle-in", 1, numbered(1)).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/in", peer.url);
    rest.create("throttle", &sink_config("throttle-in", &url))
        .await?;
    rest.wait_committed("throttle", 0, 1).await?;
    let seen = peer.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at.duration_since(seen[0].at);
    // The backoff alone would be at most 50 ms.
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    assert_eq!(rest.counter("throttle", "retried").await?, 1);
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_stalled_partition_does_not_stop_another() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|seen, _| status(if seen.path == "/p/0" { 503 } else { 200 })).await?;
    let mut records: Vec<Out<'static>> =
        vec![(0, "s0".into(), Vec::new()), (0, "s1".into(), Vec::new())];
    records.extend((0..10).map(|i| (1, format!("f{i}"), Vec::new())));
    produce(&bootstrap, "stall-in", 2, records).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/p/${{partition}}", peer.url);
    rest.create("stall", &sink_config("stall-in", &url)).await?;
    rest.wait_committed("stall", 1, 10).await?;
    // Partition 0 keeps retrying its first record meanwhile.
    wait_for("partition 0 retried", || async {
        let retried = rest.task_status("stall").await?["counters"]["retried"]
            .as_u64()
            .unwrap_or(0);
        let attempts = peer.seen().iter().filter(|s| s.path == "/p/0").count();
        Ok((retried >= 1 && attempts >= 2).then_some(()))
    })
    .await?;
    let seen = peer.seen();
    let flowing: Vec<&str> = seen
        .iter()
        .filter(|s| s.path == "/p/1")
        .map(|s| s.body.as_str())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    assert_eq!(flowing, expected);
    // Partition 0 only ever retried its first record, and commits nothing.
    assert!(seen
        .iter()
        .filter(|s| s.path == "/p/0")
        .all(|s| s.body == "s0"));
    assert!(seen.iter().filter(|s| s.path == "/p/0").count() >= 2);
    let stalled = rest.committed("stall").await?.get(&0).copied();
    assert!(stalled.is_none_or(|o| o == 0), "{stalled:?}");
    let task = rest.task_status("stall").await?;
    assert_eq!(task["state"], "RUNNING");
    assert_eq!(task["counters"]["delivered"], 10);
    assert!(task["counters"]["retried"].as_u64().unwrap_or(0) >= 1);
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_http_sink_400_without_tolerance_fails_the_task_uncommitted() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let peer = Peer::start(|seen, _| status(if seen.body == "r1" { 400 } else { 200 })).await?;
    produce(&bootstrap, "strict-http-in", 1, numbered(3)).await?;
    let worker = start_worker(&bootstrap, dir.path()).await?;
    let rest = Rest::new(&worker);
    let url = format!("{}/in", peer.url);
    rest.create("strict", &sink_config("strict-http-in", &url))
        .await?;
    let task = wait_for("FAILED", || async {
        let task = rest.task_status("strict").await?;
        Ok((task["state"] == "FAILED").then_some(task))
    })
    .await?;
    let trace = task["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("Tolerance exceeded in error handler"),
        "{trace}"
    );
    assert!(trace.contains("HTTP 400"), "{trace}");
    assert_eq!(task["counters"]["delivered"], 1);
    assert_eq!(task["counters"]["failed"], 1);
    // r0 is committed, r1 (the failed record) is not; r2 was never sent.
    assert_eq!(rest.committed("strict").await?.get(&0), Some(&1));
    assert_eq!(peer.bodies(), ["r0", "r1"]);
    worker.shutdown().await;
    broker.shutdown().await;
    Ok(())
}
