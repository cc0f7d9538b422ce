//! OffsetDelete: removes some committed offsets of a group (KIP-496).
//!
//! References: Kafka protocol guide; KIP-496.

use josefine_storage::TopicPartition;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Deletes the offsets named; GROUP_SUBSCRIBED_TO_TOPIC for topics the group's members
/// consume, or a group-level error.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> Result<OffsetDeleteResponse, ConnectionError> {
    // DELETE on the group, then READ on each topic (Kafka's `handleOffsetDeleteRequest`).
    if !ctx.authorize(Operation::Delete, ResourceType::Group, &request.group_id) {
        return Ok(OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code()));
    }
    let authorized: Vec<bool> = request
        .topics
        .iter()
        .map(|t| ctx.authorize(Operation::Read, ResourceType::Topic, &t.name))
        .collect();
    let partitions: Vec<TopicPartition> = request
        .topics
        .iter()
        .zip(&authorized)
        .filter(|(_, a)| **a)
        .flat_map(|(t, _)| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.name.to_string(), p.partition_index))
        })
        .collect();
    let state = &ctx.state;
    Ok(
        match state
            .groups
            .delete_offsets(&request.group_id, &partitions)
            .await
        {
            Err(error) => OffsetDeleteResponse::default().with_error_code(error.code()),
            Ok(errors) => {
                let mut errors = errors.into_iter();
                let topics = request
                    .topics
                    .into_iter()
                    .zip(authorized)
                    .map(|(t, authorized)| {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let error = if authorized {
                                    errors.next().flatten()
                                } else {
                                    Some(ResponseError::TopicAuthorizationFailed)
                                };
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(optional_code(error))
                            })
                            .collect();
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name)
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetDeleteResponse::default().with_topics(topics)
            }
        },
    )
}
