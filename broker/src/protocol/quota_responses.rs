//! The refusals of DescribeClientQuotas and AlterClientQuotas when the principal lacks the
//! cluster operation of their row (DESCRIBE_CONFIGS, ALTER_CONFIGS).
//!
//! References: Kafka's `DescribeClientQuotasRequest.getErrorResponse` and
//! `AlterClientQuotasRequest.getErrorResponse`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::EntryData;
use kafka_protocol::messages::{AlterClientQuotasResponse, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use crate::protocol::apis::ErrorResponse;

fn message(error: ResponseError) -> Option<StrBytes> {
    Some(StrBytes::from_string(error.to_string()))
}

impl ErrorResponse for DescribeClientQuotasResponse {
    fn error_response(error: ResponseError) -> Self {
        DescribeClientQuotasResponse::default()
            .with_error_code(error.code())
            .with_error_message(message(error))
    }
}

impl ErrorResponse for AlterClientQuotasResponse {
    /// Kafka answers each entity of the request with the error; the request is not at hand
    /// here, so the refusal is one entry without an entity.
    fn error_response(error: ResponseError) -> Self {
        AlterClientQuotasResponse::default().with_entries(vec![EntryData::default()
            .with_error_code(error.code())
            .with_error_message(message(error))])
    }
}
