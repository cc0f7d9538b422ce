//! LeaveGroup: members leave a classic group, which rebalances.
//!
//! Versions 0-2 name one member; version 3+ a batch with instance ids (KIP-345), so that an
//! admin can remove static members; version 5 adds a reason (KIP-800).
//!
//! References: Kafka protocol guide; KIP-345.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Removes each member; per-member errors from version 3, the single member's error as the
/// top-level error before.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: LeaveGroupRequest,
) -> Result<LeaveGroupResponse, ConnectionError> {
    let version = ctx.api_version;
    if !ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id) {
        return Ok(LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code()));
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let state = &ctx.state;
    Ok(
        match state.groups.leave_group(&request.group_id, &members).await {
            Err(error) => LeaveGroupResponse::default().with_error_code(error.code()),
            Ok(errors) if version < 3 => LeaveGroupResponse::default()
                .with_error_code(optional_code(errors.first().copied().flatten())),
            Ok(errors) => LeaveGroupResponse::default().with_members(
                members
                    .into_iter()
                    .zip(errors)
                    .map(|((member_id, instance), error)| {
                        MemberResponse::default()
                            .with_member_id(str_bytes(member_id))
                            .with_group_instance_id(instance.map(str_bytes))
                            .with_error_code(optional_code(error))
                    })
                    .collect(),
            ),
        },
    )
}
