//! EndTxn: a transactional producer commits or aborts its transaction. The markers are written
//! into every partition of the transaction before the answer.
//!
//! References: Kafka protocol guide; KIP-98; KIP-588 (PRODUCER_FENCED, v2).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::context::RequestContext;
use crate::coordinator::txn::{FencedSince, ProducerIdAndEpoch};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// PRODUCER_FENCED from version 2 (KIP-588).
const FENCED: FencedSince = FencedSince(2);

/// Commits or aborts the producer's open transaction.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: EndTxnRequest,
) -> Result<EndTxnResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let producer = ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
    };
    // WRITE on the transactional id (Kafka's `handleEndTxnRequest`).
    if !ctx.authorize(
        Operation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id,
    ) {
        return Ok(EndTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()));
    }
    let result = state
        .transactions
        .end_transaction(
            &request.transactional_id,
            producer,
            request.committed,
            FENCED.error(version),
        )
        .await;
    Ok(EndTxnResponse::default().with_error_code(optional_code(result.err())))
}
