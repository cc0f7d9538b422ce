//! DescribeAcls: the ACLs that match a filter, grouped by resource pattern.
//!
//! References: Kafka protocol guide; KIP-140 (ACL admin APIs); KIP-290 (pattern types, v1);
//! Kafka's `AclApis.handleDescribeAcls`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::acl::{AclBinding, AclBindingFilter};

/// Answers the ACLs matching the request's filter; SECURITY_DISABLED without an authorizer,
/// INVALID_REQUEST for a filter with UNKNOWN elements.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeAclsRequest,
) -> Result<DescribeAclsResponse, ConnectionError> {
    let authorizer = &ctx.state.authorizer;
    if !authorizer.is_enabled() {
        return Ok(DescribeAclsResponse::default()
            .with_error_code(ResponseError::SecurityDisabled.code())
            .with_error_message(Some(str_bytes("No Authorizer is configured on the broker"))));
    }
    let filter = AclBindingFilter {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.map(|s| s.to_string()),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.map(|s| s.to_string()),
        host: request.host_filter.map(|s| s.to_string()),
        operation: request.operation,
        permission: request.permission_type,
    };
    if let Err(invalid) = filter.validate() {
        return Ok(DescribeAclsResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(str_bytes(invalid.0))));
    }
    Ok(DescribeAclsResponse::default()
        .with_error_message(None)
        .with_resources(group_by_resource(authorizer.acls(&filter))))
}

/// Kafka's `DescribeAclsResponse.aclsResources`: one entry per resource pattern.
fn group_by_resource(acls: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in acls {
        let description = AclDescription::default()
            .with_principal(str_bytes(acl.principal))
            .with_host(str_bytes(acl.host))
            .with_operation(acl.operation as i8)
            .with_permission_type(acl.permission as i8);
        let same = |r: &&mut DescribeAclsResource| {
            r.resource_type == acl.resource_type as i8
                && r.pattern_type == acl.pattern_type as i8
                && *r.resource_name == *acl.resource_name
        };
        match resources.iter_mut().find(same) {
            Some(resource) => resource.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type as i8)
                    .with_resource_name(str_bytes(acl.resource_name))
                    .with_pattern_type(acl.pattern_type as i8)
                    .with_acls(vec![description]),
            ),
        }
    }
    resources
}
