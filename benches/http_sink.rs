//! HttpSink (CONNECT.md g.2) end to end: records in a topic of the embedded broker posted by
//! a standalone worker's HttpSink to a loopback axum server answering 200, all in this
//! process.
//!
//! Run: `cargo bench --bench http_sink`, or
//! `cargo bench --bench http_sink -- --records 20000 --rate 500 --secs 5`.
//!
//! Throughput: `--records` records of 100 bytes produced first, then the time from connector
//! creation until the server received every record, for `batch.max.records` 1 and 100
//! (ndjson), `max.in.flight.per.partition=1`, one partition. Latency: records produced at
//! `--rate` per second for `--secs`, each carrying its produce time; p50/p99 of produce →
//! server receipt (with `batch.max.records=1`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use clap::Parser;
use josefine::connect::runtime::TargetState;
use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

#[derive(Parser, Debug)]
#[command(about = "HttpSink throughput and latency")]
struct Args {
    /// Records for each throughput run.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Records per second of the latency run.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// What the server counts: records (ndjson lines or single bodies) and latencies in µs.
#[derive(Default)]
struct Received {
    records: AtomicU64,
    latencies: Mutex<Vec<u64>>,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

async fn receive(State(received): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let lines = body.iter().filter(|b| **b == b'\n').count() as u64;
    received.records.fetch_add(lines.max(1), Ordering::Relaxed);
    // Latency records are `<produce time in µs> <padding>`.
    if lines == 0 {
        if let Some(sent) = std::str::from_utf8(&body)
            .ok()
            .and_then(|text| text.split(' ').next())
            .and_then(|t| t.parse::<u64>().ok())
        {
            let mut latencies = received.latencies.lock().unwrap_or_else(|p| p.into_inner());
            latencies.push(now_micros().saturating_sub(sent));
        }
    }
    StatusCode::OK
}

fn config(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn producer(bootstrap: &str, linger_ms: &str) -> Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

fn produce_bulk(bootstrap: &str, topic: &str, records: u64) -> Result<()> {
    let producer = producer(bootstrap, "5")?;
    let value = "x".repeat(100);
    for i in 0..records {
        loop {
            match producer.send(BaseRecord::<str, str>::to(topic).payload(&value)) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
        if i % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let broker = josefine::Broker::builder()
            .property("num.partitions", "1")
            .start()
            .await?;
        let bootstrap = broker.bootstrap_servers();
        let received = Arc::new(Received::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/in", listener.local_addr()?);
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(received.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let worker = WorkerConfig::new(config(&[
            ("bootstrap.servers", bootstrap.clone()),
            (
                "key.converter",
                "org.apache.kafka.connect.converters.ByteArrayConverter".into(),
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.converters.ByteArrayConverter".into(),
            ),
            (
                "offset.storage.file.filename",
                dir.path().join("offsets").display().to_string(),
            ),
            ("offset.flush.interval.ms", "1000".into()),
            ("listeners", "http://127.0.0.1:0".into()),
        ]))?;
        let standalone = Standalone::start(worker, Vec::new(), None).await?;

        for batch in [1u64, 100] {
            let topic = format!("bench-{batch}");
            {
                let (bootstrap, topic, records) = (bootstrap.clone(), topic.clone(), args.records);
                tokio::task::spawn_blocking(move || produce_bulk(&bootstrap, &topic, records))
                    .await??;
            }
            received.records.store(0, Ordering::Relaxed);
            let name = format!("http-sink-{batch}");
            let started = Instant::now();
            standalone
                .herder()
                .create_connector(
                    &name,
                    config(&[
                        ("name", name.clone()),
                        ("connector.class", "HttpSink".into()),
                        ("topics", topic.clone()),
                        ("http.url", url.clone()),
                        ("batch.max.records", batch.to_string()),
                        ("batch.format", "ndjson".into()),
                        ("max.in.flight.per.partition", "1".into()),
                    ]),
                    TargetState::Started,
                )
                .await
                .context("creating the connector")?;
            let deadline = Instant::now() + Duration::from_secs(600);
            while received.records.load(Ordering::Relaxed) < args.records {
                anyhow::ensure!(Instant::now() < deadline, "{name} did not finish");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "HttpSink batch.max.records={batch:<4} {:>9} records  {seconds:>7.2} s  {:>9.0} records/s",
                args.records,
                args.records as f64 / seconds
            );
            standalone.herder().delete_connector(&name).await?;
        }

        // Latency at a fixed rate.
        let topic = "bench-latency".to_string();
        standalone
            .herder()
            .create_connector(
                "http-sink-latency",
                config(&[
                    ("name", "http-sink-latency".into()),
                    ("connector.class", "HttpSink".into()),
                    ("topics", topic.clone()),
                    ("http.url", url.clone()),
                ]),
                TargetState::Started,
            )
            .await?;
        // Let the consumer join its group before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
        received.latencies.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let (rate, secs) = (args.rate.max(1), args.secs);
        let bootstrap_for_producer = bootstrap.clone();
        let total = rate * secs;
        tokio::task::spawn_blocking(move || -> Result<()> {
            let producer = producer(&bootstrap_for_producer, "0")?;
            let start = Instant::now();
            for i in 0..total {
                let due = start + Duration::from_micros(i * 1_000_000 / rate);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let value = format!("{} {}", now_micros(), "x".repeat(80));
                let _ = producer.send(BaseRecord::<str, str>::to(&topic).payload(&value));
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(60))?;
            Ok(())
        })
        .await??;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let got = received.latencies.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
            if got >= total || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut latencies = received
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        latencies.sort_unstable();
        println!(
            "HttpSink latency at {rate} records/s for {secs} s: {} records  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
        );
        standalone.shutdown().await;
        server.abort();
        broker.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(())
}
