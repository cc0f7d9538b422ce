//! DeleteGroups: removes empty groups and their committed offsets.
//!
//! References: Kafka protocol guide; KIP-229.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::context::RequestContext;
use crate::error::optional_code;
use crate::error::ConnectionError;

/// Deletes each group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or INVALID_GROUP_ID per group.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> Result<DeleteGroupsResponse, ConnectionError> {
    let ids: Vec<String> = request.groups_names.iter().map(|g| g.to_string()).collect();
    let state = &ctx.state;
    let errors = state.groups.delete_groups(&ids).await;
    let results = request
        .groups_names
        .into_iter()
        .zip(errors)
        .map(|(id, error)| {
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(optional_code(error))
        })
        .collect();
    Ok(DeleteGroupsResponse::default().with_results(results))
}
