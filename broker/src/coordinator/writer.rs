//! Ordered writes to a coordinator's internal topic (`__consumer_offsets`,
//! `__transaction_state`), off the runtime workers and outside the coordinator's lock.
//!
//! A coordinator decides a change under its lock and orders the write there
//! (`InternalTopicWriter::write`: a send on an unbounded channel, which never blocks), then
//! releases the lock and awaits the write. Each partition of the topic has one writer task
//! that takes the queued writes in order, appends them on the blocking pool (creating the
//! topic on first use), and then runs each write's completion, in the same order, on the task.
//! A coordinator applies a change to its in-memory state in that completion, so that state
//! changes happen in the order of the records on disk, and a change whose write failed is
//! never applied. A completion runs even when the request that ordered it has gone (its
//! client disconnected): the state stays what the log says.
//!
//! References: Kafka's `CoordinatorRuntime` (one ordered event loop per `__consumer_offsets`
//! partition, KIP-848) and the append callbacks of the classic `GroupMetadataManager`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use josefine_storage::batch::ControlType;
use josefine_storage::producer_state::ProducerStateError;
use josefine_storage::{AppendOrigin, StorageError};
use kafka_protocol::error::ResponseError;
use tokio::sync::{mpsc, oneshot};

use crate::coordinator::group::records::partition_for;
use crate::metadata::topics::{Partition, Topic, TopicError, TopicRegistry};

/// The most writes one trip to the blocking pool performs.
const MAX_WRITES_PER_TRIP: usize = 64;

/// An internal topic and how it is created on first use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InternalTopic {
    /// Its name.
    pub(crate) name: &'static str,
    /// Partitions it is created with (`offsets.topic.num.partitions`,
    /// `transaction.state.log.num.partitions`).
    pub(crate) partitions: i32,
    /// `segment.bytes` it is created with.
    pub(crate) segment_bytes: i64,
}

/// What one write appends.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// A record batch, as built by the coordinator.
    Batch {
        /// The batch bytes.
        batch: Vec<u8>,
        /// Who writes it: the producer state checks depend on it.
        origin: AppendOrigin,
    },
    /// A transaction marker of `producer_id` (KIP-98).
    Marker {
        /// The producer whose transaction ends.
        producer_id: i64,
        /// Its epoch.
        producer_epoch: i16,
        /// COMMIT or ABORT.
        control: ControlType,
    },
}

/// Why a coordinator's write failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// The internal topic does not exist and cannot be created.
    #[error("cannot create {topic}: {source}")]
    Topic {
        /// The internal topic.
        topic: &'static str,
        /// Why.
        source: Arc<TopicError>,
    },
    /// The internal topic has no such partition (it was created with fewer).
    #[error("{topic} has no partition {partition}")]
    NoPartition {
        /// The internal topic.
        topic: &'static str,
        /// The partition index.
        partition: i32,
    },
    /// The append failed.
    #[error("cannot append to {topic}-{partition}: {source}")]
    Storage {
        /// The internal topic.
        topic: &'static str,
        /// The partition index.
        partition: i32,
        /// The storage error.
        source: StorageError,
    },
    /// The writer stopped before the write completed (the runtime is shutting down).
    #[error("the writer of {topic}-{partition} stopped")]
    Stopped {
        /// The internal topic.
        topic: &'static str,
        /// The partition index.
        partition: i32,
    },
}

impl WriteError {
    /// The error code a coordinator answers for this failure, as Kafka's coordinators map
    /// theirs: COORDINATOR_NOT_AVAILABLE while the topic cannot be created,
    /// INVALID_PRODUCER_EPOCH when a transactional batch's producer is fenced, and
    /// NOT_COORDINATOR for any other failed write (the client looks the coordinator up again
    /// and retries).
    pub(crate) fn response_error(&self) -> ResponseError {
        match self {
            Self::Topic { .. } | Self::NoPartition { .. } => ResponseError::CoordinatorNotAvailable,
            Self::Storage {
                source: StorageError::Producer(ProducerStateError::InvalidProducerEpoch { .. }),
                ..
            } => ResponseError::InvalidProducerEpoch,
            Self::Storage { .. } | Self::Stopped { .. } => ResponseError::NotCoordinator,
        }
    }
}

/// A write ordered on a partition's writer: resolves to what its completion returned.
#[derive(Debug)]
pub(crate) struct Written<T> {
    rx: oneshot::Receiver<T>,
}

impl<T> Written<T> {
    /// Waits for the write and its completion; `None` when the writer stopped first.
    pub(crate) async fn wait(self) -> Option<T> {
        self.rx.await.ok()
    }

    /// The receiver of the completion's result, for answers that are already channels
    /// ([`crate::coordinator::group::Reply::Later`]).
    pub(crate) fn into_receiver(self) -> oneshot::Receiver<T> {
        self.rx
    }
}

type Completion = Box<dyn FnOnce(Result<(), WriteError>) + Send>;

struct Job {
    op: WriteOp,
    done: Completion,
}

/// The ordered writers of one internal topic: one task per partition, started on its first
/// write.
pub(crate) struct InternalTopicWriter {
    topics: Arc<TopicRegistry>,
    topic: InternalTopic,
    queues: Mutex<HashMap<i32, mpsc::UnboundedSender<Job>>>,
    /// Tests hold a partition's writes inside the blocking pool with these.
    #[cfg(test)]
    holds: Arc<Mutex<HashMap<i32, Arc<std::sync::RwLock<()>>>>>,
}

impl std::fmt::Debug for InternalTopicWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalTopicWriter")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl InternalTopicWriter {
    /// The writer of `topic` in `topics`; no task runs until the first write.
    pub(crate) fn new(topics: Arc<TopicRegistry>, topic: InternalTopic) -> Self {
        Self {
            topics,
            topic,
            queues: Mutex::new(HashMap::new()),
            #[cfg(test)]
            holds: Arc::default(),
        }
    }

    /// The partition that holds `key` (a group id or transactional id): Kafka's
    /// `abs(key.hashCode) % partitions` over [`InternalTopicWriter::partition_count`].
    pub(crate) fn partition_for(&self, key: &str) -> i32 {
        partition_for(key, self.partition_count())
    }

    /// The partitions keys are spread over: `offsets.topic.num.partitions`
    /// (`transaction.state.log.num.partitions`), or the topic's partition count when it
    /// exists with fewer. Partitions added later (CreatePartitions, which Kafka 3.7 allows on
    /// internal topics) are never used, so a group or transactional id never moves to another
    /// partition and its committed state is found again after a restart.
    pub(crate) fn partition_count(&self) -> i32 {
        self.topics
            .get(self.topic.name)
            .map_or(self.topic.partitions, |t| {
                t.partition_count().min(self.topic.partitions)
            })
    }

    /// The topic, created (compacted) on the blocking pool if it does not exist yet: the
    /// first FindCoordinator creates its 50 partitions' files without holding up a runtime
    /// worker.
    ///
    /// Errors: `Topic` when it cannot be created.
    pub(crate) async fn topic(&self) -> Result<Arc<Topic>, WriteError> {
        if let Some(topic) = self.topics.get(self.topic.name) {
            return Ok(topic);
        }
        let topics = Arc::clone(&self.topics);
        let topic = self.topic;
        tokio::task::spawn_blocking(move || create(&topics, topic))
            .await
            .unwrap_or(Err(WriteError::Stopped {
                topic: topic.name,
                partition: -1,
            }))
    }

    /// Orders `op` on `partition` after every write ordered there before, and returns at
    /// once (this is what a coordinator calls under its lock). When the append has completed
    /// or failed, `then` runs on the partition's writer task, in the order of the writes,
    /// with the result; the returned [`Written`] resolves to what `then` returned.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        partition: i32,
        op: WriteOp,
        then: impl FnOnce(Result<(), WriteError>) -> T + Send + 'static,
    ) -> Written<T> {
        let (tx, rx) = oneshot::channel();
        let mut job = Job {
            op,
            done: Box::new(move |result| {
                let _ = tx.send(then(result));
            }),
        };
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let queue = queues
                .entry(partition)
                .or_insert_with(|| self.start(partition));
            match queue.send(job) {
                Ok(()) => break,
                // The task ended (a completion panicked): start another one.
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    queues.remove(&partition);
                }
            }
        }
        Written { rx }
    }

    fn start(&self, partition: i32) -> mpsc::UnboundedSender<Job> {
        let (tx, rx) = mpsc::unbounded_channel();
        let target = Target {
            topics: Arc::clone(&self.topics),
            topic: self.topic,
            partition,
            #[cfg(test)]
            holds: Arc::clone(&self.holds),
        };
        tokio::spawn(run(target, rx));
        tx
    }

    /// Test hook: a lock whose write guard holds the writes to `partition` inside the
    /// blocking pool, like a disk that does not answer.
    #[cfg(test)]
    pub(crate) fn hold(&self, partition: i32) -> Arc<std::sync::RwLock<()>> {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(holds.entry(partition).or_default())
    }
}

/// Gets or creates the internal topic (blocking: file creation).
fn create(topics: &TopicRegistry, topic: InternalTopic) -> Result<Arc<Topic>, WriteError> {
    topics
        .internal_topic(topic.name, topic.partitions, topic.segment_bytes)
        .map_err(|err| {
            tracing::error!(%err, topic = topic.name, "cannot create an internal topic");
            WriteError::Topic {
                topic: topic.name,
                source: Arc::new(err),
            }
        })
}

/// One partition's writer, as its task and the blocking pool see it.
#[derive(Clone)]
struct Target {
    topics: Arc<TopicRegistry>,
    topic: InternalTopic,
    partition: i32,
    #[cfg(test)]
    holds: Arc<Mutex<HashMap<i32, Arc<std::sync::RwLock<()>>>>>,
}

impl Target {
    /// Appends `ops` in order (blocking: appends may roll segments and fsync).
    fn append_all(&self, ops: &[WriteOp]) -> Vec<Result<(), WriteError>> {
        #[cfg(test)]
        let hold = self
            .holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.partition)
            .cloned();
        #[cfg(test)]
        let _held = hold.as_ref().map(|h| h.read());
        let partition = create(&self.topics, self.topic).and_then(|topic| {
            topic
                .partition(self.partition)
                .ok_or(WriteError::NoPartition {
                    topic: self.topic.name,
                    partition: self.partition,
                })
        });
        ops.iter()
            .map(|op| match &partition {
                Ok(partition) => self.append(partition, op),
                Err(WriteError::Topic { topic, source }) => Err(WriteError::Topic {
                    topic,
                    source: Arc::clone(source),
                }),
                Err(_) => Err(WriteError::NoPartition {
                    topic: self.topic.name,
                    partition: self.partition,
                }),
            })
            .collect()
    }

    fn append(&self, partition: &Partition, op: &WriteOp) -> Result<(), WriteError> {
        let appended = match op {
            WriteOp::Batch { batch, origin } => partition.append_from(batch, *origin).map(|_| ()),
            WriteOp::Marker {
                producer_id,
                producer_epoch,
                control,
            } => partition
                .append_marker(*producer_id, *producer_epoch, *control)
                .map(|_| ()),
        };
        appended.map_err(|source| {
            let err = WriteError::Storage {
                topic: self.topic.name,
                partition: self.partition,
                source,
            };
            if err.response_error() == ResponseError::NotCoordinator {
                tracing::error!(%err, "a coordinator write failed");
            }
            err
        })
    }
}

/// A partition's writer task: takes the queued writes in order, appends them on the blocking
/// pool, then runs their completions in the same order. Ends when the coordinator is dropped.
async fn run(target: Target, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_WRITES_PER_TRIP);
    while queue.recv_many(&mut jobs, MAX_WRITES_PER_TRIP).await > 0 {
        let (ops, completions): (Vec<WriteOp>, Vec<Completion>) =
            jobs.drain(..).map(|job| (job.op, job.done)).unzip();
        let count = ops.len();
        let on_pool = target.clone();
        let results = tokio::task::spawn_blocking(move || on_pool.append_all(&ops))
            .await
            .unwrap_or_else(|_| {
                (0..count)
                    .map(|_| {
                        Err(WriteError::Stopped {
                            topic: target.topic.name,
                            partition: target.partition,
                        })
                    })
                    .collect()
            });
        for (done, result) in completions.into_iter().zip(results) {
            done(result);
        }
    }
}
