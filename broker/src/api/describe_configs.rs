//! DescribeConfigs: a topic's or the broker's configs, with sources and (v1+) synonyms.
//!
//! References: KIP-133; KIP-226 (sources and synonyms); KIP-569 (types and documentation, v3).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::str_bytes;
use crate::config::topic::{
    definition, ConfigSource, ConfigType, ResolvedConfig, TopicConfigs, TOPIC_CONFIGS,
};
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

/// Resource type of a topic.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
/// Resource type of a broker.
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Broker-only configs described for a broker resource: (key, Kafka's default, type).
const BROKER_CONFIGS: &[(&str, &str, ConfigType)] = &[
    ("advertised.listeners", "", ConfigType::String),
    ("auto.create.topics.enable", "true", ConfigType::Boolean),
    ("broker.id", "-1", ConfigType::Int),
    ("default.replication.factor", "1", ConfigType::Int),
    ("delete.topic.enable", "true", ConfigType::Boolean),
    ("group.initial.rebalance.delay.ms", "3000", ConfigType::Int),
    ("listeners", "PLAINTEXT://:9092", ConfigType::List),
    ("log.dirs", "", ConfigType::String),
    (
        "max.incremental.fetch.ctx.cache.slots",
        "1000",
        ConfigType::Int,
    ),
    ("node.id", "-1", ConfigType::Int),
    ("num.partitions", "1", ConfigType::Int),
    ("offsets.topic.replication.factor", "3", ConfigType::Short),
    ("socket.request.max.bytes", "104857600", ConfigType::Int),
    (
        "transaction.state.log.replication.factor",
        "3",
        ConfigType::Short,
    ),
];

fn entry(
    name: &str,
    resolved: &ResolvedConfig,
    config_type: ConfigType,
    read_only: bool,
    request: &DescribeConfigsRequest,
    doc: &str,
) -> DescribeConfigsResourceResult {
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(resolved.value.clone())))
        .with_read_only(read_only)
        .with_config_source(resolved.source as i8)
        .with_config_type(config_type as i8);
    if request.include_synonyms {
        result.synonyms = resolved
            .synonyms
            .iter()
            .map(|(key, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(key.clone()))
                    .with_value(Some(str_bytes(value.clone())))
                    .with_source(*source as i8)
            })
            .collect();
    }
    result.documentation = request.include_documentation.then(|| str_bytes(doc));
    result
}

fn wanted(keys: &Option<Vec<kafka_protocol::protocol::StrBytes>>, name: &str) -> bool {
    keys.as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
}

fn topic_configs(
    configs: &TopicConfigs,
    keys: &Option<Vec<kafka_protocol::protocol::StrBytes>>,
    request: &DescribeConfigsRequest,
) -> Vec<DescribeConfigsResourceResult> {
    configs
        .values
        .iter()
        .filter(|(name, _)| wanted(keys, name))
        .map(|(name, resolved)| {
            let def = definition(name);
            entry(
                name,
                resolved,
                def.map_or(ConfigType::String, |d| d.config_type),
                false,
                request,
                def.map_or("", |d| d.doc),
            )
        })
        .collect()
}

fn broker_configs(
    ctx: &RequestContext<'_>,
    keys: &Option<Vec<kafka_protocol::protocol::StrBytes>>,
    request: &DescribeConfigsRequest,
) -> Vec<DescribeConfigsResourceResult> {
    let layers = ctx.state.topics.broker_configs();
    // A broker key without a value of its own and without a default (log.retention.ms,
    // whose default lives in log.retention.hours) describes as null, as in Kafka.
    let resolve = |key: &str, default: Option<&str>| {
        let mut synonyms = Vec::new();
        for (source, properties) in layers.layers() {
            if let Some(v) = properties.get(key) {
                synonyms.push((key.to_string(), v.clone(), source));
            }
        }
        if let Some(default) = default {
            synonyms.push((key.to_string(), default.to_string(), ConfigSource::Default));
        }
        match synonyms.first().map(|(_, v, s)| (v.clone(), *s)) {
            Some((value, source)) => (
                Some(value),
                ResolvedConfig {
                    value: String::new(),
                    source,
                    synonyms,
                },
            ),
            None => (
                None,
                ResolvedConfig {
                    value: String::new(),
                    source: ConfigSource::Default,
                    synonyms,
                },
            ),
        }
    };
    let mut out = Vec::new();
    let mut push =
        |key: &str, default: Option<&str>, config_type: ConfigType, read_only: bool, doc: &str| {
            let (value, resolved) = resolve(key, default);
            let mut described = entry(key, &resolved, config_type, read_only, request, doc);
            described.value = value.map(str_bytes);
            out.push(described);
        };
    for (key, default, config_type) in BROKER_CONFIGS {
        if wanted(keys, key) {
            push(key, Some(default), *config_type, true, "");
        }
    }
    for def in TOPIC_CONFIGS {
        let last = def.synonyms.len().saturating_sub(1);
        for (i, (key, factor)) in def.synonyms.iter().enumerate() {
            if !wanted(keys, key) || BROKER_CONFIGS.iter().any(|(k, _, _)| k == key) {
                continue;
            }
            // The default sits on the coarsest synonym (log.retention.hours=168).
            let default = (i == last).then(|| {
                if *factor == 1 {
                    def.default.to_string()
                } else {
                    (def.default.parse::<i64>().unwrap_or(0) / factor).to_string()
                }
            });
            push(
                key,
                default.as_deref(),
                if *factor == 1 {
                    def.config_type
                } else {
                    ConfigType::Int
                },
                false,
                def.doc,
            );
        }
    }
    out.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    out
}

/// The refusal of `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config resource: on
/// the topic for a topic, on the cluster for a broker or broker logger (8), as Kafka's
/// `KafkaApis` checks config APIs.
pub(crate) fn config_refusal(
    ctx: &RequestContext<'_>,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Option<ResponseError> {
    match resource_type {
        RESOURCE_TOPIC if !ctx.authorize(operation, ResourceType::Topic, name) => {
            Some(ResponseError::TopicAuthorizationFailed)
        }
        RESOURCE_BROKER | 8 if !ctx.authorize(operation, ResourceType::Cluster, CLUSTER_NAME) => {
            Some(ResponseError::ClusterAuthorizationFailed)
        }
        _ => None,
    }
}

/// The ALTER_CONFIGS refusal of each `(resource type, name)` of an AlterConfigs or
/// IncrementalAlterConfigs request, in request order (`None`: allowed).
pub(crate) fn alter_refusals<'a>(
    ctx: &RequestContext<'_>,
    resources: impl Iterator<Item = (i8, &'a str)>,
) -> Vec<Option<ResponseError>> {
    resources
        .map(|(resource_type, name)| {
            config_refusal(ctx, Operation::AlterConfigs, resource_type, name)
        })
        .collect()
}

/// Describes each resource; unknown topics get UNKNOWN_TOPIC_OR_PARTITION, another broker's
/// id INVALID_REQUEST, other resource types INVALID_REQUEST.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> Result<DescribeConfigsResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let mut results = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let name = resource.resource_name.to_string();
        let result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let fail = |error: ResponseError, message: String| {
            result
                .clone()
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(message)))
        };
        if let Some(error) = config_refusal(
            ctx,
            Operation::DescribeConfigs,
            resource.resource_type,
            &name,
        ) {
            let message = match error {
                ResponseError::TopicAuthorizationFailed => "Topic authorization failed.",
                _ => "Cluster authorization failed.",
            };
            results.push(fail(error, message.into()));
            continue;
        }
        let described = match resource.resource_type {
            RESOURCE_TOPIC => match state.topics.get(&name) {
                Some(topic) => result.clone().with_configs(topic_configs(
                    &topic.configs(),
                    &resource.configuration_keys,
                    &request,
                )),
                None => fail(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                ),
            },
            RESOURCE_BROKER
                if name.is_empty() || name.parse::<i32>().ok() == Some(state.config.node_id) =>
            {
                result.clone().with_configs(broker_configs(
                    ctx,
                    &resource.configuration_keys,
                    &request,
                ))
            }
            RESOURCE_BROKER => fail(
                ResponseError::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {name}",
                    state.config.node_id
                ),
            ),
            other => fail(
                ResponseError::InvalidRequest,
                format!("Unsupported resource type {other}"),
            ),
        };
        results.push(described);
    }
    if version < 3 {
        for config in results.iter_mut().flat_map(|r| r.configs.iter_mut()) {
            config.config_type = 0;
            config.documentation = Some(Default::default());
        }
    }
    Ok(DescribeConfigsResponse::default().with_results(results))
}
