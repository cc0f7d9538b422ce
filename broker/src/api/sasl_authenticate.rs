//! SaslAuthenticate once the connection needs no authentication (see `sasl_handshake`):
//! ILLEGAL_SASL_STATE with Kafka's message.
//!
//! References: KIP-152; Kafka's `KafkaApis.handleSaslAuthenticateRequest`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;

/// Answers ILLEGAL_SASL_STATE.
pub(crate) async fn handle(
    _ctx: &RequestContext<'_>,
    _request: SaslAuthenticateRequest,
) -> Result<SaslAuthenticateResponse, ConnectionError> {
    Ok(SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(str_bytes(
            "SaslAuthenticate request received after successful authentication",
        ))))
}
