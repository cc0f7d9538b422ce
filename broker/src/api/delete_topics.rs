//! DeleteTopics: removes topics and their data, by name or (v6) by topic id.
//!
//! References: KIP-4; KIP-516 (topic ids, v6).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Deletes each named topic; UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID for missing ones,
/// TOPIC_DELETION_DISABLED when `delete.topic.enable=false`.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteTopicsRequest,
) -> Result<DeleteTopicsResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let topic = match &name {
            Some(name) => state.topics.get(name),
            None => state.topics.get_by_id(id),
        };
        let mut result = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(str_bytes(n))))
            .with_topic_id(id);
        // DELETE on the topic, checked before its existence when it is named (Kafka's
        // `handleDeleteTopicsRequest`); an unknown id is unknown first.
        let refused = match (&name, &topic) {
            (Some(name), _) => !ctx.authorize(Operation::Delete, ResourceType::Topic, name),
            (None, Some(topic)) => {
                !ctx.authorize(Operation::Delete, ResourceType::Topic, &topic.name)
            }
            (None, None) => false,
        };
        let error = match topic {
            _ if refused => Some((
                ResponseError::TopicAuthorizationFailed,
                "Topic authorization failed.".to_string(),
            )),
            None if name.is_none() => Some((
                ResponseError::UnknownTopicId,
                "This server does not host this topic ID.".to_string(),
            )),
            None => Some((
                ResponseError::UnknownTopicOrPartition,
                "This server does not host this topic-partition.".to_string(),
            )),
            Some(_) if !state.config.delete_topic_enable => Some((
                ResponseError::TopicDeletionDisabled,
                "Topic deletion is disabled.".to_string(),
            )),
            Some(topic) => {
                result.name = Some(TopicName(str_bytes(topic.name.clone())));
                if version >= 6 {
                    result.topic_id = topic.id;
                }
                // Removing the partitions' files blocks: off the runtime.
                let deleted = {
                    let (state, topic) = (Arc::clone(state), Arc::clone(&topic));
                    super::blocking(move || state.topics.delete(&topic, state.clock.now_ms()))
                        .await?
                };
                if deleted.is_ok() {
                    // Kafka removes every group's offsets of a deleted topic.
                    state.groups.on_topic_deleted(&topic.name).await;
                }
                deleted
                    .err()
                    .map(|e| (ResponseError::KafkaStorageError, e.to_string()))
            }
        };
        if let Some((error, message)) = error {
            result.error_code = error.code();
            if version >= 5 {
                result.error_message = Some(str_bytes(message));
            }
        }
        responses.push(result);
    }
    Ok(DeleteTopicsResponse::default().with_responses(responses))
}
