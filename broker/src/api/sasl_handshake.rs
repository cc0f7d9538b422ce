//! SaslHandshake once the connection needs no authentication: on a listener without SASL, or
//! after authentication outside re-authentication (which `net::sasl` serves before the
//! table). Kafka's `KafkaApis` answers ILLEGAL_SASL_STATE.
//!
//! References: KIP-43 (SaslHandshake); KIP-152 (v1); Kafka's `KafkaApis.handleSaslHandshakeRequest`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use crate::context::RequestContext;
use crate::error::ConnectionError;

/// Answers ILLEGAL_SASL_STATE.
pub(crate) async fn handle(
    _ctx: &RequestContext<'_>,
    _request: SaslHandshakeRequest,
) -> Result<SaslHandshakeResponse, ConnectionError> {
    Ok(SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code()))
}
