//! DeleteGroups: removes empty groups and their committed offsets.
//!
//! References: Kafka protocol guide; KIP-229.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Deletes each group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or INVALID_GROUP_ID per group.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> Result<DeleteGroupsResponse, ConnectionError> {
    // DELETE on each group (Kafka's `handleDeleteGroupsRequest`).
    let authorized: Vec<bool> = request
        .groups_names
        .iter()
        .map(|g| ctx.authorize(Operation::Delete, ResourceType::Group, g))
        .collect();
    let ids: Vec<String> = request
        .groups_names
        .iter()
        .zip(&authorized)
        .filter(|(_, a)| **a)
        .map(|(g, _)| g.to_string())
        .collect();
    let state = &ctx.state;
    let mut errors = state.groups.delete_groups(&ids).await.into_iter();
    let results = request
        .groups_names
        .into_iter()
        .zip(authorized)
        .map(|(id, authorized)| {
            let error = if authorized {
                errors.next().flatten()
            } else {
                Some(ResponseError::GroupAuthorizationFailed)
            };
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(optional_code(error))
        })
        .collect();
    Ok(DeleteGroupsResponse::default().with_results(results))
}
