//! Time for a fresh consumer group to form: from the moment its members subscribe (their
//! FindCoordinator and first JoinGroup, or first ConsumerGroupHeartbeat, follow within a
//! millisecond) to every member having received a record, with librdkafka consumers against
//! the embedded broker.
//!
//! Run: `cargo bench --bench group_join [-- --runs N --members M --partitions P]`. Prints the
//! median, p90 and max per case:
//! - `classic, client defaults`: librdkafka's `heartbeat.interval.ms` (3 s) paces how soon an
//!   already-joined member learns of the next rebalance;
//! - `classic, heartbeat 100 ms`: the same with `heartbeat.interval.ms=100`;
//! - `consumer protocol (KIP-848)`: `group.protocol=consumer`, with the broker's
//!   `group.consumer.heartbeat.interval.ms` at its default (5 s) and at 100 ms.
//!
//! `group.initial.rebalance.delay.ms` is Josefine's default, 0 (Kafka's is 3 s).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A case: its name, client settings, broker `group.consumer.heartbeat.interval.ms`.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

struct Args {
    runs: usize,
    members: usize,
    partitions: i32,
}

fn args() -> Result<Args> {
    let mut out = Args {
        runs: 7,
        members: 3,
        partitions: 6,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => out.runs = value()?.parse()?,
            "--members" => out.members = value()?.parse()?,
            "--partitions" => out.partitions = value()?.parse()?,
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(out)
}

/// One formation: `members` consumers subscribe at once; returns the time until each has
/// received at least one record.
fn form_group(
    bootstrap: &str,
    topic: &str,
    group: &str,
    members: usize,
    client: &[(&str, &str)],
) -> Result<Duration> {
    let consumers = (0..members)
        .map(|_| {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", bootstrap)
                .set("group.id", group)
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false");
            for (k, v) in client {
                config.set(*k, *v);
            }
            config.create::<BaseConsumer>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let started = Instant::now();
    for c in &consumers {
        c.subscribe(&[topic])?;
    }
    let mut consuming = vec![false; members];
    while consuming.iter().any(|c| !c) {
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("group {group} did not form in 120 s: {consuming:?}").into());
        }
        for (i, c) in consumers.iter().enumerate() {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(1)) {
                if m.offset() >= 0 {
                    consuming[i] = true;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    for c in &consumers {
        c.unsubscribe();
    }
    Ok(elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn main() -> Result<()> {
    let args = args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cases: [Case<'_>; 4] = [
        ("classic, client defaults", &[], "5000"),
        (
            "classic, heartbeat.interval.ms=100",
            &[("heartbeat.interval.ms", "100")],
            "5000",
        ),
        (
            "consumer protocol, broker heartbeat 5000 ms",
            &[("group.protocol", "consumer")],
            "5000",
        ),
        (
            "consumer protocol, broker heartbeat 100 ms",
            &[("group.protocol", "consumer")],
            "100",
        ),
    ];
    println!(
        "fresh group of {} members on {} partitions, {} runs each: subscribe -> every member has a record",
        args.members, args.partitions, args.runs
    );
    for (name, client, broker_heartbeat) in cases {
        let broker = runtime.block_on(
            josefine::Broker::builder()
                .property("group.consumer.heartbeat.interval.ms", broker_heartbeat)
                .start(),
        )?;
        let bootstrap = broker.bootstrap_servers();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?;
        let topic = "formation";
        {
            use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
            let admin: AdminClient<_> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()?;
            let topics = [NewTopic::new(
                topic,
                args.partitions,
                TopicReplication::Fixed(1),
            )];
            runtime.block_on(admin.create_topics(&topics, &AdminOptions::new()))?;
        }
        for p in 0..args.partitions {
            producer
                .send(
                    BaseRecord::<(), [u8]>::to(topic)
                        .partition(p)
                        .payload(&b"record"[..]),
                )
                .map_err(|(e, _)| e)?;
        }
        producer.flush(Duration::from_secs(30))?;
        let mut times = Vec::with_capacity(args.runs);
        for run in 0..args.runs {
            let group = format!("formation-{run}");
            times.push(form_group(&bootstrap, topic, &group, args.members, client)?);
        }
        times.sort_unstable();
        println!(
            "{name:<45} median {:>8.1} ms   p90 {:>8.1} ms   max {:>8.1} ms",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.9).as_secs_f64() * 1000.0,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        );
        runtime.block_on(broker.shutdown());
    }
    Ok(())
}
