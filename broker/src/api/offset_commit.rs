//! OffsetCommit: a group stores the position it has consumed up to.
//!
//! Classic members commit with their generation id, members of the consumer protocol with
//! their member epoch (v9, KIP-848); simple consumers and admin clients commit with -1 to a
//! group without members. Each partition is answered on its own: UNKNOWN_TOPIC_OR_PARTITION,
//! OFFSET_METADATA_TOO_LARGE, or the group's fencing error for all.
//!
//! References: Kafka protocol guide; KIP-320 (leader epoch, v6), KIP-345 (v7), KIP-848 (v9).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::context::RequestContext;
use crate::coordinator::group::{CommitIdentity, OffsetToCommit};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Commits every offset of the request; one error code per partition.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetCommitRequest,
) -> Result<OffsetCommitResponse, ConnectionError> {
    let version = ctx.api_version;
    let identity = CommitIdentity {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
        generation_id_or_member_epoch: request.generation_id_or_member_epoch,
        api_version: version,
    };
    // READ on the group, then READ on each topic (Kafka's `handleOffsetCommitRequest`);
    // refused topics are answered without being committed.
    let group_authorized = ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id);
    let topic_authorized: Vec<bool> = request
        .topics
        .iter()
        .map(|t| group_authorized && ctx.authorize(Operation::Read, ResourceType::Topic, &t.name))
        .collect();
    let offsets: Vec<OffsetToCommit> = request
        .topics
        .iter()
        .zip(&topic_authorized)
        .filter(|(_, authorized)| **authorized)
        .flat_map(|(t, _)| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let state = &ctx.state;
    let mut errors = if offsets.is_empty() && !group_authorized {
        Vec::new().into_iter()
    } else {
        state
            .groups
            .commit_offsets(&request.group_id, &identity, &offsets)
            .await
            .into_iter()
    };
    let topics = request
        .topics
        .into_iter()
        .zip(topic_authorized)
        .map(|(t, authorized)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = if !group_authorized {
                        Some(ResponseError::GroupAuthorizationFailed)
                    } else if !authorized {
                        Some(ResponseError::TopicAuthorizationFailed)
                    } else {
                        errors.next().flatten()
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(optional_code(error))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    Ok(OffsetCommitResponse::default().with_topics(topics))
}
