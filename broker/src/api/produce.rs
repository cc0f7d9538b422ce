//! Produce: appends each partition's record batch to its log.
//!
//! The records stay the `Bytes` they were decoded as (a view of the request frame) until the
//! log copies them once into the segment mapping. On a single node acks=1 and acks=all are
//! the same: the leader is the whole in-sync replica set.
//!
//! Batches with a producer id go through the partition's producer state (KIP-98): a retried
//! batch is answered with its original offsets, a gap with OUT_OF_ORDER_SEQUENCE_NUMBER, an old
//! epoch with INVALID_PRODUCER_EPOCH. Transactional batches are first verified against the
//! transaction coordinator.
//!
//! Records that break the topic's rules (a keyless record for a compacted topic, a timestamp
//! out of range) fail the whole batch with INVALID_RECORD or INVALID_TIMESTAMP, and from v8 on
//! with one `record_errors` entry per record (KIP-467), as Kafka's `LogValidator` answers.
//! Internal topics (`__consumer_offsets`, `__transaction_state`) take no client's records:
//! INVALID_TOPIC_EXCEPTION.
//!
//! References: Kafka protocol guide "Produce API"; KIP-467 (record errors, v8); KIP-74;
//! KIP-98; KIP-890 part 1 (transaction verification).

use std::sync::Arc;

use bytes::Bytes;
use josefine_storage::batch::BatchHeader;
use josefine_storage::{AppendInfo, StorageError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::str_bytes;
use crate::api::MaybeResponse;
use crate::context::RequestContext;
use crate::coordinator::txn::ProducerIdAndEpoch;
use crate::error::{storage_error_code, ConnectionError};
use crate::metadata::topics::Partition;
use crate::security::{Operation, ResourceType};

/// Why one partition's batch was not appended. [`PartitionError::code`] gives the Kafka error
/// code; the message goes into the response from v8 on.
#[derive(Debug, thiserror::Error)]
enum PartitionError {
    /// INVALID_REQUIRED_ACKS.
    #[error("acks {0} is not -1, 0 or 1")]
    InvalidRequiredAcks(i16),
    /// TOPIC_AUTHORIZATION_FAILED: no WRITE on the topic.
    #[error("Not authorized to access topics: [{0}]")]
    TopicAuthorizationFailed(String),
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactional records without WRITE on the
    /// transactional id.
    #[error("Transactional Id authorization failed.")]
    TransactionalIdAuthorizationFailed,
    /// UNKNOWN_TOPIC_ID (v13+, addressed by topic id).
    #[error("This server does not host this topic ID.")]
    UnknownTopicId,
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
    /// INVALID_TOPIC_EXCEPTION: only the broker writes its internal topics (Kafka's
    /// `ReplicaManager.appendToLocalLog` allows them to the `__admin_client` client id only).
    #[error("Cannot append to internal topic {0}")]
    InternalTopic(String),
    /// INVALID_RECORD: Produce v3+ carries exactly one batch per partition.
    #[error("Produce requests must contain exactly one record batch per partition, found none")]
    NoBatch,
    /// INVALID_RECORD.
    #[error("Produce requests with version 3 and above are only allowed to contain exactly one record batch")]
    SeveralBatches,
    /// The transaction coordinator's refusal of a transactional batch (KIP-890 part 1).
    #[error("producer {producer_id} epoch {producer_epoch} has no open transaction with {topic}-{partition}")]
    NotInTransaction {
        /// The coordinator's error code.
        code: ResponseError,
        /// The batch's producer id.
        producer_id: i64,
        /// Its epoch.
        producer_epoch: i16,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The log refused or failed the append.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl PartitionError {
    fn code(&self) -> ResponseError {
        match self {
            PartitionError::InvalidRequiredAcks(_) => ResponseError::InvalidRequiredAcks,
            PartitionError::TopicAuthorizationFailed(_) => ResponseError::TopicAuthorizationFailed,
            PartitionError::TransactionalIdAuthorizationFailed => {
                ResponseError::TransactionalIdAuthorizationFailed
            }
            PartitionError::UnknownTopicId => ResponseError::UnknownTopicId,
            PartitionError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            PartitionError::InternalTopic(_) => ResponseError::InvalidTopicException,
            PartitionError::NoBatch | PartitionError::SeveralBatches => {
                ResponseError::InvalidRecord
            }
            PartitionError::NotInTransaction { code, .. } => *code,
            PartitionError::Storage(err) => storage_error_code(err),
        }
    }
}

/// The client id with which Kafka lets a produce request append to internal topics
/// (`AdminUtils.ADMIN_CLIENT_ID`).
const ADMIN_CLIENT_ID: &str = "__admin_client";

/// The one record batch of `records`, as Kafka requires from Produce v3 on.
fn single_batch(records: &[u8]) -> Result<BatchHeader<'_>, PartitionError> {
    match BatchHeader::parse(records) {
        None => Err(PartitionError::NoBatch),
        Some(header) if header.total_size() < records.len() => Err(PartitionError::SeveralBatches),
        Some(header) => Ok(header),
    }
}

/// A transactional batch must belong to its producer's open transaction, with this partition
/// added to it (KIP-890 part 1: Kafka 3.6+ verifies before appending), so that a fenced or
/// late producer cannot write into a transaction that has ended.
fn verify_transaction(
    ctx: &RequestContext<'_>,
    topic: &str,
    partition: i32,
    header: &BatchHeader<'_>,
) -> Result<(), PartitionError> {
    if !header.is_transactional() {
        return Ok(());
    }
    let producer = ProducerIdAndEpoch {
        producer_id: header.producer_id(),
        producer_epoch: header.producer_epoch(),
    };
    ctx.state
        .transactions
        .verify_produce(producer, topic, partition)
        .map_err(|code| PartitionError::NotInTransaction {
            code,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            topic: topic.to_string(),
            partition,
        })
}

/// Appends `records` to `partition`'s log: inline when that is a copy into the mapping, on
/// the blocking pool when it would roll a segment or fsync (DESIGN.md, "Concurrency"). A
/// compressed batch goes to the blocking pool at once: the log decompresses it to check its
/// records, which may take up to `MAX_DECOMPRESSED_BYTES` of output.
///
/// Errors: `TaskFailed` when the append panicked on the blocking pool (a bug).
async fn append(
    partition: &Arc<Partition>,
    records: Bytes,
    compressed: bool,
) -> Result<Result<AppendInfo, StorageError>, ConnectionError> {
    let inline = if compressed {
        Ok(None)
    } else {
        partition.log.try_append_inline(&records, 0)
    };
    match inline {
        Ok(Some(info)) => Ok(Ok(info)),
        Ok(None) => {
            let partition = Arc::clone(partition);
            super::blocking(move || partition.log.append(&records, 0)).await
        }
        Err(err) => Ok(Err(err)),
    }
}

/// Whether any partition carries a transactional batch (Kafka's
/// `ProduceRequest.hasTransactionalRecords`).
fn has_transactional_records(request: &ProduceRequest) -> bool {
    request.topic_data.iter().any(|topic| {
        topic.partition_data.iter().any(|data| {
            data.records
                .as_deref()
                .and_then(BatchHeader::parse)
                .is_some_and(|header| header.is_transactional())
        })
    })
}

/// Appends every partition's batch; `MaybeResponse::Silent` for acks=0, which gets no
/// response.
///
/// Errors: with acks=0 a failed partition closes the connection, as Kafka does, since the
/// client would otherwise never learn of it.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ProduceRequest,
) -> Result<MaybeResponse<ProduceResponse>, ConnectionError> {
    let version = ctx.api_version;
    let registry = &ctx.state.topics;
    let acks = request.acks;
    let mut first_error: Option<String> = None;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // Transactional records need WRITE on the transactional id, or the whole request fails
    // (Kafka's `handleProduceRequest`).
    let transactional_id_refused = ctx.state.authorizer.is_enabled()
        && has_transactional_records(&request)
        && !request
            .transactional_id
            .as_ref()
            .is_some_and(|id| ctx.authorize(Operation::Write, ResourceType::TransactionalId, id));
    for topic_data in request.topic_data {
        let authorized = !transactional_id_refused
            && ctx.authorize(Operation::Write, ResourceType::Topic, &topic_data.name.0);
        let topic = if version >= 13 {
            registry.get_by_id(topic_data.topic_id)
        } else {
            registry.get(&topic_data.name.0)
        };
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let mut response = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let partition = topic.as_ref().and_then(|t| t.partition(data.index));
            let records = data.records.unwrap_or_default();
            let outcome = match partition {
                _ if !matches!(acks, -1..=1) => Err(PartitionError::InvalidRequiredAcks(acks)),
                _ if transactional_id_refused => {
                    Err(PartitionError::TransactionalIdAuthorizationFailed)
                }
                _ if !authorized => Err(PartitionError::TopicAuthorizationFailed(
                    topic_data.name.0.to_string(),
                )),
                None if version >= 13 && topic.is_none() => Err(PartitionError::UnknownTopicId),
                None => Err(PartitionError::UnknownTopicOrPartition),
                Some(_)
                    if topic.as_ref().is_some_and(|t| t.is_internal())
                        && ctx.client_id != ADMIN_CLIENT_ID =>
                {
                    Err(PartitionError::InternalTopic(
                        topic.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
                    ))
                }
                Some(partition) => match single_batch(&records).and_then(|header| {
                    verify_transaction(ctx, &topic_data.name.0, data.index, &header)
                        .map(|()| header.compression() != 0)
                }) {
                    Ok(compressed) => append(&partition, records.clone(), compressed)
                        .await?
                        .map(|info| (partition, info))
                        .map_err(PartitionError::from),
                    Err(err) => Err(err),
                },
            };
            match outcome {
                Ok((partition, info)) => {
                    response.base_offset = info.base_offset;
                    response.log_append_time_ms = info.log_append_time.unwrap_or(-1);
                    if version >= 5 {
                        response.log_start_offset = partition.log.log_start_offset();
                    }
                }
                Err(err) => {
                    let error = err.code();
                    if error == ResponseError::KafkaStorageError {
                        // A full disk or a failed write: the operator must act.
                        tracing::error!(topic = %topic_data.name.0, partition = data.index, %err, "append failed: KAFKA_STORAGE_ERROR");
                    } else {
                        tracing::debug!(topic = %topic_data.name.0, partition = data.index, ?error, %err, "produce failed");
                    }
                    let message = err.to_string();
                    first_error.get_or_insert_with(|| {
                        format!("{}-{}: {message}", topic_data.name.0, data.index)
                    });
                    response.error_code = error.code();
                    if version >= 8 {
                        if let PartitionError::Storage(StorageError::RecordsRejected(rejected)) =
                            &err
                        {
                            // KIP-467: each refused record by its index in the batch.
                            response.record_errors = rejected
                                .records
                                .iter()
                                .map(|(batch_index, message)| {
                                    BatchIndexAndErrorMessage::default()
                                        .with_batch_index(*batch_index)
                                        .with_batch_index_error_message(Some(str_bytes(
                                            message.clone(),
                                        )))
                                })
                                .collect();
                        }
                        response.error_message = Some(str_bytes(message));
                    }
                }
            }
            partition_responses.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name)
                .with_topic_id(topic_data.topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    if acks == 0 {
        return match first_error {
            Some(error) => Err(ConnectionError::ProduceWithoutAcksFailed(error)),
            None => Ok(MaybeResponse::Silent),
        };
    }
    Ok(MaybeResponse::Send(
        ProduceResponse::default().with_responses(responses),
    ))
}
