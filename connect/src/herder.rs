//! The standalone herder: the connectors of this worker, their configurations, target
//! states and tasks; what the REST API calls (CONNECT.md a, b.7).
//!
//! References: Kafka Connect's `AbstractHerder`, `StandaloneHerder` (Kafka 3.7).

mod validation;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::config_provider::ConfigProviders;
use crate::connector::{Config, Connector, ConnectorType, PartitionOffset};
use crate::data::ConnectError;
use crate::plugins::{self, Factory, PluginDesc, PluginType};
use crate::runtime::{TargetState, TaskHandle, Worker};
use crate::status::{State, Status, TaskId};

pub use validation::{plugin_config, ConfigInfo, ConfigInfos};

/// An error of a herder operation, with the HTTP status the REST API answers (Kafka's
/// `ConnectRestException`, `NotFoundException`, `BadRequestException`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HerderError {
    /// HTTP status: 400, 403, 404, 409 or 500.
    pub status: u16,
    /// Kafka's message text.
    pub message: String,
}

impl HerderError {
    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> HerderError {
        HerderError {
            status: 400,
            message: message.into(),
        }
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> HerderError {
        HerderError {
            status: 404,
            message: message.into(),
        }
    }

    /// A 409.
    pub fn conflict(message: impl Into<String>) -> HerderError {
        HerderError {
            status: 409,
            message: message.into(),
        }
    }

    /// A 500.
    pub fn internal(message: impl Into<String>) -> HerderError {
        HerderError {
            status: 500,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for HerderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HerderError {}

impl From<ConnectError> for HerderError {
    fn from(error: ConnectError) -> HerderError {
        HerderError::internal(error.message)
    }
}

/// A connector as `GET /connectors/{c}` shows it (Kafka's `ConnectorInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorInfo {
    /// Name.
    pub name: String,
    /// Its configuration as given (provider references unresolved).
    pub config: Config,
    /// Its tasks (empty when stopped).
    pub tasks: Vec<TaskId>,
    /// Source or sink.
    pub connector_type: ConnectorType,
}

/// One state in a status body: state, worker and trace (Kafka's
/// `ConnectorStateInfo.AbstractState`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateInfo {
    /// State.
    pub state: State,
    /// Worker id (`host:port` of the REST listener).
    pub worker_id: String,
    /// Error text when FAILED.
    pub trace: Option<String>,
    /// Record counters (CONNECT.md g.0): a task's own once it started; a connector's the sum
    /// over its tasks. `{"accepted":N,"delivered":N,"retried":N,"expired":N,"dlq":N,"failed":N}`.
    pub counters: Option<serde_json::Map<String, serde_json::Value>>,
    /// Task details a connector published, e.g. `{"listener": "127.0.0.1:39411"}`.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// `GET /connectors/{c}/status` (Kafka's `ConnectorStateInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorStateInfo {
    /// Connector name.
    pub name: String,
    /// Connector state.
    pub connector: StateInfo,
    /// Task states by task number.
    pub tasks: Vec<(u32, StateInfo)>,
    /// Source or sink.
    pub connector_type: ConnectorType,
}

/// The target state a connector is created in (`initial_state` of `POST /connectors`).
pub fn parse_initial_state(text: &str) -> Option<TargetState> {
    match text.trim().to_ascii_uppercase().as_str() {
        "RUNNING" => Some(TargetState::Started),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

struct Entry {
    config: Config,
    plugin: PluginDesc,
    connector_type: ConnectorType,
    target: TargetState,
    instance: Option<Box<dyn Connector>>,
    task_configs: Vec<Config>,
    tasks: BTreeMap<u32, TaskHandle>,
}

/// The standalone herder (Kafka's `StandaloneHerder`): every connector of this worker.
pub struct Herder {
    worker: Worker,
    providers: ConfigProviders,
    connectors: Mutex<BTreeMap<String, Entry>>,
    worker_id: StdMutex<String>,
}

impl std::fmt::Debug for Herder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Herder").finish_non_exhaustive()
    }
}

fn unknown_connector(name: &str) -> HerderError {
    HerderError::not_found(format!("Unknown connector {name}"))
}

fn not_found(name: &str) -> HerderError {
    HerderError::not_found(format!("Connector {name} not found"))
}

impl Herder {
    /// A herder running connectors on `worker`, resolving `${provider:...}` references with
    /// `providers` before connectors start and before validation.
    pub fn new(worker: Worker, providers: ConfigProviders) -> Arc<Herder> {
        Arc::new(Herder {
            worker,
            providers,
            connectors: Mutex::new(BTreeMap::new()),
            worker_id: StdMutex::new(String::new()),
        })
    }

    /// The worker.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Sets the worker id shown in status bodies (`host:port` of the REST listener).
    pub fn set_worker_id(&self, id: String) {
        *self.worker_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    /// The worker id shown in status bodies.
    pub fn worker_id(&self) -> String {
        self.worker_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Names of every connector, sorted.
    pub async fn connectors(&self) -> Vec<String> {
        self.connectors.lock().await.keys().cloned().collect()
    }

    /// Validates `config` as `PUT /connector-plugins/{p}/config/validate` does (a.4);
    /// `null_keys` are keys given as JSON null. Errors: 400 when `connector.class` is
    /// missing, 500 when it names no connector.
    pub fn validate(
        &self,
        config: &Config,
        null_keys: &[String],
    ) -> Result<ConfigInfos, HerderError> {
        let resolved = self.providers.resolve(config);
        validation::validate(&resolved, config, null_keys)
    }

    fn check_valid(
        &self,
        config: &Config,
        null_keys: &[String],
    ) -> Result<PluginDesc, HerderError> {
        let infos = self.validate(config, null_keys)?;
        if infos.error_count > 0 {
            return Err(HerderError::bad_request(infos.error_message()));
        }
        let class = config
            .get("connector.class")
            .map(String::as_str)
            .unwrap_or("");
        find_connector(class)
    }

    /// Creates connector `name` in `initial_state` (Kafka's `putConnectorConfig` with
    /// `allowReplace=false`). Errors: 400 invalid configuration (a.4), 409 when it exists,
    /// 500 unknown class.
    pub async fn create_connector(
        &self,
        name: &str,
        config: Config,
        initial_state: TargetState,
    ) -> Result<ConnectorInfo, HerderError> {
        self.put_connector(name, config, &[], Some(initial_state), false)
            .await
            .map(|(info, _)| info)
    }

    /// Creates or replaces connector `name` (`PUT /connectors/{c}/config`); returns the info
    /// and whether it was created. A replaced connector keeps its target state; it is
    /// stopped, reconfigured and started again with regenerated task configs.
    pub async fn put_connector(
        &self,
        name: &str,
        mut config: Config,
        null_keys: &[String],
        initial_state: Option<TargetState>,
        allow_replace: bool,
    ) -> Result<(ConnectorInfo, bool), HerderError> {
        config.insert("name".to_string(), name.to_string());
        let plugin = self.check_valid(&config, null_keys)?;
        let connector_type = plugin_connector_type(&plugin);
        let mut connectors = self.connectors.lock().await;
        let existing = connectors.remove(name);
        let created = existing.is_none();
        let target = match existing {
            Some(entry) if allow_replace => {
                let target = entry.target;
                self.stop_entry(name, entry).await;
                target
            }
            Some(entry) => {
                connectors.insert(name.to_string(), entry);
                return Err(HerderError::conflict(format!(
                    "Connector {name} already exists"
                )));
            }
            None => initial_state.unwrap_or(TargetState::Started),
        };
        let mut entry = Entry {
            config,
            plugin,
            connector_type,
            target: TargetState::Stopped,
            instance: None,
            task_configs: Vec::new(),
            tasks: BTreeMap::new(),
        };
        self.worker
            .status()
            .put_connector(name, State::Stopped, None);
        self.apply_target(name, &mut entry, target).await;
        let info = info_of(name, &entry);
        connectors.insert(name.to_string(), entry);
        tracing::info!(connector = %name, created, "connector configured");
        Ok((info, created))
    }

    /// Deletes a connector: stops its tasks and instance; its offsets are kept.
    pub async fn delete_connector(&self, name: &str) -> Result<(), HerderError> {
        let mut connectors = self.connectors.lock().await;
        let entry = connectors.remove(name).ok_or_else(|| not_found(name))?;
        self.stop_entry(name, entry).await;
        self.worker.status().remove_connector(name);
        self.worker.reset_active_topics(name);
        Ok(())
    }

    /// A connector's info (`GET /connectors/{c}`); 404 `Connector c not found`.
    pub async fn connector_info(&self, name: &str) -> Result<ConnectorInfo, HerderError> {
        let connectors = self.connectors.lock().await;
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        Ok(info_of(name, entry))
    }

    /// A connector's configuration as given; 404 `Connector c not found`.
    pub async fn connector_config(&self, name: &str) -> Result<Config, HerderError> {
        Ok(self.connector_info(name).await?.config)
    }

    /// A connector's task configurations (`GET /connectors/{c}/tasks`); 404.
    pub async fn task_configs(&self, name: &str) -> Result<Vec<(TaskId, Config)>, HerderError> {
        let connectors = self.connectors.lock().await;
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        Ok(entry
            .task_configs
            .iter()
            .enumerate()
            .map(|(i, config)| (task_id(name, i as u32), config.clone()))
            .collect())
    }

    /// The connector's type and configuration; 404 `Connector c not found`.
    async fn type_and_config(&self, name: &str) -> Result<(ConnectorType, Config), HerderError> {
        let connectors = self.connectors.lock().await;
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        Ok((entry.connector_type, entry.config.clone()))
    }

    fn state_info(&self, status: Option<Status>) -> StateInfo {
        let status = status.unwrap_or(Status {
            state: State::Unassigned,
            trace: None,
        });
        StateInfo {
            state: status.state,
            worker_id: self.worker_id(),
            trace: status.trace.filter(|t| !t.is_empty()),
            counters: None,
            details: serde_json::Map::new(),
        }
    }

    /// A task's state with its counters and details.
    fn task_state_info(&self, id: &TaskId) -> StateInfo {
        let store = self.worker.status();
        let mut info = self.state_info(store.task(id));
        if let Some(counters) = store.counters(id) {
            info.counters = Some(counters.to_json());
            info.details = counters.details();
        }
        info
    }

    /// A connector's status (`GET /connectors/{c}/status`); 404 `No status found for
    /// connector c`.
    pub async fn connector_status(&self, name: &str) -> Result<ConnectorStateInfo, HerderError> {
        let connectors = self.connectors.lock().await;
        let entry = connectors.get(name).ok_or_else(|| {
            HerderError::not_found(format!("No status found for connector {name}"))
        })?;
        Ok(self.status_of(name, entry))
    }

    fn status_of(&self, name: &str, entry: &Entry) -> ConnectorStateInfo {
        let store = self.worker.status();
        let tasks = entry
            .tasks
            .keys()
            .map(|&task| (task, self.task_state_info(&task_id(name, task))))
            .collect::<Vec<_>>();
        let mut connector = self.state_info(store.connector(name));
        if tasks.iter().any(|(_, task)| task.counters.is_some()) {
            connector.counters = Some(crate::status::sum_counters(
                tasks.iter().filter_map(|(_, task)| task.counters.as_ref()),
            ));
        }
        ConnectorStateInfo {
            name: name.to_string(),
            connector,
            tasks,
            connector_type: entry.connector_type,
        }
    }

    /// A task's status; 404 `No status found for task c-t`.
    pub async fn task_status(&self, name: &str, task: u32) -> Result<StateInfo, HerderError> {
        let connectors = self.connectors.lock().await;
        let id = task_id(name, task);
        match connectors.get(name) {
            Some(entry) if entry.tasks.contains_key(&task) => Ok(self.task_state_info(&id)),
            _ => Err(HerderError::not_found(format!(
                "No status found for task {id}"
            ))),
        }
    }

    /// Moves a connector to `target` (`PUT /connectors/{c}/pause|resume|stop`);
    /// idempotent. 404 `Unknown connector c`.
    pub async fn set_target_state(
        &self,
        name: &str,
        target: TargetState,
    ) -> Result<(), HerderError> {
        let mut connectors = self.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| unknown_connector(name))?;
        self.apply_target(name, entry, target).await;
        Ok(())
    }

    /// Restarts the connector instance (`POST /connectors/{c}/restart` without flags);
    /// 404 `Connector c not found`.
    pub async fn restart_connector(&self, name: &str) -> Result<(), HerderError> {
        let mut connectors = self.connectors.lock().await;
        let entry = connectors.get_mut(name).ok_or_else(|| not_found(name))?;
        self.restart_instance(name, entry).await;
        Ok(())
    }

    /// Restarts the connector and/or its tasks (R11 with flags) and answers the status in
    /// which every chosen instance shows RESTARTING; 404 `Unknown connector: c`.
    pub async fn restart_connector_and_tasks(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<ConnectorStateInfo, HerderError> {
        let mut connectors = self.connectors.lock().await;
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| HerderError::not_found(format!("Unknown connector: {name}")))?;
        let mut status = self.status_of(name, entry);
        let restart_connector = !only_failed || status.connector.state == State::Failed;
        let tasks: Vec<u32> = if include_tasks {
            status
                .tasks
                .iter()
                .filter(|(_, s)| !only_failed || s.state == State::Failed)
                .map(|(t, _)| *t)
                .collect()
        } else {
            Vec::new()
        };
        if restart_connector {
            status.connector.state = State::Restarting;
            status.connector.trace = None;
        }
        for (task, info) in &mut status.tasks {
            if tasks.contains(task) {
                info.state = State::Restarting;
                info.trace = None;
            }
        }
        if restart_connector {
            self.restart_instance(name, entry).await;
        }
        for task in tasks {
            self.restart_task_of(name, entry, task).await;
        }
        Ok(status)
    }

    /// Restarts one task (`POST /connectors/{c}/tasks/{t}/restart`); 404 `Task c-t not
    /// found`.
    pub async fn restart_task(&self, name: &str, task: u32) -> Result<(), HerderError> {
        let mut connectors = self.connectors.lock().await;
        match connectors.get_mut(name) {
            Some(entry) if entry.tasks.contains_key(&task) => {
                self.restart_task_of(name, entry, task).await;
                Ok(())
            }
            _ => Err(HerderError::not_found(format!(
                "Task {} not found",
                task_id(name, task)
            ))),
        }
    }

    /// The connector's active topics (R17).
    pub fn active_topics(&self, name: &str) -> Vec<String> {
        self.worker.active_topics(name)
    }

    /// Forgets the connector's active topics (R18).
    pub fn reset_active_topics(&self, name: &str) {
        self.worker.reset_active_topics(name);
    }

    /// The connector's offsets (R19); 404 `Connector c not found`.
    pub async fn connector_offsets(&self, name: &str) -> Result<Vec<PartitionOffset>, HerderError> {
        let (connector_type, config) = self.type_and_config(name).await?;
        let resolved = self.providers.resolve(&config);
        Ok(self
            .worker
            .connector_offsets(name, &resolved, connector_type)
            .await?)
    }

    async fn check_stopped(
        &self,
        name: &str,
    ) -> Result<(Config, PluginDesc, ConnectorType), HerderError> {
        let connectors = self.connectors.lock().await;
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        if entry.target != TargetState::Stopped || !entry.tasks.is_empty() {
            return Err(HerderError::bad_request(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            )));
        }
        Ok((entry.config.clone(), entry.plugin, entry.connector_type))
    }

    /// Alters offsets (R20) of a stopped connector after the connector validated them.
    pub async fn alter_offsets(
        &self,
        name: &str,
        offsets: Vec<PartitionOffset>,
    ) -> Result<String, HerderError> {
        let (config, plugin, connector_type) = self.check_stopped(name).await?;
        let resolved = self.providers.resolve(&config);
        if let Factory::Connector(make) = plugin.factory {
            let connector = make();
            connector
                .alter_offsets(&resolved, &offsets)
                .map_err(|e| HerderError::bad_request(e.message))?;
        }
        self.worker
            .alter_offsets(name, &resolved, connector_type, offsets)
            .await
            .map_err(offsets_error)?;
        Ok("The offsets for this connector have been altered successfully".to_string())
    }

    /// Resets every offset (R21) of a stopped connector.
    pub async fn reset_offsets(&self, name: &str) -> Result<String, HerderError> {
        let (config, _, connector_type) = self.check_stopped(name).await?;
        let resolved = self.providers.resolve(&config);
        self.worker
            .reset_offsets(name, &resolved, connector_type)
            .await
            .map_err(offsets_error)?;
        Ok("The offsets for this connector have been reset successfully".to_string())
    }

    /// Stops every connector and task (each task bounded by
    /// `task.shutdown.graceful.timeout.ms`, sources first), then the worker.
    pub async fn shutdown(&self) {
        let mut connectors = self.connectors.lock().await;
        let names: Vec<String> = connectors.keys().cloned().collect();
        let (sources, sinks): (Vec<String>, Vec<String>) = names
            .into_iter()
            .partition(|n| connectors[n].connector_type == ConnectorType::Source);
        for name in sources.into_iter().chain(sinks) {
            if let Some(entry) = connectors.remove(&name) {
                self.stop_entry(&name, entry).await;
            }
        }
        self.worker.shutdown().await;
    }

    // ---- lifecycle ---------------------------------------------------------------------

    fn graceful(&self) -> Duration {
        self.worker.config().task_shutdown_graceful_timeout()
    }

    async fn stop_tasks(&self, name: &str, entry: &mut Entry) {
        let timeout = self.graceful();
        for (_, handle) in std::mem::take(&mut entry.tasks) {
            handle.stop(timeout).await;
        }
        self.worker.status().remove_tasks(name);
    }

    async fn stop_instance(&self, entry: &mut Entry) {
        if let Some(mut instance) = entry.instance.take() {
            instance.stop().await;
        }
    }

    async fn stop_entry(&self, name: &str, mut entry: Entry) {
        self.stop_tasks(name, &mut entry).await;
        self.stop_instance(&mut entry).await;
    }

    /// Starts the connector instance and regenerates task configs; on failure the connector
    /// is FAILED with its trace and has no tasks.
    async fn start_instance(&self, name: &str, entry: &mut Entry) -> bool {
        let Factory::Connector(make) = entry.plugin.factory else {
            return false;
        };
        let resolved = self.providers.resolve(&entry.config);
        let mut instance = make();
        if let Err(error) = instance.start(&resolved).await {
            tracing::error!(connector = %name, error = %error.message, "connector failed to start");
            let trace = ConnectError::connect(format!("Failed to start connector {name}"))
                .with_cause(error)
                .trace();
            self.worker
                .status()
                .put_connector(name, State::Failed, Some(trace));
            entry.task_configs.clear();
            return false;
        }
        let max_tasks = resolved
            .get("tasks.max")
            .and_then(|t| t.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        entry.task_configs = instance.task_configs(max_tasks);
        entry.instance = Some(instance);
        true
    }

    fn start_tasks(&self, name: &str, entry: &mut Entry, target: TargetState) {
        let resolved = self.providers.resolve(&entry.config);
        for (i, task_config) in entry.task_configs.iter().enumerate() {
            let id = task_id(name, i as u32);
            let task_config = self.providers.resolve(task_config);
            match self
                .worker
                .start_task(id.clone(), &resolved, task_config, entry.plugin, target)
            {
                Ok(handle) => {
                    entry.tasks.insert(i as u32, handle);
                }
                Err(error) => {
                    tracing::error!(task = %id, error = %error.message, "task failed to start");
                    self.worker
                        .status()
                        .put_task(&id, State::Failed, Some(error.trace()));
                }
            }
        }
    }

    async fn apply_target(&self, name: &str, entry: &mut Entry, target: TargetState) {
        let previous = entry.target;
        entry.target = target;
        let store = self.worker.status();
        match target {
            TargetState::Stopped => {
                self.stop_tasks(name, entry).await;
                self.stop_instance(entry).await;
                entry.task_configs.clear();
                store.put_connector(name, State::Stopped, None);
            }
            TargetState::Started | TargetState::Paused => {
                if previous == TargetState::Stopped || entry.instance.is_none() {
                    if !entry.tasks.is_empty() {
                        self.stop_tasks(name, entry).await;
                    }
                    if self.start_instance(name, entry).await {
                        store.put_connector(name, connector_state(target), None);
                        self.start_tasks(name, entry, target);
                    }
                } else {
                    for handle in entry.tasks.values() {
                        handle.set_target_state(target);
                    }
                    store.put_connector(name, connector_state(target), None);
                }
            }
        }
    }

    async fn restart_instance(&self, name: &str, entry: &mut Entry) {
        if entry.target == TargetState::Stopped {
            return;
        }
        self.stop_instance(entry).await;
        let old = entry.task_configs.clone();
        if self.start_instance(name, entry).await {
            self.worker
                .status()
                .put_connector(name, connector_state(entry.target), None);
            if entry.task_configs != old || entry.tasks.len() != entry.task_configs.len() {
                self.stop_tasks(name, entry).await;
                self.start_tasks(name, entry, entry.target);
            }
        } else {
            // The connector failed to start again: its running tasks keep their configs, as
            // Kafka keeps them, so task status, `GET .../tasks` and task restarts agree.
            entry.task_configs = old;
        }
    }

    async fn restart_task_of(&self, name: &str, entry: &mut Entry, task: u32) {
        if let Some(handle) = entry.tasks.remove(&task) {
            handle.stop(self.graceful()).await;
        }
        let Some(task_config) = entry.task_configs.get(task as usize) else {
            return;
        };
        let id = task_id(name, task);
        let resolved = self.providers.resolve(&entry.config);
        let task_config = self.providers.resolve(task_config);
        match self.worker.start_task(
            id.clone(),
            &resolved,
            task_config,
            entry.plugin,
            entry.target,
        ) {
            Ok(handle) => {
                entry.tasks.insert(task, handle);
            }
            Err(error) => {
                self.worker
                    .status()
                    .put_task(&id, State::Failed, Some(error.trace()));
            }
        }
    }
}

fn offsets_error(error: ConnectError) -> HerderError {
    match error.kind {
        crate::data::ErrorKind::Data | crate::data::ErrorKind::Config => {
            HerderError::bad_request(error.message)
        }
        _ => HerderError::internal(error.message),
    }
}

fn connector_state(target: TargetState) -> State {
    match target {
        TargetState::Started => State::Running,
        TargetState::Paused => State::Paused,
        TargetState::Stopped => State::Stopped,
    }
}

fn task_id(connector: &str, task: u32) -> TaskId {
    TaskId {
        connector: connector.to_string(),
        task,
    }
}

fn info_of(name: &str, entry: &Entry) -> ConnectorInfo {
    ConnectorInfo {
        name: name.to_string(),
        config: entry.config.clone(),
        tasks: (0..entry.task_configs.len() as u32)
            .filter(|_| entry.target != TargetState::Stopped)
            .map(|t| task_id(name, t))
            .collect(),
        connector_type: entry.connector_type,
    }
}

fn plugin_connector_type(plugin: &PluginDesc) -> ConnectorType {
    if plugin.plugin_type == PluginType::Sink {
        ConnectorType::Sink
    } else {
        ConnectorType::Source
    }
}

/// The connector plugin `class` names; 500 with Kafka's text when none.
pub(crate) fn find_connector(class: &str) -> Result<PluginDesc, HerderError> {
    plugins::find(class, &[PluginType::Source, PluginType::Sink]).ok_or_else(|| {
        let available: Vec<&str> = plugins::all()
            .into_iter()
            .filter(|p| matches!(p.plugin_type, PluginType::Source | PluginType::Sink))
            .map(|p| p.class)
            .collect();
        HerderError::internal(format!(
            "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
            available.join(", ")
        ))
    })
}
