//! MirrorSource (CONNECT.md g.5) between two `josefine broker` processes: cluster A (source)
//! and cluster B (target, the worker's cluster), the worker being `josefine
//! connect-standalone`. Records are compared per partition (key, value, headers, timestamp),
//! remote topics and their configs checked with librdkafka's admin client, the offset-syncs
//! and checkpoint topics decoded with the g.5 layouts, translated group offsets read on B, a
//! source topic grown by a partition grown on B too, a SIGKILLed worker restarted without gaps,
//! and the counters read from the REST status.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::broker_process::BrokerProcess;
use crate::common::{self, Received, TestResult, PATIENCE};
use crate::watchdog;

/// A `josefine connect-standalone` process running one MirrorSource connector.
struct Worker {
    child: Child,
    rest: String,
}

impl Worker {
    /// Starts a worker on cluster `bootstrap` with its offsets file in `dir` and a
    /// MirrorSource connector named `mirror` with `config`. The worker's converters are
    /// JsonConverter: the connector must pin ByteArrayConverter for the bytes to pass.
    fn start(dir: &Path, bootstrap: &str, config: &serde_json::Value) -> TestResult<Worker> {
        let worker = dir.join("worker.properties");
        std::fs::write(
            &worker,
            format!(
                "bootstrap.servers={bootstrap}\n\
                 key.converter=org.apache.kafka.connect.json.JsonConverter\n\
                 value.converter=org.apache.kafka.connect.json.JsonConverter\n\
                 offset.storage.file.filename={}\n\
                 offset.flush.interval.ms=300\n\
                 listeners=http://127.0.0.1:0\n",
                dir.join("connect.offsets").display()
            ),
        )?;
        let connector = dir.join("mirror.json");
        std::fs::write(
            &connector,
            serde_json::to_vec(&serde_json::json!({"name": "mirror", "config": config}))?,
        )?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_josefine"))
            .arg("connect-standalone")
            .arg(&worker)
            .arg(&connector)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Keep draining after the receiver is gone so the worker never blocks.
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let rest = loop {
            let line = lines_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| anyhow::anyhow!("connect-standalone did not start"))?;
            if line.contains("Kafka Connect started") {
                if let Some(rest) = line
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("rest="))
                {
                    break rest.to_string();
                }
            }
        };
        Ok(Worker { child, rest })
    }

    /// `GET /connectors/mirror/status`.
    fn status(&self) -> TestResult<serde_json::Value> {
        let url = format!("http://{}/connectors/mirror/status", self.rest);
        Ok(common::block_on(async {
            reqwest::get(url).await?.json::<serde_json::Value>().await
        })??)
    }

    /// SIGKILL: no shutdown, no offset flush.
    fn kill(mut self) -> TestResult {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) -> TestResult {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM failed");
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "connect-standalone exited with {status}");
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 100 ms until it yields a value or [`PATIENCE`] passes.
fn eventually<T>(what: &str, mut check: impl FnMut() -> TestResult<Option<T>>) -> TestResult<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        anyhow::ensure!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Produces `count` records to `topic` (partition `i % 3`) numbered from `first`: key `k<i>`,
/// value `v<i>` (record 7 has a null value), two headers (one null), timestamp `ts0 + i`.
fn produce(bootstrap: &str, topic: &str, first: usize, count: usize) -> TestResult {
    let (producer, deliveries) = common::producer(bootstrap, &[])?;
    for i in first..first + count {
        let key = format!("k{i}");
        let value = format!("v{i}");
        let index = i.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "index",
                value: Some(&index),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        let mut record = BaseRecord::to(topic)
            .partition((i % 3) as i32)
            .key(key.as_str())
            .timestamp(1_700_000_000_000 + i as i64)
            .headers(headers);
        if i != 7 {
            record = record.payload(value.as_bytes());
        }
        common::enqueue(&producer, record)?;
    }
    let reports = common::flush(&producer, &deliveries)?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    Ok(())
}

/// Every record of partitions `0..partitions` of `topic`, by partition.
fn read_partitions(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> TestResult<BTreeMap<i32, Vec<Received>>> {
    let consumer = common::consumer(bootstrap, &[("enable.partition.eof", "true")])?;
    let mut out = BTreeMap::new();
    for partition in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Beginning)?;
        consumer.assign(&list)?;
        let mut records: Vec<Received> = Vec::new();
        let start = Instant::now();
        while records.last().map_or(0, |r| r.offset + 1) < high {
            anyhow::ensure!(start.elapsed() < PATIENCE, "reading {topic}-{partition}");
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => records.push(common::own(&message)),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(error)) => anyhow::bail!("consumer error: {error}"),
            }
        }
        out.insert(partition, records);
    }
    Ok(out)
}

/// A record's (key, value, headers, timestamp).
type Content = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
    Option<i64>,
);

/// The record's (key, value, headers, timestamp): what must be identical after a copy.
fn content(record: &Received) -> Content {
    (
        record.key.clone(),
        record.payload.clone(),
        record.headers.clone(),
        record.timestamp,
    )
}

/// The number of partitions of `topic` on `bootstrap` (0 when it does not exist).
fn partition_count(bootstrap: &str, topic: &str) -> TestResult<usize> {
    let consumer = common::consumer(bootstrap, &[])?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}

/// The value of config `name` of `topic`.
fn topic_config(bootstrap: &str, topic: &str, name: &str) -> TestResult<Option<String>> {
    let admin = common::admin(bootstrap)?;
    let results = common::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()),
    )??;
    let config = results[0].as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(config.get(name).and_then(|entry| entry.value.clone()))
}

fn read_string(bytes: &[u8], at: &mut usize) -> TestResult<String> {
    let len = i16::from_be_bytes(
        bytes
            .get(*at..*at + 2)
            .ok_or_else(|| anyhow::anyhow!("short"))?
            .try_into()?,
    ) as usize;
    let text = std::str::from_utf8(
        bytes
            .get(*at + 2..*at + 2 + len)
            .ok_or_else(|| anyhow::anyhow!("short"))?,
    )?;
    *at += 2 + len;
    Ok(text.to_string())
}

fn read_i32(bytes: &[u8], at: &mut usize) -> TestResult<i32> {
    let value = i32::from_be_bytes(
        bytes
            .get(*at..*at + 4)
            .ok_or_else(|| anyhow::anyhow!("short"))?
            .try_into()?,
    );
    *at += 4;
    Ok(value)
}

fn read_i64(bytes: &[u8], at: &mut usize) -> TestResult<i64> {
    let value = i64::from_be_bytes(
        bytes
            .get(*at..*at + 8)
            .ok_or_else(|| anyhow::anyhow!("short"))?
            .try_into()?,
    );
    *at += 8;
    Ok(value)
}

/// One offset sync: (topic, partition, upstream, downstream), decoded with the g.5 layout.
fn decode_offset_sync(record: &Received) -> TestResult<(String, i32, i64, i64)> {
    let key = record.key.as_deref().unwrap_or_default();
    let value = record.payload.as_deref().unwrap_or_default();
    let (mut k, mut v) = (0, 0);
    let decoded = (
        read_string(key, &mut k)?,
        read_i32(key, &mut k)?,
        read_i64(value, &mut v)?,
        read_i64(value, &mut v)?,
    );
    anyhow::ensure!(
        k == key.len() && v == value.len(),
        "trailing bytes in an offset sync"
    );
    Ok(decoded)
}

/// One checkpoint: (group, topic, partition, upstream, downstream), decoded with the g.5
/// layout (value version 0).
fn decode_checkpoint(record: &Received) -> TestResult<(String, String, i32, i64, i64)> {
    let key = record.key.as_deref().unwrap_or_default();
    let value = record.payload.as_deref().unwrap_or_default();
    let (mut k, mut v) = (0, 2);
    anyhow::ensure!(
        value.get(..2) == Some(&[0, 0][..]),
        "checkpoint version is not 0"
    );
    let decoded = (
        read_string(key, &mut k)?,
        read_string(key, &mut k)?,
        read_i32(key, &mut k)?,
        read_i64(value, &mut v)?,
        read_i64(value, &mut v)?,
    );
    read_string(value, &mut v)?;
    anyhow::ensure!(
        k == key.len() && v == value.len(),
        "trailing bytes in a checkpoint"
    );
    Ok(decoded)
}

/// Kafka's translation rule over decoded syncs: downstream of the latest sync at or before
/// `upstream`, +1 when past it.
fn translate(syncs: &BTreeMap<i64, i64>, upstream: i64) -> Option<i64> {
    let (&sync_up, &sync_down) = syncs.range(..=upstream).next_back()?;
    Some(sync_down + i64::from(upstream != sync_up))
}

/// Commits `offsets` (partition → next offset) of `topic` for `group` on `bootstrap`.
fn commit_group(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) -> TestResult {
    let consumer: BaseConsumer = common::consumer(bootstrap, &[("group.id", group)])?;
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    consumer.commit(&list, CommitMode::Sync)?;
    Ok(())
}

/// The committed offsets of `group` for `topic` partitions `0..3` on `bootstrap`.
fn committed(bootstrap: &str, group: &str, topic: &str) -> TestResult<HashMap<i32, i64>> {
    let consumer: BaseConsumer = common::consumer(bootstrap, &[("group.id", group)])?;
    let mut list = TopicPartitionList::new();
    for partition in 0..3 {
        list.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect())
}

fn counters(status: &serde_json::Value) -> (u64, u64) {
    let task = &status["tasks"][0]["counters"];
    (
        task["accepted"].as_u64().unwrap_or(0),
        task["delivered"].as_u64().unwrap_or(0),
    )
}

#[test]
fn bridge_mirror_copies_records_configs_offset_syncs_and_group_offsets() -> TestResult {
    let _watchdog = watchdog::guard();
    let a = BrokerProcess::start()?;
    let b = BrokerProcess::start()?;
    common::create_topic(&a.bootstrap, "orders", 3, &[("retention.ms", "86400000")])?;
    produce(&a.bootstrap, "orders", 0, 1000)?;
    // Group "billing" on A: partition 0 at its end, partition 1 in the middle, partition 2
    // not committed.
    let source = read_partitions(&a.bootstrap, "orders", 3)?;
    let end0 = source[&0].len() as i64;
    commit_group(&a.bootstrap, "billing", "orders", &[(0, end0), (1, 100)])?;

    let dir = tempfile::tempdir()?;
    let worker = Worker::start(
        dir.path(),
        &b.bootstrap,
        &serde_json::json!({
            "connector.class": "MirrorSource",
            "source.cluster.alias": "A",
            "target.cluster.alias": "B",
            "source.cluster.bootstrap.servers": a.bootstrap,
            "refresh.topics.interval.seconds": "1",
            "sync.topic.configs.interval.seconds": "1",
            "emit.checkpoints.interval.seconds": "1",
            "sync.group.offsets.enabled": "true",
        }),
    )?;

    // Records: same partition count, same per-partition sequences.
    eventually("B/A.orders to hold 1000 records", || {
        let count = partition_count(&b.bootstrap, "A.orders")?;
        if count == 0 {
            return Ok(None);
        }
        let total: usize = read_partitions(&b.bootstrap, "A.orders", count as i32)?
            .values()
            .map(Vec::len)
            .sum();
        Ok((total >= 1000).then_some(()))
    })?;
    assert_eq!(partition_count(&b.bootstrap, "A.orders")?, 3);
    let copied = read_partitions(&b.bootstrap, "A.orders", 3)?;
    for partition in 0..3 {
        let want: Vec<_> = source[&partition].iter().map(content).collect();
        let got: Vec<_> = copied[&partition].iter().map(content).collect();
        assert_eq!(got, want, "partition {partition}");
    }
    assert!(
        copied[&1].iter().any(|r| r.payload.is_none()),
        "null value kept"
    );

    // Topic configs: set at creation, and a change synced later.
    assert_eq!(
        topic_config(&b.bootstrap, "A.orders", "retention.ms")?.as_deref(),
        Some("86400000")
    );
    common::block_on(
        common::admin(&a.bootstrap)?.alter_configs(
            [
                &rdkafka::admin::AlterConfig::new(ResourceSpecifier::Topic("orders"))
                    .set("retention.ms", "172800000"),
            ],
            &AdminOptions::new(),
        ),
    )??;
    eventually("the retention.ms change on B", || {
        Ok(
            (topic_config(&b.bootstrap, "A.orders", "retention.ms")?.as_deref()
                == Some("172800000"))
            .then_some(()),
        )
    })?;

    // A new source topic is found by the refresh.
    common::create_topic(&a.bootstrap, "payments", 1, &[])?;
    produce_to_one(&a.bootstrap, "payments")?;
    eventually("B/A.payments", || {
        Ok((partition_count(&b.bootstrap, "A.payments")? == 1
            && read_partitions(&b.bootstrap, "A.payments", 1)?[&0].len() == 1)
            .then_some(()))
    })?;
    // A source topic that gains a partition: the remote topic grows too and the new
    // partition is copied (Kafka's MirrorSourceConnector syncs partition counts).
    common::block_on(common::admin(&a.bootstrap)?.create_partitions(
        [&rdkafka::admin::NewPartitions::new("payments", 2)],
        &AdminOptions::new(),
    ))??
    .into_iter()
    .try_for_each(|r| r.map(|_| ()).map_err(|(t, e)| anyhow::anyhow!("{t}: {e}")))?;
    {
        let (producer, deliveries) = common::producer(&a.bootstrap, &[])?;
        common::enqueue(
            &producer,
            BaseRecord::to("payments")
                .partition(1)
                .key("p1")
                .payload(b"second".as_slice()),
        )?;
        let reports = common::flush(&producer, &deliveries)?;
        anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    }
    eventually("B/A.payments grown to 2 partitions and copied", || {
        Ok((partition_count(&b.bootstrap, "A.payments")? == 2
            && read_partitions(&b.bootstrap, "A.payments", 2)?[&1].len() == 1)
            .then_some(()))
    })?;
    let grown = read_partitions(&b.bootstrap, "A.payments", 2)?;
    assert_eq!(grown[&1][0].payload.as_deref(), Some(&b"second"[..]));

    // Offset syncs on A, named after the target alias (Kafka's offset-syncs.topic.location=source).
    let syncs_topic = "mm2-offset-syncs.B.internal";
    let mut syncs: HashMap<(String, i32), BTreeMap<i64, i64>> = HashMap::new();
    let last_syncs = eventually("offset syncs up to each partition's last record", || {
        syncs.clear();
        for record in &read_partitions(&a.bootstrap, syncs_topic, 1)?[&0] {
            let (topic, partition, upstream, downstream) = decode_offset_sync(record)?;
            syncs
                .entry((topic, partition))
                .or_default()
                .insert(upstream, downstream);
        }
        let done = (0..3).all(|p| {
            syncs
                .get(&("orders".to_string(), p))
                .and_then(|s| s.last_key_value())
                .is_some_and(|(&up, _)| up + 1 == source[&p].len() as i64)
        });
        Ok(done.then(|| syncs.clone()))
    })?;
    for ((topic, _), entries) in &last_syncs {
        assert!(topic == "orders" || topic == "payments", "{topic}");
        // A fresh copy: downstream offsets equal upstream ones; the first record is synced.
        assert!(entries.iter().all(|(up, down)| up == down), "{entries:?}");
        assert_eq!(entries.first_key_value(), Some((&0, &0)));
    }

    // Checkpoints on B for group "billing", translated with Kafka's rule; and, with
    // sync.group.offsets.enabled, the same offsets committed for "billing" on B.
    let want: HashMap<i32, i64> = [(0, end0), (1, 100)]
        .into_iter()
        .filter_map(|(p, up)| {
            translate(&last_syncs[&("orders".to_string(), p)], up).map(|down| (p, down))
        })
        .collect();
    assert_eq!(want.get(&0), Some(&end0));
    assert!(want[&1] <= 100 && want[&1] >= 1, "{want:?}");
    eventually("checkpoints for billing", || {
        let mut latest: HashMap<i32, i64> = HashMap::new();
        for record in &read_partitions(&b.bootstrap, "A.checkpoints.internal", 1)?[&0] {
            let (group, topic, partition, upstream, downstream) = decode_checkpoint(record)?;
            if group == "billing" && topic == "A.orders" {
                assert_eq!(upstream, if partition == 0 { end0 } else { 100 });
                latest.insert(partition, downstream);
            }
        }
        Ok((latest == want).then_some(()))
    })?;
    eventually("billing's offsets on B", || {
        Ok((committed(&b.bootstrap, "billing", "A.orders")? == want).then_some(()))
    })?;

    // Counters: every consumed record was acknowledged by B.
    let status = eventually("counters to settle", || {
        let status = worker.status()?;
        Ok((counters(&status) == (1002, 1002)).then_some(status))
    })?;
    assert_eq!(status["tasks"][0]["state"], "RUNNING");
    assert_eq!(status["tasks"][0]["offset_syncs_topic"], syncs_topic);
    worker.stop()
}

fn produce_to_one(bootstrap: &str, topic: &str) -> TestResult {
    let (producer, deliveries) = common::producer(bootstrap, &[])?;
    common::enqueue(
        &producer,
        BaseRecord::to(topic).key("p").payload(b"paid".as_slice()),
    )?;
    let reports = common::flush(&producer, &deliveries)?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    Ok(())
}

#[test]
fn bridge_mirror_identity_policy_resumes_after_a_killed_worker_without_gaps() -> TestResult {
    let _watchdog = watchdog::guard();
    let a = BrokerProcess::start()?;
    let b = BrokerProcess::start()?;
    common::create_topic(&a.bootstrap, "orders", 3, &[])?;
    produce(&a.bootstrap, "orders", 0, 1000)?;
    let dir = tempfile::tempdir()?;
    let config = serde_json::json!({
        "connector.class": "org.apache.kafka.connect.mirror.MirrorSourceConnector",
        "source.cluster.alias": "A",
        "source.cluster.bootstrap.servers": a.bootstrap,
        "replication.policy.class": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
        "topics": "orders",
        "emit.checkpoints.enabled": "false",
        "sync.topic.configs.interval.seconds": "1",
        // Small batches so that the kill lands mid-copy.
        "source.cluster.consumer.max.poll.records": "20",
    });
    let worker = Worker::start(dir.path(), &b.bootstrap, &config)?;
    let copied_before = eventually("part of the copy", || {
        if partition_count(&b.bootstrap, "orders")? != 3 {
            return Ok(None);
        }
        let total: usize = read_partitions(&b.bootstrap, "orders", 3)?
            .values()
            .map(Vec::len)
            .sum();
        Ok((total >= 200).then_some(total))
    })?;
    worker.kill()?;
    produce(&a.bootstrap, "orders", 1000, 500)?;
    // A config change while no worker runs reaches B after the restart.
    common::block_on(
        common::admin(&a.bootstrap)?.alter_configs(
            [
                &rdkafka::admin::AlterConfig::new(ResourceSpecifier::Topic("orders"))
                    .set("retention.ms", "3600000"),
            ],
            &AdminOptions::new(),
        ),
    )??;
    let worker = Worker::start(dir.path(), &b.bootstrap, &config)?;
    eventually("the offline retention.ms change on B", || {
        Ok(
            (topic_config(&b.bootstrap, "orders", "retention.ms")?.as_deref() == Some("3600000"))
                .then_some(()),
        )
    })?;
    let source = read_partitions(&a.bootstrap, "orders", 3)?;
    let copied = eventually("every source record on B/orders", || {
        let copied = read_partitions(&b.bootstrap, "orders", 3)?;
        let complete = (0..3).all(|p| {
            copied[&p]
                .last()
                .is_some_and(|last| content(last) == content(&source[&p][source[&p].len() - 1]))
        });
        Ok(complete.then_some(copied))
    })?;
    let mut duplicates = 0;
    for partition in 0..3 {
        let want: Vec<_> = source[&partition].iter().map(content).collect();
        let got: Vec<_> = copied[&partition].iter().map(content).collect();
        // got = want[..k] ++ want[j..] with j <= k: no gap, duplicates only where the first
        // run stopped (its tail).
        let restart = got.iter().zip(&want).take_while(|(g, w)| g == w).count();
        let rest = &got[restart..];
        let resumed_from = want.len() - rest.len();
        assert!(resumed_from <= restart, "partition {partition}: gap");
        assert_eq!(
            rest,
            &want[resumed_from..],
            "partition {partition}: not a resume"
        );
        duplicates += restart - resumed_from;
    }
    let total: usize = copied.values().map(Vec::len).sum();
    assert_eq!(total, 1500 + duplicates);
    assert!(copied_before >= 200);
    // The restarted task counts what it copied itself.
    let status = eventually("counters after the restart", || {
        let status = worker.status()?;
        let (accepted, delivered) = counters(&status);
        Ok((accepted > 0 && accepted == delivered).then_some(status))
    })?;
    assert_eq!(status["connector"]["state"], "RUNNING");
    worker.stop()
}
