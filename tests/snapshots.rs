//! Snapshots (issue #18): what librdkafka produced, committed and wrote in a transaction,
//! read back from the broker handle without a client: a partition's records and offsets, a
//! consumer group's state and committed offsets, a transaction's state before and after its
//! commit.

use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::TopicPartitionList;

use crate::common::{self, TestResult};
use crate::watchdog;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_show_records_offsets_groups_and_transactions() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    assert!(matches!(
        broker.records("absent", 0),
        Err(josefine::SnapshotError::UnknownTopic(_))
    ));
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> TestResult {
            common::create_topic(&bootstrap, "plain", 1, &[])?;
            let (producer, deliveries) = common::producer(&bootstrap, &[])?;
            for (i, value) in ["a", "b", "c"].iter().enumerate() {
                let key = format!("k{i}");
                common::enqueue(
                    &producer,
                    BaseRecord::to("plain")
                        .key(key.as_str())
                        .payload(value.as_bytes())
                        .timestamp(1_700_000_000_000 + i as i64)
                        .headers(OwnedHeaders::new().insert(Header {
                            key: "trace",
                            value: Some(key.as_str()),
                        })),
                )?;
            }
            let reports = common::flush(&producer, &deliveries)?;
            anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
            // A group commits offset 2 and leaves.
            let consumer = common::consumer(&bootstrap, &[("group.id", "auditors")])?;
            consumer.subscribe(&["plain"])?;
            common::consume(&consumer, 3)?;
            let mut commit = TopicPartitionList::new();
            commit.add_partition_offset("plain", 0, rdkafka::Offset::Offset(2))?;
            consumer.commit(&commit, CommitMode::Sync)?;
            Ok(())
        })
        .await??;
    }
    let records = broker.records("plain", 0)?;
    let seen: Vec<(i64, &[u8], &[u8], i64)> = records
        .iter()
        .map(|r| {
            (
                r.offset,
                r.key.as_deref().unwrap_or_default(),
                r.value.as_deref().unwrap_or_default(),
                r.timestamp,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, &b"k0"[..], &b"a"[..], 1_700_000_000_000),
            (1, b"k1", b"b", 1_700_000_000_001),
            (2, b"k2", b"c", 1_700_000_000_002),
        ]
    );
    assert_eq!(
        records[1].headers,
        [("trace".to_string(), Some(bytes::Bytes::from_static(b"k1")))]
    );
    assert!(records.iter().all(|r| !r.transactional));
    let offsets = broker.partition_offsets("plain", 0)?;
    assert_eq!(
        (
            offsets.log_start_offset,
            offsets.high_watermark,
            offsets.log_end_offset
        ),
        (0, 3, 3)
    );
    let group = broker
        .group("auditors")
        .ok_or_else(|| anyhow::anyhow!("no group"))?;
    assert_eq!(group.offsets.get(&("plain".to_string(), 0)), Some(&2));
    assert_eq!(group.group_type, "classic");
    assert!(broker.group("nobody").is_none());

    // Compressed batches are read too; a log-append-time topic shows the broker's time.
    let before_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> TestResult {
            common::create_topic(
                &bootstrap,
                "stamped",
                1,
                &[("message.timestamp.type", "LogAppendTime")],
            )?;
            let (producer, deliveries) =
                common::producer(&bootstrap, &[("compression.codec", "lz4")])?;
            for value in ["x", "y"] {
                common::enqueue(
                    &producer,
                    BaseRecord::to("stamped")
                        .key("k")
                        .payload(value.as_bytes())
                        .timestamp(1_000),
                )?;
            }
            let reports = common::flush(&producer, &deliveries)?;
            anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
            Ok(())
        })
        .await??;
    }
    let stamped = broker.records("stamped", 0)?;
    let values: Vec<&[u8]> = stamped
        .iter()
        .map(|r| r.value.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(values, [&b"x"[..], b"y"]);
    assert!(
        stamped.iter().all(|r| r.timestamp >= before_ms),
        "{stamped:?}"
    );

    // A transaction, seen open and then committed.
    let producer = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> TestResult<common::TestProducer> {
            common::create_topic(&bootstrap, "ledger", 1, &[])?;
            let (producer, _) = common::producer(&bootstrap, &[("transactional.id", "tx-1")])?;
            producer.init_transactions(Duration::from_secs(30))?;
            producer.begin_transaction()?;
            common::enqueue(
                &producer,
                BaseRecord::to("ledger")
                    .key("k")
                    .payload(b"debit".as_slice()),
            )?;
            producer.flush(Duration::from_secs(30))?;
            Ok(producer)
        })
        .await??
    };
    let open = broker
        .transaction("tx-1")
        .ok_or_else(|| anyhow::anyhow!("no transaction"))?;
    assert_eq!(open.state, "Ongoing");
    assert_eq!(open.partitions, [("ledger".to_string(), 0)]);
    assert!(open.producer_id >= 0);
    let ledger = broker.partition_offsets("ledger", 0)?;
    assert_eq!((ledger.last_stable_offset, ledger.high_watermark), (0, 1));
    tokio::task::spawn_blocking(move || producer.commit_transaction(Duration::from_secs(30)))
        .await??;
    let committed = broker
        .transaction("tx-1")
        .ok_or_else(|| anyhow::anyhow!("no transaction"))?;
    assert_eq!(committed.state, "CompleteCommit");
    assert!(committed.partitions.is_empty());
    let ledger = broker.records("ledger", 0)?;
    assert_eq!(ledger.len(), 1, "the commit marker is left out");
    assert!(ledger[0].transactional);
    assert_eq!(ledger[0].producer_id, open.producer_id);
    let after = broker.partition_offsets("ledger", 0)?;
    assert_eq!((after.last_stable_offset, after.high_watermark), (2, 2));
    broker.shutdown().await;
    Ok(())
}
