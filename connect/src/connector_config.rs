//! The framework's connector keys (CONNECT.md b.4 and e.1): what every connector
//! configuration may carry besides the connector's own keys, with Kafka's groups, defaults
//! and texts.
//!
//! References: Kafka Connect's `ConnectorConfig`, `SinkConnectorConfig`,
//! `SourceConnectorConfig` (Kafka 3.7).

use std::time::Duration;

use crate::config_def::{
    ConfigDef, ConfigKey, ConfigType, ConfigValue, Default, Importance, ParsedConfig, Width,
};
use crate::connector::{Config, ConnectorType};

/// Group of the common keys.
pub const COMMON_GROUP: &str = "Common";
/// Group of the transform keys.
pub const TRANSFORMS_GROUP: &str = "Transforms";
/// Group of the predicate keys.
pub const PREDICATES_GROUP: &str = "Predicates";
/// Group of the error handling keys.
pub const ERROR_GROUP: &str = "Error Handling";

fn common(
    name: &str,
    config_type: ConfigType,
    default: Default,
    importance: Importance,
    doc: &str,
    order: i32,
    display: &str,
) -> ConfigKey {
    ConfigKey::new(name, config_type, default, importance, doc).in_group(
        COMMON_GROUP,
        order,
        Width::Medium,
        display,
    )
}

fn errors(
    name: &str,
    config_type: ConfigType,
    default: &str,
    doc: &str,
    order: i32,
    display: &str,
) -> ConfigKey {
    ConfigKey::new(
        name,
        config_type,
        Default::Value(default.to_string()),
        Importance::Medium,
        doc,
    )
    .in_group(ERROR_GROUP, order, Width::Medium, display)
}

fn at_least(min: i64) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync {
    move |value| match value {
        ConfigValue::Int(v) if i64::from(*v) >= min => Ok(()),
        ConfigValue::Long(v) if *v >= min => Ok(()),
        ConfigValue::Null => Ok(()),
        _ => Err(format!("Value must be at least {min}")),
    }
}

fn one_of(
    allowed: &'static [&'static str],
) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync {
    move |value| match value {
        ConfigValue::String(text) if allowed.iter().any(|a| a.eq_ignore_ascii_case(text)) => Ok(()),
        _ => Err(format!("String must be one of: {}", allowed.join(", "))),
    }
}

/// The keys every connector has (Kafka's `ConnectorConfig.configDef()`).
pub fn connector_config_def() -> ConfigDef {
    use ConfigType::*;
    ConfigDef::new()
        .define(common("name", String, Default::Required, Importance::High, "Globally unique name to use for this connector.", 1, "Connector name"))
        .define(common("connector.class", String, Default::Required, Importance::High, "Name or alias of the class for this connector.", 2, "Connector class"))
        .define(common("tasks.max", Int, Default::Value("1".into()), Importance::High, "Maximum number of tasks to use for this connector.", 3, "Tasks max").validate_with(at_least(1)))
        .define(common("key.converter", Class, Default::Null, Importance::Low, "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. This controls the format of the keys in messages written to or read from Kafka.", 4, "Key converter class"))
        .define(common("value.converter", Class, Default::Null, Importance::Low, "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. This controls the format of the values in messages written to or read from Kafka.", 5, "Value converter class"))
        .define(common("header.converter", Class, Default::Null, Importance::Low, "HeaderConverter class used to convert between Kafka Connect format and the serialized form that is written to Kafka.", 6, "Header converter class"))
        .define(ConfigKey::new("transforms", List, Default::Value(std::string::String::new()), Importance::Low, "Aliases for the transformations to be applied to records.").in_group(TRANSFORMS_GROUP, 7, Width::Long, "Transforms"))
        .define(ConfigKey::new("predicates", List, Default::Value(std::string::String::new()), Importance::Low, "Aliases for the predicates used by transformations.").in_group(PREDICATES_GROUP, 8, Width::Long, "Predicates"))
        .define(common("config.action.reload", String, Default::Value("restart".into()), Importance::Low, "The action that Connect should take on the connector when changes in external configuration providers result in a change in the connector's configuration properties.", 9, "Reload Action").validate_with(one_of(&["none", "restart"])))
        .define(errors("errors.retry.timeout", Long, "0", "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, which means no retries will be attempted. Use -1 for infinite retries.", 1, "Retry Timeout for Errors"))
        .define(errors("errors.retry.delay.max.ms", Long, "60000", "The maximum duration in milliseconds between consecutive retry attempts.", 2, "Maximum Delay Between Retries for Errors"))
        .define(errors("errors.tolerance", String, "none", "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any error will result in an immediate connector task failure; 'all' changes the behavior to skip over problematic records.", 3, "Error Tolerance").validate_with(one_of(&["none", "all"])))
        .define(errors("errors.log.enable", Boolean, "false", "If true, write each error and the details of the failed operation and problematic record to the Connect application log.", 4, "Log Errors"))
        .define(errors("errors.log.include.messages", Boolean, "false", "Whether to include in the log the Connect record that resulted in a failure.", 5, "Log Error Details"))
}

/// The keys of sink connectors: the common ones plus `topics`, `topics.regex` and the DLQ.
pub fn sink_config_def() -> ConfigDef {
    use ConfigType::*;
    connector_config_def()
        .define(common("topics", List, Default::Value(std::string::String::new()), Importance::High, "List of topics to consume, separated by commas", 4, "Topics"))
        .define(common("topics.regex", String, Default::Value(std::string::String::new()), Importance::High, "Regular expression giving topics to consume.", 4, "Topics regex"))
        .define(errors("errors.deadletterqueue.topic.name", String, "", "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error when processed by this sink connector, or its transformations or converters. The topic name is blank by default, which means that no messages are to be recorded in the DLQ.", 6, "Dead Letter Queue Topic Name"))
        .define(errors("errors.deadletterqueue.topic.replication.factor", Short, "3", "Replication factor used to create the dead letter queue topic when it doesn't already exist.", 7, "Dead Letter Queue Topic Replication Factor"))
        .define(errors("errors.deadletterqueue.context.headers.enable", Boolean, "false", "If true, add headers containing error context to the messages written to the dead letter queue.", 8, "Enable Error Context Headers"))
}

/// The keys of source connectors (topic creation and exactly-once keys are accepted as
/// text; see README).
pub fn source_config_def() -> ConfigDef {
    connector_config_def()
}

/// The framework keys for a connector of `connector_type`.
pub fn framework_config_def(connector_type: ConnectorType) -> ConfigDef {
    match connector_type {
        ConnectorType::Source => source_config_def(),
        ConnectorType::Sink => sink_config_def(),
    }
}

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToleranceType {
    /// The first failure fails the task.
    None,
    /// Failing records are skipped.
    All,
}

/// The error-handling keys of a connector (CONNECT.md e.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorHandlingConfig {
    /// `errors.retry.timeout`; None = retry forever (-1).
    pub retry_timeout: Option<Duration>,
    /// `errors.retry.delay.max.ms`.
    pub retry_delay_max: Duration,
    /// `errors.tolerance`.
    pub tolerance: ToleranceType,
    /// `errors.log.enable`.
    pub log_enable: bool,
    /// `errors.log.include.messages`.
    pub log_include_messages: bool,
    /// `errors.deadletterqueue.topic.name`; empty = no DLQ.
    pub dlq_topic: String,
    /// `errors.deadletterqueue.topic.replication.factor`.
    pub dlq_replication_factor: i16,
    /// `errors.deadletterqueue.context.headers.enable`.
    pub dlq_context_headers: bool,
}

/// A connector configuration checked against the framework keys.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    connector_type: ConnectorType,
    parsed: ParsedConfig,
}

impl ConnectorConfig {
    /// Parses `config` for a connector of `connector_type`. Errors with Kafka's text for the
    /// first bad framework key.
    pub fn new(config: &Config, connector_type: ConnectorType) -> Result<ConnectorConfig, String> {
        let parsed = framework_config_def(connector_type).parse(config)?;
        Ok(ConnectorConfig {
            connector_type,
            parsed,
        })
    }

    /// Source or sink.
    pub fn connector_type(&self) -> ConnectorType {
        self.connector_type
    }

    /// The typed values (and the originals).
    pub fn parsed(&self) -> &ParsedConfig {
        &self.parsed
    }

    /// `name`.
    pub fn name(&self) -> &str {
        self.parsed.string("name").unwrap_or_default()
    }

    /// `tasks.max`.
    pub fn tasks_max(&self) -> usize {
        self.parsed.int("tasks.max").unwrap_or(1).max(1) as usize
    }

    /// `transforms` aliases in order.
    pub fn transforms(&self) -> &[String] {
        self.parsed.list("transforms")
    }

    /// `predicates` aliases.
    pub fn predicates(&self) -> &[String] {
        self.parsed.list("predicates")
    }

    /// `topics` (sinks).
    pub fn topics(&self) -> &[String] {
        self.parsed.list("topics")
    }

    /// `topics.regex` (sinks), None when empty.
    pub fn topics_regex(&self) -> Option<&str> {
        self.parsed
            .string("topics.regex")
            .filter(|regex| !regex.is_empty())
    }

    /// The error-handling keys.
    pub fn error_handling(&self) -> ErrorHandlingConfig {
        let p = &self.parsed;
        let retry = p.long("errors.retry.timeout").unwrap_or(0);
        ErrorHandlingConfig {
            retry_timeout: (retry >= 0).then(|| Duration::from_millis(retry as u64)),
            retry_delay_max: Duration::from_millis(
                p.long("errors.retry.delay.max.ms").unwrap_or(60_000).max(0) as u64,
            ),
            tolerance: if p
                .string("errors.tolerance")
                .is_some_and(|t| t.eq_ignore_ascii_case("all"))
            {
                ToleranceType::All
            } else {
                ToleranceType::None
            },
            log_enable: p.boolean("errors.log.enable"),
            log_include_messages: p.boolean("errors.log.include.messages"),
            dlq_topic: p
                .string("errors.deadletterqueue.topic.name")
                .unwrap_or_default()
                .to_string(),
            dlq_replication_factor: p
                .int("errors.deadletterqueue.topic.replication.factor")
                .unwrap_or(3) as i16,
            dlq_context_headers: p.boolean("errors.deadletterqueue.context.headers.enable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::connector::config_from as config;

    #[test]
    fn defaults_follow_kafka() {
        let c = ConnectorConfig::new(
            &config(&[
                ("name", "c"),
                ("connector.class", "FileStreamSink"),
                ("topics", "a, b"),
            ]),
            ConnectorType::Sink,
        )
        .unwrap();
        assert_eq!(c.tasks_max(), 1);
        assert_eq!(c.topics(), ["a", "b"]);
        let errors = c.error_handling();
        assert_eq!(errors.tolerance, ToleranceType::None);
        assert_eq!(errors.retry_timeout, Some(Duration::ZERO));
        assert_eq!(errors.dlq_replication_factor, 3);
    }

    #[test]
    fn bad_tasks_max_uses_kafkas_text() {
        let error = ConnectorConfig::new(
            &config(&[("name", "c"), ("connector.class", "X"), ("tasks.max", "0")]),
            ConnectorType::Source,
        )
        .unwrap_err();
        assert_eq!(
            error,
            "Invalid value 0 for configuration tasks.max: Value must be at least 1"
        );
    }
}
