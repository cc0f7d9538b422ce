//! OffsetDelete: removes some committed offsets of a group (KIP-496).
//!
//! References: Kafka protocol guide; KIP-496.

use josefine_storage::TopicPartition;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;

/// Deletes the offsets named; GROUP_SUBSCRIBED_TO_TOPIC for topics the group's members
/// consume, or a group-level error.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> Result<OffsetDeleteResponse, ConnectionError> {
    let partitions: Vec<TopicPartition> = request
        .topics
        .iter()
        .flat_map(|t| {
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
                    .map(|t| {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(optional_code(errors.next().flatten()))
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
