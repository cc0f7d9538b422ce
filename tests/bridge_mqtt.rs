//! The MQTT bridge (CONNECT.md g.3) against Debian's `mosquitto`, started by each test with a
//! generated configuration on a loopback port: MqttSink publishes keyed Kafka records that
//! `mosquitto_sub` receives; MqttSource turns `mosquitto_pub` messages into Kafka records
//! (read back with librdkafka), keeps its persistent session across a worker restart, and
//! acknowledges a malformed JSON message it skipped so the broker never delivers it again,
//! and acknowledges nothing that Kafka did not append (a message taken by a worker without a
//! reachable Kafka is delivered again to the next one).
//! Counters are read from the REST status.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;
use rdkafka::producer::BaseRecord;
use serde_json::{json, Value};

use crate::common::{self, Received, TestResult, PATIENCE};
use crate::watchdog;

const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";

/// The mosquitto broker binary: on the PATH, or Debian's /usr/sbin (outside a user's PATH).
fn mosquitto_binary() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("mosquitto"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}

/// A mosquitto broker on 127.0.0.1, killed when dropped.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto on a free port (picked by binding port 0 and releasing it; another
    /// port is tried when the broker could not bind it).
    fn start() -> TestResult<Mosquitto> {
        let dir = tempfile::tempdir()?;
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let config = dir.path().join("mosquitto.conf");
            std::fs::write(
                &config,
                format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
            )?;
            let mut child = Command::new(mosquitto_binary())
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait()?.is_some() {
                    break; // could not bind: try another port
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() && child.try_wait()?.is_none() {
                    return Ok(Mosquitto {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    anyhow::bail!("mosquitto did not listen on port {port}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        anyhow::bail!("mosquitto could not start on a free port")
    }

    fn uri(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// `mosquitto_pub -q <qos> -t <topic> -m <message>`.
    fn publish(&self, topic: &str, qos: u8, message: &str) -> TestResult {
        let output = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-q", &qos.to_string(), "-t", topic, "-m", message])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "mosquitto_pub: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// `mosquitto_sub -v -q 1 -t <filter>`, returned once its subscription is acknowledged.
    fn subscribe(&self, filter: &str) -> TestResult<Subscriber> {
        // Line-buffered (coreutils' stdbuf): mosquitto_sub's debug lines are not flushed
        // into a pipe otherwise.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-d", "-v", "-q", "1", "-t", filter])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let subscriber = Subscriber { child, lines };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = subscriber
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| anyhow::anyhow!("mosquitto_sub did not subscribe"))?;
            if line.contains("received SUBACK") {
                return Ok(subscriber);
            }
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `mosquitto_sub`, killed when dropped.
struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    /// The next `count` messages as `topic payload` lines (debug lines left out).
    fn messages(&self, prefix: &str, count: usize) -> TestResult<Vec<String>> {
        let deadline = Instant::now() + PATIENCE;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| anyhow::anyhow!("got {out:?}, expected {count} messages"))?;
            if line.starts_with(prefix) {
                out.push(line);
            }
        }
        Ok(out)
    }

    /// Messages that arrive within `wait` (to check that nothing more comes).
    fn more(&self, prefix: &str, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.starts_with(prefix) {
                out.push(line);
            }
        }
        out
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-process Connect worker with its REST API.
struct Connect {
    standalone: Standalone,
    rest: String,
    http: reqwest::Client,
}

impl Connect {
    async fn start(bootstrap: &str, dir: &Path) -> TestResult<Connect> {
        let config = WorkerConfig::new(josefine::connect::connector::config_from(&[
            ("bootstrap.servers", bootstrap),
            ("key.converter", STRING),
            ("value.converter", STRING),
            (
                "offset.storage.file.filename",
                &dir.join("connect.offsets").display().to_string(),
            ),
            ("offset.flush.interval.ms", "200"),
            ("listeners", "http://127.0.0.1:0"),
        ]))?;
        let standalone = Standalone::start(config, Vec::new(), None).await?;
        let rest = format!("http://{}", standalone.rest_address());
        Ok(Connect {
            standalone,
            rest,
            http: reqwest::Client::new(),
        })
    }

    async fn create(&self, name: &str, config: Value) -> TestResult {
        let response = self
            .http
            .post(format!("{}/connectors", self.rest))
            .json(&json!({"name": name, "config": config}))
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(status.as_u16() == 201, "create {name}: {status} {body}");
        Ok(())
    }

    async fn get(&self, path: &str) -> TestResult<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.rest))
            .send()
            .await?
            .json()
            .await?)
    }

    /// The status of task 0 once `check` accepts it (a FAILED task fails the test).
    async fn task_status(&self, name: &str, check: impl Fn(&Value) -> bool) -> TestResult<Value> {
        let start = Instant::now();
        loop {
            let status = self.get(&format!("/connectors/{name}/status")).await?;
            let task = status["tasks"][0].clone();
            anyhow::ensure!(task["state"] != "FAILED", "{name} failed: {task}");
            if check(&task) {
                return Ok(task);
            }
            anyhow::ensure!(
                start.elapsed() < PATIENCE,
                "gave up waiting on {name}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        self.standalone.shutdown().await;
    }
}

fn counter(task: &Value, name: &str) -> u64 {
    task["counters"][name].as_u64().unwrap_or(u64::MAX)
}

/// Every record of partition 0 of `topic` once there are at least `count`.
async fn wait_for_records(bootstrap: &str, topic: &str, count: usize) -> TestResult<Vec<Received>> {
    let start = Instant::now();
    loop {
        let (b, t) = (bootstrap.to_string(), topic.to_string());
        let records = tokio::task::spawn_blocking(move || common::read_to_end(&b, &t))
            .await?
            .unwrap_or_default();
        if records.len() >= count {
            return Ok(records);
        }
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "{topic} has {} of {count} records",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn text(bytes: &Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(bytes.as_deref().unwrap_or_default()).into_owned()
}

fn header<'a>(record: &'a Received, key: &str) -> Option<&'a [u8]> {
    record
        .headers
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_deref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mqtt_sink_publishes_keyed_records_and_commits_after_the_acknowledgements() -> TestResult {
    let _watchdog = watchdog::guard();
    let mosquitto = Mosquitto::start()?;
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let (producer, deliveries) = common::producer(&bootstrap, &[])?;
    let records: [(&str, &str); 4] = [
        ("k1", "{\"id\":1}"),
        ("k2", "two"),
        ("a+b#c", "wild"),
        ("k1", "again"),
    ];
    for (key, value) in records {
        common::enqueue(
            &producer,
            BaseRecord::to("orders").key(key).payload(value.as_bytes()),
        )?;
    }
    let reports = common::flush(&producer, &deliveries)?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");

    let subscriber = mosquitto.subscribe("kafka/#")?;
    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect
        .create(
            "mqtt-out",
            json!({
                "connector.class": "MqttSink",
                "topics": "orders",
                "mqtt.server.uri": mosquitto.uri(),
                "mqtt.qos": "1",
            }),
        )
        .await?;
    let received = subscriber.messages("kafka/", 4)?;
    assert_eq!(
        received,
        [
            "kafka/orders/k1 {\"id\":1}",
            "kafka/orders/k2 two",
            "kafka/orders/a_b_c wild",
            "kafka/orders/k1 again",
        ]
    );
    let task = connect
        .task_status("mqtt-out", |t| {
            counter(t, "delivered") == 4 && t["connected"] == true
        })
        .await?;
    assert_eq!(counter(&task, "accepted"), 4, "{task}");
    assert_eq!(counter(&task, "failed"), 0, "{task}");
    assert_eq!(task["server"], mosquitto.uri());
    // Every publish was acknowledged: the committed offset reaches the end.
    let start = Instant::now();
    loop {
        let offsets = connect.get("/connectors/mqtt-out/offsets").await?;
        if offsets["offsets"][0]["offset"]["kafka_offset"] == 4 {
            break;
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "not committed: {offsets}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(subscriber
        .more("kafka/", Duration::from_millis(300))
        .is_empty());
    connect.stop().await;
    Ok(())
}

fn source_config(mosquitto: &Mosquitto, client_id: &str, extra: Value) -> Value {
    let mut config = json!({
        "connector.class": "MqttSource",
        "mqtt.server.uri": mosquitto.uri(),
        "mqtt.client.id": client_id,
        "mqtt.topics": "foo/#",
        "mqtt.qos": "1",
        "value.format": "string",
    });
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mqtt_source_produces_messages_and_keeps_its_session_across_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let mosquitto = Mosquitto::start()?;
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let config = source_config(&mosquitto, "josefine-test-source", json!({}));

    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect.create("mqtt-in", config.clone()).await?;
    connect
        .task_status("mqtt-in", |t| t["subscribed"] == true)
        .await?;
    mosquitto.publish("foo/bar", 1, "hello")?;
    let records = wait_for_records(&bootstrap, "foo_bar", 1).await?;
    assert_eq!(text(&records[0].key), "foo/bar");
    assert_eq!(text(&records[0].payload), "hello");
    assert_eq!(header(&records[0], "mqtt.topic"), Some(&b"foo/bar"[..]));
    assert_eq!(header(&records[0], "mqtt.qos"), Some(&b"1"[..]));
    assert_eq!(header(&records[0], "mqtt.retained"), Some(&b"false"[..]));
    let task = connect
        .task_status("mqtt-in", |t| counter(t, "delivered") == 1)
        .await?;
    assert_eq!(counter(&task, "accepted"), 1, "{task}");
    let offsets = connect.get("/connectors/mqtt-in/offsets").await?;
    assert_eq!(offsets, json!({"offsets": []}));
    connect.stop().await;

    // The worker is down: the broker queues QoS 1 messages for the persistent session.
    for n in 1..=5 {
        mosquitto.publish("foo/bar", 1, &format!("m{n}"))?;
    }
    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect.create("mqtt-in", config).await?;
    let records = wait_for_records(&bootstrap, "foo_bar", 6).await?;
    let values: Vec<String> = records.iter().map(|r| text(&r.payload)).collect();
    assert_eq!(values, ["hello", "m1", "m2", "m3", "m4", "m5"]);
    assert!(records.iter().all(|r| text(&r.key) == "foo/bar"));
    let task = connect
        .task_status("mqtt-in", |t| counter(t, "delivered") == 5)
        .await?;
    assert_eq!(counter(&task, "accepted"), 5, "{task}");
    connect.stop().await;
    Ok(())
}

/// Ack-after-append (CONNECT.md g.3): a message is PUBACKed only once Kafka acknowledged its
/// record. The first worker appends one message, then its Kafka broker goes away: it still
/// takes the next message (counted `accepted`; the runtime polls again once a batch is
/// resolved, so the later ones wait in the client) but can never append it. After it stops, the
/// MQTT broker holds them unacknowledged for the persistent session and delivers them again to
/// the next worker, which appends them in order to another Kafka broker. With
/// acknowledgements on receipt they would be lost and the second worker would see none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mqtt_source_acknowledges_a_message_only_after_kafka_appended_it() -> TestResult {
    let _watchdog = watchdog::guard();
    let mosquitto = Mosquitto::start()?;
    let dir = tempfile::tempdir()?;
    let config = source_config(&mosquitto, "josefine-test-ack", json!({}));

    let lost = josefine::Broker::builder().start().await?;
    let connect = Connect::start(&lost.bootstrap_servers(), dir.path()).await?;
    connect.create("mqtt-ack", config.clone()).await?;
    connect
        .task_status("mqtt-ack", |t| t["subscribed"] == true)
        .await?;
    // One message through, so that the producer knows the topic's partitions.
    mosquitto.publish("foo/held", 1, "h0")?;
    wait_for_records(&lost.bootstrap_servers(), "foo_held", 1).await?;
    connect
        .task_status("mqtt-ack", |t| counter(t, "delivered") == 1)
        .await?;
    lost.shutdown().await;
    for n in 1..=3 {
        mosquitto.publish("foo/held", 1, &format!("h{n}"))?;
    }
    let task = connect
        .task_status("mqtt-ack", |t| counter(t, "accepted") == 2)
        .await?;
    assert_eq!(counter(&task, "delivered"), 1, "{task}");
    connect.stop().await;

    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect.create("mqtt-ack", config).await?;
    let records = wait_for_records(&bootstrap, "foo_held", 3).await?;
    let values: Vec<String> = records.iter().map(|r| text(&r.payload)).collect();
    assert_eq!(values, ["h1", "h2", "h3"]);
    let task = connect
        .task_status("mqtt-ack", |t| counter(t, "delivered") == 3)
        .await?;
    assert_eq!(counter(&task, "accepted"), 3, "{task}");
    // Acknowledged now: a third worker on the same session gets nothing again.
    connect.stop().await;
    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect
        .create(
            "mqtt-ack",
            source_config(&mosquitto, "josefine-test-ack", json!({})),
        )
        .await?;
    connect
        .task_status("mqtt-ack", |t| t["connected"] == true)
        .await?;
    mosquitto.publish("foo/held", 1, "after")?;
    let records = wait_for_records(&bootstrap, "foo_held", 4).await?;
    let values: Vec<String> = records.iter().map(|r| text(&r.payload)).collect();
    assert_eq!(values, ["h1", "h2", "h3", "after"]);
    connect.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mqtt_source_skips_malformed_json_and_acknowledges_it() -> TestResult {
    let _watchdog = watchdog::guard();
    let mosquitto = Mosquitto::start()?;
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let dir = tempfile::tempdir()?;
    let config = source_config(
        &mosquitto,
        "josefine-test-json",
        json!({
            "mqtt.topics": "sensors/+",
            "kafka.topic": "mqtt.${topic}",
            "value.format": "json",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "errors.tolerance": "all",
        }),
    );
    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect.create("mqtt-json", config.clone()).await?;
    connect
        .task_status("mqtt-json", |t| t["subscribed"] == true)
        .await?;
    mosquitto.publish("sensors/t1", 1, "{\"c\":21}")?;
    mosquitto.publish("sensors/t1", 1, "{not json")?;
    mosquitto.publish("sensors/t1", 1, "{\"c\":22}")?;
    let records = wait_for_records(&bootstrap, "mqtt.sensors_t1", 2).await?;
    let values: Vec<String> = records.iter().map(|r| text(&r.payload)).collect();
    assert_eq!(values, ["{\"c\":21}", "{\"c\":22}"]);
    let task = connect
        .task_status("mqtt-json", |t| counter(t, "delivered") == 2)
        .await?;
    assert_eq!(counter(&task, "accepted"), 3, "{task}");
    assert_eq!(counter(&task, "failed"), 1, "{task}");
    connect.stop().await;

    // Restarted on the same session: the skipped message was acknowledged, so the broker
    // does not deliver it again; only the new one arrives.
    let connect = Connect::start(&bootstrap, dir.path()).await?;
    connect.create("mqtt-json", config).await?;
    connect
        .task_status("mqtt-json", |t| t["connected"] == true)
        .await?;
    mosquitto.publish("sensors/t1", 1, "{\"c\":23}")?;
    let records = wait_for_records(&bootstrap, "mqtt.sensors_t1", 3).await?;
    let values: Vec<String> = records.iter().map(|r| text(&r.payload)).collect();
    assert_eq!(values, ["{\"c\":21}", "{\"c\":22}", "{\"c\":23}"]);
    let task = connect
        .task_status("mqtt-json", |t| counter(t, "delivered") == 1)
        .await?;
    assert_eq!(counter(&task, "accepted"), 1, "{task}");
    assert_eq!(counter(&task, "failed"), 0, "{task}");
    connect.stop().await;
    Ok(())
}
