//! DeleteRecords: moves partitions' log start offsets forward, deleting the records below.
//!
//! References: KIP-107 (DeleteRecords; offset -1 means the high watermark); Kafka's
//! `Partition.deleteRecordsOnLeader` (POLICY_VIOLATION unless `cleanup.policy` has delete).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::context::RequestContext;
use crate::error::storage_error_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};
use crate::state::BrokerState;

/// The offset that stands for the high watermark.
const HIGH_WATERMARK: i64 = -1;

/// Deletes the records of every partition of `request` (blocking: unlinks segments, fsyncs
/// the checkpoint).
fn delete_all(
    state: &BrokerState,
    request: DeleteRecordsRequest,
    refused: &[bool],
) -> Vec<DeleteRecordsTopicResult> {
    let registry = &state.topics;
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut moved = false;
    for (wanted, refused) in request.topics.into_iter().zip(refused) {
        let topic = registry.get(&wanted.name.0);
        let deletable = topic
            .as_ref()
            .is_some_and(|t| t.configs().log_config().cleanup_delete);
        let mut partitions = Vec::with_capacity(wanted.partitions.len());
        for p in wanted.partitions {
            let response = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            if *refused {
                partitions
                    .push(response.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
                continue;
            }
            let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition_index))
            else {
                partitions
                    .push(response.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            if !deletable {
                partitions.push(response.with_error_code(ResponseError::PolicyViolation.code()));
                continue;
            }
            let log = &partition.log;
            let offset = match p.offset {
                HIGH_WATERMARK => log.high_watermark(),
                offset => offset,
            };
            match log.delete_records_before(offset) {
                Ok(low_watermark) => {
                    moved = true;
                    partitions.push(response.with_low_watermark(low_watermark));
                }
                Err(err) => {
                    tracing::debug!(topic = %wanted.name.0.as_str(), partition = p.partition_index, %err, "delete records refused");
                    partitions.push(response.with_error_code(storage_error_code(&err).code()));
                }
            }
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(wanted.name)
                .with_partitions(partitions),
        );
    }
    if moved {
        if let Err(err) = registry.write_checkpoints() {
            tracing::error!(%err, "cannot write the log start offset checkpoint");
        }
    }
    topics
}

/// Deletes the records below each requested offset; answers each partition's new log start
/// offset (`low_watermark`) or its error, then checkpoints the log start offsets.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> Result<DeleteRecordsResponse, ConnectionError> {
    // Deleting segments and writing the checkpoint block on the disk: off the runtime.
    // DELETE on each topic, before its existence (Kafka's `handleDeleteRecordsRequest`).
    let refused: Vec<bool> = request
        .topics
        .iter()
        .map(|t| !ctx.authorize(Operation::Delete, ResourceType::Topic, &t.name))
        .collect();
    let state = Arc::clone(ctx.state);
    let topics = super::blocking(move || delete_all(&state, request, &refused)).await?;
    Ok(DeleteRecordsResponse::default().with_topics(topics))
}
