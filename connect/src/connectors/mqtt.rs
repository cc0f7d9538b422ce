//! MqttSource and MqttSink (CONNECT.md g.3): the MQTT bridge, client side, over `rumqttc`
//! (MQTT 3.1.1).
//!
//! **MqttSource** (MQTT → Kafka) subscribes `mqtt.topics` at `mqtt.qos` with a persistent
//! session by default (`mqtt.clean.session=false`), so QoS 1/2 messages queue at the MQTT
//! broker while the runtime is down. Acknowledgements are manual: a message's PUBACK (QoS 1)
//! or PUBREC (QoS 2, the broker then completes with PUBREL/PUBCOMP) is sent only from
//! [`SourceTask::commit_record`], i.e. after the Kafka append was acknowledged or the record
//! was dropped by a transform or tolerated by `errors.*` — at-least-once, in the order the
//! messages arrived. QoS 0 messages are at-most-once. Each message becomes one record: the
//! destination is the `kafka.topic` pattern (g.0, `${topic}` = the MQTT topic) made a valid
//! Kafka name by `topic.sanitize`; the key is the MQTT topic as a STRING (`key.mode=topic`) or
//! null (`none`); the value follows `value.format` (`bytes`: BYTES, `string`: STRING from
//! UTF-8, `json`: schemaless data parsed by the JsonConverter with schemas off, a JSON object
//! becoming a MAP); `headers.enable` adds `mqtt.topic` (STRING), `mqtt.qos` (INT8) and
//! `mqtt.retained` (BOOLEAN). MQTT has no replayable positions: records carry no source
//! offsets and `GET /connectors/{c}/offsets` answers `{"offsets":[]}`.
//!
//! A message that cannot become a record (invalid JSON, invalid UTF-8 for `string`, a
//! pattern token without a value) is a record error. The runtime offers a source task no way
//! to hand it a record that failed before conversion, so the task applies `errors.tolerance`
//! itself: `none` fails the task (the message stays unacknowledged and is redelivered by the
//! broker to the next session), `all` logs it (`errors.log.enable`, coordinates only, never
//! the payload), counts it as `failed` and acknowledges it in order, so the broker does not
//! deliver it again. Such messages never reach the dead letter queue (Kafka Connect sends
//! only sink records there).
//!
//! **MqttSink** (Kafka → MQTT) publishes each record to the rendered `mqtt.topic` pattern
//! (default `kafka/${topic}/${key}`, tokens passed through [`mqtt_escape`]) at `mqtt.qos` with
//! `mqtt.retain`. The payload is the record value as the value converter produced it: BYTES
//! and STRING values are sent as they are (ByteArrayConverter, StringConverter), null as an
//! empty payload (which, retained, clears the retained message), anything else as the JSON
//! text the JsonConverter with `schemas.enable=false` writes (e.g. a JsonConverter-read
//! object comes back as the same JSON object). `mqtt.qos` is 0 or 1 (QoS 2 publishing is
//! refused at validation). At most `max.in.flight` publishes await their PUBACK. With QoS 1 a
//! partition's offset is committed only past records whose publish the MQTT broker
//! acknowledged, contiguously from the oldest; QoS 0 records count as delivered (and
//! committable) once handed to the MQTT client. After a reconnect, publishes not yet
//! acknowledged are sent again first, oldest first (counted as `retried`), also when the
//! broker lost the session; duplicates are possible, as at-least-once allows.
//!
//! Both report their counters (`accepted`, `delivered`, `retried`, and `failed` for skipped
//! source messages) and the details `connected` (bool) and `server` in
//! `GET /connectors/{c}/status`. `ssl://` URIs are refused with "TLS is not supported yet".

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rumqttc::{
    AsyncClient, ClientError, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet,
    Publish, QoS, Request, Subscribe, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::bridge::{
    mqtt_escape, pattern_missing_key, poll_keys, poll_settings, sanitize_topic, topic_sanitize_key,
    Missing, Pattern, Sanitize, PATTERN_MISSING, TOPIC_SANITIZE,
};
use crate::config_def::{
    ConfigDef, ConfigKey, ConfigType, ConfigValue, Default as KeyDefault, Importance,
};
use crate::connector::{
    Config, Connector, ConnectorType, ErrantRecordReporter, RecordMetadata, SinkTask,
    SinkTaskContext, SourceTask, SourceTaskContext, TopicPartition,
};
use crate::converters::json::{JsonConverter, JsonConverterConfig};
use crate::data::{
    ConnectError, ConnectRecord, Headers, JsonMap, Schema, SchemaType, SourceRecord, Value,
};
use crate::plugins::{Factory, PluginDesc, PluginType};
use crate::status::{Counter, TaskCounters};

/// The source connector's class.
pub const SOURCE_CLASS: &str = "io.josefine.connect.mqtt.MqttSourceConnector";
/// The sink connector's class.
pub const SINK_CLASS: &str = "io.josefine.connect.mqtt.MqttSinkConnector";

/// `mqtt.server.uri`: `tcp://host:port` (also `mqtt://`; port 1883 when absent).
pub const SERVER_URI: &str = "mqtt.server.uri";
/// `mqtt.client.id`.
pub const CLIENT_ID: &str = "mqtt.client.id";
/// `mqtt.clean.session`.
pub const CLEAN_SESSION: &str = "mqtt.clean.session";
/// `mqtt.username`.
pub const USERNAME: &str = "mqtt.username";
/// `mqtt.password`.
pub const PASSWORD: &str = "mqtt.password";
/// `mqtt.keepalive.ms`.
pub const KEEPALIVE_MS: &str = "mqtt.keepalive.ms";
/// `mqtt.tls.ca`, a PEM file (reserved: TLS is not supported yet).
pub const TLS_CA: &str = "mqtt.tls.ca";
/// `mqtt.tls.cert`, a PEM file (reserved).
pub const TLS_CERT: &str = "mqtt.tls.cert";
/// `mqtt.tls.key`, a PEM file (reserved).
pub const TLS_KEY: &str = "mqtt.tls.key";
/// `mqtt.max.packet.bytes`: the largest MQTT packet sent or received, in bytes.
pub const MAX_PACKET_BYTES: &str = "mqtt.max.packet.bytes";
/// `mqtt.qos`: subscription QoS (source) or publish QoS (sink), 0, 1 or 2.
pub const QOS: &str = "mqtt.qos";
/// `mqtt.topics`: the source's subscription filters.
pub const TOPICS: &str = "mqtt.topics";
/// `kafka.topic`: the source's destination pattern.
pub const KAFKA_TOPIC: &str = "kafka.topic";
/// `key.mode`: `topic` or `none`.
pub const KEY_MODE: &str = "key.mode";
/// `value.format`: `bytes`, `string` or `json`.
pub const VALUE_FORMAT: &str = "value.format";
/// `headers.enable`.
pub const HEADERS_ENABLE: &str = "headers.enable";
/// `mqtt.topic`: the sink's destination pattern.
pub const MQTT_TOPIC: &str = "mqtt.topic";
/// `mqtt.retain`.
pub const RETAIN: &str = "mqtt.retain";
/// `payload`: what the sink publishes; `converter` (the value converter's output) only.
pub const PAYLOAD: &str = "payload";
/// `max.in.flight`: unacknowledged publishes of a sink task.
pub const MAX_IN_FLIGHT: &str = "max.in.flight";

/// Header with the MQTT topic of a source record.
pub const HEADER_TOPIC: &str = "mqtt.topic";
/// Header with the QoS a source record's message was delivered at.
pub const HEADER_QOS: &str = "mqtt.qos";
/// Header with the retained flag of a source record's message.
pub const HEADER_RETAINED: &str = "mqtt.retained";

/// Default `mqtt.max.packet.bytes`: 16 MiB.
pub const DEFAULT_MAX_PACKET_BYTES: i32 = 16 * 1024 * 1024;

/// How long a sink `put` waits for room among the in-flight publishes before it returns a
/// retriable error (the runtime then redelivers the batch after a backoff).
const PUBLISH_BLOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnect back-off bounds.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// How long `stop` waits for the DISCONNECT to go out.
const DISCONNECT_WAIT: Duration = Duration::from_secs(2);

/// The two MQTT connectors.
pub fn plugins() -> Vec<PluginDesc> {
    vec![
        PluginDesc {
            class: SOURCE_CLASS,
            plugin_type: PluginType::Source,
            config_def: source_config_def,
            factory: Factory::Connector(|| Box::new(MqttSourceConnector::default())),
        },
        PluginDesc {
            class: SINK_CLASS,
            plugin_type: PluginType::Sink,
            config_def: sink_config_def,
            factory: Factory::Connector(|| Box::new(MqttSinkConnector::default())),
        },
    ]
}

fn one_of(allowed: &'static [&'static str]) -> impl Fn(&ConfigValue) -> Result<(), String> {
    move |value| match value {
        ConfigValue::String(text)
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(text.trim())) =>
        {
            Ok(())
        }
        ConfigValue::Null => Ok(()),
        _ => Err(format!("must be one of {}", allowed.join(", "))),
    }
}

fn pattern_validator(value: &ConfigValue) -> Result<(), String> {
    match value {
        ConfigValue::String(text) => Pattern::parse(text).map(|_| ()),
        _ => Ok(()),
    }
}

/// The connection keys both connectors share.
fn connection_keys(def: ConfigDef) -> ConfigDef {
    def.define(
        ConfigKey::new(
            SERVER_URI,
            ConfigType::String,
            KeyDefault::Required,
            Importance::High,
            "The MQTT broker: tcp://host:port (mqtt:// also accepted; port 1883 when absent). ssl:// is not supported yet.",
        )
        .validate_with(|value| match value {
            ConfigValue::String(text) => parse_server_uri(text).map(|_| ()),
            _ => Ok(()),
        }),
    )
    .define(ConfigKey::new(
        CLIENT_ID,
        ConfigType::String,
        KeyDefault::Null,
        Importance::High,
        "The MQTT client id; a persistent session is tied to it. Default: josefine-<connector name> (sink tasks after the first add -<task>).",
    ))
    .define(ConfigKey::new(
        CLEAN_SESSION,
        ConfigType::Boolean,
        KeyDefault::Value("false".into()),
        Importance::Medium,
        "false keeps the MQTT session (subscriptions, queued QoS 1/2 messages, unacknowledged publishes) across reconnects and restarts.",
    ))
    .define(ConfigKey::new(
        USERNAME,
        ConfigType::String,
        KeyDefault::Null,
        Importance::Medium,
        "The MQTT user name.",
    ))
    .define(ConfigKey::new(
        PASSWORD,
        ConfigType::Password,
        KeyDefault::Null,
        Importance::Medium,
        "The MQTT password.",
    ))
    .define(
        ConfigKey::new(
            KEEPALIVE_MS,
            ConfigType::Long,
            KeyDefault::Value("30000".into()),
            Importance::Low,
            "The MQTT keep-alive interval in ms, rounded up to whole seconds; 0 disables it.",
        )
        .validate_with(|value| match value {
            ConfigValue::Long(ms) if !(0..=65_535_000).contains(ms) => {
                Err("must be between 0 and 65535000".into())
            }
            _ => Ok(()),
        }),
    )
    .define(ConfigKey::new(
        TLS_CA,
        ConfigType::String,
        KeyDefault::Null,
        Importance::Low,
        "CA certificate PEM file for ssl:// (reserved: TLS is not supported yet).",
    ))
    .define(ConfigKey::new(
        TLS_CERT,
        ConfigType::String,
        KeyDefault::Null,
        Importance::Low,
        "Client certificate PEM file for ssl:// (reserved: TLS is not supported yet).",
    ))
    .define(ConfigKey::new(
        TLS_KEY,
        ConfigType::String,
        KeyDefault::Null,
        Importance::Low,
        "Client key PEM file for ssl:// (reserved: TLS is not supported yet).",
    ))
    .define(
        ConfigKey::new(
            MAX_PACKET_BYTES,
            ConfigType::Int,
            KeyDefault::Value(DEFAULT_MAX_PACKET_BYTES.to_string()),
            Importance::Low,
            "The largest MQTT packet sent or received, in bytes.",
        )
        .validate_with(|value| match value {
            ConfigValue::Int(n) if *n < 1024 => Err("must be at least 1024".into()),
            _ => Ok(()),
        }),
    )
}

fn qos_key(doc: &str) -> ConfigKey {
    ConfigKey::new(
        QOS,
        ConfigType::Int,
        KeyDefault::Value("1".into()),
        Importance::High,
        doc,
    )
    .validate_with(|value| match value {
        // QoS 2 is refused: rumqttc 0.25 forgets a QoS 2 exchange across a reconnect and
        // then reconnects forever on the broker's resent PUBREL.
        ConfigValue::Int(0..=1) => Ok(()),
        _ => Err("must be 0 or 1 (QoS 2 is not supported)".into()),
    })
}

/// MqttSourceConnector's keys (CONNECT.md g.3): the connection keys, `mqtt.topics`,
/// `mqtt.qos`, `kafka.topic`, `topic.sanitize`, `pattern.missing`, `key.mode`,
/// `value.format`, `headers.enable`, `poll.size`, `poll.interval.ms`.
pub fn source_config_def() -> ConfigDef {
    let mut def = connection_keys(ConfigDef::new())
        .define(
            ConfigKey::new(
                TOPICS,
                ConfigType::List,
                KeyDefault::Required,
                Importance::High,
                "Comma-separated MQTT topic filters to subscribe ('+' and '#' allowed).",
            )
            .validate_with(|value| match value {
                ConfigValue::List(items) if items.is_empty() => {
                    Err("at least one topic filter is required".into())
                }
                ConfigValue::List(items) => match items
                    .iter()
                    .find(|filter| !rumqttc::valid_filter(filter))
                {
                    Some(bad) => Err(format!("'{bad}' is not a valid MQTT topic filter")),
                    None => Ok(()),
                },
                _ => Ok(()),
            }),
        )
        .define(qos_key("The subscription QoS: 0 at-most-once, 1 at-least-once (acknowledged after the Kafka append)."))
        .define(
            ConfigKey::new(
                KAFKA_TOPIC,
                ConfigType::String,
                KeyDefault::Value("${topic}".into()),
                Importance::High,
                "Destination pattern (g.0); ${topic} is the MQTT topic. The result is sanitised per topic.sanitize.",
            )
            .validate_with(pattern_validator),
        )
        .define(topic_sanitize_key())
        .define(pattern_missing_key())
        .define(
            ConfigKey::new(
                KEY_MODE,
                ConfigType::String,
                KeyDefault::Value("topic".into()),
                Importance::Medium,
                "'topic': the MQTT topic as a STRING key; 'none': null keys.",
            )
            .validate_with(one_of(&["topic", "none"])),
        )
        .define(
            ConfigKey::new(
                VALUE_FORMAT,
                ConfigType::String,
                KeyDefault::Value("bytes".into()),
                Importance::Medium,
                "'bytes' (BYTES), 'string' (UTF-8 STRING) or 'json' (schemaless data; invalid JSON is a record error).",
            )
            .validate_with(one_of(&["bytes", "string", "json"])),
        )
        .define(ConfigKey::new(
            HEADERS_ENABLE,
            ConfigType::Boolean,
            KeyDefault::Value("true".into()),
            Importance::Low,
            "Adds the mqtt.topic, mqtt.qos and mqtt.retained headers.",
        ));
    for key in poll_keys() {
        def = def.define(key);
    }
    def
}

/// MqttSinkConnector's keys (CONNECT.md g.3): the connection keys, `mqtt.topic`,
/// `pattern.missing`, `mqtt.qos`, `mqtt.retain`, `payload`, `max.in.flight`.
pub fn sink_config_def() -> ConfigDef {
    connection_keys(ConfigDef::new())
        .define(
            ConfigKey::new(
                MQTT_TOPIC,
                ConfigType::String,
                KeyDefault::Value("kafka/${topic}/${key}".into()),
                Importance::High,
                "Destination pattern (g.0); '+' and '#' in token values become '_'.",
            )
            .validate_with(pattern_validator),
        )
        .define(pattern_missing_key())
        .define(
            ConfigKey::new(
                QOS,
                ConfigType::Int,
                KeyDefault::Value("1".into()),
                Importance::High,
                "The publish QoS: 0 commits on send (at-most-once), 1 commits once the broker acknowledged (at-least-once).",
            )
            .validate_with(|value| match value {
                ConfigValue::Int(0..=1) => Ok(()),
                _ => Err("must be 0 or 1 (QoS 2 publishing is not supported)".into()),
            }),
        )
        .define(ConfigKey::new(
            RETAIN,
            ConfigType::Boolean,
            KeyDefault::Value("false".into()),
            Importance::Medium,
            "Publish with the retain flag.",
        ))
        .define(
            ConfigKey::new(
                PAYLOAD,
                ConfigType::String,
                KeyDefault::Value("converter".into()),
                Importance::Low,
                "'converter': the payload is the value as the value converter produced it (bytes and strings as they are, other data as schemaless JSON).",
            )
            .validate_with(one_of(&["converter"])),
        )
        .define(
            ConfigKey::new(
                MAX_IN_FLIGHT,
                ConfigType::Int,
                KeyDefault::Value("64".into()),
                Importance::Medium,
                "The most publishes awaiting their acknowledgement.",
            )
            .validate_with(|value| match value {
                ConfigValue::Int(1..=65_535) => Ok(()),
                _ => Err("must be between 1 and 65535".into()),
            }),
        )
}

/// Host and port of `mqtt.server.uri`: `tcp://host:port` or `mqtt://host:port` (port 1883 when
/// absent). Errors: `ssl://`/`mqtts://` ("TLS is not supported yet"), another scheme, no host.
pub fn parse_server_uri(uri: &str) -> Result<(String, u16), String> {
    let url = url::Url::parse(uri.trim()).map_err(|e| format!("not a URI ({e})"))?;
    match url.scheme() {
        "tcp" | "mqtt" => {}
        "ssl" | "mqtts" | "tls" => return Err("TLS is not supported yet".into()),
        other => return Err(format!("unsupported scheme '{other}': use tcp://host:port")),
    }
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or("no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((host, url.port().unwrap_or(1883)))
}

fn qos_of(level: i32) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}

fn qos_level(qos: QoS) -> i8 {
    match qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// The connection settings of a task (no `Debug`: it holds the password).
#[derive(Clone)]
struct Connection {
    uri: String,
    host: String,
    port: u16,
    client_id: String,
    clean_session: bool,
    credentials: Option<(String, String)>,
    keepalive: Duration,
    max_packet: usize,
}

impl Connection {
    fn from_config(
        parsed: &crate::config_def::ParsedConfig,
        config: &Config,
    ) -> Result<Connection, ConnectError> {
        let uri = parsed.string(SERVER_URI).unwrap_or_default().to_string();
        let (host, port) = parse_server_uri(&uri).map_err(|reason| {
            ConnectError::config(format!(
                "Invalid value {uri} for configuration {SERVER_URI}: {reason}"
            ))
        })?;
        let client_id = match parsed.string(CLIENT_ID).filter(|id| !id.is_empty()) {
            Some(id) => id.to_string(),
            None => format!(
                "josefine-{}",
                config.get("name").map_or("connector", String::as_str)
            ),
        };
        let credentials = parsed.string(USERNAME).map(|user| {
            (
                user.to_string(),
                parsed.string(PASSWORD).unwrap_or_default().to_string(),
            )
        });
        let keepalive_ms = parsed.long(KEEPALIVE_MS).unwrap_or(30_000).max(0) as u64;
        Ok(Connection {
            // Shown in the status: rebuilt from host and port, so no user info leaks.
            uri: format!("tcp://{host}:{port}"),
            host,
            port,
            client_id,
            clean_session: parsed.boolean(CLEAN_SESSION),
            credentials,
            // Whole seconds, at least one (rumqttc refuses less, except 0 = off).
            keepalive: Duration::from_secs(keepalive_ms.div_ceil(1000)),
            max_packet: parsed
                .int(MAX_PACKET_BYTES)
                .unwrap_or(DEFAULT_MAX_PACKET_BYTES)
                .max(1024) as usize,
        })
    }

    fn options(&self, inflight: u16, manual_acks: bool) -> MqttOptions {
        let mut options = MqttOptions::new(self.client_id.clone(), self.host.clone(), self.port);
        options
            .set_keep_alive(self.keepalive)
            .set_clean_session(self.clean_session)
            .set_max_packet_size(self.max_packet, self.max_packet)
            .set_inflight(inflight.max(1))
            .set_manual_acks(manual_acks);
        if let Some((user, password)) = &self.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        options
    }

    fn show(&self, counters: &TaskCounters) {
        counters.set_detail("server", serde_json::Value::String(self.uri.clone()));
        counters.set_detail("connected", serde_json::Value::Bool(false));
    }
}

/// `errors.tolerance=all` and `errors.log.enable` of a task configuration.
fn tolerance_of(config: &Config) -> (bool, bool) {
    let is_true = |key: &str| {
        config
            .get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    (
        config
            .get("errors.tolerance")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("all")),
        is_true("errors.log.enable"),
    )
}

/// The exponential reconnect back-off: doubles from 100 ms to 10 s.
fn next_backoff(current: Duration) -> Duration {
    (current * 2).clamp(RECONNECT_MIN, RECONNECT_MAX)
}

// ---------------------------------------------------------------------------------------
// MqttSource
// ---------------------------------------------------------------------------------------

/// MQTT → Kafka (CONNECT.md g.3). One task: MQTT subscriptions are not split (every
/// subscriber of a filter receives every message).
#[derive(Debug, Default)]
pub struct MqttSourceConnector {
    config: Config,
}

#[async_trait]
impl Connector for MqttSourceConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Source
    }

    fn config_def(&self) -> ConfigDef {
        source_config_def()
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        SourceSettings::from_config(config)?;
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone()]
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(MqttSourceTask::default()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueFormat {
    Bytes,
    String,
    Json,
}

/// The parsed configuration of a source task.
struct SourceSettings {
    connection: Connection,
    filters: Vec<SubscribeFilter>,
    destination: Pattern,
    /// The pattern uses `${topic}` only: destinations are cached per MQTT topic.
    topic_only: bool,
    sanitize: Sanitize,
    missing: Missing,
    key_topic: bool,
    format: ValueFormat,
    headers: bool,
    poll_size: usize,
    poll_interval: Duration,
    tolerate: bool,
    log_errors: bool,
}

impl SourceSettings {
    fn from_config(config: &Config) -> Result<SourceSettings, ConnectError> {
        let parsed = source_config_def()
            .parse(config)
            .map_err(ConnectError::config)?;
        let connection = Connection::from_config(&parsed, config)?;
        let qos = qos_of(parsed.int(QOS).unwrap_or(1));
        let filters = parsed
            .list(TOPICS)
            .iter()
            .map(|filter| SubscribeFilter::new(filter.clone(), qos))
            .collect();
        let destination = Pattern::parse(parsed.string(KAFKA_TOPIC).unwrap_or("${topic}"))
            .map_err(ConnectError::config)?;
        let topic_only = destination
            .render("t", None, Missing::Fail, &super::bridge::no_escape)
            .is_ok();
        let (poll_size, poll_interval) = poll_settings(config)?;
        let (tolerate, log_errors) = tolerance_of(config);
        Ok(SourceSettings {
            connection,
            filters,
            destination,
            topic_only,
            sanitize: Sanitize::parse(parsed.string(TOPIC_SANITIZE).unwrap_or("kafka"))
                .map_err(ConnectError::config)?,
            missing: Missing::parse(parsed.string(PATTERN_MISSING).unwrap_or("fail"))
                .map_err(ConnectError::config)?,
            key_topic: parsed
                .string(KEY_MODE)
                .is_none_or(|mode| mode.trim().eq_ignore_ascii_case("topic")),
            format: match parsed
                .string(VALUE_FORMAT)
                .unwrap_or("bytes")
                .trim()
                .to_ascii_lowercase()
                .as_str()
            {
                "string" => ValueFormat::String,
                "json" => ValueFormat::Json,
                _ => ValueFormat::Bytes,
            },
            headers: parsed.boolean(HEADERS_ENABLE),
            poll_size,
            poll_interval,
            tolerate,
            log_errors,
        })
    }
}

/// One message awaiting its acknowledgement, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingAck {
    /// The connection the message arrived on: an acknowledgement for an earlier connection
    /// is never sent (its packet id may name another message now).
    generation: u64,
    qos: QoS,
    pkid: u16,
    done: bool,
}

/// The acknowledgements of a source task, sent in arrival order (MQTT 3.1.1 4.6): a message's
/// acknowledgement waits for every earlier one.
#[derive(Debug, Default)]
struct AckQueue {
    pending: VecDeque<PendingAck>,
    /// Resolved, in order, not yet accepted by the client's request channel.
    ready: VecDeque<PendingAck>,
}

impl AckQueue {
    /// A message handed to the runtime (`done` false) or skipped (`done` true).
    fn push(&mut self, generation: u64, qos: QoS, pkid: u16, done: bool) {
        self.pending.push_back(PendingAck {
            generation,
            qos,
            pkid,
            done,
        });
        self.advance();
    }

    /// The oldest message handed to the runtime was resolved (`commit_record`, in poll order).
    fn resolve_next(&mut self) {
        if let Some(first) = self.pending.iter_mut().find(|ack| !ack.done) {
            first.done = true;
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self.pending.front().is_some_and(|ack| ack.done) {
            if let Some(ack) = self.pending.pop_front() {
                if ack.qos != QoS::AtMostOnce {
                    self.ready.push_back(ack);
                }
            }
        }
    }

    /// Hands ready acknowledgements of connection `generation` to `send` until it refuses one
    /// (a full channel: the rest waits for the next call); older connections' are dropped.
    fn flush(&mut self, generation: u64, mut send: impl FnMut(&PendingAck) -> bool) {
        while let Some(ack) = self.ready.front() {
            if ack.generation == generation && !send(ack) {
                return;
            }
            self.ready.pop_front();
        }
    }
}

/// A message from the event loop: its connection generation and the PUBLISH.
type Incoming = (u64, Publish);

/// What the source's event loop shares with its task.
#[derive(Debug, Default)]
struct SourceShared {
    generation: AtomicU64,
    /// A permanent failure (a refused subscription) that fails the task at its next poll.
    fatal: Mutex<Option<String>>,
}

/// The task of [`MqttSourceConnector`].
#[derive(Default)]
pub struct MqttSourceTask {
    settings: Option<SourceSettings>,
    counters: Arc<TaskCounters>,
    client: Option<AsyncClient>,
    messages: Option<mpsc::Receiver<Incoming>>,
    shared: Arc<SourceShared>,
    acks: AckQueue,
    json: Option<JsonConverter>,
    /// Destination per MQTT topic when the pattern uses `${topic}` only.
    destinations: HashMap<String, String>,
    event_loop: Option<(JoinHandle<()>, CancellationToken)>,
    key_schema: Option<Arc<Schema>>,
    value_schema: Option<Arc<Schema>>,
    int8: Option<Arc<Schema>>,
    boolean: Option<Arc<Schema>>,
    string: Option<Arc<Schema>>,
}

impl std::fmt::Debug for MqttSourceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSourceTask").finish_non_exhaustive()
    }
}

/// Most destinations cached per source task before the cache starts over.
const DESTINATION_CACHE: usize = 4096;

impl MqttSourceTask {
    /// Takes `settings` and makes the schemas its records share.
    fn prepare(&mut self, settings: SourceSettings) {
        self.key_schema = Some(Arc::new(Schema::new(SchemaType::String)));
        self.string = self.key_schema.clone();
        self.int8 = Some(Arc::new(Schema::new(SchemaType::Int8)));
        self.boolean = Some(Arc::new(Schema::new(SchemaType::Boolean)));
        self.value_schema = match settings.format {
            ValueFormat::Bytes => Some(Arc::new(Schema::new(SchemaType::Bytes))),
            ValueFormat::String => self.string.clone(),
            ValueFormat::Json => None,
        };
        self.settings = Some(settings);
    }

    /// The record of one message, or the record error.
    fn record_of(&mut self, publish: Publish) -> Result<SourceRecord, ConnectError> {
        let Some(settings) = self.settings.as_ref() else {
            return Err(ConnectError::connect("MqttSourceTask is not started"));
        };
        let Publish {
            qos,
            retain,
            topic,
            payload,
            ..
        } = publish;
        let (value_schema, value) = match settings.format {
            ValueFormat::Bytes => (self.value_schema.clone(), Value::Bytes(Vec::from(payload))),
            ValueFormat::String => match String::from_utf8(Vec::from(payload)) {
                Ok(text) => (self.value_schema.clone(), Value::String(text)),
                Err(_) => {
                    return Err(ConnectError::data(format!(
                        "The payload of a message on MQTT topic '{topic}' is not valid UTF-8"
                    )))
                }
            },
            ValueFormat::Json => {
                let converter = self.json.get_or_insert_with(|| {
                    JsonConverter::with_config(JsonConverterConfig {
                        schemas_enable: false,
                        ..JsonConverterConfig::default()
                    })
                });
                let data = converter.deserialize(Some(&payload)).map_err(|cause| {
                    ConnectError::data(format!(
                        "The payload of a message on MQTT topic '{topic}' is not valid JSON"
                    ))
                    .with_cause(cause)
                })?;
                (data.schema, data.value)
            }
        };
        let mut headers = Headers::default();
        if settings.headers {
            headers.add(
                HEADER_TOPIC,
                self.string.clone(),
                Value::String(topic.clone()),
            );
            headers.add(HEADER_QOS, self.int8.clone(), Value::Int8(qos_level(qos)));
            headers.add(
                HEADER_RETAINED,
                self.boolean.clone(),
                Value::Boolean(retain),
            );
        }
        let (key_schema, key) = if settings.key_topic {
            (self.key_schema.clone(), Value::String(topic.clone()))
        } else {
            (None, Value::Null)
        };
        let mut record = ConnectRecord {
            topic: String::new(),
            kafka_partition: None,
            key_schema,
            key,
            value_schema,
            value,
            timestamp: Some(chrono::Utc::now().timestamp_millis()),
            timestamp_type: crate::data::TimestampType::CreateTime,
            headers,
            kafka_offset: None,
        };
        record.topic = if settings.topic_only {
            match self.destinations.get(&topic) {
                Some(cached) => cached.clone(),
                None => {
                    let rendered = settings.destination.render(
                        &topic,
                        None,
                        settings.missing,
                        &super::bridge::no_escape,
                    )?;
                    let name = sanitize_topic(&rendered, settings.sanitize);
                    if self.destinations.len() >= DESTINATION_CACHE {
                        self.destinations.clear();
                    }
                    self.destinations.insert(topic, name.clone());
                    name
                }
            }
        } else {
            let rendered = settings.destination.render(
                &topic,
                Some(&record),
                settings.missing,
                &super::bridge::no_escape,
            )?;
            sanitize_topic(&rendered, settings.sanitize)
        };
        Ok(SourceRecord {
            record,
            source_partition: JsonMap::new(),
            source_offset: JsonMap::new(),
        })
    }

    fn flush_acks(&mut self) {
        let Some(client) = self.client.as_ref() else {
            return;
        };
        let generation = self.shared.generation.load(Ordering::Acquire);
        self.acks.flush(generation, |ack| {
            let mut publish = Publish::new("", ack.qos, Vec::new());
            publish.pkid = ack.pkid;
            client.try_ack(&publish).is_ok()
        });
    }

    /// One message taken from the event loop: a record, or a skipped message (tolerated
    /// record error), or the error that fails the task.
    fn take(
        &mut self,
        (generation, publish): Incoming,
        records: &mut Vec<SourceRecord>,
    ) -> Result<(), ConnectError> {
        self.counters.incr(Counter::Accepted);
        let (qos, pkid) = (publish.qos, publish.pkid);
        match self.record_of(publish) {
            Ok(record) => {
                self.acks.push(generation, qos, pkid, false);
                records.push(record);
                Ok(())
            }
            Err(error) => {
                self.counters.incr(Counter::Failed);
                let (tolerate, log) = self
                    .settings
                    .as_ref()
                    .map_or((false, false), |s| (s.tolerate, s.log_errors));
                if !tolerate {
                    return Err(ConnectError::connect("Tolerance exceeded in error handler")
                        .with_cause(error));
                }
                if log {
                    tracing::error!(error = %error.trace(), "Error encountered in MqttSourceTask: message skipped (packet id {pkid}, QoS {}).", qos_level(qos));
                }
                self.acks.push(generation, qos, pkid, true);
                Ok(())
            }
        }
    }
}

#[async_trait]
impl SourceTask for MqttSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SourceTaskContext,
    ) -> Result<(), ConnectError> {
        let settings = SourceSettings::from_config(config)?;
        self.counters = context.counters;
        settings.connection.show(&self.counters);
        // Enough room for every acknowledgement of a poll batch and the subscription.
        let capacity = settings.poll_size.saturating_mul(2).saturating_add(16);
        let inflight = u16::try_from(settings.poll_size.max(10)).unwrap_or(u16::MAX);
        let options = settings.connection.options(inflight, true);
        let (client, event_loop) = AsyncClient::new(options, capacity);
        let (tx, rx) = mpsc::channel(settings.poll_size);
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run_source_loop(
            event_loop,
            settings.filters.clone(),
            tx,
            self.shared.clone(),
            self.counters.clone(),
            cancel.clone(),
        ));
        self.prepare(settings);
        self.client = Some(client);
        self.messages = Some(rx);
        self.event_loop = Some((handle, cancel));
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        self.flush_acks();
        if let Some(reason) = lock(&self.shared.fatal).take() {
            return Err(ConnectError::connect(reason));
        }
        let (size, interval) = self
            .settings
            .as_ref()
            .map_or((1, Duration::from_secs(1)), |s| {
                (s.poll_size, s.poll_interval)
            });
        let Some(messages) = self.messages.as_mut() else {
            return Err(ConnectError::connect("MqttSourceTask is not started"));
        };
        let first = match tokio::time::timeout(interval, messages.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(None) => return Err(ConnectError::connect("The MQTT event loop stopped")),
            Ok(Some(message)) => message,
        };
        let mut batch = Vec::with_capacity(size.min(64));
        batch.push(first);
        while batch.len() < size {
            match messages.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let mut records = Vec::with_capacity(batch.len());
        for message in batch {
            self.take(message, &mut records)?;
        }
        self.flush_acks();
        Ok(records)
    }

    async fn commit_record(&mut self, _record: &SourceRecord, metadata: Option<&RecordMetadata>) {
        if metadata.is_some() {
            self.counters.incr(Counter::Delivered);
        }
        self.acks.resolve_next();
        self.flush_acks();
    }

    async fn stop(&mut self) {
        self.flush_acks();
        if let Some(client) = self.client.take() {
            let _ = client.try_disconnect();
        }
        if let Some((mut handle, cancel)) = self.event_loop.take() {
            if tokio::time::timeout(DISCONNECT_WAIT, &mut handle)
                .await
                .is_err()
            {
                cancel.cancel();
                let _ = handle.await;
            }
        }
        self.messages = None;
    }
}

/// The source's event loop: connects (again), subscribes when the broker has no session,
/// forwards PUBLISH packets to the task, and stops at DISCONNECT or when cancelled.
async fn run_source_loop(
    mut event_loop: EventLoop,
    filters: Vec<SubscribeFilter>,
    tx: mpsc::Sender<Incoming>,
    shared: Arc<SourceShared>,
    counters: Arc<TaskCounters>,
    cancel: CancellationToken,
) {
    let mut backoff = RECONNECT_MIN;
    let mut connected = false;
    // The task's first connection subscribes even to a kept session.
    let mut first_connection = true;
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            event = event_loop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
                tracing::info!(
                    generation,
                    session_present = ack.session_present,
                    "MQTT source connected"
                );
                connected = true;
                backoff = RECONNECT_MIN;
                counters.set_detail("connected", serde_json::Value::Bool(true));
                let first = std::mem::take(&mut first_connection);
                if ack.session_present && !first {
                    // The broker kept the session's subscriptions. The task's first connection
                    // subscribes anyway, so that changed `mqtt.topics` or `mqtt.qos` apply.
                    counters.set_detail("subscribed", serde_json::Value::Bool(true));
                } else {
                    event_loop
                        .pending
                        .push_front(Request::Subscribe(Subscribe::new_many(filters.clone())));
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if let Some(index) = ack
                    .return_codes
                    .iter()
                    .position(|code| matches!(code, SubscribeReasonCode::Failure))
                {
                    let filter = filters.get(index).map_or("?", |f| f.path.as_str());
                    *lock(&shared.fatal) = Some(format!(
                        "The MQTT broker refused the subscription to '{filter}'"
                    ));
                } else {
                    counters.set_detail("subscribed", serde_json::Value::Bool(true));
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let generation = shared.generation.load(Ordering::Acquire);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    sent = tx.send((generation, publish)) => if sent.is_err() { return },
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(error) => {
                if connected {
                    tracing::warn!(%error, "MQTT source connection lost; reconnecting");
                } else {
                    tracing::debug!(%error, "MQTT source could not connect; retrying");
                }
                connected = false;
                // Acknowledgements resolved from now on name packets of the lost connection:
                // a new generation drops them instead of sending them on the next one (with a
                // clean session its packet ids name other messages). The broker redelivers
                // those messages: at-least-once.
                shared.generation.fetch_add(1, Ordering::AcqRel);
                counters.set_detail("connected", serde_json::Value::Bool(false));
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = next_backoff(backoff);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// MqttSink
// ---------------------------------------------------------------------------------------

/// Kafka → MQTT (CONNECT.md g.3). `tasks.max` tasks, each its own MQTT client (client id
/// `<mqtt.client.id>` for task 0, `<mqtt.client.id>-<n>` for task n).
#[derive(Debug, Default)]
pub struct MqttSinkConnector {
    config: Config,
}

#[async_trait]
impl Connector for MqttSinkConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Sink
    }

    fn config_def(&self) -> ConfigDef {
        sink_config_def()
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        SinkSettings::from_config(config)?;
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        let base = match self
            .config
            .get(CLIENT_ID)
            .filter(|id| !id.trim().is_empty())
        {
            Some(id) => id.trim().to_string(),
            None => format!(
                "josefine-{}",
                self.config.get("name").map_or("connector", String::as_str)
            ),
        };
        (0..max_tasks.max(1))
            .map(|task| {
                let mut config = self.config.clone();
                let id = if task == 0 {
                    base.clone()
                } else {
                    format!("{base}-{task}")
                };
                config.insert(CLIENT_ID.to_string(), id);
                config
            })
            .collect()
    }

    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some(Box::new(MqttSinkTask::default()))
    }
}

/// The parsed configuration of a sink task.
struct SinkSettings {
    connection: Connection,
    topic: Pattern,
    missing: Missing,
    qos: QoS,
    retain: bool,
    max_in_flight: u16,
}

impl SinkSettings {
    fn from_config(config: &Config) -> Result<SinkSettings, ConnectError> {
        let parsed = sink_config_def()
            .parse(config)
            .map_err(ConnectError::config)?;
        Ok(SinkSettings {
            connection: Connection::from_config(&parsed, config)?,
            topic: Pattern::parse(parsed.string(MQTT_TOPIC).unwrap_or("kafka/${topic}/${key}"))
                .map_err(ConnectError::config)?,
            missing: Missing::parse(parsed.string(PATTERN_MISSING).unwrap_or("fail"))
                .map_err(ConnectError::config)?,
            qos: qos_of(parsed.int(QOS).unwrap_or(1)),
            retain: parsed.boolean(RETAIN),
            max_in_flight: u16::try_from(parsed.int(MAX_IN_FLIGHT).unwrap_or(64).max(1))
                .unwrap_or(u16::MAX),
        })
    }
}

/// One record published with QoS 1: its partition's slot, its offset and its publish order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    slot: usize,
    offset: i64,
    seq: u64,
}

/// The records of one partition a sink task published and not yet saw acknowledged.
#[derive(Debug)]
struct PartitionTrack {
    /// Offsets in order with "acknowledged"; the front is always unacknowledged.
    entries: VecDeque<(i64, bool)>,
    /// Next offset `put` expects: records below it were published already (a batch handed
    /// again after a retriable `put` failure).
    next_offset: i64,
    open: bool,
}

/// Which publish is which record: the sink's acknowledgement bookkeeping, shared by `put`
/// (which hands publishes to the client) and the event loop (which sees packet ids and
/// acknowledgements). Publishes leave the client in the order they were handed to it, so
/// the next new packet id belongs to the oldest queued entry.
#[derive(Debug, Default)]
struct AckTracker {
    partitions: Vec<PartitionTrack>,
    index: HashMap<TopicPartition, usize>,
    /// Handed to the client, no packet id yet, in the order the client sends them.
    queued: VecDeque<Entry>,
    /// Sent, by packet id.
    in_flight: HashMap<u16, Entry>,
    /// A publish the client holds back until `pkid` is acknowledged (packet id collision).
    collided: Option<(u16, Entry)>,
    next_seq: u64,
}

impl AckTracker {
    /// The slot of `topic`/`partition`, opened if new.
    fn slot(&mut self, topic: &str, partition: i32) -> usize {
        let key = TopicPartition::new(topic, partition);
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        let slot = self.partitions.len();
        self.partitions.push(PartitionTrack {
            entries: VecDeque::new(),
            next_offset: i64::MIN,
            open: true,
        });
        self.index.insert(key, slot);
        slot
    }

    /// A publish of record `offset` of `slot` was handed to the client.
    fn queue(&mut self, slot: usize, offset: i64) {
        if let Some(track) = self.partitions.get_mut(slot) {
            track.entries.push_back((offset, false));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queued.push_back(Entry { slot, offset, seq });
    }

    /// The client sent a publish with `pkid`; true when it is a retransmission.
    fn on_sent(&mut self, pkid: u16) -> bool {
        if pkid == 0 {
            return false;
        }
        if self.in_flight.contains_key(&pkid) {
            return true;
        }
        let entry = match self.collided.take() {
            Some((held, entry)) if held == pkid => Some(entry),
            other => {
                self.collided = other;
                self.queued.pop_front()
            }
        };
        if let Some(entry) = entry {
            self.in_flight.insert(pkid, entry);
        }
        false
    }

    /// The client holds the next publish back until `pkid` is acknowledged.
    fn on_collision(&mut self, pkid: u16) {
        if let Some(entry) = self.queued.pop_front() {
            self.collided = Some((pkid, entry));
        }
    }

    /// The broker acknowledged `pkid`; true when it was one of ours.
    fn on_acked(&mut self, pkid: u16) -> bool {
        let Some(entry) = self.in_flight.remove(&pkid) else {
            return false;
        };
        if let Some(track) = self.partitions.get_mut(entry.slot).filter(|t| t.open) {
            if let Ok(at) = track
                .entries
                .binary_search_by_key(&entry.offset, |(offset, _)| *offset)
            {
                if let Some(found) = track.entries.get_mut(at) {
                    found.1 = true;
                }
            }
            while track.entries.front().is_some_and(|(_, acked)| *acked) {
                track.entries.pop_front();
            }
        }
        true
    }

    /// The connection broke. `pending` are the requests the client kept (unacknowledged
    /// publishes with their packet ids, queued ones without) and `collision` the publish it
    /// held back. Returns those publishes with their entries, oldest first, packet ids
    /// cleared, to be sent again on the next connection; and how many had been sent.
    fn on_disconnect(
        &mut self,
        pending: impl IntoIterator<Item = Request>,
        collision: Option<Publish>,
    ) -> (Vec<(Entry, Publish)>, u64) {
        let mut resend = Vec::new();
        let mut sent = 0;
        for request in pending {
            let Request::Publish(mut publish) = request else {
                continue;
            };
            let entry = if publish.pkid != 0 {
                sent += 1;
                self.in_flight.remove(&publish.pkid)
            } else {
                self.queued.pop_front()
            };
            if let Some(entry) = entry {
                publish.pkid = 0;
                publish.dup = false;
                resend.push((entry, publish));
            }
        }
        if let (Some(mut publish), Some((_, entry))) = (collision, self.collided.take()) {
            publish.pkid = 0;
            resend.push((entry, publish));
        }
        self.collided = None;
        self.in_flight.clear();
        resend.sort_by_key(|(entry, _)| entry.seq);
        (resend, sent)
    }

    /// The offset to commit for `partition` given the runtime's `next` (the next offset to
    /// consume): the oldest unacknowledged offset when there is one.
    fn committable(&self, partition: &TopicPartition, next: i64) -> i64 {
        self.index
            .get(partition)
            .and_then(|&slot| self.partitions.get(slot))
            .and_then(|track| track.entries.front())
            .map_or(next, |&(offset, _)| offset.min(next))
    }

    /// Forgets revoked partitions (their acknowledgements are ignored from now on).
    fn close(&mut self, partitions: &[TopicPartition]) {
        for partition in partitions {
            if let Some(slot) = self.index.remove(partition) {
                if let Some(track) = self.partitions.get_mut(slot) {
                    track.open = false;
                    track.entries.clear();
                }
            }
        }
    }
}

/// What the sink's event loop shares with its task.
#[derive(Debug, Default)]
struct SinkShared {
    tracker: Mutex<AckTracker>,
    /// Signalled whenever the client took a publish or one was acknowledged.
    room: Notify,
    /// The event loop ended.
    closed: AtomicBool,
}

/// The task of [`MqttSinkConnector`].
#[derive(Default)]
pub struct MqttSinkTask {
    settings: Option<SinkSettings>,
    client: Option<AsyncClient>,
    shared: Arc<SinkShared>,
    counters: Arc<TaskCounters>,
    reporter: Option<Arc<dyn ErrantRecordReporter>>,
    json: Option<JsonConverter>,
    event_loop: Option<(JoinHandle<()>, CancellationToken)>,
    /// The last record's partition and slot (records of a batch come grouped by partition).
    last_slot: Option<(String, i32, usize)>,
}

/// A task dropped without `stop` (the runtime aborts a task that overran
/// `task.shutdown.graceful.timeout.ms`) must not leave its event loop connected under the
/// task's client id.
impl Drop for MqttSinkTask {
    fn drop(&mut self) {
        if let Some((_, cancel)) = &self.event_loop {
            cancel.cancel();
        }
    }
}

impl Drop for MqttSourceTask {
    fn drop(&mut self) {
        if let Some((_, cancel)) = &self.event_loop {
            cancel.cancel();
        }
    }
}

impl std::fmt::Debug for MqttSinkTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSinkTask").finish_non_exhaustive()
    }
}

/// The MQTT payload of a sink record's value: BYTES and STRING as they are, null empty, other
/// data as the JsonConverter with `schemas.enable=false` writes it.
fn payload_of(
    json: &JsonConverter,
    schema: Option<&Schema>,
    value: &mut Value,
) -> Result<Vec<u8>, ConnectError> {
    match value {
        Value::Bytes(bytes) => Ok(std::mem::take(bytes)),
        Value::String(text) => Ok(std::mem::take(text).into_bytes()),
        Value::Null => Ok(Vec::new()),
        other => Ok(json.serialize(schema, other)?.unwrap_or_default()),
    }
}

impl MqttSinkTask {
    fn slot(&mut self, topic: &str, partition: i32) -> usize {
        if let Some((last_topic, last_partition, slot)) = &self.last_slot {
            if last_topic == topic && *last_partition == partition {
                return *slot;
            }
        }
        let slot = lock(&self.shared.tracker).slot(topic, partition);
        self.last_slot = Some((topic.to_string(), partition, slot));
        slot
    }

    /// Hands one publish to the client, waiting for room up to [`PUBLISH_BLOCK_TIMEOUT`].
    async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        entry: Option<(usize, i64)>,
    ) -> Result<(), ConnectError> {
        let (Some(client), Some(settings)) = (self.client.as_ref(), self.settings.as_ref()) else {
            return Err(ConnectError::connect("MqttSinkTask is not started"));
        };
        let deadline = Instant::now() + PUBLISH_BLOCK_TIMEOUT;
        let (mut topic, mut payload) = (topic, payload);
        loop {
            // Under the tracker's lock: the event loop cannot see the publish go out before it
            // is queued here.
            let refused = {
                let mut tracker = lock(&self.shared.tracker);
                match client.try_publish(topic, settings.qos, settings.retain, payload) {
                    Ok(()) => {
                        if let Some((slot, offset)) = entry {
                            tracker.queue(slot, offset);
                        }
                        None
                    }
                    Err(ClientError::TryRequest(Request::Publish(back)))
                    | Err(ClientError::Request(Request::Publish(back))) => Some(back),
                    Err(_) => return Err(ConnectError::connect("MQTT client refused a publish")),
                }
            };
            let Some(back) = refused else {
                return Ok(());
            };
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(ConnectError::connect("The MQTT event loop stopped"));
            }
            if Instant::now() >= deadline {
                return Err(ConnectError::retriable(format!(
                    "The MQTT client did not accept a publish within {} ms ({} unacknowledged); redelivering the batch",
                    PUBLISH_BLOCK_TIMEOUT.as_millis(),
                    settings.max_in_flight
                )));
            }
            topic = back.topic;
            payload = Vec::from(back.payload);
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.shared.room.notified()).await;
        }
    }
}

#[async_trait]
impl SinkTask for MqttSinkTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SinkTaskContext,
    ) -> Result<(), ConnectError> {
        let settings = SinkSettings::from_config(config)?;
        self.counters = context.counters;
        self.reporter = Some(context.errant_record_reporter);
        settings.connection.show(&self.counters);
        let options = settings.connection.options(settings.max_in_flight, false);
        // A small channel: the client's in-flight window does the flow control.
        let (client, event_loop) = AsyncClient::new(options, 16);
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run_sink_loop(
            event_loop,
            self.shared.clone(),
            self.counters.clone(),
            cancel.clone(),
            settings.max_in_flight,
            settings.qos != QoS::AtMostOnce,
        ));
        self.json = Some(JsonConverter::with_config(JsonConverterConfig {
            schemas_enable: false,
            ..JsonConverterConfig::default()
        }));
        self.settings = Some(settings);
        self.client = Some(client);
        self.event_loop = Some((handle, cancel));
        Ok(())
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError> {
        let at_least_once = self
            .settings
            .as_ref()
            .is_some_and(|s| s.qos != QoS::AtMostOnce);
        for mut record in records {
            let partition = record.kafka_partition.unwrap_or(-1);
            let offset = record.kafka_offset.unwrap_or(-1);
            let slot = self.slot(&record.topic, partition);
            {
                let tracker = lock(&self.shared.tracker);
                if tracker
                    .partitions
                    .get(slot)
                    .is_some_and(|t| offset < t.next_offset)
                {
                    // Published before a retriable failure of this batch.
                    continue;
                }
            }
            let rendered = match self.settings.as_ref() {
                Some(s) => s
                    .topic
                    .render(&record.topic, Some(&record), s.missing, &mqtt_escape)
                    .and_then(|topic| {
                        if topic.is_empty() {
                            Err(ConnectError::data(format!(
                                "Pattern '{}' rendered an empty MQTT topic",
                                s.topic.text()
                            )))
                        } else if !rumqttc::valid_topic(&topic) {
                            Err(ConnectError::data(format!(
                                "Pattern '{}' rendered an MQTT topic with a wildcard",
                                s.topic.text()
                            )))
                        } else if topic.len() > usize::from(u16::MAX) || topic.contains('\0') {
                            // MQTT 3.1.1 section 1.5.3: at most 65535 bytes, no U+0000; a broker
                            // disconnects on such a topic, which would stall the sink.
                            Err(ConnectError::data(format!(
                                "Pattern '{}' rendered an MQTT topic longer than 65535 bytes or holding U+0000",
                                s.topic.text()
                            )))
                        } else {
                            Ok(topic)
                        }
                    }),
                None => Err(ConnectError::connect("MqttSinkTask is not started")),
            };
            let prepared = rendered.and_then(|topic| {
                let json = self
                    .json
                    .as_ref()
                    .ok_or_else(|| ConnectError::connect("MqttSinkTask is not started"))?;
                let payload = payload_of(json, record.value_schema.as_deref(), &mut record.value)?;
                // A PUBLISH larger than the packet limit would be refused by the client codec
                // at every reconnect: it is a record error instead (fixed header and packet id
                // need at most 7 bytes, the topic length 2).
                let max_packet = self
                    .settings
                    .as_ref()
                    .map_or(usize::MAX, |s| s.connection.max_packet);
                if topic.len() + payload.len() + 9 > max_packet {
                    return Err(ConnectError::data(format!(
                        "The MQTT message of {} bytes is larger than mqtt.max.packet.bytes={max_packet}",
                        topic.len() + payload.len() + 9
                    )));
                }
                Ok((topic, payload))
            });
            let (topic, payload) = match prepared {
                Ok(prepared) => prepared,
                Err(error) => {
                    if let Some(reporter) = &self.reporter {
                        reporter.report(&record, error).await?;
                    }
                    // Counted once it is handled: a batch redelivered after a retriable
                    // failure skips what was already handled.
                    self.counters.incr(Counter::Accepted);
                    if let Some(track) = lock(&self.shared.tracker).partitions.get_mut(slot) {
                        track.next_offset = offset + 1;
                    }
                    continue;
                }
            };
            let entry = at_least_once.then_some((slot, offset));
            self.publish(topic, payload, entry).await?;
            self.counters.incr(Counter::Accepted);
            if let Some(track) = lock(&self.shared.tracker).partitions.get_mut(slot) {
                track.next_offset = offset + 1;
            }
            if !at_least_once {
                self.counters.incr(Counter::Delivered);
            }
        }
        Ok(())
    }

    async fn pre_commit(
        &mut self,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<HashMap<TopicPartition, i64>, ConnectError> {
        let tracker = lock(&self.shared.tracker);
        Ok(offsets
            .iter()
            .map(|(partition, &next)| (partition.clone(), tracker.committable(partition, next)))
            .collect())
    }

    async fn close(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        lock(&self.shared.tracker).close(partitions);
        self.last_slot = None;
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.try_disconnect();
        }
        if let Some((mut handle, cancel)) = self.event_loop.take() {
            if tokio::time::timeout(DISCONNECT_WAIT, &mut handle)
                .await
                .is_err()
            {
                cancel.cancel();
                let _ = handle.await;
            }
        }
    }
}

/// The sink's event loop: maps packet ids to records and resolves them on PUBACK. At a
/// disconnect it takes back every publish not yet acknowledged (rumqttc would drop them when
/// the broker has no session, and could overrun its in-flight window resending them) and,
/// once connected again, sends them first, oldest first, within `max_in_flight`, before
/// anything `put` queued meanwhile.
async fn run_sink_loop(
    mut event_loop: EventLoop,
    shared: Arc<SinkShared>,
    counters: Arc<TaskCounters>,
    cancel: CancellationToken,
    max_in_flight: u16,
    tracked: bool,
) {
    let mut backoff = RECONNECT_MIN;
    let mut connected = false;
    let mut held: VecDeque<(Entry, Publish)> = VecDeque::new();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            event = event_loop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(
                    session_present = ack.session_present,
                    resent = held.len(),
                    "MQTT sink connected"
                );
                connected = true;
                backoff = RECONNECT_MIN;
                counters.set_detail("connected", serde_json::Value::Bool(true));
                if tracked {
                    // Fresh packet ids: the held publishes are sent as new ones.
                    event_loop.state = rumqttc::MqttState::new(max_in_flight, false);
                }
            }
            Ok(event) => {
                if !handle_sink_event(&event, &shared, &counters) {
                    break;
                }
            }
            Err(ConnectionError::RequestsDone) => break,
            Err(error) => {
                if tracked {
                    // Events rumqttc produced before the failure, then what it kept.
                    let buffered: Vec<Event> = event_loop.state.events.drain(..).collect();
                    for event in &buffered {
                        handle_sink_event(event, &shared, &counters);
                    }
                    let pending: Vec<Request> = event_loop.pending.drain(..).collect();
                    let stopping = pending.iter().any(|r| matches!(r, Request::Disconnect(_)));
                    let collision = event_loop.state.collision.take();
                    let (resend, sent) = lock(&shared.tracker).on_disconnect(pending, collision);
                    counters.add(Counter::Retried, sent);
                    let mut all: Vec<(Entry, Publish)> = held.drain(..).chain(resend).collect();
                    all.sort_by_key(|(entry, _)| entry.seq);
                    held.extend(all);
                    if stopping {
                        break;
                    }
                }
                if connected {
                    tracing::warn!(%error, unacknowledged = held.len(), "MQTT sink connection lost; reconnecting");
                } else {
                    tracing::debug!(%error, "MQTT sink could not connect; retrying");
                }
                connected = false;
                counters.set_detail("connected", serde_json::Value::Bool(false));
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = next_backoff(backoff);
                continue;
            }
        }
        // Held publishes go out one at a time whenever the client would take a new request,
        // so that nothing `put` queued overtakes them.
        if connected
            && event_loop.pending.is_empty()
            && event_loop.state.inflight() < max_in_flight
            && event_loop.state.collision.is_none()
        {
            if let Some((entry, publish)) = held.pop_front() {
                lock(&shared.tracker).queued.push_front(entry);
                event_loop.pending.push_back(Request::Publish(publish));
            }
        }
    }
    shared.closed.store(true, Ordering::Release);
    shared.room.notify_one();
}

/// Applies one event of the sink's connection to the tracker; false at DISCONNECT.
fn handle_sink_event(event: &Event, shared: &SinkShared, counters: &TaskCounters) -> bool {
    match event {
        Event::Outgoing(Outgoing::Publish(pkid)) => {
            if lock(&shared.tracker).on_sent(*pkid) {
                counters.incr(Counter::Retried);
            }
            shared.room.notify_one();
        }
        Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
            lock(&shared.tracker).on_collision(*pkid);
        }
        Event::Incoming(Packet::PubAck(ack)) => {
            if lock(&shared.tracker).on_acked(ack.pkid) {
                counters.incr(Counter::Delivered);
            }
            shared.room.notify_one();
        }
        Event::Outgoing(Outgoing::Disconnect) => return false,
        _ => {}
    }
    true
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::config_from;
    use crate::data::Struct;

    fn source_config(extra: &[(&str, &str)]) -> Config {
        let mut config = config_from(&[
            ("name", "mqtt-in"),
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topics", "foo/#"),
        ]);
        config.extend(config_from(extra));
        config
    }

    fn source_task(extra: &[(&str, &str)]) -> MqttSourceTask {
        let mut task = MqttSourceTask::default();
        task.prepare(SourceSettings::from_config(&source_config(extra)).unwrap());
        task
    }

    fn message(topic: &str, payload: &[u8]) -> Publish {
        let mut publish = Publish::new(topic, QoS::AtLeastOnce, payload.to_vec());
        publish.pkid = 7;
        publish
    }

    #[test]
    fn server_uris_parse() {
        assert_eq!(
            parse_server_uri("tcp://127.0.0.1:41883").unwrap(),
            ("127.0.0.1".to_string(), 41883)
        );
        assert_eq!(
            parse_server_uri("mqtt://broker.local").unwrap(),
            ("broker.local".to_string(), 1883)
        );
        assert_eq!(
            parse_server_uri("ssl://127.0.0.1:8883").unwrap_err(),
            "TLS is not supported yet"
        );
        assert!(parse_server_uri("http://x:1").is_err());
        assert!(parse_server_uri("127.0.0.1:1883").is_err());
    }

    #[test]
    fn keys_have_the_specified_defaults() {
        let parsed = source_config_def().parse(&source_config(&[])).unwrap();
        assert!(!parsed.boolean(CLEAN_SESSION));
        assert_eq!(parsed.int(QOS), Some(1));
        assert_eq!(parsed.long(KEEPALIVE_MS), Some(30_000));
        assert_eq!(parsed.string(KAFKA_TOPIC), Some("${topic}"));
        assert_eq!(parsed.string(KEY_MODE), Some("topic"));
        assert_eq!(parsed.string(VALUE_FORMAT), Some("bytes"));
        assert!(parsed.boolean(HEADERS_ENABLE));
        assert_eq!(parsed.int("poll.size"), Some(128));
        let sink = config_from(&[("mqtt.server.uri", "tcp://127.0.0.1:1883")]);
        let parsed = sink_config_def().parse(&sink).unwrap();
        assert_eq!(parsed.string(MQTT_TOPIC), Some("kafka/${topic}/${key}"));
        assert_eq!(parsed.int(QOS), Some(1));
        assert!(!parsed.boolean(RETAIN));
        assert_eq!(parsed.int(MAX_IN_FLIGHT), Some(64));
        assert_eq!(parsed.string(PAYLOAD), Some("converter"));

        let bad = |def: ConfigDef, key: &str, value: &str| {
            let mut config = source_config(&[]);
            config.insert(key.into(), value.into());
            def.parse(&config).unwrap_err()
        };
        assert!(bad(sink_config_def(), QOS, "2").contains("QoS 2 publishing is not supported"));
        assert!(bad(source_config_def(), QOS, "2").contains("QoS 2 is not supported"));
        assert!(
            bad(source_config_def(), SERVER_URI, "ssl://h:1").contains("TLS is not supported yet")
        );
        assert!(bad(source_config_def(), VALUE_FORMAT, "xml").contains("bytes, string, json"));
        assert!(bad(source_config_def(), TOPICS, "a/#/b").contains("not a valid MQTT topic filter"));
        assert!(bad(sink_config_def(), MQTT_TOPIC, "x/${nope}").contains("Unknown token"));
    }

    #[test]
    fn client_ids_default_to_the_connector_name_and_differ_per_sink_task() {
        let settings = SourceSettings::from_config(&source_config(&[])).unwrap();
        assert_eq!(settings.connection.client_id, "josefine-mqtt-in");
        assert_eq!(settings.connection.keepalive, Duration::from_secs(30));
        let sink = MqttSinkConnector {
            config: config_from(&[("name", "out"), ("mqtt.server.uri", "tcp://h:1")]),
        };
        let ids: Vec<String> = sink
            .task_configs(3)
            .iter()
            .map(|c| c[CLIENT_ID].clone())
            .collect();
        assert_eq!(ids, ["josefine-out", "josefine-out-1", "josefine-out-2"]);
    }

    #[test]
    fn messages_become_records_with_key_headers_and_a_sanitised_topic() {
        let mut task = source_task(&[]);
        let record = task.record_of(message("foo/bar", b"\x00hi")).unwrap();
        assert_eq!(record.record.topic, "foo_bar");
        assert_eq!(record.record.key, Value::String("foo/bar".into()));
        assert_eq!(record.record.value, Value::Bytes(b"\x00hi".to_vec()));
        assert_eq!(
            record.record.value_schema.as_ref().map(|s| s.schema_type),
            Some(SchemaType::Bytes)
        );
        let headers: Vec<(&str, &Value)> = record
            .record
            .headers
            .iter()
            .map(|h| (h.key.as_str(), &h.value))
            .collect();
        assert_eq!(
            headers,
            [
                ("mqtt.topic", &Value::String("foo/bar".into())),
                ("mqtt.qos", &Value::Int8(1)),
                ("mqtt.retained", &Value::Boolean(false)),
            ]
        );
        assert!(record.source_partition.is_empty() && record.source_offset.is_empty());
        // Cached destination, same answer.
        let again = task.record_of(message("foo/bar", b"x")).unwrap();
        assert_eq!(again.record.topic, "foo_bar");

        let mut task = source_task(&[
            ("kafka.topic", "diffusion_${topic}_${value.id}"),
            ("topic.sanitize", "strict"),
            ("key.mode", "none"),
            ("value.format", "string"),
            ("headers.enable", "false"),
        ]);
        let error = task.record_of(message("a/b", b"x")).unwrap_err();
        assert!(
            error.to_string().contains("no value for ${value.id}"),
            "{error}"
        );
        let mut task = source_task(&[
            ("kafka.topic", "diffusion_${topic}"),
            ("topic.sanitize", "strict"),
            ("key.mode", "none"),
            ("value.format", "string"),
            ("headers.enable", "false"),
        ]);
        let record = task.record_of(message("a.b/c", b"text")).unwrap();
        assert_eq!(record.record.topic, "diffusion_a_b_c");
        assert_eq!(record.record.key, Value::Null);
        assert_eq!(record.record.value, Value::String("text".into()));
        assert!(record.record.headers.is_empty());
        assert!(task.record_of(message("a", b"\xff")).is_err());
    }

    #[test]
    fn json_values_are_schemaless_and_invalid_json_is_a_record_error() {
        let mut task = source_task(&[("value.format", "json")]);
        let record = task
            .record_of(message("s/1", br#"{"temp":21.5,"unit":"C"}"#))
            .unwrap();
        assert_eq!(record.record.value_schema, None);
        assert_eq!(
            record.record.value.map_get("unit"),
            Some(&Value::String("C".into()))
        );
        let error = task.record_of(message("s/1", b"{not json")).unwrap_err();
        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }

    #[test]
    fn tolerated_record_errors_are_skipped_counted_and_acknowledged_in_order() {
        let mut task = source_task(&[("value.format", "json"), ("errors.tolerance", "all")]);
        let mut records = Vec::new();
        let numbered = |pkid: u16, payload: &[u8]| {
            let mut publish = message("t", payload);
            publish.pkid = pkid;
            (1, publish)
        };
        let batch = [
            numbered(1, b"{}"),
            numbered(2, b"oops"),
            numbered(3, b"[1]"),
        ];
        for incoming in batch {
            task.take(incoming, &mut records).unwrap();
        }
        assert_eq!(records.len(), 2);
        assert_eq!(task.counters.get(Counter::Accepted), 3);
        assert_eq!(task.counters.get(Counter::Failed), 1);
        // Nothing is acknowledged before the first record is committed.
        assert!(task.acks.ready.is_empty());
        task.acks.resolve_next();
        let ready: Vec<u16> = task.acks.ready.iter().map(|a| a.pkid).collect();
        assert_eq!(ready, [1, 2]);
        task.acks.resolve_next();
        let mut sent = Vec::new();
        task.acks.flush(1, |ack| {
            sent.push(ack.pkid);
            true
        });
        assert_eq!(sent, [1, 2, 3]);

        let mut strict = source_task(&[("value.format", "json")]);
        let error = strict
            .take(numbered(9, b"oops"), &mut Vec::new())
            .unwrap_err();
        assert_eq!(error.message, "Tolerance exceeded in error handler");
        assert!(strict.acks.pending.is_empty() && strict.acks.ready.is_empty());
    }

    #[test]
    fn acknowledgements_of_an_earlier_connection_are_dropped() {
        let mut acks = AckQueue::default();
        acks.push(1, QoS::AtLeastOnce, 5, false);
        acks.push(2, QoS::AtLeastOnce, 5, false);
        acks.push(2, QoS::AtMostOnce, 0, false);
        acks.resolve_next();
        acks.resolve_next();
        acks.resolve_next();
        let mut sent = Vec::new();
        acks.flush(2, |ack| {
            sent.push((ack.generation, ack.pkid));
            true
        });
        assert_eq!(sent, [(2, 5)]);
        // A full channel keeps the rest for later.
        acks.push(2, QoS::AtLeastOnce, 6, true);
        acks.push(2, QoS::AtLeastOnce, 7, true);
        acks.flush(2, |_| false);
        assert_eq!(acks.ready.len(), 2);
    }

    #[test]
    fn the_sink_commits_only_past_contiguous_acknowledgements() {
        let mut tracker = AckTracker::default();
        let a = tracker.slot("orders", 0);
        let b = tracker.slot("orders", 1);
        tracker.queue(a, 10);
        tracker.queue(a, 11);
        tracker.queue(b, 3);
        tracker.queue(a, 12);
        for pkid in 1..=4 {
            assert!(!tracker.on_sent(pkid));
        }
        let pa = TopicPartition::new("orders", 0);
        let pb = TopicPartition::new("orders", 1);
        assert_eq!(tracker.committable(&pa, 13), 10);
        assert!(tracker.on_acked(2));
        assert_eq!(tracker.committable(&pa, 13), 10);
        assert!(tracker.on_acked(1));
        assert_eq!(tracker.committable(&pa, 13), 12);
        assert_eq!(tracker.committable(&pb, 4), 3);
        assert!(tracker.on_acked(3));
        assert_eq!(tracker.committable(&pb, 4), 4);
        assert!(!tracker.on_acked(3));
        // A partition with nothing outstanding commits what the runtime offers.
        assert_eq!(tracker.committable(&TopicPartition::new("x", 0), 7), 7);
        tracker.close(std::slice::from_ref(&pa));
        assert_eq!(tracker.committable(&pa, 13), 13);
        assert!(tracker.on_acked(4));
    }

    #[test]
    fn unacknowledged_publishes_are_taken_back_oldest_first_at_a_disconnect() {
        let mut tracker = AckTracker::default();
        let slot = tracker.slot("t", 0);
        for offset in 0..4 {
            tracker.queue(slot, offset);
        }
        tracker.on_sent(1); // offset 0
        tracker.on_sent(2); // offset 1
        tracker.on_acked(1);
        tracker.on_collision(2); // offset 2 waits for packet id 2
        let publish = |pkid: u16, text: &str| {
            let mut p = Publish::new("t", QoS::AtLeastOnce, text.as_bytes().to_vec());
            p.pkid = pkid;
            p
        };
        // What rumqttc kept: offset 3 never sent (no packet id), offset 1 sent as pkid 2.
        let pending = vec![
            Request::Publish(publish(0, "three")),
            Request::Publish(publish(2, "one")),
        ];
        let (resend, sent) = tracker.on_disconnect(pending, Some(publish(2, "two")));
        assert_eq!(sent, 1);
        let order: Vec<(i64, &[u8], u16)> = resend
            .iter()
            .map(|(e, p)| (e.offset, &p.payload[..], p.pkid))
            .collect();
        assert_eq!(
            order,
            [
                (1, &b"one"[..], 0),
                (2, &b"two"[..], 0),
                (3, &b"three"[..], 0)
            ]
        );
        assert!(tracker.in_flight.is_empty() && tracker.queued.is_empty());
        assert_eq!(tracker.committable(&TopicPartition::new("t", 0), 4), 1);
        // Sent again: the held entries go in front, new packet ids map to them in order.
        for (entry, _) in resend.iter().rev() {
            tracker.queued.push_front(*entry);
        }
        for pkid in 1..=3 {
            tracker.on_sent(pkid);
        }
        for pkid in 1..=3 {
            tracker.on_acked(pkid);
        }
        assert_eq!(tracker.committable(&TopicPartition::new("t", 0), 4), 4);
    }

    #[test]
    fn sink_payloads_are_converter_bytes_or_json() {
        let json = JsonConverter::with_config(JsonConverterConfig {
            schemas_enable: false,
            ..JsonConverterConfig::default()
        });
        let mut bytes = Value::Bytes(vec![1, 2]);
        assert_eq!(payload_of(&json, None, &mut bytes).unwrap(), [1, 2]);
        let mut text = Value::String("héllo".into());
        assert_eq!(
            payload_of(&json, None, &mut text).unwrap(),
            "héllo".as_bytes()
        );
        assert!(payload_of(&json, None, &mut Value::Null)
            .unwrap()
            .is_empty());
        let mut map = Value::Map(vec![(Value::String("a".into()), Value::Int32(1))]);
        assert_eq!(payload_of(&json, None, &mut map).unwrap(), br#"{"a":1}"#);
        let schema = Arc::new(Schema::structure([(
            "id".to_string(),
            Arc::new(Schema::new(SchemaType::Int64)),
        )]));
        let mut s = Struct::new(schema.clone());
        s.put("id", Value::Int64(5)).unwrap();
        let mut value = Value::Struct(s);
        assert_eq!(
            payload_of(&json, Some(&schema), &mut value).unwrap(),
            br#"{"id":5}"#
        );
    }
}
