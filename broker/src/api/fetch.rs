//! Fetch: record batches from each partition, waiting up to `max_wait_ms` for `min_bytes`.
//!
//! Records are zero-copy `Bytes` views of the segment mappings. A fetch that finds too little
//! registers a waiter on each of its partitions and sleeps until an append wakes it or the
//! wait ends; it is never polled.
//!
//! Under isolation level read_committed a partition's records stop before the last stable
//! offset and come with the aborted transactions among them, which the client skips (KIP-98).
//!
//! References: Kafka protocol guide "Fetch API"; KIP-98 (isolation level, v4); KIP-74 (max_bytes, at least one batch);
//! KIP-227 (fetch sessions, v7); KIP-320 (leader epochs); KIP-516 (topic ids, v13).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use josefine_storage::batch::Batches;
use josefine_storage::producer_state::AbortedTransaction;
use josefine_storage::AppendWaiter;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{self, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use tokio::sync::Notify;

use super::str_bytes;
use crate::api::ZeroCopy;
use crate::context::RequestContext;
use crate::coordinator::fetch_session::{FetchTarget, PartitionKey, SentState};
use crate::error::optional_code;
use crate::error::storage_error_code;
use crate::error::ConnectionError;
use crate::metadata::topics::Partition;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

/// Isolation level read_committed (KIP-98).
const READ_COMMITTED: i8 = 1;

struct PartitionRead {
    error: Option<ResponseError>,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Bytes,
    /// Under read_committed: (producer id, first offset) of the aborted transactions in the
    /// records.
    aborted: Option<Vec<AbortedTransaction>>,
}

fn read_partition(
    partition: Option<&Arc<Partition>>,
    target: &FetchTarget,
    unknown: ResponseError,
    max_bytes: usize,
    min_one: bool,
    read_committed: bool,
) -> PartitionRead {
    let failed = |error| PartitionRead {
        error: Some(error),
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        records: Bytes::new(),
        aborted: None,
    };
    let Some(partition) = partition else {
        return failed(unknown);
    };
    if target.current_leader_epoch > 0 {
        return failed(ResponseError::UnknownLeaderEpoch);
    }
    let log = &partition.log;
    let limit = usize::try_from(target.partition_max_bytes)
        .unwrap_or(0)
        .min(max_bytes);
    // Read the offsets first: the records read next can only reach further, never less far.
    let high_watermark = log.high_watermark();
    let last_stable_offset = log.last_stable_offset().min(high_watermark);
    let log_start_offset = log.log_start_offset();
    // read_committed stops at the last stable offset (KIP-98), read_uncommitted at the high
    // watermark answered with.
    let max_offset = if read_committed {
        last_stable_offset
    } else {
        high_watermark
    };
    match log.read_below(target.fetch_offset, limit, min_one, max_offset) {
        Ok(records) => {
            let aborted = read_committed.then(|| {
                let upper = last_offset_in(&records).map_or(target.fetch_offset, |o| o + 1);
                if upper > target.fetch_offset {
                    log.aborted_transactions(target.fetch_offset, upper)
                } else {
                    Vec::new()
                }
            });
            PartitionRead {
                error: None,
                high_watermark,
                last_stable_offset,
                log_start_offset,
                records,
                aborted,
            }
        }
        Err(err) => failed(storage_error_code(&err)),
    }
}

/// A fetch parked until one of its partitions grows.
#[derive(Debug, Default)]
struct FetchWaiter(Notify);

impl AppendWaiter for FetchWaiter {
    fn wake(&self) {
        self.0.notify_one();
    }
}

/// The last offset of the last whole batch in `records`.
fn last_offset_in(records: &[u8]) -> Option<i64> {
    Batches::new(records)
        .last()
        .map(|batch| batch.header.last_offset())
}

/// Reads every target once; returns the reads and the bytes they hold.
fn read_all(
    partitions: &[(Option<Arc<Partition>>, ResponseError)],
    targets: &[FetchTarget],
    max_bytes: usize,
    read_committed: bool,
) -> (Vec<PartitionRead>, usize) {
    let mut total = 0usize;
    let mut reads = Vec::with_capacity(targets.len());
    for ((partition, unknown), target) in partitions.iter().zip(targets) {
        let read = read_partition(
            partition.as_ref(),
            target,
            *unknown,
            max_bytes.saturating_sub(total),
            total == 0,
            read_committed,
        );
        total += read.records.len();
        reads.push(read);
    }
    (reads, total)
}

/// Answers a fetch, parking it until data arrives when it finds less than `min_bytes`.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: FetchRequest,
) -> Result<ZeroCopy<FetchResponse>, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let registry = &state.topics;
    // From v13 topics travel by id, before by name: the session keys carry both. The name is
    // shared by the topic's partitions, never copied per partition.
    let topic_key = |name: &str, id: uuid::Uuid| -> (Arc<str>, uuid::Uuid) {
        if version >= 13 {
            let name = registry.get_by_id(id).map(|t| Arc::from(t.name.as_str()));
            (name.unwrap_or_else(|| Arc::from("")), id)
        } else {
            (Arc::from(name), uuid::Uuid::nil())
        }
    };
    let mut requested = Vec::with_capacity(request.topics.iter().map(|t| t.partitions.len()).sum());
    for topic in &request.topics {
        let (name, topic_id) = topic_key(&topic.topic.0, topic.topic_id);
        for p in &topic.partitions {
            requested.push(FetchTarget {
                topic: Arc::clone(&name),
                topic_id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
            });
        }
    }
    let forgotten: Vec<PartitionKey> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|f| {
            let (topic, topic_id) = topic_key(&f.topic.0, f.topic_id);
            f.partitions.iter().map(move |p| PartitionKey {
                topic_id,
                topic: Arc::clone(&topic),
                partition: *p,
            })
        })
        .collect();
    let context = match state.fetch_sessions.begin(
        request.session_id,
        request.session_epoch,
        requested,
        &forgotten,
        std::time::Instant::now(),
    ) {
        Ok(context) => context,
        Err(error) => {
            return Ok(ZeroCopy(
                FetchResponse::default().with_error_code(error.code()),
            ))
        }
    };
    // A follower's fetch needs CLUSTER_ACTION; a consumer's READ on each topic (Kafka's
    // `handleFetchRequest`): refused partitions answer TOPIC_AUTHORIZATION_FAILED.
    let from_follower = if version >= 15 {
        request.replica_state.replica_id.0 >= 0
    } else {
        request.replica_id.0 >= 0
    };
    let follower_authorized = !from_follower
        || ctx.authorize(
            Operation::ClusterAction,
            ResourceType::Cluster,
            CLUSTER_NAME,
        );
    // Consecutive targets of one topic look the topic up (and authorize it) once.
    let mut last_topic: Option<(
        &FetchTarget,
        Option<Arc<crate::metadata::topics::Topic>>,
        bool,
    )> = None;
    let partitions: Vec<(Option<Arc<Partition>>, ResponseError)> = context
        .targets
        .iter()
        .map(|t| {
            let unknown = if version >= 13 {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            let (topic, authorized) = match &last_topic {
                Some((last, topic, authorized))
                    if last.topic_id == t.topic_id && last.topic == t.topic =>
                {
                    (topic.clone(), *authorized)
                }
                _ => {
                    let topic = if version >= 13 {
                        registry.get_by_id(t.topic_id)
                    } else {
                        registry.get(&t.topic)
                    };
                    let authorized = follower_authorized
                        && ctx.authorize(Operation::Read, ResourceType::Topic, &t.topic);
                    last_topic = Some((t, topic.clone(), authorized));
                    (topic, authorized)
                }
            };
            match topic {
                // An unknown topic id is unknown before it is unauthorized: it has no name.
                _ if !authorized && (version < 13 || topic.is_some()) => {
                    (None, ResponseError::TopicAuthorizationFailed)
                }
                Some(topic) => (
                    topic.partition(t.partition),
                    ResponseError::UnknownTopicOrPartition,
                ),
                None => (None, unknown),
            }
        })
        .collect();
    let max_bytes =
        super::fetch_quota::max_bytes(ctx, usize::try_from(request.max_bytes).unwrap_or(0));
    let read_committed = request.isolation_level == READ_COMMITTED;
    let min_bytes = usize::try_from(request.min_bytes)
        .unwrap_or(0)
        .min(max_bytes);
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let waiter = Arc::new(FetchWaiter::default());
    let mut registered = false;
    let (reads, _) = loop {
        let (reads, total) = read_all(&partitions, &context.targets, max_bytes, read_committed);
        let has_error = reads.iter().any(|r| r.error.is_some());
        if total >= min_bytes.max(1)
            || has_error
            || request.max_wait_ms <= 0
            || tokio::time::Instant::now() >= deadline
        {
            break (reads, total);
        }
        if !registered {
            // Park on every partition, then read again: an append between the read above and
            // the registration would otherwise go unnoticed until the deadline.
            let parked: Arc<dyn AppendWaiter> = waiter.clone();
            for (partition, _) in &partitions {
                if let Some(partition) = partition {
                    partition.log.register_waiter(&parked);
                }
            }
            registered = true;
            continue;
        }
        if tokio::time::timeout_at(deadline, waiter.0.notified())
            .await
            .is_err()
        {
            break read_all(&partitions, &context.targets, max_bytes, read_committed);
        }
        // Woken: the partition that grew dropped its registration; park again after a read.
        registered = false;
    };
    let summary: Vec<_> = reads
        .iter()
        .map(|r| {
            (
                SentState {
                    high_watermark: r.high_watermark,
                    last_stable_offset: r.last_stable_offset,
                    log_start_offset: r.log_start_offset,
                },
                !r.records.is_empty() || r.error.is_some(),
            )
        })
        .collect();
    if let Some(throttle) = super::fetch_quota::throttle(ctx, &reads, |r| r.records.len()) {
        // Kafka 3.7 answers a fetch past the consumer byte rate with no partitions; the
        // session does not learn of records it never sent.
        return Ok(ZeroCopy(
            FetchResponse::default()
                .with_throttle_time_ms(throttle)
                .with_session_id(context.session_id),
        ));
    }
    let include = match state.fetch_sessions.complete(&context, &summary) {
        Ok(include) => include,
        Err(error) => {
            return Ok(ZeroCopy(
                FetchResponse::default().with_error_code(error.code()),
            ))
        }
    };
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    for ((target, read), include) in context.targets.iter().zip(reads).zip(include) {
        if !include {
            continue;
        }
        let data = PartitionData::default()
            .with_partition_index(target.partition)
            .with_error_code(optional_code(read.error))
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.last_stable_offset)
            .with_log_start_offset(if version >= 5 {
                read.log_start_offset
            } else {
                -1
            })
            .with_aborted_transactions(read.aborted.map(|aborted| {
                aborted
                    .into_iter()
                    .map(|a| {
                        fetch_response::AbortedTransaction::default()
                            .with_producer_id(ProducerId(a.producer_id))
                            .with_first_offset(a.first_offset)
                    })
                    .collect()
            }))
            .with_preferred_read_replica(BrokerId(-1))
            .with_records(Some(read.records));
        let same_topic = responses.last().is_some_and(|r| {
            if version >= 13 {
                r.topic_id == target.topic_id
            } else {
                r.topic.0.as_str() == &*target.topic
            }
        });
        if same_topic {
            if let Some(last) = responses.last_mut() {
                last.partitions.push(data);
            }
        } else {
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(str_bytes(if version >= 13 {
                        String::new()
                    } else {
                        target.topic.to_string()
                    })))
                    .with_topic_id(target.topic_id)
                    .with_partitions(vec![data]),
            );
        }
    }
    Ok(ZeroCopy(
        FetchResponse::default()
            .with_session_id(context.session_id)
            .with_responses(responses),
    ))
}
