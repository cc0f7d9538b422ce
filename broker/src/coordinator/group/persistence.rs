//! Writes to `__consumer_offsets`: the group coordinator's records, appended to the
//! partition that holds the group.

use std::sync::Arc;

use josefine_storage::batch::BatchProducer;
use josefine_storage::producer_state::ProducerStateError;
use josefine_storage::{AppendOrigin, StorageError};
use kafka_protocol::error::ResponseError;

use super::records::{self, StoredGroup};
use super::{GroupCoordinator, Records, OFFSETS_TOPIC};
use crate::metadata::topics::Topic;

impl GroupCoordinator {
    /// The `__consumer_offsets` topic, created (compacted, `offsets.topic.num.partitions`
    /// partitions) on first use as Kafka does on the first FindCoordinator.
    ///
    /// Errors: COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub fn offsets_topic(&self) -> Result<Arc<Topic>, ResponseError> {
        self.topics
            .internal_topic(
                OFFSETS_TOPIC,
                self.config.offsets_topic_partitions,
                self.config.offsets_topic_segment_bytes,
            )
            .map_err(|err| {
                tracing::error!(%err, "cannot create {OFFSETS_TOPIC}");
                ResponseError::CoordinatorNotAvailable
            })
    }

    /// Appends `records` to the partition of `__consumer_offsets` that holds `group_id`.
    ///
    /// Errors as Kafka maps them for the group coordinator: NOT_COORDINATOR for a storage
    /// failure (the client looks the coordinator up again and retries),
    /// COORDINATOR_NOT_AVAILABLE when the topic cannot be created.
    pub(super) fn append(&self, group_id: &str, records: &Records) -> Result<(), ResponseError> {
        self.append_as(group_id, records, None)
    }

    /// [`GroupCoordinator::append`] as a transactional batch of `transaction`'s producer
    /// (TxnOffsetCommit), when given.
    pub(super) fn append_as(
        &self,
        group_id: &str,
        records: &Records,
        transaction: Option<(i64, i16)>,
    ) -> Result<(), ResponseError> {
        if records.is_empty() {
            return Ok(());
        }
        let topic = self.offsets_topic()?;
        let index = records::partition_for(group_id, topic.partition_count());
        let partition = topic
            .partition(index)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
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
        partition
            .append_from(&batch, AppendOrigin::Coordinator)
            .map(|_| ())
            .map_err(|err| match err {
                StorageError::Producer(ProducerStateError::InvalidProducerEpoch { .. }) => {
                    ResponseError::InvalidProducerEpoch
                }
                err => {
                    tracing::error!(group_id, %err, "cannot write to {OFFSETS_TOPIC}");
                    ResponseError::NotCoordinator
                }
            })
    }
}

/// The stored form of a classic group, for `__consumer_offsets`.
pub(crate) fn group_record(group_id: &str, stored: &StoredGroup) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        records::group_key(group_id),
        Some(records::group_value(stored)),
    )
}
