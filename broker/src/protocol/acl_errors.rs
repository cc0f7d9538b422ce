//! The responses of the ACL APIs when the table refuses them at cluster level
//! (CLUSTER_AUTHORIZATION_FAILED): Kafka's `getErrorResponse` of DescribeAcls, CreateAcls and
//! DeleteAcls, which fail each creation or filter of the request.
//!
//! References: Kafka's `DescribeAclsRequest`, `CreateAclsRequest` and `DeleteAclsRequest`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsResponse,
};

use crate::api::{create_acls, delete_acls};
use crate::protocol::apis::ErrorResponse;

impl ErrorResponse for DescribeAclsResponse {
    fn error_response(error: ResponseError) -> Self {
        DescribeAclsResponse::default()
            .with_error_code(error.code())
            .with_error_message(None)
    }
}

impl ErrorResponse for CreateAclsResponse {
    fn error_response(error: ResponseError) -> Self {
        create_acls::failed(0, error, None)
    }

    fn error_response_to(request: &dyn std::any::Any, error: ResponseError) -> Self {
        let count = request
            .downcast_ref::<CreateAclsRequest>()
            .map_or(0, |r| r.creations.len());
        create_acls::failed(count, error, None)
    }
}

impl ErrorResponse for DeleteAclsResponse {
    fn error_response(error: ResponseError) -> Self {
        delete_acls::failed(0, error, None)
    }

    fn error_response_to(request: &dyn std::any::Any, error: ResponseError) -> Self {
        let count = request
            .downcast_ref::<DeleteAclsRequest>()
            .map_or(0, |r| r.filters.len());
        delete_acls::failed(count, error, None)
    }
}
