//! AlterConfigs: replaces the whole set of dynamic configs of a topic or the broker.
//!
//! The topic and broker resources share `Target` with IncrementalAlterConfigs: a resource
//! is looked up, its current overrides read, the new set checked (INVALID_CONFIG with
//! Kafka's message) and then persisted and applied at once, without a restart.
//!
//! References: KIP-133 (AlterConfigs); KIP-226 (dynamic broker configs: an empty broker name
//! is the cluster-wide default, the node id this broker).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::{alter_refusals, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::config::topic::{definition, is_broker_synonym};
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::metadata::topics::{Topic, TopicError};
use crate::state::BrokerState;

/// Broker keys that can be altered at run time besides the topic config defaults.
const DYNAMIC_BROKER_KEYS: &[&str] = &[
    "log.cleaner.backoff.ms",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
];

/// Why altering a resource's configs failed. The message is Kafka's; [`AlterError::code`]
/// gives the error code the resource is answered with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AlterError {
    /// The topic does not exist: UNKNOWN_TOPIC_OR_PARTITION.
    #[error("The topic '{0}' does not exist.")]
    UnknownTopic(String),
    /// A broker resource named neither empty nor this node: INVALID_REQUEST.
    #[error("Unexpected broker id, expected {node_id} or empty string, but received {name}")]
    OtherBroker {
        /// This broker's id.
        node_id: i32,
        /// The name given.
        name: String,
    },
    /// A resource type other than topic and broker: INVALID_REQUEST.
    #[error("Unsupported resource type {0}")]
    UnsupportedResourceType(i8),
    /// No ALTER_CONFIGS on the topic or cluster: TOPIC_ or CLUSTER_AUTHORIZATION_FAILED,
    /// without a message as in Kafka.
    #[error("")]
    Unauthorized(ResponseError),
    /// A resource given twice in one request: INVALID_REQUEST.
    #[error("Duplicate resource {0} in the request")]
    DuplicateResource(String),
    /// A key given twice in one IncrementalAlterConfigs resource: INVALID_REQUEST.
    #[error("Error due to duplicate config keys: {0}")]
    DuplicateKey(String),
    /// An operation code outside SET, DELETE, APPEND, SUBTRACT: INVALID_REQUEST.
    #[error("Unknown config operation {operation} for {key}")]
    UnknownOperation {
        /// The operation code.
        operation: i8,
        /// The key.
        key: String,
    },
    /// A topic config name Kafka does not know: INVALID_CONFIG.
    #[error("Unknown topic config name: {0}")]
    UnknownTopicConfig(String),
    /// A broker key that cannot change at run time: INVALID_CONFIG.
    #[error("Cannot update these configs dynamically: Set({0})")]
    NotDynamic(String),
    /// APPEND or SUBTRACT on a key that is not a list: INVALID_CONFIG.
    #[error("Config value {operation} is not allowed for config key: {key}")]
    NotAList {
        /// `append` or `subtract`.
        operation: &'static str,
        /// The key.
        key: String,
    },
    /// A dynamic broker key with a value that is not a non-negative number: INVALID_CONFIG.
    #[error("Invalid value {value} for configuration {key}: must be a non-negative number")]
    NotANumber {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// The registry refused or could not persist the new configs.
    #[error("{0}")]
    Topics(#[from] TopicError),
}

impl AlterError {
    /// The Kafka error code of the failure.
    pub(crate) fn code(&self) -> ResponseError {
        match self {
            AlterError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            AlterError::Unauthorized(error) => *error,
            AlterError::OtherBroker { .. }
            | AlterError::UnsupportedResourceType(_)
            | AlterError::DuplicateResource(_)
            | AlterError::DuplicateKey(_)
            | AlterError::UnknownOperation { .. } => ResponseError::InvalidRequest,
            AlterError::UnknownTopicConfig(_)
            | AlterError::NotDynamic(_)
            | AlterError::NotAList { .. }
            | AlterError::NotANumber { .. } => ResponseError::InvalidConfig,
            AlterError::Topics(TopicError::InvalidConfig(_)) => ResponseError::InvalidConfig,
            AlterError::Topics(TopicError::Unknown) => ResponseError::UnknownTopicOrPartition,
            AlterError::Topics(_) => ResponseError::KafkaStorageError,
        }
    }
}

/// What a config alteration targets.
pub(crate) enum Target {
    /// A topic's overrides.
    Topic(Arc<Topic>),
    /// The broker's dynamic configs: the cluster-wide default (`default`) or this node's.
    Broker {
        /// Empty resource name: DYNAMIC_DEFAULT_BROKER_CONFIG.
        default: bool,
    },
}

impl Target {
    /// Looks the resource up.
    ///
    /// Errors: UNKNOWN_TOPIC_OR_PARTITION for a missing topic, INVALID_REQUEST for another
    /// broker's id or an unsupported resource type.
    pub(crate) fn find(
        state: &BrokerState,
        resource_type: i8,
        name: &str,
    ) -> Result<Self, AlterError> {
        let node_id = state.config.node_id;
        match resource_type {
            RESOURCE_TOPIC => state
                .topics
                .get(name)
                .map(Target::Topic)
                .ok_or_else(|| AlterError::UnknownTopic(name.to_string())),
            RESOURCE_BROKER if name.is_empty() => Ok(Target::Broker { default: true }),
            RESOURCE_BROKER if name.parse::<i32>().ok() == Some(node_id) => {
                Ok(Target::Broker { default: false })
            }
            RESOURCE_BROKER => Err(AlterError::OtherBroker {
                node_id,
                name: name.to_string(),
            }),
            other => Err(AlterError::UnsupportedResourceType(other)),
        }
    }

    /// The resource's current dynamic configs.
    pub(crate) fn current(&self, state: &BrokerState) -> BTreeMap<String, String> {
        match self {
            Target::Topic(topic) => topic.overrides(),
            Target::Broker { default } => {
                let layers = state.topics.broker_configs();
                if *default {
                    layers.dynamic_default
                } else {
                    layers.dynamic_broker
                }
            }
        }
    }

    /// Whether `key` may be set on this resource; INVALID_CONFIG otherwise.
    pub(crate) fn check_key(&self, key: &str) -> Result<(), AlterError> {
        let known = match self {
            Target::Topic(_) => definition(key).is_some(),
            Target::Broker { .. } => is_broker_synonym(key) || DYNAMIC_BROKER_KEYS.contains(&key),
        };
        if known {
            return Ok(());
        }
        Err(match self {
            Target::Topic(_) => AlterError::UnknownTopicConfig(key.to_string()),
            Target::Broker { .. } => AlterError::NotDynamic(key.to_string()),
        })
    }

    /// Checks `configs` as the resource's new dynamic configs and, unless `validate_only`,
    /// persists and applies them.
    pub(crate) fn replace(
        &self,
        state: &BrokerState,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), AlterError> {
        for key in configs.keys() {
            self.check_key(key)?;
        }
        let topics = &state.topics;
        let result = match self {
            Target::Topic(topic) => topics.set_topic_overrides(topic, configs, validate_only),
            Target::Broker { default } => {
                for key in DYNAMIC_BROKER_KEYS {
                    if let Some(v) = configs.get(*key) {
                        if v.trim().parse::<i64>().map_or(true, |n| n < 0) {
                            return Err(AlterError::NotANumber {
                                key,
                                value: v.clone(),
                            });
                        }
                    }
                }
                let layers = topics.broker_configs();
                let (broker, cluster) = if *default {
                    (layers.dynamic_broker, configs)
                } else {
                    (configs, layers.dynamic_default)
                };
                topics.set_dynamic_broker_configs(broker, cluster, validate_only)
            }
        };
        result.map_err(|err| {
            let err = AlterError::from(err);
            if err.code() == ResponseError::KafkaStorageError {
                tracing::error!(%err, "cannot persist altered configs");
            }
            err
        })
    }
}

/// The response entry for one resource.
fn outcome(
    resource_type: i8,
    resource_name: &kafka_protocol::protocol::StrBytes,
    result: Result<(), AlterError>,
) -> AlterConfigsResourceResponse {
    let response = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(resource_name.clone());
    match result {
        Ok(()) => response,
        Err(AlterError::Unauthorized(error)) => response.with_error_code(error.code()),
        Err(err) => response
            .with_error_code(err.code().code())
            .with_error_message(Some(str_bytes(err.to_string()))),
    }
}

/// Checks and applies every resource of `request` in order (blocking: persists configs).
fn alter_all(
    state: &BrokerState,
    request: &AlterConfigsRequest,
    refused: &[Option<ResponseError>],
) -> Vec<AlterConfigsResourceResponse> {
    // A resource is its type and name: topic "0" and broker "0" are different ones.
    let keys: Vec<String> = request
        .resources
        .iter()
        .map(|r| format!("{}:{}", r.resource_type, r.resource_name.as_str()))
        .collect();
    let duplicates = super::duplicate_names(keys.iter().map(String::as_str));
    let mut responses = Vec::with_capacity(request.resources.len());
    for ((resource, key), refused) in request.resources.iter().zip(&keys).zip(refused) {
        let name = resource.resource_name.as_str();
        let result = if let Some(error) = refused {
            Err(AlterError::Unauthorized(*error))
        } else if duplicates.contains(key) {
            Err(AlterError::DuplicateResource(name.to_string()))
        } else {
            Target::find(state, resource.resource_type, name).and_then(|target| {
                let configs = resource
                    .configs
                    .iter()
                    .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                    .collect();
                target.replace(state, configs, request.validate_only)
            })
        };
        responses.push(outcome(
            resource.resource_type,
            &resource.resource_name,
            result,
        ));
    }
    responses
}

/// Replaces each resource's dynamic configs with the ones given (a null value is dropped);
/// a resource named twice gets INVALID_REQUEST.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> Result<AlterConfigsResponse, ConnectionError> {
    // Persisting configs fsyncs: the whole request runs on the blocking pool.
    let refused = alter_refusals(
        ctx,
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let state = Arc::clone(ctx.state);
    let responses = super::blocking(move || alter_all(&state, &request, &refused)).await?;
    Ok(AlterConfigsResponse::default().with_responses(responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_kafkas_codes_and_messages() {
        let cases = [
            (
                AlterError::UnknownTopic("t".into()),
                ResponseError::UnknownTopicOrPartition,
                "The topic 't' does not exist.",
            ),
            (
                AlterError::OtherBroker {
                    node_id: 0,
                    name: "7".into(),
                },
                ResponseError::InvalidRequest,
                "Unexpected broker id, expected 0 or empty string, but received 7",
            ),
            (
                AlterError::NotDynamic("num.io.threads".into()),
                ResponseError::InvalidConfig,
                "Cannot update these configs dynamically: Set(num.io.threads)",
            ),
            (
                AlterError::NotAList {
                    operation: "append",
                    key: "retention.ms".into(),
                },
                ResponseError::InvalidConfig,
                "Config value append is not allowed for config key: retention.ms",
            ),
            (
                AlterError::Topics(TopicError::Unknown),
                ResponseError::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), message);
        }
    }
}
