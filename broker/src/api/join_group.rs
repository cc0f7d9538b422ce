//! JoinGroup: a member joins (or rejoins) a classic group and waits for the rebalance.
//!
//! References: Kafka protocol guide; KIP-62 (rebalance timeout, v1), KIP-345 (static
//! membership, v5), KIP-394 (MEMBER_ID_REQUIRED, v4), KIP-559 (protocol type, v7), KIP-800
//! (reason, v8), KIP-814 (skip_assignment, v9).

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::coordinator::group::{JoinRequest, JoinResult, Reply};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Joins `request.group_id`; answers when the join phase completes (or at once on error, for
/// a MEMBER_ID_REQUIRED first join, or when no rebalance is needed).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: JoinGroupRequest,
) -> Result<JoinGroupResponse, ConnectionError> {
    let version = ctx.api_version;
    if !ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id) {
        let refused =
            JoinResult::error(ResponseError::GroupAuthorizationFailed, &request.member_id);
        return Ok(response(refused, version));
    }
    let client_id = ctx.client_id;
    let session_timeout = Duration::from_millis(request.session_timeout_ms.max(0) as u64);
    let rebalance_timeout = if version >= 1 && request.rebalance_timeout_ms >= 0 {
        Duration::from_millis(request.rebalance_timeout_ms as u64)
    } else {
        session_timeout
    };
    let member_id = request.member_id.to_string();
    let join = JoinRequest {
        member_id: member_id.clone(),
        group_instance_id: request.group_instance_id.map(|i| i.to_string()),
        client_id: client_id.to_string(),
        client_host: ctx.client_host(),
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let state = &ctx.state;
    let result = match state.groups.join_group(&request.group_id, join) {
        Reply::Now(result) => result,
        Reply::Later(rx) => rx.await.unwrap_or_else(|_| {
            JoinResult::error(ResponseError::CoordinatorNotAvailable, &member_id)
        }),
    };
    Ok(response(result, version))
}

fn response(result: JoinResult, version: i16) -> JoinGroupResponse {
    // Before version 7 the protocol name is not nullable: Kafka sends "".
    let protocol_name = match result.protocol_name {
        None if version < 7 => Some(str_bytes("")),
        other => other.map(str_bytes),
    };
    let members = result
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(if version >= 5 {
                    m.group_instance_id.map(str_bytes)
                } else {
                    None
                })
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(optional_code(result.error))
        .with_generation_id(result.generation_id)
        .with_protocol_type(if version >= 7 {
            result.protocol_type.map(str_bytes)
        } else {
            None
        })
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(result.leader))
        .with_skip_assignment(version >= 9 && result.skip_assignment)
        .with_member_id(str_bytes(result.member_id))
        .with_members(members)
}
