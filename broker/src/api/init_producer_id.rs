//! InitProducerId: a producer id and epoch for idempotent and transactional producers.
//!
//! Without a transactional id the producer gets a fresh producer id with epoch 0, or (v3+)
//! bumps the epoch of the id it names (KIP-360). With one, the transaction coordinator answers:
//! a new id's first producer id, or the next epoch of the id's producer, which fences the
//! older producer and aborts the transaction it left open.
//!
//! References: KIP-98 (idempotent and transactional producers), KIP-360 (epoch bump for a
//! known producer id, v3), KIP-588 (PRODUCER_FENCED, v4).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::context::RequestContext;
use crate::coordinator::txn::{FencedSince, ProducerIdAndEpoch};
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

/// PRODUCER_FENCED from version 4 (KIP-588), INVALID_PRODUCER_EPOCH before.
const FENCED: FencedSince = FencedSince(4);

/// Allocates or bumps a producer id (see the module docs).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: InitProducerIdRequest,
) -> Result<InitProducerIdResponse, ConnectionError> {
    let version = ctx.api_version;
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let expected =
        (request.producer_id.0 >= 0 && request.producer_epoch >= 0).then_some(ProducerIdAndEpoch {
            producer_id: request.producer_id.0,
            producer_epoch: request.producer_epoch,
        });
    // WRITE on the transactional id; an idempotent producer needs IDEMPOTENT_WRITE on the
    // cluster or WRITE on some topic (KIP-679; Kafka's `handleInitProducerIdRequest`).
    let refusal = match &request.transactional_id {
        Some(id) if !ctx.authorize(Operation::Write, ResourceType::TransactionalId, id) => {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None if !ctx.authorize(
            Operation::IdempotentWrite,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ) && !ctx.authorize_any(Operation::Write, ResourceType::Topic) =>
        {
            Some(ResponseError::ClusterAuthorizationFailed)
        }
        _ => None,
    };
    if let Some(error) = refusal {
        return Ok(response.with_error_code(error.code()));
    }
    if let Some(transactional_id) = &request.transactional_id {
        let state = &ctx.state;
        return Ok(
            match state
                .transactions
                .init_producer_id(
                    transactional_id,
                    request.transaction_timeout_ms,
                    expected,
                    FENCED.error(version),
                )
                .await
            {
                Ok(producer) => response
                    .with_producer_id(ProducerId(producer.producer_id))
                    .with_producer_epoch(producer.producer_epoch),
                Err(error) => response.with_error_code(error.code()),
            },
        );
    }
    if let Some(expected) = expected.filter(|e| e.producer_epoch < i16::MAX - 1) {
        return Ok(response
            .with_producer_id(ProducerId(expected.producer_id))
            .with_producer_epoch(expected.producer_epoch + 1));
    }
    Ok(match ctx.state.producer_ids.allocate().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(err) => {
            tracing::error!(%err, "cannot persist the producer id block");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
    })
}
