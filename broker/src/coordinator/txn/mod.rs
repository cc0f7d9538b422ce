//! The transaction coordinator: transactional ids, their producer ids and epochs, and the
//! transactions they open and end.
//!
//! Every transactional id's state is appended to the compacted internal topic
//! `__transaction_state` (Kafka's record schemas, [`records`]) before a request is answered, and
//! replayed from it at start-up ([`TransactionCoordinator::load`]). Ending a transaction walks
//! Kafka's states: Ongoing -> PrepareCommit|PrepareAbort (written) -> markers written into
//! every partition of the transaction, `__consumer_offsets` included -> CompleteCommit|
//! CompleteAbort (written). On a single node the markers are written in the EndTxn request
//! itself, so the producer's next transaction normally never waits for them. A marker that
//! cannot be written (a full disk, EIO) keeps the transaction prepared and its id busy
//! (CONCURRENT_TRANSACTIONS) while a background task retries it with backoff: the transaction
//! completes only once every marker is in its log. A transaction found in a
//! Prepare state at start-up gets its markers (again) and completes; an Ongoing one is aborted
//! when its timeout passes, like any other.
//!
//! All state lives behind one mutex held for short, in-memory sections. A request that writes
//! marks its transactional id busy (Kafka's `pendingState`: other requests for the id get
//! CONCURRENT_TRANSACTIONS meanwhile), releases the mutex, awaits its writes (ordered on the
//! writer of the id's partition, `crate::coordinator::writer`; markers of user partitions
//! on the blocking pool; markers of `__consumer_offsets` through the group coordinator), and
//! applies each state to memory once it is written: memory never runs ahead of the log. The
//! flows run as tasks of their own, so that a client that goes away cannot leave an id busy.
//!
//! References: KIP-98 (transactions), KIP-360 (epoch bumps for known producers), KIP-447
//! (producer scalability for exactly-once), KIP-588 (PRODUCER_FENCED), KIP-664 (describe and
//! list transactions, describe producers), KIP-890 part 1 (verification of transactional
//! produce); Kafka's `TransactionCoordinator` and `TransactionMetadata`.

pub mod records;

mod requests;
#[cfg(test)]
mod tests;

use josefine_storage::TopicPartition;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::error::ResponseError;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
pub(crate) use crate::config::TransactionConfig;
use crate::coordinator::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::coordinator::producer_ids::ProducerIdAllocator;
use crate::coordinator::writer::{InternalTopic, InternalTopicWriter};
use crate::metadata::topics::{Topic, TopicRegistry};
pub(crate) use records::{StoredTransaction, TransactionState};
pub(crate) use requests::{run_expiry, run_timers};

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
    pub partitions: BTreeSet<TopicPartition>,
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
    /// Transactional ids with writes in flight (Kafka's `pendingState`).
    busy: HashSet<String>,
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
    writer: InternalTopicWriter,
    /// Cancelled when the broker stops: background marker retries end.
    stopping: CancellationToken,
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
        let writer = InternalTopicWriter::new(
            Arc::clone(&topics),
            InternalTopic {
                name: TRANSACTION_STATE_TOPIC,
                partitions: config.state_log_partitions,
                segment_bytes: config.state_log_segment_bytes,
            },
        );
        Self {
            config,
            topics,
            groups,
            producer_ids,
            clock,
            inner: Mutex::new(Transactions::default()),
            writer,
            stopping: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Transactions> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `__transaction_state` topic, created (compacted,
    /// `transaction.state.log.num.partitions` partitions) on the blocking pool on first use, as
    /// Kafka does on the first FindCoordinator for a transactional id.
    ///
    /// Errors: COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub async fn state_topic(&self) -> Result<Arc<Topic>, ResponseError> {
        self.writer
            .topic()
            .await
            .map_err(|err| err.response_error())
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

    /// AddPartitionsToTxn with `verify_only` (v4+, KIP-890): whether each partition is in the
    /// producer's open transaction; INVALID_TXN_STATE for those that are not.
    ///
    /// Errors (for all partitions): those of the producer id and epoch check.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[TopicPartition],
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
            || !txn
                .partitions
                .contains(&TopicPartition::new(topic, partition))
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
                .contains(&TopicPartition::new(OFFSETS_TOPIC, offsets_partition))
        {
            return Err(ResponseError::InvalidTxnState);
        }
        Ok(())
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
