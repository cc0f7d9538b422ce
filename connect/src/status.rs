//! Connector and task states as the status endpoints report them (CONNECT.md a.2, b.7).
//!
//! The herder writes connector states and the runtime writes task states; the REST API
//! reads both. References: Kafka Connect's `AbstractStatus.State`, `ConnectorStatus`,
//! `TaskStatus`.

use std::collections::BTreeMap;
use std::sync::Mutex;

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

/// The states of every connector and task of this worker.
#[derive(Debug, Default)]
pub struct StatusStore {
    connectors: Mutex<BTreeMap<String, Status>>,
    tasks: Mutex<BTreeMap<TaskId, Status>>,
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

    /// Forgets every task of `connector` (stopped, reconfigured or deleted).
    pub fn remove_tasks(&self, connector: &str) {
        lock(&self.tasks).retain(|id, _| id.connector != connector);
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
