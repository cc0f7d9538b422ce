//! Kafka Connect's FileStream connectors end to end: FileStreamSource reading a large text
//! file into a topic, then FileStreamSink writing that topic back out to a file, on a
//! standalone worker with an embedded broker, all in this process.
//!
//! Run: `cargo bench --bench connect` (1 GiB of 100-byte lines), or
//! `cargo bench --bench connect -- --bytes 100000000 --line-bytes 200 --converter json`.
//!
//! Source: time from connector creation until the topic's high watermark equals the number
//! of lines. Sink: time from connector creation until the sink file holds every byte. Each
//! prints lines/s and MB/s (10^6 bytes of file text, line terminators included).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use josefine::connect::runtime::TargetState;
use josefine::connect::standalone::Standalone;
use josefine::connect::worker_config::WorkerConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

#[derive(Parser, Debug)]
#[command(about = "FileStreamSource and FileStreamSink throughput")]
struct Args {
    /// Size of the source file in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    bytes: u64,
    /// Bytes per line, the newline included.
    #[arg(long, default_value_t = 100)]
    line_bytes: usize,
    /// Value converter: `string` (StringConverter) or `json` (JsonConverter with schemas, as
    /// Kafka's quick start).
    #[arg(long, default_value = "string")]
    converter: String,
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

fn write_file(path: &Path, bytes: u64, line_bytes: usize) -> Result<u64> {
    let line_bytes = line_bytes.max(2);
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut line = Vec::with_capacity(line_bytes);
    let (mut written, mut lines) = (0u64, 0u64);
    while written + line_bytes as u64 <= bytes {
        line.clear();
        let prefix = format!("{lines:012} ");
        line.extend_from_slice(prefix.as_bytes());
        while line.len() < line_bytes - 1 {
            line.push(letters[(lines as usize + line.len()) % letters.len()]);
        }
        line.truncate(line_bytes - 1);
        line.push(b'\n');
        file.write_all(&line)?;
        written += line_bytes as u64;
        lines += 1;
    }
    file.flush()?;
    Ok(lines)
}

fn high_watermark(consumer: &BaseConsumer, topic: &str) -> i64 {
    consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .map(|(_, high)| high)
        .unwrap_or(0)
}

fn report(what: &str, lines: u64, bytes: u64, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{what:<18} {lines:>12} lines  {:>8.2} s  {:>12.0} lines/s  {:>8.1} MB/s",
        seconds,
        lines as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let converter = match args.converter.as_str() {
        "string" => "org.apache.kafka.connect.storage.StringConverter",
        "json" => "org.apache.kafka.connect.json.JsonConverter",
        other => bail!("--converter takes string or json, not {other}"),
    };
    let dir = tempfile::tempdir()?;
    let source_file = dir.path().join("source.txt");
    let sink_file = dir.path().join("sink.txt");
    let lines = write_file(&source_file, args.bytes, args.line_bytes)?;
    let bytes = std::fs::metadata(&source_file)?.len();
    println!("{lines} lines, {bytes} bytes, {converter}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let broker = josefine::Broker::builder()
            .property("num.partitions", "1")
            .start()
            .await?;
        let worker = WorkerConfig::new(config(&[
            ("bootstrap.servers", broker.bootstrap_servers()),
            ("key.converter", converter.to_string()),
            ("value.converter", converter.to_string()),
            (
                "offset.storage.file.filename",
                dir.path().join("offsets").display().to_string(),
            ),
            ("offset.flush.interval.ms", "1000".to_string()),
            ("listeners", "http://127.0.0.1:0".to_string()),
        ]))?;
        let standalone = Standalone::start(worker, Vec::new(), None).await?;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap_servers())
            .create()?;

        let started = Instant::now();
        standalone
            .herder()
            .create_connector(
                "bench-source",
                config(&[
                    ("name", "bench-source".to_string()),
                    ("connector.class", "FileStreamSource".to_string()),
                    ("file", source_file.display().to_string()),
                    ("topic", "bench".to_string()),
                ]),
                TargetState::Started,
            )
            .await
            .context("creating the source connector")?;
        while high_watermark(&consumer, "bench") < lines as i64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report("FileStreamSource", lines, bytes, started.elapsed());

        let started = Instant::now();
        standalone
            .herder()
            .create_connector(
                "bench-sink",
                config(&[
                    ("name", "bench-sink".to_string()),
                    ("connector.class", "FileStreamSink".to_string()),
                    ("file", sink_file.display().to_string()),
                    ("topics", "bench".to_string()),
                ]),
                TargetState::Started,
            )
            .await
            .context("creating the sink connector")?;
        while std::fs::metadata(&sink_file).map(|m| m.len()).unwrap_or(0) < bytes {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report("FileStreamSink", lines, bytes, started.elapsed());
        standalone.shutdown().await;
        broker.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(())
}
