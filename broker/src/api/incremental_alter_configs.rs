//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on single configs of a topic
//! or the broker, applied together or not at all per resource.
//!
//! References: KIP-339 (IncrementalAlterConfigs; APPEND and SUBTRACT only for list configs,
//! starting from the current value or the default).

use std::collections::HashSet;

use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::{AlterError, Target};
use super::describe_configs::alter_refusals;
use super::str_bytes;
use crate::config::topic::{definition, ConfigType, TOPIC_CONFIGS};
use std::sync::Arc;

use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::state::BrokerState;

/// Operation codes (KIP-339).
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Whether `key` (a topic config or a broker synonym of one) is a list.
fn is_list(key: &str) -> bool {
    definition(key)
        .or_else(|| {
            TOPIC_CONFIGS
                .iter()
                .find(|d| d.synonyms.iter().any(|(s, _)| *s == key))
        })
        .is_some_and(|d| d.config_type == ConfigType::List)
}

/// The default of a list config, for APPEND/SUBTRACT on a config not set yet.
fn list_default(key: &str) -> String {
    definition(key)
        .or_else(|| {
            TOPIC_CONFIGS
                .iter()
                .find(|d| d.synonyms.iter().any(|(s, _)| *s == key))
        })
        .map_or_else(String::new, |d| d.default.to_string())
}

fn apply(
    state: &BrokerState,
    resource: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Result<(), AlterError> {
    let target = Target::find(
        state,
        resource.resource_type,
        resource.resource_name.as_str(),
    )?;
    let mut seen = HashSet::new();
    for config in &resource.configs {
        if !seen.insert(config.name.as_str()) {
            return Err(AlterError::DuplicateKey(config.name.to_string()));
        }
    }
    let mut configs = target.current(state);
    for config in &resource.configs {
        let key = config.name.to_string();
        target.check_key(&key)?;
        let value = config.value.as_ref().map(|v| v.to_string());
        match config.config_operation {
            SET => {
                configs.insert(key, value.unwrap_or_default());
            }
            DELETE => {
                configs.remove(&key);
            }
            APPEND | SUBTRACT => {
                if !is_list(&key) {
                    let op = if config.config_operation == APPEND {
                        "append"
                    } else {
                        "subtract"
                    };
                    return Err(AlterError::NotAList { operation: op, key });
                }
                let current = configs
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| list_default(&key));
                let mut items: Vec<String> = current
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                let given = value.unwrap_or_default();
                for item in given.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if config.config_operation == APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                configs.insert(key, items.join(","));
            }
            other => {
                return Err(AlterError::UnknownOperation {
                    operation: other,
                    key,
                })
            }
        }
    }
    target.replace(state, configs, validate_only)
}

/// Applies each resource's operations; a failing resource changes nothing.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> Result<IncrementalAlterConfigsResponse, ConnectionError> {
    // Persisting configs fsyncs: the whole request runs on the blocking pool.
    // ALTER_CONFIGS on each topic, or on the cluster for brokers.
    let refused = alter_refusals(
        ctx,
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let state = Arc::clone(ctx.state);
    let responses = super::blocking(move || {
        request
            .resources
            .iter()
            .zip(refused)
            .map(|(resource, refused)| {
                let response = AlterConfigsResourceResponse::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name.clone());
                if let Some(error) = refused {
                    return response.with_error_code(error.code());
                }
                match apply(&state, resource, request.validate_only) {
                    Ok(()) => response,
                    Err(err) => response
                        .with_error_code(err.code().code())
                        .with_error_message(Some(str_bytes(err.to_string()))),
                }
            })
            .collect()
    })
    .await?;
    Ok(IncrementalAlterConfigsResponse::default().with_responses(responses))
}
