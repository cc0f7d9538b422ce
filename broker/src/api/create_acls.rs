//! CreateAcls: adds ACL bindings to the authorizer's store (`josefine-acls.json`).
//!
//! References: Kafka protocol guide; KIP-140 (ACL admin APIs); KIP-290 (pattern types, v1);
//! Kafka's `AclApis.handleCreateAcls` and `AclControlManager.validateNewAcl`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::acl::AclBinding;

/// The response failing each of `count` elements with `error` (and `message`).
pub(crate) fn failed(
    count: usize,
    error: ResponseError,
    message: Option<String>,
) -> CreateAclsResponse {
    CreateAclsResponse::default().with_results(
        (0..count)
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(error.code())
                    .with_error_message(message.clone().map(str_bytes))
            })
            .collect(),
    )
}

/// Creates each binding: INVALID_REQUEST with Kafka's message for a bad one,
/// SECURITY_DISABLED for all without an authorizer.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: CreateAclsRequest,
) -> Result<CreateAclsResponse, ConnectionError> {
    let authorizer = &ctx.state.authorizer;
    if !authorizer.is_enabled() {
        return Ok(failed(
            request.creations.len(),
            ResponseError::SecurityDisabled,
            Some("No Authorizer is configured.".into()),
        ));
    }
    let bindings: Vec<_> = request
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_wire(
                c.resource_type,
                &c.resource_name,
                // v0 has no pattern type: LITERAL.
                if ctx.api_version == 0 {
                    3
                } else {
                    c.resource_pattern_type
                },
                &c.principal,
                &c.host,
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    let results = match authorizer.create_acls(bindings).await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, "cannot persist ACLs");
            return Ok(failed(
                request.creations.len(),
                ResponseError::UnknownServerError,
                Some("Unknown error while trying to create ACL".into()),
            ));
        }
    };
    Ok(CreateAclsResponse::default().with_results(
        results
            .into_iter()
            .map(|result| match result {
                Ok(()) => AclCreationResult::default().with_error_message(None),
                Err(invalid) => AclCreationResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(invalid.0))),
            })
            .collect(),
    ))
}
