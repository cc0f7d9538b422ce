//! ConsumerGroupDescribe: members, epochs and assignments of consumer-protocol groups
//! (KIP-848).
//!
//! References: KIP-848; KIP-1099 (member type, v1).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};

use super::{str_bytes, OPERATIONS_NOT_REQUESTED};
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// KIP-1099's member type of a consumer-protocol member.
const CONSUMER_MEMBER_TYPE: i8 = 1;

fn assignment(parts: Vec<(uuid::Uuid, String, Vec<i32>)>) -> Assignment {
    Assignment::default().with_topic_partitions(
        parts
            .into_iter()
            .map(|(id, name, partitions)| {
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(str_bytes(name)))
                    .with_partitions(partitions)
            })
            .collect(),
    )
}

/// One description per group id, or GROUP_ID_NOT_FOUND.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ConsumerGroupDescribeRequest,
) -> Result<ConsumerGroupDescribeResponse, ConnectionError> {
    let version = ctx.api_version;
    // DESCRIBE on each group (Kafka's `handleConsumerGroupDescribe`).
    let authorized: Vec<bool> = request
        .group_ids
        .iter()
        .map(|g| ctx.authorize(Operation::Describe, ResourceType::Group, g))
        .collect();
    let ids: Vec<String> = request
        .group_ids
        .iter()
        .zip(&authorized)
        .filter(|(_, a)| **a)
        .map(|(g, _)| g.to_string())
        .collect();
    let state = &ctx.state;
    let mut described = state.groups.consumer_group_describe(&ids).into_iter();
    let groups = request
        .group_ids
        .into_iter()
        .zip(authorized)
        .map(|(id, authorized)| {
            let operations = if request.include_authorized_operations {
                ctx.authorized_operations(ResourceType::Group, &id)
            } else {
                OPERATIONS_NOT_REQUESTED
            };
            let group = DescribedGroup::default()
                .with_group_id(id)
                .with_authorized_operations(operations);
            let Some(d) = authorized.then(|| described.next()).flatten() else {
                return group
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                    .with_authorized_operations(OPERATIONS_NOT_REQUESTED);
            };
            match d {
                Err(err) => group
                    .with_error_code(err.code().code())
                    .with_error_message(Some(str_bytes(err.to_string())))
                    .with_group_state(str_bytes("Dead")),
                Ok(d) => group
                    .with_group_state(str_bytes(d.state))
                    .with_group_epoch(d.group_epoch)
                    .with_assignment_epoch(d.assignment_epoch)
                    .with_assignor_name(str_bytes(d.assignor_name))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let member = Member::default()
                                    .with_member_id(str_bytes(m.member_id))
                                    .with_instance_id(m.instance_id.map(str_bytes))
                                    .with_rack_id(m.rack_id.map(str_bytes))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(str_bytes(m.client_id))
                                    .with_client_host(str_bytes(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed_topic_names
                                            .into_iter()
                                            .map(|n| TopicName(str_bytes(n)))
                                            .collect(),
                                    )
                                    .with_subscribed_topic_regex(
                                        m.subscribed_topic_regex.map(str_bytes),
                                    )
                                    .with_assignment(assignment(m.assignment))
                                    .with_target_assignment(assignment(m.target_assignment));
                                if version >= 1 {
                                    member.with_member_type(CONSUMER_MEMBER_TYPE)
                                } else {
                                    member
                                }
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    Ok(ConsumerGroupDescribeResponse::default().with_groups(groups))
}
