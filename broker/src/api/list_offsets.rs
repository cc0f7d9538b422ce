//! ListOffsets: the earliest, latest, max-timestamp or first-at-timestamp offset of each
//! partition.
//!
//! References: Kafka protocol guide "ListOffsets API"; KIP-79 (by timestamp); KIP-98
//! (isolation level, v2); KIP-734 (MAX_TIMESTAMP, v7); KIP-405 (EARLIEST_LOCAL, v8).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Timestamp sentinel: the log end offset (or last stable offset under read_committed).
pub(crate) const LATEST_TIMESTAMP: i64 = -1;
/// Timestamp sentinel: the log start offset.
pub(crate) const EARLIEST_TIMESTAMP: i64 = -2;
/// Timestamp sentinel: the record with the largest timestamp (KIP-734).
pub(crate) const MAX_TIMESTAMP: i64 = -3;
/// Timestamp sentinel: the first offset on local storage (KIP-405); the log start offset here.
pub(crate) const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;

/// Isolation level read_committed (KIP-98): LATEST is the last stable offset.
const READ_COMMITTED: i8 = 1;

/// Looks each partition's offset up.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ListOffsetsRequest,
) -> Result<ListOffsetsResponse, ConnectionError> {
    let version = ctx.api_version;
    let registry = &ctx.state.topics;
    let mut topics = Vec::with_capacity(request.topics.len());
    for wanted in request.topics {
        // DESCRIBE on the topic, checked before its existence (Kafka's `handleListOffsetRequest`).
        let authorized = ctx.authorize(Operation::Describe, ResourceType::Topic, &wanted.name.0);
        let topic = registry.get(&wanted.name.0);
        let mut partitions = Vec::with_capacity(wanted.partitions.len());
        for p in wanted.partitions {
            let mut response = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            if !authorized {
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
            if p.current_leader_epoch > 0 {
                partitions.push(response.with_error_code(ResponseError::UnknownLeaderEpoch.code()));
                continue;
            }
            let log = &partition.log;
            let found = match p.timestamp {
                LATEST_TIMESTAMP if request.isolation_level == READ_COMMITTED => {
                    Some((log.last_stable_offset(), -1))
                }
                LATEST_TIMESTAMP => Some((log.high_watermark(), -1)),
                EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Some((log.log_start_offset(), -1)),
                MAX_TIMESTAMP if version >= 7 => log.max_timestamp(),
                t if t >= 0 => log.offset_for_timestamp(t),
                _ => {
                    partitions
                        .push(response.with_error_code(ResponseError::UnsupportedVersion.code()));
                    continue;
                }
            };
            if let Some((offset, timestamp)) = found {
                response.offset = offset;
                response.timestamp = timestamp;
                if version >= 4 {
                    response.leader_epoch = 0;
                }
            }
            partitions.push(response);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(wanted.name)
                .with_partitions(partitions),
        );
    }
    Ok(ListOffsetsResponse::default().with_topics(topics))
}
