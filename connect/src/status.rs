//! Connector and task states as the status endpoints report them (CONNECT.md a.2, b.7).
//!
//! The herder writes connector states and the runtime writes task states; the REST API
//! reads both. References: Kafka Connect's `AbstractStatus.State`, `ConnectorStatus`,
//! `TaskStatus`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as JsonValue};

/// A connector or task state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not yet started.
    Unassigned,
    /// Running.
    Running,
    /// Paused: resources kept, no work done.
    Paused,
    /// Failed; the status carries a trace.
    Failed,
    /// About to restart (shown in a restart's 202 answer).
    Restarting,
    /// Stopped (connectors only).
    Stopped,
}

impl State {
    /// Kafka's upper-case name.
    pub fn name(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
        }
    }
}

/// A task's identity: connector name and task number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// Connector name.
    pub connector: String,
    /// Task number, from 0.
    pub task: u32,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.connector, self.task)
    }
}

/// One state with its trace (present for FAILED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// State.
    pub state: State,
    /// Error text with its cause chain, when FAILED.
    pub trace: Option<String>,
}

/// What happened to the records of one task, for `GET /connectors/{c}/status` (CONNECT.md
/// g.0 "delivery vocabulary"). Every task has one; connectors count what they see and the
/// runtime counts what its error handling does (`dlq`, `failed`). Counts are records since the
/// task (re)started; the connector's entry in the status body is the sum over its tasks.
#[derive(Debug, Default)]
pub struct TaskCounters {
    accepted: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    expired: AtomicU64,
    dlq: AtomicU64,
    failed: AtomicU64,
    details: Mutex<Map<String, JsonValue>>,
}

/// One of the [`TaskCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Records taken in from the peer (sources) or from Kafka (sinks).
    Accepted,
    /// Records the other side acknowledged: the broker (sources) or the peer (sinks).
    Delivered,
    /// Delivery attempts repeated after a retriable failure (one per attempt).
    Retried,
    /// Records not delivered because their time to live had passed.
    Expired,
    /// Records written to the dead letter queue.
    Dlq,
    /// Records that failed permanently and went to no dead letter queue (skipped under
    /// `errors.tolerance=all`, the record that failed a task, or a qos 0 failure).
    Failed,
}

impl Counter {
    /// Every counter, in the order the status body lists them.
    pub const ALL: [Counter; 6] = [
        Counter::Accepted,
        Counter::Delivered,
        Counter::Retried,
        Counter::Expired,
        Counter::Dlq,
        Counter::Failed,
    ];

    /// The key in the status body's `counters` object.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Accepted => "accepted",
            Counter::Delivered => "delivered",
            Counter::Retried => "retried",
            Counter::Expired => "expired",
            Counter::Dlq => "dlq",
            Counter::Failed => "failed",
        }
    }
}

impl TaskCounters {
    fn cell(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::Accepted => &self.accepted,
            Counter::Delivered => &self.delivered,
            Counter::Retried => &self.retried,
            Counter::Expired => &self.expired,
            Counter::Dlq => &self.dlq,
            Counter::Failed => &self.failed,
        }
    }

    /// Adds `n` records to `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        self.cell(counter).fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one record to `counter`.
    pub fn incr(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// The current count of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.cell(counter).load(Ordering::Relaxed)
    }

    /// Sets a task detail shown next to the counters in the task's status, e.g.
    /// `("listener", "127.0.0.1:39411")` for a bridge that bound port 0.
    pub fn set_detail(&self, key: &str, value: JsonValue) {
        lock(&self.details).insert(key.to_string(), value);
    }

    /// The task details set with [`TaskCounters::set_detail`].
    pub fn details(&self) -> Map<String, JsonValue> {
        lock(&self.details).clone()
    }

    /// `{"accepted":N,"delivered":N,"retried":N,"expired":N,"dlq":N,"failed":N}`.
    pub fn to_json(&self) -> Map<String, JsonValue> {
        Counter::ALL
            .iter()
            .map(|&counter| {
                (
                    counter.name().to_string(),
                    JsonValue::from(self.get(counter)),
                )
            })
            .collect()
    }
}

/// Sums counter objects as [`TaskCounters::to_json`] writes them.
pub fn sum_counters<'a>(
    all: impl IntoIterator<Item = &'a Map<String, JsonValue>>,
) -> Map<String, JsonValue> {
    let mut sums = [0u64; 6];
    for counters in all {
        for (sum, counter) in sums.iter_mut().zip(Counter::ALL) {
            *sum += counters
                .get(counter.name())
                .and_then(JsonValue::as_u64)
                .unwrap_or(0);
        }
    }
    Counter::ALL
        .iter()
        .zip(sums)
        .map(|(counter, sum)| (counter.name().to_string(), JsonValue::from(sum)))
        .collect()
}

/// The states of every connector and task of this worker.
#[derive(Debug, Default)]
pub struct StatusStore {
    connectors: Mutex<BTreeMap<String, Status>>,
    tasks: Mutex<BTreeMap<TaskId, Status>>,
    counters: Mutex<BTreeMap<TaskId, Arc<TaskCounters>>>,
}

impl StatusStore {
    /// An empty store.
    pub fn new() -> StatusStore {
        StatusStore::default()
    }

    /// Records a connector's state.
    pub fn put_connector(&self, connector: &str, state: State, trace: Option<String>) {
        lock(&self.connectors).insert(connector.to_string(), Status { state, trace });
    }

    /// Records a task's state.
    pub fn put_task(&self, id: &TaskId, state: State, trace: Option<String>) {
        lock(&self.tasks).insert(id.clone(), Status { state, trace });
    }

    /// A connector's state.
    pub fn connector(&self, connector: &str) -> Option<Status> {
        lock(&self.connectors).get(connector).cloned()
    }

    /// A task's state.
    pub fn task(&self, id: &TaskId) -> Option<Status> {
        lock(&self.tasks).get(id).cloned()
    }

    /// Every task of `connector`, by task number.
    pub fn tasks_of(&self, connector: &str) -> Vec<(u32, Status)> {
        lock(&self.tasks)
            .iter()
            .filter(|(id, _)| id.connector == connector)
            .map(|(id, status)| (id.task, status.clone()))
            .collect()
    }

    /// Fresh counters for a task that is starting (replacing those of an earlier run).
    pub fn new_counters(&self, id: &TaskId) -> Arc<TaskCounters> {
        let counters = Arc::new(TaskCounters::default());
        lock(&self.counters).insert(id.clone(), counters.clone());
        counters
    }

    /// A task's counters, if it started.
    pub fn counters(&self, id: &TaskId) -> Option<Arc<TaskCounters>> {
        lock(&self.counters).get(id).cloned()
    }

    /// Forgets every task of `connector` (stopped, reconfigured or deleted).
    pub fn remove_tasks(&self, connector: &str) {
        lock(&self.tasks).retain(|id, _| id.connector != connector);
        lock(&self.counters).retain(|id, _| id.connector != connector);
    }

    /// Forgets a connector and its tasks.
    pub fn remove_connector(&self, connector: &str) {
        lock(&self.connectors).remove(connector);
        self.remove_tasks(connector);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
