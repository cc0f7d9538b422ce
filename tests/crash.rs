//! Durability of the `josefine` binary under SIGKILL and a full disk, checked with librdkafka.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};

use crate::broker_process::BrokerProcess;
use crate::common::*;
use crate::watchdog;

/// A small deterministic generator (xorshift), so that a failing run can be repeated.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Acknowledged records: (topic, offset) -> (key, value).
type Acked = BTreeMap<(String, i64), (String, String)>;

/// Records every acknowledged record with its topic, offset, key and value.
#[derive(Default, Clone)]
struct AckLog(Arc<Mutex<Acked>>);

impl rdkafka::ClientContext for AckLog {}
impl rdkafka::producer::ProducerContext for AckLog {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        use rdkafka::Message;
        if let Ok(m) = result {
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(
                (m.topic().to_string(), m.offset()),
                (text(m.key()), text(m.payload())),
            );
        }
    }
}

#[test]
fn sigkill_during_heavy_producing_loses_no_acknowledged_record() -> TestResult {
    let _watchdog = watchdog::guard();
    crash_loop(6, &[], 0x5eed_1234)
}

#[test]
fn flush_interval_messages_one_keeps_every_acknowledged_record() -> TestResult {
    let _watchdog = watchdog::guard();
    crash_loop(2, &["log.flush.interval.messages=1"], 0xf105)
}

fn crash_loop(rounds: usize, overrides: &[&str], seed: u64) -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut rng = Seeded(seed | 1);
    let mut overrides: Vec<&str> = overrides.to_vec();
    overrides.push("log.cleaner.backoff.ms=20");
    // Recovery points reach the disk while producing: restarts trust the segments below them.
    overrides.push("log.flush.offset.checkpoint.interval.ms=50");
    let mut acked: Acked = BTreeMap::new();
    let mut ends: BTreeMap<&str, i64> = BTreeMap::new();
    for round in 0..rounds {
        let broker = BrokerProcess::spawn(BrokerProcess::command(dir.path(), &overrides), None)?;
        if round == 0 {
            create_topic(&broker.bootstrap, "plain", 1, &[("segment.bytes", "65536")])?;
            create_topic(
                &broker.bootstrap,
                "compacted",
                1,
                &[
                    ("cleanup.policy", "compact"),
                    ("segment.bytes", "16384"),
                    ("min.cleanable.dirty.ratio", "0.01"),
                ],
            )?;
        }
        // Nothing acknowledged is lost, nothing torn is served, and offsets go on from where
        // the log ended: no gap, no reuse.
        let plain = read_to_end(&broker.bootstrap, "plain")?;
        for (n, record) in plain.iter().enumerate() {
            assert_eq!(record.offset, n as i64, "round {round}: gap in plain");
        }
        let compacted = read_to_end(&broker.bootstrap, "compacted")?;
        assert!(compacted.windows(2).all(|w| w[0].offset < w[1].offset));
        let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for r in &compacted {
            latest.insert(r.key.clone().unwrap_or_default(), r.offset);
        }
        for ((topic, offset), (key, value)) in &acked {
            if topic == "plain" {
                let record = plain.get(*offset as usize);
                assert_eq!(
                    record.and_then(|r| r.payload.clone()),
                    Some(value.clone().into_bytes()),
                    "round {round}: acknowledged plain offset {offset} lost"
                );
            } else {
                let newest = latest.get(key.as_bytes()).copied().unwrap_or(-1);
                assert!(
                    newest >= *offset,
                    "round {round}: compacted {key}@{offset} lost"
                );
                if newest == *offset {
                    let record = compacted.iter().find(|r| r.offset == *offset);
                    assert_eq!(
                        record.and_then(|r| r.payload.clone()),
                        Some(value.clone().into_bytes())
                    );
                }
            }
        }
        for (topic, records) in [("plain", &plain), ("compacted", &compacted)] {
            let end = records.last().map_or(0, |r| r.offset + 1);
            let before = ends.get(topic).copied().unwrap_or(0);
            assert!(
                end >= before,
                "round {round}: {topic} ended at {end}, before {before}"
            );
            ends.insert(topic, end);
        }

        let plain_start = ends.get("plain").copied().unwrap_or(0);
        let log = AckLog::default();
        let producer: rdkafka::producer::BaseProducer<AckLog> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &broker.bootstrap)
            .set("linger.ms", "1")
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("message.timeout.ms", "5000")
            .create_with_context(log.clone())?;
        let deadline = Instant::now() + Duration::from_millis(300 + rng.next(900));
        let mut i = 0usize;
        // Send continuously, taking delivery reports on poll; SIGKILL at the seeded moment.
        while Instant::now() < deadline {
            for topic in ["plain", "compacted"] {
                let key = format!("key-{}", i % 50);
                let value = format!("round-{round}-record-{i}-{}", "v".repeat(i % 200));
                let record = BaseRecord::<str, [u8]>::to(topic)
                    .partition(0)
                    .key(key.as_str())
                    .payload(value.as_bytes());
                if producer.send(record).is_err() {
                    producer.poll(Duration::from_millis(1));
                }
            }
            i += 1;
            producer.poll(Duration::ZERO);
        }
        broker.kill()?;
        let _ = producer.flush(Duration::from_secs(6));
        drop(producer);
        let new = std::mem::take(&mut *log.0.lock().unwrap_or_else(|p| p.into_inner()));
        anyhow::ensure!(
            !new.is_empty(),
            "round {round}: nothing acknowledged before the kill"
        );
        acked.extend(new);
        let first_new = acked
            .range(("plain".to_string(), plain_start)..("plain".to_string(), i64::MAX))
            .next()
            .map(|((_, o), _)| *o);
        if let Some(first) = first_new {
            assert_eq!(
                first, plain_start,
                "round {round}: offsets did not go on from the log end"
            );
        }
    }
    Ok(())
}

/// A power cut right after `acks=all` produces answered under `log.flush.interval.messages=1`:
/// the disk keeps exactly what was fsynced (`josefine_storage::power_loss` records every
/// fsync of the embedded broker's files and builds that image), and a broker started on it
/// serves every acknowledged record, then goes on from the log end.
#[test]
fn a_power_cut_after_flushed_acks_loses_no_acknowledged_record() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    josefine_storage::power_loss::track(&data)?;
    let broker = josefine::Broker::builder()
        .log_dir(&data)
        .property("log.flush.interval.messages", "1")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    // Small segments and indexes: they roll during the test, and the recorder reads each
    // file whole at each fsync.
    create_topic(
        &bootstrap,
        "durable",
        1,
        &[("segment.bytes", "16384"), ("segment.index.bytes", "4096")],
    )?;
    let (writer, deliveries) = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("linger.ms", "1"),
            ("enable.idempotence", "true"),
        ],
    )?;
    let mut acknowledged = BTreeMap::new();
    for round in 0..4 {
        for i in 0..100 {
            let value = format!("round-{round}-record-{i}-{}", "v".repeat(i % 120));
            enqueue(
                &writer,
                BaseRecord::<str, [u8]>::to("durable")
                    .partition(0)
                    .key("k")
                    .payload(value.as_bytes()),
            )?;
            acknowledged.insert((round, i), value);
        }
        for delivery in flush(&writer, &deliveries)? {
            delivery?;
        }
    }
    // Every record is acknowledged: cut the power now.
    let cut = dir.path().join("cut");
    josefine_storage::power_loss::cut(&data, &cut)?;
    drop(writer);
    drop(broker);

    let restarted = josefine::Broker::builder().log_dir(&cut).start_blocking()?;
    let bootstrap = restarted.bootstrap_servers();
    let records = read_to_end(&bootstrap, "durable")?;
    let values: Vec<Vec<u8>> = records
        .iter()
        .map(|r| r.payload.clone().unwrap_or_default())
        .collect();
    let expected: Vec<Vec<u8>> = acknowledged
        .values()
        .map(|v| v.clone().into_bytes())
        .collect();
    assert_eq!(values.len(), expected.len(), "acknowledged records lost");
    assert!(values == expected, "records differ after the power cut");
    for (n, record) in records.iter().enumerate() {
        assert_eq!(record.offset, n as i64);
    }
    let (next, deliveries) = producer(&bootstrap, &[("acks", "all")])?;
    enqueue(
        &next,
        BaseRecord::<str, [u8]>::to("durable")
            .partition(0)
            .payload(b"after".as_slice()),
    )?;
    let after = flush(&next, &deliveries)?;
    assert!(
        matches!(after.as_slice(), [Ok((0, offset))] if *offset == records.len() as i64),
        "{after:?}"
    );
    Ok(())
}

/// The recovery point of a partition in `recovery-point-offset-checkpoint`, if any.
fn checkpointed_recovery_point(dir: &std::path::Path, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join("recovery-point-offset-checkpoint")).ok()?;
    text.lines()
        .skip(2)
        .find_map(|line| line.strip_prefix(&format!("{topic} 0 ")))
        .and_then(|offset| offset.parse().ok())
}

/// Kafka's `kafka-recovery-point-checkpoint` task writes each partition's recovery point
/// every `log.flush.offset.checkpoint.interval.ms`; a clean shutdown writes the log end.
#[test]
fn recovery_points_are_checkpointed_on_the_timer_and_at_shutdown() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let broker = josefine::Broker::builder()
        .log_dir(dir.path())
        .property("log.flush.interval.messages", "1")
        .property("log.flush.offset.checkpoint.interval.ms", "20")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "points", 1, &[])?;
    let (writer, deliveries) = producer(&bootstrap, &[("acks", "all")])?;
    for i in 0..10 {
        enqueue(
            &writer,
            BaseRecord::<str, [u8]>::to("points")
                .partition(0)
                .payload(format!("record-{i}").as_bytes()),
        )?;
    }
    assert!(flush(&writer, &deliveries)?.iter().all(Result::is_ok));
    // Every append was fsynced: the timer's next checkpoint names offset 10.
    let start = Instant::now();
    while checkpointed_recovery_point(dir.path(), "points") != Some(10) {
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "no recovery point checkpoint: {:?}",
            std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint"))
        );
        std::thread::park_timeout(Duration::from_millis(10));
    }
    drop(writer);
    broker.shutdown();

    // Without the timer and the flush policy, shutdown writes the log end offset.
    let broker = josefine::Broker::builder()
        .log_dir(dir.path())
        .property("log.flush.offset.checkpoint.interval.ms", "0")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    let (writer, deliveries) = producer(&bootstrap, &[("acks", "all")])?;
    for i in 0..5 {
        enqueue(
            &writer,
            BaseRecord::<str, [u8]>::to("points")
                .partition(0)
                .payload(format!("more-{i}").as_bytes()),
        )?;
    }
    assert!(flush(&writer, &deliveries)?.iter().all(Result::is_ok));
    assert_eq!(checkpointed_recovery_point(dir.path(), "points"), Some(10));
    drop(writer);
    broker.shutdown();
    assert_eq!(checkpointed_recovery_point(dir.path(), "points"), Some(15));
    Ok(())
}

/// Kafka's `log.dirs` on an 8 MiB tmpfs with 5 MiB of ballast, in a private mount
/// namespace (`unshare`), so that the disk fills after a few MiB of records.
#[test]
fn a_full_disk_fails_produces_with_kafka_storage_error_and_recovers() -> TestResult {
    let _watchdog = watchdog::guard();
    let mount = tempfile::tempdir()?;
    let log_dir = mount.path().join("data");
    let mut command = Command::new("unshare");
    command.args(["--user", "--map-root-user", "--mount", "sh", "-c"]);
    command.arg(
        "mount -t tmpfs -o size=8m tmpfs \"$0\" && head -c 5242880 /dev/zero > \"$0/ballast\" && exec \"$@\"",
    );
    command.arg(mount.path());
    command.arg(env!("CARGO_BIN_EXE_josefine"));
    BrokerProcess::add_args(&mut command, &log_dir, &[]);
    let mut broker = BrokerProcess::spawn(command, None).map_err(|e| {
        anyhow::anyhow!(
            "cannot start a broker on a private tmpfs (needs unshare and user namespaces): {e}"
        )
    })?;
    let bootstrap = broker.bootstrap.clone();
    create_topic(&bootstrap, "full", 1, &[("segment.bytes", "1048576")])?;
    let (producer, deliveries) = producer(
        &bootstrap,
        &[
            ("linger.ms", "0"),
            ("retries", "0"),
            ("batch.num.messages", "1"),
            ("enable.idempotence", "false"),
        ],
    )?;
    let value = vec![b'x'; 100_000];
    // Sends one record and waits for its delivery report.
    let send_one = || -> TestResult<Option<Delivery>> {
        enqueue(
            &producer,
            BaseRecord::<str, [u8]>::to("full")
                .partition(0)
                .key("k")
                .payload(&value),
        )?;
        Ok(flush(&producer, &deliveries)?.pop())
    };
    let mut stored = Vec::new();
    let mut failed = None;
    for _ in 0..100 {
        match send_one()? {
            Some(Ok((_, offset))) => stored.push(offset),
            Some(Err(err)) => {
                failed = Some(err);
                break;
            }
            None => anyhow::bail!("no delivery report"),
        }
    }
    let failed = failed.ok_or_else(|| anyhow::anyhow!("100 records of 100 kB fit on 3 MiB"))?;
    assert!(
        matches!(
            failed,
            KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::KafkaStorageError)
        ),
        "{failed:?}"
    );
    assert!(broker.is_running(), "the broker must survive a full disk");
    assert!(!stored.is_empty());
    // What was stored stays readable.
    let records = read_to_end(&bootstrap, "full")?;
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), stored);
    assert!(records
        .iter()
        .all(|r| r.payload.as_deref() == Some(&value[..])));
    // Space returns: writes resume at the next offset.
    let ballast = format!(
        "/proc/{}/root{}/ballast",
        broker.pid(),
        mount.path().display()
    );
    std::fs::remove_file(&ballast)?;
    let next = stored.len() as i64;
    let start = Instant::now();
    loop {
        anyhow::ensure!(start.elapsed() < PATIENCE, "writes did not resume");
        if let Some(Ok((_, offset))) = send_one()? {
            assert_eq!(offset, next);
            break;
        }
    }
    Ok(())
}
