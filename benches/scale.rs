//! Josefine with thousands of partitions, as a spawned `josefine broker` process whose CPU time
//! is read from `/proc/<pid>/stat` (user + system, all threads, 10 ms ticks):
//!
//! - `first-append`: a topic of `--partitions` (1,000) partitions is created, then one record
//!   of 100 bytes goes to each partition (librdkafka, acks=all, `linger.ms=50`): broker CPU and
//!   wall time until every record is acknowledged; then the same for a second record each;
//!   then the broker is stopped (SIGTERM, a clean shutdown), started again on the same log dir
//!   (time to its first answered Metadata), and a first record after the restart goes to each
//!   partition.
//! - `consumer`: a topic of `--consumer-partitions` (10,000) partitions with one record in
//!   every 100th partition; one librdkafka consumer assigned all of them from the beginning:
//!   time to its first record and to all records, then broker CPU per Fetch while it idles
//!   caught up (`fetch.wait.max.ms=500`; Fetch requests counted from librdkafka's statistics).
//!   Then restart times of that log dir: clean (SIGTERM) and after SIGKILL (recovery).
//!
//! Run: `cargo bench --bench scale [-- --only first-append,consumer --partitions N
//! --consumer-partitions N --binary PATH]`. `--binary` measures another build of `josefine`
//! (the default is the one cargo built with this bench).

// Helpers of `tests/support` and `benches/support` are `pub` within this one binary; this
// binary uses some of them.
#![allow(unreachable_pub, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

#[path = "../tests/support/broker_process.rs"]
mod broker_process;
#[path = "support/metadata.rs"]
mod metadata;

use broker_process::BrokerProcess;
use metadata::{answer_metadata, metadata_request};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Args {
    only: Vec<String>,
    partitions: i32,
    consumer_partitions: i32,
    binary: PathBuf,
}

fn args() -> Result<Args> {
    let mut out = Args {
        only: vec!["first-append".into(), "consumer".into()],
        partitions: 1000,
        consumer_partitions: 10_000,
        binary: PathBuf::from(env!("CARGO_BIN_EXE_josefine")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--only" => out.only = value()?.split(',').map(String::from).collect(),
            "--partitions" => out.partitions = value()?.parse()?,
            "--consumer-partitions" => out.consumer_partitions = value()?.parse()?,
            "--binary" => out.binary = PathBuf::from(value()?),
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(out)
}

/// A broker process on a log dir that outlives it.
struct Broker {
    process: BrokerProcess,
}

impl Broker {
    fn start(binary: &Path, log_dir: &Path) -> Result<(Self, Duration)> {
        let started = Instant::now();
        let mut command = Command::new(binary);
        BrokerProcess::add_args(&mut command, log_dir, &[]);
        let process = BrokerProcess::spawn(command, None)?;
        answer_metadata(&process.bootstrap, &metadata_request()?)?;
        Ok((Self { process }, started.elapsed()))
    }

    fn bootstrap(&self) -> &str {
        &self.process.bootstrap
    }

    /// User + system CPU of the whole process so far.
    fn cpu(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.pid()))?;
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .ok_or("bad stat")?
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
            + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
        // CLK_TCK is 100 on Linux.
        Ok(Duration::from_millis(ticks * 10))
    }

    /// SIGTERM (a clean shutdown), waiting for the exit.
    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.process.pid().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.process.is_running() {
            if Instant::now() > deadline {
                return Err("broker did not stop".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SIGKILL: no shutdown at all.
    fn kill(self) -> Result<()> {
        self.process.kill()?;
        Ok(())
    }
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(600))),
    ))?;
    for result in results {
        result.map_err(|(topic, code)| format!("create {topic}: {code}"))?;
    }
    Ok(())
}

fn new_producer(bootstrap: &str) -> Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "50")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "600000")
        .create()?)
}

/// One record to each partition of `partitions` (every `step`th); waits for every
/// acknowledgement. Returns (wall time, broker CPU).
fn one_record_each(
    broker: &Broker,
    producer: &BaseProducer,
    topic: &str,
    partitions: i32,
    step: usize,
) -> Result<(Duration, Duration)> {
    let value = [b'x'; 100];
    let cpu = broker.cpu()?;
    let started = Instant::now();
    for partition in (0..partitions).step_by(step) {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .partition(partition)
                    .payload(&value[..]),
            )
            .map_err(|(e, _)| e)?;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(600))?;
    Ok((started.elapsed(), broker.cpu()? - cpu))
}

fn report(case: &str, wall: Duration, cpu: Duration) {
    println!(
        "{case:<48} wall {:>9.3} s   broker CPU {:>8.3} s",
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

fn first_append(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let n = args.partitions;
    let (broker, _) = Broker::start(&args.binary, dir.path())?;
    create_topic(broker.bootstrap(), "scale", n)?;
    let producer = new_producer(broker.bootstrap())?;
    let (wall, cpu) = one_record_each(&broker, &producer, "scale", n, 1)?;
    report(
        &format!("first record to each of {n} partitions"),
        wall,
        cpu,
    );
    let (wall, cpu) = one_record_each(&broker, &producer, "scale", n, 1)?;
    report(
        &format!("second record to each of {n} partitions"),
        wall,
        cpu,
    );
    drop(producer);
    broker.stop()?;
    let (broker, restart) = Broker::start(&args.binary, dir.path())?;
    println!(
        "{:<48} {:>9.3} s",
        format!("clean restart with {n} partitions"),
        restart.as_secs_f64()
    );
    let producer = new_producer(broker.bootstrap())?;
    let (wall, cpu) = one_record_each(&broker, &producer, "scale", n, 1)?;
    report(
        &format!("first record after restart, {n} partitions"),
        wall,
        cpu,
    );
    drop(producer);
    broker.stop()?;
    Ok(())
}

/// Counts the consumer's Fetch requests from librdkafka's statistics.
#[derive(Default)]
struct FetchCounter(Arc<AtomicI64>);

impl ClientContext for FetchCounter {
    fn stats(&self, statistics: Statistics) {
        let fetches: i64 = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0)
            .filter_map(|b| b.req.get("Fetch").copied())
            .sum();
        self.0.store(fetches, Ordering::Release);
    }
}

impl ConsumerContext for FetchCounter {}

fn consumer(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let n = args.consumer_partitions;
    let step = 100usize;
    let (broker, _) = Broker::start(&args.binary, dir.path())?;
    let cpu = broker.cpu()?;
    let started = Instant::now();
    create_topic(broker.bootstrap(), "wide", n)?;
    report(
        &format!("create a topic of {n} partitions"),
        started.elapsed(),
        broker.cpu()? - cpu,
    );
    let producer = new_producer(broker.bootstrap())?;
    let (wall, cpu) = one_record_each(&broker, &producer, "wide", n, step)?;
    report(
        &format!("first record to {} of them", (n as usize).div_ceil(step)),
        wall,
        cpu,
    );
    drop(producer);
    let expected = (n as usize).div_ceil(step);
    let fetches = Arc::new(AtomicI64::new(0));
    let consumer: BaseConsumer<FetchCounter> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "scale")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "500")
        .set("statistics.interval.ms", "1000")
        .create_with_context(FetchCounter(Arc::clone(&fetches)))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..n {
        assignment.add_partition_offset("wide", partition, Offset::Beginning)?;
    }
    let cpu = broker.cpu()?;
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let mut received = 0usize;
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while received < expected {
        if Instant::now() > deadline {
            return Err(format!("only {received} of {expected} records").into());
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message?;
            received += 1;
            first.get_or_insert_with(|| started.elapsed());
        }
    }
    let all = started.elapsed();
    let catch_up_cpu = broker.cpu()? - cpu;
    println!(
        "{:<48} {:>9.3} s",
        format!("consumer of {n} partitions: first record"),
        first.unwrap_or_default().as_secs_f64()
    );
    report(
        &format!("consumer of {n} partitions: all {expected} records"),
        all,
        catch_up_cpu,
    );
    // Caught up: each Fetch now parks up to fetch.wait.max.ms and comes back empty.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = consumer.poll(Duration::ZERO);
    let fetches_before = fetches.load(Ordering::Acquire);
    let cpu = broker.cpu()?;
    let idle = Instant::now();
    while idle.elapsed() < Duration::from_secs(10) {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1100));
    let _ = consumer.poll(Duration::ZERO);
    let idle_cpu = broker.cpu()? - cpu;
    let idle_fetches = (fetches.load(Ordering::Acquire) - fetches_before).max(1);
    println!(
        "{:<48} {:>9.3} ms ({idle_fetches} fetches, {:.3} s CPU)",
        format!("broker CPU per empty fetch of {n} partitions"),
        idle_cpu.as_secs_f64() * 1000.0 / idle_fetches as f64,
        idle_cpu.as_secs_f64()
    );
    drop(consumer);
    broker.stop()?;
    let (broker, clean) = Broker::start(&args.binary, dir.path())?;
    println!(
        "{:<48} {:>9.3} s",
        format!("clean restart with {n} partitions"),
        clean.as_secs_f64()
    );
    broker.kill()?;
    let (broker, unclean) = Broker::start(&args.binary, dir.path())?;
    println!(
        "{:<48} {:>9.3} s",
        format!("restart after SIGKILL with {n} partitions"),
        unclean.as_secs_f64()
    );
    broker.stop()?;
    Ok(())
}

fn main() -> Result<()> {
    let args = args()?;
    println!("broker binary: {}", args.binary.display());
    for scenario in &args.only {
        match scenario.as_str() {
            "first-append" => first_append(&args)?,
            "consumer" => consumer(&args)?,
            other => return Err(format!("unknown scenario {other}").into()),
        }
    }
    Ok(())
}
