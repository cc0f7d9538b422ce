//! The REST API (Kafka Connect 3.7), on axum (CONNECT.md a).
//!
//! Every endpoint R1-R27 of CONNECT.md a.3: connectors, their status, tasks, target states,
//! restarts, topics, offsets (KIP-875), plugins and validation, loggers (KIP-495). Errors
//! answer `{"error_code": <status>, "message": "..."}`.
//!
//! References: Kafka's `ConnectorsResource`, `ConnectorPluginsResource`, `LoggingResource`,
//! `RootResource`, `ConnectExceptionMapper` (Kafka 3.7).

mod loggers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value as JsonValue};
use tokio_util::sync::CancellationToken;

use crate::config_def::{ConfigKey, Default as KeyDefault, KeyValidation};
use crate::connector::{Config, PartitionOffset};
use crate::data::ConnectError;
use crate::herder::{
    parse_initial_state, plugin_config, ConfigInfos, ConnectorInfo, ConnectorStateInfo, Herder,
    HerderError, StateInfo,
};
use crate::plugins::{self, PluginType, PLUGIN_VERSION};
use crate::runtime::TargetState;
use crate::worker_config::WorkerConfig;

pub use loggers::LogHook;
use loggers::Loggers;

/// How long an operation that waits on the worker may take before the answer is 500
/// `Request timed out` (Kafka's `RestServer.DEFAULT_REST_REQUEST_TIMEOUT_MS`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// An error answer: status and Kafka's message.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message.into(),
        )
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
}

impl From<HerderError> for ApiError {
    fn from(error: HerderError) -> ApiError {
        ApiError::new(error.status, error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error_code": self.0.as_u16(), "message": self.1})),
        )
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

#[derive(Clone)]
struct AppState {
    herder: Arc<Herder>,
    base_url: String,
    loggers: Arc<Loggers>,
    tracking: bool,
    allow_reset: bool,
    allow_origin: String,
    allow_methods: String,
}

/// The running REST server (Kafka's `ConnectRestServer`).
#[derive(Debug)]
pub struct RestServer {
    local_addr: SocketAddr,
    base_url: String,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RestServer {
    /// Binds every listener of worker `listeners` (`http://host:port`; empty host = all
    /// interfaces, port 0 = any) and serves the API of `herder`. `log_hook` receives
    /// `tracing` filter directives when `/admin/loggers` changes a level. The herder's
    /// worker id becomes the advertised `host:port`. Errors: a listener that is not
    /// `http://host:port` or cannot be bound.
    pub async fn start(
        herder: Arc<Herder>,
        config: &WorkerConfig,
        log_hook: Option<LogHook>,
    ) -> Result<RestServer, ConnectError> {
        let mut listeners = Vec::new();
        for listener in config.listeners() {
            let address = listener
                .trim()
                .strip_prefix("http://")
                .ok_or_else(|| {
                    ConnectError::config(format!(
                        "Invalid value {listener} for configuration listeners: only http:// listeners are supported"
                    ))
                })?
                .trim_end_matches('/');
            let (host, port) = address.rsplit_once(':').ok_or_else(|| {
                ConnectError::config(format!("Could not parse listener {listener}"))
            })?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            let port: u16 = port.parse().map_err(|_| {
                ConnectError::config(format!("Could not parse listener {listener}"))
            })?;
            let socket = tokio::net::TcpListener::bind((host, port))
                .await
                .map_err(|e| ConnectError::connect(format!("Unable to bind {listener}: {e}")))?;
            listeners.push(socket);
        }
        let first = listeners
            .first()
            .ok_or_else(|| ConnectError::config("No listeners configured"))?;
        let local_addr = first
            .local_addr()
            .map_err(|e| ConnectError::connect(e.to_string()))?;
        let parsed = config.parsed();
        let host = parsed
            .string("rest.advertised.host.name")
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                if local_addr.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    local_addr.ip().to_string()
                }
            });
        let port = parsed
            .int("rest.advertised.port")
            .map(|p| p as u16)
            .unwrap_or(local_addr.port());
        let base_url = format!("http://{local_addr}");
        herder.set_worker_id(format!("{host}:{port}"));
        let state = AppState {
            herder,
            base_url: base_url.clone(),
            loggers: Arc::new(Loggers::new(log_hook)),
            tracking: parsed.boolean("topic.tracking.enable"),
            allow_reset: parsed.boolean("topic.tracking.allow.reset"),
            allow_origin: parsed
                .string("access.control.allow.origin")
                .unwrap_or("")
                .to_string(),
            allow_methods: parsed
                .string("access.control.allow.methods")
                .unwrap_or("")
                .to_string(),
        };
        let app = router(state);
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        for socket in listeners {
            if let Ok(addr) = socket.local_addr() {
                tracing::info!(address = %addr, "REST server listening");
            }
            let app = app.clone();
            let cancel = cancel.clone();
            tasks.push(tokio::spawn(async move {
                let result = axum::serve(socket, app)
                    .with_graceful_shutdown(async move { cancel.cancelled().await })
                    .await;
                if let Err(error) = result {
                    tracing::error!(%error, "REST server failed");
                }
            }));
        }
        Ok(RestServer {
            local_addr,
            base_url,
            cancel,
            tasks,
        })
    }

    /// Address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://<first listener's address>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops accepting requests and waits for the listeners to close.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(server_info))
        .route("/connectors", get(list_connectors).post(create_connector))
        .route(
            "/connectors/{c}",
            get(get_connector).delete(delete_connector),
        )
        .route("/connectors/{c}/config", get(get_config).put(put_config))
        .route("/connectors/{c}/status", get(connector_status))
        .route("/connectors/{c}/tasks", get(task_configs))
        .route("/connectors/{c}/tasks-config", get(tasks_config))
        .route("/connectors/{c}/tasks/{t}/status", get(task_status))
        .route("/connectors/{c}/restart", post(restart_connector))
        .route("/connectors/{c}/tasks/{t}/restart", post(restart_task))
        .route("/connectors/{c}/pause", put(pause))
        .route("/connectors/{c}/resume", put(resume))
        .route("/connectors/{c}/stop", put(stop))
        .route("/connectors/{c}/topics", get(topics))
        .route("/connectors/{c}/topics/reset", put(reset_topics))
        .route(
            "/connectors/{c}/offsets",
            get(get_offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connector-plugins", get(list_plugins))
        .route("/connector-plugins/{p}/config", get(plugin_config_keys))
        .route("/connector-plugins/{p}/config/validate", put(validate))
        .route("/admin/loggers", get(list_loggers))
        .route("/admin/loggers/{l}", get(get_logger).put(set_logger))
        .fallback(|| async { ApiError::new(404, "HTTP 404 Not Found") })
        .method_not_allowed_fallback(|| async { ApiError::new(405, "HTTP 405 Method Not Allowed") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

/// CORS when `access.control.allow.origin` is set: preflights answered, the origin header
/// added to every answer.
async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.allow_origin.is_empty() {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = |origin: &HeaderValue| {
        state.allow_origin == "*"
            || state
                .allow_origin
                .split(',')
                .any(|o| o.trim().as_bytes() == origin.as_bytes())
    };
    let allow = match &origin {
        Some(o) if allowed(o) => Some(if state.allow_origin == "*" {
            HeaderValue::from_static("*")
        } else {
            o.clone()
        }),
        _ => None,
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    if let Some(allow) = allow {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if preflight {
            let methods = if state.allow_methods.is_empty() {
                "GET,POST,HEAD"
            } else {
                state.allow_methods.as_str()
            };
            if let Ok(value) = HeaderValue::from_str(methods) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
            }
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("X-Requested-With,Content-Type,Accept,Origin"),
            );
        }
    }
    response
}

/// Runs a herder operation bounded by [`REQUEST_TIMEOUT`].
/// Runs a herder operation that changes state in a task of its own, so that a client that
/// hangs up, or the 90 s timeout, cannot stop it halfway (tasks stopped but not restarted, a
/// connector removed but its tasks running): the operation completes, only its answer is lost.
async fn mutate<T, F, Fut>(state: &AppState, operation: F) -> Result<T, ApiError>
where
    F: FnOnce(Arc<Herder>) -> Fut,
    Fut: Future<Output = Result<T, HerderError>> + Send + 'static,
    T: Send + 'static,
{
    let task = tokio::spawn(operation(state.herder.clone()));
    timed(async move {
        task.await
            .unwrap_or_else(|error| Err(HerderError::internal(format!("{error}"))))
    })
    .await
}

async fn timed<T>(future: impl Future<Output = Result<T, HerderError>>) -> Result<T, ApiError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, future).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(500, "Request timed out")),
    }
}

/// The JSON body: any content type but JSON is a 415, an unparsable body a 400.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<JsonValue, ApiError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let text = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        let mime = text.split(';').next().unwrap_or("").trim();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ApiError::new(415, "HTTP 415 Unsupported Media Type"));
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Cannot parse request body as JSON: {e}")))
}

/// A configuration map: numbers and booleans become their text, nulls are returned apart,
/// nested values are a 400.
fn config_map(value: &JsonValue) -> Result<(Config, Vec<String>), ApiError> {
    let object = value.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "Cannot deserialize a configuration map from a JSON value that is not an object",
        )
    })?;
    let mut config = Config::new();
    let mut nulls = Vec::new();
    for (key, value) in object {
        let text = match value {
            JsonValue::String(text) => text.clone(),
            JsonValue::Number(n) => n.to_string(),
            JsonValue::Bool(b) => b.to_string(),
            JsonValue::Null => {
                nulls.push(key.clone());
                continue;
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Cannot deserialize value of type `java.lang.String` from a JSON {} (configuration key {key})",
                    if value.is_array() { "array" } else { "object" }
                )))
            }
        };
        config.insert(key.clone(), text);
    }
    Ok((config, nulls))
}

/// Query parameters in order, percent-decoded.
fn query_params(query: &Option<String>) -> Vec<(String, String)> {
    let Some(query) = query else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'+' {
            out.push(b' ');
        } else if byte == b'%' && i + 2 < bytes.len() {
            match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                Some(decoded) => {
                    out.push(decoded);
                    i += 2;
                }
                None => out.push(byte),
            }
        } else {
            out.push(byte);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_bool(params: &[(String, String)], name: &str) -> bool {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"))
}

fn task_number(text: &str) -> Result<u32, ApiError> {
    text.parse()
        .map_err(|_| ApiError::new(404, "HTTP 404 Not Found"))
}

fn no_content(status: StatusCode) -> Response {
    status.into_response()
}

// ---- entities (CONNECT.md a.2) ------------------------------------------------------------

fn info_json(info: &ConnectorInfo) -> JsonValue {
    json!({
        "name": info.name,
        "config": info.config,
        "tasks": info.tasks.iter().map(|t| json!({"connector": t.connector, "task": t.task})).collect::<Vec<_>>(),
        "type": info.connector_type.name(),
    })
}

fn state_json(state: &StateInfo) -> Map<String, JsonValue> {
    let mut map = Map::new();
    map.insert("state".into(), json!(state.state.name()));
    map.insert("worker_id".into(), json!(state.worker_id));
    if let Some(trace) = &state.trace {
        map.insert("trace".into(), json!(trace));
    }
    if let Some(counters) = &state.counters {
        map.insert("counters".into(), JsonValue::Object(counters.clone()));
    }
    for (key, value) in &state.details {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    map
}

fn status_json(status: &ConnectorStateInfo) -> JsonValue {
    let tasks: Vec<JsonValue> = status
        .tasks
        .iter()
        .map(|(id, state)| {
            let mut map = Map::new();
            map.insert("id".into(), json!(id));
            map.extend(state_json(state));
            JsonValue::Object(map)
        })
        .collect();
    json!({
        "name": status.name,
        "connector": JsonValue::Object(state_json(&status.connector)),
        "tasks": tasks,
        "type": status.connector_type.name(),
    })
}

fn key_json(key: &ConfigKey) -> JsonValue {
    json!({
        "name": key.name,
        "type": key.config_type.name(),
        "required": key.default == KeyDefault::Required,
        "default_value": match &key.default {
            KeyDefault::Value(text) => JsonValue::String(text.clone()),
            _ => JsonValue::Null,
        },
        "importance": key.importance.name(),
        "documentation": key.documentation,
        "group": key.group,
        "order": key.order,
        "width": key.width.name(),
        "display_name": key.display_name,
        "dependents": [],
    })
}

fn value_json(value: &KeyValidation) -> JsonValue {
    json!({
        "name": value.name,
        "value": value.value,
        "recommended_values": value.recommended_values,
        "errors": value.errors,
        "visible": value.visible,
    })
}

fn config_infos_json(infos: &ConfigInfos) -> JsonValue {
    json!({
        "name": infos.name,
        "error_count": infos.error_count,
        "groups": infos.groups,
        "configs": infos.configs.iter().map(|c| json!({
            "definition": c.definition.as_ref().map(key_json),
            "value": value_json(&c.value),
        })).collect::<Vec<_>>(),
    })
}

fn offsets_json(offsets: &[PartitionOffset]) -> JsonValue {
    json!({
        "offsets": offsets.iter().map(|o| json!({"partition": o.partition, "offset": o.offset})).collect::<Vec<_>>(),
    })
}

fn ok_json(value: JsonValue) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

/// `Location` of a created connector, resolved as Kafka's JAX-RS does against the request's
/// base URI (its `Host` header), so that a listener on 0.0.0.0 answers an address the client
/// can use.
fn location(state: &AppState, headers: &HeaderMap, name: &str) -> HeaderValue {
    let base = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_else(|| state.base_url.clone());
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    HeaderValue::from_str(&format!("{base}/connectors/{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("/connectors"))
}

// ---- handlers -----------------------------------------------------------------------------

/// R1.
async fn server_info(State(state): State<AppState>) -> ApiResult {
    let cluster = timed(async { Ok(state.herder.worker().kafka_cluster_id().await?) }).await?;
    Ok(ok_json(json!({
        "version": format!("3.7.0-josefine-{}", env!("CARGO_PKG_VERSION")),
        "commit": option_env!("JOSEFINE_COMMIT").unwrap_or("unknown"),
        "kafka_cluster_id": cluster,
    })))
}

/// R2.
async fn list_connectors(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult {
    let params = query_params(&query);
    let expand: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v.as_str())
        .collect();
    let names = state.herder.connectors().await;
    if expand.is_empty() {
        return Ok(ok_json(json!(names)));
    }
    let mut out = Map::new();
    for name in names {
        let mut entry = Map::new();
        for expansion in &expand {
            match *expansion {
                "status" => {
                    if let Ok(status) = state.herder.connector_status(&name).await {
                        entry.insert("status".into(), status_json(&status));
                    }
                }
                "info" => {
                    if let Ok(info) = state.herder.connector_info(&name).await {
                        entry.insert("info".into(), info_json(&info));
                    }
                }
                other => tracing::info!(expansion = %other, "ignoring unknown expansion type"),
            }
        }
        out.insert(name, JsonValue::Object(entry));
    }
    Ok(ok_json(JsonValue::Object(out)))
}

/// Kafka's `checkAndPutConnectorConfigName`.
fn check_name(name: &str, config: &mut Config) -> Result<(), ApiError> {
    match config.get("name") {
        Some(included) if included != name => Err(ApiError::bad_request(format!(
            "Connector name configuration ({included}) doesn't match connector name in the URL ({name})"
        ))),
        _ => {
            config.insert("name".to_string(), name.to_string());
            Ok(())
        }
    }
}

/// R3.
async fn create_connector(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&headers, &body)?;
    let object = body.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "Cannot deserialize a create request from a JSON value that is not an object",
        )
    })?;
    let name = object
        .get("name")
        .and_then(JsonValue::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    let (mut config, nulls) = match object.get("config") {
        Some(JsonValue::Null) | None => (Config::new(), Vec::new()),
        Some(value) => config_map(value)?,
    };
    let initial = match object.get("initial_state") {
        None | Some(JsonValue::Null) => TargetState::Started,
        Some(JsonValue::String(text)) => parse_initial_state(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid initial_state {text}: must be one of RUNNING, PAUSED, STOPPED"
            ))
        })?,
        Some(_) => return Err(ApiError::bad_request("initial_state must be a string")),
    };
    check_name(&name, &mut config)?;
    let created = name.clone();
    let (info, _) = mutate(&state, move |herder| async move {
        herder
            .put_connector(&created, config, &nulls, Some(initial), false)
            .await
    })
    .await?;
    let mut response = (StatusCode::CREATED, Json(info_json(&info))).into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, location(&state, &headers, &name));
    Ok(response)
}

/// R4.
async fn get_connector(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    let info = timed(state.herder.connector_info(&c)).await?;
    Ok(ok_json(info_json(&info)))
}

/// R5.
async fn get_config(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    let config = timed(state.herder.connector_config(&c)).await?;
    Ok(ok_json(json!(config)))
}

/// R6.
async fn put_config(
    State(state): State<AppState>,
    Path(c): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&headers, &body)?;
    let (mut config, nulls) = config_map(&body)?;
    check_name(&c, &mut config)?;
    let name = c.clone();
    let (info, created) = mutate(&state, move |herder| async move {
        herder
            .put_connector(&name, config, &nulls, None, true)
            .await
    })
    .await?;
    if created {
        let mut response = (StatusCode::CREATED, Json(info_json(&info))).into_response();
        response
            .headers_mut()
            .insert(header::LOCATION, location(&state, &headers, &c));
        Ok(response)
    } else {
        Ok(ok_json(info_json(&info)))
    }
}

/// R7.
async fn connector_status(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    let status = timed(state.herder.connector_status(&c)).await?;
    Ok(ok_json(status_json(&status)))
}

/// R8.
async fn task_configs(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    let tasks = timed(state.herder.task_configs(&c)).await?;
    Ok(ok_json(json!(tasks
        .iter()
        .map(|(id, config)| json!({"id": {"connector": id.connector, "task": id.task}, "config": config}))
        .collect::<Vec<_>>())))
}

/// R9 (deprecated).
async fn tasks_config(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    tracing::warn!("The 'GET /connectors/{{connector}}/tasks-config' endpoint is deprecated and will be removed in the next major release. Please use the 'GET /connectors/{{connector}}/tasks' endpoint instead.");
    let tasks = timed(state.herder.task_configs(&c)).await?;
    let map: Map<String, JsonValue> = tasks
        .iter()
        .map(|(id, config)| (id.to_string(), json!(config)))
        .collect();
    Ok(ok_json(JsonValue::Object(map)))
}

/// R10.
async fn task_status(
    State(state): State<AppState>,
    Path((c, t)): Path<(String, String)>,
) -> ApiResult {
    let task = task_number(&t)?;
    let status = timed(state.herder.task_status(&c, task)).await?;
    let mut map = Map::new();
    map.insert("id".into(), json!(task));
    map.extend(state_json(&status));
    Ok(ok_json(JsonValue::Object(map)))
}

/// R11.
async fn restart_connector(
    State(state): State<AppState>,
    Path(c): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let params = query_params(&query);
    let include_tasks = query_bool(&params, "includeTasks");
    let only_failed = query_bool(&params, "onlyFailed");
    if !include_tasks && !only_failed {
        mutate(&state, move |herder| async move {
            herder.restart_connector(&c).await
        })
        .await?;
        return Ok(no_content(StatusCode::NO_CONTENT));
    }
    let status = mutate(&state, move |herder| async move {
        herder
            .restart_connector_and_tasks(&c, include_tasks, only_failed)
            .await
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(status_json(&status))).into_response())
}

/// R12.
async fn restart_task(
    State(state): State<AppState>,
    Path((c, t)): Path<(String, String)>,
) -> ApiResult {
    let task = task_number(&t)?;
    mutate(&state, move |herder| async move {
        herder.restart_task(&c, task).await
    })
    .await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// R13.
async fn pause(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    mutate(&state, move |herder| async move {
        herder.set_target_state(&c, TargetState::Paused).await
    })
    .await?;
    Ok(no_content(StatusCode::ACCEPTED))
}

/// R14.
async fn resume(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    mutate(&state, move |herder| async move {
        herder.set_target_state(&c, TargetState::Started).await
    })
    .await?;
    Ok(no_content(StatusCode::ACCEPTED))
}

/// R15.
async fn stop(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    mutate(&state, move |herder| async move {
        herder.set_target_state(&c, TargetState::Stopped).await
    })
    .await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// R16.
async fn delete_connector(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    mutate(&state, move |herder| async move {
        herder.delete_connector(&c).await
    })
    .await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// R17.
async fn topics(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    if !state.tracking {
        return Err(ApiError::new(403, "Topic tracking is disabled."));
    }
    let topics = state.herder.active_topics(&c);
    let mut map = Map::new();
    map.insert(c, json!({ "topics": topics }));
    Ok(ok_json(JsonValue::Object(map)))
}

/// R18.
async fn reset_topics(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    if !state.tracking {
        return Err(ApiError::new(403, "Topic tracking is disabled."));
    }
    if !state.allow_reset {
        return Err(ApiError::new(403, "Topic tracking reset is disabled."));
    }
    state.herder.reset_active_topics(&c);
    Ok(no_content(StatusCode::ACCEPTED))
}

/// R19.
async fn get_offsets(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    let offsets = timed(state.herder.connector_offsets(&c)).await?;
    Ok(ok_json(offsets_json(&offsets)))
}

/// The body of R20: `{"offsets": [{"partition": {...}, "offset": {...}|null}]}`, non-empty.
fn parse_offsets(body: &JsonValue) -> Result<Vec<PartitionOffset>, ApiError> {
    let missing = || {
        ApiError::bad_request(
            "Partitions / offsets need to be provided for an alter offsets request",
        )
    };
    let entries = match body.get("offsets") {
        Some(JsonValue::Array(entries)) if !entries.is_empty() => entries,
        Some(JsonValue::Array(_)) | Some(JsonValue::Null) | None => return Err(missing()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "The 'offsets' field must be an array",
            ))
        }
    };
    entries
        .iter()
        .map(|entry| {
            let partition = match entry.get("partition") {
                Some(JsonValue::Object(map)) => map.clone(),
                _ => {
                    return Err(ApiError::bad_request(
                        "Each entry of 'offsets' needs a 'partition' object",
                    ))
                }
            };
            let offset = match entry.get("offset") {
                Some(JsonValue::Object(map)) => Some(map.clone()),
                Some(JsonValue::Null) | None => None,
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "The 'offset' of an entry must be an object or null",
                    ))
                }
            };
            Ok(PartitionOffset { partition, offset })
        })
        .collect()
}

/// R20.
async fn alter_offsets(
    State(state): State<AppState>,
    Path(c): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = if body.is_empty() {
        JsonValue::Null
    } else {
        json_body(&headers, &body)?
    };
    let offsets = parse_offsets(&body)?;
    let message = mutate(&state, move |herder| async move {
        herder.alter_offsets(&c, offsets).await
    })
    .await?;
    Ok(ok_json(json!({ "message": message })))
}

/// R21.
async fn reset_offsets(State(state): State<AppState>, Path(c): Path<String>) -> ApiResult {
    let message = mutate(&state, move |herder| async move {
        herder.reset_offsets(&c).await
    })
    .await?;
    Ok(ok_json(json!({ "message": message })))
}

/// R22.
async fn list_plugins(RawQuery(query): RawQuery) -> ApiResult {
    let params = query_params(&query);
    let connectors_only = params
        .iter()
        .rev()
        .find(|(k, _)| k == "connectorsOnly")
        .is_none_or(|(_, v)| !v.eq_ignore_ascii_case("false"));
    let order = [
        PluginType::Sink,
        PluginType::Source,
        PluginType::Transformation,
        PluginType::Predicate,
        PluginType::Converter,
        PluginType::HeaderConverter,
    ];
    let all = plugins::all();
    let mut out = Vec::new();
    for plugin_type in order {
        if connectors_only && !matches!(plugin_type, PluginType::Source | PluginType::Sink) {
            continue;
        }
        let mut classes: Vec<&str> = all
            .iter()
            .filter(|p| p.plugin_type == plugin_type)
            .map(|p| p.class)
            .collect();
        classes.sort_unstable();
        classes.dedup();
        out.extend(classes.into_iter().map(
            |class| json!({"class": class, "type": plugin_type.name(), "version": PLUGIN_VERSION}),
        ));
    }
    Ok(ok_json(json!(out)))
}

/// R23.
async fn plugin_config_keys(Path(p): Path<String>) -> ApiResult {
    let keys = plugin_config(&p)?;
    Ok(ok_json(json!(keys
        .iter()
        .map(key_json)
        .collect::<Vec<_>>())))
}

/// Kafka's `normalizedPluginName`: the simple name without a `Connector` suffix.
fn normalized_plugin_name(name: &str) -> &str {
    name.strip_suffix("Connector").unwrap_or(name)
}

/// R24.
async fn validate(
    State(state): State<AppState>,
    Path(p): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&headers, &body)?;
    let (config, nulls) = config_map(&body)?;
    if let Some(included) = config.get("connector.class") {
        if !normalized_plugin_name(included).ends_with(normalized_plugin_name(&p)) {
            return Err(ApiError::bad_request(format!(
                "Included connector type {included} does not match request type {p}"
            )));
        }
    }
    let infos = state.herder.validate(&config, &nulls)?;
    Ok(ok_json(config_infos_json(&infos)))
}

fn logger_json(level: &loggers::LoggerLevel) -> JsonValue {
    json!({"level": level.level, "last_modified": level.last_modified})
}

/// R25.
async fn list_loggers(State(state): State<AppState>) -> ApiResult {
    let map: Map<String, JsonValue> = state
        .loggers
        .all()
        .iter()
        .map(|(name, level)| (name.clone(), logger_json(level)))
        .collect();
    Ok(ok_json(JsonValue::Object(map)))
}

/// R26.
async fn get_logger(State(state): State<AppState>, Path(l): Path<String>) -> ApiResult {
    let level = state
        .loggers
        .get(&l)
        .ok_or_else(|| ApiError::new(404, format!("Logger {l} not found.")))?;
    Ok(ok_json(logger_json(&level)))
}

/// R27.
async fn set_logger(
    State(state): State<AppState>,
    Path(l): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&headers, &body)?;
    let level = body
        .get("level")
        .and_then(JsonValue::as_str)
        .ok_or_else(|| {
            ApiError::bad_request("Desired 'level' parameter was not specified in request.")
        })?;
    let params = query_params(&query);
    let scope = params
        .iter()
        .rev()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_else(|| "worker".to_string());
    let now = chrono::Utc::now().timestamp_millis();
    let changed = state
        .loggers
        .set(&l, level, now)
        .map_err(|()| ApiError::new(404, format!("invalid log level '{level}'.")))?;
    if scope == "cluster" {
        return Ok(no_content(StatusCode::NO_CONTENT));
    }
    if scope != "worker" {
        tracing::warn!(%scope, "unknown logger scope, using 'worker'");
    }
    Ok(ok_json(json!(changed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_maps_coerce_scalars_and_refuse_nesting() {
        let (config, nulls) =
            config_map(&json!({"a": 1, "b": true, "c": "x", "d": null, "e": 1.5})).unwrap();
        assert_eq!(config["a"], "1");
        assert_eq!(config["b"], "true");
        assert_eq!(config["e"], "1.5");
        assert_eq!(nulls, vec!["d".to_string()]);
        assert_eq!(
            config_map(&json!({"a": {"b": 1}})).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn query_parameters_decode() {
        let params = query_params(&Some("expand=status&expand=info&x=a%20b+c".into()));
        assert_eq!(params[2], ("x".to_string(), "a b c".to_string()));
        assert!(query_bool(
            &[("onlyFailed".into(), "TRUE".into())],
            "onlyFailed"
        ));
    }

    #[test]
    fn offsets_body_needs_entries() {
        let error = parse_offsets(&json!({"offsets": []})).unwrap_err();
        assert_eq!(
            error.1,
            "Partitions / offsets need to be provided for an alter offsets request"
        );
        let parsed =
            parse_offsets(&json!({"offsets": [{"partition": {"f": "x"}, "offset": null}]}))
                .unwrap();
        assert_eq!(parsed[0].offset, None);
    }

    #[test]
    fn plugin_names_normalize_like_kafka() {
        assert!(
            normalized_plugin_name("org.apache.kafka.connect.file.FileStreamSinkConnector")
                .ends_with(normalized_plugin_name("FileStreamSink"))
        );
        assert!(!normalized_plugin_name("FileStreamSource").ends_with("FileStreamSink"));
    }
}
