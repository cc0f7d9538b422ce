//! The transaction coordinator's writes: InitProducerId, AddPartitionsToTxn/AddOffsetsToTxn,
//! EndTxn, the abort of timed-out transactions, and the replay of `__transaction_state` at
//! start-up with the completion of transactions a crash left prepared.

use josefine_storage::TopicPartition;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use josefine_storage::batch::ControlType;
use josefine_storage::{AppendOrigin, StorageError};
use kafka_protocol::error::ResponseError;
use tokio_util::sync::CancellationToken;

use super::records::{self, StoredTransaction, TransactionState};
use super::{
    ProducerIdAndEpoch, TransactionCoordinator, TransactionMetadata, TRANSACTION_STATE_TOPIC,
};
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::writer::WriteOp;
use crate::metadata::topics::LogEvent;

/// A transactional id marked busy; dropping it (at the end of the flow, or if the flow's task
/// is dropped) makes the id available again.
struct Busy {
    coordinator: Arc<TransactionCoordinator>,
    transactional_id: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.coordinator.lock().busy.remove(&self.transactional_id);
    }
}

/// The first wait before markers that failed are written again; it doubles on each failure.
const MARKER_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts at a transaction's markers.
const MARKER_RETRY_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What ending a transaction came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    /// Every marker and the Complete state are written.
    Completed,
    /// The Prepare state is written; a background task retries what failed.
    Retrying,
}

/// Runs a flow as a task of its own: it completes (and its id stops being busy) even when
/// the request that started it is dropped.
async fn spawn_flow<T: Send + 'static>(
    flow: impl Future<Output = Result<T, ResponseError>> + Send + 'static,
) -> Result<T, ResponseError> {
    tokio::spawn(flow)
        .await
        .unwrap_or(Err(ResponseError::UnknownServerError))
}

impl TransactionCoordinator {
    /// Marks `transactional_id` busy. Call with the lock held, after checking it is not.
    fn mark_busy(
        self: &Arc<Self>,
        inner: &mut super::Transactions,
        transactional_id: &str,
    ) -> Busy {
        inner.busy.insert(transactional_id.to_string());
        Busy {
            coordinator: Arc::clone(self),
            transactional_id: transactional_id.to_string(),
        }
    }

    /// Every transactional id without writes in flight whose state matches `wanted`, copied
    /// and marked busy (under the lock, released before return) for a background pass:
    /// recovery of prepared transactions, timeout aborts.
    fn take_idle(
        self: &Arc<Self>,
        wanted: impl Fn(&TransactionMetadata) -> bool,
    ) -> Vec<(TransactionMetadata, Busy)> {
        let mut inner = self.lock();
        let ids: Vec<String> = inner
            .by_id
            .values()
            .filter(|t| wanted(t) && !inner.busy.contains(&t.transactional_id))
            .map(|t| t.transactional_id.clone())
            .collect();
        ids.iter()
            .filter_map(|id| {
                let txn = inner.by_id.get(id).cloned()?;
                Some((txn, self.mark_busy(&mut inner, id)))
            })
            .collect()
    }

    /// Writes a transactional id's state to its partition of `__transaction_state`: ordered
    /// on the partition's writer, appended on the blocking pool, no lock held.
    ///
    /// Errors: NOT_COORDINATOR when the append fails (the client looks the coordinator up
    /// again and retries), COORDINATOR_NOT_AVAILABLE when the topic cannot be created.
    async fn write(&self, txn: &TransactionMetadata) -> Result<(), ResponseError> {
        let key = records::key(&txn.transactional_id);
        let value = records::value(&txn.stored());
        let batch = josefine_storage::batch::build_batch(&[(
            self.clock.now_ms(),
            Some(&key),
            Some(&value),
        )]);
        let op = WriteOp::Batch {
            batch,
            origin: AppendOrigin::Client,
        };
        self.writer
            .write(
                self.writer.partition_for(&txn.transactional_id),
                op,
                |result| result.map_err(|err| err.response_error()),
            )
            .wait()
            .await
            .unwrap_or(Err(ResponseError::NotCoordinator))
    }

    /// Writes the tombstone of `transactional_id` to its partition of `__transaction_state`.
    ///
    /// Errors: those of [`TransactionCoordinator::write`].
    async fn write_tombstone(&self, transactional_id: &str) -> Result<(), ResponseError> {
        let key = records::key(transactional_id);
        let batch =
            josefine_storage::batch::build_batch(&[(self.clock.now_ms(), Some(&key), None)]);
        let op = WriteOp::Batch {
            batch,
            origin: AppendOrigin::Client,
        };
        self.writer
            .write(self.writer.partition_for(transactional_id), op, |result| {
                result.map_err(|err| err.response_error())
            })
            .wait()
            .await
            .unwrap_or(Err(ResponseError::NotCoordinator))
    }

    /// Removes every transactional id without an open transaction (Empty, CompleteCommit,
    /// CompleteAbort) and without writes in flight whose last change is
    /// `transactional.id.expiration.ms` or more old: its `__transaction_state` entry is
    /// tombstoned, then it is forgotten (Kafka's
    /// `TransactionStateManager.removeExpiredTransactionalIds`). Its producer starts afresh
    /// with a new producer id at its next InitProducerId. Returns how many went.
    pub async fn remove_expired_transactional_ids(self: &Arc<Self>) -> usize {
        let now = self.clock.now_ms();
        let expiration_ms =
            i64::try_from(self.config.transactional_id_expiration.as_millis()).unwrap_or(i64::MAX);
        let expired = self.take_idle(|t| {
            matches!(
                t.state,
                TransactionState::Empty
                    | TransactionState::CompleteCommit
                    | TransactionState::CompleteAbort
            ) && now.saturating_sub(t.last_update_ms) >= expiration_ms
        });
        let mut removed = 0;
        for (txn, _busy) in expired {
            match self.write_tombstone(&txn.transactional_id).await {
                Ok(()) => {
                    let mut inner = self.lock();
                    inner.by_id.remove(&txn.transactional_id);
                    if inner.by_producer.get(&txn.producer_id) == Some(&txn.transactional_id) {
                        inner.by_producer.remove(&txn.producer_id);
                    }
                    removed += 1;
                    tracing::info!(
                        transactional_id = txn.transactional_id,
                        producer_id = txn.producer_id,
                        "removed an expired transactional id"
                    );
                }
                Err(err) => tracing::warn!(
                    transactional_id = txn.transactional_id,
                    ?err,
                    "cannot remove an expired transactional id"
                ),
            }
        }
        removed
    }

    /// Makes `txn`, just written, the transactional id's state in memory.
    fn apply(&self, txn: &TransactionMetadata, replaced_producer_id: Option<i64>) {
        let mut inner = self.lock();
        if let Some(old) = replaced_producer_id {
            inner.by_producer.remove(&old);
        }
        inner
            .by_producer
            .insert(txn.producer_id, txn.transactional_id.clone());
        inner
            .by_id
            .insert(txn.transactional_id.clone(), txn.clone());
    }

    async fn allocate_producer_id(&self) -> Result<i64, ResponseError> {
        self.producer_ids.allocate().await.map_err(|err| {
            tracing::error!(%err, "cannot persist the producer id block");
            ResponseError::KafkaStorageError
        })
    }

    /// Replays `__transaction_state` (if it exists), the last record per transactional id
    /// winning. Records that do not decode are skipped with a warning. Transactions left in
    /// a Prepare state are completed by [`TransactionCoordinator::complete_prepared`].
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
        // A producer id in the log is never handed out again, whatever the block file says.
        let highest = stored
            .values()
            .flatten()
            .map(|s| s.producer_id)
            .max()
            .unwrap_or(-1);
        self.producer_ids.raise_above(highest);
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
            inner.by_producer.insert(txn.producer_id, id.clone());
            inner.by_id.insert(id, txn);
        }
        tracing::info!(
            transactional_ids = inner.by_id.len(),
            "loaded {TRANSACTION_STATE_TOPIC}"
        );
    }

    /// Completes every transaction left in a Prepare state (by a crash): writes its markers
    /// (again) and its Complete state. Failures are logged; the next start tries again.
    pub async fn complete_prepared(self: &Arc<Self>) {
        let prepared = self.take_idle(|t| {
            matches!(
                t.state,
                TransactionState::PrepareCommit | TransactionState::PrepareAbort
            )
        });
        if !prepared.is_empty() {
            tracing::info!(
                completing = prepared.len(),
                "completing prepared transactions"
            );
        }
        for (mut txn, busy) in prepared {
            let commit = txn.state == TransactionState::PrepareCommit;
            let mut busy = Some(busy);
            if let Err(err) = self
                .write_markers_and_complete(&mut txn, commit, &mut busy)
                .await
            {
                tracing::error!(
                    transactional_id = txn.transactional_id,
                    ?err,
                    "cannot complete a prepared transaction"
                );
            }
        }
    }

    /// InitProducerId for a transactional id: a new producer id (epoch 0) for a new id;
    /// otherwise the next epoch, which fences every older producer of the id, after aborting
    /// the transaction it left open. With `expected` (v3+, KIP-360) a producer that still
    /// knows its id and epoch bumps its own epoch; any other id or epoch is fenced.
    ///
    /// Errors: INVALID_REQUEST (empty id), INVALID_TRANSACTION_TIMEOUT (not in 1 ms to
    /// `transaction.max.timeout.ms`), PRODUCER_FENCED / INVALID_PRODUCER_EPOCH,
    /// CONCURRENT_TRANSACTIONS while the id has writes in flight, NOT_COORDINATOR and
    /// COORDINATOR_NOT_AVAILABLE when the state cannot be written, KAFKA_STORAGE_ERROR when no
    /// producer id can be allocated.
    pub async fn init_producer_id(
        self: &Arc<Self>,
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
        let (current, busy) = {
            let mut inner = self.lock();
            if inner.busy.contains(transactional_id) {
                return Err(ResponseError::ConcurrentTransactions);
            }
            let current = inner.by_id.get(transactional_id).cloned();
            (current, self.mark_busy(&mut inner, transactional_id))
        };
        let this = Arc::clone(self);
        let id = transactional_id.to_string();
        spawn_flow(async move {
            this.init_flow(&id, current, timeout_ms, expected, fenced, busy)
                .await
        })
        .await
    }

    async fn init_flow(
        self: &Arc<Self>,
        transactional_id: &str,
        current: Option<TransactionMetadata>,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        fenced: ResponseError,
        busy: Busy,
    ) -> Result<ProducerIdAndEpoch, ResponseError> {
        let mut busy = Some(busy);
        let now = self.clock.now_ms();
        let Some(mut txn) = current else {
            let producer_id = self.allocate_producer_id().await?;
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
            self.write(&txn).await?;
            self.apply(&txn, None);
            return Ok(ProducerIdAndEpoch {
                producer_id,
                producer_epoch: 0,
            });
        };
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
                // Each state is in memory once written: whatever the bump below does, the
                // fence stands.
                let completion = self
                    .write_markers_and_complete(&mut txn, false, &mut busy)
                    .await?;
                if completion == Completion::Retrying {
                    // The abort completes in the background; the producer retries meanwhile.
                    return Err(ResponseError::ConcurrentTransactions);
                }
            }
            _ => {}
        }
        let mut replaced_producer_id = None;
        if bump && txn.producer_epoch >= i16::MAX - 1 {
            // Epoch exhausted: a new producer id, as Kafka does.
            let producer_id = self.allocate_producer_id().await?;
            replaced_producer_id = Some(txn.producer_id);
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
        self.write(&txn).await?;
        self.apply(&txn, replaced_producer_id);
        Ok(ProducerIdAndEpoch {
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
        })
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: adds partitions to the producer's transaction,
    /// opening it (Ongoing) if needed. Answers once the new state is written.
    ///
    /// Errors: INVALID_PRODUCER_ID_MAPPING, `fenced` for another epoch,
    /// CONCURRENT_TRANSACTIONS while the previous transaction completes (or another request
    /// of the id writes), NOT_COORDINATOR when the state cannot be written.
    pub async fn add_partitions(
        self: &Arc<Self>,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[TopicPartition],
        fenced: ResponseError,
    ) -> Result<(), ResponseError> {
        let (txn, busy) = {
            let mut inner = self.lock();
            let current = Self::validate(&inner, transactional_id, producer, fenced)?;
            if inner.busy.contains(transactional_id) {
                return Err(ResponseError::ConcurrentTransactions);
            }
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
            (txn, self.mark_busy(&mut inner, transactional_id))
        };
        let this = Arc::clone(self);
        spawn_flow(async move {
            let _busy = busy;
            this.write(&txn).await?;
            this.apply(&txn, None);
            Ok(())
        })
        .await
    }

    /// EndTxn: commits or aborts the producer's open transaction, answering once its markers
    /// and its Complete state are written. A retry of an end that completed is answered
    /// again.
    ///
    /// Errors: INVALID_PRODUCER_ID_MAPPING, `fenced`, INVALID_TXN_STATE (nothing open, or the
    /// other outcome completed), CONCURRENT_TRANSACTIONS, NOT_COORDINATOR.
    pub async fn end_transaction(
        self: &Arc<Self>,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        commit: bool,
        fenced: ResponseError,
    ) -> Result<(), ResponseError> {
        let (mut txn, busy) = {
            let mut inner = self.lock();
            let current = Self::validate(&inner, transactional_id, producer, fenced)?;
            if inner.busy.contains(transactional_id) {
                return Err(ResponseError::ConcurrentTransactions);
            }
            match (current.state, commit) {
                (TransactionState::Ongoing, _) => {}
                (TransactionState::CompleteCommit, true)
                | (TransactionState::CompleteAbort, false) => return Ok(()),
                (TransactionState::PrepareCommit, true)
                | (TransactionState::PrepareAbort, false) => {
                    return Err(ResponseError::ConcurrentTransactions)
                }
                (TransactionState::PrepareEpochFence, _) => return Err(fenced),
                _ => return Err(ResponseError::InvalidTxnState),
            }
            let txn = current.clone();
            (txn, self.mark_busy(&mut inner, transactional_id))
        };
        let this = Arc::clone(self);
        spawn_flow(async move {
            // The outcome is decided once the Prepare state is written: the answer does not
            // wait for markers being retried (Kafka answers EndTxn after the Prepare state).
            let mut busy = Some(busy);
            this.write_markers_and_complete(&mut txn, commit, &mut busy)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Prepare, markers, complete: the end of a transaction. `txn` is updated in place and
    /// each state is applied to memory once written.
    ///
    /// The transaction completes (CompleteCommit|CompleteAbort written) only after every
    /// marker is in its partition's log, as Kafka's `TransactionMarkerChannelManager` has it:
    /// when a marker or the Complete state cannot be written (a full disk, EIO), the id stays
    /// in its Prepare state and busy (its producer gets CONCURRENT_TRANSACTIONS) while a
    /// background task retries the markers still missing, with backoff, until they are
    /// written or the broker stops (the next start completes the transaction then).
    /// `busy` moves to that task: [`Completion::Retrying`].
    ///
    /// Errors: those of writing the Prepare state; the id is left as it was.
    async fn write_markers_and_complete(
        self: &Arc<Self>,
        txn: &mut TransactionMetadata,
        commit: bool,
        busy: &mut Option<Busy>,
    ) -> Result<Completion, ResponseError> {
        txn.state = if commit {
            TransactionState::PrepareCommit
        } else {
            TransactionState::PrepareAbort
        };
        txn.last_update_ms = self.clock.now_ms();
        self.write(txn).await?;
        self.apply(txn, None);
        let mut pending: Vec<TopicPartition> = txn.partitions.iter().cloned().collect();
        if self.try_complete(txn, commit, &mut pending).await {
            return Ok(Completion::Completed);
        }
        tracing::warn!(
            transactional_id = txn.transactional_id,
            producer_id = txn.producer_id,
            markers_pending = pending.len(),
            "cannot complete a transaction yet; retrying its markers"
        );
        let this = Arc::clone(self);
        let mut retried = txn.clone();
        let busy = busy.take();
        tokio::spawn(async move {
            let _busy = busy;
            this.retry_until_complete(&mut retried, commit, pending)
                .await;
        });
        Ok(Completion::Retrying)
    }

    /// Retries the markers in `pending`, then the Complete state, with exponential backoff
    /// ([`MARKER_RETRY_BACKOFF`] doubling up to [`MARKER_RETRY_BACKOFF_MAX`]) until the
    /// transaction completes or the coordinator stops.
    async fn retry_until_complete(
        &self,
        txn: &mut TransactionMetadata,
        commit: bool,
        mut pending: Vec<TopicPartition>,
    ) {
        let mut backoff = MARKER_RETRY_BACKOFF;
        let mut attempts = 1u32;
        loop {
            tokio::select! {
                () = self.stopping.cancelled() => {
                    tracing::info!(
                        transactional_id = txn.transactional_id,
                        "stopping with a prepared transaction; the next start completes it"
                    );
                    return;
                }
                () = tokio::time::sleep(backoff) => {}
            }
            attempts += 1;
            if self.try_complete(txn, commit, &mut pending).await {
                tracing::info!(
                    transactional_id = txn.transactional_id,
                    attempts,
                    "completed a transaction after retrying its markers"
                );
                return;
            }
            backoff = (backoff * 2).min(MARKER_RETRY_BACKOFF_MAX);
        }
    }

    /// One attempt at the end of a prepared transaction: the markers still `pending` (those
    /// written or no longer needed leave it), then, once none is left, the Complete state.
    /// Returns whether the transaction completed.
    async fn try_complete(
        &self,
        txn: &mut TransactionMetadata,
        commit: bool,
        pending: &mut Vec<TopicPartition>,
    ) -> bool {
        self.write_markers(txn, commit, pending).await;
        if !pending.is_empty() {
            return false;
        }
        let mut completed = txn.clone();
        completed.state = if commit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        completed.partitions.clear();
        completed.last_update_ms = self.clock.now_ms();
        match self.write(&completed).await {
            Ok(()) => {
                self.apply(&completed, None);
                *txn = completed;
                true
            }
            Err(err) => {
                tracing::error!(
                    transactional_id = txn.transactional_id,
                    ?err,
                    "cannot write a transaction's Complete state"
                );
                false
            }
        }
    }

    /// Writes the transaction's markers (COMMIT when `commit`, else ABORT) into the partitions
    /// of `pending`: user partitions on the blocking pool, `__consumer_offsets` partitions
    /// through the group coordinator. `pending` keeps those that failed and may succeed on a
    /// retry. A partition deleted meanwhile needs no marker, and one that refuses the epoch as
    /// older than its producer's can never take it (Kafka drops both).
    async fn write_markers(
        &self,
        txn: &TransactionMetadata,
        commit: bool,
        pending: &mut Vec<TopicPartition>,
    ) {
        let control = if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        let (producer_id, producer_epoch) = (txn.producer_id, txn.producer_epoch);
        let mut user_partitions = Vec::new();
        let mut offsets_partitions = Vec::new();
        for topic_partition in pending.drain(..) {
            if topic_partition.topic == OFFSETS_TOPIC {
                offsets_partitions.push(topic_partition.partition);
            } else if let Some(partition) = self
                .topics
                .get(&topic_partition.topic)
                .and_then(|t| t.partition(topic_partition.partition))
            {
                user_partitions.push((topic_partition, partition));
            }
        }
        if !user_partitions.is_empty() {
            let attempted: Vec<TopicPartition> =
                user_partitions.iter().map(|(tp, _)| tp.clone()).collect();
            let failed = tokio::task::spawn_blocking(move || {
                let mut failed = Vec::new();
                for (topic_partition, partition) in user_partitions {
                    match partition.append_marker(producer_id, producer_epoch, control) {
                        Ok(_) => {}
                        Err(StorageError::Producer(err)) => {
                            tracing::warn!(%topic_partition, producer_id, %err, "dropping a transaction marker the partition refuses");
                        }
                        Err(err) => {
                            tracing::error!(%topic_partition, producer_id, %err, "cannot write a transaction marker");
                            failed.push(topic_partition);
                        }
                    }
                }
                failed
            })
            .await;
            pending.extend(failed.unwrap_or(attempted));
        }
        for partition in offsets_partitions {
            // The group coordinator orders the marker after the transaction's offset commits.
            match self
                .groups
                .complete_transaction(partition, producer_id, producer_epoch, commit)
                .await
            {
                Ok(()) => {}
                Err(ResponseError::InvalidProducerEpoch) => {
                    tracing::warn!(
                        topic = OFFSETS_TOPIC,
                        partition,
                        producer_id,
                        "dropping a transaction marker the partition refuses"
                    );
                }
                Err(err) => {
                    tracing::error!(
                        topic = OFFSETS_TOPIC,
                        partition,
                        producer_id,
                        ?err,
                        "cannot write a transaction marker"
                    );
                    pending.push(TopicPartition::new(OFFSETS_TOPIC, partition));
                }
            }
        }
    }

    /// Aborts every open transaction older than its timeout, bumping the producer's epoch so
    /// that its producer is fenced, as Kafka does. Ids with writes in flight are left for the
    /// next pass. Returns how many were aborted.
    pub async fn abort_timed_out(self: &Arc<Self>) -> usize {
        let now = self.clock.now_ms();
        let expired = self.take_idle(|t| {
            t.state == TransactionState::Ongoing
                && t.start_ms.saturating_add(i64::from(t.timeout_ms)) < now
        });
        let count = expired.len();
        for (mut txn, busy) in expired {
            let mut busy = Some(busy);
            if txn.producer_epoch < i16::MAX - 1 {
                txn.last_producer_epoch = txn.producer_epoch;
                txn.producer_epoch += 1;
            }
            tracing::info!(
                transactional_id = txn.transactional_id,
                producer_id = txn.producer_id,
                timeout_ms = txn.timeout_ms,
                "aborting a transaction past its timeout"
            );
            if let Err(err) = self
                .write_markers_and_complete(&mut txn, false, &mut busy)
                .await
            {
                tracing::error!(
                    transactional_id = txn.transactional_id,
                    ?err,
                    "cannot abort a timed-out transaction"
                );
            }
        }
        count
    }
}

/// Removes expired transactional ids every
/// `transaction.remove.expired.transaction.cleanup.interval.ms` until `cancel`.
pub(crate) async fn run_expiry(
    coordinator: Arc<TransactionCoordinator>,
    cancel: CancellationToken,
) {
    let interval = coordinator
        .config
        .remove_expired_transaction_cleanup_interval;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        coordinator.remove_expired_transactional_ids().await;
    }
}

/// Aborts timed-out transactions every
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms` until `cancel`.
pub(crate) async fn run_timers(
    coordinator: Arc<TransactionCoordinator>,
    cancel: CancellationToken,
) {
    let interval = coordinator.config.abort_timed_out_interval;
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                // Marker retries stop with the broker; the next start completes them.
                coordinator.stopping.cancel();
                return;
            }
            () = tokio::time::sleep(interval) => {}
        }
        coordinator.abort_timed_out().await;
    }
}
