//! The worker runtime: runs tasks, talks to Kafka, stores offsets.
//!
//! The herder ([`crate::herder`]) decides what should run; the [`Worker`] runs it. A source
//! task runs as: poll → transforms → converters → produce → offsets flushed every
//! `offset.flush.interval.ms`. A sink task runs as: consume (group `connect-<name>`) →
//! converters → transforms → `put` → `pre_commit` → commit. Failures go through error
//! handling (tolerance, retries, error log, DLQ; CONNECT.md e).
//!
//! The Kafka client is reached only through [`client`] (the confluent-kafka crate behind a
//! narrow trait), so the runtime works the same against Josefine or Apache Kafka 4.0+.

use std::sync::Arc;
use std::time::Duration;

use crate::connector::{Config, ConnectorType, PartitionOffset};
use crate::data::ConnectError;
use crate::plugins::PluginDesc;
use crate::status::{StatusStore, TaskId};
use crate::worker_config::WorkerConfig;

/// What the user asked a connector and its tasks to be (CONNECT.md b.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Running (shown RUNNING).
    Started,
    /// Paused: resources kept, no work done.
    Paused,
    /// Stopped: tasks shut down.
    Stopped,
}

/// The runtime of one worker.
pub struct Worker {
    config: Arc<WorkerConfig>,
    status: Arc<StatusStore>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

/// A running task, as the herder holds it.
#[derive(Debug)]
pub struct TaskHandle {
    /// The task.
    pub id: TaskId,
}

impl TaskHandle {
    /// Moves the task to `state` (Started or Paused).
    pub fn set_target_state(&self, _state: TargetState) {}

    /// Stops the task: sources flush offsets, sinks flush and commit. Waits at most
    /// `timeout` (`task.shutdown.graceful.timeout.ms`), then abandons it.
    pub async fn stop(self, _timeout: Duration) {}
}

impl Worker {
    /// A worker for `config` (bootstrap servers already resolved: never `embedded`), which
    /// reports task states into `status`. Opens the offsets file.
    pub async fn new(
        config: WorkerConfig,
        status: Arc<StatusStore>,
    ) -> Result<Worker, ConnectError> {
        Ok(Worker {
            config: Arc::new(config),
            status,
        })
    }

    /// The worker's configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The status store tasks report into.
    pub fn status(&self) -> &Arc<StatusStore> {
        &self.status
    }

    /// The Kafka cluster id (`GET /`).
    pub async fn kafka_cluster_id(&self) -> Result<String, ConnectError> {
        Err(ConnectError::connect("not built yet"))
    }

    /// Starts task `id` of a connector: `connector_config` is the connector's whole
    /// configuration (provider references resolved), `task_config` what the connector gave
    /// this task, `plugin` the connector plugin, `target` its initial target state. The task
    /// reports RUNNING/PAUSED/FAILED into the status store itself.
    pub fn start_task(
        &self,
        id: TaskId,
        _connector_config: &Config,
        _task_config: Config,
        _plugin: PluginDesc,
        _target: TargetState,
    ) -> Result<TaskHandle, ConnectError> {
        Ok(TaskHandle { id })
    }

    /// A connector's offsets (KIP-875): sources from the offsets store, sinks the committed
    /// offsets of group `connect-<name>`.
    pub async fn connector_offsets(
        &self,
        _connector: &str,
        _connector_config: &Config,
        _connector_type: ConnectorType,
    ) -> Result<Vec<PartitionOffset>, ConnectError> {
        Err(ConnectError::connect("not built yet"))
    }

    /// Alters (entries with an offset) or resets (entries with None) offsets. The herder has
    /// checked the connector is stopped and asked the connector to validate them.
    pub async fn alter_offsets(
        &self,
        _connector: &str,
        _connector_config: &Config,
        _connector_type: ConnectorType,
        _offsets: Vec<PartitionOffset>,
    ) -> Result<(), ConnectError> {
        Err(ConnectError::connect("not built yet"))
    }

    /// Removes every offset of the connector.
    pub async fn reset_offsets(
        &self,
        _connector: &str,
        _connector_config: &Config,
        _connector_type: ConnectorType,
    ) -> Result<(), ConnectError> {
        Err(ConnectError::connect("not built yet"))
    }

    /// Topics the connector's tasks produced to or consumed from since the last reset
    /// (`GET /connectors/{c}/topics`), sorted.
    pub fn active_topics(&self, _connector: &str) -> Vec<String> {
        Vec::new()
    }

    /// Forgets the connector's active topics.
    pub fn reset_active_topics(&self, _connector: &str) {}

    /// Flushes the offsets store and closes the clients; call after every task stopped.
    pub async fn shutdown(&self) {}
}
