//! OffsetForLeaderEpoch: the end offset of a leader epoch, with which consumers validate
//! their positions after a metadata change (and truncate after an unclean leader change).
//!
//! A single node has one leader epoch, 0, from the log start to the log end offset (Kafka's
//! `leader-epoch-checkpoint` in each partition directory says the same).
//!
//! References: KIP-101 (leader epochs); KIP-279 (the epoch in the response, v1); KIP-320
//! (current leader epoch, v2; consumers validate positions).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

/// The leader epoch of every partition on this node.
const LEADER_EPOCH: i32 = 0;

/// Answers each partition's end offset for the requested epoch; a current leader epoch
/// newer than ours gets UNKNOWN_LEADER_EPOCH (none is older: ours is the first, 0; -1 asks
/// for no check).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> Result<OffsetForLeaderEpochResponse, ConnectionError> {
    let registry = &ctx.state.topics;
    // A follower needs CLUSTER_ACTION, a consumer DESCRIBE on each topic (Kafka's
    // `handleOffsetForLeaderEpochRequest`).
    let follower_refused = request.replica_id.0 >= 0
        && !ctx.authorize(
            Operation::ClusterAction,
            ResourceType::Cluster,
            CLUSTER_NAME,
        );
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let authorized = !follower_refused
                && ctx.authorize(Operation::Describe, ResourceType::Topic, &wanted.topic.0);
            let topic = registry.get(&wanted.topic.0);
            let partitions = wanted
                .partitions
                .into_iter()
                .map(|p| {
                    let response = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    if !authorized {
                        return response
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition))
                    else {
                        return response
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if p.current_leader_epoch > LEADER_EPOCH {
                        return response.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    }
                    let (leader_epoch, end_offset) =
                        partition.log.end_offset_for_leader_epoch(p.leader_epoch);
                    response
                        .with_leader_epoch(leader_epoch)
                        .with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(wanted.topic)
                .with_partitions(partitions)
        })
        .collect();
    Ok(OffsetForLeaderEpochResponse::default().with_topics(topics))
}
