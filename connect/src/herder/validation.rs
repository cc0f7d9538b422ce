//! Connector configuration validation (CONNECT.md a.4): what `PUT
//! /connector-plugins/{p}/config/validate` answers and what create/update check.
//!
//! References: Kafka's `AbstractHerder.validateConnectorConfig`, `ConnectorConfig.enrich`,
//! `SinkConnectorConfig.validate` (Kafka 3.7).

use crate::config_def::{ConfigKey, ConfigType, KeyValidation};
use crate::connector::{Config, ConnectorType};
use crate::connector_config::framework_config_def;
use crate::plugins::{self, Factory, PluginType};
use crate::transforms::chain::{chain_config_def, validate_chain};

use super::{find_connector, HerderError};

/// One key of a validation answer: its definition (None for keys no definition names) and
/// its value with errors (Kafka's `ConfigInfo`).
#[derive(Debug, Clone)]
pub struct ConfigInfo {
    /// The key's definition.
    pub definition: Option<ConfigKey>,
    /// The value given and its errors.
    pub value: KeyValidation,
}

/// The answer of a validation (Kafka's `ConfigInfos`).
#[derive(Debug, Clone)]
pub struct ConfigInfos {
    /// `connector.class` as given.
    pub name: String,
    /// Number of error messages over every key.
    pub error_count: usize,
    /// Groups in order of appearance.
    pub groups: Vec<String>,
    /// Every key: framework keys first, then the connector's own.
    pub configs: Vec<ConfigInfo>,
}

impl ConfigInfos {
    /// The 400 message of a.4: `Connector configuration is invalid and contains the
    /// following N error(s):`, one line per error, and the pointer to the validate endpoint.
    pub fn error_message(&self) -> String {
        let mut text = format!(
            "Connector configuration is invalid and contains the following {} error(s):",
            self.error_count
        );
        for info in &self.configs {
            for error in &info.value.errors {
                text.push('\n');
                text.push_str(error);
            }
        }
        text.push_str(
            "\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`",
        );
        text
    }
}

/// Java's `Map.toString` of a configuration: `{k1=v1, k2=v2}`.
fn java_map(config: &Config) -> String {
    let items: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", items.join(", "))
}

/// Validates a connector configuration: `resolved` has provider references resolved,
/// `raw` is what the user gave (shown back), `null_keys` were JSON nulls.
pub(super) fn validate(
    resolved: &Config,
    raw: &Config,
    null_keys: &[String],
) -> Result<ConfigInfos, HerderError> {
    let Some(class) = raw.get("connector.class") else {
        return Err(HerderError::bad_request(format!(
            "Connector config {} contains no connector type",
            java_map(raw)
        )));
    };
    let plugin = find_connector(class)?;
    let connector_type = if plugin.plugin_type == PluginType::Sink {
        ConnectorType::Sink
    } else {
        ConnectorType::Source
    };
    let def = framework_config_def(connector_type);
    let mut values: Vec<KeyValidation> = def.validate(resolved);
    if let Some(name) = values.iter_mut().find(|v| v.name == "name") {
        let text = resolved.get("name").map(String::as_str).unwrap_or("");
        if resolved.contains_key("name") && text.trim().is_empty() {
            name.errors.push(format!(
                "Invalid value {text} for configuration name: String may not be empty"
            ));
        } else if text.chars().any(|c| c.is_control()) {
            name.errors.push(format!(
                "Invalid value {text} for configuration name: String may not contain control sequences but had the following ASCII control characters: {}",
                text.chars().filter(|c| c.is_control()).map(|c| (c as u32).to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    // The transform and predicate keys (Kafka's `ConnectorConfig.enrich`): listed with
    // their values; their errors come from the chain's own validation.
    let mut extra: Vec<(String, String)> = validate_chain(resolved);
    if connector_type == ConnectorType::Sink {
        extra.extend(sink_errors(resolved));
    }
    let mut groups: Vec<String> = Vec::new();
    let mut keys: Vec<ConfigKey> = def.keys.clone();
    for key in chain_config_def(resolved).keys {
        if keys.iter().any(|k| k.name == key.name) {
            continue;
        }
        values.push(KeyValidation {
            name: key.name.clone(),
            value: raw.get(&key.name).map(|text| {
                if key.config_type == ConfigType::Password {
                    "[hidden]".to_string()
                } else {
                    text.clone()
                }
            }),
            recommended_values: Vec::new(),
            errors: Vec::new(),
            visible: true,
        });
        keys.push(key);
    }
    let connector = match plugin.factory {
        Factory::Connector(make) => Some(make()),
        _ => None,
    };
    if let Some(connector) = &connector {
        let own = connector.config_def();
        let own_values = own.validate(resolved);
        for (key, value) in own.keys.into_iter().zip(own_values) {
            if keys.iter().any(|k| k.name == key.name) {
                continue;
            }
            keys.push(key);
            values.push(value);
        }
        extra.extend(connector.validate(resolved));
    }
    for key in null_keys {
        extra.push((
            key.clone(),
            "Null value can not be supplied as the configuration value.".to_string(),
        ));
    }
    let mut configs: Vec<ConfigInfo> = keys
        .into_iter()
        .zip(values)
        .map(|(key, mut value)| {
            if key.config_type != ConfigType::Password {
                value.value = raw.get(&key.name).cloned();
            }
            ConfigInfo {
                definition: Some(key),
                value,
            }
        })
        .collect();
    for (name, message) in extra {
        match configs.iter_mut().find(|c| c.value.name == name) {
            Some(info) => info.value.errors.push(message),
            None => configs.push(ConfigInfo {
                definition: None,
                value: KeyValidation {
                    name: name.clone(),
                    value: raw.get(&name).cloned(),
                    recommended_values: Vec::new(),
                    errors: vec![message],
                    visible: true,
                },
            }),
        }
    }
    for info in &configs {
        if let Some(group) = info.definition.as_ref().and_then(|d| d.group.clone()) {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
    }
    let error_count = configs.iter().map(|c| c.value.errors.len()).sum();
    Ok(ConfigInfos {
        name: class.clone(),
        error_count,
        groups,
        configs,
    })
}

/// Kafka's `SinkConnectorConfig.validate`: topics vs topics.regex and the DLQ topic.
fn sink_errors(config: &Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let blank = |key: &str| config.get(key).is_none_or(|v| v.trim().is_empty());
    let has_topics = !blank("topics");
    let has_regex = !blank("topics.regex");
    let dlq = config
        .get("errors.deadletterqueue.topic.name")
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    if has_topics && has_regex {
        let message = "topics and topics.regex are mutually exclusive options, but both are set.";
        errors.push(("topics".to_string(), message.to_string()));
        errors.push(("topics.regex".to_string(), message.to_string()));
    }
    if !has_topics && !has_regex {
        let message = "Must configure one of topics or topics.regex";
        errors.push(("topics".to_string(), message.to_string()));
        errors.push(("topics.regex".to_string(), message.to_string()));
    }
    if !dlq.is_empty() {
        if has_topics {
            let topics = crate::config_def::parse_list(&config["topics"]);
            if topics.contains(&dlq) {
                errors.push((
                    "topics".to_string(),
                    format!(
                        "The DLQ topic '{dlq}' may not be included in the list of topics ('topics=[{}]') consumed by the connector",
                        topics.join(", ")
                    ),
                ));
            }
        }
        if has_regex {
            let regex = &config["topics.regex"];
            if let Ok(pattern) = regex::Regex::new(&format!("^(?:{regex})$")) {
                if pattern.is_match(&dlq) {
                    errors.push((
                        "topics.regex".to_string(),
                        format!("The DLQ topic '{dlq}' may not be matched by the regex for the topics ('topics.regex={regex}') consumed by the connector"),
                    ));
                }
            }
        }
    }
    errors
}

/// Every key of plugin `name` for `GET /connector-plugins/{p}/config`: its own keys, then
/// the framework's for connectors. 404 `Unknown plugin p.`
pub fn plugin_config(name: &str) -> Result<Vec<ConfigKey>, HerderError> {
    let plugin = plugins::find(name, &[])
        .ok_or_else(|| HerderError::not_found(format!("Unknown plugin {name}.")))?;
    let mut keys = (plugin.config_def)().keys;
    let framework = match plugin.plugin_type {
        PluginType::Source => Some(ConnectorType::Source),
        PluginType::Sink => Some(ConnectorType::Sink),
        _ => None,
    };
    if let Some(connector_type) = framework {
        for key in framework_config_def(connector_type).keys {
            if !keys.iter().any(|k| k.name == key.name) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::connector::config_from as config;

    #[test]
    fn sink_topics_rules_use_kafkas_texts() {
        assert_eq!(
            sink_errors(&config(&[])),
            vec![
                (
                    "topics".to_string(),
                    "Must configure one of topics or topics.regex".to_string()
                ),
                (
                    "topics.regex".to_string(),
                    "Must configure one of topics or topics.regex".to_string()
                ),
            ]
        );
        let both = sink_errors(&config(&[("topics", "a"), ("topics.regex", "b.*")]));
        assert_eq!(both.len(), 2);
        assert_eq!(
            both[0].1,
            "topics and topics.regex are mutually exclusive options, but both are set."
        );
        let dlq = sink_errors(&config(&[
            ("topics", "a,dlq"),
            ("errors.deadletterqueue.topic.name", "dlq"),
        ]));
        assert_eq!(
            dlq,
            vec![(
                "topics".to_string(),
                "The DLQ topic 'dlq' may not be included in the list of topics ('topics=[a, dlq]') consumed by the connector".to_string()
            )]
        );
        let regex = sink_errors(&config(&[
            ("topics.regex", "d.*"),
            ("errors.deadletterqueue.topic.name", "dlq"),
        ]));
        assert_eq!(regex[0].1, "The DLQ topic 'dlq' may not be matched by the regex for the topics ('topics.regex=d.*') consumed by the connector");
    }

    #[test]
    fn no_connector_class_is_a_400_with_javas_map_text() {
        let error = validate(
            &config(&[("name", "x")]),
            &config(&[("name", "x"), ("a", "b")]),
            &[],
        )
        .unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(
            error.message,
            "Connector config {a=b, name=x} contains no connector type"
        );
    }

    #[test]
    fn transform_keys_are_listed_in_their_group_with_errors() {
        let c = config(&[
            ("connector.class", "FileStreamSource"),
            ("name", "s"),
            ("topic", "t"),
            ("transforms", "a"),
        ]);
        let infos = validate(&c, &c, &["x".to_string()]).unwrap();
        assert_eq!(infos.name, "FileStreamSource");
        assert!(
            infos.groups.contains(&"Transforms: a".to_string()),
            "{:?}",
            infos.groups
        );
        let type_key = infos
            .configs
            .iter()
            .find(|info| info.value.name == "transforms.a.type")
            .expect("transforms.a.type listed");
        assert!(!type_key.value.errors.is_empty());
        let null = infos
            .configs
            .iter()
            .find(|info| info.value.name == "x")
            .expect("x listed");
        assert!(null.definition.is_none());
        assert_eq!(
            null.value.errors,
            vec!["Null value can not be supplied as the configuration value.".to_string()]
        );
        assert_eq!(
            infos.error_count,
            infos
                .configs
                .iter()
                .map(|i| i.value.errors.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn unknown_class_is_a_500() {
        let c = config(&[("connector.class", "Nope")]);
        let error = validate(&c, &c, &[]).unwrap_err();
        assert_eq!(error.status, 500);
        assert!(error.message.starts_with(
            "Failed to find any class that implements Connector and which name matches Nope"
        ));
    }

    #[test]
    fn error_message_lists_every_error() {
        let infos = ConfigInfos {
            name: "X".into(),
            error_count: 2,
            groups: vec![],
            configs: vec![ConfigInfo {
                definition: None,
                value: KeyValidation {
                    name: "a".into(),
                    value: None,
                    recommended_values: vec![],
                    errors: vec!["e1".into(), "e2".into()],
                    visible: true,
                },
            }],
        };
        assert_eq!(
            infos.error_message(),
            "Connector configuration is invalid and contains the following 2 error(s):\ne1\ne2\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`"
        );
    }
}
