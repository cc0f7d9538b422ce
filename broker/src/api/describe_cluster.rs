//! DescribeCluster: this node as the whole cluster, and its controller.
//!
//! References: KIP-700; KIP-919 (endpoint type, v1).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, OPERATIONS_NOT_REQUESTED};
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{ResourceType, CLUSTER_NAME};

/// Answers with this broker; a request for controller endpoints (v1, type 2) gets
/// MISMATCHED_ENDPOINT_TYPE as from any Kafka broker.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeClusterRequest,
) -> Result<DescribeClusterResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(state.cluster_id.clone()))
        .with_controller_id(BrokerId(state.config.node_id))
        .with_endpoint_type(if version >= 1 {
            request.endpoint_type
        } else {
            1
        })
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
        } else {
            OPERATIONS_NOT_REQUESTED
        });
    if request.endpoint_type != 1 {
        return Ok(response
            .with_error_code(ResponseError::MismatchedEndpointType.code())
            .with_error_message(Some(str_bytes("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"))));
    }
    if let Some(listener) = ctx.listener() {
        response.brokers.push(
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(state.config.node_id))
                .with_host(str_bytes(listener.advertised_host.clone()))
                .with_port(listener.advertised_port),
        );
    }
    Ok(response)
}
