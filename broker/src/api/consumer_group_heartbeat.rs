//! ConsumerGroupHeartbeat: the consumer protocol's one membership API (KIP-848).
//!
//! Version 1 (KIP-1082) has the client choose its member id and adds regular-expression
//! subscriptions.
//!
//! References: KIP-848, KIP-1082.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::coordinator::group::HeartbeatRequest;
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Joins, leaves or advances the member; answers its epoch and, when due, its assignment.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ConsumerGroupHeartbeatRequest,
) -> Result<ConsumerGroupHeartbeatResponse, ConnectionError> {
    let version = ctx.api_version;
    // READ on the group (Kafka 3.7's `handleConsumerGroupHeartbeat`).
    if !ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id) {
        return Ok(ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code()));
    }
    let client_id = ctx.client_id;
    let heartbeat = HeartbeatRequest {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|i| i.to_string()),
        rack_id: request.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: request.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: request.server_assignor.map(|a| a.to_string()),
        owned: request.topic_partitions.map(|tps| {
            tps.into_iter()
                .map(|tp| (tp.topic_id, tp.partitions.into_iter().collect()))
                .collect()
        }),
        version,
        client_id: client_id.to_string(),
        client_host: ctx.client_host(),
    };
    let state = &ctx.state;
    let result = state.groups.consumer_group_heartbeat(heartbeat);
    Ok(ConsumerGroupHeartbeatResponse::default()
        .with_error_code(optional_code(result.error))
        .with_error_message(result.error_message.map(str_bytes))
        .with_member_id(result.member_id.map(str_bytes))
        .with_member_epoch(result.member_epoch)
        .with_heartbeat_interval_ms(result.heartbeat_interval_ms)
        .with_assignment(result.assignment.map(|a| {
            Assignment::default().with_topic_partitions(
                a.into_iter()
                    .map(|(topic_id, partitions)| {
                        TopicPartitions::default()
                            .with_topic_id(topic_id)
                            .with_partitions(partitions.into_iter().collect())
                    })
                    .collect(),
            )
        })))
}
