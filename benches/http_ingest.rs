//! HttpIngestSource (CONNECT.md g.1) end to end: HTTP clients POST small batches of
//! RudderStack-like events to the connector of a standalone worker on an embedded broker, all
//! in this process. A 200 means every event of the request was appended and acknowledged
//! (`acks=all`), so the latency of a request is the time until its events are readable.
//!
//! Run: `cargo bench --bench http_ingest`, or e.g.
//! `cargo bench --bench http_ingest -- --clients 64 --batch 10 --seconds 10 --rate 2000`.
//!
//! Throughput: `--clients` tasks each POST `--batch` events per request, back to back, for
//! `--seconds`; prints events/s and requests/s. Latency: requests of `--batch` events sent at a
//! fixed `--rate` (events/s) for `--seconds`, each on its own task; prints p50/p99/max of POST
//! sent → 200 received.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use josefine::connect::runtime::TargetState;
use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;

#[derive(Parser, Debug)]
#[command(about = "HttpIngestSource throughput and latency")]
struct Args {
    /// Concurrent HTTP clients in the throughput run.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Events per request.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Duration of each run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Events per second in the latency run.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// The connector's `poll.size`.
    #[arg(long, default_value_t = 128)]
    poll_size: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

fn config(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A request body of `batch` track events with distinct users.
fn body(batch: usize, seed: u64) -> String {
    let events: Vec<String> = (0..batch)
        .map(|i| {
            format!(
                r#"{{"type":"track","event":"Order Completed","userId":"user-{}","properties":{{"total":12.5,"currency":"EUR"}},"messageId":"m-{seed}-{i}"}}"#,
                (seed as usize * batch + i) % 10_000
            )
        })
        .collect();
    format!("{{\"batch\":[{}]}}", events.join(","))
}

async fn listener(http: &reqwest::Client, rest: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: serde_json::Value = http
            .get(format!("{rest}/connectors/ingest/status"))
            .send()
            .await?
            .json()
            .await?;
        if let Some(listener) = status["tasks"][0]["listener"].as_str() {
            return Ok(listener.to_string());
        }
        if Instant::now() > deadline {
            bail!("the connector did not start: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(http: &reqwest::Client, url: &str, body: String) -> Result<()> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    if response.status() != 200 {
        bail!("{}: {}", response.status(), response.text().await?);
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let broker = josefine::Broker::builder()
            .property("num.partitions", args.partitions.to_string())
            .start()
            .await?;
        let worker = WorkerConfig::new(config(&[
            ("bootstrap.servers", broker.bootstrap_servers()),
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter".to_string(),
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.converters.ByteArrayConverter".to_string(),
            ),
            (
                "offset.storage.file.filename",
                dir.path().join("offsets").display().to_string(),
            ),
            ("listeners", "http://127.0.0.1:0".to_string()),
        ]))?;
        let standalone = Standalone::start(worker, Vec::new(), None).await?;
        standalone
            .herder()
            .create_connector(
                "ingest",
                config(&[
                    ("name", "ingest".to_string()),
                    ("connector.class", "HttpIngestSource".to_string()),
                    ("topic", "events".to_string()),
                    ("http.listener", "127.0.0.1:0".to_string()),
                    ("poll.size", args.poll_size.to_string()),
                ]),
                TargetState::Started,
            )
            .await
            .context("creating the connector")?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients.max(64))
            .timeout(Duration::from_secs(60))
            .build()?;
        let rest = format!("http://{}", standalone.rest_address());
        let url = format!("http://{}/v1/events", listener(&http, &rest).await?);
        // Warm up: the topic is created and the producer connected.
        post(&http, &url, body(args.batch, 0)).await?;
        println!(
            "{} clients, {} events per request, poll.size {}, {} partitions",
            args.clients, args.batch, args.poll_size, args.partitions
        );

        // Throughput: every client posts back to back.
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let clients: Vec<_> = (0..args.clients)
            .map(|client| {
                let (http, url, stop, requests) =
                    (http.clone(), url.clone(), stop.clone(), requests.clone());
                let batch = args.batch;
                tokio::spawn(async move {
                    let mut seed = client as u64 * 1_000_000;
                    while !stop.load(Ordering::Relaxed) {
                        seed += 1;
                        post(&http, &url, body(batch, seed)).await?;
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.await??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let done = requests.load(Ordering::Relaxed);
        println!(
            "throughput: {:.0} events/s, {:.0} requests/s ({} events in {:.1} s)",
            (done * args.batch as u64) as f64 / elapsed,
            done as f64 / elapsed,
            done * args.batch as u64,
            elapsed
        );

        // Latency at a fixed rate: one request every batch/rate seconds.
        let interval = Duration::from_secs_f64(args.batch as f64 / args.rate.max(1) as f64);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let end = Instant::now() + Duration::from_secs(args.seconds);
        let mut sent = Vec::new();
        let mut seed = 1u64 << 40;
        while Instant::now() < end {
            ticker.tick().await;
            seed += 1;
            let (http, url, body) = (http.clone(), url.clone(), body(args.batch, seed));
            sent.push(tokio::spawn(async move {
                let start = Instant::now();
                post(&http, &url, body).await?;
                anyhow::Ok(start.elapsed())
            }));
        }
        let mut latencies = Vec::with_capacity(sent.len());
        for request in sent {
            latencies.push(request.await??);
        }
        latencies.sort();
        println!(
            "latency at {} events/s ({} requests): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            args.rate,
            latencies.len(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
        standalone.shutdown().await;
        broker.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(())
}
