//! Helpers shared by the end-to-end tests. Clients are librdkafka's synchronous ones; the
//! broker runs on its own runtime ([`josefine::BlockingBroker`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, DeliveryResult, Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

pub type TestResult<T = ()> = anyhow::Result<T>;

/// Upper bound on any wait in these tests; reaching it is a failure, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A delivery report: Ok((partition, offset)) or the error.
pub type Delivery = Result<(i32, i64), KafkaError>;

/// Records every delivery report.
#[derive(Default, Clone)]
pub struct Deliveries(pub Arc<Mutex<Vec<Delivery>>>);

impl ClientContext for Deliveries {}
impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let entry = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((err, _)) => Err(err.clone()),
        };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    }
}

impl Deliveries {
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub type TestProducer = BaseProducer<Deliveries>;

pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> TestResult<(TestProducer, Deliveries)> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let deliveries = Deliveries::default();
    Ok((config.create_with_context(deliveries.clone())?, deliveries))
}

/// Enqueues a record, polling while librdkafka's queue is full.
pub fn enqueue(producer: &TestProducer, mut record: BaseRecord<'_, str, [u8]>) -> TestResult {
    let start = Instant::now();
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                anyhow::ensure!(start.elapsed() < PATIENCE, "producer queue stayed full");
                record = r;
                producer.poll(Duration::from_millis(10));
            }
            Err((err, _)) => anyhow::bail!("enqueue failed: {err}"),
        }
    }
}

/// Flushes and returns every delivery report since the last call.
pub fn flush(producer: &TestProducer, deliveries: &Deliveries) -> TestResult<Vec<Delivery>> {
    producer.flush(PATIENCE)?;
    Ok(deliveries.take())
}

pub fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> TestResult<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "josefine-tests")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Verify every batch's CRC32C on the client: the broker stamps batches in place.
        .set("check.crcs", "true");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    Ok(config.create()?)
}

/// Assigns partitions `0..partitions` of `topic` from the beginning.
pub fn assign_from_beginning(consumer: &BaseConsumer, topic: &str, partitions: i32) -> TestResult {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    Ok(())
}

/// One consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

pub fn own(message: &BorrowedMessage<'_>) -> Received {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    Received {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        timestamp: message.timestamp().to_millis(),
        headers,
    }
}

/// Polls until `count` records arrived; fails on a consumer error or after [`PATIENCE`].
pub fn consume(consumer: &BaseConsumer, count: usize) -> TestResult<Vec<Received>> {
    let start = Instant::now();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "consumed {} of {count} records before giving up",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => out.push(own(&message)),
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(err)) => anyhow::bail!("consumer error: {err}"),
            None => {}
        }
    }
    Ok(out)
}

/// Groups records by partition, keeping their order.
pub fn by_partition(records: &[Received]) -> HashMap<i32, Vec<Received>> {
    let mut map: HashMap<i32, Vec<Received>> = HashMap::new();
    for r in records {
        map.entry(r.partition).or_default().push(r.clone());
    }
    map
}

/// Starts an embedded broker on a temporary directory.
pub fn broker() -> TestResult<josefine::BlockingBroker> {
    Ok(josefine::Broker::builder().start_blocking()?)
}

/// Runs a future (librdkafka's admin calls) to completion on a small runtime.
pub fn block_on<F: std::future::Future>(future: F) -> TestResult<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future))
}

pub fn admin(
    bootstrap: &str,
) -> TestResult<rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

/// Creates a topic through librdkafka's admin client.
pub fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> TestResult {
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    let admin = admin(bootstrap)?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = block_on(admin.create_topics([&topic], &AdminOptions::new()))??;
    for result in results {
        result.map_err(|(topic, code)| anyhow::anyhow!("creating {topic}: {code}"))?;
    }
    Ok(())
}

/// Produces `count` records to partition `i % partitions` with key `k{i}`, a header and
/// timestamp `base_timestamp + i`; returns the delivery reports.
pub fn produce_numbered(
    producer: &TestProducer,
    deliveries: &Deliveries,
    topic: &str,
    partitions: i32,
    count: usize,
    base_timestamp: i64,
) -> TestResult<Vec<Delivery>> {
    use rdkafka::message::{Header, OwnedHeaders};
    for i in 0..count {
        let key = format!("k{i}");
        let payload = format!("value-{i}-{}", "x".repeat(i % 50));
        let headers = OwnedHeaders::new().insert(Header {
            key: "index",
            value: Some(&i.to_string()),
        });
        let record = BaseRecord::to(topic)
            .partition((i % partitions as usize) as i32)
            .key(key.as_str())
            .payload(payload.as_bytes())
            .timestamp(base_timestamp + i as i64)
            .headers(headers);
        enqueue(producer, record)?;
        if i % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    flush(producer, deliveries)
}

/// Checks that `records` are exactly the output of [`produce_numbered`]: all present, each
/// partition in production order with contiguous offsets from `first_offset`.
pub fn check_numbered(
    records: &[Received],
    partitions: i32,
    count: usize,
    base_timestamp: i64,
    first_offset: i64,
) -> TestResult {
    anyhow::ensure!(
        records.len() == count,
        "got {} records, expected {count}",
        records.len()
    );
    let grouped = by_partition(records);
    for p in 0..partitions {
        let list = grouped.get(&p).map(Vec::as_slice).unwrap_or_default();
        let expected: Vec<usize> = (0..count)
            .filter(|i| (i % partitions as usize) as i32 == p)
            .collect();
        anyhow::ensure!(
            list.len() == expected.len(),
            "partition {p}: {} records, expected {}",
            list.len(),
            expected.len()
        );
        for (n, (record, i)) in list.iter().zip(expected).enumerate() {
            anyhow::ensure!(
                record.offset == first_offset + n as i64,
                "partition {p}: offset {} at position {n}",
                record.offset
            );
            anyhow::ensure!(
                record.key.as_deref() == Some(format!("k{i}").as_bytes()),
                "partition {p}: wrong key at offset {}",
                record.offset
            );
            let payload = format!("value-{i}-{}", "x".repeat(i % 50));
            anyhow::ensure!(
                record.payload.as_deref() == Some(payload.as_bytes()),
                "partition {p}: wrong payload at offset {}",
                record.offset
            );
            anyhow::ensure!(
                record.timestamp == Some(base_timestamp + i as i64),
                "partition {p}: wrong timestamp at offset {}",
                record.offset
            );
            anyhow::ensure!(
                record.headers == vec![("index".to_string(), Some(i.to_string().into_bytes()))],
                "partition {p}: wrong headers"
            );
        }
    }
    Ok(())
}

/// A raw connection to the broker, for requests no client library sends as we need them.
pub fn connect(bootstrap: &str) -> TestResult<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect(bootstrap)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    Ok(stream)
}

/// A request frame: size, header (`header_version`), body at `version`.
pub fn request<R: kafka_protocol::protocol::Encodable>(
    api_key: kafka_protocol::messages::ApiKey,
    version: i16,
    header_version: i16,
    body: &R,
) -> TestResult<Vec<u8>> {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("raw")))
        .encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

/// One response frame, without its size.
pub fn read_response(stream: &mut std::net::TcpStream) -> TestResult<bytes::Bytes> {
    use std::io::Read;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body)?;
    Ok(bytes::Bytes::from(body))
}

/// Sends `body` as a `Req` at `version` and decodes the `Resp`, with the header versions the
/// message types give.
pub fn round_trip<Req, Resp>(
    stream: &mut std::net::TcpStream,
    api_key: kafka_protocol::messages::ApiKey,
    version: i16,
    body: &Req,
) -> TestResult<Resp>
where
    Req: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion,
    Resp: kafka_protocol::protocol::Decodable + kafka_protocol::protocol::HeaderVersion,
{
    use kafka_protocol::protocol::Decodable;
    use std::io::Write;
    stream.write_all(&request(
        api_key,
        version,
        Req::header_version(version),
        body,
    )?)?;
    let mut response = read_response(stream)?;
    kafka_protocol::messages::ResponseHeader::decode(&mut response, Resp::header_version(version))?;
    Resp::decode(&mut response, version)
}

/// Reads partition 0 of `topic` from the log start to the high watermark (CRCs checked by
/// librdkafka, see [`consumer`]).
pub fn read_to_end(bootstrap: &str, topic: &str) -> TestResult<Vec<Received>> {
    let consumer = consumer(bootstrap, &[("enable.partition.eof", "true")])?;
    let (_, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(10))?;
    assign_from_beginning(&consumer, topic, 1)?;
    let mut out = Vec::new();
    let start = Instant::now();
    loop {
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "reading {topic} did not reach {high}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(own(&m)),
            Some(Err(KafkaError::PartitionEOF(_)))
                if out.last().is_none_or(|r| r.offset + 1 >= high) =>
            {
                return Ok(out)
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(err)) => anyhow::bail!("consumer error on {topic}: {err}"),
        }
    }
}

/// A client being closed on a thread of its own: see [`close_in_background`].
pub struct Closing {
    what: String,
    done: std::sync::mpsc::Receiver<()>,
}

impl Closing {
    /// Waits up to `deadline` for the close to finish; false (with a warning) when it did not.
    pub fn wait(self, deadline: Duration) -> bool {
        let closed = self.done.recv_timeout(deadline).is_ok();
        if !closed {
            eprintln!(
                "warning: {} did not close within {deadline:?}; left closing in the background",
                self.what
            );
        }
        closed
    }
}

/// Closes (drops) `client` on a thread of its own, so that the test goes on serving the other
/// clients meanwhile.
///
/// librdkafka's consumer close serves a last rebalance; seen in CI, a REVOKE whose
/// `rd_kafka_assign(NULL)` never returned while another member's close rebalanced the group,
/// and the test hung in the consumer's destructor. Closed here, such a hang costs the test
/// at most the wait it chooses, and a consumer that never closes is still evicted by the
/// broker after its session timeout.
pub fn close_in_background<T: Send + 'static>(client: T, what: &str) -> Closing {
    let (tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(client);
        let _ = tx.send(());
    });
    Closing {
        what: what.to_string(),
        done,
    }
}

/// The peak resident memory of this process (`VmHWM`), in bytes.
pub fn peak_rss() -> TestResult<u64> {
    peak_rss_of("self")
}

/// The peak resident memory (`VmHWM`) of process `pid` (a number, or `self`), in bytes.
pub fn peak_rss_of(pid: &str) -> TestResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or_else(|| anyhow::anyhow!("no VmHWM"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// Runs `tests/python/<script>` with `args` and checks that it succeeded and printed `expect`;
/// fails with a hint when python3 lacks `module` (from PyPI package `package`).
pub fn run_python(
    module: &str,
    package: &str,
    script: &str,
    args: &[&str],
    expect: &str,
) -> TestResult {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status();
    anyhow::ensure!(
        found.is_ok_and(|s| s.success()),
        "python3 with {package} is needed: pip install {package} (bash .ci/run does)"
    );
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(expect), "{script}: {stdout}");
    Ok(())
}

/// Records the errors librdkafka reports to a client (authentication failures, refused
/// connections), as a producer context.
#[derive(Default, Clone)]
pub struct ClientErrors(Arc<Mutex<Vec<String>>>);

impl ClientContext for ClientErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{error}: {reason}"));
    }
}

impl ProducerContext for ClientErrors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

impl ClientErrors {
    /// Every error reported so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Produces one record (key `k`, value `v`) to `topic` with the client settings `extra`
/// and a 10 s message timeout: its delivery report.
pub fn produce_one(bootstrap: &str, extra: &[(&str, &str)], topic: &str) -> TestResult<Delivery> {
    let mut settings = extra.to_vec();
    settings.push(("message.timeout.ms", "10000"));
    let (producer, deliveries) = producer(bootstrap, &settings)?;
    enqueue(
        &producer,
        BaseRecord::to(topic).key("k").payload(b"v".as_slice()),
    )?;
    let mut reports = flush(&producer, &deliveries)?;
    anyhow::ensure!(reports.len() == 1, "{reports:?}");
    Ok(reports.remove(0))
}
