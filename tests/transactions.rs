//! Idempotent and transactional producers with librdkafka: retries through dropped connections
//! write no duplicates, read_committed sees commits and never aborts, zombies are fenced,
//! abandoned transactions time out, and a consume-transform-produce loop processes every
//! record exactly once across a producer crash and a broker restart.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;
use crate::watchdog;

/// A TCP proxy in front of the broker whose connections can be cut, so that a producer loses
/// requests in flight and retries them.
struct CuttingProxy {
    port: u16,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    fn bind() -> TestResult<(Self, TcpListener)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let proxy = Self {
            port: listener.local_addr()?.port(),
            open: Arc::default(),
            stop: Arc::default(),
        };
        Ok((proxy, listener))
    }

    /// Forwards every connection accepted on `listener` to `target`.
    fn run(&self, listener: TcpListener, target: String) {
        let open = Arc::clone(&self.open);
        let stop = Arc::clone(&self.stop);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(&target)) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 64 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    let mut list = open.lock().unwrap_or_else(|p| p.into_inner());
                    list.push(c);
                    list.push(s);
                }
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    pipe(c, s);
                }
                pipe(server, client);
            }
        });
    }

    /// Cuts every open connection; returns how many were cut.
    fn cut(&self) -> usize {
        let mut list = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = list.len() / 2;
        for stream in list.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        n
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.cut();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Every record of `topic` as (partition, value), read with `isolation`, up to the high
/// watermark (read_uncommitted) or last stable offset (read_committed) of each partition.
fn read_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
) -> TestResult<Vec<(i32, String)>> {
    let consumer = consumer(
        bootstrap,
        &[
            ("isolation.level", isolation),
            ("enable.partition.eof", "true"),
        ],
    )?;
    assign_from_beginning(&consumer, topic, partitions)?;
    let mut ends = 0;
    let mut out = Vec::new();
    let start = Instant::now();
    while ends < partitions {
        anyhow::ensure!(start.elapsed() < PATIENCE, "reading {topic} did not finish");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push((
                m.partition(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ends += 1,
            Some(Err(err)) => anyhow::bail!("consumer error: {err}"),
            None => {}
        }
    }
    Ok(out)
}

fn values(records: &[(i32, String)]) -> Vec<String> {
    records.iter().map(|(_, v)| v.clone()).collect()
}

fn transactional(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> TestResult<TestProducer> {
    let mut config = vec![("transactional.id", id), ("linger.ms", "1")];
    config.extend_from_slice(extra);
    let (producer, _) = producer(bootstrap, &config)?;
    producer.init_transactions(PATIENCE)?;
    Ok(producer)
}

fn send(producer: &TestProducer, topic: &str, partition: i32, value: &str) -> TestResult {
    enqueue(
        producer,
        BaseRecord::to(topic)
            .partition(partition)
            .payload(value.as_bytes()),
    )
}

/// How many times (40 ms apart) the proxy cuts the producer's connections.
const MAX_CUT_ROUNDS: usize = 50;

#[test]
fn an_idempotent_producer_retrying_through_cut_connections_writes_no_duplicates() -> TestResult {
    let _watchdog = watchdog::guard();
    let (proxy, listener) = CuttingProxy::bind()?;
    let broker = josefine::Broker::builder()
        .property(
            "advertised.listeners",
            format!("PLAINTEXT://127.0.0.1:{}", proxy.port),
        )
        .start_blocking()?;
    let target = broker
        .local_addrs()
        .first()
        .map(ToString::to_string)
        .ok_or_else(|| anyhow::anyhow!("no listener"))?;
    proxy.run(listener, target);
    let bootstrap = format!("127.0.0.1:{}", proxy.port);
    create_topic(&bootstrap, "retried", 2, &[])?;
    let (producer, deliveries) = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("batch.num.messages", "50"),
            ("retry.backoff.ms", "10"),
            ("reconnect.backoff.ms", "10"),
        ],
    )?;
    let cuts = AtomicUsize::new(0);
    let total = 20_000;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| -> TestResult {
        // A bounded number of cuts: on a loaded machine a cut every 40 ms for the whole run
        // outpaces the producer's recovery, and records time out instead of being retried.
        scope.spawn(|| {
            let mut rounds = 0;
            while !done.load(Ordering::Acquire) && rounds < MAX_CUT_ROUNDS {
                std::thread::sleep(Duration::from_millis(40));
                cuts.fetch_add(proxy.cut(), Ordering::AcqRel);
                rounds += 1;
            }
        });
        let sent = (|| -> TestResult {
            for i in 0..total {
                send(&producer, "retried", i % 2, &i.to_string())?;
                producer.poll(Duration::ZERO);
            }
            producer.flush(PATIENCE)?;
            Ok(())
        })();
        done.store(true, Ordering::Release);
        sent
    })?;
    assert!(
        cuts.load(Ordering::Acquire) > 0,
        "the proxy cut no connection"
    );
    let reports = deliveries.take();
    assert_eq!(reports.len(), total as usize);
    let failed: Vec<_> = reports.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "every record delivered; {} failed, the first: {:?}",
        failed.len(),
        failed.first()
    );
    let read = read_topic(
        &broker.bootstrap_servers(),
        "retried",
        2,
        "read_uncommitted",
    )?;
    for partition in 0..2 {
        let got: Vec<i32> = read
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, v)| v.parse())
            .collect::<Result<_, _>>()?;
        let expected: Vec<i32> = (0..total).filter(|i| i % 2 == partition).collect();
        assert_eq!(got, expected, "partition {partition}: in order, once each");
    }
    Ok(())
}

#[test]
fn read_committed_sees_commits_and_never_aborts() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "txn", 2, &[])?;
    let producer = transactional(&bootstrap, "visibility", &[])?;
    producer.begin_transaction()?;
    for i in 0..10 {
        send(&producer, "txn", i % 2, &format!("committed-{i}"))?;
    }
    producer.commit_transaction(PATIENCE)?;
    producer.begin_transaction()?;
    for i in 0..10 {
        send(&producer, "txn", i % 2, &format!("aborted-{i}"))?;
    }
    producer.flush(PATIENCE)?;
    producer.abort_transaction(PATIENCE)?;

    // An open transaction holds the last stable offset back.
    producer.begin_transaction()?;
    send(&producer, "txn", 0, "later-0")?;
    producer.flush(PATIENCE)?;
    let committed_reader = consumer(&bootstrap, &[("isolation.level", "read_committed")])?;
    let uncommitted_reader = consumer(&bootstrap, &[("isolation.level", "read_uncommitted")])?;
    let (_, stable) = committed_reader.fetch_watermarks("txn", 0, PATIENCE)?;
    let (_, high) = uncommitted_reader.fetch_watermarks("txn", 0, PATIENCE)?;
    assert!(
        stable < high,
        "last stable offset {stable} below the high watermark {high}"
    );
    let during = values(&read_topic(&bootstrap, "txn", 2, "read_committed")?);
    assert!(!during.iter().any(|v| v.starts_with("later")));
    producer.commit_transaction(PATIENCE)?;

    let mut committed = values(&read_topic(&bootstrap, "txn", 2, "read_committed")?);
    committed.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("committed-{i}")).collect();
    expected.push("later-0".into());
    expected.sort();
    assert_eq!(committed, expected);
    let everything = values(&read_topic(&bootstrap, "txn", 2, "read_uncommitted")?);
    assert_eq!(
        everything.len(),
        21,
        "read_uncommitted sees the aborted records too"
    );
    assert_eq!(
        everything
            .iter()
            .filter(|v| v.starts_with("aborted"))
            .count(),
        10
    );
    Ok(())
}

#[test]
fn a_zombie_producer_is_fenced_and_its_transaction_aborted() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "fenced", 1, &[])?;
    let zombie = transactional(&bootstrap, "shared-id", &[])?;
    zombie.begin_transaction()?;
    send(&zombie, "fenced", 0, "zombie")?;
    zombie.flush(PATIENCE)?;

    let successor = transactional(&bootstrap, "shared-id", &[])?;
    let err = zombie
        .commit_transaction(PATIENCE)
        .expect_err("the fenced producer cannot commit");
    let fenced = matches!(&err, rdkafka::error::KafkaError::Transaction(e) if e.is_fatal())
        || err.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::ProducerFenced);
    assert!(fenced, "fenced: {err}");
    successor.begin_transaction()?;
    send(&successor, "fenced", 0, "successor")?;
    successor.commit_transaction(PATIENCE)?;
    assert_eq!(
        values(&read_topic(&bootstrap, "fenced", 1, "read_committed")?),
        vec!["successor".to_string()]
    );
    Ok(())
}

#[test]
fn an_abandoned_transaction_is_aborted_after_its_timeout() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "100",
        )
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "abandoned", 1, &[])?;
    let abandoned = transactional(
        &bootstrap,
        "abandoner",
        &[
            ("transaction.timeout.ms", "1000"),
            ("message.timeout.ms", "1000"),
        ],
    )?;
    abandoned.begin_transaction()?;
    send(&abandoned, "abandoned", 0, "never-visible")?;
    abandoned.flush(PATIENCE)?;

    // The last stable offset catches up with the high watermark once the broker aborts it.
    let committed_reader = consumer(&bootstrap, &[("isolation.level", "read_committed")])?;
    let start = Instant::now();
    loop {
        let (_, stable) = committed_reader.fetch_watermarks("abandoned", 0, PATIENCE)?;
        if stable >= 2 {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "the transaction was never aborted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(values(&read_topic(&bootstrap, "abandoned", 1, "read_committed")?).is_empty());
    let other = transactional(&bootstrap, "other", &[])?;
    other.begin_transaction()?;
    send(&other, "abandoned", 0, "visible")?;
    other.commit_transaction(PATIENCE)?;
    assert_eq!(
        values(&read_topic(&bootstrap, "abandoned", 1, "read_committed")?),
        vec!["visible".to_string()]
    );
    Ok(())
}

const INPUT_PARTITIONS: i32 = 3;

/// Runs the consume-transform-produce loop from the group's committed offsets until `stop`
/// records were processed in this run or the input ends; commits every `batch` records.
/// Returns the producer (with a transaction left open when `leave_open`) and the count.
fn process(
    bootstrap: &str,
    stop: usize,
    batch: usize,
    leave_open: bool,
) -> TestResult<(TestProducer, usize)> {
    let consumer = consumer(
        bootstrap,
        &[
            ("group.id", "eos"),
            ("isolation.level", "read_committed"),
            ("enable.partition.eof", "true"),
        ],
    )?;
    let mut wanted = TopicPartitionList::new();
    for p in 0..INPUT_PARTITIONS {
        wanted.add_partition("input", p);
    }
    let committed = consumer.committed_offsets(wanted, PATIENCE)?;
    let mut assignment = TopicPartitionList::new();
    for e in committed.elements() {
        let offset = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        assignment.add_partition_offset("input", e.partition(), offset)?;
    }
    consumer.assign(&assignment)?;
    let producer = transactional(bootstrap, "eos-processor", &[])?;
    let mut processed = 0;
    let mut in_transaction = 0;
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    let mut ended = 0;
    producer.begin_transaction()?;
    let start = Instant::now();
    let commit = |producer: &TestProducer, positions: &BTreeMap<i32, i64>| -> TestResult {
        let mut offsets = TopicPartitionList::new();
        for (p, o) in positions {
            offsets.add_partition_offset("input", *p, Offset::Offset(*o))?;
        }
        producer.send_offsets_to_transaction(
            &offsets,
            &consumer
                .group_metadata()
                .ok_or_else(|| anyhow::anyhow!("no group metadata"))?,
            PATIENCE,
        )?;
        producer.commit_transaction(PATIENCE)?;
        Ok(())
    };
    while processed < stop && ended < INPUT_PARTITIONS {
        anyhow::ensure!(start.elapsed() < PATIENCE * 3, "processing did not finish");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                send(&producer, "output", m.partition(), &format!("out-{value}"))?;
                producer.poll(Duration::ZERO);
                positions.insert(m.partition(), m.offset() + 1);
                processed += 1;
                in_transaction += 1;
                if in_transaction == batch && !(leave_open && processed >= stop) {
                    commit(&producer, &positions)?;
                    producer.begin_transaction()?;
                    in_transaction = 0;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(err)) => anyhow::bail!("consumer error: {err}"),
            None => {}
        }
    }
    if leave_open {
        producer.flush(PATIENCE)?;
    } else if in_transaction > 0 {
        commit(&producer, &positions)?;
    } else {
        producer.abort_transaction(PATIENCE)?;
    }
    Ok((producer, processed))
}

#[test]
fn consume_transform_produce_is_exactly_once_across_a_crash_and_a_broker_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let total = 100_000;
    let dir = tempfile::tempdir()?;
    let start_broker = || {
        josefine::Broker::builder()
            .log_dir(dir.path())
            .property("offsets.topic.num.partitions", "3")
            .property("transaction.state.log.num.partitions", "3")
            .start_blocking()
    };
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "input", INPUT_PARTITIONS, &[])?;
    create_topic(&bootstrap, "output", INPUT_PARTITIONS, &[])?;
    let (producer, deliveries) = producer(&bootstrap, &[("linger.ms", "20")])?;
    for i in 0..total {
        send(&producer, "input", i % INPUT_PARTITIONS, &i.to_string())?;
        producer.poll(Duration::ZERO);
    }
    assert!(flush(&producer, &deliveries)?.iter().all(Result::is_ok));

    // First run: commits 40 transactions of 1,000, then crashes inside the next one. The
    // crashed producer lives on as a zombie with its transaction open.
    let (zombie, first) = process(&bootstrap, 40_500, 1_000, true)?;
    assert_eq!(first, 40_500);
    std::mem::forget(zombie);
    broker.shutdown();

    // The broker restarts; a new processor with the same transactional id fences the zombie,
    // aborts its transaction, and resumes from the committed offsets.
    let broker = start_broker()?;
    let bootstrap = broker.bootstrap_servers();
    let (producer, second) = process(&bootstrap, usize::MAX, 1_000, false)?;
    drop(producer);
    assert_eq!(
        second,
        total as usize - 40_000,
        "resumes after the last commit"
    );

    let output = read_topic(&bootstrap, "output", INPUT_PARTITIONS, "read_committed")?;
    let mut seen = vec![0u8; total as usize];
    for (partition, value) in &output {
        let i: usize = value.trim_start_matches("out-").parse()?;
        assert_eq!(i as i32 % INPUT_PARTITIONS, *partition);
        seen[i] += 1;
    }
    let wrong: Vec<usize> = (0..total as usize)
        .filter(|i| seen[*i] != 1)
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "records not processed exactly once: {wrong:?}"
    );
    assert_eq!(output.len(), total as usize);
    let everything = read_topic(&bootstrap, "output", INPUT_PARTITIONS, "read_uncommitted")?;
    assert_eq!(
        everything.len(),
        total as usize + 500,
        "the aborted 500 stay in the log"
    );
    Ok(())
}

/// A raw Produce v9 of one idempotent batch of `count` records.
fn raw_produce(
    stream: &mut std::net::TcpStream,
    topic: &str,
    producer_id: i64,
    epoch: i16,
    sequence: i32,
    count: usize,
) -> TestResult<(i16, i64)> {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
    let values: Vec<_> = (0..count)
        .map(|_| (1_700_000_000_000, None, Some(&b"v"[..])))
        .collect();
    let batch = josefine_storage::batch::build_batch_as(
        &josefine_storage::batch::BatchProducer {
            producer_id,
            producer_epoch: epoch,
            base_sequence: sequence,
            attributes: 0,
        },
        &values,
    );
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_string(
                topic.into(),
            )))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.into()))])]);
    let response: ProduceResponse = round_trip(stream, ApiKey::Produce, 9, &request)?;
    let partition = &response.responses[0].partition_responses[0];
    Ok((partition.error_code, partition.base_offset))
}

#[test]
fn retried_batches_are_recognised_across_a_broker_restart_on_the_wire() -> TestResult {
    let _watchdog = watchdog::guard();
    use kafka_protocol::messages::*;
    let dir = tempfile::tempdir()?;
    let start = || {
        josefine::Broker::builder()
            .log_dir(dir.path())
            .start_blocking()
    };
    let broker = start()?;
    create_topic(&broker.bootstrap_servers(), "dedup", 1, &[])?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let init: InitProducerIdResponse = round_trip(
        &mut stream,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )?;
    let producer_id = init.producer_id.0;
    assert_eq!((init.error_code, init.producer_epoch), (0, 0));
    assert_eq!(
        raw_produce(&mut stream, "dedup", producer_id, 0, 0, 3)?,
        (0, 0)
    );
    assert_eq!(
        raw_produce(&mut stream, "dedup", producer_id, 0, 3, 2)?,
        (0, 3)
    );
    assert_eq!(
        raw_produce(&mut stream, "dedup", producer_id, 0, 0, 3)?,
        (0, 0),
        "a retry"
    );
    let gap = raw_produce(&mut stream, "dedup", producer_id, 0, 9, 1)?;
    assert_eq!(
        gap.0,
        kafka_protocol::error::ResponseError::OutOfOrderSequenceNumber.code()
    );
    drop(stream);
    broker.shutdown();

    let broker = start()?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    assert_eq!(
        raw_produce(&mut stream, "dedup", producer_id, 0, 3, 2)?,
        (0, 3),
        "a retry after the restart"
    );
    assert_eq!(
        raw_produce(&mut stream, "dedup", producer_id, 0, 5, 1)?,
        (0, 5)
    );
    let described: DescribeProducersResponse = round_trip(
        &mut stream,
        ApiKey::DescribeProducers,
        0,
        &DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(TopicName(
                    kafka_protocol::protocol::StrBytes::from_static_str("dedup"),
                ))
                .with_partition_indexes(vec![0]),
        ]),
    )?;
    let producers = &described.topics[0].partitions[0].active_producers;
    assert_eq!(producers.len(), 1);
    assert_eq!(
        (producers[0].producer_id.0, producers[0].last_sequence),
        (producer_id, 5)
    );
    let records = read_topic(&broker.bootstrap_servers(), "dedup", 1, "read_uncommitted")?;
    assert_eq!(records.len(), 6, "each record once");
    Ok(())
}

#[test]
fn transaction_apis_answer_kafkas_error_codes_on_the_wire() -> TestResult {
    let _watchdog = watchdog::guard();
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "wire", 1, &[])?;
    let mut stream = connect(&bootstrap)?;
    let tx = || TransactionalId(StrBytes::from_static_str("wire-tx"));
    let init =
        |stream: &mut std::net::TcpStream, timeout: i32| -> TestResult<InitProducerIdResponse> {
            round_trip(
                stream,
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(tx()))
                    .with_transaction_timeout_ms(timeout)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
        };
    let too_long = init(&mut stream, 3_600_000)?;
    assert_eq!(
        too_long.error_code,
        ResponseError::InvalidTransactionTimeout.code()
    );
    let first = init(&mut stream, 60_000)?;
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    let end = |stream: &mut std::net::TcpStream, epoch: i16, producer_id: i64| -> TestResult<i16> {
        let response: EndTxnResponse = round_trip(
            stream,
            ApiKey::EndTxn,
            3,
            &EndTxnRequest::default()
                .with_transactional_id(tx())
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch)
                .with_committed(true),
        )?;
        Ok(response.error_code)
    };
    assert_eq!(
        end(&mut stream, 0, first.producer_id.0)?,
        ResponseError::InvalidTxnState.code()
    );
    assert_eq!(
        end(&mut stream, 0, 12_345)?,
        ResponseError::InvalidProducerIdMapping.code()
    );
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tx())
        .with_v3_and_below_producer_id(first.producer_id)
        .with_v3_and_below_producer_epoch(0)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("wire")))
                .with_partitions(vec![0]),
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("missing")))
                .with_partitions(vec![0]),
        ]);
    let added: AddPartitionsToTxnResponse =
        round_trip(&mut stream, ApiKey::AddPartitionsToTxn, 3, &add)?;
    let codes: Vec<i16> = added
        .results_by_topic_v3_and_below
        .iter()
        .map(|t| t.results_by_partition[0].partition_error_code)
        .collect();
    assert_eq!(
        codes,
        vec![
            ResponseError::OperationNotAttempted.code(),
            ResponseError::UnknownTopicOrPartition.code()
        ]
    );
    let mut add = add;
    add.v3_and_below_topics.truncate(1);
    let added: AddPartitionsToTxnResponse =
        round_trip(&mut stream, ApiKey::AddPartitionsToTxn, 3, &add)?;
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );

    let listed: ListTransactionsResponse = round_trip(
        &mut stream,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default()
            .with_state_filters(vec![
                StrBytes::from_static_str("Ongoing"),
                StrBytes::from_static_str("Bogus"),
            ])
            .with_duration_filter(-1),
    )?;
    assert_eq!(
        listed.unknown_state_filters,
        vec![StrBytes::from_static_str("Bogus")]
    );
    assert_eq!(listed.transaction_states.len(), 1);
    assert_eq!(listed.transaction_states[0].transactional_id, tx());

    // A second producer of the id fences the first: its epoch is refused.
    let second = init(&mut stream, 60_000)?;
    assert_eq!(
        (second.producer_id, second.producer_epoch),
        (first.producer_id, 2)
    );
    assert_eq!(
        end(&mut stream, 0, first.producer_id.0)?,
        ResponseError::ProducerFenced.code()
    );
    // KIP-360: naming the epoch the coordinator bumped past (1, by the fence's abort) gets the
    // current one; naming an older one is fenced.
    let rejoin =
        |stream: &mut std::net::TcpStream, epoch: i16| -> TestResult<InitProducerIdResponse> {
            round_trip(
                stream,
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(tx()))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(first.producer_id)
                    .with_producer_epoch(epoch),
            )
        };
    let again = rejoin(&mut stream, 1)?;
    assert_eq!((again.error_code, again.producer_epoch), (0, 2));
    assert_eq!(
        rejoin(&mut stream, 0)?.error_code,
        ResponseError::ProducerFenced.code()
    );
    let bumped = rejoin(&mut stream, 2)?;
    assert_eq!((bumped.error_code, bumped.producer_epoch), (0, 3));
    let described: DescribeTransactionsResponse = round_trip(
        &mut stream,
        ApiKey::DescribeTransactions,
        0,
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![
            tx(),
            TransactionalId(StrBytes::from_static_str("nobody")),
        ]),
    )?;
    let states = &described.transaction_states;
    assert_eq!(states[0].transaction_state.as_str(), "Empty");
    assert_eq!(states[0].producer_epoch, 3);
    assert_eq!(
        states[1].error_code,
        ResponseError::TransactionalIdNotFound.code()
    );
    Ok(())
}
