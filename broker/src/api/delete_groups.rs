//! DeleteGroups: removes empty groups and their committed offsets.
//!
//! References: Kafka protocol guide; KIP-229.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::connection::Session;
use crate::error::optional_code;

/// Deletes each group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or INVALID_GROUP_ID per group.
pub fn handle(
    session: &Session,
    request: DeleteGroupsRequest,
    _version: i16,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = request.groups_names.iter().map(|g| g.to_string()).collect();
    let state = &session.state;
    let errors = state.groups.delete_groups(&state.topics, &ids);
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
    DeleteGroupsResponse::default().with_results(results)
}
