//! FindCoordinator: every group and transactional id is coordinated by this node.
//!
//! The first GROUP lookup creates `__consumer_offsets` and the first TRANSACTION lookup
//! `__transaction_state`, as Kafka does. Versions 0-3 carry one
//! key; version 4+ a batch of keys (KIP-699). Key types: 0 GROUP, 1 TRANSACTION; others
//! (share groups, KIP-932) get INVALID_REQUEST.
//!
//! References: Kafka protocol guide; KIP-699 (batched FindCoordinator).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

/// The coordinator of each key: this node, at the address of the listener asked.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> Result<FindCoordinatorResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let (host, port) = ctx
        .listener()
        .map(|l| (l.advertised_host.clone(), l.advertised_port))
        .unwrap_or_default();
    // Every key of a request has the same type: one lookup answers them all.
    let looked_up: Result<(), (ResponseError, &'static str)> = match request.key_type {
        GROUP => state
            .groups
            .offsets_topic()
            .await
            .map(|_| ())
            .map_err(|e| (e, "The coordinator is not available.")),
        TRANSACTION => state
            .transactions
            .state_topic()
            .await
            .map(|_| ())
            .map_err(|e| (e, "The coordinator is not available.")),
        _ => Err((ResponseError::InvalidRequest, "Unsupported key type.")),
    };
    // DESCRIBE on each group or transactional id (Kafka's `handleFindCoordinatorRequest`).
    let refusal = |key: &str| match request.key_type {
        GROUP if !ctx.authorize(Operation::Describe, ResourceType::Group, key) => Some((
            ResponseError::GroupAuthorizationFailed,
            "Group authorization failed.",
        )),
        TRANSACTION if !ctx.authorize(Operation::Describe, ResourceType::TransactionalId, key) => {
            Some((
                ResponseError::TransactionalIdAuthorizationFailed,
                "Transactional Id authorization failed.",
            ))
        }
        _ => None,
    };
    let answer = |key: String| {
        let refused = refusal(&key);
        let mut c = Coordinator::default().with_key(str_bytes(key));
        match refused.map_or(looked_up, Err) {
            Ok(()) => {
                c = c
                    .with_node_id(BrokerId(state.config.node_id))
                    .with_host(str_bytes(host.clone()))
                    .with_port(port);
            }
            Err((error, message)) => {
                c = c
                    .with_node_id(BrokerId(-1))
                    .with_host(str_bytes(""))
                    .with_port(-1)
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(message)));
            }
        }
        c
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|k| answer(k.to_string()))
            .collect();
        return Ok(FindCoordinatorResponse::default().with_coordinators(coordinators));
    }
    let c = answer(request.key.to_string());
    let response = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    Ok(if version >= 1 {
        response.with_error_message(c.error_message)
    } else {
        response
    })
}
