//! CreateTopics: new topics with partition counts, manual assignments and config overrides;
//! `validate_only` checks without creating.
//!
//! References: KIP-4; KIP-464 (defaults for partitions and replication factor, v4); KIP-525
//! (configs in the response, v5); KIP-516 (topic id, v7).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::config::topic::{definition, TopicConfigs};
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::metadata::topics::TopicError;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

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

/// Why a topic of a CreateTopics request is refused before it is created, with Kafka's
/// message; [`RequestError::code`] gives the error code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// INVALID_REQUEST.
    #[error("Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")]
    CountsWithAssignments,
    /// INVALID_REPLICA_ASSIGNMENT.
    #[error("Partitions should be a consecutive 0-based integer sequence")]
    NotConsecutive,
    /// INVALID_REPLICA_ASSIGNMENT: a broker other than this one, or none.
    #[error("Unknown broker(s) in the replica assignment of partition {partition}: only broker {node_id} exists")]
    UnknownBroker {
        /// The partition.
        partition: i32,
        /// This broker's id.
        node_id: i32,
    },
    /// INVALID_REPLICA_ASSIGNMENT.
    #[error("Duplicate brokers not allowed in replica assignment")]
    DuplicateBrokers,
    /// INVALID_REPLICATION_FACTOR: 0 or below -1.
    #[error("Replication factor must be larger than 0, or -1 to use the default value.")]
    ReplicationFactor,
    /// INVALID_REPLICATION_FACTOR: above 1 on a single node.
    #[error("Unable to replicate the partition {0} time(s): The target replication factor of {0} cannot be reached because only 1 broker(s) are registered.")]
    ReplicationFactorTooLarge(i16),
    /// INVALID_PARTITIONS.
    #[error("Number of partitions was set to an invalid non-positive value.")]
    Partitions,
    /// INVALID_CONFIG.
    #[error("Null value not supported for topic configs: {0}")]
    NullConfig(String),
}

impl RequestError {
    /// The Kafka error code of the refusal.
    pub(crate) fn code(&self) -> ResponseError {
        match self {
            RequestError::CountsWithAssignments => ResponseError::InvalidRequest,
            RequestError::NotConsecutive
            | RequestError::UnknownBroker { .. }
            | RequestError::DuplicateBrokers => ResponseError::InvalidReplicaAssignment,
            RequestError::ReplicationFactor | RequestError::ReplicationFactorTooLarge(_) => {
                ResponseError::InvalidReplicationFactor
            }
            RequestError::Partitions => ResponseError::InvalidPartitions,
            RequestError::NullConfig(_) => ResponseError::InvalidConfig,
        }
    }
}

/// Checks one topic's request and returns (partitions, overrides).
fn check(
    ctx: &RequestContext<'_>,
    topic: &CreatableTopic,
) -> Result<(i32, BTreeMap<String, String>), RequestError> {
    let node_id = ctx.state.config.node_id;
    if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(RequestError::CountsWithAssignments);
        }
        let mut indexes: Vec<i32> = topic
            .assignments
            .iter()
            .map(|a| a.partition_index)
            .collect();
        indexes.sort_unstable();
        if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
            return Err(RequestError::NotConsecutive);
        }
        for assignment in &topic.assignments {
            if assignment.broker_ids.iter().any(|b| b.0 != node_id)
                || assignment.broker_ids.is_empty()
            {
                return Err(RequestError::UnknownBroker {
                    partition: assignment.partition_index,
                    node_id,
                });
            }
            if assignment.broker_ids.len() > 1 {
                return Err(RequestError::DuplicateBrokers);
            }
        }
    } else {
        if topic.replication_factor == 0 || topic.replication_factor < -1 {
            return Err(RequestError::ReplicationFactor);
        }
        if topic.replication_factor > 1 {
            return Err(RequestError::ReplicationFactorTooLarge(
                topic.replication_factor,
            ));
        }
        if topic.num_partitions == 0 || topic.num_partitions < -1 {
            return Err(RequestError::Partitions);
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
            return Err(RequestError::NullConfig(config.name.to_string()));
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
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> Result<CreateTopicsResponse, ConnectionError> {
    let version = ctx.api_version;
    let registry = &ctx.state.topics;
    let duplicates = super::duplicate_names(request.topics.iter().map(|t| t.name.0.as_str()));
    let mut results = Vec::with_capacity(request.topics.len());
    // CREATE on the cluster, else on each topic; the configs of the answer need
    // DESCRIBE_CONFIGS on the topic (Kafka's `ControllerApis.createTopics`).
    let may_create_all = ctx.authorize(Operation::Create, ResourceType::Cluster, CLUSTER_NAME);
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
        if !may_create_all && !ctx.authorize(Operation::Create, ResourceType::Topic, &name) {
            results.push(failure(
                result,
                ResponseError::TopicAuthorizationFailed,
                "Authorization failed.".into(),
            ));
            continue;
        }
        let (partitions, overrides) = match check(ctx, topic) {
            Ok(checked) => checked,
            Err(err) => {
                results.push(failure(result, err.code(), err.to_string()));
                continue;
            }
        };
        let outcome = if request.validate_only {
            registry
                .validate_create(&name, partitions, &overrides)
                .map(|configs| (None, configs))
        } else {
            // Creating the partitions' directories and segment files blocks: off the runtime.
            let state = Arc::clone(ctx.state);
            super::blocking(move || state.topics.create(&name, partitions, overrides))
                .await?
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
                    if ctx.authorize(Operation::DescribeConfigs, ResourceType::Topic, &topic.name) {
                        ok.configs = Some(describe_configs(&configs));
                    } else {
                        ok.topic_config_error_code = ResponseError::TopicAuthorizationFailed.code();
                    }
                }
                results.push(ok);
            }
            Err(err) => results.push(failure(result, topic_error_code(&err), err.to_string())),
        }
    }
    Ok(CreateTopicsResponse::default().with_topics(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_kafkas_codes_and_messages() {
        let cases = [
            (
                RequestError::UnknownBroker {
                    partition: 2,
                    node_id: 0,
                },
                ResponseError::InvalidReplicaAssignment,
                "Unknown broker(s) in the replica assignment of partition 2: only broker 0 exists",
            ),
            (
                RequestError::ReplicationFactorTooLarge(3),
                ResponseError::InvalidReplicationFactor,
                "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered.",
            ),
            (
                RequestError::NullConfig("retention.ms".into()),
                ResponseError::InvalidConfig,
                "Null value not supported for topic configs: retention.ms",
            ),
            (
                RequestError::CountsWithAssignments,
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), message);
        }
    }
}
