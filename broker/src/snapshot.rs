//! Snapshots for test assertions: a partition's records and offsets, a consumer group's state
//! and committed offsets, a transaction's state, read from the running broker without a
//! client (issue #18). Each call copies what it returns: later changes do not show.

use std::collections::BTreeMap;

use bytes::Bytes;
use josefine_storage::batch::BatchHeader;
use kafka_protocol::records::{Compression, RecordBatchDecoder};

use crate::state::BrokerState;

/// Why a snapshot could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// No topic of that name.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The topic has no such partition.
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// The log could not be read or a stored batch did not decode (a bug, or a damaged log).
    #[error("cannot read {topic}-{partition}: {reason}")]
    Read {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What failed.
        reason: String,
    },
}

/// One record as stored in a partition (a data record: transaction markers are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset.
    pub offset: i64,
    /// Its timestamp, ms since the epoch (create or log-append time, per the topic).
    pub timestamp: i64,
    /// The key.
    pub key: Option<Bytes>,
    /// The value.
    pub value: Option<Bytes>,
    /// The headers, in order (a key that repeats keeps its last value: kafka-protocol's
    /// record decoder keeps one value per key).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The producer id of its batch, -1 for a producer without one.
    pub producer_id: i64,
    /// Whether it was written in a transaction (committed, aborted or still open).
    pub transactional: bool,
}

/// A partition's offsets (Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The first offset still in the log.
    pub log_start_offset: i64,
    /// The offset after the last record consumers may read (read_uncommitted).
    pub high_watermark: i64,
    /// The offset before the first record of an open transaction (read_committed reads up to
    /// it).
    pub last_stable_offset: i64,
    /// The offset the next record will get.
    pub log_end_offset: i64,
}

/// A consumer group as the coordinator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group id.
    pub group_id: String,
    /// Kafka's state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`,
    /// `Dead` for the classic protocol; `Empty`, `Assigning`, `Reconciling`, `Stable` for
    /// KIP-848's.
    pub state: String,
    /// `classic` or `consumer`.
    pub group_type: String,
    /// The protocol type (`consumer` for Kafka consumers; empty for a group that only
    /// commits offsets).
    pub protocol_type: String,
    /// Member ids of a classic group (empty for KIP-848 groups: see
    /// ConsumerGroupDescribe).
    pub members: Vec<String>,
    /// Committed offsets by (topic, partition): the next offset the group reads.
    pub offsets: BTreeMap<(String, i32), i64>,
}

/// A transactional id as the transaction coordinator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSnapshot {
    /// The transactional id.
    pub transactional_id: String,
    /// Kafka's state name (`Empty`, `Ongoing`, `PrepareCommit`, `CompleteCommit`, ...).
    pub state: String,
    /// The current producer id.
    pub producer_id: i64,
    /// The current epoch.
    pub producer_epoch: i16,
    /// The transaction timeout, ms.
    pub timeout_ms: i32,
    /// The partitions of the open transaction, (topic, partition).
    pub partitions: Vec<(String, i32)>,
}

fn read_error(topic: &str, partition: i32, reason: impl ToString) -> SnapshotError {
    SnapshotError::Read {
        topic: topic.to_string(),
        partition,
        reason: reason.to_string(),
    }
}

fn partition(
    state: &BrokerState,
    topic: &str,
    index: i32,
) -> Result<std::sync::Arc<crate::metadata::topics::Partition>, SnapshotError> {
    let found = state
        .topics
        .get(topic)
        .ok_or_else(|| SnapshotError::UnknownTopic(topic.to_string()))?;
    found
        .partition(index)
        .ok_or_else(|| SnapshotError::UnknownPartition {
            topic: topic.to_string(),
            partition: index,
        })
}

/// The offsets of `topic`-`partition`.
///
/// Errors: `UnknownTopic`, `UnknownPartition`.
pub fn partition_offsets(
    state: &BrokerState,
    topic: &str,
    index: i32,
) -> Result<PartitionOffsets, SnapshotError> {
    let log = &partition(state, topic, index)?.log;
    Ok(PartitionOffsets {
        log_start_offset: log.log_start_offset(),
        high_watermark: log.high_watermark(),
        last_stable_offset: log.last_stable_offset(),
        log_end_offset: log.log_end_offset(),
    })
}

/// Every data record of `topic`-`partition` from the log start offset up to the high
/// watermark, in offset order (records of open or aborted transactions included, marked
/// `transactional`; transaction markers left out). Compressed batches are decompressed
/// with the broker's own codecs and their bounds; a log-append-time batch gives its records
/// the time the broker stamped.
///
/// Errors: `UnknownTopic`, `UnknownPartition`, `Read`.
pub fn records(
    state: &BrokerState,
    topic: &str,
    index: i32,
) -> Result<Vec<StoredRecord>, SnapshotError> {
    let log = &partition(state, topic, index)?.log;
    let end = log.high_watermark();
    let mut offset = log.log_start_offset();
    let mut out = Vec::new();
    while offset < end {
        let mut bytes = match log.read(offset, 1 << 20, true) {
            Ok(bytes) => bytes,
            // Retention or DeleteRecords moved the log start meanwhile: go on from there.
            Err(josefine_storage::StorageError::OffsetOutOfRange {
                log_start_offset, ..
            }) if log_start_offset > offset => {
                offset = log_start_offset;
                continue;
            }
            Err(e) => return Err(read_error(topic, index, e)),
        };
        if bytes.is_empty() {
            break;
        }
        let before = offset;
        while let Some(header) = BatchHeader::parse(&bytes) {
            let size = header.total_size();
            if size > bytes.len() {
                break;
            }
            // Next read starts after this batch, also when compaction emptied it.
            offset = offset.max(header.last_offset() + 1);
            let (control, stamped) = (header.is_control(), header.is_log_append_time());
            let max_timestamp = header.max_timestamp();
            let batch = bytes.split_to(size);
            if control {
                continue;
            }
            let whole = batch.clone();
            let decompress = move |_: &mut Bytes, _: Compression| -> anyhow::Result<Bytes> {
                let section = josefine_storage::batch::records_section(&whole)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok(Bytes::from(section.into_owned()))
            };
            let mut buf = batch;
            let set =
                RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(decompress))
                    .map_err(|e| read_error(topic, index, e))?;
            for record in set.records {
                if record.offset < before || record.offset >= end {
                    continue;
                }
                out.push(StoredRecord {
                    offset: record.offset,
                    timestamp: if stamped {
                        max_timestamp
                    } else {
                        record.timestamp
                    },
                    key: record.key,
                    value: record.value,
                    headers: record
                        .headers
                        .into_iter()
                        .map(|(key, value)| (key.to_string(), value))
                        .collect(),
                    producer_id: record.producer_id,
                    transactional: record.transactional,
                });
            }
        }
        if offset <= before {
            return Err(read_error(
                topic,
                index,
                format!("no whole batch at offset {before}"),
            ));
        }
    }
    Ok(out)
}

/// Group `group_id` with its committed offsets; `None` when the coordinator does not know it.
pub fn group(state: &BrokerState, group_id: &str) -> Option<GroupSnapshot> {
    let listed = state
        .groups
        .list_groups(&[], &[])
        .into_iter()
        .find(|g| g.group_id == group_id)?;
    let members = state
        .groups
        .describe_groups(&[group_id.to_string()], 5)
        .into_iter()
        .next()
        .map(|d| d.members.into_iter().map(|m| m.member_id).collect())
        .unwrap_or_default();
    let offsets = state
        .groups
        .fetch_offsets(group_id, None, None, false)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(topic, partitions)| {
            partitions
                .into_iter()
                .filter_map(move |(partition, fetched)| {
                    let committed = fetched.ok().flatten()?;
                    Some(((topic.clone(), partition), committed.offset))
                })
        })
        .collect();
    Some(GroupSnapshot {
        group_id: listed.group_id,
        state: listed.state.to_string(),
        group_type: listed.group_type.to_string(),
        protocol_type: listed.protocol_type,
        members,
        offsets,
    })
}

/// Transactional id `transactional_id`; `None` when the coordinator does not know it.
pub fn transaction(state: &BrokerState, transactional_id: &str) -> Option<TransactionSnapshot> {
    let found = state
        .transactions
        .describe(&[transactional_id.to_string()])
        .into_iter()
        .next()
        .flatten()?;
    Some(TransactionSnapshot {
        transactional_id: found.transactional_id,
        state: found.state.name().to_string(),
        producer_id: found.producer_id,
        producer_epoch: found.producer_epoch,
        timeout_ms: found.timeout_ms,
        partitions: found
            .partitions
            .into_iter()
            .map(|tp| (tp.topic, tp.partition))
            .collect(),
    })
}
