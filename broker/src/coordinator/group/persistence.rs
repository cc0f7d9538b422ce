//! Writes to `__consumer_offsets`: the group coordinator's records, ordered under its lock on
//! the writer of the partition that holds the group ([`crate::coordinator::writer`]), and
//! appended off the runtime workers with the lock released.

use std::sync::Arc;

use josefine_storage::batch::{BatchProducer, ControlType};
use josefine_storage::AppendOrigin;
use kafka_protocol::error::ResponseError;

use super::records::{self, StoredGroup};
use super::{GroupCoordinator, Records};
use crate::coordinator::writer::{WriteError, WriteOp, Written};
use crate::metadata::topics::Topic;

impl GroupCoordinator {
    /// The `__consumer_offsets` topic, created (compacted, `offsets.topic.num.partitions`
    /// partitions) on the blocking pool on first use, as Kafka does on the first
    /// FindCoordinator.
    ///
    /// Errors: COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub async fn offsets_topic(&self) -> Result<Arc<Topic>, ResponseError> {
        self.writer
            .topic()
            .await
            .map_err(|err| err.response_error())
    }

    /// The partition of `__consumer_offsets` that holds `group_id`.
    pub(crate) fn partition_of(&self, group_id: &str) -> i32 {
        self.writer.partition_for(group_id)
    }

    /// Orders `records` (not empty) on the partition that holds `group_id`, as a
    /// transactional batch of `transaction`'s producer (id, epoch) when given
    /// (TxnOffsetCommit). Called under the groups' lock, it only queues; `then` runs with the
    /// write's result (mapped by [`WriteError::response_error`]) in the order of the writes.
    pub(super) fn write<T: Send + 'static>(
        &self,
        group_id: &str,
        records: &Records,
        transaction: Option<(i64, i16)>,
        then: impl FnOnce(Result<(), ResponseError>) -> T + Send + 'static,
    ) -> Written<T> {
        let now = self.clock.now_ms();
        let simple: Vec<_> = records
            .iter()
            .map(|(k, v)| (now, Some(k.as_slice()), v.as_deref()))
            .collect();
        let producer = match transaction {
            Some((producer_id, producer_epoch)) => BatchProducer {
                producer_id,
                producer_epoch,
                base_sequence: -1,
                attributes: josefine_storage::batch::attributes::TRANSACTIONAL,
            },
            None => BatchProducer::NONE,
        };
        let batch = josefine_storage::batch::build_batch_as(&producer, &simple);
        let op = WriteOp::Batch {
            batch,
            origin: AppendOrigin::Coordinator,
        };
        self.writer
            .write(self.partition_of(group_id), op, move |result| {
                then(result.map_err(|err: WriteError| err.response_error()))
            })
    }

    /// Orders `records` of `group_id`'s membership and logs a failure: Kafka answers the
    /// request that changed the membership either way. Resolves when the write completed.
    pub(super) fn write_membership(&self, group_id: &str, records: &Records) -> Written<()> {
        let id = group_id.to_string();
        self.write(group_id, records, None, move |result| {
            if let Err(err) = result {
                tracing::warn!(group_id = %id, ?err, "cannot store group metadata");
            }
        })
    }

    /// Writes `producer_id`'s transaction marker (COMMIT when `commit`, else ABORT) to
    /// partition `partition` of `__consumer_offsets`, after every offset commit ordered there
    /// before, then applies (COMMIT) or drops (ABORT) the offsets the producer committed in its
    /// transaction to the groups of that partition (KIP-98, KIP-447). A marker that failed
    /// leaves them pending for the transaction coordinator's retry; one refused for an older
    /// epoch can never be written, so the offsets are completed all the same.
    ///
    /// Errors: the marker's write error (NOT_COORDINATOR: retry; INVALID_PRODUCER_EPOCH).
    pub async fn complete_transaction(
        &self,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ResponseError> {
        let shared = Arc::clone(&self.shared);
        let writer_partitions = self.writer.partition_count();
        let op = WriteOp::Marker {
            producer_id,
            producer_epoch,
            control: if commit {
                ControlType::Commit
            } else {
                ControlType::Abort
            },
        };
        let written = self.writer.write(partition, op, move |result| {
            let result = result.map_err(|err| err.response_error());
            if matches!(result, Err(ref err) if *err != ResponseError::InvalidProducerEpoch) {
                return result;
            }
            let mut groups = shared.lock();
            for group in groups.values_mut() {
                if records::partition_for(&group.id, writer_partitions) != partition {
                    continue;
                }
                if let Some(offsets) = group.pending_transactional_offsets.remove(&producer_id) {
                    if commit {
                        group.offsets.extend(offsets);
                    }
                }
            }
            result
        });
        written
            .wait()
            .await
            .unwrap_or(Err(ResponseError::NotCoordinator))
    }
}

/// The stored form of a classic group, for `__consumer_offsets`.
pub(crate) fn group_record(group_id: &str, stored: &StoredGroup) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        records::group_key(group_id),
        Some(records::group_value(stored)),
    )
}
