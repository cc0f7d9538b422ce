//! SyncGroup: the leader hands in the assignment, every member receives its own.
//!
//! References: Kafka protocol guide; KIP-345 (group instance id, v3), KIP-559 (protocol type
//! and name, v5).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::coordinator::group::{Reply, SyncRequest, SyncResult};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Syncs `request.group_id`; followers wait for the leader's assignment.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: SyncGroupRequest,
) -> Result<SyncGroupResponse, ConnectionError> {
    let version = ctx.api_version;
    let sync = SyncRequest {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|i| i.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|p| p.to_string()),
        protocol_name: request.protocol_name.map(|p| p.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let state = &ctx.state;
    let authorized = ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id);
    let result = match authorized.then(|| state.groups.sync_group(&request.group_id, sync)) {
        None => SyncResult::error(ResponseError::GroupAuthorizationFailed),
        Some(Reply::Now(result)) => result,
        Some(Reply::Later(rx)) => rx
            .await
            .unwrap_or_else(|_| SyncResult::error(ResponseError::CoordinatorNotAvailable)),
    };
    let response = SyncGroupResponse::default()
        .with_error_code(optional_code(result.error))
        .with_assignment(result.assignment);
    Ok(if version >= 5 {
        response
            .with_protocol_type(result.protocol_type.map(str_bytes))
            .with_protocol_name(result.protocol_name.map(str_bytes))
    } else {
        response
    })
}
