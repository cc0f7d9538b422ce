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
//! References: Kafka protocol guide "Produce API"; KIP-467 (record errors, v8); KIP-74;
//! KIP-98; KIP-890 part 1 (transaction verification).

use josefine_storage::batch::BatchHeader;
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

/// Whether `records` hold exactly one record batch, as Kafka requires from Produce v3 on.
fn single_batch(records: &[u8]) -> Result<(), &'static str> {
    match BatchHeader::parse(records) {
        None => Err("Produce requests must contain exactly one record batch per partition, found none"),
        Some(header) if header.total_size() < records.len() => Err("Produce requests with version 3 and above are only allowed to contain exactly one record batch"),
        Some(_) => Ok(()),
    }
}

/// A transactional batch must belong to its producer's open transaction, with this partition
/// added to it (KIP-890 part 1: Kafka 3.6+ verifies before appending), so that a fenced or
/// late producer cannot write into a transaction that has ended.
fn verify_transaction(
    ctx: &RequestContext<'_>,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> Result<(), (ResponseError, String)> {
    let Some(header) = BatchHeader::parse(records).filter(|h| h.is_transactional()) else {
        return Ok(());
    };
    let producer = ProducerIdAndEpoch {
        producer_id: header.producer_id(),
        producer_epoch: header.producer_epoch(),
    };
    ctx.state
        .transactions
        .verify_produce(producer, topic, partition)
        .map_err(|error| {
            let message = format!(
                "producer {} epoch {} has no open transaction with {topic}-{partition}",
                producer.producer_id, producer.producer_epoch
            );
            (error, message)
        })
}

/// Appends every partition's batch; `None` for acks=0, which gets no response.
///
/// Errors: with acks=0 a failed partition closes the connection, as Kafka does, since the
/// client would otherwise never learn of it.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ProduceRequest,
) -> Result<MaybeResponse<ProduceResponse>, ConnectionError> {
    let version = ctx.api_version;
    let registry = &ctx.state.topics;
    let acks = request.acks;
    let mut first_error: Option<String> = None;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic_data in request.topic_data {
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
            let outcome: Result<_, (ResponseError, String)> = if !matches!(acks, -1..=1) {
                Err((
                    ResponseError::InvalidRequiredAcks,
                    format!("acks {acks} is not -1, 0 or 1"),
                ))
            } else {
                match partition {
                    None if version >= 13 && topic.is_none() => Err((
                        ResponseError::UnknownTopicId,
                        "This server does not host this topic ID.".to_string(),
                    )),
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        "This server does not host this topic-partition.".to_string(),
                    )),
                    Some(partition) => single_batch(&records)
                        .map_err(|reason| (ResponseError::InvalidRecord, reason.to_string()))
                        .and_then(|()| {
                            verify_transaction(ctx, &topic_data.name.0, data.index, &records)
                        })
                        .and_then(|()| {
                            partition
                                .append(&records)
                                .map(|info| (partition, info))
                                .map_err(|e| (storage_error_code(&e), e.to_string()))
                        }),
                }
            };
            match outcome {
                Ok((partition, info)) => {
                    response.base_offset = info.base_offset;
                    response.log_append_time_ms = info.log_append_time.unwrap_or(-1);
                    if version >= 5 {
                        response.log_start_offset = partition.log.log_start_offset();
                    }
                }
                Err((error, message)) => {
                    if error == ResponseError::KafkaStorageError {
                        // A full disk or a failed write: the operator must act.
                        tracing::error!(topic = %topic_data.name.0, partition = data.index, %message, "append failed: KAFKA_STORAGE_ERROR");
                    } else {
                        tracing::debug!(topic = %topic_data.name.0, partition = data.index, ?error, %message, "produce failed");
                    }
                    first_error.get_or_insert_with(|| {
                        format!("{}-{}: {message}", topic_data.name.0, data.index)
                    });
                    response.error_code = error.code();
                    if version >= 8 {
                        if error == ResponseError::InvalidRecord {
                            response.record_errors = vec![BatchIndexAndErrorMessage::default()
                                .with_batch_index(0)
                                .with_batch_index_error_message(Some(str_bytes(message.clone())))];
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
