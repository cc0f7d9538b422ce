//! Lifecycles with real clients: a deleted topic created again starts empty at offset 0,
//! committed offsets expire, transactions complete only once their markers are written.

use std::time::Duration;

use rdkafka::admin::AdminOptions;
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaRespErr;

use crate::common::*;
use crate::watchdog;

/// The names of the directories in `dir`.
fn dir_names(dir: &std::path::Path) -> TestResult<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

#[test]
fn a_deleted_topic_created_again_starts_empty_at_offset_zero() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let broker = josefine::Broker::builder()
        .log_dir(dir.path())
        .property("auto.create.topics.enable", "false")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "reborn", 1, &[])?;
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    let reports = produce_numbered(&producer, &deliveries, "reborn", 1, 10, 1_700_000_000_000)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");

    let admin = admin(&bootstrap)?;
    let results = block_on(admin.delete_topics(&["reborn"], &AdminOptions::new()))??;
    assert!(matches!(results.as_slice(), [Ok(_)]), "{results:?}");
    // The old partition's directory is renamed for removal in the background.
    let names = dir_names(dir.path())?;
    assert!(!names.iter().any(|n| n == "reborn-0"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("reborn-0.") && n.ends_with("-delete")),
        "{names:?}"
    );
    let consumer = consumer(&bootstrap, &[])?;
    let metadata = consumer.fetch_metadata(Some("reborn"), Duration::from_secs(10))?;
    let topic = metadata
        .topics()
        .first()
        .ok_or_else(|| anyhow::anyhow!("no topic in metadata"))?;
    assert_eq!(
        topic.error(),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );

    create_topic(&bootstrap, "reborn", 1, &[])?;
    let reports = produce_numbered(&producer, &deliveries, "reborn", 1, 3, 1_800_000_000_000)?;
    let offsets: Vec<i64> = reports
        .into_iter()
        .map(|r| r.map(|(_, offset)| offset))
        .collect::<Result<_, _>>()?;
    assert_eq!(offsets, vec![0, 1, 2]);
    let records = read_to_end(&bootstrap, "reborn")?;
    check_numbered(&records, 1, 3, 1_800_000_000_000, 0)?;
    Ok(())
}

#[test]
fn an_abort_whose_marker_fails_completes_only_once_the_marker_is_written() -> TestResult {
    let _watchdog = watchdog::guard();
    use rdkafka::producer::{BaseRecord, Producer};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let broker = runtime.block_on(josefine::Broker::builder().start())?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "marked", 1, &[])?;
    let state = std::sync::Arc::clone(broker.server().state());
    let describe = || {
        state.transactions.describe(&["marked-tx".to_string()])[0]
            .as_ref()
            .map(|t| t.state.name())
    };
    let partition = state
        .topics
        .get("marked")
        .and_then(|t| t.partition(0))
        .ok_or_else(|| anyhow::anyhow!("no partition"))?;

    let (producer, deliveries) = producer(&bootstrap, &[("transactional.id", "marked-tx")])?;
    producer.init_transactions(Duration::from_secs(30))?;
    producer.begin_transaction()?;
    enqueue(
        &producer,
        BaseRecord::to("marked").partition(0).payload(b"aborted"),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    // The disk refuses the ABORT marker (EIO) until further notice.
    partition.log.inject_marker_failures(u32::MAX);
    producer.abort_transaction(Duration::from_secs(30))?;
    assert_eq!(describe(), Some("PrepareAbort"));
    assert_eq!(partition.log.last_stable_offset(), 0);
    let consumer = consumer(
        &bootstrap,
        &[
            ("isolation.level", "read_committed"),
            ("enable.partition.eof", "true"),
        ],
    )?;
    assign_from_beginning(&consumer, "marked", 1)?;

    // The disk recovers: the retried marker lands and the abort completes.
    partition.log.inject_marker_failures(0);
    producer.begin_transaction()?;
    enqueue(
        &producer,
        BaseRecord::to("marked").partition(0).payload(b"committed"),
    )?;
    let reports = flush(&producer, &deliveries)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    producer.commit_transaction(Duration::from_secs(30))?;
    assert_eq!(describe(), Some("CompleteCommit"));
    let records = consume(&consumer, 1)?;
    assert_eq!(records[0].payload.as_deref(), Some(b"committed".as_slice()));
    // The aborted record is skipped: the committed one follows its ABORT marker.
    assert_eq!(records[0].offset, 2);
    assert_eq!(partition.log.aborted_transactions(0, 4).len(), 1);
    drop((consumer, producer, partition, state));
    runtime.block_on(broker.shutdown());
    Ok(())
}

#[test]
fn committed_offsets_expire_after_the_retention() -> TestResult {
    let _watchdog = watchdog::guard();
    use rdkafka::consumer::CommitMode;
    use rdkafka::{Offset, TopicPartitionList};
    use std::sync::atomic::{AtomicI64, Ordering};
    // The broker's wall clock, which the test moves past the retention.
    let shift: &'static AtomicI64 = Box::leak(Box::new(AtomicI64::new(0)));
    let broker = josefine::Broker::builder()
        .property("offsets.retention.minutes", "1")
        .property("offsets.retention.check.interval.ms", "20")
        .wall_clock_shift(shift)
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "kept", 1, &[])?;
    // A consumer that assigns its partitions and commits: a group of commits only.
    let consumer = consumer(
        &bootstrap,
        &[("group.id", "standalone"), ("enable.auto.commit", "false")],
    )?;
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("kept", 0, Offset::Offset(42))?;
    consumer.commit(&offsets, CommitMode::Sync)?;
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("kept", 0);
    let committed = consumer.committed_offsets(wanted.clone(), Duration::from_secs(10))?;
    assert_eq!(
        committed.find_partition("kept", 0).map(|p| p.offset()),
        Some(Offset::Offset(42))
    );

    shift.store(61_000, Ordering::Release);
    let start = std::time::Instant::now();
    loop {
        let committed = consumer.committed_offsets(wanted.clone(), Duration::from_secs(10))?;
        match committed.find_partition("kept", 0).map(|p| p.offset()) {
            Some(Offset::Invalid) => break,
            other => {
                anyhow::ensure!(
                    start.elapsed() < PATIENCE,
                    "the commit did not expire: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let groups = consumer.fetch_group_list(None, PATIENCE)?;
    assert!(
        groups.groups().iter().all(|g| g.name() != "standalone"),
        "the empty group was not removed"
    );
    Ok(())
}

/// Polls `check` until it holds; fails after [`PATIENCE`].
fn eventually(what: &str, mut check: impl FnMut() -> bool) -> TestResult {
    let start = std::time::Instant::now();
    while !check() {
        anyhow::ensure!(start.elapsed() < PATIENCE, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn idle_producer_ids_and_transactional_ids_expire() -> TestResult {
    let _watchdog = watchdog::guard();
    use rdkafka::producer::{BaseRecord, Producer};
    use std::sync::atomic::{AtomicI64, Ordering};
    let shift: &'static AtomicI64 = Box::leak(Box::new(AtomicI64::new(0)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let broker = runtime.block_on(
        josefine::Broker::builder()
            .property("producer.id.expiration.ms", "10000")
            .property("producer.id.expiration.check.interval.ms", "20")
            .property("transactional.id.expiration.ms", "10000")
            .property(
                "transaction.remove.expired.transaction.cleanup.interval.ms",
                "20",
            )
            .wall_clock_shift(shift)
            .start(),
    )?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "idle", 1, &[])?;
    let state = std::sync::Arc::clone(broker.server().state());
    let partition = state
        .topics
        .get("idle")
        .and_then(|t| t.partition(0))
        .ok_or_else(|| anyhow::anyhow!("no partition"))?;
    let transactional_id_known =
        || state.transactions.describe(&["idle-tx".to_string()])[0].is_some();

    let (idempotent, deliveries) = producer(&bootstrap, &[("enable.idempotence", "true")])?;
    enqueue(
        &idempotent,
        BaseRecord::to("idle").partition(0).payload(b"one"),
    )?;
    let reports = flush(&idempotent, &deliveries)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    let (transactional, tx_deliveries) = producer(&bootstrap, &[("transactional.id", "idle-tx")])?;
    transactional.init_transactions(PATIENCE)?;
    transactional.begin_transaction()?;
    enqueue(
        &transactional,
        BaseRecord::to("idle").partition(0).payload(b"two"),
    )?;
    let reports = flush(&transactional, &tx_deliveries)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    transactional.commit_transaction(PATIENCE)?;
    assert_eq!(partition.log.producers().len(), 2);
    assert!(transactional_id_known());

    // Both go once the broker's wall clock is past the expiration.
    shift.store(3_600_000, Ordering::Release);
    eventually("the producer ids' expiry", || {
        partition.log.producers().is_empty()
    })?;
    eventually("the transactional id's expiry", || {
        !transactional_id_known()
    })?;
    // The idempotent producer goes on: its next batch starts a new producer state (KIP-360).
    enqueue(
        &idempotent,
        BaseRecord::to("idle").partition(0).payload(b"three"),
    )?;
    let reports = flush(&idempotent, &deliveries)?;
    assert!(reports.iter().all(Result::is_ok), "{reports:?}");
    let records = read_to_end(&bootstrap, "idle")?;
    let payloads: Vec<_> = records.iter().filter_map(|r| r.payload.clone()).collect();
    assert_eq!(
        payloads,
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    drop((idempotent, transactional, partition, state));
    runtime.block_on(broker.shutdown());
    Ok(())
}
