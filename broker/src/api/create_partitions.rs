//! CreatePartitions: grows a topic's partition count.
//!
//! References: KIP-195.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::create_topics::topic_error_code;
use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Grows each topic to its requested count (or checks it, with `validate_only`).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> Result<CreatePartitionsResponse, ConnectionError> {
    let state = &ctx.state;
    let node_id = state.config.node_id;
    let duplicates = super::duplicate_names(request.topics.iter().map(|t| t.name.0.as_str()));
    let mut results = Vec::new();
    for wanted in request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(wanted.name.clone());
        let fail = |error: ResponseError, message: String| {
            result
                .clone()
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(message)))
        };
        let name = wanted.name.0.to_string();
        if duplicates.contains(&name) {
            results.push(fail(
                ResponseError::InvalidRequest,
                format!("Duplicate topic in request: {name}"),
            ));
            continue;
        }
        // ALTER on the topic (Kafka's `createPartitions`).
        if !ctx.authorize(Operation::Alter, ResourceType::Topic, &name) {
            results.push(fail(
                ResponseError::TopicAuthorizationFailed,
                "Topic authorization failed.".into(),
            ));
            continue;
        }
        let Some(topic) = state.topics.get(&name) else {
            results.push(fail(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            ));
            continue;
        };
        let current = topic.partition_count();
        if let Some(assignments) = &wanted.assignments {
            let added = wanted.count - current;
            if added > 0 && assignments.len() as i32 != added {
                results.push(fail(ResponseError::InvalidReplicaAssignment, format!("Increasing the number of partitions by {added} but {} assignments provided.", assignments.len())));
                continue;
            }
            if assignments
                .iter()
                .any(|a| a.broker_ids.len() != 1 || a.broker_ids.iter().any(|b| b.0 != node_id))
            {
                results.push(fail(ResponseError::InvalidReplicaAssignment, format!("Unknown broker(s) in the replica assignment: only broker {node_id} exists.")));
                continue;
            }
        }
        // Creating the new partitions' files blocks: off the runtime.
        let added = {
            let (state, count, validate_only) =
                (Arc::clone(state), wanted.count, request.validate_only);
            super::blocking(move || state.topics.add_partitions(&topic, count, validate_only))
                .await?
        };
        match added {
            Ok(()) => results.push(result),
            Err(err) => results.push(fail(topic_error_code(&err), err.to_string())),
        }
    }
    Ok(CreatePartitionsResponse::default().with_results(results))
}
