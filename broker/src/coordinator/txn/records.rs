//! The records of `__transaction_state`, in Apache Kafka's key and value schemas, so that
//! Kafka's tools (`kafka-dump-log --transaction-log-decoder`) read our data and we read theirs.
//!
//! Key (version 0): the transactional id. Value (version 0, or the flexible version 1 that
//! Kafka may write): producer id (i64), producer epoch (i16), transaction timeout ms (i32),
//! state (i8), partitions (nullable array of topic and int32 partition ids), last update
//! timestamp ms (i64), start timestamp ms (i64). A null value is a tombstone. Written at
//! version 0.
//!
//! References: Kafka's `TransactionLogKey.json`, `TransactionLogValue.json`
//! (transaction-coordinator module); KIP-98.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use josefine_storage::TopicPartition;
use std::collections::BTreeSet;

use bytes::BufMut;

use crate::coordinator::group::records::{put_string, reader, RecordError};

/// Kafka's transaction states with their ids in the log (`TransactionState.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionState {
    /// No transaction open (after InitProducerId).
    Empty = 0,
    /// Partitions were added: a transaction is open.
    Ongoing = 1,
    /// EndTxn(commit) was accepted; markers are being written.
    PrepareCommit = 2,
    /// EndTxn(abort), a timeout or a fence was accepted; markers are being written.
    PrepareAbort = 3,
    /// The markers of a commit are written.
    CompleteCommit = 4,
    /// The markers of an abort are written.
    CompleteAbort = 5,
    /// The transactional id expired.
    Dead = 6,
    /// A new producer with the same transactional id is fencing the old one; its open
    /// transaction is about to be aborted.
    PrepareEpochFence = 7,
}

impl TransactionState {
    /// Every state, in id order.
    pub const ALL: [Self; 8] = [
        Self::Empty,
        Self::Ongoing,
        Self::PrepareCommit,
        Self::PrepareAbort,
        Self::CompleteCommit,
        Self::CompleteAbort,
        Self::Dead,
        Self::PrepareEpochFence,
    ];

    /// The name DescribeTransactions and ListTransactions use (Kafka's `TransactionState`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::PrepareCommit => "PrepareCommit",
            Self::PrepareAbort => "PrepareAbort",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
            Self::Dead => "Dead",
            Self::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name`, as ListTransactions filters spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn from_id(id: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as i8 == id)
    }
}

/// A transactional id's state as stored: Kafka's `TransactionLogValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransaction {
    /// Current producer id.
    pub producer_id: i64,
    /// Current producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// The state.
    pub state: TransactionState,
    /// Partitions in the open transaction, (topic, partition).
    pub partitions: BTreeSet<TopicPartition>,
    /// Last change, ms since the epoch.
    pub last_update_ms: i64,
    /// Start of the open transaction, ms since the epoch; -1 when none.
    pub start_ms: i64,
}

/// The key of `transactional_id`'s record (version 0).
pub fn key(transactional_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.put_i16(0);
    put_string(&mut out, transactional_id);
    out
}

/// The value of a transaction's record (version 0).
pub fn value(txn: &StoredTransaction) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.put_i16(0);
    out.put_i64(txn.producer_id);
    out.put_i16(txn.producer_epoch);
    out.put_i32(txn.timeout_ms);
    out.put_i8(txn.state as i8);
    let mut by_topic: Vec<(&str, Vec<i32>)> = Vec::new();
    for TopicPartition { topic, partition } in &txn.partitions {
        match by_topic.last_mut() {
            Some((t, partitions)) if t == topic => partitions.push(*partition),
            _ => by_topic.push((topic, vec![*partition])),
        }
    }
    out.put_i32(by_topic.len() as i32);
    for (topic, partitions) in by_topic {
        put_string(&mut out, topic);
        out.put_i32(partitions.len() as i32);
        for p in partitions {
            out.put_i32(p);
        }
    }
    out.put_i64(txn.last_update_ms);
    out.put_i64(txn.start_ms);
    out
}

/// Decodes a key: the transactional id. Errors describe the damage.
pub fn decode_key(bytes: &[u8]) -> Result<String, RecordError> {
    let (mut r, version) = reader(bytes)?;
    if version != 0 {
        return Err(RecordError::UnknownVersion {
            record: "transaction log key",
            version,
        });
    }
    r.string()
}

/// Decodes a value of version 0 or 1. Errors describe the damage.
pub fn decode_value(bytes: &[u8]) -> Result<StoredTransaction, RecordError> {
    let (mut r, version) = reader(bytes)?;
    if !(0..=1).contains(&version) {
        return Err(RecordError::UnknownVersion {
            record: "transaction log value",
            version,
        });
    }
    r.flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let [state] = r.take(1)? else {
        return Err(RecordError::MissingState);
    };
    let state = TransactionState::from_id(*state as i8).ok_or(RecordError::UnknownState(*state))?;
    let mut partitions = BTreeSet::new();
    let topics = r.length(true)?;
    for _ in 0..topics.max(0) {
        let topic = r.string()?;
        let count = r.length(true)?;
        for _ in 0..count.max(0) {
            partitions.insert(TopicPartition::new(topic.clone(), r.i32()?));
        }
        r.tagged_fields()?;
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    r.tagged_fields()?;
    Ok(StoredTransaction {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_round_trip(
            producer_id in any::<i64>(),
            producer_epoch in any::<i16>(),
            timeout_ms in any::<i32>(),
            state in 0usize..8,
            partitions in proptest::collection::btree_set(
                ("[a-z._-]{1,20}", 0i32..100).prop_map(|(t, p)| TopicPartition::new(t, p)),
                0..10,
            ),
            last_update_ms in any::<i64>(),
            start_ms in any::<i64>(),
            id in "[a-zA-Z0-9._-]{1,40}",
        ) {
            let txn = StoredTransaction {
                producer_id,
                producer_epoch,
                timeout_ms,
                state: TransactionState::ALL[state],
                partitions,
                last_update_ms,
                start_ms,
            };
            prop_assert_eq!(decode_value(&value(&txn)).unwrap(), txn);
            prop_assert_eq!(decode_key(&key(&id)).unwrap(), id);
        }

        #[test]
        fn damaged_records_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_value(&bytes);
            let _ = decode_key(&bytes);
        }
    }

    #[test]
    fn state_names_are_kafkas() {
        assert_eq!(
            TransactionState::from_name("PrepareEpochFence"),
            Some(TransactionState::PrepareEpochFence)
        );
        assert_eq!(TransactionState::from_name("Committing"), None);
        assert_eq!(TransactionState::CompleteAbort as i8, 5);
    }
}
