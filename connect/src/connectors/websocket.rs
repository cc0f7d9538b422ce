//! WebSocketSink and WebSocketSource (CONNECT.md g.4): Kafka records fanned out to WebSocket
//! clients chosen by topic selectors, and frames of an external WebSocket server read into
//! Kafka.
//!
//! **WebSocketSink** (`io.josefine.connect.websocket.WebSocketSinkConnector`, alias
//! `WebSocketSink`) serves `ws://<ws.listener><ws.path>` (one task: one listener; the bound
//! address is the task status detail `listener`, the number of connected clients the detail
//! `clients`). Each client has a topic selector, a full-match regular expression given as the
//! query parameter `ws.selector.param` (`/ws?selector=orders.*`) or, at any time, as a text
//! frame `{"subscribe":"<regex>"}` (replacing the previous one; an invalid expression is
//! answered with a text frame `{"error":"..."}`); a client without a selector receives nothing
//! until its `{"subscribe":...}` frame arrives (`?selector=.*` selects every topic). `put` never waits
//! for a client: each record is encoded once and offered to every matching client's bounded
//! queue (`ws.client.queue.max` frames). On a full queue `ws.overflow=disconnect` evicts the
//! client (its queued frames are discarded and it is closed with 1008, policy violation, once
//! its socket accepts the close frame, or dropped after 5 s) and `drop-oldest` discards the
//! oldest queued frame. Delivery is at-most-once per client; Kafka offsets are committed
//! whether or not any client got a record.
//!
//! Frames (`ws.frame`): `envelope` = a text frame
//! `{"topic":..,"partition":..,"offset":..,"timestamp":<ms or null>,"key":..,"value":..,
//! "headers":[{"key":..,"value":..}]}`; `value` = a binary frame holding the value only.
//! Record keys, values and header values (the Connect data `value.converter` & co. produced)
//! are written as: STRING verbatim; BYTES as UTF-8 text when valid, otherwise base64 (the
//! envelope then says `"key_encoding":"base64"` / `"value_encoding":"base64"`; in a `value`
//! frame BYTES are sent raw); MAP/STRUCT as JSON objects (a MAP with non-string keys as an
//! array of `[key, value]` pairs), ARRAY as arrays, numbers and booleans as JSON, DECIMAL as a
//! number, Date/Time/Timestamp as epoch ms, null as `null` (an empty `value` frame). That is
//! what JsonConverter (schemas off), StringConverter or ByteArrayConverter would have written.
//!
//! Counters (task status): `accepted` = records `put` took, `delivered` = frames handed to
//! client sockets (summed over clients), `failed` = frames dropped for a client (the oldest
//! under `drop-oldest`; under `disconnect` the frame that overflowed plus those still queued).
//!
//! **WebSocketSource** (`io.josefine.connect.websocket.WebSocketSourceConnector`, alias
//! `WebSocketSource`) connects to `ws.url` with the `ws.headers` (comma list of
//! `Name: value`) on the handshake, sends each line of `ws.subscription.messages` (one text
//! frame per non-empty line, so JSON subscriptions may contain commas) after every
//! (re)connect, and turns each received frame into a record for `topic`, or for the pattern
//! `kafka.topic` (g.0; `${topic}` = the URL path without its leading `/`, the result passed
//! through `topic.sanitize`). Text frames: the value is a STRING (`value.format=string`), the
//! frame's JSON as schemaless data (`json`; invalid JSON is skipped and counted `failed`) or
//! BYTES (`bytes`); binary frames are always BYTES. `key.field` names a top-level field of a
//! JSON text frame used as the STRING key (strings verbatim, other JSON as its text; absent →
//! null key). A closed or failed connection is retried after `ws.reconnect.backoff.ms`,
//! doubling up to `ws.reconnect.backoff.max.ms`, reset by a successful connect. The source
//! pings the server every `ws.ping.interval.ms` (10000; 0 = never) and opens the connection
//! again when nothing (no frame, no pong) arrived for two intervals. Frames pass
//! through a channel of `poll.size` frames: when the runtime is behind, the socket is not
//! read (backpressure). At-most-once: frames read but not yet produced are lost on a crash;
//! there are no source offsets. Counters: `accepted` = frames turned into records,
//! `delivered` = records the broker acknowledged, `failed` = frames skipped as unusable.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::config_def::{
    ConfigDef, ConfigKey, ConfigType, ConfigValue, Default as KeyDefault, Importance,
};
use crate::connector::{
    Config, Connector, ConnectorType, RecordMetadata, SinkTask, SinkTaskContext, SourceTask,
    SourceTaskContext,
};
use crate::connectors::bridge::{self, Missing, Pattern, Sanitize};
use crate::converters::json::{DecimalFormat, JsonConverter, JsonConverterConfig};
use crate::data::{ConnectError, ConnectRecord, JsonMap, Schema, SchemaType, SourceRecord, Value};
use crate::plugins::{Factory, PluginDesc, PluginType};
use crate::status::{Counter, TaskCounters};

/// How long WebSocketSource waits for a connection and its handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The sink connector's class.
pub const SINK_CLASS: &str = "io.josefine.connect.websocket.WebSocketSinkConnector";
/// The source connector's class.
pub const SOURCE_CLASS: &str = "io.josefine.connect.websocket.WebSocketSourceConnector";

/// Close code sent to a client evicted for overflowing its queue (RFC 6455 policy violation).
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
/// Close code sent to clients when the sink task stops (RFC 6455 going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// How long an evicted or stopping client's socket may take to accept its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// WebSocketSink and WebSocketSource.
pub fn plugins() -> Vec<PluginDesc> {
    vec![
        PluginDesc {
            class: SINK_CLASS,
            plugin_type: PluginType::Sink,
            config_def: sink_config_def,
            factory: Factory::Connector(|| Box::new(WebSocketSinkConnector::default())),
        },
        PluginDesc {
            class: SOURCE_CLASS,
            plugin_type: PluginType::Source,
            config_def: source_config_def,
            factory: Factory::Connector(|| Box::new(WebSocketSourceConnector::default())),
        },
    ]
}

fn one_of(
    allowed: &'static [&'static str],
) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync + 'static {
    move |value| match value {
        ConfigValue::String(text)
            if allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(text.as_str())) =>
        {
            Ok(())
        }
        _ => Err(format!("must be one of {}", allowed.join(", "))),
    }
}

fn at_least(min: i64) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync + 'static {
    move |value| match value {
        ConfigValue::Int(n) if i64::from(*n) >= min => Ok(()),
        ConfigValue::Long(n) if *n >= min => Ok(()),
        _ => Err(format!("Value must be at least {min}")),
    }
}

fn key(name: &str, config_type: ConfigType, default: KeyDefault, doc: &str) -> ConfigKey {
    ConfigKey::new(name, config_type, default, Importance::Medium, doc)
}

/// WebSocketSink's keys (CONNECT.md g.4): `ws.listener` (`127.0.0.1:8091`), `ws.path`
/// (`/ws`), `ws.selector.param` (`selector`), `ws.start` (`latest`), `ws.frame`
/// (`envelope`), `ws.client.queue.max` (1000 frames), `ws.overflow` (`disconnect`),
/// `ws.ping.interval.ms` (10000 ms; 0 = no pings).
pub fn sink_config_def() -> ConfigDef {
    ConfigDef::new()
        .define(key(
            "ws.listener",
            ConfigType::String,
            KeyDefault::Value("127.0.0.1:8091".into()),
            "host:port the WebSocket server binds (port 0 = any; the bound address is the task status detail 'listener').",
        ))
        .define(
            key(
                "ws.path",
                ConfigType::String,
                KeyDefault::Value("/ws".into()),
                "The path clients connect to.",
            )
            .validate_with(|value| match value {
                ConfigValue::String(path) if path.starts_with('/') => Ok(()),
                _ => Err("must start with '/'".into()),
            }),
        )
        .define(key(
            "ws.selector.param",
            ConfigType::String,
            KeyDefault::Value("selector".into()),
            "Query parameter holding a client's topic selector (a full-match regex); a text frame {\"subscribe\":\"<regex>\"} sets it too. Without one a client receives nothing until it subscribes; '.*' selects every topic.",
        ))
        .define(
            key(
                "ws.start",
                ConfigType::String,
                KeyDefault::Value("latest".into()),
                "Where a new client starts: 'latest' (records put after it connected). 'earliest' (replay) is not supported.",
            )
            .validate_with(one_of(&["latest"])),
        )
        .define(
            key(
                "ws.frame",
                ConfigType::String,
                KeyDefault::Value("envelope".into()),
                "'envelope' (text JSON {topic,partition,offset,timestamp,key,value,headers}) or 'value' (binary frame of the value).",
            )
            .validate_with(one_of(&["envelope", "value"])),
        )
        .define(
            key(
                "ws.client.queue.max",
                ConfigType::Int,
                KeyDefault::Value("1000".into()),
                "Frames queued per client before ws.overflow applies.",
            )
            .validate_with(at_least(1)),
        )
        .define(
            key(
                "ws.overflow",
                ConfigType::String,
                KeyDefault::Value("disconnect".into()),
                "On a full client queue: 'disconnect' (close 1008) or 'drop-oldest'.",
            )
            .validate_with(one_of(&["disconnect", "drop-oldest"])),
        )
        .define(
            key(
                "ws.ping.interval.ms",
                ConfigType::Long,
                KeyDefault::Value("10000".into()),
                "Interval of pings to each client, in ms; 0 = none.",
            )
            .validate_with(at_least(0)),
        )
}

/// WebSocketSource's keys (CONNECT.md g.4): `ws.url` (required), `ws.subscription.messages`
/// (newline-separated text frames), `ws.headers` (comma list of `Name: value`, PASSWORD),
/// `ws.reconnect.backoff.ms` / `.max.ms` (500 / 30000 ms), `ws.ping.interval.ms` (10000 ms; a
/// connection silent for two intervals is opened again), `topic` or `kafka.topic`,
/// `key.field`, `value.format` (`string`), plus `poll.size`, `poll.interval.ms`,
/// `topic.sanitize` and `pattern.missing` (g.0).
pub fn source_config_def() -> ConfigDef {
    let mut def = ConfigDef::new()
        .define(
            key(
                "ws.url",
                ConfigType::String,
                KeyDefault::Required,
                "The WebSocket server to read, ws://host:port/path.",
            )
            .validate_with(|value| match value {
                ConfigValue::String(text) => match url::Url::parse(text) {
                    Ok(url) if url.scheme() == "ws" => Ok(()),
                    Ok(url) => Err(format!("scheme '{}' is not supported (ws only)", url.scheme())),
                    Err(error) => Err(error.to_string()),
                },
                _ => Err("must be a ws:// URL".into()),
            }),
        )
        .define(key(
            "ws.subscription.messages",
            ConfigType::String,
            KeyDefault::Value(String::new()),
            "Text frames sent after every (re)connect, one per line (newline-separated, so a JSON message may contain commas).",
        ))
        .define(key(
            "ws.headers",
            ConfigType::Password,
            KeyDefault::Value(String::new()),
            "Handshake headers: a comma list of 'Name: value'.",
        ))
        .define(
            key(
                "ws.reconnect.backoff.ms",
                ConfigType::Long,
                KeyDefault::Value("500".into()),
                "Wait before reconnecting, in ms; doubles per failed attempt.",
            )
            .validate_with(at_least(0)),
        )
        .define(
            key(
                "ws.reconnect.backoff.max.ms",
                ConfigType::Long,
                KeyDefault::Value("30000".into()),
                "Longest wait before reconnecting, in ms.",
            )
            .validate_with(at_least(0)),
        )
        .define(
            key(
                "ws.ping.interval.ms",
                ConfigType::Long,
                KeyDefault::Value("10000".into()),
                "Interval of pings to the server, in ms; a connection that shows no frame (a pong included) for two intervals is taken as dead and opened again. 0 = no pings and no deadline.",
            )
            .validate_with(at_least(0)),
        )
        .define(key(
            "topic",
            ConfigType::String,
            KeyDefault::Null,
            "The topic records go to (required unless kafka.topic is set).",
        ))
        .define(
            key(
                "kafka.topic",
                ConfigType::String,
                KeyDefault::Null,
                "Destination pattern (g.0); ${topic} = the URL path without its leading '/'. Takes precedence over 'topic'.",
            )
            .validate_with(|value| match value {
                ConfigValue::String(text) => Pattern::parse(text).map(|_| ()),
                _ => Ok(()),
            }),
        )
        .define(key(
            "key.field",
            ConfigType::String,
            KeyDefault::Null,
            "Top-level field of a JSON text frame used as the record key.",
        ))
        .define(
            key(
                "value.format",
                ConfigType::String,
                KeyDefault::Value("string".into()),
                "Text frames as 'string', 'json' (schemaless data) or 'bytes'; binary frames are always bytes.",
            )
            .validate_with(one_of(&["string", "json", "bytes"])),
        )
        .define(bridge::topic_sanitize_key())
        .define(bridge::pattern_missing_key());
    for poll_key in bridge::poll_keys() {
        def = def.define(poll_key);
    }
    def
}

fn parse_config(
    def: &ConfigDef,
    config: &Config,
) -> Result<crate::config_def::ParsedConfig, ConnectError> {
    def.parse(config).map_err(ConnectError::config)
}

fn millis(value: Option<i64>) -> Duration {
    Duration::from_millis(value.unwrap_or(0).max(0) as u64)
}

// ---------------------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------------------

/// What a `ws.frame` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// A text frame with the record's JSON envelope.
    Envelope,
    /// A binary frame with the value only.
    Value,
}

/// What a full client queue does (`ws.overflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Evict the client: close 1008.
    Disconnect,
    /// Drop the oldest queued frame.
    DropOldest,
}

#[derive(Debug, Clone)]
struct SinkSettings {
    listener: String,
    path: String,
    selector_param: String,
    frame: FrameFormat,
    queue_max: usize,
    overflow: Overflow,
    ping_interval: Option<Duration>,
}

fn sink_settings(config: &Config) -> Result<SinkSettings, ConnectError> {
    let parsed = parse_config(&sink_config_def(), config)?;
    let text = |name: &str| parsed.string(name).unwrap_or_default().to_string();
    let ping = millis(parsed.long("ws.ping.interval.ms"));
    Ok(SinkSettings {
        listener: text("ws.listener"),
        path: text("ws.path"),
        selector_param: text("ws.selector.param"),
        frame: if text("ws.frame").eq_ignore_ascii_case("value") {
            FrameFormat::Value
        } else {
            FrameFormat::Envelope
        },
        queue_max: parsed.int("ws.client.queue.max").unwrap_or(1000).max(1) as usize,
        overflow: if text("ws.overflow").eq_ignore_ascii_case("drop-oldest") {
            Overflow::DropOldest
        } else {
            Overflow::Disconnect
        },
        ping_interval: (!ping.is_zero()).then_some(ping),
    })
}

/// Fans Kafka records out to WebSocket clients (CONNECT.md g.4).
#[derive(Debug, Default)]
pub struct WebSocketSinkConnector {
    config: Config,
}

#[async_trait]
impl Connector for WebSocketSinkConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Sink
    }

    fn config_def(&self) -> ConfigDef {
        sink_config_def()
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        sink_settings(config)?;
        self.config = config.clone();
        Ok(())
    }

    /// One listener: always one task, whatever `tasks.max` says.
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone()]
    }

    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some(Box::new(WebSocketSinkTask::default()))
    }
}

/// A compiled topic selector with the answers it gave per topic.
#[derive(Debug, Default)]
struct Selector {
    regex: Option<regex::Regex>,
    answers: HashMap<String, bool>,
}

impl Selector {
    fn matches(&mut self, topic: &str) -> bool {
        // No selector yet: the client has not chosen any topic (CONNECT.md g.4).
        let Some(regex) = &self.regex else {
            return false;
        };
        if let Some(&answer) = self.answers.get(topic) {
            return answer;
        }
        let answer = regex.is_match(topic);
        self.answers.insert(topic.to_string(), answer);
        answer
    }
}

/// A selector as a full-match regular expression.
fn compile_selector(text: &str) -> Result<regex::Regex, String> {
    // Checked alone first, so that a text such as `a)|(b` cannot escape the anchoring group.
    regex::Regex::new(text).map_err(|error| format!("invalid selector: {error}"))?;
    regex::Regex::new(&format!("^(?:{text})$"))
        .map_err(|error| format!("invalid selector: {error}"))
}

#[derive(Debug, Default)]
struct ClientQueue {
    frames: VecDeque<Message>,
    evicted: bool,
}

/// One connected client: its selector and bounded queue.
#[derive(Debug)]
struct Client {
    id: u64,
    selector: Mutex<Selector>,
    queue: Mutex<ClientQueue>,
    /// Woken when a frame is queued or the client is evicted (a stored permit, never lost).
    wake: tokio::sync::Notify,
    /// Woken when the client is evicted, for a send stuck on a client that does not read.
    evicted: tokio::sync::Notify,
}

impl Client {
    fn wants(&self, topic: &str) -> bool {
        lock(&self.selector).matches(topic)
    }

    /// Queues `frame` without waiting; applies the overflow policy when full.
    fn offer(&self, frame: Message, settings: &SinkSettings, counters: &TaskCounters) {
        let mut queue = lock(&self.queue);
        if queue.evicted {
            return;
        }
        if queue.frames.len() >= settings.queue_max {
            match settings.overflow {
                Overflow::DropOldest => {
                    queue.frames.pop_front();
                    counters.incr(Counter::Failed);
                }
                Overflow::Disconnect => {
                    counters.add(Counter::Failed, queue.frames.len() as u64 + 1);
                    queue.frames.clear();
                    queue.evicted = true;
                    drop(queue);
                    self.evicted.notify_one();
                    self.wake.notify_one();
                    return;
                }
            }
        }
        queue.frames.push_back(frame);
        drop(queue);
        self.wake.notify_one();
    }

    /// Resolves `CLOSE_GRACE` after the client was evicted.
    async fn evicted_for_a_while(&self) {
        loop {
            if lock(&self.queue).evicted {
                tokio::time::sleep(CLOSE_GRACE).await;
                return;
            }
            self.evicted.notified().await;
        }
    }
}

/// The connected clients of one sink task and what they share.
#[derive(Debug)]
struct Hub {
    settings: SinkSettings,
    clients: Mutex<Vec<Arc<Client>>>,
    next_id: AtomicU64,
    counters: Arc<TaskCounters>,
    shutdown: CancellationToken,
}

impl Hub {
    fn register(&self, regex: Option<regex::Regex>) -> Arc<Client> {
        let client = Arc::new(Client {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            selector: Mutex::new(Selector {
                regex,
                answers: HashMap::new(),
            }),
            queue: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            evicted: tokio::sync::Notify::new(),
        });
        let mut clients = lock(&self.clients);
        clients.push(client.clone());
        self.counters
            .set_detail("clients", Json::from(clients.len()));
        client
    }

    fn unregister(&self, id: u64) {
        let mut clients = lock(&self.clients);
        clients.retain(|client| client.id != id);
        self.counters
            .set_detail("clients", Json::from(clients.len()));
    }

    /// Offers every record to every client whose selector matches its topic; a record is
    /// encoded once, and only if some client wants it.
    fn publish(&self, records: &[ConnectRecord]) {
        self.counters.add(Counter::Accepted, records.len() as u64);
        let clients = lock(&self.clients).clone();
        if clients.is_empty() {
            return;
        }
        for record in records {
            let mut frame: Option<Message> = None;
            for client in &clients {
                if !client.wants(&record.topic) {
                    continue;
                }
                let frame = frame
                    .get_or_insert_with(|| encode_frame(record, self.settings.frame))
                    .clone();
                client.offer(frame, &self.settings, &self.counters);
            }
        }
    }
}

/// How a client's connection ended.
enum End {
    /// The client went away or its socket failed.
    Gone,
    /// Evicted for overflowing its queue.
    Evicted,
    /// The task is stopping.
    Shutdown,
}

/// Runs `send` unless the client is evicted and the send is stuck for `CLOSE_GRACE`, or the
/// task stops.
async fn guarded_send(
    hub: &Hub,
    client: &Client,
    send: impl std::future::Future<Output = Result<(), axum::Error>>,
) -> Result<(), End> {
    tokio::select! {
        sent = send => sent.map_err(|_| End::Gone),
        _ = client.evicted_for_a_while() => Err(End::Gone),
        _ = hub.shutdown.cancelled() => Err(End::Shutdown),
    }
}

async fn handle_text(
    hub: &Hub,
    socket: &mut WebSocket,
    client: &Client,
    text: &str,
) -> Result<(), End> {
    let Ok(Json::Object(request)) = serde_json::from_str::<Json>(text) else {
        return Ok(());
    };
    let Some(selector) = request.get("subscribe").and_then(Json::as_str) else {
        return Ok(());
    };
    match compile_selector(selector) {
        Ok(regex) => {
            *lock(&client.selector) = Selector {
                regex: Some(regex),
                answers: HashMap::new(),
            };
            Ok(())
        }
        Err(error) => {
            let answer = serde_json::json!({ "error": error }).to_string();
            // Guarded: a client that stopped reading must not pin this task past eviction or
            // the task's stop.
            guarded_send(hub, client, socket.send(Message::Text(answer.into()))).await
        }
    }
}

/// Serves one client until it leaves, is evicted or the task stops.
async fn serve_client(hub: Arc<Hub>, mut socket: WebSocket, regex: Option<regex::Regex>) {
    let client = hub.register(regex);
    let mut ping = hub.settings.ping_interval.map(|period| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let end = 'serve: loop {
        // Hand every queued frame to the socket, then flush once.
        let mut fed = false;
        loop {
            let next = {
                let mut queue = lock(&client.queue);
                if queue.evicted {
                    break 'serve End::Evicted;
                }
                queue.frames.pop_front()
            };
            let Some(frame) = next else { break };
            if let Err(end) = guarded_send(&hub, &client, socket.feed(frame)).await {
                break 'serve end;
            }
            hub.counters.incr(Counter::Delivered);
            fed = true;
        }
        if fed {
            if let Err(end) = guarded_send(&hub, &client, socket.flush()).await {
                break 'serve end;
            }
            continue;
        }
        tokio::select! {
            _ = hub.shutdown.cancelled() => break End::Shutdown,
            _ = client.wake.notified() => {}
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Err(end) = handle_text(&hub, &mut socket, &client, text.as_str()).await {
                        break end;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the echo of the client's close: send it (RFC 6455).
                    let _ = tokio::time::timeout(CLOSE_GRACE, socket.flush()).await;
                    break End::Gone;
                }
                Some(Err(_)) | None => break End::Gone,
                Some(Ok(_)) => {}
            },
            _ = async {
                match ping.as_mut() {
                    Some(interval) => {
                        interval.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            } => {
                if let Err(end) = guarded_send(&hub, &client, socket.send(Message::Ping(Bytes::new()))).await {
                    break end;
                }
            }
        }
    };
    let close = match end {
        End::Gone => None,
        End::Evicted => Some((CLOSE_POLICY_VIOLATION, "client queue overflow")),
        End::Shutdown => Some((CLOSE_GOING_AWAY, "connector stopping")),
    };
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        // The closing handshake: send ours, then read until the client's close arrives, so
        // the client reads every frame sent before ours.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            if socket.send(frame).await.is_ok() {
                while let Some(Ok(message)) = socket.recv().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            }
        })
        .await;
    }
    hub.unregister(client.id);
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Query(params): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let regex = match params.get(&hub.settings.selector_param) {
        Some(text) => match compile_selector(text) {
            Ok(regex) => Some(regex),
            Err(error) => return (axum::http::StatusCode::BAD_REQUEST, error).into_response(),
        },
        None => None,
    };
    ws.on_upgrade(move |socket| serve_client(hub, socket, regex))
}

/// The task of [`WebSocketSinkConnector`]: the WebSocket server and its clients.
#[derive(Debug, Default)]
pub struct WebSocketSinkTask {
    hub: Option<Arc<Hub>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[async_trait]
impl SinkTask for WebSocketSinkTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SinkTaskContext,
    ) -> Result<(), ConnectError> {
        let settings = sink_settings(config)?;
        let listener = tokio::net::TcpListener::bind(&settings.listener)
            .await
            .map_err(|error| {
                ConnectError::connect(format!(
                    "Couldn't bind ws.listener {}: {error}",
                    settings.listener
                ))
            })?;
        let address = listener
            .local_addr()
            .map_err(|error| ConnectError::connect(format!("ws.listener: {error}")))?;
        context
            .counters
            .set_detail("listener", Json::from(address.to_string()));
        context.counters.set_detail("clients", Json::from(0));
        let shutdown = CancellationToken::new();
        let hub = Arc::new(Hub {
            settings: settings.clone(),
            clients: Mutex::default(),
            next_id: AtomicU64::new(0),
            counters: context.counters.clone(),
            shutdown: shutdown.clone(),
        });
        let router = axum::Router::new()
            .route(&settings.path, axum::routing::get(upgrade))
            .with_state(hub.clone());
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "WebSocketSink server failed");
            }
        });
        tracing::info!(listener = %address, path = %settings.path, "WebSocketSink serving");
        self.hub = Some(hub);
        self.server = Some(server);
        Ok(())
    }

    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError> {
        if let Some(hub) = &self.hub {
            hub.publish(&records);
        }
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown.cancel();
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(CLOSE_GRACE, &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

impl Drop for WebSocketSinkTask {
    fn drop(&mut self) {
        if let Some(hub) = &self.hub {
            hub.shutdown.cancel();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// A record key, value or header value as JSON (see the module docs); the flag is true when
/// BYTES had to be written as base64.
fn top_level_json(value: &Value) -> (Json, bool) {
    match value {
        Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Json::String(text.to_string()), false),
            Err(_) => (Json::String(base64_text(bytes)), true),
        },
        other => (value_json(other), false),
    }
}

fn base64_text(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Connect data as schemaless JSON: what JsonConverter with `schemas.enable=false` writes
/// (BYTES nested in a structure as base64, DECIMAL as a number, dates as epoch ms).
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Int8(v) => Json::from(*v),
        Value::Int16(v) => Json::from(*v),
        Value::Int32(v) => Json::from(*v),
        Value::Int64(v) => Json::from(*v),
        Value::Float32(v) => {
            serde_json::Number::from_f64(f64::from(*v)).map_or(Json::Null, Json::Number)
        }
        Value::Float64(v) => serde_json::Number::from_f64(*v).map_or(Json::Null, Json::Number),
        Value::Boolean(v) => Json::Bool(*v),
        Value::String(v) => Json::String(v.clone()),
        Value::Bytes(v) => Json::String(base64_text(v)),
        Value::Array(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Map(pairs) => {
            if pairs.iter().all(|(key, _)| matches!(key, Value::String(_))) {
                Json::Object(
                    pairs
                        .iter()
                        .map(|(key, value)| {
                            (
                                key.as_str().unwrap_or_default().to_string(),
                                value_json(value),
                            )
                        })
                        .collect(),
                )
            } else {
                Json::Array(
                    pairs
                        .iter()
                        .map(|(key, value)| Json::Array(vec![value_json(key), value_json(value)]))
                        .collect(),
                )
            }
        }
        Value::Struct(s) => Json::Object(
            s.schema
                .fields
                .iter()
                .zip(&s.values)
                .map(|(field, value)| (field.name.clone(), value_json(value)))
                .collect(),
        ),
        Value::Decimal { unscaled, scale } => {
            let text = crate::render::decimal_text(unscaled, *scale);
            text.parse::<serde_json::Number>()
                .map_or(Json::String(text), Json::Number)
        }
        Value::Timestamp(ms) => Json::from(*ms),
    }
}

/// The `ws.frame=envelope` JSON of a record (see the module docs).
pub fn envelope_json(record: &ConnectRecord) -> Json {
    let mut map = JsonMap::new();
    map.insert("topic".into(), Json::String(record.topic.clone()));
    map.insert(
        "partition".into(),
        record.kafka_partition.map_or(Json::Null, Json::from),
    );
    map.insert(
        "offset".into(),
        record.kafka_offset.map_or(Json::Null, Json::from),
    );
    map.insert(
        "timestamp".into(),
        record.timestamp.map_or(Json::Null, Json::from),
    );
    let (key, key_base64) = top_level_json(&record.key);
    map.insert("key".into(), key);
    if key_base64 {
        map.insert("key_encoding".into(), Json::String("base64".into()));
    }
    let (value, value_base64) = top_level_json(&record.value);
    map.insert("value".into(), value);
    if value_base64 {
        map.insert("value_encoding".into(), Json::String("base64".into()));
    }
    let headers = record
        .headers
        .iter()
        .map(|header| {
            serde_json::json!({
                "key": header.key,
                "value": top_level_json(&header.value).0,
            })
        })
        .collect();
    map.insert("headers".into(), Json::Array(headers));
    Json::Object(map)
}

/// The `ws.frame=value` payload: BYTES raw, STRING as UTF-8, null empty, anything else its
/// schemaless JSON text.
pub fn value_bytes(value: &Value) -> Bytes {
    match value {
        Value::Null => Bytes::new(),
        Value::Bytes(bytes) => Bytes::copy_from_slice(bytes),
        Value::String(text) => Bytes::copy_from_slice(text.as_bytes()),
        other => Bytes::from(value_json(other).to_string().into_bytes()),
    }
}

fn encode_frame(record: &ConnectRecord, format: FrameFormat) -> Message {
    match format {
        FrameFormat::Envelope => Message::Text(envelope_json(record).to_string().into()),
        FrameFormat::Value => Message::Binary(value_bytes(&record.value)),
    }
}

// ---------------------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------------------

/// How text frames become record values (`value.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// A STRING.
    String,
    /// Schemaless data parsed from the frame's JSON.
    Json,
    /// BYTES.
    Bytes,
}

/// Where source records go.
#[derive(Debug, Clone)]
enum Destination {
    /// Every record to one topic.
    Fixed(String),
    /// A pattern rendered per record (it uses tokens other than `${topic}`).
    PerRecord(Pattern, Missing, Sanitize),
}

#[derive(Debug, Clone)]
struct SourceSettings {
    url: String,
    subscriptions: Vec<String>,
    headers: Vec<(String, String)>,
    backoff: Duration,
    backoff_max: Duration,
    /// `ws.ping.interval.ms`; None = no pings and no read deadline.
    ping_interval: Option<Duration>,
    /// `${topic}`: the URL path without its leading `/`.
    url_path: String,
    destination: Destination,
    key_field: Option<String>,
    value_format: ValueFormat,
    poll_size: usize,
    poll_interval: Duration,
}

/// Splits `ws.headers` (`Name: value, Name2: value2`) into pairs.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, ConnectError> {
    crate::config_def::parse_list(text)
        .into_iter()
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(ConnectError::config(
                "Invalid value for configuration ws.headers: each entry must be 'Name: value'",
            )),
        })
        .collect()
}

fn source_settings(config: &Config) -> Result<SourceSettings, ConnectError> {
    let parsed = parse_config(&source_config_def(), config)?;
    let text = |name: &str| {
        parsed
            .string(name)
            .map(str::to_string)
            .filter(|s| !s.is_empty())
    };
    let url = text("ws.url").unwrap_or_default();
    let url_path = url::Url::parse(&url)
        .map(|url| url.path().trim_start_matches('/').to_string())
        .unwrap_or_default();
    let sanitize = Sanitize::parse(parsed.string(bridge::TOPIC_SANITIZE).unwrap_or("kafka"))
        .map_err(ConnectError::config)?;
    let missing = Missing::parse(parsed.string(bridge::PATTERN_MISSING).unwrap_or("fail"))
        .map_err(ConnectError::config)?;
    let destination = match (text("kafka.topic"), text("topic")) {
        (Some(pattern), _) => {
            let pattern = Pattern::parse(&pattern).map_err(ConnectError::config)?;
            // Rendered once when only ${topic} (the fixed URL path) is used.
            match pattern.render(&url_path, None, Missing::Fail, &bridge::no_escape) {
                Ok(topic) => Destination::Fixed(bridge::sanitize_topic(&topic, sanitize)),
                Err(_) => Destination::PerRecord(pattern, missing, sanitize),
            }
        }
        (None, Some(topic)) => Destination::Fixed(topic),
        (None, None) => {
            return Err(ConnectError::config(
                "Missing required configuration \"topic\" which has no default value.",
            ))
        }
    };
    let (poll_size, poll_interval) = bridge::poll_settings(config)?;
    let format = parsed.string("value.format").unwrap_or("string");
    Ok(SourceSettings {
        subscriptions: parsed
            .string("ws.subscription.messages")
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect(),
        headers: parse_headers(parsed.string("ws.headers").unwrap_or_default())?,
        backoff: millis(parsed.long("ws.reconnect.backoff.ms")),
        backoff_max: millis(parsed.long("ws.reconnect.backoff.max.ms")),
        ping_interval: Some(millis(parsed.long("ws.ping.interval.ms"))).filter(|p| !p.is_zero()),
        url,
        url_path,
        destination,
        key_field: text("key.field"),
        value_format: if format.eq_ignore_ascii_case("json") {
            ValueFormat::Json
        } else if format.eq_ignore_ascii_case("bytes") {
            ValueFormat::Bytes
        } else {
            ValueFormat::String
        },
        poll_size,
        poll_interval,
    })
}

/// Reads an external WebSocket server into Kafka (CONNECT.md g.4).
#[derive(Debug, Default)]
pub struct WebSocketSourceConnector {
    config: Config,
}

#[async_trait]
impl Connector for WebSocketSourceConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Source
    }

    fn config_def(&self) -> ConfigDef {
        source_config_def()
    }

    fn validate(&self, config: &Config) -> Vec<(String, String)> {
        let set = |name: &str| config.get(name).is_some_and(|v| !v.trim().is_empty());
        if set("topic") || set("kafka.topic") {
            Vec::new()
        } else {
            vec![(
                "topic".to_string(),
                "Missing required configuration \"topic\" (or \"kafka.topic\") which has no default value."
                    .to_string(),
            )]
        }
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        source_settings(config)?;
        self.config = config.clone();
        Ok(())
    }

    /// One connection: always one task.
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone()]
    }

    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        Some(Box::new(WebSocketSourceTask::default()))
    }
}

/// A frame read from the server.
enum Frame {
    Text(tokio_tungstenite::tungstenite::Utf8Bytes),
    Binary(Bytes),
}

/// The task of [`WebSocketSourceConnector`]: a connection task feeding a bounded channel
/// that `poll` drains.
#[derive(Default)]
pub struct WebSocketSourceTask {
    settings: Option<Arc<SourceSettings>>,
    frames: Option<tokio::sync::mpsc::Receiver<Frame>>,
    counters: Arc<TaskCounters>,
    shutdown: CancellationToken,
    connection: Option<tokio::task::JoinHandle<()>>,
    /// Parses `value.format=json` text frames (schemas off).
    json: JsonConverter,
}

impl std::fmt::Debug for WebSocketSourceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSourceTask")
            .finish_non_exhaustive()
    }
}

fn string_schema() -> Arc<Schema> {
    Arc::new(Schema::new(SchemaType::String))
}

fn bytes_schema() -> Arc<Schema> {
    Arc::new(Schema::new(SchemaType::Bytes))
}

/// The `key.field` of a JSON text as a STRING key.
fn key_of(text: &str, field: &str) -> Option<String> {
    match serde_json::from_str::<Json>(text).ok()?.get(field)? {
        Json::Null => None,
        Json::String(key) => Some(key.clone()),
        other => Some(other.to_string()),
    }
}

impl WebSocketSourceTask {
    /// The record of one frame; None (counted `failed`) when it cannot be used.
    fn record(&self, settings: &SourceSettings, frame: Frame, now: i64) -> Option<SourceRecord> {
        let mut record = ConnectRecord {
            timestamp: Some(now),
            ..ConnectRecord::default()
        };
        match frame {
            Frame::Binary(bytes) => {
                record.value_schema = Some(bytes_schema());
                record.value = Value::Bytes(Vec::from(bytes));
            }
            Frame::Text(text) => {
                if let Some(key) = settings
                    .key_field
                    .as_deref()
                    .and_then(|field| key_of(text.as_str(), field))
                {
                    record.key_schema = Some(string_schema());
                    record.key = Value::String(key);
                }
                match settings.value_format {
                    ValueFormat::String => {
                        record.value_schema = Some(string_schema());
                        record.value = Value::String(text.as_str().to_string());
                    }
                    ValueFormat::Bytes => {
                        record.value_schema = Some(bytes_schema());
                        record.value = Value::Bytes(text.as_str().as_bytes().to_vec());
                    }
                    ValueFormat::Json => {
                        match self.json.deserialize(Some(text.as_str().as_bytes())) {
                            Ok(data) => {
                                record.value_schema = data.schema;
                                record.value = data.value;
                            }
                            Err(_) => {
                                tracing::warn!(
                                    "WebSocketSource skipped a text frame that is not JSON"
                                );
                                return None;
                            }
                        }
                    }
                }
            }
        }
        record.topic = match &settings.destination {
            Destination::Fixed(topic) => topic.clone(),
            Destination::PerRecord(pattern, missing, sanitize) => {
                match pattern.render(
                    &settings.url_path,
                    Some(&record),
                    *missing,
                    &bridge::no_escape,
                ) {
                    Ok(topic) => bridge::sanitize_topic(&topic, *sanitize),
                    Err(error) => {
                        tracing::warn!(%error, "WebSocketSource skipped a frame");
                        return None;
                    }
                }
            }
        };
        Some(SourceRecord {
            record,
            source_partition: JsonMap::new(),
            source_offset: JsonMap::new(),
        })
    }
}

/// The handshake request: `ws.url` with the `ws.headers`.
fn handshake_request(
    settings: &SourceSettings,
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
    let mut request = settings
        .url
        .as_str()
        .into_client_request()
        .map_err(|error| error.to_string())?;
    for (name, value) in &settings.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name '{name}' in ws.headers"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value of header '{name}' in ws.headers"))?;
        request.headers_mut().append(name, value);
    }
    Ok(request)
}

/// Connects, subscribes and forwards frames until stopped; reconnects with backoff.
async fn run_connection(
    settings: Arc<SourceSettings>,
    frames: tokio::sync::mpsc::Sender<Frame>,
    counters: Arc<TaskCounters>,
    shutdown: CancellationToken,
) {
    let mut backoff = settings.backoff;
    let mut connections: u64 = 0;
    loop {
        let connected = match handshake_request(&settings) {
            Ok(request) => tokio::select! {
                _ = shutdown.cancelled() => return,
                // Bounded: a peer that accepts TCP but never completes the upgrade must not
                // stall the task for good.
                connected = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)) => match connected {
                    Ok(connected) => connected.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no WebSocket handshake within {} ms", CONNECT_TIMEOUT.as_millis())),
                },
            },
            Err(error) => Err(error),
        };
        match connected {
            Ok((mut socket, _)) => {
                backoff = settings.backoff;
                connections += 1;
                counters.set_detail("connections", Json::from(connections));
                counters.set_detail("connected", Json::Bool(true));
                let mut subscribed = true;
                for message in &settings.subscriptions {
                    let message = tokio_tungstenite::tungstenite::Message::text(message.as_str());
                    if socket.send(message).await.is_err() {
                        subscribed = false;
                        break;
                    }
                }
                if subscribed {
                    use tokio_tungstenite::tungstenite::Message as WsMessage;
                    // Keepalive: a ping every interval; a connection silent for two intervals
                    // (no frame, no pong) is dead even if TCP never says so.
                    let far = Duration::from_secs(365 * 24 * 3600);
                    let period = settings.ping_interval.unwrap_or(far);
                    let mut ping =
                        tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut heard = tokio::time::Instant::now();
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => {
                                let _ = tokio::time::timeout(CLOSE_GRACE, socket.close(None)).await;
                                return;
                            }
                            _ = ping.tick() => {
                                if heard.elapsed() >= period * 2 {
                                    tracing::warn!(silent_ms = heard.elapsed().as_millis() as u64, "WebSocketSource server silent; reconnecting");
                                    break;
                                }
                                match tokio::time::timeout(CLOSE_GRACE, socket.send(WsMessage::Ping(Default::default()))).await {
                                    Ok(Ok(())) => continue,
                                    _ => break,
                                }
                            }
                            next = socket.next() => next,
                        };
                        heard = tokio::time::Instant::now();
                        let frame = match next {
                            Some(Ok(WsMessage::Text(text))) => Frame::Text(text),
                            Some(Ok(WsMessage::Binary(bytes))) => Frame::Binary(bytes),
                            Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                            Some(Ok(_)) => continue,
                        };
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            sent = frames.send(frame) => if sent.is_err() { return },
                        }
                        // Waiting on a busy runtime is not the server's silence.
                        heard = tokio::time::Instant::now();
                    }
                }
                counters.set_detail("connected", Json::Bool(false));
                tracing::info!("WebSocketSource connection closed; reconnecting");
            }
            Err(error) => {
                tracing::warn!(%error, "WebSocketSource could not connect");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2)
            .min(settings.backoff_max)
            .max(settings.backoff);
    }
}

#[async_trait]
impl SourceTask for WebSocketSourceTask {
    async fn start(
        &mut self,
        config: &Config,
        context: SourceTaskContext,
    ) -> Result<(), ConnectError> {
        let settings = Arc::new(source_settings(config)?);
        let (tx, rx) = tokio::sync::mpsc::channel(settings.poll_size);
        self.counters = context.counters;
        self.counters.set_detail("connected", Json::Bool(false));
        self.shutdown = CancellationToken::new();
        self.connection = Some(tokio::spawn(run_connection(
            settings.clone(),
            tx,
            self.counters.clone(),
            self.shutdown.clone(),
        )));
        self.json = JsonConverter::with_config(JsonConverterConfig {
            schemas_enable: false,
            schemas_cache_size: 0,
            decimal_format: DecimalFormat::Base64,
            replace_null_with_default: true,
        });
        self.settings = Some(settings);
        self.frames = Some(rx);
        Ok(())
    }

    async fn poll(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        let (Some(settings), Some(frames)) = (self.settings.clone(), self.frames.as_mut()) else {
            return Ok(Vec::new());
        };
        let first = tokio::select! {
            frame = frames.recv() => frame,
            _ = tokio::time::sleep(settings.poll_interval) => None,
        };
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut batch = Vec::with_capacity(settings.poll_size.min(64));
        batch.push(first);
        while batch.len() < settings.poll_size {
            match frames.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        let now = chrono::Utc::now().timestamp_millis();
        let taken = batch.len() as u64;
        let records: Vec<SourceRecord> = batch
            .into_iter()
            .filter_map(|frame| self.record(&settings, frame, now))
            .collect();
        self.counters.add(Counter::Accepted, records.len() as u64);
        self.counters
            .add(Counter::Failed, taken - records.len() as u64);
        Ok(records)
    }

    async fn commit_record(&mut self, _record: &SourceRecord, metadata: Option<&RecordMetadata>) {
        if metadata.is_some() {
            self.counters.incr(Counter::Delivered);
        }
    }

    async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(mut connection) = self.connection.take() {
            if tokio::time::timeout(CLOSE_GRACE + Duration::from_secs(1), &mut connection)
                .await
                .is_err()
            {
                connection.abort();
            }
        }
        self.frames = None;
    }
}

impl Drop for WebSocketSourceTask {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
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
    use crate::data::{Headers, TimestampType};

    fn sink_record(key: Value, value: Value) -> ConnectRecord {
        let mut headers = Headers::default();
        headers.add("h", None, Value::String("x".into()));
        ConnectRecord {
            topic: "orders-eu".into(),
            kafka_partition: Some(1),
            key,
            value,
            timestamp: Some(1_700_000_000_000),
            timestamp_type: TimestampType::CreateTime,
            headers,
            kafka_offset: Some(42),
            ..ConnectRecord::default()
        }
    }

    #[test]
    fn envelope_carries_the_record_and_its_converted_value() {
        let value = Value::Map(vec![
            (Value::String("id".into()), Value::Int64(7)),
            (Value::String("raw".into()), Value::Bytes(vec![0xff])),
        ]);
        let envelope = envelope_json(&sink_record(Value::String("k".into()), value));
        assert_eq!(
            envelope,
            serde_json::json!({
                "topic": "orders-eu", "partition": 1, "offset": 42,
                "timestamp": 1_700_000_000_000i64, "key": "k",
                "value": {"id": 7, "raw": "/w=="},
                "headers": [{"key": "h", "value": "x"}],
            })
        );
        let bytes = envelope_json(&sink_record(
            Value::Bytes(b"text key".to_vec()),
            Value::Bytes(vec![0, 0xff]),
        ));
        assert_eq!(bytes["key"], "text key");
        assert!(bytes.get("key_encoding").is_none());
        assert_eq!(bytes["value"], "AP8=");
        assert_eq!(bytes["value_encoding"], "base64");
        let null = envelope_json(&sink_record(Value::Null, Value::Null));
        assert_eq!((&null["key"], &null["value"]), (&Json::Null, &Json::Null));
    }

    #[test]
    fn value_frames_hold_the_value_only() {
        assert_eq!(value_bytes(&Value::Bytes(vec![1, 2])).as_ref(), [1, 2]);
        assert_eq!(
            value_bytes(&Value::String("é".into())).as_ref(),
            "é".as_bytes()
        );
        assert!(value_bytes(&Value::Null).is_empty());
        let map = Value::Map(vec![(Value::Int32(1), Value::Boolean(true))]);
        assert_eq!(value_bytes(&map).as_ref(), b"[[1,true]]");
        let decimal = Value::Decimal {
            unscaled: 1234.into(),
            scale: 2,
        };
        assert_eq!(value_bytes(&decimal).as_ref(), b"12.34");
    }

    #[test]
    fn selectors_match_whole_topic_names() {
        let mut selector = Selector {
            regex: Some(compile_selector("orders.*").unwrap()),
            answers: HashMap::new(),
        };
        assert!(selector.matches("orders-eu"));
        assert!(selector.matches("orders"));
        assert!(!selector.matches("xorders"));
        assert!(selector.matches("orders-eu"), "cached answer");
        let mut exact = Selector {
            regex: Some(compile_selector("aud.t").unwrap()),
            answers: HashMap::new(),
        };
        assert!(exact.matches("audit"));
        assert!(!exact.matches("audit2"));
        // No selector yet: nothing is chosen.
        assert!(!Selector::default().matches("anything"));
        assert!(compile_selector("(").is_err());
        // The text cannot escape the anchoring group.
        assert!(compile_selector("a)|(b").is_err());
    }

    fn client() -> Client {
        Client {
            id: 0,
            selector: Mutex::default(),
            queue: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            evicted: tokio::sync::Notify::new(),
        }
    }

    fn settings(overflow: &str) -> SinkSettings {
        sink_settings(&config_from(&[
            ("ws.client.queue.max", "2"),
            ("ws.overflow", overflow),
        ]))
        .unwrap()
    }

    fn text(frame: &Message) -> &str {
        match frame {
            Message::Text(text) => text.as_str(),
            _ => "",
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_frame() {
        let (client, counters) = (client(), TaskCounters::default());
        let settings = settings("drop-oldest");
        for n in ["1", "2", "3"] {
            client.offer(Message::Text(n.into()), &settings, &counters);
        }
        let queue = lock(&client.queue);
        assert_eq!(
            queue.frames.iter().map(text).collect::<Vec<_>>(),
            ["2", "3"]
        );
        assert!(!queue.evicted);
        assert_eq!(counters.get(Counter::Failed), 1);
    }

    #[test]
    fn a_full_queue_evicts_the_client() {
        let (client, counters) = (client(), TaskCounters::default());
        let settings = settings("disconnect");
        for n in ["1", "2", "3", "4"] {
            client.offer(Message::Text(n.into()), &settings, &counters);
        }
        let queue = lock(&client.queue);
        assert!(queue.evicted);
        assert!(queue.frames.is_empty());
        // Two queued plus the one that overflowed; later frames are not offered.
        assert_eq!(counters.get(Counter::Failed), 3);
    }

    #[test]
    fn sink_settings_have_the_documented_defaults() {
        let settings = sink_settings(&Config::new()).unwrap();
        assert_eq!(settings.listener, "127.0.0.1:8091");
        assert_eq!(settings.path, "/ws");
        assert_eq!(settings.selector_param, "selector");
        assert_eq!(settings.frame, FrameFormat::Envelope);
        assert_eq!(settings.queue_max, 1000);
        assert_eq!(settings.overflow, Overflow::Disconnect);
        assert_eq!(settings.ping_interval, Some(Duration::from_secs(10)));
        for (key, value) in [
            ("ws.overflow", "block"),
            ("ws.frame", "xml"),
            ("ws.start", "earliest"),
            ("ws.client.queue.max", "0"),
            ("ws.path", "ws"),
        ] {
            assert!(
                sink_settings(&config_from(&[(key, value)])).is_err(),
                "{key}={value}"
            );
        }
        let off = sink_settings(&config_from(&[("ws.ping.interval.ms", "0")])).unwrap();
        assert_eq!(off.ping_interval, None);
    }

    #[test]
    fn source_settings_split_subscriptions_by_line_and_render_the_topic() {
        let settings = source_settings(&config_from(&[
            ("ws.url", "ws://127.0.0.1:1/feeds/prices"),
            (
                "ws.subscription.messages",
                "{\"op\":\"sub\",\"ch\":[\"a\",\"b\"]}\n\n  {\"op\":\"hello\"}\n",
            ),
            ("ws.headers", "X-Token: abc, Origin: http://x"),
            ("kafka.topic", "ws_${topic}"),
        ]))
        .unwrap();
        assert_eq!(settings.ping_interval, Some(Duration::from_secs(10)));
        let quiet = source_settings(&config_from(&[
            ("ws.url", "ws://127.0.0.1:1/x"),
            ("topic", "t"),
            ("ws.ping.interval.ms", "0"),
        ]))
        .unwrap();
        assert_eq!(quiet.ping_interval, None);
        assert_eq!(
            settings.subscriptions,
            [
                "{\"op\":\"sub\",\"ch\":[\"a\",\"b\"]}",
                "{\"op\":\"hello\"}"
            ]
        );
        assert_eq!(
            settings.headers,
            [
                ("X-Token".to_string(), "abc".to_string()),
                ("Origin".to_string(), "http://x".to_string())
            ]
        );
        assert!(
            matches!(&settings.destination, Destination::Fixed(topic) if topic == "ws_feeds_prices")
        );
        assert_eq!(settings.backoff, Duration::from_millis(500));
        assert_eq!(settings.backoff_max, Duration::from_secs(30));
        assert_eq!(settings.value_format, ValueFormat::String);
        assert_eq!(settings.poll_size, 128);

        let missing = source_settings(&config_from(&[("ws.url", "ws://127.0.0.1:1/")]));
        assert!(missing.unwrap_err().message.contains("\"topic\""));
        let wss = source_settings(&config_from(&[("ws.url", "wss://h/"), ("topic", "t")]));
        assert!(wss.is_err());
        let headers = source_settings(&config_from(&[
            ("ws.url", "ws://h/"),
            ("topic", "t"),
            ("ws.headers", "no colon"),
        ]));
        assert!(headers.is_err());
    }

    #[test]
    fn frames_become_records() {
        let config = config_from(&[
            ("ws.url", "ws://127.0.0.1:1/x"),
            ("kafka.topic", "t.${key}"),
            ("key.field", "user"),
            ("value.format", "json"),
        ]);
        let settings = source_settings(&config).unwrap();
        let mut task = WebSocketSourceTask::default();
        task.json = JsonConverter::with_config(JsonConverterConfig {
            schemas_enable: false,
            schemas_cache_size: 0,
            decimal_format: DecimalFormat::Base64,
            replace_null_with_default: true,
        });
        let frame = |text: &str| Frame::Text(text.to_string().into());
        let record = task
            .record(&settings, frame(r#"{"user":"u/1","n":2}"#), 5)
            .unwrap()
            .record;
        assert_eq!(record.topic, "t.u_1");
        assert_eq!(record.key, Value::String("u/1".into()));
        assert_eq!(record.value.map_get("n"), Some(&Value::Int64(2)));
        assert_eq!(record.timestamp, Some(5));
        assert!(task.record(&settings, frame("not json"), 5).is_none());
        // No key: ${key} renders empty (a null key is not a missing token).
        let keyless = task
            .record(&settings, frame(r#"{"n":1}"#), 5)
            .unwrap()
            .record;
        assert_eq!((keyless.topic.as_str(), &keyless.key), ("t.", &Value::Null));

        let plain = source_settings(&config_from(&[
            ("ws.url", "ws://127.0.0.1:1/x"),
            ("topic", "raw"),
            ("key.field", "id"),
        ]))
        .unwrap();
        let record = task
            .record(&plain, frame(r#"{"id":12}"#), 5)
            .unwrap()
            .record;
        assert_eq!(record.topic, "raw");
        assert_eq!(record.key, Value::String("12".into()));
        assert_eq!(record.value, Value::String(r#"{"id":12}"#.into()));
        let record = task
            .record(&plain, Frame::Binary(Bytes::from_static(b"\x00\x01")), 5)
            .unwrap()
            .record;
        assert_eq!(record.value, Value::Bytes(vec![0, 1]));
        assert_eq!(record.key, Value::Null);
    }
}
