//! The predicates of CONNECT.md d.3: `HasHeaderKey`, `RecordIsTombstone`,
//! `TopicNameMatches` (`org.apache.kafka.connect.transforms.predicates`, Kafka 3.7).

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord};
use crate::transforms::java_regex::{regex_validator, JavaRegex};
use crate::transforms::util::{non_empty_string, parse};
use crate::transforms::Predicate;

/// `HasHeaderKey`: true for records with at least one header called `name`.
#[derive(Debug, Default)]
pub(crate) struct HasHeaderKey {
    name: String,
}

/// `HasHeaderKey`'s keys.
pub(crate) fn has_header_key_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "name",
            ConfigType::String,
            Default::Required,
            Importance::Medium,
            "The header name.",
        )
        .validate_with(non_empty_string),
    )
}

impl Predicate for HasHeaderKey {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&has_header_key_def(), config)?;
        self.name = parsed.string("name").unwrap_or_default().to_string();
        Ok(())
    }

    fn test(&self, record: &ConnectRecord) -> bool {
        record.headers.iter().any(|header| header.key == self.name)
    }
}

/// `RecordIsTombstone`: true when the value is null.
#[derive(Debug, Default)]
pub(crate) struct RecordIsTombstone;

impl Predicate for RecordIsTombstone {
    fn configure(&mut self, _config: &Config) -> Result<(), ConnectError> {
        Ok(())
    }

    fn test(&self, record: &ConnectRecord) -> bool {
        record.value.is_null()
    }
}

/// `TopicNameMatches`: true when `pattern` matches the whole topic.
#[derive(Debug, Default)]
pub(crate) struct TopicNameMatches {
    pattern: Option<JavaRegex>,
}

/// `TopicNameMatches`' keys.
pub(crate) fn topic_name_matches_def() -> ConfigDef {
    ConfigDef::new().define(
        ConfigKey::new(
            "pattern",
            ConfigType::String,
            Default::Required,
            Importance::Medium,
            "A Java regular expression for matching against the name of a record's topic.",
        )
        .validate_with(|value| {
            non_empty_string(value)?;
            regex_validator(value)
        }),
    )
}

impl Predicate for TopicNameMatches {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&topic_name_matches_def(), config)?;
        let pattern = parsed.string("pattern").unwrap_or_default();
        self.pattern = Some(JavaRegex::new(pattern).map_err(|reason| {
            ConnectError::config(format!(
                "Invalid value {pattern} for configuration pattern: entry must be a Java-compatible regular expression: {reason}"
            ))
        })?);
        Ok(())
    }

    fn test(&self, record: &ConnectRecord) -> bool {
        self.pattern
            .as_ref()
            .is_some_and(|pattern| pattern.matches(&record.topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;

    use crate::connector::config_from as config;

    #[test]
    fn has_header_key() {
        let mut p = HasHeaderKey::default();
        assert_eq!(
            p.configure(&config(&[("name", "")])).unwrap_err().message,
            "Invalid value  for configuration name: String must be non-empty"
        );
        assert_eq!(
            p.configure(&config(&[])).unwrap_err().message,
            "Missing required configuration \"name\" which has no default value."
        );
        p.configure(&config(&[("name", "h")])).unwrap();
        let mut record = ConnectRecord::default();
        assert!(!p.test(&record));
        record.headers.add("h", None, Value::Null);
        assert!(p.test(&record));
    }

    #[test]
    fn record_is_tombstone() {
        let p = RecordIsTombstone;
        let mut record = ConnectRecord::default();
        assert!(p.test(&record));
        record.value = Value::Int32(1);
        assert!(!p.test(&record));
    }

    #[test]
    fn topic_name_matches() {
        let mut p = TopicNameMatches::default();
        let error = p.configure(&config(&[("pattern", "[")])).unwrap_err();
        assert!(
            error
                .message
                .starts_with("Invalid value [ for configuration pattern: Invalid regex: "),
            "{}",
            error.message
        );
        assert_eq!(
            p.configure(&config(&[("pattern", "")]))
                .unwrap_err()
                .message,
            "Invalid value  for configuration pattern: String must be non-empty"
        );
        p.configure(&config(&[("pattern", "my-.*")])).unwrap();
        let mut record = ConnectRecord {
            topic: "my-topic".into(),
            ..ConnectRecord::default()
        };
        assert!(p.test(&record));
        record.topic = "not-my-topic".into();
        assert!(!p.test(&record));
    }
}
