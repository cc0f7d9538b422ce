//! What every bridge connector shares (CONNECT.md g.0): destination patterns with
//! Diffusion-style tokens, topic name sanitising, the source polling keys and the delivery
//! vocabulary (`qos`).
//!
//! A destination pattern such as `kafka/${topic}/${key}` or `diffusion_${topic}` is parsed once
//! ([`Pattern::parse`]) and rendered per record ([`Pattern::render`]). Tokens:
//!
//! | Token | Value |
//! |---|---|
//! | `${topic}` | Kafka topic (sinks) or the external topic/path/channel (sources) |
//! | `${key}` | key as text: strings verbatim, others in Java's text form (c.5); null → empty |
//! | `${key.version}`, `${value.version}` | `version` of the key/value schema |
//! | `${partition}`, `${offset}` | Kafka partition and offset (sink records) |
//! | `${header.<name>}` | last header `name`, as text |
//! | `${value.<dotted.path>}` | a field of a MAP or STRUCT value |
//! | `$$` | a literal `$` |

use std::borrow::Cow;

use crate::config_def::{ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord, Value};
use crate::render::render_value;

/// What rendering does with a token that has no value (`pattern.missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// The record fails (a data error, handled by `errors.*`).
    #[default]
    Fail,
    /// The token renders as an empty string.
    Empty,
}

impl Missing {
    /// Parses `fail` or `empty` (case-insensitive).
    pub fn parse(text: &str) -> Result<Missing, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(Missing::Fail),
            "empty" => Ok(Missing::Empty),
            other => Err(format!(
                "Invalid value {other} for configuration pattern.missing: must be fail or empty"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Topic,
    Key,
    KeyVersion,
    ValueVersion,
    Partition,
    Offset,
    Header(String),
    ValuePath(Vec<String>),
}

/// A parsed destination pattern (CONNECT.md g.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    parts: Vec<Part>,
}

impl Pattern {
    /// Parses `text`. Errors name the problem: an unclosed `${`, an unknown token, an empty
    /// header name or value path.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                literal.push('$');
                rest = tail;
                continue;
            }
            let Some(body) = after.strip_prefix('{') else {
                literal.push('$');
                rest = after;
                continue;
            };
            let end = body
                .find('}')
                .ok_or_else(|| format!("Unclosed '${{' in pattern '{text}'"))?;
            let token = &body[..end];
            let part = match token {
                "topic" => Part::Topic,
                "key" => Part::Key,
                "key.version" => Part::KeyVersion,
                "value.version" => Part::ValueVersion,
                "partition" => Part::Partition,
                "offset" => Part::Offset,
                _ => {
                    if let Some(name) = token.strip_prefix("header.") {
                        if name.is_empty() {
                            return Err(format!("Empty header name in pattern '{text}'"));
                        }
                        Part::Header(name.to_string())
                    } else if let Some(path) = token.strip_prefix("value.") {
                        let path: Vec<String> = path.split('.').map(str::to_string).collect();
                        if path.iter().any(String::is_empty) {
                            return Err(format!(
                                "Empty field name in '${{{token}}}' of pattern '{text}'"
                            ));
                        }
                        Part::ValuePath(path)
                    } else {
                        return Err(format!("Unknown token '${{{token}}}' in pattern '{text}'"));
                    }
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &body[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the pattern has no tokens: every record maps to the same destination.
    pub fn is_fixed(&self) -> bool {
        self.parts
            .iter()
            .all(|part| matches!(part, Part::Literal(_)))
    }

    /// True when the pattern uses `${partition}` or `${offset}`, which only sink records have.
    pub fn uses_kafka_position(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Partition | Part::Offset))
    }

    /// Renders the pattern. `topic` is the `${topic}` value (the record's Kafka topic for
    /// sinks, the external topic or path for sources); `record` supplies every other token
    /// (None: only `${topic}` resolves). Each token's text passes through `escape` (e.g.
    /// URL-encoding for HttpSink, `+`/`#` → `_` for MQTT); literals do not.
    ///
    /// Errors: a data error `Pattern '<p>': no value for ${token}` when a token has no value
    /// and `missing` is [`Missing::Fail`].
    pub fn render(
        &self,
        topic: &str,
        record: Option<&ConnectRecord>,
        missing: Missing,
        escape: &dyn Fn(&str) -> Cow<'_, str>,
    ) -> Result<String, ConnectError> {
        let mut out = String::with_capacity(self.text.len() + topic.len() + 16);
        for part in &self.parts {
            let value: Option<Cow<'_, str>> = match part {
                Part::Literal(text) => {
                    out.push_str(text);
                    continue;
                }
                Part::Topic => Some(Cow::Borrowed(topic)),
                Part::Key => record.map(|record| match &record.key {
                    Value::Null => Cow::Borrowed(""),
                    Value::String(text) => Cow::Borrowed(text.as_str()),
                    other => Cow::Owned(render_value(other)),
                }),
                Part::KeyVersion => record
                    .and_then(|record| record.key_schema.as_ref())
                    .and_then(|schema| schema.version)
                    .map(|version| Cow::Owned(version.to_string())),
                Part::ValueVersion => record
                    .and_then(|record| record.value_schema.as_ref())
                    .and_then(|schema| schema.version)
                    .map(|version| Cow::Owned(version.to_string())),
                Part::Partition => record
                    .and_then(|record| record.kafka_partition)
                    .map(|partition| Cow::Owned(partition.to_string())),
                Part::Offset => record
                    .and_then(|record| record.kafka_offset)
                    .map(|offset| Cow::Owned(offset.to_string())),
                Part::Header(name) => record
                    .and_then(|record| record.headers.last_with_name(name))
                    .and_then(|header| match &header.value {
                        Value::Null => None,
                        Value::String(text) => Some(Cow::Borrowed(text.as_str())),
                        Value::Bytes(bytes) => {
                            Some(Cow::Owned(String::from_utf8_lossy(bytes).into_owned()))
                        }
                        other => Some(Cow::Owned(render_value(other))),
                    }),
                Part::ValuePath(path) => record
                    .and_then(|record| field_at(&record.value, path))
                    .and_then(|value| match value {
                        Value::Null => None,
                        Value::String(text) => Some(Cow::Borrowed(text.as_str())),
                        other => Some(Cow::Owned(render_value(other))),
                    }),
            };
            match value {
                Some(text) => out.push_str(&escape(&text)),
                None => match missing {
                    Missing::Empty => {}
                    Missing::Fail => {
                        return Err(ConnectError::data(format!(
                            "Pattern '{}': no value for {}",
                            self.text,
                            token_text(part)
                        )))
                    }
                },
            }
        }
        Ok(out)
    }
}

fn token_text(part: &Part) -> String {
    match part {
        Part::Literal(text) => text.clone(),
        Part::Topic => "${topic}".into(),
        Part::Key => "${key}".into(),
        Part::KeyVersion => "${key.version}".into(),
        Part::ValueVersion => "${value.version}".into(),
        Part::Partition => "${partition}".into(),
        Part::Offset => "${offset}".into(),
        Part::Header(name) => format!("${{header.{name}}}"),
        Part::ValuePath(path) => format!("${{value.{}}}", path.join(".")),
    }
}

/// The field at `path` of a MAP (string keys) or STRUCT value, descending through nested
/// maps and structs.
fn field_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = value;
    for name in path {
        current = match current {
            Value::Struct(s) => s.get(name)?,
            Value::Map(entries) => entries.iter().find_map(|(key, value)| match key {
                Value::String(key) if key == name => Some(value),
                _ => None,
            })?,
            _ => return None,
        };
    }
    Some(current)
}

/// The identity escape: token text is used as it is.
pub fn no_escape(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

/// MQTT escape for sink topics: `+` and `#` (wildcards) become `_`.
pub fn mqtt_escape(text: &str) -> Cow<'_, str> {
    if text.contains(['+', '#']) {
        Cow::Owned(text.replace(['+', '#'], "_"))
    } else {
        Cow::Borrowed(text)
    }
}

/// How an external name becomes a Kafka topic name (`topic.sanitize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sanitize {
    /// Every character outside `[A-Za-z0-9._-]` becomes `_` (the default).
    #[default]
    Kafka,
    /// Every character outside `[A-Za-z0-9_]` becomes `_` (the Diffusion connector's rule).
    Strict,
}

impl Sanitize {
    /// Parses `kafka` or `strict` (case-insensitive).
    pub fn parse(text: &str) -> Result<Sanitize, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "kafka" => Ok(Sanitize::Kafka),
            "strict" => Ok(Sanitize::Strict),
            other => Err(format!(
                "Invalid value {other} for configuration topic.sanitize: must be kafka or strict"
            )),
        }
    }
}

/// Kafka's longest topic name, in characters.
pub const MAX_TOPIC_LENGTH: usize = 249;

/// A valid Kafka topic name from `name` (CONNECT.md g.0): characters replaced per `mode`,
/// truncated to 249 characters, `.`/`..` turned into `_`/`__`; an empty name becomes `_`.
pub fn sanitize_topic(name: &str, mode: Sanitize) -> String {
    let allowed = |c: char| match mode {
        Sanitize::Kafka => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        Sanitize::Strict => c.is_ascii_alphanumeric() || c == '_',
    };
    let mut out: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(MAX_TOPIC_LENGTH)
        .collect();
    if out == "." || out == ".." || out.is_empty() {
        out = "_".repeat(out.len().max(1));
    }
    out
}

/// The delivery guarantee of a bridge (`qos`, CONNECT.md g.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Qos {
    /// At-most-once: commit on send, no retries; failures are only counted.
    AtMostOnce,
    /// At-least-once: a Kafka offset is committed only after the peer acknowledged it and
    /// every earlier record of its partition; duplicates are possible after a restart.
    #[default]
    AtLeastOnce,
}

impl Qos {
    /// Parses `0` or `1`.
    pub fn parse(text: &str) -> Result<Qos, String> {
        match text.trim() {
            "0" => Ok(Qos::AtMostOnce),
            "1" => Ok(Qos::AtLeastOnce),
            other => Err(format!(
                "Invalid value {other} for configuration qos: must be 0 or 1"
            )),
        }
    }
}

/// `poll.size`: the most records a bridge source task hands over per poll.
pub const POLL_SIZE: &str = "poll.size";
/// `poll.interval.ms`: how long a bridge source task waits when nothing is pending.
pub const POLL_INTERVAL_MS: &str = "poll.interval.ms";
/// `pattern.missing`: `fail` or `empty`.
pub const PATTERN_MISSING: &str = "pattern.missing";
/// `topic.sanitize`: `kafka` or `strict`.
pub const TOPIC_SANITIZE: &str = "topic.sanitize";

/// The shared source polling keys: `poll.size` (INT, default 128) and `poll.interval.ms`
/// (LONG, default 1000 ms).
pub fn poll_keys() -> Vec<ConfigKey> {
    vec![
        ConfigKey::new(
            POLL_SIZE,
            ConfigType::Int,
            Default::Value("128".into()),
            Importance::Medium,
            "The most records a source task hands to the runtime per poll.",
        ),
        ConfigKey::new(
            POLL_INTERVAL_MS,
            ConfigType::Long,
            Default::Value("1000".into()),
            Importance::Low,
            "How long a source task waits for records when none are pending, in ms.",
        ),
    ]
}

/// The `pattern.missing` key (default `fail`).
pub fn pattern_missing_key() -> ConfigKey {
    ConfigKey::new(
        PATTERN_MISSING,
        ConfigType::String,
        Default::Value("fail".into()),
        Importance::Low,
        "What a destination pattern token without a value does: 'fail' fails the record (handled by errors.*), 'empty' renders an empty string.",
    )
}

/// The `topic.sanitize` key (default `kafka`).
pub fn topic_sanitize_key() -> ConfigKey {
    ConfigKey::new(
        TOPIC_SANITIZE,
        ConfigType::String,
        Default::Value("kafka".into()),
        Importance::Low,
        "How an external name becomes a Kafka topic: 'kafka' replaces characters outside [A-Za-z0-9._-] with '_', 'strict' those outside [A-Za-z0-9_].",
    )
}

/// `poll.size` and `poll.interval.ms` of `config` (defaults when absent; errors name the key).
pub fn poll_settings(config: &Config) -> Result<(usize, std::time::Duration), ConnectError> {
    let size = match config.get(POLL_SIZE) {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&size| size > 0)
            .ok_or_else(|| {
                ConnectError::config(format!(
                    "Invalid value {text} for configuration {POLL_SIZE}: must be a positive integer"
                ))
            })?,
        None => 128,
    };
    let interval = match config.get(POLL_INTERVAL_MS) {
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            ConnectError::config(format!(
                "Invalid value {text} for configuration {POLL_INTERVAL_MS}: must be a non-negative integer"
            ))
        })?,
        None => 1000,
    };
    Ok((size, std::time::Duration::from_millis(interval)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Headers, Schema, SchemaType, TimestampType};
    use std::sync::Arc;

    fn record(key: Value, value: Value) -> ConnectRecord {
        ConnectRecord {
            topic: "orders".into(),
            kafka_partition: Some(2),
            key_schema: None,
            key,
            value_schema: None,
            value,
            timestamp: None,
            timestamp_type: TimestampType::NoTimestampType,
            headers: Headers::default(),
            kafka_offset: Some(17),
        }
    }

    fn render(
        pattern: &str,
        topic: &str,
        record: Option<&ConnectRecord>,
    ) -> Result<String, ConnectError> {
        Pattern::parse(pattern)
            .unwrap()
            .render(topic, record, Missing::Fail, &no_escape)
    }

    #[test]
    fn tokens_render_from_the_record() {
        let mut r = record(
            Value::String("k1".into()),
            Value::Map(vec![(
                Value::String("user".into()),
                Value::Map(vec![(Value::String("id".into()), Value::Int32(7))]),
            )]),
        );
        r.headers.add("tenant", None, Value::String("acme".into()));
        r.key_schema = Some(Arc::new(Schema {
            version: Some(3),
            ..Schema::new(SchemaType::String)
        }));
        assert_eq!(
            render("kafka/${topic}/${key}", "orders", Some(&r)).unwrap(),
            "kafka/orders/k1"
        );
        assert_eq!(
            render("${topic}-${partition}@${offset}", "orders", Some(&r)).unwrap(),
            "orders-2@17"
        );
        assert_eq!(render("v${key.version}", "t", Some(&r)).unwrap(), "v3");
        assert_eq!(
            render("${header.tenant}/x", "t", Some(&r)).unwrap(),
            "acme/x"
        );
        assert_eq!(render("u${value.user.id}", "t", Some(&r)).unwrap(), "u7");
        assert_eq!(render("cost $$5", "t", Some(&r)).unwrap(), "cost $5");
        let numeric = record(Value::Int64(42), Value::Null);
        assert_eq!(render("${key}", "t", Some(&numeric)).unwrap(), "42");
        let null_key = record(Value::Null, Value::Null);
        assert_eq!(render("a${key}b", "t", Some(&null_key)).unwrap(), "ab");
    }

    #[test]
    fn missing_tokens_fail_or_render_empty() {
        let r = record(Value::String("k".into()), Value::Null);
        let error = render("${topic}.${value.version}", "t", Some(&r)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Pattern '${topic}.${value.version}': no value for ${value.version}"
        );
        let pattern = Pattern::parse("${topic}.${value.version}").unwrap();
        assert_eq!(
            pattern
                .render("t", Some(&r), Missing::Empty, &no_escape)
                .unwrap(),
            "t."
        );
        assert!(render("${key}", "t", None).is_err());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert_eq!(
            Pattern::parse("a${topic").unwrap_err(),
            "Unclosed '${' in pattern 'a${topic'"
        );
        assert_eq!(
            Pattern::parse("${nope}").unwrap_err(),
            "Unknown token '${nope}' in pattern '${nope}'"
        );
        assert!(Pattern::parse("${header.}").is_err());
        assert!(Pattern::parse("${value.a..b}").is_err());
        assert!(Pattern::parse("fixed").unwrap().is_fixed());
        assert!(!Pattern::parse("x/${topic}").unwrap().is_fixed());
        assert!(Pattern::parse("${offset}").unwrap().uses_kafka_position());
    }

    #[test]
    fn escapes_apply_to_tokens_only() {
        let r = record(Value::String("a+b#c".into()), Value::Null);
        let pattern = Pattern::parse("kafka/${topic}/${key}").unwrap();
        assert_eq!(
            pattern
                .render("t", Some(&r), Missing::Fail, &mqtt_escape)
                .unwrap(),
            "kafka/t/a_b_c"
        );
    }

    #[test]
    fn topic_names_are_sanitised() {
        let rendered = render("diffusion_${topic}", "foo/bar", None).unwrap();
        assert_eq!(
            sanitize_topic(&rendered, Sanitize::Kafka),
            "diffusion_foo_bar"
        );
        assert_eq!(
            sanitize_topic(&rendered, Sanitize::Strict),
            "diffusion_foo_bar"
        );
        assert_eq!(sanitize_topic("a.b-c d", Sanitize::Kafka), "a.b-c_d");
        assert_eq!(sanitize_topic("a.b-c d", Sanitize::Strict), "a_b_c_d");
        assert_eq!(sanitize_topic(".", Sanitize::Kafka), "_");
        assert_eq!(sanitize_topic("..", Sanitize::Kafka), "__");
        assert_eq!(sanitize_topic("", Sanitize::Kafka), "_");
        assert_eq!(sanitize_topic(&"x".repeat(300), Sanitize::Kafka).len(), 249);
    }

    #[test]
    fn settings_parse() {
        assert_eq!(Qos::parse("0").unwrap(), Qos::AtMostOnce);
        assert_eq!(Qos::parse("1").unwrap(), Qos::AtLeastOnce);
        assert!(Qos::parse("2").is_err());
        assert_eq!(Missing::parse("EMPTY").unwrap(), Missing::Empty);
        assert_eq!(Sanitize::parse("strict").unwrap(), Sanitize::Strict);
        let config = crate::connector::config_from(&[("poll.size", "5")]);
        assert_eq!(
            poll_settings(&config).unwrap(),
            (5, std::time::Duration::from_millis(1000))
        );
        let bad = crate::connector::config_from(&[("poll.size", "0")]);
        assert!(poll_settings(&bad).is_err());
    }
}
