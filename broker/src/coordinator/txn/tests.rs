//! The transaction coordinator's lifecycles: marker retries and the expiry of idle
//! transactional ids, under tokio's paused time.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use josefine_storage::batch::{attributes, build_batch_as, BatchProducer};
use josefine_storage::{AppendOrigin, TopicPartition};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::*;
use crate::clock::Clock;
use crate::config::GroupConfig;
use crate::metadata::topics::TopicRegistry;

const FENCED: ResponseError = ResponseError::ProducerFenced;

struct Fixture {
    _dir: tempfile::TempDir,
    topics: Arc<TopicRegistry>,
    transactions: Arc<TransactionCoordinator>,
}

fn fixture(properties: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let properties: BTreeMap<String, String> = properties
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([
            ("offsets.topic.num.partitions".to_string(), "1".to_string()),
            (
                "transaction.state.log.num.partitions".to_string(),
                "1".to_string(),
            ),
        ])
        .collect();
    let log_dir = Arc::new(josefine_storage::LogDir::open(dir.path()).unwrap());
    let topics = Arc::new(TopicRegistry::open(log_dir, BTreeMap::new(), true).unwrap());
    topics.create("orders", 1, BTreeMap::new()).unwrap();
    let clock = Clock::following_tokio(1_700_000_000_000);
    let groups = Arc::new(GroupCoordinator::new(
        GroupConfig::from_properties(&properties).unwrap(),
        Arc::clone(&topics),
        clock,
    ));
    let producer_ids = Arc::new(ProducerIdAllocator::open(dir.path(), &topics));
    let transactions = Arc::new(TransactionCoordinator::new(
        TransactionConfig::from_properties(&properties).unwrap(),
        Arc::clone(&topics),
        groups,
        producer_ids,
        clock,
    ));
    Fixture {
        _dir: dir,
        topics,
        transactions,
    }
}

fn orders() -> TopicPartition {
    TopicPartition::new("orders", 0)
}

fn state_of(transactions: &TransactionCoordinator, id: &str) -> Option<TransactionState> {
    transactions.describe(&[id.to_string()])[0]
        .as_ref()
        .map(|t| t.state)
}

/// Opens a transaction of `id` with one record in `orders-0`.
async fn open_transaction(f: &Fixture, id: &str) -> ProducerIdAndEpoch {
    let producer = f
        .transactions
        .init_producer_id(id, 60_000, None, FENCED)
        .await
        .unwrap();
    f.transactions
        .add_partitions(id, producer, &[orders()], FENCED)
        .await
        .unwrap();
    let batch = build_batch_as(
        &BatchProducer {
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            base_sequence: 0,
            attributes: attributes::TRANSACTIONAL,
        },
        &[(1, None, Some(b"in a transaction".as_slice()))],
    );
    let partition = f.topics.get("orders").unwrap().partition(0).unwrap();
    partition.append_from(&batch, AppendOrigin::Client).unwrap();
    producer
}

#[tokio::test(start_paused = true)]
async fn a_failed_abort_marker_is_retried_and_the_transaction_completes_only_after_it() {
    let f = fixture(&[]);
    let producer = open_transaction(&f, "tx").await;
    let log = &f.topics.get("orders").unwrap().partition(0).unwrap();
    let log = &log.log;
    assert_eq!(log.last_stable_offset(), 0);
    // The first attempt and the two next retries fail (EIO); the fourth attempt writes.
    log.inject_marker_failures(3);
    // The outcome is decided once prepared: EndTxn answers.
    f.transactions
        .end_transaction("tx", producer, false, FENCED)
        .await
        .unwrap();
    assert_eq!(
        state_of(&f.transactions, "tx"),
        Some(TransactionState::PrepareAbort)
    );
    // No marker yet: the aborted record stays below the last stable offset's reach.
    assert_eq!((log.last_stable_offset(), log.log_end_offset()), (0, 1));
    // The producer waits for the completion.
    assert!(matches!(
        f.transactions
            .add_partitions("tx", producer, &[orders()], FENCED)
            .await,
        Err(ResponseError::ConcurrentTransactions)
    ));
    assert!(matches!(
        f.transactions
            .init_producer_id("tx", 60_000, Some(producer), FENCED)
            .await,
        Err(ResponseError::ConcurrentTransactions)
    ));
    // Retries after 100 ms and 300 ms fail; the one at 700 ms writes.
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(
        state_of(&f.transactions, "tx"),
        Some(TransactionState::PrepareAbort)
    );
    assert_eq!(log.log_end_offset(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        state_of(&f.transactions, "tx"),
        Some(TransactionState::CompleteAbort)
    );
    assert_eq!((log.last_stable_offset(), log.log_end_offset()), (2, 2));
    assert_eq!(log.aborted_transactions(0, 2).len(), 1);
    let bumped = f
        .transactions
        .init_producer_id("tx", 60_000, Some(producer), FENCED)
        .await
        .unwrap();
    assert_eq!(bumped.producer_epoch, producer.producer_epoch + 1);
}

#[tokio::test(start_paused = true)]
async fn a_marker_retried_at_shutdown_is_completed_at_the_next_start() {
    let f = fixture(&[]);
    let producer = open_transaction(&f, "tx").await;
    let log = &f.topics.get("orders").unwrap().partition(0).unwrap().log;
    log.inject_marker_failures(u32::MAX);
    f.transactions
        .end_transaction("tx", producer, true, FENCED)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        state_of(&f.transactions, "tx"),
        Some(TransactionState::PrepareCommit)
    );
    assert_eq!(log.log_end_offset(), 1);
    f.transactions.stopping.cancel();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(log.log_end_offset(), 1);
    log.inject_marker_failures(0);
    // What a start-up does with the id left prepared.
    f.transactions.complete_prepared().await;
    assert_eq!(
        state_of(&f.transactions, "tx"),
        Some(TransactionState::CompleteCommit)
    );
    assert_eq!((log.last_stable_offset(), log.log_end_offset()), (2, 2));
    assert!(log.aborted_transactions(0, 2).is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_transactional_ids_expire_but_not_open_transactions() {
    let f = fixture(&[("transactional.id.expiration.ms", "60000")]);
    let idle = f
        .transactions
        .init_producer_id("idle", 60_000, None, FENCED)
        .await
        .unwrap();
    open_transaction(&f, "open").await;
    tokio::time::advance(Duration::from_millis(59_999)).await;
    assert_eq!(f.transactions.remove_expired_transactional_ids().await, 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(f.transactions.remove_expired_transactional_ids().await, 1);
    assert_eq!(state_of(&f.transactions, "idle"), None);
    assert_eq!(
        state_of(&f.transactions, "open"),
        Some(TransactionState::Ongoing)
    );

    // The tombstone is in __transaction_state: a replay does not bring the id back.
    let reloaded = TransactionCoordinator::new(
        f.transactions.config.clone(),
        Arc::clone(&f.topics),
        Arc::clone(&f.transactions.groups),
        Arc::clone(&f.transactions.producer_ids),
        Clock::following_tokio(1_700_000_000_000),
    );
    reloaded.load();
    assert_eq!(state_of(&reloaded, "idle"), None);
    assert_eq!(state_of(&reloaded, "open"), Some(TransactionState::Ongoing));
    // The id starts afresh, with a new producer id.
    let again = f
        .transactions
        .init_producer_id("idle", 60_000, None, FENCED)
        .await
        .unwrap();
    assert_ne!(again.producer_id, idle.producer_id);
    assert_eq!(again.producer_epoch, 0);
}
