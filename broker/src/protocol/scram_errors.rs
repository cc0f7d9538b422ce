//! The refusals of the SCRAM credential APIs when the cluster-level check of their row fails
//! (Kafka's `getErrorResponse` of each request).
//!
//! References: KIP-554.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AlterUserScramCredentialsResponse, DescribeUserScramCredentialsResponse,
};

use super::apis::ErrorResponse;

impl ErrorResponse for DescribeUserScramCredentialsResponse {
    fn error_response(error: ResponseError) -> Self {
        DescribeUserScramCredentialsResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for AlterUserScramCredentialsResponse {
    fn error_response(_error: ResponseError) -> Self {
        // Kafka answers per user of the request; the table hands us no request, so the
        // refusal lists no user.
        AlterUserScramCredentialsResponse::default()
    }
}
