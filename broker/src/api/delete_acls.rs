//! DeleteAcls: removes every ACL one of the request's filters matches.
//!
//! References: Kafka protocol guide; KIP-140 (ACL admin APIs); KIP-290 (pattern types, v1);
//! Kafka's `AclApis.handleDeleteAcls` and `AclControlManager.deleteAcls`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::acl::AclBindingFilter;

/// The response failing each of `count` elements with `error` (and `message`).
pub(crate) fn failed(
    count: usize,
    error: ResponseError,
    message: Option<String>,
) -> DeleteAclsResponse {
    DeleteAclsResponse::default().with_filter_results(
        (0..count)
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(error.code())
                    .with_error_message(message.clone().map(str_bytes))
            })
            .collect(),
    )
}

/// Deletes the ACLs of each filter and answers them per filter; INVALID_REQUEST for a filter
/// with UNKNOWN elements, SECURITY_DISABLED for all without an authorizer.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteAclsRequest,
) -> Result<DeleteAclsResponse, ConnectionError> {
    let authorizer = &ctx.state.authorizer;
    if !authorizer.is_enabled() {
        return Ok(failed(
            request.filters.len(),
            ResponseError::SecurityDisabled,
            Some("No Authorizer is configured.".into()),
        ));
    }
    let filters: Vec<AclBindingFilter> = request
        .filters
        .iter()
        .map(|f| AclBindingFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.as_ref().map(|s| s.to_string()),
            // v0 has no pattern type: LITERAL.
            pattern_type: if ctx.api_version == 0 {
                3
            } else {
                f.pattern_type_filter
            },
            principal: f.principal_filter.as_ref().map(|s| s.to_string()),
            host: f.host_filter.as_ref().map(|s| s.to_string()),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect();
    let results = match authorizer.delete_acls(&filters).await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, "cannot persist ACLs");
            return Ok(failed(
                filters.len(),
                ResponseError::UnknownServerError,
                Some(e.to_string()),
            ));
        }
    };
    Ok(DeleteAclsResponse::default().with_filter_results(
        results
            .into_iter()
            .map(|result| match result {
                Ok(deleted) => DeleteAclsFilterResult::default()
                    .with_error_message(None)
                    .with_matching_acls(
                        deleted
                            .into_iter()
                            .map(|acl| {
                                DeleteAclsMatchingAcl::default()
                                    .with_resource_type(acl.resource_type as i8)
                                    .with_resource_name(str_bytes(acl.resource_name))
                                    .with_pattern_type(acl.pattern_type as i8)
                                    .with_principal(str_bytes(acl.principal))
                                    .with_host(str_bytes(acl.host))
                                    .with_operation(acl.operation as i8)
                                    .with_permission_type(acl.permission as i8)
                            })
                            .collect(),
                    ),
                Err(invalid) => DeleteAclsFilterResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(invalid.0))),
            })
            .collect(),
    ))
}
