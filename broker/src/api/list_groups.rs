//! ListGroups: every group, with its state (v4, KIP-518) and type (v5, KIP-848), filtered by
//! state and type.
//!
//! References: Kafka protocol guide; KIP-518, KIP-848.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

/// The groups matching the request's filters.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ListGroupsRequest,
) -> Result<ListGroupsResponse, ConnectionError> {
    let version = ctx.api_version;
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.to_string()).collect();
    // DESCRIBE on the cluster lists every group, else those the principal may DESCRIBE
    // (Kafka's `handleListGroupsRequest`).
    let every_group = ctx.authorize(Operation::Describe, ResourceType::Cluster, CLUSTER_NAME);
    let groups = ctx
        .state
        .groups
        .list_groups(&states, &types)
        .into_iter()
        .filter(|g| {
            every_group || ctx.authorize(Operation::Describe, ResourceType::Group, &g.group_id)
        })
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type));
            if version >= 4 {
                listed = listed.with_group_state(str_bytes(g.state));
            }
            if version >= 5 {
                listed = listed.with_group_type(str_bytes(g.group_type));
            }
            listed
        })
        .collect();
    Ok(ListGroupsResponse::default().with_groups(groups))
}
