//! What idle connections cost a broker: its memory, and the produce latency of another client.
//!
//! Run: `cargo bench --bench idle_connections [-- --connections N --records N --rounds N]`.
//!
//! Spawns `josefine broker`, then measures, for a librdkafka producer with `linger.ms=0` and
//! `acks=1` sending one 100-byte record at a time and waiting for its acknowledgement, the
//! p50/p99/p99.9 of send -> acknowledgement over `--records` (10,000) records each:
//! 1. with no other connection;
//! 2. with `--connections` (1000) more connections open and idle, each having sent one
//!    Metadata request (as a client does before it idles).
//!
//! The two alternate in `--rounds` (10) rounds, the connections opened and closed each round,
//! so that load from elsewhere on the machine falls on both alike.
//!
//! The broker's anonymous RSS (`RssAnon`: heap and stacks) is printed before the connections
//! open, once they are open, and once each has been answered.

// Helpers of `benches/support` are `pub` within this one binary.
#![allow(unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

#[path = "../tests/support/broker_process.rs"]
mod broker_process;
#[allow(dead_code)]
#[path = "support/metadata.rs"]
mod metadata;

use broker_process::BrokerProcess;

struct Args {
    connections: usize,
    records: usize,
    rounds: usize,
}

fn args() -> Result<Args> {
    let mut out = Args {
        connections: 1000,
        records: 10_000,
        rounds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--connections" => out.connections = value()?.parse()?,
            "--records" => out.records = value()?.parse()?,
            "--rounds" => out.rounds = value()?.parse::<usize>()?.max(1),
            "--bench" => {}
            other => return Err(anyhow!("unknown argument {other}")),
        }
    }
    Ok(out)
}

/// Anonymous resident memory of process `pid`, in bytes.
fn anonymous_rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .ok_or_else(|| anyhow!("no RssAnon in /proc/{pid}/status"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

/// Passes each delivery report (whether it succeeded) to the measuring thread as it arrives.
struct Reports(std::sync::Mutex<std::sync::mpsc::Sender<bool>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(sender) = self.0.lock() {
            let _ = sender.send(result.is_ok());
        }
    }
}

type Measured = ThreadedProducer<Reports>;

/// Send -> acknowledgement of `records` records, one at a time.
fn produce_latencies(
    producer: &Measured,
    reports: &std::sync::mpsc::Receiver<bool>,
    topic: &str,
    records: usize,
) -> Result<Vec<Duration>> {
    let value = [b'v'; 100];
    let mut out = Vec::with_capacity(records);
    for i in 0..records {
        let key = i.to_string();
        let started = Instant::now();
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&value[..]))
            .map_err(|(e, _)| e)?;
        let delivered = reports.recv_timeout(Duration::from_secs(30))?;
        out.push(started.elapsed());
        anyhow::ensure!(delivered, "record {i} not delivered");
    }
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn report(label: &str, latencies: &[Duration]) {
    println!(
        "{label:<40} p50 {:>6.3} ms  p99 {:>6.3} ms  p99.9 {:>6.3} ms  ({} records)",
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        percentile(latencies, 0.999),
        latencies.len()
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<()> {
    let args = args()?;
    let broker = BrokerProcess::start()?;
    let pid = broker.pid();
    let (sender, reports) = std::sync::mpsc::channel();
    let producer: Measured = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("linger.ms", "0")
        .set("acks", "1")
        .create_with_context(Reports(std::sync::Mutex::new(sender)))?;
    let topic = "idle-connections";
    // Warm up: topic creation, connections, the allocator.
    produce_latencies(&producer, &reports, topic, 200)?;
    let rss_before = anonymous_rss(pid)?;
    let request = metadata::metadata_request()?;
    // Rounds alternate without and with the idle connections, so that load from elsewhere on
    // the machine falls on both alike.
    let per_round = args.records.div_ceil(args.rounds);
    let mut quiet = Vec::new();
    let mut busy = Vec::new();
    let mut rss_connected = 0;
    let mut rss_answered = 0;
    for round in 0..args.rounds {
        quiet.extend(produce_latencies(&producer, &reports, topic, per_round)?);
        let mut idle = Vec::with_capacity(args.connections);
        for _ in 0..args.connections {
            idle.push(TcpStream::connect(&broker.bootstrap)?);
        }
        // Every connection accepted and waiting for its first request.
        std::thread::sleep(Duration::from_millis(500));
        if round == 0 {
            rss_connected = anonymous_rss(pid)?;
        }
        for stream in &mut idle {
            stream.write_all(&request)?;
            let mut size = [0u8; 4];
            stream.read_exact(&mut size)?;
            let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
            stream.read_exact(&mut body)?;
        }
        if round == 0 {
            rss_answered = anonymous_rss(pid)?;
        }
        busy.extend(produce_latencies(&producer, &reports, topic, per_round)?);
        drop(idle);
        std::thread::sleep(Duration::from_millis(500));
    }
    quiet.sort();
    busy.sort();

    println!(
        "broker RssAnon, no other connection        {:>8.1} MiB",
        mib(rss_before)
    );
    println!(
        "  + {} connections, connected             {:>8.1} MiB  ({:+.1} KiB each)",
        args.connections,
        mib(rss_connected),
        (rss_connected as f64 - rss_before as f64) / 1024.0 / args.connections as f64
    );
    println!(
        "  + each answered one Metadata request     {:>8.1} MiB  ({:+.1} KiB each)",
        mib(rss_answered),
        (rss_answered as f64 - rss_before as f64) / 1024.0 / args.connections as f64
    );
    report("produce, no other connection", &quiet);
    report(
        &format!("produce, {} idle connections", args.connections),
        &busy,
    );
    Ok(())
}
