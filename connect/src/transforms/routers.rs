//! Topic routers: `TimestampRouter` and `RegexRouter`
//! (`org.apache.kafka.connect.transforms.{TimestampRouter, RegexRouter}`, Kafka 3.7).

use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::Config;
use crate::data::{ConnectError, ConnectRecord};
use crate::transforms::date_format::JavaDateFormat;
use crate::transforms::java_regex::{regex_validator, JavaRegex};
use crate::transforms::util::parse;
use crate::transforms::Transform;

/// `TimestampRouter`'s keys.
pub(crate) fn timestamp_router_def() -> ConfigDef {
    ConfigDef::new()
        .define(ConfigKey::new(
            "topic.format",
            ConfigType::String,
            Default::Value("${topic}-${timestamp}".into()),
            Importance::High,
            "Format string which can contain <code>${topic}</code> and <code>${timestamp}</code> as placeholders for the topic and timestamp, respectively.",
        ))
        .define(ConfigKey::new(
            "timestamp.format",
            ConfigType::String,
            Default::Value("yyyyMMdd".into()),
            Importance::High,
            "Format string for the timestamp that is compatible with <code>java.text.SimpleDateFormat</code>.",
        ))
}

/// `TimestampRouter`: topic = `topic.format` with `${topic}` and `${timestamp}` (UTC).
#[derive(Debug, Default)]
pub(crate) struct TimestampRouter {
    topic_format: String,
    format: Option<JavaDateFormat>,
}

impl Transform for TimestampRouter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&timestamp_router_def(), config)?;
        self.topic_format = parsed
            .string("topic.format")
            .unwrap_or_default()
            .to_string();
        let pattern = parsed.string("timestamp.format").unwrap_or_default();
        self.format = Some(JavaDateFormat::new(pattern).map_err(ConnectError::config)?);
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let Some(timestamp) = record.timestamp else {
            // Kafka prints the whole record; we name it without its payload.
            return Err(ConnectError::data(format!(
                "Timestamp missing on record: ConnectRecord{{topic='{}', kafkaPartition={}, timestamp=null}}",
                record.topic,
                record.kafka_partition.map_or("null".to_string(), |p| p.to_string())
            )));
        };
        let formatted = self
            .format
            .as_ref()
            .map(|f| f.format(timestamp))
            .unwrap_or_default();
        record.topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &formatted);
        Ok(Some(record))
    }
}

/// `RegexRouter`'s keys.
pub(crate) fn regex_router_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            ConfigKey::new(
                "regex",
                ConfigType::String,
                Default::Required,
                Importance::High,
                "Regular expression to use for matching.",
            )
            .validate_with(regex_validator),
        )
        .define(ConfigKey::new(
            "replacement",
            ConfigType::String,
            Default::Required,
            Importance::High,
            "Replacement string.",
        ))
}

/// `RegexRouter`: when `regex` matches the whole topic, topic = the replacement.
#[derive(Debug, Default)]
pub(crate) struct RegexRouter {
    regex: Option<JavaRegex>,
    replacement: String,
}

impl Transform for RegexRouter {
    fn configure(&mut self, config: &Config) -> Result<(), ConnectError> {
        let parsed = parse(&regex_router_def(), config)?;
        self.regex = Some(
            JavaRegex::new(parsed.string("regex").unwrap_or_default())
                .map_err(ConnectError::config)?,
        );
        self.replacement = parsed.string("replacement").unwrap_or_default().to_string();
        Ok(())
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, ConnectError> {
        let Some(regex) = &self.regex else {
            return Ok(Some(record));
        };
        if regex.matches(&record.topic) {
            record.topic = regex.replace_first(&record.topic, &self.replacement)?;
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::connector::config_from as config;

    fn topic(t: &mut dyn Transform, topic: &str) -> String {
        let record = ConnectRecord {
            topic: topic.into(),
            timestamp: Some(1_483_425_001_864),
            ..ConnectRecord::default()
        };
        t.apply(record).unwrap().unwrap().topic
    }

    #[test]
    fn timestamp_router() {
        let mut t = TimestampRouter::default();
        t.configure(&Config::new()).unwrap();
        assert_eq!(topic(&mut t, "test"), "test-20170103");
        t.configure(&config(&[
            ("topic.format", "${timestamp}_${topic}_${topic}"),
            ("timestamp.format", "yyyy-MM-dd'T'HH"),
        ]))
        .unwrap();
        assert_eq!(topic(&mut t, "t"), "2017-01-03T06_t_t");
        let error = t
            .apply(ConnectRecord {
                topic: "t".into(),
                ..ConnectRecord::default()
            })
            .unwrap_err();
        assert!(
            error.message.starts_with("Timestamp missing on record: "),
            "{}",
            error.message
        );
        assert_eq!(
            t.configure(&config(&[("timestamp.format", "yyyyqq")]))
                .unwrap_err()
                .message,
            "Illegal pattern character 'q'"
        );
    }

    #[test]
    fn regex_router() {
        let mut t = RegexRouter::default();
        assert_eq!(
            t.configure(&config(&[("regex", "x")])).unwrap_err().message,
            "Missing required configuration \"replacement\" which has no default value."
        );
        let error = t
            .configure(&config(&[("regex", "("), ("replacement", "x")]))
            .unwrap_err();
        assert!(
            error
                .message
                .starts_with("Invalid value ( for configuration regex: Invalid regex: "),
            "{}",
            error.message
        );
        t.configure(&config(&[
            ("regex", "(.*)-(\\d\\d)"),
            ("replacement", "$1-archive-$2"),
        ]))
        .unwrap();
        assert_eq!(topic(&mut t, "orders-17"), "orders-archive-17");
        assert_eq!(topic(&mut t, "orders-17x"), "orders-17x");
        t.configure(&config(&[("regex", "(.*)"), ("replacement", "$1abc")]))
            .unwrap();
        assert_eq!(topic(&mut t, "t"), "tabc");
        t.configure(&config(&[("regex", "a"), ("replacement", "b")]))
            .unwrap();
        assert_eq!(topic(&mut t, "aa"), "aa");
    }
}
