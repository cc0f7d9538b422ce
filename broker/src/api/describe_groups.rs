//! DescribeGroups: state, protocol and members of classic groups.
//!
//! A group that does not exist is reported `Dead`; from version 6 with GROUP_ID_NOT_FOUND
//! and a message (KIP-1043). Consumer-protocol groups are described by
//! ConsumerGroupDescribe.
//!
//! References: Kafka protocol guide; KIP-345 (instance ids, v4), KIP-430 (authorized
//! operations, v3), KIP-1043.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{str_bytes, OPERATIONS_NOT_REQUESTED};
use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// One description per group asked for, in order.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> Result<DescribeGroupsResponse, ConnectionError> {
    let version = ctx.api_version;
    // DESCRIBE on each group (Kafka's `handleDescribeGroupsRequest`): a refused group is
    // answered GROUP_AUTHORIZATION_FAILED without being looked up.
    let authorized: Vec<bool> = request
        .groups
        .iter()
        .map(|g| ctx.authorize(Operation::Describe, ResourceType::Group, g))
        .collect();
    let ids: Vec<String> = request
        .groups
        .iter()
        .zip(&authorized)
        .filter(|(_, a)| **a)
        .map(|(g, _)| g.to_string())
        .collect();
    let mut described = ctx.state.groups.describe_groups(&ids, version).into_iter();
    let groups = request
        .groups
        .into_iter()
        .zip(authorized)
        .map(|(id, authorized)| {
            let d = match authorized.then(|| described.next()).flatten() {
                Some(d) => d,
                None => {
                    return DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                        .with_authorized_operations(OPERATIONS_NOT_REQUESTED)
                }
            };
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(if version >= 4 {
                            m.group_instance_id.map(str_bytes)
                        } else {
                            None
                        })
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            let operations = if version >= 3 && request.include_authorized_operations {
                ctx.authorized_operations(ResourceType::Group, &id)
            } else {
                OPERATIONS_NOT_REQUESTED
            };
            let message = d
                .error
                .filter(|_| version >= 6)
                .map(|_| str_bytes(format!("Group {} not found.", id.as_str())));
            DescribedGroup::default()
                .with_error_code(optional_code(d.error))
                .with_error_message(message)
                .with_group_id(id)
                .with_group_state(str_bytes(d.state))
                .with_protocol_type(str_bytes(d.protocol_type))
                .with_protocol_data(str_bytes(d.protocol))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    Ok(DescribeGroupsResponse::default().with_groups(groups))
}
