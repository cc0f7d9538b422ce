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

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::connector::{Config, ConnectorType, PartitionOffset, TopicPartition};
use crate::data::{ConnectError, JsonMap};
use crate::plugins::{Factory, PluginDesc};
use crate::status::{StatusStore, TaskId};
use crate::worker_config::WorkerConfig;

pub mod client;
pub mod errors;
pub mod offsets;
pub mod pipeline;
mod sink;
mod source;

use client::{AdminClientApi, KafkaAdminClient};
use offsets::OffsetStore;

/// Task-config key under which every source task receives the worker's Kafka bootstrap servers
/// (the cluster its records go to), e.g. for a connector that also administers that cluster
/// (MirrorSource, CONNECT.md g.5). Set by the runtime on the copy handed to `SourceTask::start`.
pub const WORKER_BOOTSTRAP_KEY: &str = "worker.bootstrap.servers";

/// What the worker and its tasks share.
pub(crate) struct Shared {
    pub(crate) config: Arc<WorkerConfig>,
    pub(crate) status: Arc<StatusStore>,
    pub(crate) offsets: Arc<OffsetStore>,
    active_topics: Mutex<HashMap<String, BTreeSet<String>>>,
    admin: OnceLock<Arc<KafkaAdminClient>>,
}

impl Shared {
    /// The worker's admin client (`admin.*` keys), created on first use.
    pub(crate) fn admin(&self) -> Result<Arc<KafkaAdminClient>, ConnectError> {
        if let Some(admin) = self.admin.get() {
            return Ok(admin.clone());
        }
        let mut props = self.config.client_properties("admin.");
        props.insert(
            "bootstrap.servers".to_string(),
            self.config.bootstrap_servers(),
        );
        let admin = Arc::new(KafkaAdminClient::new(&props)?);
        Ok(self.admin.get_or_init(|| admin).clone())
    }

    /// Records that `connector` used `topic` (`topic.tracking.enable`).
    pub(crate) fn track_topic(&self, connector: &str, topic: &str) {
        if !self.config.parsed().boolean("topic.tracking.enable") {
            return;
        }
        let mut topics = lock(&self.active_topics);
        let set = topics.entry(connector.to_string()).or_default();
        if !set.contains(topic) {
            set.insert(topic.to_string());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
    shared: Arc<Shared>,
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
    target: watch::Sender<TargetState>,
    stop: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl TaskHandle {
    /// Moves the task to `state` (Started or Paused).
    pub fn set_target_state(&self, state: TargetState) {
        self.target.send_replace(state);
    }

    /// Stops the task: sources flush offsets, sinks flush and commit. Waits at most
    /// `timeout` (`task.shutdown.graceful.timeout.ms`), then abandons it.
    pub async fn stop(self, timeout: Duration) {
        self.stop.cancel();
        let mut join = self.join;
        if tokio::time::timeout(timeout, &mut join).await.is_err() {
            tracing::error!(task = %self.id, "Graceful stop of task failed: it did not stop within {} ms", timeout.as_millis());
            join.abort();
        }
    }

    /// True once the task's loop ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl Worker {
    /// A worker for `config` (bootstrap servers already resolved: never `embedded`), which
    /// reports task states into `status`. Opens the offsets file.
    pub async fn new(
        config: WorkerConfig,
        status: Arc<StatusStore>,
    ) -> Result<Worker, ConnectError> {
        let config = Arc::new(config);
        let path = config.offset_storage_file();
        let offsets = tokio::task::spawn_blocking(move || OffsetStore::open(&path))
            .await
            .map_err(|e| ConnectError::connect(format!("Failed to open offsets file: {e}")))??;
        let shared = Arc::new(Shared {
            config: config.clone(),
            status: status.clone(),
            offsets: Arc::new(offsets),
            active_topics: Mutex::new(HashMap::new()),
            admin: OnceLock::new(),
        });
        Ok(Worker {
            config,
            status,
            shared,
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
        self.shared.admin()?.cluster_id().await
    }

    /// Starts task `id` of a connector: `connector_config` is the connector's whole
    /// configuration (provider references resolved), `task_config` what the connector gave
    /// this task, `plugin` the connector plugin, `target` its initial target state. The task
    /// reports RUNNING/PAUSED/FAILED into the status store itself.
    pub fn start_task(
        &self,
        id: TaskId,
        connector_config: &Config,
        task_config: Config,
        plugin: PluginDesc,
        target: TargetState,
    ) -> Result<TaskHandle, ConnectError> {
        let Factory::Connector(factory) = plugin.factory else {
            return Err(ConnectError::connect(format!(
                "{} is not a connector",
                plugin.class
            )));
        };
        let connector = factory();
        let (target_tx, target_rx) = watch::channel(target);
        let stop = CancellationToken::new();
        let join = match connector.connector_type() {
            ConnectorType::Source => {
                let task = connector.create_source_task().ok_or_else(|| {
                    ConnectError::connect(format!("{} has no source task", plugin.class))
                })?;
                let run = source::SourceTaskRun {
                    id: id.clone(),
                    connector_config: connector_config.clone(),
                    task_config,
                    task,
                    shared: self.shared.clone(),
                    target: target_rx,
                    stop: stop.clone(),
                };
                tokio::spawn(run.run())
            }
            ConnectorType::Sink => {
                let task = connector.create_sink_task().ok_or_else(|| {
                    ConnectError::connect(format!("{} has no sink task", plugin.class))
                })?;
                let run = sink::SinkTaskRun {
                    id: id.clone(),
                    connector_config: connector_config.clone(),
                    task_config,
                    class: plugin.class,
                    task,
                    shared: self.shared.clone(),
                    target: target_rx,
                    stop: stop.clone(),
                };
                tokio::spawn(run.run())
            }
        };
        Ok(TaskHandle {
            id,
            target: target_tx,
            stop,
            join,
        })
    }

    /// A connector's offsets (KIP-875): sources from the offsets store, sinks the committed
    /// offsets of group `connect-<name>`.
    pub async fn connector_offsets(
        &self,
        connector: &str,
        _connector_config: &Config,
        connector_type: ConnectorType,
    ) -> Result<Vec<PartitionOffset>, ConnectError> {
        match connector_type {
            ConnectorType::Source => Ok(self.shared.offsets.offsets(connector)),
            ConnectorType::Sink => {
                let offsets = self
                    .shared
                    .admin()?
                    .group_offsets(&format!("connect-{connector}"))
                    .await?;
                Ok(offsets
                    .into_iter()
                    .map(|(partition, offset)| PartitionOffset {
                        partition: sink_partition(&partition),
                        offset: Some(json_map(serde_json::json!({ "kafka_offset": offset }))),
                    })
                    .collect())
            }
        }
    }

    /// Alters (entries with an offset) or resets (entries with None) offsets. The herder has
    /// checked the connector is stopped and asked the connector to validate them.
    pub async fn alter_offsets(
        &self,
        connector: &str,
        _connector_config: &Config,
        connector_type: ConnectorType,
        offsets: Vec<PartitionOffset>,
    ) -> Result<(), ConnectError> {
        match connector_type {
            ConnectorType::Source => {
                for entry in &offsets {
                    self.shared
                        .offsets
                        .put(connector, &entry.partition, entry.offset.as_ref());
                }
                self.flush_offsets().await
            }
            ConnectorType::Sink => {
                let mut alter = HashMap::new();
                let mut reset = Vec::new();
                for (partition, offset) in parse_sink_offsets(&offsets)? {
                    match offset {
                        Some(offset) => {
                            alter.insert(partition, offset);
                        }
                        None => reset.push(partition),
                    }
                }
                let group = format!("connect-{connector}");
                let admin = self.shared.admin()?;
                if !alter.is_empty() {
                    admin.alter_group_offsets(&group, &alter).await?;
                }
                if !reset.is_empty() {
                    admin.delete_group_offsets(&group, &reset).await?;
                }
                Ok(())
            }
        }
    }

    /// Removes every offset of the connector.
    pub async fn reset_offsets(
        &self,
        connector: &str,
        connector_config: &Config,
        connector_type: ConnectorType,
    ) -> Result<(), ConnectError> {
        match connector_type {
            ConnectorType::Source => {
                self.shared.offsets.remove_connector(connector);
                self.flush_offsets().await
            }
            ConnectorType::Sink => {
                let all = self
                    .connector_offsets(connector, connector_config, connector_type)
                    .await?;
                let resets = all
                    .into_iter()
                    .map(|entry| PartitionOffset {
                        partition: entry.partition,
                        offset: None,
                    })
                    .collect();
                self.alter_offsets(connector, connector_config, connector_type, resets)
                    .await
            }
        }
    }

    async fn flush_offsets(&self) -> Result<(), ConnectError> {
        let store = self.shared.offsets.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| ConnectError::connect(format!("Offset flush failed: {e}")))?
    }

    /// Topics the connector's tasks produced to or consumed from since the last reset
    /// (`GET /connectors/{c}/topics`), sorted.
    pub fn active_topics(&self, connector: &str) -> Vec<String> {
        lock(&self.shared.active_topics)
            .get(connector)
            .map(|topics| topics.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets the connector's active topics.
    pub fn reset_active_topics(&self, connector: &str) {
        lock(&self.shared.active_topics).remove(connector);
    }

    /// Flushes the offsets store and closes the clients; call after every task stopped.
    pub async fn shutdown(&self) {
        if let Err(error) = self.flush_offsets().await {
            tracing::error!(%error, "Failed to flush offsets at shutdown");
        }
        if let Some(admin) = self.shared.admin.get() {
            admin.close().await;
        }
    }
}

fn json_map(value: serde_json::Value) -> JsonMap {
    match value {
        serde_json::Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// KIP-875's sink partition: `{"kafka_topic": t, "kafka_partition": p}`.
fn sink_partition(partition: &TopicPartition) -> JsonMap {
    json_map(serde_json::json!({
        "kafka_topic": partition.topic,
        "kafka_partition": partition.partition,
    }))
}

/// Java's `String.valueOf` of a JSON value, as Kafka parses offsets from it.
fn java_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Kafka's `SinkUtils.parseSinkConnectorOffsets`: KIP-875 sink entries to partitions and
/// offsets (None = reset). `"10"` and `10` are both accepted. Errors (kind Config, a 400
/// `BadRequestException` in Kafka) carry Kafka's texts.
pub fn parse_sink_offsets(
    offsets: &[PartitionOffset],
) -> Result<Vec<(TopicPartition, Option<i64>)>, ConnectError> {
    let bad = |text: String| ConnectError::config(text);
    let mut out = Vec::with_capacity(offsets.len());
    for entry in offsets {
        let partition = &entry.partition;
        let (Some(topic), Some(number)) = (
            partition.get("kafka_topic"),
            partition.get("kafka_partition"),
        ) else {
            return Err(bad("The partition for a sink connector offset must contain the keys 'kafka_topic' and 'kafka_partition'".into()));
        };
        if topic.is_null() {
            return Err(bad(
                "Kafka topic names must be valid strings and may not be null".into(),
            ));
        }
        if number.is_null() {
            return Err(bad(
                "Kafka partitions must be valid numbers and may not be null".into(),
            ));
        }
        let number: i32 = java_text(number).parse().map_err(|_| {
            bad(format!("Failed to parse the following Kafka partition value in the provided offsets: '{}'. Partition values for sink connectors need to be integers.", java_text(number)))
        })?;
        let tp = TopicPartition::new(java_text(topic), number);
        let offset = match &entry.offset {
            None => None,
            Some(offset) => {
                let Some(value) = offset.get("kafka_offset") else {
                    return Err(bad("The offset for a sink connector should either be null or contain the key 'kafka_offset'".into()));
                };
                Some(java_text(value).parse::<i64>().map_err(|_| {
                    bad(format!("Failed to parse the following Kafka offset value in the provided offsets: '{}'. Offset values for sink connectors need to be integers.", java_text(value)))
                })?)
            }
        };
        out.push((tp, offset));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(partition: serde_json::Value, offset: Option<serde_json::Value>) -> PartitionOffset {
        PartitionOffset {
            partition: json_map(partition),
            offset: offset.map(json_map),
        }
    }

    #[test]
    fn sink_offsets_accept_numbers_and_strings() {
        let parsed = parse_sink_offsets(&[
            entry(
                serde_json::json!({"kafka_topic": "t", "kafka_partition": "1"}),
                Some(serde_json::json!({"kafka_offset": 10})),
            ),
            entry(
                serde_json::json!({"kafka_topic": "t", "kafka_partition": 0}),
                None,
            ),
        ])
        .unwrap();
        assert_eq!(
            parsed,
            [
                (TopicPartition::new("t", 1), Some(10)),
                (TopicPartition::new("t", 0), None)
            ]
        );
        let error = parse_sink_offsets(&[entry(
            serde_json::json!({"kafka_topic": "t", "kafka_partition": "x"}),
            None,
        )])
        .unwrap_err();
        assert_eq!(
            error.message,
            "Failed to parse the following Kafka partition value in the provided offsets: 'x'. \
             Partition values for sink connectors need to be integers."
        );
        let error = parse_sink_offsets(&[entry(serde_json::json!({"kafka_topic": "t"}), None)])
            .unwrap_err();
        assert_eq!(
            error.message,
            "The partition for a sink connector offset must contain the keys 'kafka_topic' and \
             'kafka_partition'"
        );
    }
}
