//! Producer state of one partition: the sequence numbers and epochs of idempotent producers,
//! and the transactions that are open or were aborted.
//!
//! Per producer id the state keeps its epoch, the coordinator epoch of its last marker, the
//! first offset of its open transaction and the metadata of its last five batches, against
//! which a retried batch is recognised as a duplicate. It is checked and updated under the
//! partition's append lock, and snapshotted in Kafka's `.snapshot` format beside the segments.
//!
//! References: KIP-98 (idempotent and transactional producers); KIP-360 (producer id
//! recovery: a producer whose state is gone may start at any sequence); Kafka's
//! `ProducerStateManager` and `ProducerAppendInfo`.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::batch::{be_i16, be_i32, be_i64, BatchHeader};

/// Batches remembered per producer for duplicate detection; the most a producer may have in
/// flight per partition (`max.in.flight.requests.per.connection` with idempotence).
pub const RETAINED_BATCHES: usize = 5;

/// What the state remembers of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence number of the batch's first record.
    pub first_sequence: i32,
    /// Sequence number of its last record.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub first_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// Its max timestamp, ms.
    pub timestamp: i64,
}

/// One producer id's state in a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer id.
    pub producer_id: i64,
    /// The latest epoch seen from it (batches or markers).
    pub producer_epoch: i16,
    /// Coordinator epoch of the last transaction marker; -1 before any.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction in this partition.
    pub current_txn_first_offset: Option<i64>,
    /// Max timestamp of its last batch or marker, ms; -1 before any.
    pub last_timestamp: i64,
    batches: VecDeque<BatchMetadata>,
}

impl ProducerEntry {
    fn new(producer_id: i64) -> Self {
        Self {
            producer_id,
            producer_epoch: -1,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
            last_timestamp: -1,
            batches: VecDeque::new(),
        }
    }

    /// Sequence number of the last record appended in the current epoch; -1 when none.
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_sequence)
    }

    /// The remembered batches, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &BatchMetadata> {
        self.batches.iter()
    }

    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.producer_epoch {
            self.batches.clear();
            self.producer_epoch = epoch;
        }
    }
}

/// A transaction that ended with an ABORT marker: fetches in read_committed skip its batches.
/// One 34-byte entry of Kafka's `.txnindex` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    /// The producer id.
    pub producer_id: i64,
    /// Offset of its first batch in the partition.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
    /// The last stable offset right after the marker.
    pub last_stable_offset: i64,
}

/// Bytes of one `.txnindex` entry: version (i16 = 0), producer id, first offset, last offset,
/// last stable offset.
pub const TXN_INDEX_ENTRY: usize = 34;

impl AbortedTransaction {
    /// The entry as Kafka's `.txnindex` stores it.
    pub fn encode(&self) -> [u8; TXN_INDEX_ENTRY] {
        let mut out = [0u8; TXN_INDEX_ENTRY];
        let fields = [
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        ];
        for (chunk, field) in out[2..].chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_be_bytes());
        }
        out
    }

    /// Decodes `.txnindex` bytes; a torn trailing entry is ignored.
    pub fn decode_all(bytes: &[u8]) -> Vec<Self> {
        bytes
            .chunks_exact(TXN_INDEX_ENTRY)
            .map(|e| Self {
                producer_id: be_i64(e, 2),
                first_offset: be_i64(e, 10),
                last_offset: be_i64(e, 18),
                last_stable_offset: be_i64(e, 26),
            })
            .collect()
    }
}

/// Why a batch is refused by the producer state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerStateError {
    /// The batch does not continue the producer's sequence (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("producer {producer_id}: out of order sequence number {found}, expected {expected} (epoch {epoch})")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// The batch's first sequence.
        found: i32,
        /// The sequence that would have continued.
        expected: i32,
    },
    /// The batch's epoch is older than the producer's (INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id}: epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// Producer id.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// The producer's latest epoch.
        current: i16,
    },
    /// The batch contradicts the producer's transaction: a non-transactional batch during an
    /// open transaction (INVALID_TXN_STATE).
    #[error("producer {producer_id}: {reason}")]
    InvalidTxnState {
        /// Producer id.
        producer_id: i64,
        /// What is wrong.
        reason: String,
    },
}

/// Who appends a batch: clients get their sequence numbers checked, coordinators (writing
/// transactional offset commits) do not, as in Kafka's `AppendOrigin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's Produce request.
    Client,
    /// The broker's own coordinators.
    Coordinator,
}

/// The outcome of checking a batch: append it, or acknowledge the batch it duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Append the batch.
    Append,
    /// A retry of this already appended batch: answer with its offsets, write nothing.
    Duplicate(BatchMetadata),
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

/// Checks a data batch of `entry`'s producer (Kafka's `ProducerAppendInfo.append` checks).
pub(crate) fn check_batch(
    entry: &ProducerEntry,
    header: &BatchHeader<'_>,
    origin: AppendOrigin,
) -> Result<Admission, ProducerStateError> {
    let producer_id = header.producer_id();
    let epoch = header.producer_epoch();
    if epoch < entry.producer_epoch {
        return Err(ProducerStateError::InvalidProducerEpoch {
            producer_id,
            epoch,
            current: entry.producer_epoch,
        });
    }
    if origin == AppendOrigin::Client {
        let first = header.base_sequence();
        let last = first.wrapping_add(header.last_offset_delta()) & i32::MAX;
        if epoch == entry.producer_epoch {
            if let Some(duplicate) = entry
                .batches
                .iter()
                .find(|b| b.first_sequence == first && b.last_sequence == last)
            {
                return Ok(Admission::Duplicate(*duplicate));
            }
            // KIP-360: a producer whose batches are gone (the entry holds only an epoch from a
            // marker) may continue at any sequence.
            if let Some(last_batch) = entry.batches.back() {
                let expected = next_sequence(last_batch.last_sequence);
                if first != expected {
                    return Err(ProducerStateError::OutOfOrderSequence {
                        producer_id,
                        epoch,
                        found: first,
                        expected,
                    });
                }
            }
        } else if first != 0 && entry.producer_epoch >= 0 {
            // A new epoch starts its sequence again at 0.
            return Err(ProducerStateError::OutOfOrderSequence {
                producer_id,
                epoch,
                found: first,
                expected: 0,
            });
        }
    }
    if !header.is_transactional() && entry.current_txn_first_offset.is_some() {
        return Err(ProducerStateError::InvalidTxnState {
            producer_id,
            reason: "a non-transactional batch while the producer's transaction is open".into(),
        });
    }
    Ok(Admission::Append)
}

/// Records a checked data batch, appended at `first_offset..=last_offset`.
pub(crate) fn record_batch(
    entry: &mut ProducerEntry,
    header: &BatchHeader<'_>,
    first_offset: i64,
    last_offset: i64,
) {
    entry.set_epoch(header.producer_epoch());
    let first = header.base_sequence();
    if first >= 0 {
        entry.batches.push_back(BatchMetadata {
            first_sequence: first,
            last_sequence: first.wrapping_add(header.last_offset_delta()) & i32::MAX,
            first_offset,
            last_offset,
            timestamp: header.max_timestamp(),
        });
        while entry.batches.len() > RETAINED_BATCHES {
            entry.batches.pop_front();
        }
    }
    entry.last_timestamp = header.max_timestamp();
    if header.is_transactional() && entry.current_txn_first_offset.is_none() {
        entry.current_txn_first_offset = Some(first_offset);
    }
}

/// Why a producer state snapshot (`<offset>.snapshot`) does not read back. Such a snapshot
/// is ignored with a warning and the state is rebuilt from an older one or the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Fewer than the 6 bytes of version and CRC.
    #[error("snapshot of {len} bytes is shorter than its header")]
    ShortHeader {
        /// The file's length.
        len: usize,
    },
    /// A format version other than 1.
    #[error("snapshot version {version}, only 1 is known")]
    UnknownVersion {
        /// The version field.
        version: i16,
    },
    /// The CRC32C at byte 2 does not match the rest of the file.
    #[error("snapshot CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The stored CRC.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The entry count (at byte 6) does not match the bytes of entries after it.
    #[error("{count} entries do not fit {bytes} bytes")]
    EntriesMismatch {
        /// The entry count field.
        count: i32,
        /// Bytes of entries.
        bytes: usize,
    },
}

/// Every producer of a partition and its open transactions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions by first offset.
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerState {
    /// The entry of `producer_id`, or a fresh one (epoch -1) for a producer not seen yet.
    pub(crate) fn entry_or_new(&self, producer_id: i64) -> ProducerEntry {
        self.producers
            .get(&producer_id)
            .cloned()
            .unwrap_or_else(|| ProducerEntry::new(producer_id))
    }

    /// Stores an entry updated by a completed append.
    pub(crate) fn put(&mut self, entry: ProducerEntry) {
        if let Some(old) = self.producers.get(&entry.producer_id) {
            if let Some(first) = old.current_txn_first_offset {
                self.ongoing.remove(&first);
            }
        }
        if let Some(first) = entry.current_txn_first_offset {
            self.ongoing.insert(first, entry.producer_id);
        }
        self.producers.insert(entry.producer_id, entry);
    }

    /// Applies a transaction marker of `producer_id` written at `marker_offset`; returns the
    /// first offset of the transaction it ends in this partition, if one was open.
    pub(crate) fn complete_transaction(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    ) -> Option<i64> {
        let mut entry = self.entry_or_new(producer_id);
        entry.set_epoch(producer_epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = timestamp;
        let first = entry.current_txn_first_offset.take();
        self.put(entry);
        first
    }

    /// Forgets every producer without an open transaction whose last batch or marker is
    /// `expiration_ms` or more older than `now_ms` (Kafka's
    /// `ProducerStateManager.removeExpiredProducers`, `producer.id.expiration.ms`). Returns
    /// how many went.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            entry.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(entry.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// The first offset of the earliest open transaction: the last stable offset, when any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The entry of `producer_id`.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer, by producer id.
    pub fn producers(&self) -> Vec<ProducerEntry> {
        let mut all: Vec<_> = self.producers.values().cloned().collect();
        all.sort_by_key(|e| e.producer_id);
        all
    }

    /// Kafka's producer snapshot (version 1): version i16, CRC32C u32 of the rest, then an
    /// int32-counted array of (producer id i64, epoch i16, last sequence i32, last offset i64,
    /// offset delta i32, timestamp i64, coordinator epoch i32, current txn first offset i64).
    ///
    /// Kafka writes one entry per producer, its last batch. This writes one per remembered
    /// batch, oldest first, so that duplicates of any of the last five are caught after a
    /// restart; Kafka's reader keeps the last entry per producer, which is Kafka's entry.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut count = 0i32;
        for entry in self.producers() {
            let mut push = |batch: Option<&BatchMetadata>| {
                count += 1;
                body.extend_from_slice(&entry.producer_id.to_be_bytes());
                body.extend_from_slice(&entry.producer_epoch.to_be_bytes());
                body.extend_from_slice(&batch.map_or(-1, |b| b.last_sequence).to_be_bytes());
                body.extend_from_slice(&batch.map_or(-1, |b| b.last_offset).to_be_bytes());
                let delta = batch.map_or(0, |b| (b.last_offset - b.first_offset) as i32);
                body.extend_from_slice(&delta.to_be_bytes());
                let timestamp = batch.map_or(entry.last_timestamp, |b| b.timestamp);
                body.extend_from_slice(&timestamp.to_be_bytes());
                body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
                body.extend_from_slice(&entry.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            };
            if entry.batches.is_empty() {
                push(None);
            }
            let last = entry.batches.len().saturating_sub(1);
            for (i, batch) in entry.batches.iter().enumerate() {
                // The last line is Kafka's whole entry: it carries the entry's timestamp.
                let timestamp = if i == last {
                    entry.last_timestamp
                } else {
                    batch.timestamp
                };
                push(Some(&BatchMetadata {
                    timestamp,
                    ..*batch
                }));
            }
        }
        let mut covered = count.to_be_bytes().to_vec();
        covered.extend(body);
        let mut out = Vec::with_capacity(6 + covered.len());
        out.extend_from_slice(&1i16.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&covered).to_be_bytes());
        out.extend(covered);
        out
    }

    /// Reads a snapshot written by [`ProducerState::encode_snapshot`] or by Kafka.
    ///
    /// Errors: a [`SnapshotError`]: short header, version other than 1, CRC mismatch, or
    /// entries that do not fill the file.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Self, SnapshotError> {
        const ENTRY: usize = 46;
        let covered = bytes
            .get(6..)
            .ok_or(SnapshotError::ShortHeader { len: bytes.len() })?;
        let version = be_i16(bytes, 0);
        if version != 1 {
            return Err(SnapshotError::UnknownVersion { version });
        }
        let stored = be_i32(bytes, 2) as u32;
        let computed = crc32c::crc32c(covered);
        if computed != stored {
            return Err(SnapshotError::CrcMismatch { stored, computed });
        }
        let count = be_i32(covered, 0);
        let entries = covered.get(4..).unwrap_or_default();
        if usize::try_from(count).map_or(true, |c| entries.len() != c.saturating_mul(ENTRY)) {
            return Err(SnapshotError::EntriesMismatch {
                count,
                bytes: entries.len(),
            });
        }
        let mut state = Self::default();
        for e in entries.chunks_exact(ENTRY) {
            let producer_id = be_i64(e, 0);
            let last_sequence = be_i32(e, 10);
            let last_offset = be_i64(e, 14);
            let delta = be_i32(e, 22);
            let txn_first = be_i64(e, 38);
            let mut entry = state.entry_or_new(producer_id);
            entry.producer_epoch = be_i16(e, 8);
            entry.last_timestamp = be_i64(e, 26);
            entry.coordinator_epoch = be_i32(e, 34);
            entry.current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
            if last_sequence >= 0 && last_offset >= 0 {
                entry.batches.push_back(BatchMetadata {
                    first_sequence: last_sequence.wrapping_sub(delta).max(0),
                    last_sequence,
                    first_offset: last_offset - i64::from(delta),
                    last_offset,
                    timestamp: entry.last_timestamp,
                });
                while entry.batches.len() > RETAINED_BATCHES {
                    entry.batches.pop_front();
                }
            } else {
                // As in Kafka, where each line replaces the producer's entry: no batches.
                entry.batches.clear();
            }
            state.put(entry);
        }
        Ok(state)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::batch::{build_batch_as, BatchProducer};
    use proptest::prelude::*;

    fn batch(producer_id: i64, epoch: i16, sequence: i32, records: usize, txn: bool) -> Vec<u8> {
        let values: Vec<_> = (0..records)
            .map(|_| (1_000, None, Some(&b"v"[..])))
            .collect();
        build_batch_as(
            &BatchProducer {
                producer_id,
                producer_epoch: epoch,
                base_sequence: sequence,
                attributes: if txn {
                    crate::batch::attributes::TRANSACTIONAL
                } else {
                    0
                },
            },
            &values,
        )
    }

    fn append(
        state: &mut ProducerState,
        bytes: &[u8],
        offset: i64,
    ) -> Result<Admission, ProducerStateError> {
        let header = BatchHeader::parse(bytes).unwrap();
        let mut entry = state.entry_or_new(header.producer_id());
        let admission = check_batch(&entry, &header, AppendOrigin::Client)?;
        if admission == Admission::Append {
            record_batch(
                &mut entry,
                &header,
                offset,
                offset + i64::from(header.last_offset_delta()),
            );
            state.put(entry);
        }
        Ok(admission)
    }

    #[test]
    fn duplicates_gaps_and_stale_epochs() {
        let mut state = ProducerState::default();
        assert_eq!(
            append(&mut state, &batch(7, 0, 0, 3, false), 0),
            Ok(Admission::Append)
        );
        assert_eq!(
            append(&mut state, &batch(7, 0, 3, 2, false), 3),
            Ok(Admission::Append)
        );
        assert!(matches!(
            append(&mut state, &batch(7, 0, 0, 3, false), 5),
            Ok(Admission::Duplicate(BatchMetadata {
                first_offset: 0,
                last_offset: 2,
                ..
            }))
        ));
        assert!(matches!(
            append(&mut state, &batch(7, 0, 6, 1, false), 5),
            Err(ProducerStateError::OutOfOrderSequence {
                expected: 5,
                found: 6,
                ..
            })
        ));
        assert_eq!(
            append(&mut state, &batch(7, 1, 0, 1, false), 5),
            Ok(Admission::Append)
        );
        assert!(matches!(
            append(&mut state, &batch(7, 0, 5, 1, false), 6),
            Err(ProducerStateError::InvalidProducerEpoch {
                epoch: 0,
                current: 1,
                ..
            })
        ));
        assert!(matches!(
            append(&mut state, &batch(7, 2, 4, 1, false), 6),
            Err(ProducerStateError::OutOfOrderSequence { expected: 0, .. })
        ));
        // A producer never seen may begin anywhere (KIP-360).
        assert_eq!(
            append(&mut state, &batch(8, 0, 42, 1, false), 6),
            Ok(Admission::Append)
        );
    }

    #[test]
    fn idle_producers_expire_but_not_those_in_a_transaction() {
        let mut state = ProducerState::default();
        // Batch timestamps are 1_000 (see `batch`).
        append(&mut state, &batch(1, 0, 0, 2, false), 0).unwrap();
        append(&mut state, &batch(2, 0, 0, 1, true), 2).unwrap();
        assert_eq!(state.remove_expired(1_999, 1_000), 0);
        assert_eq!(state.remove_expired(2_000, 1_000), 1);
        assert!(state.get(1).is_none());
        assert!(
            state.get(2).is_some(),
            "an open transaction keeps its producer"
        );
        // The expired producer is a new one now: a retry of its old batch is appended again,
        // and it may continue at any sequence (Kafka 3.7, KIP-360).
        assert_eq!(
            append(&mut state, &batch(1, 0, 0, 2, false), 3),
            Ok(Admission::Append)
        );
        state.remove_expired(2_000, 1_000);
        assert_eq!(
            append(&mut state, &batch(1, 0, 17, 1, false), 5),
            Ok(Admission::Append)
        );
        state.complete_transaction(2, 0, 0, 1_500);
        assert_eq!(state.remove_expired(2_499, 1_000), 1);
        assert_eq!(state.remove_expired(2_500, 1_000), 1);
        assert!(state.producers().is_empty());
    }

    #[test]
    fn transactions_hold_the_last_stable_offset() {
        let mut state = ProducerState::default();
        append(&mut state, &batch(1, 0, 0, 2, true), 10).unwrap();
        append(&mut state, &batch(2, 0, 0, 1, true), 12).unwrap();
        append(&mut state, &batch(1, 0, 2, 1, true), 13).unwrap();
        assert_eq!(state.first_unstable_offset(), Some(10));
        assert!(matches!(
            append(&mut state, &batch(1, 0, 3, 1, false), 14),
            Err(ProducerStateError::InvalidTxnState { .. })
        ));
        assert_eq!(state.complete_transaction(1, 0, 0, 5), Some(10));
        assert_eq!(state.first_unstable_offset(), Some(12));
        assert_eq!(state.complete_transaction(2, 1, 0, 5), Some(12));
        assert_eq!(state.first_unstable_offset(), None);
        assert_eq!(state.get(2).map(|e| e.producer_epoch), Some(1));
        // Markers bump the epoch: the old epoch is stale now.
        assert!(matches!(
            append(&mut state, &batch(2, 0, 1, 1, true), 15),
            Err(ProducerStateError::InvalidProducerEpoch { .. })
        ));
    }

    #[test]
    fn txn_index_entries_round_trip() {
        let entry = AbortedTransaction {
            producer_id: 3,
            first_offset: 10,
            last_offset: 20,
            last_stable_offset: 21,
        };
        let mut bytes = entry.encode().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(AbortedTransaction::decode_all(&bytes), vec![entry]);
    }

    proptest! {
        #[test]
        fn snapshots_round_trip(
            producers in proptest::collection::vec((0i64..50, 0i16..3, 1usize..8, any::<bool>()), 0..20)
        ) {
            let mut state = ProducerState::default();
            let mut offset = 0;
            let mut sequences = HashMap::new();
            for (producer_id, epoch, records, txn) in producers {
                let sequence = sequences.entry((producer_id, epoch)).or_insert(0);
                if append(&mut state, &batch(producer_id, epoch, *sequence, records, txn), offset).is_ok() {
                    *sequence += records as i32;
                    offset += records as i64;
                }
            }
            let decoded = ProducerState::decode_snapshot(&state.encode_snapshot()).unwrap();
            prop_assert_eq!(decoded, state);
        }

        #[test]
        fn snapshot_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ProducerState::decode_snapshot(&bytes);
        }
    }

    #[test]
    fn damaged_snapshots_say_what_is_wrong() {
        let good = ProducerState::default().encode_snapshot();
        assert_eq!(
            ProducerState::decode_snapshot(&good[..3]),
            Err(SnapshotError::ShortHeader { len: 3 })
        );
        let mut version = good.clone();
        version[1] = 2;
        assert_eq!(
            ProducerState::decode_snapshot(&version),
            Err(SnapshotError::UnknownVersion { version: 2 })
        );
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            ProducerState::decode_snapshot(&flipped),
            Err(SnapshotError::CrcMismatch { stored, computed }) if stored != computed
        ));
        let mut extra = good;
        extra.push(0);
        let crc = crc32c::crc32c(&extra[6..]);
        extra[2..6].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            ProducerState::decode_snapshot(&extra),
            Err(SnapshotError::EntriesMismatch { count: 0, bytes: 1 })
        );
    }
}
