//! InitProducerId: a producer id and epoch for idempotent producers.
//!
//! References: KIP-98 (idempotent producer), KIP-360 (epoch bump for a known producer id).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::connection::Session;

/// A new producer id with epoch 0, or, when the producer names its current id and epoch
/// (v3+), the same id with the next epoch. Transactional ids need the transaction
/// coordinator, which this broker does not run yet: they get COORDINATOR_NOT_AVAILABLE.
pub fn handle(
    session: &Session,
    request: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(ResponseError::CoordinatorNotAvailable.code());
    }
    if request.producer_id.0 >= 0
        && request.producer_epoch >= 0
        && request.producer_epoch < i16::MAX - 1
    {
        return response
            .with_producer_id(request.producer_id)
            .with_producer_epoch(request.producer_epoch + 1);
    }
    match session.state.producer_ids.allocate() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(err) => {
            tracing::error!(%err, "cannot persist the producer id block");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
