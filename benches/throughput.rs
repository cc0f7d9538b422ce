//! End-to-end throughput and latency of a Kafka broker, driven by librdkafka (the `rdkafka`
//! crate), in the spirit of `kafka-producer-perf-test`, `kafka-consumer-perf-test` and
//! librdkafka's `rdkafka_performance`.
//!
//! Run: `cargo bench --bench throughput` (see `benches/README.md` for every option).
//!
//! Each run starts from a fresh broker (`josefine`: embedded in this process, `process`: the
//! `josefine` binary spawned, `mock`: librdkafka's in-process mock cluster) or uses the one at
//! a given `host:port`, produces N records of S bytes, optionally consumes them back from
//! offset 0, and reports records/s, MB/s (10^6 bytes of record values) and, for the latency
//! run, end-to-end latency percentiles. Each figure is also given as a fraction of this
//! machine's loopback TCP throughput, measured at the start of the same run, since a ratio
//! holds across machines where an absolute figure does not. Results print as a table and as
//! one JSON line per run (to stdout, and appended to `--json FILE`).

// Helpers of `benches/support` are `pub` within this one binary.
#![allow(unreachable_pub)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::json;

#[path = "../tests/support/broker_process.rs"]
mod broker_process;
#[path = "support/metadata.rs"]
mod metadata;

use broker_process::BrokerProcess;
use metadata::{answer_metadata, metadata_request};

/// Benchmark options. Record counts are per run.
#[derive(Parser, Debug)]
#[command(about = "Kafka produce/consume throughput and latency, driven by librdkafka")]
struct Args {
    /// Broker to measure: `josefine` (embedded), `josefine-ssl` (embedded, SSL listener),
    /// `process` (the josefine binary), `mock` (librdkafka's MockCluster) or a bootstrap
    /// address `host:port`. Repeat to compare.
    #[arg(long = "broker", default_values_t = ["josefine".to_string(), "mock".to_string()])]
    brokers: Vec<String>,
    /// Records per run of 1,024-byte records.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Records per run of 100-byte records.
    #[arg(long, default_value_t = 3_000_000)]
    small_records: usize,
    /// Producer `linger.ms`.
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// Producer `batch.size` in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    batch_bytes: usize,
    /// Latency run: records per second.
    #[arg(long, default_value_t = 1_000)]
    latency_rate: u64,
    /// Latency run: seconds.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Only these scenarios: baseline, produce, consume, small, latency, startup, memory,
    /// exactly-once (plain, idempotent and transactional producers compared).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Producer acks to run (default: 1 and all).
    #[arg(long, value_delimiter = ',', default_values_t = ["1".to_string(), "all".to_string()])]
    acks: Vec<String>,
    /// Partition counts to run (default: 1 and 8).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8])]
    partitions: Vec<i32>,
    /// Compression codecs to run (default: none and lz4).
    #[arg(long, value_delimiter = ',', default_values_t = ["none".to_string(), "lz4".to_string()])]
    compression: Vec<String>,
    /// Divide record counts and durations by 10, for a quick look.
    #[arg(long)]
    quick: bool,
    /// Skip pre-touching page-cache memory before each run (see `warm_page_frames`).
    #[arg(long)]
    cold: bool,
    /// Append the JSON lines to this file too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A broker property `KEY=VALUE` for `josefine` and `process` brokers, repeatable: e.g.
    /// `--property authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer`
    /// to measure the cost of authorization.
    #[arg(long = "property")]
    properties: Vec<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Args {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

/// librdkafka settings as (key, value) pairs.
type Settings = Vec<(String, String)>;

/// Client settings per bootstrap address: TLS for `josefine-ssl` brokers, nothing otherwise.
static CLIENT_SETTINGS: std::sync::Mutex<Vec<(String, Settings)>> =
    std::sync::Mutex::new(Vec::new());

/// A librdkafka configuration for `bootstrap`, with its TLS settings if it is an SSL listener.
fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    let settings = CLIENT_SETTINGS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, extra)) = settings.iter().find(|(b, _)| b == bootstrap) {
        for (key, value) in extra {
            config.set(key, value);
        }
    }
    config
}

/// An embedded broker with one SSL listener: an rcgen CA and server certificate (ECDSA P-256,
/// TLS 1.3 by default), inline PEM stores; clients trust the CA.
/// `builder` with every `--property KEY=VALUE`.
fn with_properties(
    mut builder: josefine::BrokerBuilder,
    properties: &[String],
) -> Result<josefine::BrokerBuilder> {
    for property in properties {
        let (key, value) = property
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--property {property}: not KEY=VALUE"))?;
        builder = builder.property(key, value);
    }
    Ok(builder)
}

fn start_ssl_broker(
    properties: &[String],
) -> Result<(josefine::BlockingBroker, tempfile::TempDir)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir()?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // The CA's subject must differ from the server's (rcgen's default), or OpenSSL takes
    // the server certificate for a self-signed one.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "josefine bench CA");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate()?;
    let server_cert =
        CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&server_key, &issuer)?;
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem())?;
    let broker = with_properties(josefine::Broker::builder(), properties)?
        .property("auto.create.topics.enable", "false")
        .property("listeners", "SSL://127.0.0.1:0")
        .property("ssl.keystore.type", "PEM")
        .property("ssl.keystore.key", server_key.serialize_pem())
        .property("ssl.keystore.certificate.chain", server_cert.pem())
        .start_blocking()?;
    CLIENT_SETTINGS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((
            broker.bootstrap_servers(),
            vec![
                ("security.protocol".into(), "ssl".into()),
                ("ssl.ca.location".into(), ca_path.display().to_string()),
            ],
        ));
    Ok((broker, dir))
}

/// Where the records go.
enum Target {
    Embedded(josefine::BlockingBroker),
    /// `josefine-ssl`: embedded, with an SSL listener (the TLS cost against `josefine`).
    EmbeddedSsl {
        broker: josefine::BlockingBroker,
        /// Holds the CA file the clients read.
        _certificates: tempfile::TempDir,
    },
    Process(BrokerProcess),
    Mock(MockCluster<'static, rdkafka::producer::DefaultProducerContext>),
    External(String),
}

impl Target {
    fn start(kind: &str, properties: &[String]) -> Result<Target> {
        Ok(match kind {
            "josefine" => Target::Embedded(
                with_properties(
                    josefine::Broker::builder().property("auto.create.topics.enable", "false"),
                    properties,
                )?
                .start_blocking()?,
            ),
            "josefine-ssl" => {
                let (broker, certificates) = start_ssl_broker(properties)?;
                Target::EmbeddedSsl {
                    broker,
                    _certificates: certificates,
                }
            }
            "process" => {
                let mut overrides = vec!["auto.create.topics.enable=false"];
                overrides.extend(properties.iter().map(String::as_str));
                Target::Process(BrokerProcess::start_with(&overrides)?)
            }
            "mock" => Target::Mock(MockCluster::new(1)?),
            address => Target::External(address.to_string()),
        })
    }

    fn bootstrap(&self) -> String {
        match self {
            Target::Embedded(broker) | Target::EmbeddedSsl { broker, .. } => {
                broker.bootstrap_servers()
            }
            Target::Process(process) => process.bootstrap.clone(),
            Target::Mock(cluster) => cluster.bootstrap_servers(),
            Target::External(address) => address.clone(),
        }
    }

    fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        if let Target::Mock(cluster) = self {
            cluster.create_topic(topic, partitions, 1)?;
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = client_config(&self.bootstrap()).create()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let results = runtime.block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))?;
        for result in results {
            result.map_err(|(topic, code)| anyhow!("create topic {topic}: {code}"))?;
        }
        Ok(())
    }
}

/// Anonymous resident memory (heap, stacks) of process `pid` in bytes: page cache and the
/// segment mappings are not in it.
fn anonymous_rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .ok_or_else(|| anyhow!("no RssAnon in /proc/pid/status"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024)
}

/// Loopback TCP (one stream), memcpy, and new-file write bandwidth, bytes per second.
struct Baseline {
    loopback: f64,
    memcpy: f64,
    file_write: f64,
}

/// Writes 1 MiB chunks into a new file for `duration`: the rate at which the page cache takes
/// new data, which bounds any broker that stores what it is sent (on virtual machines whose
/// freed memory returns to the host, first-touched pages cost far more than a memcpy).
fn measure_file_write(duration: Duration) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("baseline.log"))?;
    let chunk = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    let mut written = 0u64;
    while started.elapsed() < duration {
        file.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

fn measure_loopback(duration: Duration) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> Result<u64> {
        let (mut stream, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match stream.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    });
    let mut stream = TcpStream::connect(address)?;
    let chunk = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    while started.elapsed() < duration {
        stream.write_all(&chunk)?;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let total = reader.join().map_err(|_| anyhow!("reader panicked"))??;
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn measure_memcpy(duration: Duration) -> f64 {
    let source = vec![0x5au8; 64 << 20];
    let mut target = vec![0u8; 64 << 20];
    let started = Instant::now();
    let mut copied = 0u64;
    while started.elapsed() < duration {
        target.copy_from_slice(std::hint::black_box(&source));
        std::hint::black_box(&mut target);
        copied += source.len() as u64;
    }
    copied as f64 / started.elapsed().as_secs_f64()
}

/// Counts deliveries and failures on librdkafka's callback thread.
#[derive(Clone, Default)]
struct Deliveries(Arc<DeliveryCounts>);

#[derive(Default)]
struct DeliveryCounts {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.0.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

/// How the producer writes: plainly, idempotently (KIP-98), or in transactions of this many
/// records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProducerMode {
    Plain,
    Idempotent,
    Transactional(usize),
}

impl ProducerMode {
    fn name(self) -> String {
        match self {
            Self::Plain => "plain".into(),
            Self::Idempotent => "idempotent".into(),
            Self::Transactional(n) => format!("transactions of {n}"),
        }
    }
}

/// One produce configuration.
#[derive(Clone, Debug)]
struct ProduceCase {
    record_size: usize,
    records: usize,
    acks: String,
    partitions: i32,
    compression: String,
    mode: ProducerMode,
}

impl ProduceCase {
    /// acks 1, one partition, no compression.
    fn plain(record_size: usize, records: usize) -> Self {
        ProduceCase {
            record_size,
            records,
            acks: "1".into(),
            partitions: 1,
            compression: "none".into(),
            mode: ProducerMode::Plain,
        }
    }
}

/// Record values: slices of one pseudo-random buffer of letters, so that compression sees
/// data neither random nor repeated.
struct Payloads(Vec<u8>);

impl Payloads {
    fn new() -> Self {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        Payloads(
            (0..(4 << 20))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b'A' + (state % 26) as u8
                })
                .collect(),
        )
    }

    fn get(&self, i: usize, size: usize) -> &[u8] {
        let start = (i.wrapping_mul(7919)) % (self.0.len() - size);
        &self.0[start..start + size]
    }
}

fn producer(
    bootstrap: &str,
    args: &Args,
    case: &ProduceCase,
    deliveries: &Deliveries,
) -> Result<ThreadedProducer<Deliveries>> {
    let mut config = client_config(bootstrap);
    config
        .set("acks", &case.acks)
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_bytes.to_string())
        .set("compression.type", &case.compression)
        .set("queue.buffering.max.messages", "1000000")
        // librdkafka defaults to enable.idempotence=false (the Java client to true).
        .set(
            "enable.idempotence",
            (case.mode != ProducerMode::Plain).to_string(),
        );
    if let ProducerMode::Transactional(_) = case.mode {
        config.set("transactional.id", format!("bench-{}", std::process::id()));
    }
    let producer: ThreadedProducer<Deliveries> = config.create_with_context(deliveries.clone())?;
    if let ProducerMode::Transactional(_) = case.mode {
        producer.init_transactions(Duration::from_secs(30))?;
    }
    Ok(producer)
}

/// Commits the producer's transaction. rust-rdkafka's `commit_transaction` flushes first, and
/// its flush waits up to 100 ms for an event that the producer's own polling thread takes: wait
/// for the acknowledgements here so that the commit finds none outstanding and each
/// transaction costs what the broker makes it cost.
fn commit(producer: &ThreadedProducer<Deliveries>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while producer.in_flight_count() > 0 {
        if Instant::now() > deadline {
            bail!("transaction not acknowledged");
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    producer.commit_transaction(Duration::from_secs(60))?;
    Ok(())
}

/// Produces `case.records` records round-robin over the partitions; returns the time from the
/// first send to the last acknowledgement.
fn produce(bootstrap: &str, args: &Args, topic: &str, case: &ProduceCase) -> Result<Duration> {
    let deliveries = Deliveries::default();
    let producer = producer(bootstrap, args, case, &deliveries)?;
    let payloads = Payloads::new();
    let started = Instant::now();
    let per_transaction = match case.mode {
        ProducerMode::Transactional(n) => {
            producer.begin_transaction()?;
            n
        }
        _ => 0,
    };
    for i in 0..case.records {
        if per_transaction > 0 && i > 0 && i % per_transaction == 0 {
            commit(&producer)?;
            producer.begin_transaction()?;
        }
        let payload = payloads.get(i, case.record_size);
        let mut record = BaseRecord::<(), [u8], ()>::to(topic)
            .payload(payload)
            .partition((i % case.partitions as usize) as i32);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((error, _)) => bail!("send: {error}"),
            }
        }
    }
    if per_transaction > 0 {
        commit(&producer)?;
    } else {
        producer.flush(Duration::from_secs(300))?;
    }
    let elapsed = started.elapsed();
    let failed = deliveries.0.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = deliveries.0.first_error.lock().ok().and_then(|e| e.clone());
        bail!("{failed} records failed, first: {first:?}");
    }
    let delivered = deliveries.0.delivered.load(Ordering::Relaxed);
    if delivered != case.records as u64 {
        bail!("{delivered} of {} records delivered", case.records);
    }
    Ok(elapsed)
}

/// A consumer with librdkafka's defaults, or tuned for throughput: librdkafka stops fetching
/// for `fetch.queue.backoff.ms` (1 s) whenever its local queue holds `queued.min.messages`
/// (100,000), which a fast reader drains in a fraction of that second.
fn consumer(bootstrap: &str, throughput: bool) -> Result<BaseConsumer> {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", "josefine-bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    if throughput {
        config
            .set("fetch.queue.backoff.ms", "1")
            .set("queued.min.messages", "1000000");
    }
    Ok(config.create()?)
}

fn assign_from(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
    offset: Offset,
) -> Result<()> {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, offset)?;
    }
    consumer.assign(&assignment)?;
    Ok(())
}

/// Consumes `records` records from offset 0; returns the time from assignment to the last
/// record and the value bytes read.
fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: usize,
) -> Result<(Duration, u64)> {
    let consumer = consumer(bootstrap, true)?;
    let started = Instant::now();
    assign_from(&consumer, topic, partitions, Offset::Beginning)?;
    let mut count = 0usize;
    let mut bytes = 0u64;
    // Idle polls in a row: reading the clock per record would cost as much as the record.
    let mut idle_polls = 0;
    while count < records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                count += 1;
                bytes += message.payload_len() as u64;
                idle_polls = 0;
            }
            Some(Err(error)) => bail!("consume: {error:?}"),
            None if idle_polls >= 300 => {
                bail!("consumed {count} of {records} records, then nothing for 30 s")
            }
            None => idle_polls += 1,
        }
    }
    Ok((started.elapsed(), bytes))
}

/// Latency percentiles of `samples` (nanoseconds), in milliseconds.
fn percentiles(samples: &mut [u64]) -> [f64; 3] {
    samples.sort_unstable();
    [0.50, 0.99, 0.999].map(|q| {
        let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len().max(1));
        samples
            .get(rank - 1)
            .map_or(f64::NAN, |&ns| ns as f64 / 1e6)
    })
}

/// Produces at a fixed rate while a consumer with librdkafka's defaults reads; returns each
/// record's latency from send to receipt in nanoseconds.
fn latency(bootstrap: &str, topic: &str, rate: u64, seconds: u64) -> Result<Vec<u64>> {
    let total = (rate * seconds) as usize;
    let base = Instant::now();
    let consumer = consumer(bootstrap, false)?;
    assign_from(&consumer, topic, 1, Offset::Beginning)?;
    let reader = std::thread::spawn(move || -> Result<Vec<u64>> {
        let mut samples = Vec::with_capacity(total);
        let mut idle_since = Instant::now();
        while samples.len() < total {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let received = base.elapsed().as_nanos() as u64;
                    let sent = message
                        .payload()
                        .and_then(|p| p.get(..8))
                        .and_then(|p| p.try_into().ok())
                        .map(u64::from_le_bytes)
                        .ok_or_else(|| anyhow!("payload without a send time"))?;
                    samples.push(received.saturating_sub(sent));
                    idle_since = Instant::now();
                }
                Some(Err(error)) => bail!("consume: {error:?}"),
                None if idle_since.elapsed() > Duration::from_secs(30) => {
                    bail!(
                        "received {} of {total} records, then nothing for 30 s",
                        samples.len()
                    )
                }
                None => {}
            }
        }
        Ok(samples)
    });
    // Let the consumer connect and park its first fetch before the clock starts.
    std::thread::sleep(Duration::from_secs(1));
    let deliveries = Deliveries::default();
    let producer: ThreadedProducer<Deliveries> = client_config(bootstrap)
        .set("acks", "1")
        .set("linger.ms", "0")
        .create_with_context(deliveries.clone())?;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let started = Instant::now();
    let mut payload = [b'x'; 100];
    for i in 0..total {
        let due = started + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        payload[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
        producer
            .send(
                BaseRecord::<(), [u8], ()>::to(topic)
                    .payload(&payload[..])
                    .partition(0),
            )
            .map_err(|(e, _)| anyhow!("send: {e}"))?;
    }
    producer.flush(Duration::from_secs(30))?;
    reader.join().map_err(|_| anyhow!("consumer panicked"))?
}

/// The rows so far (one JSON object each), the baseline they are divided by, and the file the
/// JSON lines also go to.
struct Report {
    rows: Vec<serde_json::Value>,
    baseline: Option<Baseline>,
    json: Option<std::fs::File>,
}

impl Report {
    fn push(&mut self, mut fields: serde_json::Value) -> Result<()> {
        if let (Some(baseline), Some(object)) = (&self.baseline, fields.as_object_mut()) {
            if let Some(bytes_per_sec) = object.get("mb_per_sec").and_then(|v| v.as_f64()) {
                let bytes_per_sec = bytes_per_sec * 1e6;
                object.insert(
                    "loopback_fraction".into(),
                    json!(round(bytes_per_sec / baseline.loopback, 3)),
                );
                object.insert(
                    "memcpy_fraction".into(),
                    json!(round(bytes_per_sec / baseline.memcpy, 3)),
                );
                object.insert(
                    "file_write_fraction".into(),
                    json!(round(bytes_per_sec / baseline.file_write, 3)),
                );
            }
        }
        let line = serde_json::to_string(&fields)?;
        println!("{line}");
        if let Some(file) = &mut self.json {
            writeln!(file, "{line}")?;
        }
        self.rows.push(fields);
        Ok(())
    }

    /// A start-up row: p50 and p99 of `samples` (nanoseconds).
    fn push_startup(&mut self, broker: &str, scenario: &str, samples: &mut [u64]) -> Result<()> {
        let [p50, p99, _] = percentiles(samples);
        self.push(json!({
            "broker": broker,
            "scenario": scenario,
            "records": samples.len(),
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
        }))
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let columns = [
            ("broker", "broker"),
            ("scenario", "scenario"),
            ("record_size", "size"),
            ("acks", "acks"),
            ("partitions", "parts"),
            ("compression", "codec"),
            ("producer", "producer"),
            ("records_per_sec", "records/s"),
            ("mb_per_sec", "MB/s"),
            ("loopback_fraction", "x loopback"),
            ("file_write_fraction", "x file write"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("p999_ms", "p99.9 ms"),
            ("anon_rss_mib", "anon RSS MiB"),
        ];
        let cell = |row: &serde_json::Value, key: &str| -> String {
            match row.get(key) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => match n.as_f64() {
                    Some(f) if n.is_f64() && f.fract() != 0.0 => format!("{f}"),
                    Some(f) if n.is_f64() => format!("{f:.0}"),
                    _ => n.to_string(),
                },
                Some(other) => other.to_string(),
            }
        };
        let widths: Vec<usize> = columns
            .iter()
            .map(|(key, title)| {
                self.rows
                    .iter()
                    .map(|r| cell(r, key).len())
                    .chain([title.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| -> String {
            let joined: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            format!("| {} |\n", joined.join(" | "))
        };
        out.push_str(&line(columns.iter().map(|(_, t)| t.to_string()).collect()));
        out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
        for row in &self.rows {
            out.push_str(&line(columns.iter().map(|(k, _)| cell(row, k)).collect()));
        }
        out
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn throughput_fields(
    broker: &str,
    scenario: &str,
    case: &ProduceCase,
    elapsed: Duration,
    args: &Args,
) -> serde_json::Value {
    let seconds = elapsed.as_secs_f64();
    json!({
        "broker": broker,
        "scenario": scenario,
        "record_size": case.record_size,
        "records": case.records,
        "acks": case.acks,
        "partitions": case.partitions,
        "compression": case.compression,
        "producer": case.mode.name(),
        "linger_ms": args.linger_ms,
        "batch_bytes": args.batch_bytes,
        "seconds": round(seconds, 3),
        "records_per_sec": round(case.records as f64 / seconds, 0),
        "mb_per_sec": round((case.records * case.record_size) as f64 / seconds / 1e6, 1),
    })
}

/// Every produce case of a full run, and whether it is followed by a consume of its topic.
fn produce_cases(args: &Args) -> Vec<(ProduceCase, bool)> {
    let mut cases = Vec::new();
    if args.wants("produce") || args.wants("consume") {
        let mut consumed = false;
        for &partitions in &args.partitions {
            for acks in &args.acks {
                for compression in &args.compression {
                    // The first case's topic is consumed back.
                    let consume = !consumed && args.wants("consume");
                    consumed = true;
                    if !args.wants("produce") && !consume {
                        continue;
                    }
                    cases.push((
                        ProduceCase {
                            record_size: 1024,
                            records: args.records,
                            acks: acks.clone(),
                            partitions,
                            compression: compression.clone(),
                            mode: ProducerMode::Plain,
                        },
                        consume,
                    ));
                }
            }
        }
    }
    if args.wants("small") {
        cases.push((ProduceCase::plain(100, args.small_records), true));
    }
    if args.wants("exactly-once") {
        // acks=all, which idempotence requires, for all three so they compare.
        for mode in [
            ProducerMode::Plain,
            ProducerMode::Idempotent,
            ProducerMode::Transactional(1000),
        ] {
            let case = ProduceCase {
                acks: "all".into(),
                mode,
                ..ProduceCase::plain(1024, args.records)
            };
            cases.push((case, false));
        }
    }
    cases
}

fn run_broker(kind: &str, args: &Args, report: &mut Report) -> Result<()> {
    let mut shared: Option<Target> = None;
    let fresh = matches!(kind, "josefine" | "josefine-ssl" | "mock");
    let target_for = |shared: &mut Option<Target>| -> Result<Target> {
        if fresh {
            return Target::start(kind, &args.properties);
        }
        match shared.take() {
            Some(target) => Ok(target),
            None => Target::start(kind, &args.properties),
        }
    };
    for (index, (case, then_consume)) in produce_cases(args).into_iter().enumerate() {
        if !args.cold {
            warm_page_frames(case.records * case.record_size * 5 / 4)?;
        }
        let target = target_for(&mut shared)?;
        let topic = format!("bench-{}-{index}", std::process::id());
        target.create_topic(&topic, case.partitions)?;
        let bootstrap = target.bootstrap();
        let elapsed = produce(&bootstrap, args, &topic, &case)
            .with_context(|| format!("{kind}: produce {case:?}"))?;
        report.push(throughput_fields(kind, "produce", &case, elapsed, args))?;
        // librdkafka 2.12's mock cluster stops answering fetches after a few MB of a topic,
        // so consumption is not compared against it.
        if then_consume && kind != "mock" {
            let (elapsed, bytes) = consume(&bootstrap, &topic, case.partitions, case.records)
                .with_context(|| format!("{kind}: consume {case:?}"))?;
            let mut fields = throughput_fields(kind, "consume", &case, elapsed, args);
            fields["mb_per_sec"] = json!(round(bytes as f64 / elapsed.as_secs_f64() / 1e6, 1));
            report.push(fields)?;
        }
        if !fresh {
            shared = Some(target);
        }
    }
    if args.wants("latency") {
        let target = target_for(&mut shared)?;
        let topic = format!("bench-latency-{}", std::process::id());
        target.create_topic(&topic, 1)?;
        let mut samples = latency(
            &target.bootstrap(),
            &topic,
            args.latency_rate,
            args.latency_secs,
        )
        .with_context(|| format!("{kind}: latency"))?;
        let [p50, p99, p999] = percentiles(&mut samples);
        report.push(json!({
            "broker": kind,
            "scenario": "latency",
            "record_size": 100,
            "records": samples.len(),
            "acks": "1",
            "partitions": 1,
            "compression": "none",
            "rate_per_sec": args.latency_rate,
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "p999_ms": round(p999, 3),
        }))?;
    }
    Ok(())
}

/// Start-up: embedded broker and spawned process, each to its first answered Metadata.
fn run_startup(args: &Args, report: &mut Report) -> Result<()> {
    let request = metadata_request()?;
    let rounds = if args.quick { 10 } else { 50 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut embedded = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let broker = runtime.block_on(josefine::Broker::builder().start())?;
        let bootstrap = broker.bootstrap_servers();
        let request = request.clone();
        runtime
            .block_on(runtime.spawn_blocking(move || answer_metadata(&bootstrap, &request)))??;
        embedded.push(started.elapsed().as_nanos() as u64);
        runtime.block_on(broker.shutdown());
    }
    report.push_startup("josefine", "startup-embedded", &mut embedded)?;
    let mut spawned = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let process = BrokerProcess::start()?;
        answer_metadata(&process.bootstrap, &request)?;
        spawned.push(started.elapsed().as_nanos() as u64);
    }
    report.push_startup("process", "startup-process", &mut spawned)?;
    Ok(())
}

/// Anonymous RSS of the `josefine broker` process idle, then after 1 GiB produced.
fn run_memory(args: &Args, report: &mut Report) -> Result<()> {
    let process = BrokerProcess::start()?;
    answer_metadata(&process.bootstrap, &metadata_request()?)?;
    std::thread::sleep(Duration::from_millis(200));
    let idle = anonymous_rss(process.pid())?;
    report.push(json!({
        "broker": "process",
        "scenario": "memory-idle",
        "anon_rss_mib": round(idle as f64 / (1 << 20) as f64, 1),
    }))?;
    let records = if args.quick { 1 << 17 } else { 1 << 20 };
    let topic = "bench-memory";
    let target = Target::External(process.bootstrap.clone());
    target.create_topic(topic, 1)?;
    let case = ProduceCase::plain(1024, records);
    produce(&process.bootstrap, args, topic, &case)?;
    let after = anonymous_rss(process.pid())?;
    report.push(json!({
        "broker": "process",
        "scenario": "memory-after-produce",
        "records": records,
        "record_size": 1024,
        "anon_rss_mib": round(after as f64 / (1 << 20) as f64, 1),
    }))?;
    Ok(())
}

/// Writes `bytes` into a new file and deletes it, leaving that much just-freed memory for the
/// next run's page cache. On virtual machines that return freed memory to the host (virtio
/// free page reporting), a page touched for the first time costs several microseconds, which
/// would make the run measure the hypervisor rather than the broker; `--cold` skips this.
fn warm_page_frames(bytes: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("warm"))?;
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..bytes.div_ceil(chunk.len()) {
        file.write_all(&chunk)?;
    }
    Ok(())
}

/// Keeps freed client memory in the process (glibc would return it to the system), so that
/// no run pays for first-touching the heap that an earlier run already touched.
#[allow(unsafe_code)] // The harness's allocator tuning; the broker itself has no unsafe here.
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
    }
}

/// Produces to a throwaway mock cluster so the client's heap is warm before the first run.
fn warm_up(args: &Args) -> Result<()> {
    let target = Target::start("mock", &[])?;
    target.create_topic("warm-up", 1)?;
    let case = ProduceCase::plain(1024, args.records.min(1_000_000));
    produce(&target.bootstrap(), args, "warm-up", &case)?;
    Ok(())
}

fn main() -> Result<()> {
    keep_freed_memory();
    let mut args = Args::parse();
    if args.quick {
        args.records /= 10;
        args.small_records /= 10;
        args.latency_secs = args.latency_secs.div_ceil(10).max(2);
    }
    let json = match &args.json {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open {}", path.display()))?,
        ),
        None => None,
    };
    let mut report = Report {
        rows: Vec::new(),
        baseline: None,
        json,
    };
    let mut header = String::new();
    writeln!(
        header,
        "# {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    )?;
    eprint!("{header}");
    // Ratios need the baseline: skip it only when nothing but start-up or memory runs.
    let needs_baseline = args.only.is_empty()
        || args
            .only
            .iter()
            .any(|s| !matches!(s.as_str(), "startup" | "memory"));
    if needs_baseline {
        let loopback = measure_loopback(Duration::from_secs(2))?;
        let memcpy = measure_memcpy(Duration::from_secs(1));
        let file_write = measure_file_write(Duration::from_secs(2))?;
        report.baseline = Some(Baseline {
            loopback,
            memcpy,
            file_write,
        });
        report.push(json!({
            "broker": "-",
            "scenario": "baseline-loopback-tcp",
            "mb_per_sec": round(loopback / 1e6, 1),
        }))?;
        report.push(json!({
            "broker": "-",
            "scenario": "baseline-memcpy",
            "mb_per_sec": round(memcpy / 1e6, 1),
        }))?;
        report.push(json!({
            "broker": "-",
            "scenario": "baseline-new-file-write",
            "mb_per_sec": round(file_write / 1e6, 1),
        }))?;
    }
    if !args.brokers.is_empty() && (args.wants("produce") || args.wants("small")) {
        warm_up(&args)?;
    }
    for broker in &args.brokers {
        run_broker(broker, &args, &mut report)?;
    }
    if args.wants("startup") {
        run_startup(&args, &mut report)?;
    }
    if args.wants("memory") {
        run_memory(&args, &mut report)?;
    }
    eprintln!();
    eprint!("{}", report.table());
    Ok(())
}
