//! The connector API: what a connector implements to run on Josefine's Connect runtime.
//!
//! A connector is small: a [`Connector`] validates its configuration and splits work into
//! task configurations; a [`SourceTask`] polls records and reports where they came from
//! (source partition and offset, which the runtime stores and hands back on restart); a
//! [`SinkTask`] receives batches of records and is told when to flush. Everything else —
//! converters, transforms, error tolerance, the dead letter queue, offsets, producing and
//! consuming — is the runtime's.
//!
//! References: Kafka Connect's `Connector`, `SourceTask`, `SinkTask`, `SinkTaskContext`,
//! `ErrantRecordReporter` (KIP-610) in Kafka 3.7.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::config_def::ConfigDef;
use crate::data::{ConnectError, ConnectRecord, JsonMap, SourceRecord};
use crate::status::TaskCounters;

/// A connector's configuration or a task's: Kafka's `Map<String, String>`.
pub type Config = BTreeMap<String, String>;

/// A [`Config`] from `(key, value)` pairs: `config_from(&[("name", "c"), ("tasks.max", "1")])`.
pub fn config_from(pairs: &[(&str, &str)]) -> Config {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Whether a connector reads into Kafka or writes out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorType {
    /// Produces records into Kafka.
    Source,
    /// Consumes records from Kafka.
    Sink,
}

impl ConnectorType {
    /// `source` or `sink`, as the REST API writes it.
    pub fn name(self) -> &'static str {
        match self {
            ConnectorType::Source => "source",
            ConnectorType::Sink => "sink",
        }
    }
}

/// One entry of a connector's offsets, as the offsets endpoints carry it (KIP-875): the
/// partition map and the offset map (None resets that partition).
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionOffset {
    /// The (source or Kafka) partition, e.g. `{"filename": "test.txt"}`.
    pub partition: JsonMap,
    /// The offset, e.g. `{"position": 20}`; None = reset.
    pub offset: Option<JsonMap>,
}

/// A connector: configuration, validation and the split into tasks. One instance runs per
/// connector while it is started; the runtime calls `start`, then `task_configs`, and
/// `stop` when the connector stops, is reconfigured or deleted.
#[async_trait]
pub trait Connector: Send {
    /// Source or sink.
    fn connector_type(&self) -> ConnectorType;

    /// The connector's own keys (the framework's are added by the runtime).
    fn config_def(&self) -> ConfigDef;

    /// Checks a whole configuration beyond what [`Connector::config_def`] checks; returns
    /// `(key, message)` errors. Default: none.
    fn validate(&self, _config: &Config) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Starts with the connector's configuration (config provider references resolved).
    async fn start(&mut self, config: &Config) -> Result<(), ConnectError>;

    /// At most `max_tasks` task configurations; one task runs per entry.
    fn task_configs(&self, max_tasks: usize) -> Vec<Config>;

    /// Creates a source task (source connectors).
    fn create_source_task(&self) -> Option<Box<dyn SourceTask>> {
        None
    }

    /// Creates a sink task (sink connectors).
    fn create_sink_task(&self) -> Option<Box<dyn SinkTask>> {
        None
    }

    /// Checks offsets given to `PATCH /connectors/{c}/offsets` (KIP-875 `alterOffsets`).
    /// Returns an error message for a 400, Ok when the connector accepts them.
    fn alter_offsets(
        &self,
        _config: &Config,
        _offsets: &[PartitionOffset],
    ) -> Result<(), ConnectError> {
        Ok(())
    }

    /// Stops the connector.
    async fn stop(&mut self) {}
}

/// Reads the offsets the runtime stored for this connector's source partitions.
pub trait OffsetReader: Send + Sync {
    /// The last committed offset of `partition`, if any.
    fn offset(&self, partition: &JsonMap) -> Option<JsonMap>;
}

/// What a source task gets at start.
#[derive(Clone)]
pub struct SourceTaskContext {
    /// Committed source offsets of this connector.
    pub offsets: Arc<dyn OffsetReader>,
    /// The task's counters and details, shown in `GET /connectors/{c}/status`. The task
    /// counts `accepted` (taken from the peer), `delivered` (acknowledged by Kafka, usually in
    /// [`SourceTask::commit_record`]), `retried` and `expired`; the runtime counts `dlq` and
    /// `failed`.
    pub counters: Arc<TaskCounters>,
}

impl std::fmt::Debug for SourceTaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTaskContext").finish_non_exhaustive()
    }
}

/// The broker's answer to one produced record of a source task.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordMetadata {
    /// Topic written.
    pub topic: String,
    /// Partition written.
    pub partition: i32,
    /// Offset assigned.
    pub offset: i64,
}

/// A source task: polls records from outside Kafka.
#[async_trait]
pub trait SourceTask: Send {
    /// Starts with the task configuration.
    async fn start(
        &mut self,
        config: &Config,
        context: SourceTaskContext,
    ) -> Result<(), ConnectError>;

    /// The next records, at most a batch; an empty list when nothing arrived. Should return
    /// within about a second so the runtime can pause or stop the task between polls.
    async fn poll(&mut self) -> Result<Vec<SourceRecord>, ConnectError>;

    /// Called for each record once Kafka acknowledged it (`metadata`), or once it was
    /// dropped by a transform or skipped under `errors.tolerance=all` (`None`), in the
    /// order of `poll`. Bridges answer their peers here.
    async fn commit_record(&mut self, _record: &SourceRecord, _metadata: Option<&RecordMetadata>) {}

    /// Called just before `commit_record(record, None)` when Kafka did not accept `record`
    /// (stage `KAFKA_PRODUCE`) and `errors.tolerance=all` skipped it, as Kafka's
    /// WorkerSourceTask does since KIP-779: the record is lost, not appended. A bridge that
    /// answers its peer (HttpIngestSource) reports the loss here instead of a success.
    /// Default: nothing.
    async fn record_not_produced(&mut self, _record: &SourceRecord, _error: &ConnectError) {}

    /// Called after the runtime flushed source offsets.
    async fn commit(&mut self) {}

    /// Stops the task.
    async fn stop(&mut self) {}
}

/// Records a sink task could not deliver permanently, sent through the runtime's error
/// handling (tolerance, error log, DLQ) — Kafka's `ErrantRecordReporter` (KIP-610).
#[async_trait]
pub trait ErrantRecordReporter: Send + Sync {
    /// Reports `record` as failed with `error`. Errors when tolerance is `none` (the task
    /// must then fail with that error).
    async fn report(&self, record: &ConnectRecord, error: ConnectError)
        -> Result<(), ConnectError>;
}

/// What a sink task gets at start.
#[derive(Clone)]
pub struct SinkTaskContext {
    /// Reporter for records that fail permanently.
    pub errant_record_reporter: Arc<dyn ErrantRecordReporter>,
    /// The task's counters and details, shown in `GET /connectors/{c}/status`. The task
    /// counts `accepted` (records `put` took), `delivered` (acknowledged by the peer),
    /// `retried` and `expired`; the runtime counts `dlq` and `failed` for records it or the
    /// [`ErrantRecordReporter`] handled.
    pub counters: Arc<TaskCounters>,
    /// Pause, resume and commit requests to the runtime (Kafka's `SinkTaskContext.pause`,
    /// `resume`, `requestCommit`).
    pub control: Arc<SinkControl>,
}

/// Requests a sink task makes of its consumer loop (Kafka's `SinkTaskContext`). Requests take
/// effect on the loop's next iteration, which they wake; a paused partition stays paused across
/// a connector pause/resume until the task resumes it.
#[derive(Debug, Default)]
pub struct SinkControl {
    state: Mutex<ControlState>,
    wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct ControlState {
    paused: HashSet<TopicPartition>,
    changed: bool,
    commit_requested: bool,
    assignment: Vec<TopicPartition>,
}

impl SinkControl {
    fn state(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops fetching from `partitions` until [`SinkControl::resume`]; records already
    /// fetched may still arrive in one more `put`.
    pub fn pause(&self, partitions: &[TopicPartition]) {
        let mut state = self.state();
        for partition in partitions {
            state.changed |= state.paused.insert(partition.clone());
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Fetches from `partitions` again.
    pub fn resume(&self, partitions: &[TopicPartition]) {
        let mut state = self.state();
        for partition in partitions {
            state.changed |= state.paused.remove(partition);
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Asks for `pre_commit` and a commit soon, before `offset.flush.interval.ms` elapses.
    pub fn request_commit(&self) {
        self.state().commit_requested = true;
        self.wake.notify_one();
    }

    /// The partitions currently assigned to the task.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.state().assignment.clone()
    }

    /// Partitions the task paused (runtime side).
    pub fn paused(&self) -> HashSet<TopicPartition> {
        self.state().paused.clone()
    }

    /// Takes the "pause set changed" flag (runtime side).
    pub fn take_changed(&self) -> bool {
        std::mem::take(&mut self.state().changed)
    }

    /// Takes the commit request flag (runtime side).
    pub fn take_commit_request(&self) -> bool {
        std::mem::take(&mut self.state().commit_requested)
    }

    /// Records the assignment and forgets pauses of partitions no longer assigned (runtime
    /// side).
    pub fn set_assignment(&self, assignment: &[TopicPartition]) {
        let mut state = self.state();
        state
            .paused
            .retain(|partition| assignment.contains(partition));
        state.assignment = assignment.to_vec();
    }

    /// Resolves when a request arrived since the last call (runtime side).
    pub async fn notified(&self) {
        self.wake.notified().await;
    }
}

impl std::fmt::Debug for SinkTaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkTaskContext").finish_non_exhaustive()
    }
}

/// A sink task: receives records consumed from Kafka.
#[async_trait]
pub trait SinkTask: Send {
    /// Starts with the task configuration.
    async fn start(
        &mut self,
        config: &Config,
        context: SinkTaskContext,
    ) -> Result<(), ConnectError>;

    /// Partitions assigned to this task.
    async fn open(&mut self, _partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        Ok(())
    }

    /// Delivers a batch (records carry `kafka_offset`). A retriable error makes the runtime
    /// pause consumption and hand the same batch again after a backoff; any other error
    /// fails the task.
    async fn put(&mut self, records: Vec<ConnectRecord>) -> Result<(), ConnectError>;

    /// Flushes what `put` received, before the runtime commits `offsets` (next offset to
    /// consume per partition). Returns the offsets safe to commit; default: all of them
    /// after [`SinkTask::flush`].
    async fn pre_commit(
        &mut self,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<HashMap<TopicPartition, i64>, ConnectError> {
        self.flush(offsets).await?;
        Ok(offsets.clone())
    }

    /// Makes everything `put` so far durable.
    async fn flush(&mut self, _offsets: &HashMap<TopicPartition, i64>) -> Result<(), ConnectError> {
        Ok(())
    }

    /// True when the task may report a record through the [`ErrantRecordReporter`] after
    /// the `put` that delivered it returned (an asynchronous sink): the runtime then keeps
    /// each record's original bytes for the dead letter queue until its offset is committed.
    /// Default false: reports happen during `put`.
    fn reports_errant_records_after_put(&self) -> bool {
        false
    }

    /// Partitions revoked from this task.
    async fn close(&mut self, _partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        Ok(())
    }

    /// Stops the task.
    async fn stop(&mut self) {}
}
