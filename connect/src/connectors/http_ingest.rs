//! HttpIngestSource (CONNECT.md g.1): analytics events POSTed over HTTP into Kafka topics,
//! routed RudderStack-style by event type and name and keyed by user.
//!
//! One task owns an HTTP listener (`http.listener`, port 0 allowed; the bound address is the
//! task status detail `listener`). A request to `http.path` carries one event object, an array
//! of events, or `{"batch":[...]}`. Each event becomes one record:
//!
//! - **topic**: the text at `topic.override.path` (default `integrations.Kafka.topic`); else,
//!   with `topic.mapping.enabled`, `topic.mapping.type.<type>` for `identify`, `page`, `screen`,
//!   `group` and `alias` events or `topic.mapping.event.<name>` for `track` events; else
//!   `topic`. A resolved name that is not a legal Kafka topic name fails the request (400).
//! - **key**: the first non-empty string (or number, as text) at one of `key.paths` (default
//!   `userId,anonymousId`) as an optional STRING (use `key.converter=StringConverter` for the
//!   key's UTF-8 bytes; JsonConverter would quote it); none → a null key. The producer's
//!   Java-compatible murmur2 partitioner places it (`kafka_partition` is left unset); a null
//!   key goes to a sticky partition.
//! - **value**: BYTES, the event's bytes exactly as posted (`value.format=json`), or the event
//!   encoded with Avro (`value.format=avro`) by the schema `avro.schema.<id>` that the text at
//!   `avro.schema.id.path` selects (the only schema when the event names none), as a bare datum
//!   (`avro.wire.format=raw`) or in Confluent's wire format (`confluent`: byte 0, the 4-byte
//!   big-endian schema id, the datum). With
//!   `value.converter=org.apache.kafka.connect.converters.ByteArrayConverter` these bytes
//!   reach Kafka unchanged; StringConverter would write them as base64 text and JsonConverter
//!   as a base64 JSON string (inside its schema envelope when `schemas.enable=true`).
//! - **headers**: each request header named in `headers.from.http`, as a STRING header of the
//!   same name.
//!
//! Responses: 200 `{"accepted":N}` only once Kafka acknowledged every event of the request
//! (or a transform dropped it, or `errors.tolerance=all` skipped a conversion failure; an
//! event Kafka did not accept makes the answer 503 also under tolerance `all`); 400
//! `{"error":..,"index":i}` for malformed JSON (`index` = the event at fault; null when the
//! body itself does not parse, including a syntax error inside `{"batch":[...]}`), a
//! non-object event, a bad topic or an Avro failure — nothing of that request is produced; 401 (`WWW-Authenticate`), 404, 405, 413
//! (`max.request.bytes`), 415 (not `application/json`), 429 + `Retry-After: 1` (more than
//! `max.in.flight.requests` requests), 503 + `Retry-After` when Kafka did not acknowledge
//! every event within `produce.timeout.ms` or the task is stopping. The guarantee is
//! at-least-once per request: after a 503 some events may be in Kafka and a retry duplicates
//! them. A conversion or transform failure the handler cannot see in advance fails the task
//! under `errors.tolerance=none` (Kafka semantics); the request then gets 503.
//!
//! Offsets: none (HTTP cannot replay). Records carry empty source partitions, which the runtime
//! never stores, so `GET /connectors/{c}/offsets` answers `{"offsets":[]}`.
//!
//! Counters: `accepted` (events taken from requests) and `delivered` (acknowledged by Kafka);
//! the runtime counts `dlq`/`failed`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;

use super::bridge::{poll_keys, poll_settings};
use crate::config_def::{ConfigDef, ConfigKey, ConfigType, Default, Importance};
use crate::connector::{
    Config, Connector, ConnectorType, RecordMetadata, SourceTask, SourceTaskContext,
};
use crate::data::{
    ConnectError, ConnectRecord, Headers, JsonMap, Schema, SchemaType, SourceRecord, Value,
};
use crate::plugins::{Factory, PluginDesc, PluginType};
use crate::status::{Counter, TaskCounters};

/// The connector class.
pub const CLASS: &str = "io.josefine.connect.http.HttpIngestSourceConnector";

/// `http.listener`: bind address (`host:port`, port 0 allowed).
pub const LISTENER: &str = "http.listener";
/// `http.path`: the path events are POSTed to.
pub const PATH: &str = "http.path";
/// `http.auth`: `none`, `basic` or `bearer`.
pub const AUTH: &str = "http.auth";
/// `http.auth.username` (basic; RudderStack sends its write key here).
pub const AUTH_USERNAME: &str = "http.auth.username";
/// `http.auth.password` (basic).
pub const AUTH_PASSWORD: &str = "http.auth.password";
/// `http.auth.token` (bearer).
pub const AUTH_TOKEN: &str = "http.auth.token";
/// `topic`: the default topic.
pub const TOPIC: &str = "topic";
/// `topic.mapping.enabled`: route by event type and name.
pub const MAPPING_ENABLED: &str = "topic.mapping.enabled";
/// Prefix of the per-type topics (`topic.mapping.type.identify`, ...).
pub const MAPPING_TYPE_PREFIX: &str = "topic.mapping.type.";
/// Prefix of the per-event-name topics of `track` events.
pub const MAPPING_EVENT_PREFIX: &str = "topic.mapping.event.";
/// `topic.override.path`: dotted path of a per-event topic override.
pub const OVERRIDE_PATH: &str = "topic.override.path";
/// `key.paths`: dotted paths tried in order for the key.
pub const KEY_PATHS: &str = "key.paths";
/// `value.format`: `json` or `avro`.
pub const VALUE_FORMAT: &str = "value.format";
/// Prefix of the Avro schemas by id (`avro.schema.<id>`).
pub const AVRO_SCHEMA_PREFIX: &str = "avro.schema.";
/// `avro.schema.id.path`: dotted path of the event's schema id.
pub const AVRO_SCHEMA_ID_PATH: &str = "avro.schema.id.path";
/// `avro.wire.format`: `raw` or `confluent`.
pub const AVRO_WIRE_FORMAT: &str = "avro.wire.format";
/// `headers.from.http`: request headers copied into record headers.
pub const HEADERS_FROM_HTTP: &str = "headers.from.http";
/// `max.request.bytes`: the largest body accepted, in bytes.
pub const MAX_REQUEST_BYTES: &str = "max.request.bytes";
/// `max.in.flight.requests`: requests handled at once; more get 429.
pub const MAX_IN_FLIGHT: &str = "max.in.flight.requests";
/// `produce.timeout.ms`: how long a request waits for Kafka's acknowledgements, in ms.
pub const PRODUCE_TIMEOUT_MS: &str = "produce.timeout.ms";

const TYPES: [&str; 5] = ["identify", "page", "screen", "group", "alias"];

/// The connector of this module.
pub fn plugins() -> Vec<PluginDesc> {
    vec![PluginDesc {
        class: CLASS,
        plugin_type: PluginType::Source,
        config_def,
        factory: Factory::Connector(|| Box::new(HttpIngestSourceConnector::default())),
    }]
}

fn key(
    name: &str,
    config_type: ConfigType,
    default: Default,
    importance: Importance,
    doc: &str,
) -> ConfigKey {
    ConfigKey::new(name, config_type, default, importance, doc)
}

fn value(text: &str) -> Default {
    Default::Value(text.to_string())
}

/// HttpIngestSource's keys (CONNECT.md g.1 table) plus `poll.size`/`poll.interval.ms` (g.0).
/// The prefixed keys `topic.mapping.type.<type>`, `topic.mapping.event.<name>` and
/// `avro.schema.<id>` are read from the original configuration.
pub fn config_def() -> ConfigDef {
    use ConfigType as T;
    use Importance::{High, Low, Medium};
    let mut def = ConfigDef::new()
        .define(key(LISTENER, T::String, value("127.0.0.1:8090"), High, "Bind address of the HTTP listener (host:port; port 0 picks a free port, shown as 'listener' in the task status)."))
        .define(key(PATH, T::String, value("/v1/events"), Medium, "Path accepting POSTed events: one event object, an array, or {\"batch\":[...]}."))
        .define(key(AUTH, T::String, value("none"), High, "Authentication: none, basic (http.auth.username/http.auth.password) or bearer (http.auth.token)."))
        .define(key(AUTH_USERNAME, T::String, Default::Null, Medium, "Basic authentication user name (RudderStack sends its write key here)."))
        .define(key(AUTH_PASSWORD, T::Password, Default::Null, Medium, "Basic authentication password (may be empty)."))
        .define(key(AUTH_TOKEN, T::Password, Default::Null, Medium, "Bearer token."))
        .define(key(TOPIC, T::String, Default::Required, High, "The default topic."))
        .define(key(MAPPING_ENABLED, T::Boolean, value("false"), Medium, "Route events by type (topic.mapping.type.<type>) and track events by name (topic.mapping.event.<name>)."))
        .define(key(OVERRIDE_PATH, T::String, value("integrations.Kafka.topic"), Low, "Dotted path of a per-event topic override, read first."))
        .define(key(KEY_PATHS, T::List, value("userId,anonymousId"), Medium, "Dotted paths tried in order; the first non-empty one is the STRING key, none gives a null key."))
        .define(key(VALUE_FORMAT, T::String, value("json"), Medium, "json (the event's bytes as posted) or avro (encoded by avro.schema.<id>)."))
        .define(key(AVRO_SCHEMA_ID_PATH, T::String, value("integrations.Kafka.schemaId"), Low, "Dotted path of the event's Avro schema id."))
        .define(key(AVRO_WIRE_FORMAT, T::String, value("raw"), Low, "raw (the bare Avro datum) or confluent (byte 0, 4-byte big-endian schema id, datum)."))
        .define(key(HEADERS_FROM_HTTP, T::List, value(""), Low, "Request headers copied into Kafka record headers."))
        .define(key(MAX_REQUEST_BYTES, T::Int, value("4194304"), Medium, "Largest request body accepted, in bytes; larger gets 413."))
        .define(key(MAX_IN_FLIGHT, T::Int, value("1024"), Medium, "Requests handled at once; more get 429 with Retry-After: 1."))
        .define(key(PRODUCE_TIMEOUT_MS, T::Long, value("30000"), Medium, "How long a request waits for Kafka to acknowledge all its events, in ms; then 503."));
    for poll in poll_keys() {
        def = def.define(poll);
    }
    def
}

/// How requests authenticate.
#[derive(Clone, PartialEq, Eq)]
enum Auth {
    None,
    /// The expected `Authorization` value, `Basic <base64(user:password)>` decoded.
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic { .. } => "Basic",
            Auth::Bearer(_) => "Bearer",
        })
    }
}

/// An Avro schema with its id.
#[derive(Debug)]
struct AvroSchema {
    id: Option<u32>,
    schema: apache_avro::Schema,
}

#[derive(Debug)]
enum Format {
    Json,
    Avro {
        schemas: HashMap<String, AvroSchema>,
        id_path: Vec<String>,
        confluent: bool,
    },
}

/// A parsed configuration, shared by the task and its HTTP handler.
#[derive(Debug)]
struct Settings {
    listener: String,
    path: String,
    auth: Auth,
    topic: String,
    mapping_enabled: bool,
    type_topics: HashMap<String, String>,
    event_topics: HashMap<String, String>,
    override_path: Vec<String>,
    key_paths: Vec<Vec<String>>,
    format: Format,
    headers: Vec<String>,
    max_request_bytes: usize,
    max_in_flight: usize,
    produce_timeout: Duration,
    poll_size: usize,
    poll_interval: Duration,
}

fn dotted(path: &str) -> Vec<String> {
    path.split('.')
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

fn invalid(key: &str, value: &str, reason: &str) -> (String, String) {
    (
        key.to_string(),
        format!("Invalid value {value} for configuration {key}: {reason}"),
    )
}

impl Settings {
    /// Parses `config`; errors are `(key, message)`.
    fn parse(config: &Config) -> Result<Settings, (String, String)> {
        let parsed = config_def()
            .parse(config)
            .map_err(|message| (String::new(), message))?;
        let text = |name: &str| parsed.string(name).unwrap_or_default().to_string();
        let listener = text(LISTENER);
        if listener.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                LISTENER,
                &listener,
                "must be host:port with an IP address",
            ));
        }
        let path = text(PATH);
        if !path.starts_with('/') {
            return Err(invalid(PATH, &path, "must start with '/'"));
        }
        let auth = match text(AUTH).to_ascii_lowercase().as_str() {
            "none" => Auth::None,
            "basic" => {
                let username = text(AUTH_USERNAME);
                if username.is_empty() {
                    return Err((
                        AUTH_USERNAME.to_string(),
                        "http.auth=basic needs http.auth.username".to_string(),
                    ));
                }
                Auth::Basic {
                    username,
                    password: text(AUTH_PASSWORD),
                }
            }
            "bearer" => {
                let token = text(AUTH_TOKEN);
                if token.is_empty() {
                    return Err((
                        AUTH_TOKEN.to_string(),
                        "http.auth=bearer needs http.auth.token".to_string(),
                    ));
                }
                Auth::Bearer(token)
            }
            other => return Err(invalid(AUTH, other, "must be none, basic or bearer")),
        };
        let topic = text(TOPIC);
        if !legal_topic(&topic) {
            return Err(invalid(TOPIC, &topic, "not a legal Kafka topic name"));
        }
        let mut type_topics = HashMap::new();
        for (name, target) in parsed.originals_with_prefix(MAPPING_TYPE_PREFIX) {
            let name = name.to_ascii_lowercase();
            if !TYPES.contains(&name.as_str()) {
                return Err(invalid(
                    &format!("{MAPPING_TYPE_PREFIX}{name}"),
                    &target,
                    "the event type must be identify, page, screen, group or alias",
                ));
            }
            if !legal_topic(target.trim()) {
                return Err(invalid(
                    &format!("{MAPPING_TYPE_PREFIX}{name}"),
                    &target,
                    "not a legal Kafka topic name",
                ));
            }
            type_topics.insert(name, target.trim().to_string());
        }
        let mut event_topics = HashMap::new();
        for (name, target) in parsed.originals_with_prefix(MAPPING_EVENT_PREFIX) {
            if !legal_topic(target.trim()) {
                return Err(invalid(
                    &format!("{MAPPING_EVENT_PREFIX}{name}"),
                    &target,
                    "not a legal Kafka topic name",
                ));
            }
            event_topics.insert(name, target.trim().to_string());
        }
        let format = match text(VALUE_FORMAT).to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "avro" => {
                let confluent = match text(AVRO_WIRE_FORMAT).to_ascii_lowercase().as_str() {
                    "raw" => false,
                    "confluent" => true,
                    other => {
                        return Err(invalid(AVRO_WIRE_FORMAT, other, "must be raw or confluent"))
                    }
                };
                let mut schemas = HashMap::new();
                for (id, json) in parsed.originals_with_prefix(AVRO_SCHEMA_PREFIX) {
                    if id == "id.path" {
                        continue;
                    }
                    let name = format!("{AVRO_SCHEMA_PREFIX}{id}");
                    let schema = apache_avro::Schema::parse_str(&json).map_err(|error| {
                        (
                            name.clone(),
                            format!("Invalid Avro schema in {name}: {error}"),
                        )
                    })?;
                    let numeric = id.parse::<u32>().ok();
                    if confluent && numeric.is_none() {
                        return Err((
                            name,
                            "avro.wire.format=confluent needs numeric schema ids".to_string(),
                        ));
                    }
                    schemas.insert(
                        id,
                        AvroSchema {
                            id: numeric,
                            schema,
                        },
                    );
                }
                if schemas.is_empty() {
                    return Err((
                        VALUE_FORMAT.to_string(),
                        "value.format=avro needs at least one avro.schema.<id>".to_string(),
                    ));
                }
                Format::Avro {
                    schemas,
                    id_path: dotted(&text(AVRO_SCHEMA_ID_PATH)),
                    confluent,
                }
            }
            other => return Err(invalid(VALUE_FORMAT, other, "must be json or avro")),
        };
        let positive = |name: &str| -> Result<usize, (String, String)> {
            let value = parsed.int(name).unwrap_or(0);
            usize::try_from(value)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| invalid(name, &value.to_string(), "must be at least 1"))
        };
        let timeout = parsed.long(PRODUCE_TIMEOUT_MS).unwrap_or(30_000);
        if timeout <= 0 {
            return Err(invalid(
                PRODUCE_TIMEOUT_MS,
                &timeout.to_string(),
                "must be at least 1",
            ));
        }
        let (poll_size, poll_interval) =
            poll_settings(config).map_err(|error| ("poll.size".to_string(), error.message))?;
        Ok(Settings {
            listener,
            path,
            auth,
            topic,
            mapping_enabled: parsed.boolean(MAPPING_ENABLED),
            type_topics,
            event_topics,
            override_path: dotted(&text(OVERRIDE_PATH)),
            key_paths: parsed.list(KEY_PATHS).iter().map(|p| dotted(p)).collect(),
            format,
            headers: parsed.list(HEADERS_FROM_HTTP).to_vec(),
            max_request_bytes: positive(MAX_REQUEST_BYTES)?,
            max_in_flight: positive(MAX_IN_FLIGHT)?,
            produce_timeout: Duration::from_millis(timeout as u64),
            poll_size,
            poll_interval,
        })
    }
}

/// True for a legal Kafka topic name: 1 to 249 characters of `[A-Za-z0-9._-]`, not `.`/`..`.
pub fn legal_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= super::bridge::MAX_TOPIC_LENGTH
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Receives HTTP events: one task owning the listener.
#[derive(Debug, Default)]
pub struct HttpIngestSourceConnector {
    config: Config,
}

#[async_trait]
impl Connector for HttpIngestSourceConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Source
    }

    fn config_def(&self) -> ConfigDef {
        config_def()
    }

    fn validate(&self, config: &Config) -> Vec<(String, String)> {
        match Settings::parse(config) {
            // Type errors are reported per key by the ConfigDef already.
            Err((key, message)) if !key.is_empty() => vec![(key, message)],
            _ => Vec::new(),
        }
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        Settings::parse(config).map_err(|(_, message)| ConnectError::config(message))?;
        self.config = config.clone();
        Ok(())
    }

    /// One listener: always one task.
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone()]
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(HttpIngestSourceTask::default()))
    }
}

/// Completion of one request: how many of its events are unresolved, and the handler waiting.
#[derive(Debug)]
struct Tracker {
    remaining: AtomicUsize,
    /// Events Kafka did not accept that `errors.tolerance=all` skipped: the request gets 503.
    lost: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
    /// The request's place among `max.in.flight.requests`, held until every event is resolved
    /// (also after a 503 answered the client): events waiting for the broker count.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Tracker {
    fn resolve(&self, n: usize) {
        if self.remaining.fetch_sub(n, Ordering::AcqRel) == n {
            let sender = self
                .done
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(sender) = sender {
                // The handler may have timed out already.
                let _ = sender.send(());
            }
        }
    }
}

/// One accepted request on its way to the task.
#[derive(Debug)]
struct Batch {
    records: std::vec::IntoIter<SourceRecord>,
    tracker: Arc<Tracker>,
}

/// What the HTTP handler shares with the task.
struct Handler {
    settings: Arc<Settings>,
    in_flight: Arc<Semaphore>,
    queue: mpsc::UnboundedSender<Batch>,
    counters: Arc<TaskCounters>,
    retry_after: String,
}

/// The task of [`HttpIngestSourceConnector`]: serves the listener and hands the events of
/// each request to the runtime; answers the request once every event is acknowledged.
#[derive(Default)]
pub struct HttpIngestSourceTask {
    settings: Option<Arc<Settings>>,
    counters: Option<Arc<TaskCounters>>,
    queue: Option<mpsc::UnboundedReceiver<Batch>>,
    /// The request being handed over, when it had more events than one poll takes.
    current: Option<Batch>,
    /// Requests of the records polled and not yet committed, with their record counts, in
    /// poll order (`commit_record` comes in that order).
    unresolved: VecDeque<(Arc<Tracker>, usize)>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for HttpIngestSourceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpIngestSourceTask")
            .field("unresolved", &self.unresolved.len())
            .finish_non_exhaustive()
    }
}

impl HttpIngestSourceTask {
    /// Moves up to `out`'s remaining room of records from the current request into `out`.
    fn take_current(&mut self, out: &mut Vec<SourceRecord>, room: usize) {
        let Some(batch) = self.current.as_mut() else {
            return;
        };
        let before = out.len();
        out.extend(batch.records.by_ref().take(room.saturating_sub(before)));
        let taken = out.len() - before;
        if taken > 0 {
            match self.unresolved.back_mut() {
                Some((tracker, count)) if Arc::ptr_eq(tracker, &batch.tracker) => *count += taken,
                _ => self.unresolved.push_back((batch.tracker.clone(), taken)),
            }
        }
        if batch.records.as_slice().is_empty() {
            self.current = None;
        }
    }

    /// Fills `out` up to `room` records from the current request and the queue, without
    /// waiting.
    fn drain(&mut self, out: &mut Vec<SourceRecord>, room: usize) {
        loop {
            self.take_current(out, room);
            if out.len() >= room {
                return;
            }
            let Some(queue) = self.queue.as_mut() else {
                return;
            };
            match queue.try_recv() {
                Ok(batch) => self.current = Some(batch),
                Err(_) => return,
            }
        }
    }
}

#[async_trait]
impl SourceTask for HttpIngestSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SourceTaskContext,
    ) -> Result<(), ConnectError> {
        let settings = Arc::new(Settings::parse(config).map_err(|(_, m)| ConnectError::config(m))?);
        let listener = tokio::net::TcpListener::bind(&settings.listener)
            .await
            .map_err(|e| {
                ConnectError::connect(format!(
                    "HttpIngestSource could not listen on {}: {e}",
                    settings.listener
                ))
            })?;
        let bound = listener
            .local_addr()
            .map_err(|e| ConnectError::connect(format!("HttpIngestSource listener: {e}")))?;
        context
            .counters
            .set_detail("listener", Json::String(bound.to_string()));
        let (tx, rx) = mpsc::unbounded_channel();
        let retry_after = settings.produce_timeout.as_secs().max(1).to_string();
        let handler = Arc::new(Handler {
            settings: settings.clone(),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            queue: tx,
            counters: context.counters.clone(),
            retry_after,
        });
        let router = axum::Router::new()
            .route(&settings.path, axum::routing::post(ingest))
            .with_state(handler);
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone().cancelled_owned();
        self.server = Some(tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(%error, "HttpIngestSource listener failed");
            }
        }));
        tracing::info!(listener = %bound, path = %settings.path, "HttpIngestSource listening");
        self.shutdown = shutdown;
        self.settings = Some(settings);
        self.counters = Some(context.counters);
        self.queue = Some(rx);
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        let Some(settings) = self.settings.clone() else {
            return Ok(Vec::new());
        };
        let room = settings.poll_size;
        let mut out = Vec::new();
        self.drain(&mut out, room);
        if !out.is_empty() {
            return Ok(out);
        }
        let Some(queue) = self.queue.as_mut() else {
            return Ok(Vec::new());
        };
        let wait = settings.poll_interval.min(Duration::from_secs(1));
        if let Ok(Some(batch)) = tokio::time::timeout(wait, queue.recv()).await {
            self.current = Some(batch);
            self.drain(&mut out, room);
        }
        Ok(out)
    }

    async fn record_not_produced(&mut self, _record: &SourceRecord, _error: &ConnectError) {
        if let Some((tracker, _)) = self.unresolved.front() {
            tracker.lost.fetch_add(1, Ordering::AcqRel);
        }
    }

    async fn commit_record(&mut self, _record: &SourceRecord, metadata: Option<&RecordMetadata>) {
        if metadata.is_some() {
            if let Some(counters) = &self.counters {
                counters.incr(Counter::Delivered);
            }
        }
        let Some((tracker, count)) = self.unresolved.front_mut() else {
            return;
        };
        tracker.resolve(1);
        *count -= 1;
        if *count == 0 {
            self.unresolved.pop_front();
        }
    }

    async fn stop(&mut self) {
        self.shutdown.cancel();
        // Waiting handlers see their trackers dropped and answer 503.
        self.queue = None;
        self.current = None;
        self.unresolved.clear();
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

fn json_response(status: StatusCode, body: Json) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, serde_json::json!({ "error": message }))
}

/// A 400 naming the event (`index`, null when the body as a whole is broken).
fn bad_event(index: Option<usize>, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": message, "index": index }),
    )
}

fn with_retry_after(mut response: Response, seconds: &str) -> Response {
    if let Ok(value) = header::HeaderValue::from_str(seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn authorized(auth: &Auth, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::trim);
    let scheme = |text: &str, name: &str| -> Option<String> {
        let (given_scheme, rest) = text.split_once(' ')?;
        given_scheme
            .eq_ignore_ascii_case(name)
            .then(|| rest.trim().to_string())
    };
    match auth {
        Auth::None => true,
        Auth::Basic { username, password } => {
            let Some(encoded) = given.and_then(|text| scheme(text, "Basic")) else {
                return false;
            };
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
                return false;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return false;
            };
            let (user, pass) = decoded.split_once(':').unwrap_or((&decoded, ""));
            user == username && pass == password
        }
        Auth::Bearer(token) => {
            given.and_then(|text| scheme(text, "Bearer")).as_deref() == Some(token.as_str())
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.split(';').next().unwrap_or_default().trim())
        .is_some_and(|media| {
            media.eq_ignore_ascii_case("application/json")
                || media.to_ascii_lowercase().ends_with("+json")
        })
}

/// Reads at most `limit` bytes of `body`; Err(true) when it is longer, Err(false) when it
/// breaks off.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, bool> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| false)?;
        if out.len() + chunk.len() > limit {
            return Err(true);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The POST handler.
async fn ingest(State(handler): State<Arc<Handler>>, headers: HeaderMap, body: Body) -> Response {
    let settings = &handler.settings;
    if !authorized(&settings.auth, &headers) {
        let challenge = match settings.auth {
            Auth::Bearer(_) => "Bearer realm=\"josefine\"",
            _ => "Basic realm=\"josefine\"",
        };
        let mut response = error_response(StatusCode::UNAUTHORIZED, "Unauthorized");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(challenge),
        );
        return response;
    }
    if !is_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "Request body larger than {} bytes",
                settings.max_request_bytes
            ),
        )
    };
    if declared.is_some_and(|length| length > settings.max_request_bytes as u64) {
        return too_large();
    }
    let Ok(permit) = handler.in_flight.clone().try_acquire_owned() else {
        return with_retry_after(
            error_response(StatusCode::TOO_MANY_REQUESTS, "Too many requests in flight"),
            "1",
        );
    };
    let body = match read_body(body, settings.max_request_bytes).await {
        Ok(body) => body,
        Err(true) => return too_large(),
        Err(false) => return bad_event(None, "Could not read the request body"),
    };
    let request_headers = request_headers(settings, &headers);
    let records = match to_records(settings, &body, &request_headers) {
        Ok(records) => records,
        Err((index, message)) => return bad_event(index, &message),
    };
    let count = records.len();
    if count == 0 {
        return json_response(StatusCode::OK, serde_json::json!({ "accepted": 0 }));
    }
    let (done_tx, done_rx) = oneshot::channel();
    let tracker = Arc::new(Tracker {
        remaining: AtomicUsize::new(count),
        lost: AtomicUsize::new(0),
        done: Mutex::new(Some(done_tx)),
        _permit: permit,
    });
    let batch = Batch {
        records: records.into_iter(),
        tracker: tracker.clone(),
    };
    if handler.queue.send(batch).is_err() {
        return with_retry_after(
            error_response(StatusCode::SERVICE_UNAVAILABLE, "The connector is stopping"),
            &handler.retry_after,
        );
    }
    handler.counters.add(Counter::Accepted, count as u64);
    match tokio::time::timeout(settings.produce_timeout, done_rx).await {
        Ok(Ok(())) if tracker.lost.load(Ordering::Acquire) > 0 => with_retry_after(
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Kafka did not accept every event",
            ),
            &handler.retry_after,
        ),
        Ok(Ok(())) => json_response(StatusCode::OK, serde_json::json!({ "accepted": count })),
        Ok(Err(_)) => with_retry_after(
            error_response(StatusCode::SERVICE_UNAVAILABLE, "The connector is stopping"),
            &handler.retry_after,
        ),
        Err(_) => with_retry_after(
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "Kafka did not acknowledge every event in time",
            ),
            &handler.retry_after,
        ),
    }
}

/// The record headers copied from the request (`headers.from.http`).
fn request_headers(settings: &Settings, headers: &HeaderMap) -> Headers {
    let mut out = Headers::default();
    for name in &settings.headers {
        for value in headers.get_all(name.as_str()) {
            if let Ok(text) = value.to_str() {
                out.add(
                    name.clone(),
                    Some(string_schema()),
                    Value::String(text.to_string()),
                );
            }
        }
    }
    out
}

fn string_schema() -> Arc<Schema> {
    static SCHEMA: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(SchemaType::String).optional()))
        .clone()
}

fn bytes_schema() -> Arc<Schema> {
    static SCHEMA: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(SchemaType::Bytes).optional()))
        .clone()
}

/// Deserialises a JSON array of raw values, counting the elements read so that a syntax error
/// names the event it is in.
struct CountedSeq<'c>(&'c std::cell::Cell<usize>);

impl<'de> DeserializeSeed<'de> for CountedSeq<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CountedSeq<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(16));
        while let Some(event) = seq.next_element::<&'de RawValue>()? {
            out.push(event);
            self.0.set(out.len());
        }
        Ok(out)
    }
}

/// The events of a JSON array, each as its exact text; a syntax error names the event it is in.
fn split_array(text: &str) -> Result<Vec<&RawValue>, (Option<usize>, String)> {
    let read = std::cell::Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    CountedSeq(&read)
        .deserialize(&mut deserializer)
        .and_then(|events| deserializer.end().map(|()| events))
        .map_err(|error| (Some(read.get()), format!("Malformed JSON: {error}")))
}

/// The events of a body: one object, an array, or `{"batch":[...]}`, each as its exact text.
/// Errors name the event (`index`) when one is at fault.
fn split_events(body: &[u8]) -> Result<Vec<&RawValue>, (Option<usize>, String)> {
    let text = std::str::from_utf8(body)
        .map_err(|_| (None, "The request body is not UTF-8".to_string()))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return split_array(text);
    }
    let whole: &RawValue =
        serde_json::from_str(text).map_err(|error| (None, format!("Malformed JSON: {error}")))?;
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        batch: Option<&'a RawValue>,
    }
    if whole.get().starts_with('{') {
        if let Ok(Envelope { batch: Some(batch) }) =
            serde_json::from_str::<Envelope<'_>>(whole.get())
        {
            if batch.get().starts_with('[') {
                return split_array(batch.get());
            }
        }
    }
    Ok(vec![whole])
}

/// The value at a dotted `path` of `event`.
fn at<'a>(event: &'a Json, path: &[String]) -> Option<&'a Json> {
    if path.is_empty() {
        return None;
    }
    path.iter()
        .try_fold(event, |current, name| current.as_object()?.get(name))
}

/// A non-empty string (or a number, as text) at `path`.
fn text_at(event: &Json, path: &[String]) -> Option<String> {
    match at(event, path)? {
        Json::String(text) if !text.is_empty() => Some(text.clone()),
        Json::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The topic of `event` (CONNECT.md g.1 resolution order).
fn topic_of<'a>(settings: &'a Settings, event: &'a Json) -> std::borrow::Cow<'a, str> {
    if let Some(Json::String(topic)) = at(event, &settings.override_path) {
        if !topic.is_empty() {
            return std::borrow::Cow::Borrowed(topic.as_str());
        }
    }
    if settings.mapping_enabled {
        let kind = event.get("type").and_then(Json::as_str).unwrap_or_default();
        let mapped = if kind.eq_ignore_ascii_case("track") {
            event
                .get("event")
                .and_then(Json::as_str)
                .and_then(|name| settings.event_topics.get(name))
        } else {
            settings.type_topics.get(&kind.to_ascii_lowercase())
        };
        if let Some(topic) = mapped {
            return std::borrow::Cow::Borrowed(topic.as_str());
        }
    }
    std::borrow::Cow::Borrowed(settings.topic.as_str())
}

/// The value bytes of one event.
fn value_bytes(settings: &Settings, raw: &RawValue, event: Json) -> Result<Vec<u8>, String> {
    let Format::Avro {
        schemas,
        id_path,
        confluent,
    } = &settings.format
    else {
        return Ok(raw.get().as_bytes().to_vec());
    };
    let chosen = match text_at(&event, id_path) {
        Some(id) => schemas
            .get(&id)
            .ok_or_else(|| format!("No Avro schema with id {id}"))?,
        None => match schemas.values().next() {
            Some(only) if schemas.len() == 1 => only,
            _ => return Err(format!("No Avro schema id at {}", id_path.join("."))),
        },
    };
    let value = apache_avro::types::Value::try_from(event)
        .and_then(|value| value.resolve(&chosen.schema))
        .map_err(|error| format!("Event does not match its Avro schema: {error}"))?;
    let mut out = Vec::with_capacity(raw.get().len());
    if *confluent {
        out.push(0);
        out.extend_from_slice(&chosen.id.unwrap_or_default().to_be_bytes());
    }
    apache_avro::writer::datum::GenericDatumWriter::builder(&chosen.schema)
        .build()
        .and_then(|writer| writer.write_value_ref(&mut out, &value))
        .map_err(|error| format!("Avro encoding failed: {error}"))?;
    Ok(out)
}

/// The records of a request body, or the index and reason of the first event at fault.
fn to_records(
    settings: &Settings,
    body: &[u8],
    headers: &Headers,
) -> Result<Vec<SourceRecord>, (Option<usize>, String)> {
    let events = split_events(body)?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut records = Vec::with_capacity(events.len());
    for (index, raw) in events.into_iter().enumerate() {
        let fail = |message: String| (Some(index), message);
        let event: Json = serde_json::from_str(raw.get())
            .map_err(|error| fail(format!("Malformed JSON: {error}")))?;
        if !event.is_object() {
            return Err(fail("An event must be a JSON object".to_string()));
        }
        let topic = topic_of(settings, &event).into_owned();
        if !legal_topic(&topic) {
            return Err(fail(format!("'{topic}' is not a legal Kafka topic name")));
        }
        let key = settings
            .key_paths
            .iter()
            .find_map(|path| text_at(&event, path));
        let value = value_bytes(settings, raw, event).map_err(fail)?;
        records.push(SourceRecord {
            record: ConnectRecord {
                topic,
                kafka_partition: None,
                key_schema: Some(string_schema()),
                key: key.map_or(Value::Null, Value::String),
                value_schema: Some(bytes_schema()),
                value: Value::Bytes(value),
                timestamp: Some(now),
                headers: headers.clone(),
                ..ConnectRecord::default()
            },
            source_partition: JsonMap::new(),
            source_offset: JsonMap::new(),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::config_from;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut config = config_from(&[("topic", "events")]);
        config.extend(config_from(pairs));
        Settings::parse(&config).unwrap()
    }

    fn topics_and_keys(settings: &Settings, body: &str) -> Vec<(String, Option<String>, Vec<u8>)> {
        to_records(settings, body.as_bytes(), &Headers::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                let key = r.record.key.as_str().map(str::to_string);
                let Value::Bytes(value) = r.record.value else {
                    panic!("bytes expected")
                };
                (r.record.topic, key, value)
            })
            .collect()
    }

    #[test]
    fn events_route_by_override_type_and_name() {
        let settings = settings(&[
            ("topic.mapping.enabled", "true"),
            ("topic.mapping.type.identify", "users"),
            ("topic.mapping.event.Order Completed", "orders"),
        ]);
        let body = r#"{"batch":[
            {"type":"track","event":"Order Completed","userId":"u1"},
            {"type":"identify","userId":"","anonymousId":"a1"},
            {"type":"page","anonymousId":"a2", "integrations":{"Kafka":{"topic":"special"}}},
            {"type":"track","event":"Other","userId":7},
            {"type":"screen"}
        ], "sentAt": "x"}"#;
        let records = topics_and_keys(&settings, body);
        let got: Vec<(&str, Option<&str>)> = records
            .iter()
            .map(|(t, k, _)| (t.as_str(), k.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("orders", Some("u1")),
                ("users", Some("a1")),
                ("special", Some("a2")),
                ("events", Some("7")),
                ("events", None),
            ]
        );
        // Values are the posted bytes, untouched.
        assert_eq!(
            records[0].2,
            br#"{"type":"track","event":"Order Completed","userId":"u1"}"#
        );
        // Mapping off: every event goes to the default topic (overrides still apply).
        let plain = self::settings(&[]);
        let records = topics_and_keys(&plain, body);
        assert_eq!(records[0].0, "events");
        assert_eq!(records[2].0, "special");
    }

    #[test]
    fn bodies_are_one_event_an_array_or_a_batch() {
        let settings = settings(&[]);
        let single = " {\"userId\" : \"u\", \"batch\": 3} ";
        let records = topics_and_keys(&settings, single);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].2, b"{\"userId\" : \"u\", \"batch\": 3}");
        assert_eq!(topics_and_keys(&settings, "[{}, {\"a\":[1]}]").len(), 2);
        assert_eq!(topics_and_keys(&settings, "[]").len(), 0);
    }

    #[test]
    fn bad_events_name_their_index() {
        let settings = settings(&[]);
        let error =
            |body: &str| to_records(&settings, body.as_bytes(), &Headers::default()).unwrap_err();
        assert_eq!(error("[{}, 3]").0, Some(1));
        assert_eq!(error("[{}, {}, {\"a\": ]").0, Some(2));
        // Inside {"batch":[...]} a syntax error is a body error; other errors name the event.
        assert_eq!(error("{\"batch\":[{}, {\"x\"}]}").0, None);
        assert_eq!(error("{\"batch\":[{}, 5]}").0, Some(1));
        assert_eq!(error("{not json").0, None);
        assert_eq!(
            error("[{\"integrations\":{\"Kafka\":{\"topic\":\"a b\"}}}]").1,
            "'a b' is not a legal Kafka topic name"
        );
    }

    #[test]
    fn avro_values_in_raw_and_confluent_form() {
        let schema = r#"{"type":"record","name":"E","fields":[
            {"name":"type","type":"string"},
            {"name":"userId","type":["null","string"],"default":null},
            {"name":"n","type":"long","default":0}]}"#;
        for (wire, prefix) in [("raw", vec![]), ("confluent", vec![0u8, 0, 0, 0, 42])] {
            let settings = settings(&[
                ("value.format", "avro"),
                ("avro.wire.format", wire),
                ("avro.schema.42", schema),
            ]);
            let records = topics_and_keys(
                &settings,
                r#"{"type":"track","userId":"u","n":3,"extra":true}"#,
            );
            let value = &records[0].2;
            assert_eq!(&value[..prefix.len()], prefix.as_slice());
            let parsed = apache_avro::Schema::parse_str(schema).unwrap();
            let decoded = apache_avro::reader::datum::GenericDatumReader::builder(&parsed)
                .build()
                .unwrap()
                .read_value(&mut &value[prefix.len()..])
                .unwrap();
            let apache_avro::types::Value::Record(fields) = decoded else {
                panic!("record expected")
            };
            assert_eq!(
                fields[0].1,
                apache_avro::types::Value::String("track".into())
            );
            assert_eq!(fields[2].1, apache_avro::types::Value::Long(3));
        }
        let settings = settings(&[("value.format", "avro"), ("avro.schema.1", schema)]);
        let error = to_records(&settings, br#"[{"type":5}]"#, &Headers::default()).unwrap_err();
        assert_eq!(error.0, Some(0));
        let missing = to_records(
            &settings,
            br#"{"type":"t","integrations":{"Kafka":{"schemaId":"9"}}}"#,
            &Headers::default(),
        )
        .unwrap_err();
        assert_eq!(missing.1, "No Avro schema with id 9");
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let parse = |pairs: &[(&str, &str)]| {
            let mut config = config_from(&[("topic", "events")]);
            config.extend(config_from(pairs));
            Settings::parse(&config).map(|_| ()).unwrap_err().0
        };
        assert_eq!(parse(&[("http.auth", "basic")]), AUTH_USERNAME);
        assert_eq!(parse(&[("http.auth", "bearer")]), AUTH_TOKEN);
        assert_eq!(
            parse(&[("topic.mapping.type.track", "x")]),
            "topic.mapping.type.track"
        );
        assert_eq!(parse(&[("value.format", "avro")]), VALUE_FORMAT);
        assert_eq!(
            parse(&[
                ("value.format", "avro"),
                ("avro.wire.format", "confluent"),
                ("avro.schema.a", "\"string\"")
            ]),
            "avro.schema.a"
        );
        assert_eq!(parse(&[("http.path", "x")]), PATH);
        assert_eq!(parse(&[("max.in.flight.requests", "0")]), MAX_IN_FLIGHT);
    }

    #[test]
    fn authorization_and_content_type() {
        let mut headers = HeaderMap::new();
        let basic = Auth::Basic {
            username: "writekey".into(),
            password: String::new(),
        };
        assert!(!authorized(&basic, &headers));
        let encoded = base64::engine::general_purpose::STANDARD.encode("writekey:");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        assert!(authorized(&basic, &headers));
        assert!(!authorized(&Auth::Bearer("t".into()), &headers));
        headers.insert(header::AUTHORIZATION, "bearer t".parse().unwrap());
        assert!(authorized(&Auth::Bearer("t".into()), &headers));
        assert!(!is_json(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&headers));
    }

    #[tokio::test]
    async fn requests_resolve_when_every_record_is_committed() {
        let config = config_from(&[
            ("topic", "events"),
            ("http.listener", "127.0.0.1:0"),
            ("poll.size", "2"),
        ]);
        let mut task = HttpIngestSourceTask::default();
        struct NoOffsets;
        impl crate::connector::OffsetReader for NoOffsets {
            fn offset(&self, _: &crate::data::JsonMap) -> Option<crate::data::JsonMap> {
                None
            }
        }
        let counters = Arc::new(TaskCounters::default());
        task.start(
            &config,
            SourceTaskContext {
                offsets: Arc::new(NoOffsets),
                counters: counters.clone(),
            },
        )
        .await
        .unwrap();
        let settings = task.settings.clone().unwrap();
        let records = to_records(&settings, b"[{},{},{}]", &Headers::default()).unwrap();
        let in_flight = Arc::new(tokio::sync::Semaphore::new(2));
        let (tx, mut rx) = oneshot::channel();
        let tracker = Arc::new(Tracker {
            remaining: AtomicUsize::new(3),
            lost: AtomicUsize::new(0),
            done: Mutex::new(Some(tx)),
            _permit: in_flight.clone().try_acquire_owned().unwrap(),
        });
        let (tx2, mut rx2) = oneshot::channel();
        let second = Arc::new(Tracker {
            remaining: AtomicUsize::new(1),
            lost: AtomicUsize::new(0),
            done: Mutex::new(Some(tx2)),
            _permit: in_flight.clone().try_acquire_owned().unwrap(),
        });
        task.current = Some(Batch {
            records: records.into_iter(),
            tracker,
        });
        let first_poll = task.poll().await.unwrap();
        assert_eq!(first_poll.len(), 2);
        let mut rest = task.poll().await.unwrap();
        assert_eq!(rest.len(), 1);
        task.current = Some(Batch {
            records: to_records(&settings, b"{}", &Headers::default())
                .unwrap()
                .into_iter(),
            tracker: second.clone(),
        });
        rest.extend(task.poll().await.unwrap());
        let metadata = RecordMetadata {
            topic: "events".into(),
            partition: 0,
            offset: 0,
        };
        for record in first_poll.iter().chain(&rest[..1]) {
            assert!(rx.try_recv().is_err());
            task.commit_record(record, Some(&metadata)).await;
        }
        assert!(rx.try_recv().is_ok());
        assert!(rx2.try_recv().is_err());
        // Kafka refused the last event and tolerance `all` skipped it: resolved, but lost
        // (the handler answers 503, not 200).
        let refused = ConnectError::connect("Failed to produce record");
        task.record_not_produced(&rest[1], &refused).await;
        task.commit_record(&rest[1], None).await;
        assert!(rx2.try_recv().is_ok());
        assert_eq!(second.lost.load(Ordering::Acquire), 1);
        assert_eq!(counters.get(Counter::Delivered), 3);
        assert!(counters.details()["listener"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
        task.stop().await;
    }
}
