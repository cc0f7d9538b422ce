//! DescribeProducers: the producer state of partitions (`kafka-transactions.sh
//! describe-producers`): each producer's epoch, last sequence and timestamp, coordinator epoch
//! and the first offset of its open transaction.
//!
//! References: KIP-664.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Describes the producers of every partition asked for.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeProducersRequest,
) -> Result<DescribeProducersResponse, ConnectionError> {
    let registry = &ctx.state.topics;
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            // READ on the topic (Kafka's `handleDescribeProducersRequest`).
            let authorized = ctx.authorize(Operation::Read, ResourceType::Topic, &t.name);
            let topic = registry.get(&t.name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|index| {
                    let response = PartitionResponse::default().with_partition_index(*index);
                    if !authorized {
                        return response
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_error_message(Some(str_bytes("Topic authorization failed.")));
                    }
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(*index)) else {
                        return response
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(
                                "This server does not host this topic-partition.",
                            )));
                    };
                    let producers = partition
                        .log
                        .producers()
                        .into_iter()
                        .map(|p| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(p.producer_id))
                                .with_producer_epoch(i32::from(p.producer_epoch))
                                .with_last_sequence(p.last_sequence())
                                .with_last_timestamp(p.last_timestamp)
                                .with_coordinator_epoch(p.coordinator_epoch)
                                .with_current_txn_start_offset(
                                    p.current_txn_first_offset.unwrap_or(-1),
                                )
                        })
                        .collect();
                    response.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    Ok(DescribeProducersResponse::default().with_topics(topics))
}
