//! CreateTopics: new topics with partition counts, manual assignments and config overrides;
//! `validate_only` checks without creating.
//!
//! References: KIP-4; KIP-464 (defaults for partitions and replication factor, v4); KIP-525
//! (configs in the response, v5); KIP-516 (topic id, v7).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::metadata::topic_config::{definition, TopicConfigs};
use crate::metadata::topics::TopicError;

/// The Kafka error code and message for a failed topic operation.
pub(crate) fn topic_error_code(err: &TopicError) -> ResponseError {
    match err {
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Storage(_) | TopicError::Io { .. } => ResponseError::KafkaStorageError,
    }
}

fn failure(
    result: CreatableTopicResult,
    error: ResponseError,
    message: String,
) -> CreatableTopicResult {
    result
        .with_error_code(error.code())
        .with_error_message(Some(str_bytes(message)))
}

/// Checks one topic's request and returns (partitions, overrides).
fn check(
    ctx: &RequestContext<'_>,
    topic: &CreatableTopic,
) -> Result<(i32, BTreeMap<String, String>), (ResponseError, String)> {
    let node_id = ctx.state.config.node_id;
    if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((ResponseError::InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into()));
        }
        let mut indexes: Vec<i32> = topic
            .assignments
            .iter()
            .map(|a| a.partition_index)
            .collect();
        indexes.sort_unstable();
        if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                "Partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        for assignment in &topic.assignments {
            if assignment.broker_ids.iter().any(|b| b.0 != node_id)
                || assignment.broker_ids.is_empty()
            {
                return Err((ResponseError::InvalidReplicaAssignment, format!("Unknown broker(s) in the replica assignment of partition {}: only broker {node_id} exists", assignment.partition_index)));
            }
            if assignment.broker_ids.len() > 1 {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    "Duplicate brokers not allowed in replica assignment".into(),
                ));
            }
        }
    } else {
        if topic.replication_factor == 0 || topic.replication_factor < -1 {
            return Err((
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            ));
        }
        if topic.replication_factor > 1 {
            let rf = topic.replication_factor;
            return Err((
                ResponseError::InvalidReplicationFactor,
                format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."),
            ));
        }
        if topic.num_partitions == 0 || topic.num_partitions < -1 {
            return Err((
                ResponseError::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.".into(),
            ));
        }
    }
    let partitions = if !topic.assignments.is_empty() {
        topic.assignments.len() as i32
    } else if topic.num_partitions == -1 {
        ctx.state.config.num_partitions
    } else {
        topic.num_partitions
    };
    let mut overrides = BTreeMap::new();
    for config in &topic.configs {
        let Some(value) = &config.value else {
            return Err((
                ResponseError::InvalidConfig,
                format!(
                    "Null value not supported for topic configs: {}",
                    config.name.as_str()
                ),
            ));
        };
        overrides.insert(config.name.to_string(), value.to_string());
    }
    Ok((partitions, overrides))
}

fn describe_configs(configs: &TopicConfigs) -> Vec<CreatableTopicConfigs> {
    configs
        .values
        .iter()
        .map(|(name, resolved)| {
            CreatableTopicConfigs::default()
                .with_name(str_bytes(*name))
                .with_value(Some(str_bytes(resolved.value.clone())))
                .with_config_source(resolved.source as i8)
                .with_read_only(definition(name).is_none())
        })
        .collect()
}

/// Creates (or, with `validate_only`, checks) each topic.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> Result<CreateTopicsResponse, ConnectionError> {
    let version = ctx.api_version;
    let registry = &ctx.state.topics;
    let duplicates = super::duplicate_names(request.topics.iter().map(|t| t.name.0.as_str()));
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if duplicates.contains(&name) {
            results.push(failure(result, ResponseError::InvalidRequest, format!("Create topics request from client contains multiple entries for the following topics: {name}")));
            continue;
        }
        let (partitions, overrides) = match check(ctx, topic) {
            Ok(checked) => checked,
            Err((error, message)) => {
                results.push(failure(result, error, message));
                continue;
            }
        };
        let outcome = if request.validate_only {
            registry
                .validate_create(&name, partitions, &overrides)
                .map(|configs| (None, configs))
        } else {
            registry
                .create(&name, partitions, overrides)
                .map(|t| (Some(t.id), t.configs()))
        };
        match outcome {
            Ok((id, configs)) => {
                let mut ok = result;
                if version >= 5 {
                    ok = ok
                        .with_num_partitions(partitions)
                        .with_replication_factor(1);
                }
                if let (Some(id), true) = (id, version >= 7) {
                    ok.topic_id = id;
                }
                if version >= 5 {
                    ok.configs = Some(describe_configs(&configs));
                }
                results.push(ok);
            }
            Err(err) => results.push(failure(result, topic_error_code(&err), err.to_string())),
        }
    }
    Ok(CreateTopicsResponse::default().with_topics(results))
}
