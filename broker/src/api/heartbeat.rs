//! Heartbeat: a classic group member says it is alive and learns of rebalances.
//!
//! References: Kafka protocol guide; KIP-345 (group instance id, v3).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::connection::Session;
use crate::error::optional_code;

/// NONE, REBALANCE_IN_PROGRESS, or the fencing error (UNKNOWN_MEMBER_ID,
/// ILLEGAL_GENERATION, FENCED_INSTANCE_ID).
pub fn handle(session: &Session, request: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let error = session.state.groups.heartbeat(
        &request.group_id,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(optional_code(error))
}
