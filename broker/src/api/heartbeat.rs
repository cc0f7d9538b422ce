//! Heartbeat: a classic group member says it is alive and learns of rebalances.
//!
//! References: Kafka protocol guide; KIP-345 (group instance id, v3).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// NONE, REBALANCE_IN_PROGRESS, or the fencing error (UNKNOWN_MEMBER_ID,
/// ILLEGAL_GENERATION, FENCED_INSTANCE_ID).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: HeartbeatRequest,
) -> Result<HeartbeatResponse, ConnectionError> {
    if !ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id) {
        return Ok(HeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code()));
    }
    let error = ctx.state.groups.heartbeat(
        &request.group_id,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    Ok(HeartbeatResponse::default().with_error_code(optional_code(error)))
}
