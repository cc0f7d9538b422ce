//! The transaction coordinator: transactional ids, their producer ids and epochs, and the
//! transactions they open and end.
//!
//! Every transactional id's state is appended to the compacted internal topic
//! `__transaction_state` (Kafka's record schemas, [`records`]) before a request is answered, and
//! replayed from it at start-up ([`TransactionCoordinator::load`]). Ending a transaction walks
//! Kafka's states: Ongoing -> PrepareCommit|PrepareAbort (written) -> markers written into
//! every partition of the transaction, `__consumer_offsets` included -> CompleteCommit|
//! CompleteAbort (written). On a single node the markers are written in the EndTxn request
//! itself, so the producer's next transaction never waits for them. A transaction found in a
//! Prepare state at start-up gets its markers (again) and completes; an Ongoing one is aborted
//! when its timeout passes, like any other.
//!
//! All state lives behind one mutex held for short, synchronous sections (the appends are
//! copies into the page cache). The lock order is transactions, then groups.
//!
//! References: KIP-98 (transactions), KIP-360 (epoch bumps for known producers), KIP-447
//! (producer scalability for exactly-once), KIP-588 (PRODUCER_FENCED), KIP-664 (describe and
//! list transactions, describe producers), KIP-890 part 1 (verification of transactional
//! produce); Kafka's `TransactionCoordinator` and `TransactionMetadata`.

pub mod records;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use josefine_storage::batch::ControlType;
use kafka_protocol::error::ResponseError;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
pub use crate::config::TransactionConfig;
use crate::coordinator::group::records::partition_for;
use crate::coordinator::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::coordinator::producer_ids::ProducerIdAllocator;
use crate::metadata::topics::{LogEvent, Topic, TopicRegistry};
pub use records::{StoredTransaction, TransactionState};

/// The internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// One transactional id's state in memory: Kafka's `TransactionMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Its current producer id.
    pub producer_id: i64,
    /// The producer id before the last one (after epoch exhaustion), -1 if none.
    pub last_producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump, -1 if none (KIP-360 retries).
    pub last_producer_epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// The state.
    pub state: TransactionState,
    /// Partitions of the open transaction, (topic, partition).
    pub partitions: BTreeSet<(String, i32)>,
    /// Start of the open transaction, ms since the epoch; -1 when none.
    pub start_ms: i64,
    /// Last change, ms since the epoch.
    pub last_update_ms: i64,
}

impl TransactionMetadata {
    fn stored(&self) -> StoredTransaction {
        StoredTransaction {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }
}

/// The versions from which each API answers PRODUCER_FENCED rather than
/// INVALID_PRODUCER_EPOCH (KIP-588).
#[derive(Debug, Clone, Copy)]
pub struct FencedSince(pub i16);

impl FencedSince {
    /// The fencing error for a request of `version`.
    pub fn error(self, version: i16) -> ResponseError {
        if version >= self.0 {
            ResponseError::ProducerFenced
        } else {
            ResponseError::InvalidProducerEpoch
        }
    }
}

#[derive(Debug, Default)]
struct Transactions {
    by_id: HashMap<String, TransactionMetadata>,
    by_producer: HashMap<i64, String>,
}

/// What ListTransactions reports of one transactional id.
#[derive(Debug, Clone)]
pub struct ListedTransaction {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its state.
    pub state: TransactionState,
}

/// The transaction coordinator of this broker.
#[derive(Debug)]
pub struct TransactionCoordinator {
    /// Settings.
    pub config: TransactionConfig,
    topics: Arc<TopicRegistry>,
    groups: Arc<GroupCoordinator>,
    producer_ids: Arc<ProducerIdAllocator>,
    clock: Clock,
    inner: Mutex<Transactions>,
}

/// A producer id and epoch as a request names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
}

impl TransactionCoordinator {
    /// A coordinator without transactional ids. It writes `__transaction_state` and the
    /// markers of the partitions in `topics`, completes transactional offset commits in
    /// `groups`, takes producer ids from `producer_ids` and reads time from `clock`.
    pub fn new(
        config: TransactionConfig,
        topics: Arc<TopicRegistry>,
        groups: Arc<GroupCoordinator>,
        producer_ids: Arc<ProducerIdAllocator>,
        clock: Clock,
    ) -> Self {
        Self {
            config,
            topics,
            groups,
            producer_ids,
            clock,
            inner: Mutex::new(Transactions::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Transactions> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `__transaction_state` topic, created (compacted,
    /// `transaction.state.log.num.partitions` partitions) on first use, as Kafka does on the
    /// first FindCoordinator for a transactional id.
    ///
    /// Errors: COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub fn state_topic(&self) -> Result<Arc<Topic>, ResponseError> {
        self.topics
            .internal_topic(
                TRANSACTION_STATE_TOPIC,
                self.config.state_log_partitions,
                self.config.state_log_segment_bytes,
            )
            .map_err(|err| {
                tracing::error!(%err, "cannot create {TRANSACTION_STATE_TOPIC}");
                ResponseError::CoordinatorNotAvailable
            })
    }

    /// Appends a transactional id's state to its partition of `__transaction_state`.
    ///
    /// Errors: NOT_COORDINATOR when the append fails (the client looks the coordinator up
    /// again and retries), COORDINATOR_NOT_AVAILABLE when the topic cannot be created.
    fn write(&self, txn: &TransactionMetadata) -> Result<(), ResponseError> {
        let topic = self.state_topic()?;
        let index = partition_for(&txn.transactional_id, topic.partition_count());
        let partition = topic
            .partition(index)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let key = records::key(&txn.transactional_id);
        let value = records::value(&txn.stored());
        let batch = josefine_storage::batch::build_batch(&[(
            self.clock.now_ms(),
            Some(&key),
            Some(&value),
        )]);
        partition.append(&batch).map(|_| ()).map_err(|err| {
            tracing::error!(transactional_id = %txn.transactional_id, %err, "cannot write to {TRANSACTION_STATE_TOPIC}");
            ResponseError::NotCoordinator
        })
    }

    /// Replays `__transaction_state` (if it exists), the last record per transactional id
    /// winning, then completes every transaction left in a Prepare state by writing its
    /// markers. Records that do not decode are skipped with a warning.
    pub fn load(&self) {
        let Some(topic) = self.topics.get(TRANSACTION_STATE_TOPIC) else {
            return;
        };
        let mut stored: HashMap<String, Option<StoredTransaction>> = HashMap::new();
        for partition in topic.partitions() {
            partition.replay(|event| {
                let LogEvent::Record { key, value, .. } = event else {
                    return;
                };
                match records::decode_key(key) {
                    Ok(id) => match value.map(records::decode_value).transpose() {
                        Ok(value) => {
                            stored.insert(id, value);
                        }
                        Err(err) => {
                            tracing::warn!(%err, id, "skipping an undecodable transaction record")
                        }
                    },
                    Err(err) => {
                        tracing::warn!(%err, "skipping an undecodable key in {TRANSACTION_STATE_TOPIC}")
                    }
                }
            });
        }
        let mut pending = Vec::new();
        {
            let mut inner = self.lock();
            for (id, value) in stored {
                let Some(s) = value else { continue };
                let txn = TransactionMetadata {
                    transactional_id: id.clone(),
                    producer_id: s.producer_id,
                    last_producer_id: -1,
                    producer_epoch: s.producer_epoch,
                    last_producer_epoch: -1,
                    timeout_ms: s.timeout_ms,
                    state: s.state,
                    partitions: s.partitions,
                    start_ms: s.start_ms,
                    last_update_ms: s.last_update_ms,
                };
                if matches!(
                    txn.state,
                    TransactionState::PrepareCommit | TransactionState::PrepareAbort
                ) {
                    pending.push(id.clone());
                }
                inner.by_producer.insert(txn.producer_id, id.clone());
                inner.by_id.insert(id, txn);
            }
            tracing::info!(
                transactional_ids = inner.by_id.len(),
                completing = pending.len(),
                "loaded {TRANSACTION_STATE_TOPIC}"
            );
        }
        for id in pending {
            let mut inner = self.lock();
            let Some(mut txn) = inner.by_id.get(&id).cloned() else {
                continue;
            };
            let commit = txn.state == TransactionState::PrepareCommit;
            if let Err(err) = self.write_markers_and_complete(&mut txn, commit) {
                tracing::error!(
                    transactional_id = id,
                    ?err,
                    "cannot complete a prepared transaction"
                );
            }
            inner.by_id.insert(id, txn);
        }
    }

    /// Checks a request's producer id and epoch against the transactional id's state.
    fn validate<'a>(
        inner: &'a Transactions,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        fenced: ResponseError,
    ) -> Result<&'a TransactionMetadata, ResponseError> {
        let txn = inner
            .by_id
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if txn.producer_id != producer.producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if txn.producer_epoch != producer.producer_epoch {
            return Err(fenced);
        }
        Ok(txn)
    }

    /// InitProducerId for a transactional id: a new producer id (epoch 0) for a new id;
    /// otherwise the next epoch, which fences every older producer of the id, after aborting
    /// the transaction it left open. With `expected` (v3+, KIP-360) a producer that still
    /// knows its id and epoch bumps its own epoch; any other id or epoch is fenced.
    ///
    /// Errors: INVALID_REQUEST (empty id), INVALID_TRANSACTION_TIMEOUT (not in 1 ms to
    /// `transaction.max.timeout.ms`), PRODUCER_FENCED / INVALID_PRODUCER_EPOCH, NOT_COORDINATOR
    /// and COORDINATOR_NOT_AVAILABLE when the state cannot be written, KAFKA_STORAGE_ERROR when
    /// no producer id can be allocated.
    pub fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        fenced: ResponseError,
    ) -> Result<ProducerIdAndEpoch, ResponseError> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0
            || u128::from(timeout_ms.unsigned_abs()) > self.config.max_timeout.as_millis()
        {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let allocate = || {
            self.producer_ids.allocate().map_err(|err| {
                tracing::error!(%err, "cannot persist the producer id block");
                ResponseError::KafkaStorageError
            })
        };
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let Some(current) = inner.by_id.get(transactional_id).cloned() else {
            let producer_id = allocate()?;
            let txn = TransactionMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id,
                last_producer_id: -1,
                producer_epoch: 0,
                last_producer_epoch: -1,
                timeout_ms,
                state: TransactionState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now,
            };
            self.write(&txn)?;
            inner
                .by_producer
                .insert(producer_id, transactional_id.to_string());
            inner.by_id.insert(transactional_id.to_string(), txn);
            return Ok(ProducerIdAndEpoch {
                producer_id,
                producer_epoch: 0,
            });
        };
        let mut txn = current;
        // KIP-360: a producer that names its id and epoch bumps its own epoch; one whose epoch
        // the coordinator already bumped (a timed-out transaction) or that missed our answer
        // to its bump gets the current epoch; anyone else is fenced.
        let mut bump = true;
        if let Some(expected) = expected {
            let same_id = expected.producer_id == txn.producer_id;
            let current_epoch = same_id && expected.producer_epoch == txn.producer_epoch;
            let bumped_by_coordinator = same_id
                && expected.producer_epoch == txn.last_producer_epoch
                && txn.state != TransactionState::Ongoing;
            if expected.producer_id == txn.last_producer_id && txn.state == TransactionState::Empty
            {
                return Ok(ProducerIdAndEpoch {
                    producer_id: txn.producer_id,
                    producer_epoch: txn.producer_epoch,
                });
            }
            if !current_epoch && !bumped_by_coordinator {
                return Err(fenced);
            }
            bump = current_epoch;
        }
        match txn.state {
            TransactionState::PrepareCommit
            | TransactionState::PrepareAbort
            | TransactionState::PrepareEpochFence => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            TransactionState::Ongoing => {
                // Fence the producer of the open transaction and abort it with the new epoch.
                txn.state = TransactionState::PrepareEpochFence;
                if txn.producer_epoch < i16::MAX - 1 {
                    txn.last_producer_epoch = txn.producer_epoch;
                    txn.producer_epoch += 1;
                }
                tracing::info!(
                    transactional_id,
                    producer_id = txn.producer_id,
                    producer_epoch = txn.producer_epoch,
                    "fencing a producer and aborting its open transaction"
                );
                let aborted = self.write_markers_and_complete(&mut txn, false);
                // Whatever the bump below does, the fence stands.
                inner
                    .by_id
                    .insert(transactional_id.to_string(), txn.clone());
                aborted?;
            }
            _ => {}
        }
        if bump && txn.producer_epoch >= i16::MAX - 1 {
            // Epoch exhausted: a new producer id, as Kafka does.
            let producer_id = allocate()?;
            inner.by_producer.remove(&txn.producer_id);
            txn.last_producer_id = txn.producer_id;
            txn.producer_id = producer_id;
            txn.last_producer_epoch = -1;
            txn.producer_epoch = 0;
        } else if bump {
            txn.last_producer_epoch = txn.producer_epoch;
            txn.producer_epoch += 1;
        }
        txn.state = TransactionState::Empty;
        txn.timeout_ms = timeout_ms;
        txn.partitions.clear();
        txn.start_ms = -1;
        txn.last_update_ms = now;
        self.write(&txn)?;
        inner
            .by_producer
            .insert(txn.producer_id, transactional_id.to_string());
        let answer = ProducerIdAndEpoch {
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
        };
        inner.by_id.insert(transactional_id.to_string(), txn);
        Ok(answer)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: adds partitions to the producer's transaction,
    /// opening it (Ongoing) if needed.
    ///
    /// Errors: INVALID_PRODUCER_ID_MAPPING, `fenced` for another epoch,
    /// CONCURRENT_TRANSACTIONS while the previous transaction completes, NOT_COORDINATOR when
    /// the state cannot be written.
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[(String, i32)],
        fenced: ResponseError,
    ) -> Result<(), ResponseError> {
        let mut inner = self.lock();
        let current = Self::validate(&inner, transactional_id, producer, fenced)?;
        match current.state {
            TransactionState::PrepareCommit
            | TransactionState::PrepareAbort
            | TransactionState::PrepareEpochFence => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            TransactionState::Dead => return Err(ResponseError::InvalidTxnState),
            _ => {}
        }
        if current.state == TransactionState::Ongoing
            && partitions.iter().all(|p| current.partitions.contains(p))
        {
            return Ok(());
        }
        let mut txn = current.clone();
        let now = self.clock.now_ms();
        if txn.state != TransactionState::Ongoing {
            txn.start_ms = now;
            txn.partitions.clear();
        }
        txn.state = TransactionState::Ongoing;
        txn.partitions.extend(partitions.iter().cloned());
        txn.last_update_ms = now;
        self.write(&txn)?;
        inner.by_id.insert(transactional_id.to_string(), txn);
        Ok(())
    }

    /// AddPartitionsToTxn with `verify_only` (v4+, KIP-890): whether each partition is in the
    /// producer's open transaction; INVALID_TXN_STATE for those that are not.
    ///
    /// Errors (for all partitions): those of the producer id and epoch check.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[(String, i32)],
        fenced: ResponseError,
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let inner = self.lock();
        let txn = Self::validate(&inner, transactional_id, producer, fenced)?;
        Ok(partitions
            .iter()
            .map(|p| {
                (txn.state != TransactionState::Ongoing || !txn.partitions.contains(p))
                    .then_some(ResponseError::InvalidTxnState)
            })
            .collect())
    }

    /// Checks a transactional batch of a Produce request (KIP-890 part 1): its producer must
    /// have an open transaction with this partition in it and the current epoch.
    ///
    /// Errors: INVALID_PRODUCER_EPOCH for an older epoch, INVALID_TXN_STATE when the partition
    /// is not in an open transaction of the producer.
    pub fn verify_produce(
        &self,
        producer: ProducerIdAndEpoch,
        topic: &str,
        partition: i32,
    ) -> Result<(), ResponseError> {
        let inner = self.lock();
        let txn = inner
            .by_producer
            .get(&producer.producer_id)
            .and_then(|id| inner.by_id.get(id))
            .filter(|t| t.producer_id == producer.producer_id)
            .ok_or(ResponseError::InvalidTxnState)?;
        if producer.producer_epoch < txn.producer_epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if txn.state != TransactionState::Ongoing
            || producer.producer_epoch != txn.producer_epoch
            || !txn.partitions.contains(&(topic.to_string(), partition))
        {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
    }

    /// Checks a TxnOffsetCommit's producer against its transactional id: the id and epoch
    /// must be current and the group's offsets partition added (AddOffsetsToTxn).
    ///
    /// Errors: INVALID_PRODUCER_ID_MAPPING, `fenced`, INVALID_TXN_STATE.
    pub fn verify_offsets(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        offsets_partition: i32,
        fenced: ResponseError,
    ) -> Result<(), ResponseError> {
        let inner = self.lock();
        let txn = Self::validate(&inner, transactional_id, producer, fenced)?;
        if txn.state != TransactionState::Ongoing
            || !txn
                .partitions
                .contains(&(OFFSETS_TOPIC.to_string(), offsets_partition))
        {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
    }

    /// EndTxn: commits or aborts the producer's open transaction. A retry of an end that
    /// completed is answered again.
    ///
    /// Errors: INVALID_PRODUCER_ID_MAPPING, `fenced`, INVALID_TXN_STATE (nothing open, or the
    /// other outcome completed), CONCURRENT_TRANSACTIONS, NOT_COORDINATOR.
    pub fn end_transaction(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        commit: bool,
        fenced: ResponseError,
    ) -> Result<(), ResponseError> {
        let mut inner = self.lock();
        let current = Self::validate(&inner, transactional_id, producer, fenced)?;
        match (current.state, commit) {
            (TransactionState::Ongoing, _) => {}
            (TransactionState::CompleteCommit, true) | (TransactionState::CompleteAbort, false) => {
                return Ok(())
            }
            (TransactionState::PrepareCommit, true) | (TransactionState::PrepareAbort, false) => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            (TransactionState::PrepareEpochFence, _) => return Err(fenced),
            _ => return Err(ResponseError::InvalidTxnState),
        }
        let mut txn = current.clone();
        let result = self.write_markers_and_complete(&mut txn, commit);
        inner.by_id.insert(transactional_id.to_string(), txn);
        result
    }

    /// Prepare, markers, complete: the end of a transaction. `txn` is updated in place; on an
    /// error it is left in the Prepare state, which the next start-up completes.
    fn write_markers_and_complete(
        &self,
        txn: &mut TransactionMetadata,
        commit: bool,
    ) -> Result<(), ResponseError> {
        let now = self.clock.now_ms();
        txn.state = if commit {
            TransactionState::PrepareCommit
        } else {
            TransactionState::PrepareAbort
        };
        txn.last_update_ms = now;
        self.write(txn)?;
        let control = if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        let mut offsets_touched = false;
        for (topic, index) in &txn.partitions {
            let Some(partition) = self.topics.get(topic).and_then(|t| t.partition(*index)) else {
                continue; // deleted meanwhile: nothing left to mark
            };
            offsets_touched |= topic == OFFSETS_TOPIC;
            if let Err(err) = partition.append_marker(txn.producer_id, txn.producer_epoch, control)
            {
                tracing::error!(topic, partition = index, producer_id = txn.producer_id, %err, "cannot write a transaction marker");
            }
        }
        if offsets_touched {
            self.groups.complete_transaction(txn.producer_id, commit);
        }
        txn.state = if commit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        txn.partitions.clear();
        txn.last_update_ms = self.clock.now_ms();
        self.write(txn)
    }

    /// Aborts every open transaction older than its timeout, bumping the producer's epoch so
    /// that its producer is fenced, as Kafka does. Returns how many were aborted.
    pub fn abort_timed_out(&self) -> usize {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let expired: Vec<String> = inner
            .by_id
            .values()
            .filter(|t| {
                t.state == TransactionState::Ongoing
                    && t.start_ms.saturating_add(i64::from(t.timeout_ms)) < now
            })
            .map(|t| t.transactional_id.clone())
            .collect();
        for id in &expired {
            let Some(mut txn) = inner.by_id.get(id).cloned() else {
                continue;
            };
            if txn.producer_epoch < i16::MAX - 1 {
                txn.last_producer_epoch = txn.producer_epoch;
                txn.producer_epoch += 1;
            }
            tracing::info!(
                transactional_id = id,
                producer_id = txn.producer_id,
                timeout_ms = txn.timeout_ms,
                "aborting a transaction past its timeout"
            );
            if let Err(err) = self.write_markers_and_complete(&mut txn, false) {
                tracing::error!(
                    transactional_id = id,
                    ?err,
                    "cannot abort a timed-out transaction"
                );
            }
            inner.by_id.insert(id.clone(), txn);
        }
        expired.len()
    }

    /// DescribeTransactions: each id's state, or `None` when unknown.
    pub fn describe(&self, ids: &[String]) -> Vec<Option<TransactionMetadata>> {
        let inner = self.lock();
        ids.iter().map(|id| inner.by_id.get(id).cloned()).collect()
    }

    /// ListTransactions: transactional ids in one of `states` (all when empty), of one of
    /// `producer_ids` (all when empty), and open for longer than `min_duration_ms` (all when
    /// negative; KIP-994).
    pub fn list(
        &self,
        states: &[TransactionState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Vec<ListedTransaction> {
        let now = self.clock.now_ms();
        let inner = self.lock();
        let mut listed: Vec<ListedTransaction> = inner
            .by_id
            .values()
            .filter(|t| states.is_empty() || states.contains(&t.state))
            .filter(|t| producer_ids.is_empty() || producer_ids.contains(&t.producer_id))
            .filter(|t| {
                min_duration_ms < 0
                    || (t.state == TransactionState::Ongoing
                        && now.saturating_sub(t.start_ms) > min_duration_ms)
            })
            .map(|t| ListedTransaction {
                transactional_id: t.transactional_id.clone(),
                producer_id: t.producer_id,
                state: t.state,
            })
            .collect();
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        listed
    }
}

/// Aborts timed-out transactions every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms` until `cancel`.
pub async fn run_timers(coordinator: Arc<TransactionCoordinator>, cancel: CancellationToken) {
    let interval = coordinator.config.abort_timed_out_interval;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let coordinator = Arc::clone(&coordinator);
        let _ = tokio::task::spawn_blocking(move || coordinator.abort_timed_out()).await;
    }
}
