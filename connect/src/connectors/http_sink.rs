//! HttpSink (CONNECT.md g.2): Kafka records to an HTTP endpoint with Ditto-style delivery —
//! acknowledgement-driven backpressure, ordered redelivery and message expiry.
//!
//! Class `io.josefine.connect.http.HttpSinkConnector` (alias `HttpSink`).
//!
//! # Delivery
//! `put` never waits for HTTP: records are appended to a queue per Kafka partition, and one
//! delivery worker (a tokio task) per partition sends them in offset order. A retriable
//! answer (`retry.status`, a connect error or a timeout) is retried in place after an
//! exponential backoff with full jitter (`Retry-After` honoured), and the partition is paused
//! meanwhile (no fetch, no later send); other partitions keep flowing. A partition is also
//! paused while more than `max.queued.records.per.partition` records wait, and resumed once
//! the queue is half drained.
//!
//! With `qos=1` a record is *resolved* once the peer answered with a `success.status`, it
//! expired, or the runtime's error handling took it (DLQ or skip under
//! `errors.tolerance=all`). [`SinkTask::pre_commit`] returns, per partition, the offset after
//! the highest contiguous resolved record, so a restart redelivers in order, with duplicates
//! only in the in-flight window. A permanent failure (a status outside both sets, or retries
//! exhausted) goes to the errant record reporter at stage `TASK_PUT`; under
//! `errors.tolerance=none` the partition stops at that record (never committed) and the next
//! `put` fails the task. With `qos=0` a record is resolved when its request is issued, never
//! retried, and failures are only counted (`failed`).
//!
//! `max.in.flight.per.partition` > 1 pipelines requests of one partition; a retried request
//! may then arrive after a later one (order is only strict with 1).
//!
//! # Expiry
//! A record whose `message.expiry.creation.header` (epoch ms, default `creation-time`) and
//! `message.expiry.ttl.header` (ms, default `ttl`) parse, with `now - creation > ttl`, is not
//! sent, counts as `expired` and is committed. Without a ttl header
//! `message.expiry.default.ttl.ms` applies (0 = none), and then, without a creation header,
//! the Kafka record timestamp is the creation time; a ttl header without a creation header
//! never expires a record. A header that is present but does not parse as an
//! integer (or a ttl ≤ 0) never expires a record. Expiry is checked when a record is taken
//! for sending and again before each retry: a record that expired while its request waited
//! is not sent again (the batch's live records are encoded again without it).
//!
//! # Bodies
//! - `body.format=value`: the record value as bytes. When the connector configures
//!   `value.converter`, it is that converter's `fromConnectData` output (e.g. JsonConverter
//!   JSON text); otherwise BYTES values are sent verbatim, STRING values as UTF-8 and other
//!   values as schemaless JSON. A null value is an empty body.
//! - `body.format=envelope`: the JSON object
//!   `{"topic":..,"partition":..,"offset":..,"timestamp":ms|null,"key":K,"value":V,"headers":[{"key":..,"value":..}]}`.
//!   `K` and `V` are the key and value bytes (encoded as above, with `key.converter` for the
//!   key) embedded as JSON: bytes that are one JSON text are embedded as that JSON; other
//!   UTF-8 text as a JSON string; anything else as a JSON string of its standard base64;
//!   null as `null`. Header values are strings (text as is, bytes as UTF-8 or base64, other
//!   values in Java's text form) or `null`.
//! - `batch.max.records` > 1: up to that many consecutive records of one partition with the
//!   same rendered URL go in one request, each element (a value or an envelope, embedded as
//!   JSON by the rule above) in a `json_array` (`[e1,e2]`) or as `ndjson` lines (`e1\ne2\n`,
//!   each element compacted onto one line).
//!
//! Content type: `application/json` for envelopes and JSON arrays, `application/x-ndjson`
//! for ndjson, and for values by converter: JsonConverter `application/json`,
//! StringConverter `text/plain; charset=utf-8`, else `application/octet-stream`. A
//! `Content-Type` in `http.headers` wins. Forwarded Kafka headers (`http.headers.forward`)
//! come from the first record of a request.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::bridge::{pattern_missing_key, Missing, Pattern, Qos, PATTERN_MISSING};
use crate::config_def::{
    ConfigDef, ConfigKey, ConfigType, ConfigValue, Default as ConfigDefault, Importance,
    ParsedConfig,
};
use crate::connector::{
    Config, Connector, ConnectorType, ErrantRecordReporter, SinkControl, SinkTask, SinkTaskContext,
    TopicPartition,
};
use crate::converters::Converter;
use crate::data::{ConnectError, ConnectRecord, Schema, Value};
use crate::plugins::{Factory, PluginDesc, PluginType};
use crate::status::{Counter, TaskCounters};

/// The connector class.
pub const CLASS: &str = "io.josefine.connect.http.HttpSinkConnector";

/// `http.url`: destination pattern (g.0), tokens URL-encoded.
pub const URL: &str = "http.url";
/// `http.method`: POST, PUT or PATCH.
pub const METHOD: &str = "http.method";
/// `http.headers`: list of `Name: value`.
pub const HEADERS: &str = "http.headers";
/// `http.headers.forward`: Kafka header keys copied to HTTP headers.
pub const HEADERS_FORWARD: &str = "http.headers.forward";
/// `body.format`: `value` or `envelope`.
pub const BODY_FORMAT: &str = "body.format";
/// `batch.max.records`: records per request.
pub const BATCH_MAX_RECORDS: &str = "batch.max.records";
/// `batch.format`: `json_array` or `ndjson`.
pub const BATCH_FORMAT: &str = "batch.format";
/// `http.timeout.ms`: request timeout in ms.
pub const TIMEOUT_MS: &str = "http.timeout.ms";
/// `success.status`: status codes and ranges that acknowledge a request.
pub const SUCCESS_STATUS: &str = "success.status";
/// `retry.status`: status codes and ranges that are retried.
pub const RETRY_STATUS: &str = "retry.status";
/// `retry.backoff.initial.ms`: first backoff cap in ms.
pub const BACKOFF_INITIAL_MS: &str = "retry.backoff.initial.ms";
/// `retry.backoff.max.ms`: largest backoff in ms.
pub const BACKOFF_MAX_MS: &str = "retry.backoff.max.ms";
/// `retry.respect.retry.after`: honour `Retry-After`.
pub const RESPECT_RETRY_AFTER: &str = "retry.respect.retry.after";
/// `retry.max.attempts`: retries after the first attempt; -1 = until success.
pub const RETRY_MAX_ATTEMPTS: &str = "retry.max.attempts";
/// `qos`: 1 at-least-once, 0 at-most-once.
pub const QOS: &str = "qos";
/// `max.in.flight.per.partition`: concurrent requests per partition.
pub const MAX_IN_FLIGHT: &str = "max.in.flight.per.partition";
/// `max.queued.records.per.partition`: records waiting per partition before it is paused.
pub const MAX_QUEUED: &str = "max.queued.records.per.partition";
/// `message.expiry.creation.header`: header with the creation time (epoch ms).
pub const EXPIRY_CREATION_HEADER: &str = "message.expiry.creation.header";
/// `message.expiry.ttl.header`: header with the time to live (ms).
pub const EXPIRY_TTL_HEADER: &str = "message.expiry.ttl.header";
/// `message.expiry.default.ttl.ms`: ttl of records without a ttl header; 0 = none.
pub const EXPIRY_DEFAULT_TTL_MS: &str = "message.expiry.default.ttl.ms";

/// The HttpSink connector, for the plugin registry.
pub fn plugins() -> Vec<PluginDesc> {
    vec![PluginDesc {
        class: CLASS,
        plugin_type: PluginType::Sink,
        config_def,
        factory: Factory::Connector(|| Box::new(HttpSinkConnector::default())),
    }]
}

fn key(
    name: &str,
    config_type: ConfigType,
    default: Option<&str>,
    importance: Importance,
    doc: &str,
) -> ConfigKey {
    ConfigKey::new(
        name,
        config_type,
        default.map_or(ConfigDefault::Required, |d| {
            ConfigDefault::Value(d.to_string())
        }),
        importance,
        doc,
    )
}

fn one_of(
    choices: &'static [&'static str],
) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync + 'static {
    move |value| match value {
        ConfigValue::String(text)
            if choices.iter().any(|c| c.eq_ignore_ascii_case(text.trim())) =>
        {
            Ok(())
        }
        _ => Err(format!("must be one of {}", choices.join(", "))),
    }
}

fn at_least(min: i64) -> impl Fn(&ConfigValue) -> Result<(), String> + Send + Sync + 'static {
    move |value| match value {
        ConfigValue::Int(v) if i64::from(*v) >= min => Ok(()),
        ConfigValue::Long(v) if *v >= min => Ok(()),
        _ => Err(format!("Value must be at least {min}")),
    }
}

fn status_key(name: &str, default: &str, doc: &str) -> ConfigKey {
    key(
        name,
        ConfigType::String,
        Some(default),
        Importance::Medium,
        doc,
    )
    .validate_with(|value| match value {
        ConfigValue::String(text) => StatusSet::parse(text).map(|_| ()),
        _ => Err("must be a list of status codes and ranges".into()),
    })
}

/// HttpSink's keys (CONNECT.md g.2) plus `pattern.missing` and
/// `max.queued.records.per.partition`.
pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            key(URL, ConfigType::String, None, Importance::High,
                "Destination URL, a pattern (${topic}, ${key}, ${partition}, ${offset}, ${header.<name>}, ${value.<path>}); token values are URL-encoded.")
            .validate_with(|value| match value {
                ConfigValue::String(text) if text.is_empty() => Err("String must be non-empty".into()),
                ConfigValue::String(text) => Pattern::parse(text).map(|_| ()),
                _ => Ok(()),
            }),
        )
        .define(
            key(METHOD, ConfigType::String, Some("POST"), Importance::Medium, "HTTP method: POST, PUT or PATCH.")
                .validate_with(one_of(&["POST", "PUT", "PATCH"])),
        )
        .define(
            key(HEADERS, ConfigType::List, Some(""), Importance::Medium, "Headers sent with every request, each 'Name: value'.")
                .validate_with(|value| match value {
                    ConfigValue::List(items) => parse_headers(items).map(|_| ()),
                    _ => Ok(()),
                }),
        )
        .define(key(HEADERS_FORWARD, ConfigType::List, Some(""), Importance::Low,
            "Kafka header keys whose last value is copied into an HTTP header of the same name."))
        .define(
            key(BODY_FORMAT, ConfigType::String, Some("value"), Importance::Medium,
                "'value': the value bytes from value.converter; 'envelope': a JSON object {topic,partition,offset,timestamp,key,value,headers}.")
                .validate_with(one_of(&["value", "envelope"])),
        )
        .define(
            key(BATCH_MAX_RECORDS, ConfigType::Int, Some("1"), Importance::Medium,
                "Most records of one partition per request; above 1 the body follows batch.format.")
                .validate_with(at_least(1)),
        )
        .define(
            key(BATCH_FORMAT, ConfigType::String, Some("json_array"), Importance::Low,
                "Body of a batch: 'json_array' or 'ndjson'.")
                .validate_with(one_of(&["json_array", "ndjson"])),
        )
        .define(
            key(TIMEOUT_MS, ConfigType::Long, Some("10000"), Importance::Medium,
                "Request timeout in ms; a timeout is retriable.")
                .validate_with(at_least(1)),
        )
        .define(status_key(SUCCESS_STATUS, "200-299", "Status codes (and ranges a-b) that acknowledge a request."))
        .define(status_key(RETRY_STATUS, "408,425,429,500-599", "Status codes (and ranges a-b) that are retried, besides connect errors and timeouts."))
        .define(
            key(BACKOFF_INITIAL_MS, ConfigType::Long, Some("500"), Importance::Low,
                "Backoff cap of the first retry in ms; it doubles per retry (full jitter: the wait is random below the cap).")
                .validate_with(at_least(0)),
        )
        .define(
            key(BACKOFF_MAX_MS, ConfigType::Long, Some("30000"), Importance::Low,
                "Largest backoff in ms (a Retry-After is honoured as given).")
                .validate_with(at_least(0)),
        )
        .define(key(RESPECT_RETRY_AFTER, ConfigType::Boolean, Some("true"), Importance::Low,
            "Wait as the Retry-After header says (seconds or an HTTP date) before retrying."))
        .define(
            key(RETRY_MAX_ATTEMPTS, ConfigType::Int, Some("-1"), Importance::Medium,
                "Retries after the first attempt; -1 retries until success. Exhausted retries are a TASK_PUT record failure.")
                .validate_with(at_least(-1)),
        )
        .define(
            key(QOS, ConfigType::String, Some("1"), Importance::Medium,
                "1: at-least-once (commit after acknowledgement, retries); 0: at-most-once (commit on send, no retries).")
                .validate_with(one_of(&["0", "1"])),
        )
        .define(
            key(MAX_IN_FLIGHT, ConfigType::Int, Some("1"), Importance::Low,
                "Concurrent requests per partition; 1 keeps strict order, more pipelines and a retry may reorder.")
                .validate_with(at_least(1)),
        )
        .define(
            key(MAX_QUEUED, ConfigType::Int, Some("1000"), Importance::Low,
                "Records waiting per partition before the partition is paused; resumed at half.")
                .validate_with(at_least(1)),
        )
        .define(key(EXPIRY_CREATION_HEADER, ConfigType::String, Some("creation-time"), Importance::Low,
            "Header with the record's creation time, epoch ms as text."))
        .define(key(EXPIRY_TTL_HEADER, ConfigType::String, Some("ttl"), Importance::Low,
            "Header with the record's time to live, ms as text."))
        .define(
            key(EXPIRY_DEFAULT_TTL_MS, ConfigType::Long, Some("0"), Importance::Low,
                "Time to live of records without a ttl header, ms; 0 = they never expire.")
                .validate_with(at_least(0)),
        )
        .define(pattern_missing_key())
}

/// Parses `http.headers` entries `Name: value`. Errors name the bad entry.
pub fn parse_headers(items: &[String]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for item in items {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| format!("header '{item}' is not 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name in '{item}'"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("invalid header value for '{name}'"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// A set of HTTP status codes: `200-299`, `408,425,429,500-599`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    /// Parses a comma list of codes and inclusive ranges `a-b` (100..=599).
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let code = |s: &str| -> Result<u16, String> {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("'{}' is not an HTTP status code", s.trim()))
        };
        let mut ranges = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let range = match item.split_once('-') {
                Some((low, high)) => (code(low)?, code(high)?),
                None => (code(item)?, code(item)?),
            };
            if range.0 > range.1 {
                return Err(format!("empty range '{item}'"));
            }
            ranges.push(range);
        }
        Ok(StatusSet(ranges))
    }

    /// True when `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    }
}

/// URL-encodes a pattern token (RFC 3986: everything but `A-Z a-z 0-9 - . _ ~` as `%XX`).
pub fn url_escape(text: &str) -> Cow<'_, str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if text.bytes().all(unreserved) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// The wait a `Retry-After` value asks for: delay-seconds, or an HTTP date (RFC 9110
/// IMF-fixdate) relative to `now_ms` (epoch ms; a past date is zero). None when it parses as
/// neither.
pub fn parse_retry_after(text: &str, now_ms: i64) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = date.timestamp_millis().saturating_sub(now_ms).max(0);
    Some(Duration::from_millis(wait as u64))
}

/// Full-jitter exponential backoff: a random wait in `[0, min(max, initial·2^retry)]`
/// (`retry` from 0).
pub fn backoff(retry: u32, initial: Duration, max: Duration) -> Duration {
    let initial = initial.as_millis() as u64;
    let cap = initial
        .checked_shl(retry.min(40))
        .unwrap_or(u64::MAX)
        .min(max.as_millis() as u64);
    Duration::from_millis(if cap == 0 {
        0
    } else {
        crate::runtime::errors::random() % (cap + 1)
    })
}

/// What a header holds for the expiry check.
#[derive(Debug, PartialEq, Eq)]
enum Millis {
    Absent,
    Malformed,
    Value(i64),
}

fn header_millis(record: &ConnectRecord, name: &str) -> Millis {
    let Some(header) = record.headers.last_with_name(name) else {
        return Millis::Absent;
    };
    let parsed = match &header.value {
        Value::Int8(v) => Some(i64::from(*v)),
        Value::Int16(v) => Some(i64::from(*v)),
        Value::Int32(v) => Some(i64::from(*v)),
        Value::Int64(v) => Some(*v),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        Value::Bytes(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok()),
        _ => None,
    };
    parsed.map_or(Millis::Malformed, Millis::Value)
}

/// The expiry rule of CONNECT.md g.2 (see the module docs): true when `record` must not be
/// sent at `now_ms`.
pub fn is_expired(
    record: &ConnectRecord,
    creation_header: &str,
    ttl_header: &str,
    default_ttl_ms: i64,
    now_ms: i64,
) -> bool {
    let ttl_header_value = header_millis(record, ttl_header);
    let creation = match header_millis(record, creation_header) {
        // The record's timestamp stands in for a missing creation header only where the
        // default ttl applies; a ttl header alone never expires a record.
        Millis::Absent if matches!(ttl_header_value, Millis::Absent) => record.timestamp,
        Millis::Absent => return false,
        Millis::Malformed => return false,
        Millis::Value(v) => Some(v),
    };
    let ttl = match ttl_header_value {
        Millis::Absent => Some(default_ttl_ms),
        Millis::Malformed => return false,
        Millis::Value(v) => Some(v),
    };
    match (creation, ttl) {
        (Some(creation), Some(ttl)) if ttl > 0 => now_ms.saturating_sub(creation) > ttl,
        _ => false,
    }
}

/// Appends `bytes` to `out` as one JSON value (the module's embedding rule): one JSON text
/// as is (compacted when `one_line` and it spans lines), other UTF-8 as a JSON string,
/// anything else as a JSON string of its base64; None as `null`.
pub fn push_embedded(out: &mut Vec<u8>, bytes: Option<&[u8]>, one_line: bool) {
    let Some(bytes) = bytes else {
        out.extend_from_slice(b"null");
        return;
    };
    if !bytes.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        if one_line && bytes.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
                let _ = serde_json::to_writer(&mut *out, &value);
                return;
            }
        }
        out.extend_from_slice(bytes);
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let _ = serde_json::to_writer(&mut *out, text);
        }
        Err(_) => {
            let _ = serde_json::to_writer(
                &mut *out,
                &base64::engine::general_purpose::STANDARD.encode(bytes),
            );
        }
    }
}

/// Turns keys or values back into bytes for a body.
enum Encoder {
    /// The connector's configured converter.
    Converter(Box<dyn Converter>, &'static str),
    /// BYTES and STRING as they are, other values through a schemaless JsonConverter.
    Natural(Box<dyn Converter>),
}

impl Encoder {
    /// The converter `prefix` (`key.converter`/`value.converter`) of `config`, or the natural
    /// encoding when the connector names none.
    fn new(config: &Config, prefix: &str, is_key: bool) -> Result<Encoder, ConnectError> {
        let make = |name: &str,
                    sub: Config|
         -> Result<(Box<dyn Converter>, &'static str), ConnectError> {
            let plugin = crate::plugins::find(name, &[PluginType::Converter]).ok_or_else(|| {
                ConnectError::config(format!(
                    "Invalid value {name} for configuration {prefix}: Class {name} could not be found."
                ))
            })?;
            let Factory::Converter(factory) = plugin.factory else {
                return Err(ConnectError::config(format!("{name} is not a converter")));
            };
            let mut converter = factory();
            converter.configure(&sub, is_key)?;
            Ok((converter, plugin.class))
        };
        match config
            .get(prefix)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            Some(name) => {
                let sub = crate::config_def::with_prefix(config, &format!("{prefix}."));
                let (converter, class) = make(name, sub)?;
                Ok(Encoder::Converter(converter, class))
            }
            None => {
                let sub: Config = [("schemas.enable".to_string(), "false".to_string())].into();
                Ok(Encoder::Natural(
                    make(crate::converters::json::CLASS, sub)?.0,
                ))
            }
        }
    }

    fn encode<'a>(
        &self,
        topic: &str,
        schema: Option<&Schema>,
        value: &'a Value,
    ) -> Result<Option<Cow<'a, [u8]>>, ConnectError> {
        match self {
            Encoder::Converter(converter, _) => Ok(converter
                .from_connect_data(topic, schema, value)?
                .map(Cow::Owned)),
            Encoder::Natural(json) => match value {
                Value::Null => Ok(None),
                Value::Bytes(bytes) => Ok(Some(Cow::Borrowed(bytes))),
                Value::String(text) => Ok(Some(Cow::Borrowed(text.as_bytes()))),
                other => Ok(json.from_connect_data(topic, None, other)?.map(Cow::Owned)),
            },
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Encoder::Converter(_, class) if *class == crate::converters::json::CLASS => {
                "application/json"
            }
            Encoder::Converter(_, class) if *class == crate::converters::string::CLASS => {
                "text/plain; charset=utf-8"
            }
            Encoder::Natural(_) => "application/octet-stream",
            Encoder::Converter(..) => "application/octet-stream",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Value,
    Envelope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchFormat {
    JsonArray,
    Ndjson,
}

/// The parsed configuration of a task.
struct Settings {
    url: Pattern,
    missing: Missing,
    method: reqwest::Method,
    headers: HeaderMap,
    forward: Vec<(String, HeaderName)>,
    body: BodyFormat,
    batch_max: usize,
    batch_format: BatchFormat,
    timeout: Duration,
    success: StatusSet,
    retry: StatusSet,
    backoff_initial: Duration,
    backoff_max: Duration,
    respect_retry_after: bool,
    max_retries: Option<u32>,
    qos: Qos,
    max_in_flight: usize,
    max_queued: usize,
    creation_header: String,
    ttl_header: String,
    default_ttl_ms: i64,
    key: Encoder,
    value: Encoder,
}

fn ms(parsed: &ParsedConfig, name: &str) -> Duration {
    Duration::from_millis(parsed.long(name).unwrap_or(0).max(0) as u64)
}

impl Settings {
    fn new(config: &Config) -> Result<Settings, ConnectError> {
        let parsed = config_def().parse(config).map_err(ConnectError::config)?;
        let text = |name: &str| parsed.string(name).unwrap_or_default().to_string();
        let url = Pattern::parse(&text(URL)).map_err(ConnectError::config)?;
        let missing = Missing::parse(&text(PATTERN_MISSING)).map_err(ConnectError::config)?;
        let method = match text(METHOD).to_ascii_uppercase().as_str() {
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            _ => reqwest::Method::POST,
        };
        let headers = parse_headers(parsed.list(HEADERS)).map_err(ConnectError::config)?;
        let forward = parsed
            .list(HEADERS_FORWARD)
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes())
                    .map(|header| (name.clone(), header))
                    .map_err(|_| {
                        ConnectError::config(format!(
                            "Invalid value {name} for configuration {HEADERS_FORWARD}: not an HTTP header name"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status = |name: &str| StatusSet::parse(&text(name)).map_err(ConnectError::config);
        let max_retries = parsed.int(RETRY_MAX_ATTEMPTS).unwrap_or(-1);
        Ok(Settings {
            url,
            missing,
            method,
            headers,
            forward,
            body: if text(BODY_FORMAT).eq_ignore_ascii_case("envelope") {
                BodyFormat::Envelope
            } else {
                BodyFormat::Value
            },
            batch_max: parsed.int(BATCH_MAX_RECORDS).unwrap_or(1).max(1) as usize,
            batch_format: if text(BATCH_FORMAT).eq_ignore_ascii_case("ndjson") {
                BatchFormat::Ndjson
            } else {
                BatchFormat::JsonArray
            },
            timeout: ms(&parsed, TIMEOUT_MS),
            success: status(SUCCESS_STATUS)?,
            retry: status(RETRY_STATUS)?,
            backoff_initial: ms(&parsed, BACKOFF_INITIAL_MS),
            backoff_max: ms(&parsed, BACKOFF_MAX_MS),
            respect_retry_after: parsed.boolean(RESPECT_RETRY_AFTER),
            max_retries: u32::try_from(max_retries).ok(),
            qos: Qos::parse(&text(QOS)).map_err(ConnectError::config)?,
            max_in_flight: parsed.int(MAX_IN_FLIGHT).unwrap_or(1).max(1) as usize,
            max_queued: parsed.int(MAX_QUEUED).unwrap_or(1000).max(1) as usize,
            creation_header: text(EXPIRY_CREATION_HEADER),
            ttl_header: text(EXPIRY_TTL_HEADER),
            default_ttl_ms: parsed.long(EXPIRY_DEFAULT_TTL_MS).unwrap_or(0),
            key: Encoder::new(config, "key.converter", true)?,
            value: Encoder::new(config, "value.converter", false)?,
        })
    }

    fn content_type(&self) -> &'static str {
        if self.batch_max > 1 {
            match self.batch_format {
                BatchFormat::JsonArray => "application/json",
                BatchFormat::Ndjson => "application/x-ndjson",
            }
        } else {
            match self.body {
                BodyFormat::Envelope => "application/json",
                BodyFormat::Value => self.value.content_type(),
            }
        }
    }

    /// Appends one record's body element (a value or an envelope) to `out`; `embed` writes
    /// a value as JSON (batches) instead of raw bytes.
    fn push_element(
        &self,
        out: &mut Vec<u8>,
        record: &ConnectRecord,
        embed: bool,
        one_line: bool,
    ) -> Result<(), ConnectError> {
        let value =
            self.value
                .encode(&record.topic, record.value_schema.as_deref(), &record.value)?;
        match self.body {
            BodyFormat::Value if !embed => {
                out.extend_from_slice(value.as_deref().unwrap_or_default());
            }
            BodyFormat::Value => push_embedded(out, value.as_deref(), one_line),
            BodyFormat::Envelope => {
                let key =
                    self.key
                        .encode(&record.topic, record.key_schema.as_deref(), &record.key)?;
                out.extend_from_slice(b"{\"topic\":");
                let _ = serde_json::to_writer(&mut *out, &record.topic);
                out.extend_from_slice(b",\"partition\":");
                push_number(out, record.kafka_partition.map(i64::from));
                out.extend_from_slice(b",\"offset\":");
                push_number(out, record.kafka_offset);
                out.extend_from_slice(b",\"timestamp\":");
                push_number(out, record.timestamp);
                out.extend_from_slice(b",\"key\":");
                push_embedded(out, key.as_deref(), true);
                out.extend_from_slice(b",\"value\":");
                push_embedded(out, value.as_deref(), true);
                out.extend_from_slice(b",\"headers\":[");
                for (i, header) in record.headers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"key\":");
                    let _ = serde_json::to_writer(&mut *out, &header.key);
                    out.extend_from_slice(b",\"value\":");
                    match header_text(&header.value) {
                        Some(text) => {
                            let _ = serde_json::to_writer(&mut *out, &*text);
                        }
                        None => out.extend_from_slice(b"null"),
                    }
                    out.push(b'}');
                }
                out.extend_from_slice(b"]}");
            }
        }
        Ok(())
    }
}

fn push_number(out: &mut Vec<u8>, number: Option<i64>) {
    match number {
        Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// A header value as text: strings as they are, bytes as UTF-8 (else base64), others in
/// Java's text form (c.5); None for null.
fn header_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Bytes(bytes) => Some(match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }),
        other => Some(Cow::Owned(crate::render::render_value(other))),
    }
}

/// Posts Kafka records to an HTTP endpoint (CONNECT.md g.2).
#[derive(Debug, Default)]
pub struct HttpSinkConnector {
    config: Config,
}

#[async_trait]
impl Connector for HttpSinkConnector {
    fn connector_type(&self) -> ConnectorType {
        ConnectorType::Sink
    }

    fn config_def(&self) -> ConfigDef {
        config_def()
    }

    async fn start(&mut self, config: &Config) -> Result<(), ConnectError> {
        Settings::new(config)?;
        self.config = config.clone();
        Ok(())
    }

    /// `tasks.max` copies: each task is one member of group `connect-<name>` (Ditto's
    /// consumer count); tasks beyond the partition count stay idle.
    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        vec![self.config.clone(); max_tasks.max(1)]
    }

    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        Some(Box::new(HttpSinkTask::default()))
    }
}

/// What every partition worker of a task shares.
struct Shared {
    settings: Settings,
    content_type: HeaderValue,
    client: reqwest::Client,
    counters: Arc<TaskCounters>,
    control: Arc<SinkControl>,
    reporter: Arc<dyn ErrantRecordReporter>,
    /// The failure that fails the task (a permanent failure under `errors.tolerance=none`).
    failure: Mutex<Option<ConnectError>>,
}

impl Shared {
    fn failed(&self) -> bool {
        lock(&self.failure).is_some()
    }
}

/// One partition's records.
struct Lane {
    partition: TopicPartition,
    state: Mutex<LaneState>,
    wake: Notify,
}

#[derive(Default)]
struct LaneState {
    /// Records taken by `put`, not yet sent.
    queue: VecDeque<ConnectRecord>,
    /// Offsets taken by `put` and not yet committable, in order, with "resolved".
    outstanding: VecDeque<(i64, bool)>,
    /// The offset after the last record that left `outstanding`.
    committable: Option<i64>,
    /// Requests being retried right now.
    retrying: usize,
    /// Whether the task asked the runtime to pause this partition.
    paused: bool,
}

impl Lane {
    /// Marks `offsets` resolved and drops the resolved head of `outstanding`.
    fn resolve(&self, offsets: impl IntoIterator<Item = i64>) {
        let mut state = lock(&self.state);
        for offset in offsets {
            // Offsets are increasing within a partition: the front is the common case.
            let index = match state.outstanding.front() {
                Some((front, _)) if *front == offset => Some(0),
                _ => state
                    .outstanding
                    .binary_search_by_key(&offset, |(o, _)| *o)
                    .ok(),
            };
            if let Some(index) = index {
                state.outstanding[index].1 = true;
            }
        }
        while let Some(&(offset, true)) = state.outstanding.front() {
            state.outstanding.pop_front();
            state.committable = Some(offset + 1);
        }
    }

    /// Pauses the partition while a request is retried or the queue is full; resumes when
    /// neither holds and the queue is down to half.
    fn update_pause(state: &mut LaneState, partition: &TopicPartition, shared: &Shared) {
        let max = shared.settings.max_queued;
        let queued = state.queue.len();
        let want = state.retrying > 0 || queued >= max || (state.paused && queued > max / 2);
        if want != state.paused {
            state.paused = want;
            if want {
                shared.control.pause(std::slice::from_ref(partition));
            } else {
                shared.control.resume(std::slice::from_ref(partition));
            }
        }
    }
}

/// A running partition worker.
struct LaneHandle {
    lane: Arc<Lane>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl LaneHandle {
    fn start(shared: &Arc<Shared>, partition: TopicPartition) -> LaneHandle {
        let lane = Arc::new(Lane {
            partition,
            state: Mutex::new(LaneState::default()),
            wake: Notify::new(),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_lane(shared.clone(), lane.clone(), stop.clone()));
        LaneHandle { lane, stop, task }
    }

    fn shut(self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// The task of [`HttpSinkConnector`]: one delivery worker per assigned partition.
#[derive(Default)]
pub struct HttpSinkTask {
    shared: Option<Arc<Shared>>,
    lanes: HashMap<TopicPartition, LaneHandle>,
}

impl std::fmt::Debug for HttpSinkTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSinkTask")
            .field("partitions", &self.lanes.len())
            .finish_non_exhaustive()
    }
}

impl HttpSinkTask {
    fn shared(&self) -> Result<&Arc<Shared>, ConnectError> {
        self.shared
            .as_ref()
            .ok_or_else(|| ConnectError::connect("HttpSinkTask is not started"))
    }

    fn lane(&mut self, topic: &str, partition: i32) -> Result<Arc<Lane>, ConnectError> {
        let shared = self.shared()?.clone();
        let key = TopicPartition::new(topic, partition);
        Ok(self
            .lanes
            .entry(key.clone())
            .or_insert_with(|| LaneHandle::start(&shared, key))
            .lane
            .clone())
    }

    fn check_failure(&self) -> Result<(), ConnectError> {
        match self.shared.as_ref().and_then(|s| lock(&s.failure).clone()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Appends a run of records of one partition to its queue.
    fn enqueue(&self, lane: &Lane, run: &mut Vec<ConnectRecord>) -> Result<(), ConnectError> {
        if run.is_empty() {
            return Ok(());
        }
        let shared = self.shared()?;
        let mut state = lock(&lane.state);
        for record in run.drain(..) {
            state
                .outstanding
                .push_back((record.kafka_offset.unwrap_or(-1), false));
            state.queue.push_back(record);
        }
        Lane::update_pause(&mut state, &lane.partition, shared);
        drop(state);
        lane.wake.notify_one();
        Ok(())
    }
}

#[async_trait]
impl SinkTask for HttpSinkTask {
    fn reports_errant_records_after_put(&self) -> bool {
        true
    }

    async fn start(
        &mut self,
        config: &Config,
        context: SinkTaskContext,
    ) -> Result<(), ConnectError> {
        let settings = Settings::new(config)?;
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A 3xx is an answer judged by success.status/retry.status: following it would
            // turn a POST into a bodyless GET and count the record delivered.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConnectError::connect(format!("Could not build the HTTP client: {e}")))?;
        let content_type = settings
            .headers
            .get(CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(settings.content_type()));
        self.shared = Some(Arc::new(Shared {
            settings,
            content_type,
            client,
            counters: context.counters,
            control: context.control,
            reporter: context.errant_record_reporter,
            failure: Mutex::new(None),
        }));
        Ok(())
    }

    async fn open(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        for partition in partitions {
            self.lane(&partition.topic, partition.partition)?;
        }
        Ok(())
    }

    /// Queues `records` per partition and returns at once; fails with the error of an
    /// earlier permanent failure under `errors.tolerance=none` (also for an empty batch,
    /// which the runtime hands over when a poll returned nothing).
    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError> {
        self.check_failure()?;
        if records.is_empty() {
            return Ok(());
        }
        self.shared()?
            .counters
            .add(Counter::Accepted, records.len() as u64);
        let mut current: Option<(Arc<Lane>, String, i32)> = None;
        let mut run = Vec::new();
        for record in records {
            let partition = record.kafka_partition.unwrap_or(-1);
            let same = current
                .as_ref()
                .is_some_and(|(_, topic, p)| *p == partition && *topic == record.topic);
            if !same {
                if let Some((lane, _, _)) = &current {
                    self.enqueue(lane, &mut run)?;
                }
                let lane = self.lane(&record.topic, partition)?;
                current = Some((lane, record.topic.clone(), partition));
            }
            run.push(record);
        }
        if let Some((lane, _, _)) = &current {
            self.enqueue(lane, &mut run)?;
        }
        Ok(())
    }

    /// Per partition: the offset after the highest contiguous resolved record; the
    /// runtime's offset when every record `put` took is resolved; partitions with nothing
    /// resolved are left out.
    async fn pre_commit(
        &mut self,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<HashMap<TopicPartition, i64>, ConnectError> {
        let mut allowed = HashMap::with_capacity(offsets.len());
        for (partition, &consumed) in offsets {
            let committable = match self.lanes.get(partition) {
                None => Some(consumed),
                Some(handle) => {
                    let state = lock(&handle.lane.state);
                    if state.outstanding.is_empty() {
                        Some(consumed)
                    } else {
                        state.committable
                    }
                }
            };
            if let Some(offset) = committable {
                allowed.insert(partition.clone(), offset);
            }
        }
        Ok(allowed)
    }

    /// Stops the workers of `partitions`; records in flight stay uncommitted.
    async fn close(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        for partition in partitions {
            if let Some(handle) = self.lanes.remove(partition) {
                let paused = std::mem::take(&mut lock(&handle.lane.state).paused);
                if paused {
                    if let Some(shared) = &self.shared {
                        shared.control.resume(std::slice::from_ref(partition));
                    }
                }
                handle.shut();
            }
        }
        Ok(())
    }

    async fn stop(&mut self) {
        for (_, handle) in self.lanes.drain() {
            handle.shut();
        }
    }
}

/// One request's records and their common URL.
struct Batch {
    url: String,
    records: Vec<ConnectRecord>,
}

/// The partition worker: takes batches off the queue in order and delivers them.
async fn run_lane(shared: Arc<Shared>, lane: Arc<Lane>, stop: CancellationToken) {
    let window = Arc::new(Semaphore::new(shared.settings.max_in_flight));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        if shared.failed() {
            return;
        }
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            permit = window.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let batch = loop {
            if let Some(batch) = take_batch(&shared, &lane).await {
                break batch;
            }
            if shared.failed() {
                return;
            }
            if !lock(&lane.state).queue.is_empty() {
                // Everything taken expired or failed: take the next records.
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = lane.wake.notified() => {}
            }
        };
        while in_flight.try_join_next().is_some() {}
        if shared.settings.max_in_flight == 1 {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = deliver(&shared, &lane, batch, &stop) => {}
            }
            drop(permit);
        } else {
            let (shared, lane, stop) = (shared.clone(), lane.clone(), stop.clone());
            in_flight.spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = deliver(&shared, &lane, batch, &stop) => {}
                }
                drop(permit);
            });
        }
    }
}

/// The next batch: up to `batch.max.records` queued records with the same URL, expired
/// records resolved and counted on the way; None when the queue is empty.
async fn take_batch(shared: &Shared, lane: &Lane) -> Option<Batch> {
    let settings = &shared.settings;
    let now = chrono::Utc::now().timestamp_millis();
    let mut records = Vec::new();
    let mut expired = Vec::new();
    {
        let mut state = lock(&lane.state);
        while records.len() < settings.batch_max {
            let Some(record) = state.queue.pop_front() else {
                break;
            };
            if is_expired(
                &record,
                &settings.creation_header,
                &settings.ttl_header,
                settings.default_ttl_ms,
                now,
            ) {
                expired.push(record.kafka_offset.unwrap_or(-1));
            } else {
                records.push(record);
            }
        }
        Lane::update_pause(&mut state, &lane.partition, shared);
    }
    if !expired.is_empty() {
        shared.counters.add(Counter::Expired, expired.len() as u64);
        lane.resolve(expired);
    }
    if records.is_empty() {
        return None;
    }
    // Render URLs; a batch ends at the first record with another URL. A record whose URL
    // cannot be rendered fails alone when it comes first.
    let mut url: Option<String> = None;
    let mut keep = records.len();
    let mut unrenderable = None;
    for (i, record) in records.iter().enumerate() {
        match settings
            .url
            .render(&record.topic, Some(record), settings.missing, &url_escape)
        {
            Ok(rendered) => {
                if url.is_none() {
                    url = Some(rendered);
                } else if url.as_deref() != Some(rendered.as_str()) {
                    keep = i;
                    break;
                }
            }
            Err(error) => {
                if i == 0 {
                    unrenderable = Some(error);
                }
                keep = i.max(1);
                break;
            }
        }
        if settings.url.is_fixed() {
            break;
        }
    }
    if keep < records.len() {
        let rest: Vec<ConnectRecord> = records.drain(keep..).collect();
        requeue(lane, rest);
    }
    if let Some(error) = unrenderable {
        fail_records(shared, lane, &records, error).await;
        return None;
    }
    url.map(|url| Batch { url, records })
}

/// Puts records taken off the queue back at its front, in order.
fn requeue(lane: &Lane, records: Vec<ConnectRecord>) {
    if records.is_empty() {
        return;
    }
    let mut state = lock(&lane.state);
    for record in records.into_iter().rev() {
        state.queue.push_front(record);
    }
    drop(state);
    lane.wake.notify_one();
}

/// How one attempt ended.
enum Outcome {
    Delivered,
    Retriable(ConnectError, Option<Duration>),
    Permanent(ConnectError),
}

/// Sends `body` once and classifies the answer.
async fn attempt(shared: &Shared, url: &str, body: &bytes::Bytes, headers: &HeaderMap) -> Outcome {
    let settings = &shared.settings;
    let request = shared
        .client
        .request(settings.method.clone(), url)
        .headers(headers.clone())
        .body(body.clone());
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = if settings.respect_retry_after {
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now().timestamp_millis()))
            } else {
                None
            };
            // Read the answer so that the connection can be reused.
            let _ = response.bytes().await;
            if settings.success.contains(status) {
                Outcome::Delivered
            } else if settings.retry.contains(status) {
                Outcome::Retriable(
                    ConnectError::retriable(format!("HTTP {status} from {}", redact(url))),
                    retry_after,
                )
            } else {
                Outcome::Permanent(ConnectError::connect(format!(
                    "HTTP {status} from {}",
                    redact(url)
                )))
            }
        }
        Err(error) if error.is_timeout() || error.is_connect() || error.is_request() => {
            Outcome::Retriable(
                ConnectError::retriable(format!(
                    "HTTP request to {} failed: {}",
                    redact(url),
                    if error.is_timeout() {
                        "timed out"
                    } else {
                        "could not connect or send"
                    }
                )),
                None,
            )
        }
        Err(error) => Outcome::Permanent(ConnectError::connect(format!(
            "HTTP request to {} failed: {}",
            redact(url),
            if error.is_builder() {
                "invalid request"
            } else {
                "error"
            }
        ))),
    }
}

/// The URL without its query (which may carry tokens) for error texts.
fn redact(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

/// Builds the request headers of `batch`: configured, forwarded, content type.
fn request_headers(shared: &Shared, first: &ConnectRecord) -> HeaderMap {
    let settings = &shared.settings;
    let mut headers = settings.headers.clone();
    headers.insert(CONTENT_TYPE, shared.content_type.clone());
    for (key, name) in &settings.forward {
        if let Some(text) = first
            .headers
            .last_with_name(key)
            .and_then(|h| header_text(&h.value))
        {
            if let Ok(value) = HeaderValue::from_str(&text) {
                headers.insert(name.clone(), value);
            }
        }
    }
    headers
}

/// Delivers one batch: encodes it, sends it, retries in place, and resolves or fails its
/// records.
async fn deliver(shared: &Shared, lane: &Lane, batch: Batch, stop: &CancellationToken) {
    let settings = &shared.settings;
    let mut records = batch.records;
    let mut body = Vec::new();
    let batched = settings.batch_max > 1;
    let one_line = settings.batch_format == BatchFormat::Ndjson;
    let mut bad = Vec::new();
    let mut good = Vec::with_capacity(records.len());
    for record in records.drain(..) {
        let mark = body.len();
        if batched && settings.batch_format == BatchFormat::JsonArray {
            body.push(if good.is_empty() { b'[' } else { b',' });
        }
        match settings.push_element(&mut body, &record, batched, one_line) {
            Ok(()) => {
                if batched && one_line {
                    body.push(b'\n');
                }
                good.push(record);
            }
            Err(error) => {
                body.truncate(mark);
                bad.push((record, error));
            }
        }
    }
    if batched && settings.batch_format == BatchFormat::JsonArray && !good.is_empty() {
        body.push(b']');
    }
    for (record, error) in bad {
        fail_records(shared, lane, std::slice::from_ref(&record), error).await;
    }
    let Some(first) = good.first() else {
        return;
    };
    if shared.failed() {
        return;
    }
    let body = bytes::Bytes::from(body);
    let headers = request_headers(shared, first);
    let count = good.len() as u64;
    let offsets = |records: &[ConnectRecord]| {
        records
            .iter()
            .map(|r| r.kafka_offset.unwrap_or(-1))
            .collect::<Vec<_>>()
    };
    if settings.qos == Qos::AtMostOnce {
        lane.resolve(offsets(&good));
        match attempt(shared, &batch.url, &body, &headers).await {
            Outcome::Delivered => shared.counters.add(Counter::Delivered, count),
            Outcome::Retriable(error, _) | Outcome::Permanent(error) => {
                tracing::warn!(partition = %lane.partition, error = %error, "HttpSink qos 0 request failed; records dropped");
                shared.counters.add(Counter::Failed, count);
            }
        }
        return;
    }
    let mut retry = 0u32;
    let mut retrying = false;
    let set_retrying = |on: bool| {
        let mut state = lock(&lane.state);
        if on {
            state.retrying += 1;
        } else {
            state.retrying = state.retrying.saturating_sub(1);
        }
        Lane::update_pause(&mut state, &lane.partition, shared);
    };
    let error = loop {
        if shared.failed() {
            if retrying {
                set_retrying(false);
            }
            return;
        }
        match attempt(shared, &batch.url, &body, &headers).await {
            Outcome::Delivered => {
                if retrying {
                    set_retrying(false);
                }
                shared.counters.add(Counter::Delivered, count);
                lane.resolve(offsets(&good));
                return;
            }
            Outcome::Retriable(error, retry_after)
                if settings.max_retries.is_none_or(|max| retry < max) =>
            {
                if !retrying {
                    retrying = true;
                    set_retrying(true);
                }
                let wait = match retry_after {
                    Some(wait) => wait,
                    None => backoff(retry, settings.backoff_initial, settings.backoff_max),
                };
                tracing::debug!(partition = %lane.partition, %error, ?wait, "HttpSink retrying");
                retry = retry.saturating_add(1);
                tokio::select! {
                    _ = stop.cancelled() => {
                        set_retrying(false);
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
                // A record that expired while its request was retried is not sent again: it
                // is counted `expired` and committed; the live rest of the batch goes back to
                // the front of the queue, to be batched and encoded again without it.
                let now = chrono::Utc::now().timestamp_millis();
                let expired = |record: &ConnectRecord| {
                    is_expired(
                        record,
                        &settings.creation_header,
                        &settings.ttl_header,
                        settings.default_ttl_ms,
                        now,
                    )
                };
                if good.iter().any(expired) {
                    let (gone, live): (Vec<_>, Vec<_>) = good.into_iter().partition(expired);
                    set_retrying(false);
                    shared.counters.add(Counter::Expired, gone.len() as u64);
                    lane.resolve(offsets(&gone));
                    requeue(lane, live);
                    return;
                }
                shared.counters.add(Counter::Retried, count);
            }
            Outcome::Retriable(error, _) => {
                break ConnectError::connect(format!(
                    "Giving up after {retry} retries: {}",
                    error.message
                ))
                .with_cause(error)
            }
            Outcome::Permanent(error) => break error,
        }
    };
    if retrying {
        set_retrying(false);
    }
    fail_records(shared, lane, &good, error).await;
}

/// Hands permanently failed records to the errant record reporter (TASK_PUT): resolved
/// when it took them; under `errors.tolerance=none` the task fails and the partition stops
/// at the first of them.
async fn fail_records(
    shared: &Shared,
    lane: &Lane,
    records: &[ConnectRecord],
    error: ConnectError,
) {
    if shared.settings.qos == Qos::AtMostOnce {
        shared.counters.add(Counter::Failed, records.len() as u64);
        lane.resolve(records.iter().map(|r| r.kafka_offset.unwrap_or(-1)));
        return;
    }
    for record in records {
        match shared.reporter.report(record, error.clone()).await {
            Ok(()) => lane.resolve([record.kafka_offset.unwrap_or(-1)]),
            Err(failure) => {
                tracing::error!(partition = %lane.partition, offset = record.kafka_offset.unwrap_or(-1), "HttpSink record failed permanently; the task fails");
                lock(&shared.failure).get_or_insert(failure);
                // Wake the runtime's loop so that its next `put` fails the task soon.
                shared.control.request_commit();
                return;
            }
        }
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
    use crate::data::Headers;

    #[test]
    fn status_sets_parse_codes_and_ranges() {
        let set = StatusSet::parse("408,425,429,500-599").unwrap();
        for code in [408, 425, 429, 500, 503, 599] {
            assert!(set.contains(code), "{code}");
        }
        for code in [200, 400, 404, 499] {
            assert!(!set.contains(code), "{code}");
        }
        assert!(StatusSet::parse("200-299").unwrap().contains(204));
        assert!(StatusSet::parse("299-200").is_err());
        assert!(StatusSet::parse("abc").is_err());
        assert!(StatusSet::parse("99").is_err());
    }

    #[test]
    fn tokens_are_url_encoded() {
        assert_eq!(url_escape("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(url_escape("a/b c?d=é"), "a%2Fb%20c%3Fd%3D%C3%A9");
        let mut record = record_at(3, b"v");
        record.key = Value::String("user 1/x".into());
        let url = Pattern::parse("http://127.0.0.1:9000/things/${key}?p=${partition}")
            .unwrap()
            .render("t", Some(&record), Missing::Fail, &url_escape)
            .unwrap();
        assert_eq!(url, "http://127.0.0.1:9000/things/user%201%2Fx?p=0");
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("1", 0), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", 0),
            Some(Duration::from_secs(120))
        );
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let at = chrono::DateTime::parse_from_rfc2822(date)
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            parse_retry_after(date, at - 2500),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after(date, at + 1000), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-1", 0), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_cap() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..200 {
            assert!(backoff(0, initial, max) <= Duration::from_millis(100));
            assert!(backoff(2, initial, max) <= Duration::from_millis(400));
            assert!(backoff(30, initial, max) <= max);
            assert!(backoff(u32::MAX, initial, max) <= max);
        }
        assert_eq!(backoff(5, Duration::ZERO, max), Duration::ZERO);
    }

    fn record_at(offset: i64, value: &[u8]) -> ConnectRecord {
        ConnectRecord {
            topic: "t".into(),
            kafka_partition: Some(0),
            value: Value::Bytes(value.to_vec()),
            kafka_offset: Some(offset),
            ..ConnectRecord::default()
        }
    }

    fn with_headers(pairs: &[(&str, Value)]) -> ConnectRecord {
        let mut record = record_at(0, b"v");
        let mut headers = Headers::default();
        for (key, value) in pairs {
            headers.add(*key, None, value.clone());
        }
        record.headers = headers;
        record
    }

    #[test]
    fn expiry_follows_both_sides_of_the_boundary() {
        let now = 1_000_000;
        let expired = |record: &ConnectRecord, default_ttl| {
            is_expired(record, "creation-time", "ttl", default_ttl, now)
        };
        let created = Value::String((now - 10_000).to_string());
        let r = with_headers(&[
            ("creation-time", created.clone()),
            ("ttl", Value::String("1000".into())),
        ]);
        assert!(expired(&r, 0));
        let r = with_headers(&[
            ("creation-time", created.clone()),
            ("ttl", Value::String("60000".into())),
        ]);
        assert!(!expired(&r, 0));
        // Exactly at the ttl: not yet expired.
        let r = with_headers(&[
            ("creation-time", Value::Int64(now - 1000)),
            ("ttl", Value::Int64(1000)),
        ]);
        assert!(!expired(&r, 0));
        // Malformed values never drop a record.
        let r = with_headers(&[
            ("creation-time", Value::String("yesterday".into())),
            ("ttl", Value::String("1".into())),
        ]);
        assert!(!expired(&r, 1));
        let r = with_headers(&[
            ("creation-time", created.clone()),
            ("ttl", Value::Bytes(vec![0xff])),
        ]);
        assert!(!expired(&r, 1));
        // The default ttl applies without a ttl header; no ttl and no default: never.
        let r = with_headers(&[("creation-time", Value::Bytes(b"990000".to_vec()))]);
        assert!(expired(&r, 5000));
        assert!(!expired(&r, 0));
        // Without a creation header the record timestamp counts where the default ttl
        // applies; a ttl header alone never expires a record (both headers must parse).
        let mut r = with_headers(&[]);
        r.timestamp = Some(now - 101);
        assert!(expired(&r, 100));
        assert!(!expired(&r, 0));
        r.timestamp = None;
        assert!(!expired(&r, 100));
        let mut r = with_headers(&[("ttl", Value::String("100".into()))]);
        r.timestamp = Some(now - 101);
        assert!(!expired(&r, 0));
    }

    #[test]
    fn embedded_bytes_are_json_text_or_base64() {
        let embed = |bytes: Option<&[u8]>, one_line| {
            let mut out = Vec::new();
            push_embedded(&mut out, bytes, one_line);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(embed(None, false), "null");
        assert_eq!(embed(Some(br#"{"a":1}"#), false), r#"{"a":1}"#);
        assert_eq!(embed(Some(b"{\n\"a\": 1\n}"), true), r#"{"a":1}"#);
        assert_eq!(embed(Some(b"hello \"x\""), false), r#""hello \"x\"""#);
        assert_eq!(embed(Some(b""), false), r#""""#);
        assert_eq!(embed(Some(&[0xff, 0x00]), false), r#""/wA=""#);
    }

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut config = config_from(&[("http.url", "http://127.0.0.1:1/x")]);
        config.extend(config_from(extra));
        Settings::new(&config).unwrap()
    }

    #[test]
    fn envelope_and_batch_bodies() {
        let s = settings(&[
            ("body.format", "envelope"),
            (
                "value.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
        ]);
        let mut record = record_at(7, b"");
        record.value = Value::String("hi".into());
        record.key = Value::String("k1".into());
        record.timestamp = Some(1234);
        record.headers.add("h", None, Value::Bytes(b"x".to_vec()));
        let mut out = Vec::new();
        s.push_element(&mut out, &record, false, false).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"topic":"t","partition":0,"offset":7,"timestamp":1234,
                "key":"k1","value":"hi","headers":[{"key":"h","value":"x"}]})
        );
        assert_eq!(s.content_type(), "application/json");

        let s = settings(&[]);
        assert_eq!(s.content_type(), "application/octet-stream");
        let mut out = Vec::new();
        s.push_element(&mut out, &record_at(0, b"raw"), false, false)
            .unwrap();
        assert_eq!(out, b"raw");
        let s = settings(&[("batch.max.records", "10"), ("batch.format", "ndjson")]);
        assert_eq!(s.content_type(), "application/x-ndjson");
        assert!(Settings::new(&config_from(&[("http.url", "x${nope}")])).is_err());
        assert!(Settings::new(&config_from(&[
            ("http.url", "http://h/"),
            ("http.headers", "NoColon")
        ]))
        .is_err());
        assert!(Settings::new(&config_from(&[("http.url", "http://h/"), ("qos", "2")])).is_err());
    }

    /// Path and body of each request a [`Peer`] received.
    type Requests = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// A loopback HTTP peer for the task tests: answers with the scripted statuses (then
    /// 200) and records each request's path and body.
    struct Peer {
        url: String,
        seen: Requests,
        stop: CancellationToken,
    }

    #[derive(Clone)]
    struct PeerState {
        seen: Requests,
        script: Arc<Mutex<VecDeque<u16>>>,
    }

    async fn answer(
        axum::extract::State(state): axum::extract::State<PeerState>,
        uri: axum::http::Uri,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        lock(&state.seen).push((uri.path().to_string(), body.to_vec()));
        let status = lock(&state.script).pop_front().unwrap_or(200);
        axum::http::StatusCode::from_u16(status).unwrap()
    }

    async fn peer(script: &[u16]) -> Peer {
        let state = PeerState {
            seen: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
        });
        Peer {
            url,
            seen: state.seen,
            stop,
        }
    }

    /// A reporter that takes every record (tolerance all) or refuses (tolerance none).
    struct Reporter {
        tolerate: bool,
        reported: Mutex<Vec<i64>>,
    }

    #[async_trait]
    impl ErrantRecordReporter for Reporter {
        async fn report(
            &self,
            record: &ConnectRecord,
            error: ConnectError,
        ) -> Result<(), ConnectError> {
            lock(&self.reported).push(record.kafka_offset.unwrap_or(-1));
            if self.tolerate {
                Ok(())
            } else {
                Err(ConnectError::connect("Tolerance exceeded in error handler").with_cause(error))
            }
        }
    }

    async fn started(
        url: &str,
        extra: &[(&str, &str)],
        tolerate: bool,
    ) -> (HttpSinkTask, Arc<Reporter>, SinkTaskContext) {
        let mut config = config_from(&[
            ("http.url", url),
            ("retry.backoff.initial.ms", "20"),
            ("retry.backoff.max.ms", "100"),
        ]);
        config.extend(config_from(extra));
        let reporter = Arc::new(Reporter {
            tolerate,
            reported: Mutex::default(),
        });
        let context = SinkTaskContext {
            errant_record_reporter: reporter.clone(),
            counters: Arc::default(),
            control: Arc::default(),
        };
        let mut task = HttpSinkTask::default();
        task.start(&config, context.clone()).await.unwrap();
        (task, reporter, context)
    }

    async fn until(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "gave up on {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[tokio::test]
    async fn retries_in_place_keep_order_and_commit_after_the_ack() {
        let peer = peer(&[503, 503]).await;
        let url = format!("{}/things/${{offset}}", peer.url);
        let (mut task, _, context) = started(&url, &[], true).await;
        task.put(vec![record_at(0, b"a"), record_at(1, b"b")])
            .await
            .unwrap();
        let offsets: HashMap<TopicPartition, i64> = [(tp(), 2)].into();
        until("both delivered", || {
            context.counters.get(Counter::Delivered) == 2
        })
        .await;
        let seen = lock(&peer.seen).clone();
        let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/things/0", "/things/0", "/things/0", "/things/1"]);
        assert_eq!(seen[3].1, b"b");
        assert_eq!(context.counters.get(Counter::Retried), 2);
        assert_eq!(context.counters.get(Counter::Accepted), 2);
        assert_eq!(task.pre_commit(&offsets).await.unwrap(), offsets);
        // The partition was paused while retrying and is resumed.
        assert!(context.control.paused().is_empty());
        task.stop().await;
        peer.stop.cancel();
    }

    #[tokio::test]
    async fn permanent_failure_without_tolerance_fails_the_next_put() {
        let peer = peer(&[200, 400]).await;
        let (mut task, reporter, _) = started(&peer.url, &[], false).await;
        task.put(vec![
            record_at(5, b"a"),
            record_at(6, b"b"),
            record_at(7, b"c"),
        ])
        .await
        .unwrap();
        until("the failure", || !lock(&reporter.reported).is_empty()).await;
        let error = task.put(Vec::new()).await.unwrap_err();
        assert_eq!(error.message, "Tolerance exceeded in error handler");
        assert_eq!(*lock(&reporter.reported), [6]);
        // Committable: past record 5 only; record 7 was never sent.
        let offsets: HashMap<TopicPartition, i64> = [(tp(), 8)].into();
        assert_eq!(task.pre_commit(&offsets).await.unwrap(), [(tp(), 6)].into());
        assert_eq!(lock(&peer.seen).len(), 2);
        task.stop().await;
        peer.stop.cancel();
    }

    #[tokio::test]
    async fn tolerated_failures_and_expired_records_are_committed() {
        let peer = peer(&[400]).await;
        let (mut task, reporter, context) = started(
            &peer.url,
            &[("message.expiry.default.ttl.ms", "1000")],
            true,
        )
        .await;
        let now = chrono::Utc::now().timestamp_millis();
        let mut old = record_at(1, b"old");
        old.timestamp = Some(now - 10_000);
        task.put(vec![record_at(0, b"bad"), old, record_at(2, b"good")])
            .await
            .unwrap();
        until("all resolved", || {
            context.counters.get(Counter::Delivered) == 1
        })
        .await;
        assert_eq!(*lock(&reporter.reported), [0]);
        assert_eq!(context.counters.get(Counter::Expired), 1);
        let bodies: Vec<Vec<u8>> = lock(&peer.seen).iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(bodies, [b"bad".to_vec(), b"good".to_vec()]);
        let offsets: HashMap<TopicPartition, i64> = [(tp(), 3)].into();
        assert_eq!(task.pre_commit(&offsets).await.unwrap(), offsets);
        task.stop().await;
        peer.stop.cancel();
    }

    #[tokio::test]
    async fn batches_are_json_arrays_of_one_partition() {
        let peer = peer(&[]).await;
        let (mut task, _, context) = started(
            &peer.url,
            &[
                ("batch.max.records", "2"),
                (
                    "value.converter",
                    "org.apache.kafka.connect.storage.StringConverter",
                ),
            ],
            true,
        )
        .await;
        let mut records: Vec<ConnectRecord> = (0..3)
            .map(|i| {
                let mut r = record_at(i, b"");
                r.value = Value::String(format!("v{i}"));
                r
            })
            .collect();
        let mut other = records[0].clone();
        other.kafka_partition = Some(1);
        records.push(other);
        task.put(records).await.unwrap();
        until("4 delivered", || {
            context.counters.get(Counter::Delivered) == 4
        })
        .await;
        let mut bodies: Vec<String> = lock(&peer.seen)
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        bodies.sort();
        assert_eq!(bodies, [r#"["v0","v1"]"#, r#"["v0"]"#, r#"["v2"]"#]);
        task.stop().await;
        peer.stop.cancel();
    }
}
