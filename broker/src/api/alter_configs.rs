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

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::metadata::topic_config::{definition, is_broker_synonym};
use crate::metadata::topics::{Topic, TopicError};

/// Broker keys that can be altered at run time besides the topic config defaults.
const DYNAMIC_BROKER_KEYS: &[&str] = &[
    "log.cleaner.backoff.ms",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
];

/// Why altering a resource failed: the error code and its message.
pub(crate) type Failure = (ResponseError, String);

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
        ctx: &RequestContext<'_>,
        resource_type: i8,
        name: &str,
    ) -> Result<Self, Failure> {
        let node_id = ctx.state.config.node_id;
        match resource_type {
            RESOURCE_TOPIC => ctx.state.topics.get(name).map(Target::Topic).ok_or((
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            )),
            RESOURCE_BROKER if name.is_empty() => Ok(Target::Broker { default: true }),
            RESOURCE_BROKER if name.parse::<i32>().ok() == Some(node_id) => {
                Ok(Target::Broker { default: false })
            }
            RESOURCE_BROKER => Err((
                ResponseError::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {node_id} or empty string, but received {name}"
                ),
            )),
            other => Err((
                ResponseError::InvalidRequest,
                format!("Unsupported resource type {other}"),
            )),
        }
    }

    /// The resource's current dynamic configs.
    pub(crate) fn current(&self, ctx: &RequestContext<'_>) -> BTreeMap<String, String> {
        match self {
            Target::Topic(topic) => topic.overrides(),
            Target::Broker { default } => {
                let layers = ctx.state.topics.broker_configs();
                if *default {
                    layers.dynamic_default
                } else {
                    layers.dynamic_broker
                }
            }
        }
    }

    /// Whether `key` may be set on this resource; INVALID_CONFIG otherwise.
    pub(crate) fn check_key(&self, key: &str) -> Result<(), Failure> {
        let known = match self {
            Target::Topic(_) => definition(key).is_some(),
            Target::Broker { .. } => is_broker_synonym(key) || DYNAMIC_BROKER_KEYS.contains(&key),
        };
        if known {
            return Ok(());
        }
        Err((
            ResponseError::InvalidConfig,
            match self {
                Target::Topic(_) => format!("Unknown topic config name: {key}"),
                Target::Broker { .. } => {
                    format!("Cannot update these configs dynamically: Set({key})")
                }
            },
        ))
    }

    /// Checks `configs` as the resource's new dynamic configs and, unless `validate_only`,
    /// persists and applies them.
    pub(crate) fn replace(
        &self,
        ctx: &RequestContext<'_>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), Failure> {
        for key in configs.keys() {
            self.check_key(key)?;
        }
        let topics = &ctx.state.topics;
        let result = match self {
            Target::Topic(topic) => topics.set_topic_overrides(topic, configs, validate_only),
            Target::Broker { default } => {
                for key in DYNAMIC_BROKER_KEYS {
                    if let Some(v) = configs.get(*key) {
                        if v.trim().parse::<i64>().map_or(true, |n| n < 0) {
                            return Err((
                                ResponseError::InvalidConfig,
                                format!("Invalid value {v} for configuration {key}: must be a non-negative number"),
                            ));
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
        result.map_err(|err| match err {
            TopicError::InvalidConfig(e) => (ResponseError::InvalidConfig, e.to_string()),
            TopicError::Unknown => (ResponseError::UnknownTopicOrPartition, err.to_string()),
            other => {
                tracing::error!(err = %other, "cannot persist altered configs");
                (ResponseError::KafkaStorageError, other.to_string())
            }
        })
    }
}

/// The response entry for one resource.
fn outcome(
    resource_type: i8,
    resource_name: &kafka_protocol::protocol::StrBytes,
    result: Result<(), Failure>,
) -> AlterConfigsResourceResponse {
    let response = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(resource_name.clone());
    match result {
        Ok(()) => response,
        Err((error, message)) => response
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message))),
    }
}

/// Replaces each resource's dynamic configs with the ones given (a null value is dropped);
/// a resource named twice gets INVALID_REQUEST.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterConfigsRequest,
) -> Result<AlterConfigsResponse, ConnectionError> {
    // A resource is its type and name: topic "0" and broker "0" are different ones.
    let keys: Vec<String> = request
        .resources
        .iter()
        .map(|r| format!("{}:{}", r.resource_type, r.resource_name.as_str()))
        .collect();
    let duplicates = super::duplicate_names(keys.iter().map(String::as_str));
    let mut responses = Vec::with_capacity(request.resources.len());
    for (resource, key) in request.resources.iter().zip(&keys) {
        let name = resource.resource_name.as_str();
        let result = if duplicates.contains(key) {
            Err((
                ResponseError::InvalidRequest,
                format!("Duplicate resource {name} in the request"),
            ))
        } else {
            Target::find(ctx, resource.resource_type, name).and_then(|target| {
                let configs = resource
                    .configs
                    .iter()
                    .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                    .collect();
                target.replace(ctx, configs, request.validate_only)
            })
        };
        responses.push(outcome(
            resource.resource_type,
            &resource.resource_name,
            result,
        ));
    }
    Ok(AlterConfigsResponse::default().with_responses(responses))
}
