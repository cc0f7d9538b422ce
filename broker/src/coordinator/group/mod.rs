//! The group coordinator: consumer groups of the classic protocol (JoinGroup/SyncGroup) and of
//! the consumer protocol (KIP-848, ConsumerGroupHeartbeat), and their committed offsets.
//!
//! All groups live behind one mutex held for short, non-async critical sections; a request
//! that must wait (a JoinGroup until the rebalance completes, a SyncGroup until the leader's
//! assignment) gets a `oneshot` receiver and awaits it with the lock released. Deadlines
//! (session and rebalance timeouts, the initial rebalance delay) are kept in the groups and
//! served by one timer task ([`run_timers`]) that sleeps until the earliest of them.
//!
//! Offsets and classic group metadata are appended to the compacted internal topic
//! `__consumer_offsets` (Kafka's record schemas, [`records`]) before a request is answered, and
//! replayed from it when the broker starts ([`GroupCoordinator::load`]).
//!
//! References: Kafka protocol guide (group membership APIs); KIP-62 (rebalance timeout),
//! KIP-134 (initial rebalance delay), KIP-345 (static membership), KIP-394 (member id
//! required), KIP-429 (cooperative rebalancing: protocol bytes pass through), KIP-447
//! (require_stable), KIP-709 (batched OffsetFetch), KIP-848 (the consumer protocol).

pub mod assignor;
pub mod classic;
pub mod consumer;
pub mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
pub use crate::config::GroupConfig;
use crate::metadata::topics::{LogEvent, Topic, TopicRegistry};
pub use classic::{ClassicGroup, ClassicState, JoinRequest, JoinResult, SyncRequest, SyncResult};
pub use consumer::{ConsumerGroup, HeartbeatRequest, HeartbeatResult};
use josefine_storage::batch::BatchProducer;
use josefine_storage::producer_state::ProducerStateError;
use josefine_storage::{AppendOrigin, StorageError};
use records::{RecordKey, StoredGroup, StoredOffset};

/// The longest string the stored records hold: their strings have int16 lengths.
const MAX_STORED_STRING: usize = i16::MAX as usize;

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A committed offset of one partition, as OffsetFetch returns it.
pub type CommittedOffset = StoredOffset;

/// The kind of a group, as ListGroups v5 reports it (KIP-848).
#[derive(Debug)]
pub enum GroupKind {
    /// The classic protocol (JoinGroup/SyncGroup), including groups that only commit offsets.
    Classic(ClassicGroup),
    /// The consumer protocol (ConsumerGroupHeartbeat).
    Consumer(ConsumerGroup),
}

/// One group: its membership and its committed offsets.
#[derive(Debug)]
pub struct Group {
    /// The group id.
    pub id: String,
    /// Membership, by protocol.
    pub kind: GroupKind,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets committed in open transactions (TxnOffsetCommit), by producer id: applied by
    /// a COMMIT marker, dropped by an ABORT.
    pub pending_transactional_offsets: HashMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
}

impl Group {
    fn new_classic(id: &str, clock: Clock) -> Self {
        Self {
            id: id.to_string(),
            kind: GroupKind::Classic(ClassicGroup::new(id, clock)),
            offsets: BTreeMap::new(),
            pending_transactional_offsets: HashMap::new(),
        }
    }

    /// Whether the group has no members (it may still have offsets).
    pub fn is_empty(&self) -> bool {
        match &self.kind {
            GroupKind::Classic(g) => g.members.is_empty(),
            GroupKind::Consumer(g) => g.members.is_empty(),
        }
    }

    /// The state as ListGroups and DescribeGroups spell it.
    pub fn state_name(&self) -> &'static str {
        match &self.kind {
            GroupKind::Classic(g) => g.state.name(),
            GroupKind::Consumer(g) => g.state_name(),
        }
    }

    /// `classic` or `consumer` (ListGroups v5 group type).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            GroupKind::Classic(_) => "classic",
            GroupKind::Consumer(_) => "consumer",
        }
    }

    /// The protocol type ListGroups reports: the classic group's, `consumer` for the consumer
    /// protocol.
    pub fn protocol_type(&self) -> String {
        match &self.kind {
            GroupKind::Classic(g) => g.protocol_type.clone().unwrap_or_default(),
            GroupKind::Consumer(_) => "consumer".into(),
        }
    }
}

/// An answer now, or one that comes when the group gets there.
#[derive(Debug)]
pub enum Reply<T> {
    /// Answered at once.
    Now(T),
    /// Answered when the rebalance step completes.
    Later(oneshot::Receiver<T>),
}

/// A member id: `prefix-<uuid>`, as Kafka builds them from the client id or instance id.
pub(crate) fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// One partition's offset to commit.
#[derive(Debug, Clone)]
pub struct OffsetToCommit {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The leader epoch the client saw, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata; `None` is stored as empty.
    pub metadata: Option<String>,
}

/// Who commits: the member and generation (classic) or member epoch (consumer protocol).
#[derive(Debug, Clone, Default)]
pub struct CommitIdentity {
    /// Member id, empty for a simple consumer or an admin client.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// Generation id (classic) or member epoch (KIP-848); -1 outside group management.
    pub generation_id_or_member_epoch: i32,
    /// The OffsetCommit version: members of the consumer protocol need 9 or above.
    pub api_version: i16,
}

/// Everything DescribeGroups reports of one classic group member.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// The member's metadata for the selected protocol (empty unless Stable).
    pub metadata: Bytes,
    /// The member's assignment (empty unless Stable).
    pub assignment: Bytes,
}

/// DescribeGroups' view of a group.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// Error code: NONE, or GROUP_ID_NOT_FOUND for a group that does not exist (or is not
    /// classic) from version 6 on.
    pub error: Option<ResponseError>,
    /// State name (`Dead` when the group does not exist).
    pub state: String,
    /// Protocol type.
    pub protocol_type: String,
    /// Selected protocol, empty unless Stable.
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// ListGroups' view of a group.
#[derive(Debug, Clone)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type.
    pub protocol_type: String,
    /// State name.
    pub state: &'static str,
    /// `classic` or `consumer`.
    pub group_type: &'static str,
}

/// Committed offsets by topic: each partition asked for, with its commit if there is one.
pub type FetchedOffsets = Vec<(String, Vec<(i32, FetchedOffset)>)>;

/// One partition's answer to OffsetFetch: its commit (`None` without one), or
/// UNSTABLE_OFFSET_COMMIT when `require_stable` meets an offset committed in an open
/// transaction (KIP-447).
pub type FetchedOffset = Result<Option<CommittedOffset>, ResponseError>;

/// Offsets a fetch asks for: every committed one, or these partitions of these topics.
pub type OffsetFetchTopics = Option<Vec<(String, Vec<i32>)>>;

/// The group coordinator of this broker: every group and its offsets.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// Settings.
    pub config: GroupConfig,
    topics: Arc<TopicRegistry>,
    clock: Clock,
    groups: Mutex<HashMap<String, Group>>,
    /// Wakes the timer task when a deadline earlier than the one it sleeps for appears.
    wakeup: Notify,
}

/// Records to append to a group's `__consumer_offsets` partition: (key, value or tombstone).
type Records = Vec<(Vec<u8>, Option<Vec<u8>>)>;

impl GroupCoordinator {
    /// A coordinator with no groups, of the topics in `topics` (whose `__consumer_offsets` it
    /// writes), reading time from `clock`.
    pub fn new(config: GroupConfig, topics: Arc<TopicRegistry>, clock: Clock) -> Self {
        Self {
            config,
            topics,
            clock,
            groups: Mutex::new(HashMap::new()),
            wakeup: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the timer task to look at the deadlines again.
    pub(crate) fn wake_timers(&self) {
        self.wakeup.notify_one();
    }

    /// The `__consumer_offsets` topic, created (compacted, `offsets.topic.num.partitions`
    /// partitions) on first use as Kafka does on the first FindCoordinator.
    ///
    /// Errors: COORDINATOR_NOT_AVAILABLE when it cannot be created.
    pub fn offsets_topic(&self) -> Result<Arc<Topic>, ResponseError> {
        self.topics
            .internal_topic(
                OFFSETS_TOPIC,
                self.config.offsets_topic_partitions,
                self.config.offsets_topic_segment_bytes,
            )
            .map_err(|err| {
                tracing::error!(%err, "cannot create {OFFSETS_TOPIC}");
                ResponseError::CoordinatorNotAvailable
            })
    }

    /// Appends `records` to the partition of `__consumer_offsets` that holds `group_id`.
    ///
    /// Errors as Kafka maps them for the group coordinator: NOT_COORDINATOR for a storage
    /// failure (the client looks the coordinator up again and retries),
    /// COORDINATOR_NOT_AVAILABLE when the topic cannot be created.
    fn append(&self, group_id: &str, records: &Records) -> Result<(), ResponseError> {
        self.append_as(group_id, records, None)
    }

    /// [`GroupCoordinator::append`] as a transactional batch of `transaction`'s producer
    /// (TxnOffsetCommit), when given.
    fn append_as(
        &self,
        group_id: &str,
        records: &Records,
        transaction: Option<(i64, i16)>,
    ) -> Result<(), ResponseError> {
        if records.is_empty() {
            return Ok(());
        }
        let topic = self.offsets_topic()?;
        let index = records::partition_for(group_id, topic.partition_count());
        let partition = topic
            .partition(index)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let now = self.clock.now_ms();
        let simple: Vec<_> = records
            .iter()
            .map(|(k, v)| (now, Some(k.as_slice()), v.as_deref()))
            .collect();
        let producer = match transaction {
            Some((producer_id, producer_epoch)) => BatchProducer {
                producer_id,
                producer_epoch,
                base_sequence: -1,
                attributes: josefine_storage::batch::attributes::TRANSACTIONAL,
            },
            None => BatchProducer::NONE,
        };
        let batch = josefine_storage::batch::build_batch_as(&producer, &simple);
        partition
            .append_from(&batch, AppendOrigin::Coordinator)
            .map(|_| ())
            .map_err(|err| match err {
                StorageError::Producer(ProducerStateError::InvalidProducerEpoch { .. }) => {
                    ResponseError::InvalidProducerEpoch
                }
                err => {
                    tracing::error!(group_id, %err, "cannot write to {OFFSETS_TOPIC}");
                    ResponseError::NotCoordinator
                }
            })
    }

    /// Replays `__consumer_offsets` (if it exists): committed offsets and classic group
    /// metadata, the last record per key winning, tombstones deleting. Offsets of topics that
    /// no longer exist are dropped. Records that do not decode are skipped with a warning.
    pub fn load(&self) {
        let Some(topic) = self.topics.get(OFFSETS_TOPIC) else {
            return;
        };
        let started = std::time::Instant::now();
        let mut groups = self.lock();
        let mut records = 0usize;
        for partition in topic.partitions() {
            // Records of open transactions wait for their marker.
            let mut pending: HashMap<i64, Records> = HashMap::new();
            partition.replay(|event| match event {
                LogEvent::Record {
                    transaction: None,
                    key,
                    value,
                } => {
                    records += 1;
                    replay(&mut groups, self.clock, key, value);
                }
                LogEvent::Record {
                    transaction: Some(producer_id),
                    key,
                    value,
                } => pending
                    .entry(producer_id)
                    .or_default()
                    .push((key.to_vec(), value.map(<[u8]>::to_vec))),
                LogEvent::Marker {
                    producer_id,
                    commit,
                } => {
                    for (key, value) in pending.remove(&producer_id).unwrap_or_default() {
                        if commit {
                            records += 1;
                            replay(&mut groups, self.clock, &key, value.as_deref());
                        }
                    }
                }
            });
            for (producer_id, open) in pending {
                for (key, value) in open {
                    let (
                        Ok(RecordKey::Offset {
                            group,
                            topic,
                            partition,
                        }),
                        Some(Ok(offset)),
                    ) = (
                        records::decode_key(&key),
                        value.as_deref().map(records::decode_offset_value),
                    )
                    else {
                        continue;
                    };
                    groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new_classic(&group, self.clock))
                        .pending_transactional_offsets
                        .entry(producer_id)
                        .or_default()
                        .insert((topic, partition), offset);
                }
            }
        }
        for group in groups.values_mut() {
            group.offsets.retain(|(topic, partition), _| {
                self.topics
                    .get(topic)
                    .is_some_and(|t| *partition < t.partition_count())
            });
        }
        tracing::info!(
            groups = groups.len(),
            records,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "loaded {OFFSETS_TOPIC}"
        );
    }

    /// Serves every expired deadline (session and rebalance timeouts, the end of a join
    /// phase) as of `now`, and returns the earliest deadline left.
    pub fn expire(&self, now: Instant) -> Option<Instant> {
        let mut groups = self.lock();
        let mut next: Option<Instant> = None;
        for group in groups.values_mut() {
            let (records, deadline) = match &mut group.kind {
                GroupKind::Classic(g) => g.expire(now, &self.config),
                GroupKind::Consumer(g) => (Vec::new(), g.expire(&group.id, now)),
            };
            if let Err(err) = self.append(&group.id, &records) {
                tracing::warn!(group_id = %group.id, ?err, "cannot store group metadata");
            }
            if let Some(deadline) = deadline {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        next
    }

    /// A group id must be non-empty and fit the int16-length strings of the stored records
    /// (Kafka fails to serialize a longer one).
    fn check_group_id(group_id: &str) -> Result<(), ResponseError> {
        if group_id.is_empty() || group_id.len() > MAX_STORED_STRING {
            Err(ResponseError::InvalidGroupId)
        } else {
            Ok(())
        }
    }

    /// JoinGroup (classic protocol). See [`ClassicGroup::join`] for the state machine.
    pub fn join_group(&self, group_id: &str, request: JoinRequest) -> Reply<JoinResult> {
        let failed =
            |error: ResponseError, member_id: &str| Reply::Now(JoinResult::error(error, member_id));
        if let Err(err) = Self::check_group_id(group_id) {
            return failed(err, &request.member_id);
        }
        let too_long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() > MAX_STORED_STRING);
        if too_long(&request.group_instance_id) || request.member_id.len() > MAX_STORED_STRING {
            return failed(ResponseError::InvalidGroupId, "");
        }
        if request.session_timeout < self.config.min_session_timeout
            || request.session_timeout > self.config.max_session_timeout
        {
            return failed(ResponseError::InvalidSessionTimeout, &request.member_id);
        }
        let mut groups = self.lock();
        let group = match groups.get_mut(group_id) {
            Some(group) => group,
            None if !request.member_id.is_empty() => {
                return failed(ResponseError::UnknownMemberId, &request.member_id)
            }
            None => groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new_classic(group_id, self.clock)),
        };
        if let GroupKind::Consumer(g) = &group.kind {
            if !g.members.is_empty() {
                return failed(ResponseError::InconsistentGroupProtocol, &request.member_id);
            }
            // An empty consumer group becomes classic, keeping its offsets (KIP-848 downgrade).
            group.kind = GroupKind::Classic(ClassicGroup::new(group_id, self.clock));
        }
        let GroupKind::Classic(classic) = &mut group.kind else {
            return failed(ResponseError::UnknownServerError, &request.member_id);
        };
        let (reply, records) = classic.join(request, self.clock.now(), &self.config);
        if let Err(err) = self.append(group_id, &records) {
            tracing::warn!(group_id, ?err, "cannot store group metadata");
        }
        drop(groups);
        self.wake_timers();
        reply
    }

    /// SyncGroup (classic protocol). See [`ClassicGroup::sync`].
    pub fn sync_group(&self, group_id: &str, request: SyncRequest) -> Reply<SyncResult> {
        let mut groups = self.lock();
        let Some(Group {
            kind: GroupKind::Classic(classic),
            ..
        }) = groups.get_mut(group_id)
        else {
            return Reply::Now(SyncResult::error(ResponseError::UnknownMemberId));
        };
        let (reply, records) = classic.sync(request, self.clock.now());
        if let Err(err) = self.append(group_id, &records) {
            // Kafka fails the sync and rebalances again when the assignment cannot be stored.
            classic.storing_failed(err, &self.config);
        }
        reply
    }

    /// Heartbeat (classic protocol): the error code for this member.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Option<ResponseError> {
        let mut groups = self.lock();
        match groups.get_mut(group_id) {
            Some(Group {
                kind: GroupKind::Classic(classic),
                ..
            }) => classic.heartbeat(
                member_id,
                group_instance_id,
                generation_id,
                self.clock.now(),
            ),
            Some(_) => Some(ResponseError::UnknownMemberId),
            None if group_id.is_empty() => Some(ResponseError::InvalidGroupId),
            None => Some(ResponseError::UnknownMemberId),
        }
    }

    /// LeaveGroup (classic protocol, batched per KIP-345): one error per leaving member, in
    /// request order.
    pub fn leave_group(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        Self::check_group_id(group_id)?;
        let mut groups = self.lock();
        let Some(Group {
            kind: GroupKind::Classic(classic),
            ..
        }) = groups.get_mut(group_id)
        else {
            return Ok(vec![Some(ResponseError::UnknownMemberId); members.len()]);
        };
        let now = self.clock.now();
        let mut records = Vec::new();
        let errors = members
            .iter()
            .map(|(member_id, instance)| {
                classic.leave(
                    member_id,
                    instance.as_deref(),
                    now,
                    &self.config,
                    &mut records,
                )
            })
            .collect();
        if let Err(err) = self.append(group_id, &records) {
            tracing::warn!(group_id, ?err, "cannot store group metadata");
        }
        drop(groups);
        self.wake_timers();
        Ok(errors)
    }

    /// OffsetCommit: validates the committer as Kafka does (generation or member epoch), then
    /// stores each offset. Returns one error per offset, in order.
    pub fn commit_offsets(
        &self,
        group_id: &str,
        identity: &CommitIdentity,
        offsets: &[OffsetToCommit],
    ) -> Vec<Option<ResponseError>> {
        self.commit_offsets_in(group_id, identity, offsets, None)
    }

    /// OffsetCommit, or TxnOffsetCommit when `transaction` names the producer (id, epoch):
    /// then the offsets are written as a transactional batch of that producer and stay
    /// pending until the transaction's marker (KIP-98, KIP-447).
    pub fn commit_offsets_in(
        &self,
        group_id: &str,
        identity: &CommitIdentity,
        offsets: &[OffsetToCommit],
        transaction: Option<(i64, i16)>,
    ) -> Vec<Option<ResponseError>> {
        let all = |err: ResponseError| vec![Some(err); offsets.len()];
        if let Err(err) = Self::check_group_id(group_id) {
            return all(err);
        }
        let mut groups = self.lock();
        let group = match groups.get_mut(group_id) {
            Some(group) => group,
            None if identity.generation_id_or_member_epoch < 0 => groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new_classic(group_id, self.clock)),
            None if identity.api_version >= 9 => return all(ResponseError::GroupIdNotFound),
            None => return all(ResponseError::IllegalGeneration),
        };
        let validated = match &mut group.kind {
            GroupKind::Classic(g) => g.validate_offset_commit(identity, self.clock.now()),
            GroupKind::Consumer(g) => g.validate_offset_commit(identity),
        };
        if let Err(err) = validated {
            return all(err);
        }
        let now = self.clock.now_ms();
        let mut errors = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for o in offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            let error = if metadata.len() > self.config.offset_metadata_max_bytes
                || metadata.len() > MAX_STORED_STRING
            {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else if !self
                .topics
                .get(&o.topic)
                .is_some_and(|t| o.partition >= 0 && o.partition < t.partition_count())
            {
                Some(ResponseError::UnknownTopicOrPartition)
            } else {
                let stored = StoredOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                };
                records.push((
                    records::offset_key(group_id, &o.topic, o.partition),
                    Some(records::offset_value(&stored)),
                ));
                accepted.push(((o.topic.clone(), o.partition), stored));
                None
            };
            errors.push(error);
        }
        match self.append_as(group_id, &records, transaction) {
            Ok(()) => match transaction {
                None => group.offsets.extend(accepted),
                Some((producer_id, _)) => group
                    .pending_transactional_offsets
                    .entry(producer_id)
                    .or_default()
                    .extend(accepted),
            },
            Err(err) => {
                for e in errors.iter_mut().filter(|e| e.is_none()) {
                    *e = Some(err);
                }
            }
        }
        errors
    }

    /// Applies (COMMIT) or drops (ABORT) the offsets `producer_id` committed in its
    /// transaction, after the marker is written to `__consumer_offsets`.
    pub fn complete_transaction(&self, producer_id: i64, commit: bool) {
        let mut groups = self.lock();
        for group in groups.values_mut() {
            if let Some(offsets) = group.pending_transactional_offsets.remove(&producer_id) {
                if commit {
                    group.offsets.extend(offsets);
                }
            }
        }
    }

    /// OffsetFetch for one group: the committed offsets of `wanted` (all when `None`). A
    /// partition without a commit has `None`. `member` is (member id, member epoch) of
    /// version 9+, checked against consumer-protocol groups. `require_stable` (KIP-447) fails
    /// partitions with pending transactional commits; there are none without transactions.
    ///
    /// Errors: INVALID_GROUP_ID, and for consumer-protocol members UNKNOWN_MEMBER_ID or
    /// STALE_MEMBER_EPOCH.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        member: Option<(&str, i32)>,
        wanted: OffsetFetchTopics,
        require_stable: bool,
    ) -> Result<FetchedOffsets, ResponseError> {
        let groups = self.lock();
        let group = groups.get(group_id);
        if let (
            Some(Group {
                kind: GroupKind::Consumer(g),
                ..
            }),
            Some((member_id, epoch)),
        ) = (group, member)
        {
            g.validate_offset_fetch(member_id, epoch)?;
        }
        let lookup = |topic: &str, partition: i32| {
            let key = (topic.to_string(), partition);
            if require_stable
                && group.is_some_and(|g| {
                    g.pending_transactional_offsets
                        .values()
                        .any(|pending| pending.contains_key(&key))
                })
            {
                return Err(ResponseError::UnstableOffsetCommit);
            }
            Ok(group.and_then(|g| g.offsets.get(&key).cloned()))
        };
        Ok(match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let offsets = partitions
                        .into_iter()
                        .map(|p| (p, lookup(&topic, p)))
                        .collect();
                    (topic, offsets)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, FetchedOffset)>> = BTreeMap::new();
                for (topic, partition) in group.map(|g| g.offsets.keys()).into_iter().flatten() {
                    by_topic
                        .entry(topic.clone())
                        .or_default()
                        .push((*partition, lookup(topic, *partition)));
                }
                by_topic.into_iter().collect()
            }
        })
    }

    /// DescribeGroups: one description per id, in order. Groups that do not exist (or use
    /// the consumer protocol, which ConsumerGroupDescribe describes) are `Dead`, with
    /// GROUP_ID_NOT_FOUND from version 6 (KIP-1043).
    pub fn describe_groups(&self, ids: &[String], version: i16) -> Vec<GroupDescription> {
        let groups = self.lock();
        ids.iter()
            .map(|id| match groups.get(id) {
                Some(Group {
                    kind: GroupKind::Classic(g),
                    ..
                }) => g.describe(),
                _ => GroupDescription {
                    error: (version >= 6).then_some(ResponseError::GroupIdNotFound),
                    state: "Dead".into(),
                    protocol_type: String::new(),
                    protocol: String::new(),
                    members: Vec::new(),
                },
            })
            .collect()
    }

    /// ListGroups: every group whose state is in `states` and type in `types` (empty filters
    /// match all; states compare case-insensitively, as Kafka does).
    pub fn list_groups(&self, states: &[String], types: &[String]) -> Vec<ListedGroup> {
        let groups = self.lock();
        let mut listed: Vec<ListedGroup> = groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state_name()))
            })
            .filter(|g| {
                types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(g.type_name()))
            })
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type(),
                state: g.state_name(),
                group_type: g.type_name(),
            })
            .collect();
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// DeleteGroups: deletes each empty group with its offsets (tombstones in
    /// `__consumer_offsets`). Errors per group: INVALID_GROUP_ID, GROUP_ID_NOT_FOUND,
    /// NON_EMPTY_GROUP, or the storage error.
    pub fn delete_groups(&self, ids: &[String]) -> Vec<Option<ResponseError>> {
        let mut groups = self.lock();
        ids.iter()
            .map(|id| {
                Self::check_group_id(id)?;
                let group = groups.get(id).ok_or(ResponseError::GroupIdNotFound)?;
                if !group.is_empty() {
                    return Err(ResponseError::NonEmptyGroup);
                }
                let mut records: Records = group
                    .offsets
                    .keys()
                    .map(|(t, p)| (records::offset_key(id, t, *p), None))
                    .collect();
                records.push((records::group_key(id), None));
                self.append(id, &records)?;
                groups.remove(id);
                tracing::info!(group_id = %id, "deleted group");
                Ok(())
            })
            .map(Result::err)
            .collect()
    }

    /// OffsetDelete: removes the committed offsets of `partitions` from `group_id`. A group
    /// with members keeps the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).
    ///
    /// Errors (whole request): INVALID_GROUP_ID, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (a
    /// classic group with members that does not use the consumer protocol type).
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        Self::check_group_id(group_id)?;
        let mut groups = self.lock();
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        let subscribed = match &group.kind {
            GroupKind::Classic(g) if g.members.is_empty() => Default::default(),
            GroupKind::Classic(g) => g.subscribed_topics().ok_or(ResponseError::NonEmptyGroup)?,
            GroupKind::Consumer(g) => g.subscribed_topics(),
        };
        let mut errors = Vec::with_capacity(partitions.len());
        let mut records = Vec::new();
        for (topic, partition) in partitions {
            if subscribed.contains(topic) {
                errors.push(Some(ResponseError::GroupSubscribedToTopic));
            } else if !self
                .topics
                .get(topic)
                .is_some_and(|t| *partition >= 0 && *partition < t.partition_count())
            {
                errors.push(Some(ResponseError::UnknownTopicOrPartition));
            } else {
                if group.offsets.contains_key(&(topic.clone(), *partition)) {
                    records.push((records::offset_key(group_id, topic, *partition), None));
                }
                errors.push(None);
            }
        }
        self.append(group_id, &records)?;
        for ((topic, partition), error) in partitions.iter().zip(&errors) {
            if error.is_none() {
                group.offsets.remove(&(topic.clone(), *partition));
            }
        }
        Ok(errors)
    }

    /// Forgets (with tombstones) every group's offsets of a deleted topic, as Kafka does
    /// when a topic is deleted.
    pub fn on_topic_deleted(&self, topic: &str) {
        let mut groups = self.lock();
        for group in groups.values_mut() {
            let keys: Vec<(String, i32)> = group
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            if keys.is_empty() {
                continue;
            }
            let records: Records = keys
                .iter()
                .map(|(t, p)| (records::offset_key(&group.id, t, *p), None))
                .collect();
            if let Err(err) = self.append(&group.id, &records) {
                tracing::warn!(group_id = %group.id, ?err, "cannot remove offsets of a deleted topic");
            }
            for key in keys {
                group.offsets.remove(&key);
            }
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848). See [`ConsumerGroup::heartbeat`].
    pub fn consumer_group_heartbeat(&self, request: HeartbeatRequest) -> HeartbeatResult {
        if request.group_id.is_empty() {
            return HeartbeatResult::error(
                ResponseError::InvalidRequest,
                "GroupId can't be empty.",
            );
        }
        let mut groups = self.lock();
        let group = groups
            .entry(request.group_id.clone())
            .or_insert_with(|| Group {
                id: request.group_id.clone(),
                kind: GroupKind::Consumer(ConsumerGroup::new()),
                offsets: BTreeMap::new(),
                pending_transactional_offsets: HashMap::new(),
            });
        if let GroupKind::Classic(g) = &group.kind {
            if !g.members.is_empty() {
                return HeartbeatResult::error(
                    ResponseError::GroupIdNotFound,
                    &format!("Group {} is not a consumer group.", request.group_id),
                );
            }
            // An empty classic group (or one that only commits) becomes a consumer group,
            // keeping its offsets (KIP-848 upgrade).
            group.kind = GroupKind::Consumer(ConsumerGroup::new());
        }
        let GroupKind::Consumer(consumer) = &mut group.kind else {
            return HeartbeatResult::error(ResponseError::UnknownServerError, "");
        };
        let result = consumer.heartbeat(&self.topics, request, self.clock.now(), &self.config);
        drop(groups);
        self.wake_timers();
        result
    }

    /// ConsumerGroupDescribe (KIP-848): the consumer-protocol groups named, or
    /// GROUP_ID_NOT_FOUND.
    pub fn consumer_group_describe(
        &self,
        ids: &[String],
    ) -> Vec<Result<consumer::ConsumerGroupDescription, (ResponseError, String)>> {
        let groups = self.lock();
        ids.iter()
            .map(|id| match groups.get(id) {
                Some(Group {
                    kind: GroupKind::Consumer(g),
                    ..
                }) => Ok(g.describe(&self.topics)),
                Some(_) => Err((
                    ResponseError::GroupIdNotFound,
                    format!("Group {id} is not a consumer group."),
                )),
                None => Err((
                    ResponseError::GroupIdNotFound,
                    format!("Group {id} not found."),
                )),
            })
            .collect()
    }
}

/// Applies one `__consumer_offsets` record to the groups being loaded.
fn replay(groups: &mut HashMap<String, Group>, clock: Clock, key: &[u8], value: Option<&[u8]>) {
    let decoded = match records::decode_key(key) {
        Ok(k) => k,
        Err(err) => {
            tracing::warn!(%err, "skipping an undecodable key in {OFFSETS_TOPIC}");
            return;
        }
    };
    match decoded {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => match value.map(records::decode_offset_value) {
            None => {
                if let Some(g) = groups.get_mut(&group) {
                    g.offsets.remove(&(topic, partition));
                }
            }
            Some(Ok(offset)) => {
                groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new_classic(&group, clock))
                    .offsets
                    .insert((topic, partition), offset);
            }
            Some(Err(err)) => tracing::warn!(%err, group, "skipping an undecodable offset commit"),
        },
        RecordKey::Group(id) => match value.map(records::decode_group_value) {
            None => {
                if let Some(g) = groups.get_mut(&id) {
                    g.kind = GroupKind::Classic(ClassicGroup::new(&id, clock));
                    if g.offsets.is_empty() {
                        groups.remove(&id);
                    }
                }
            }
            Some(Ok(stored)) => {
                let group = groups
                    .entry(id.clone())
                    .or_insert_with(|| Group::new_classic(&id, clock));
                group.kind = GroupKind::Classic(ClassicGroup::restore(&id, stored, clock));
            }
            Some(Err(err)) => {
                tracing::warn!(%err, group_id = id, "skipping undecodable group metadata")
            }
        },
        RecordKey::Other(_) => {}
    }
}

/// The stored form of a classic group, for `__consumer_offsets`.
pub(crate) fn group_record(group_id: &str, stored: &StoredGroup) -> (Vec<u8>, Option<Vec<u8>>) {
    (
        records::group_key(group_id),
        Some(records::group_value(stored)),
    )
}

/// Serves the coordinator's deadlines until `cancel`: sleeps until the earliest one, or until
/// a request adds an earlier one.
pub async fn run_timers(coordinator: Arc<GroupCoordinator>, cancel: CancellationToken) {
    loop {
        let now = coordinator.clock.now();
        let next = coordinator.expire(now);
        // An hour stands for "no deadline": any new one wakes the task first.
        let until = next.unwrap_or_else(|| now + Duration::from_secs(3600));
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(until) => {}
            _ = coordinator.wakeup.notified() => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        topics: Arc<TopicRegistry>,
        groups: Arc<GroupCoordinator>,
    }

    fn fixture(properties: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let properties: BTreeMap<String, String> = properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("offsets.topic.num.partitions".to_string(), "3".to_string())])
            .collect();
        let topics = Arc::new(TopicRegistry::open(dir.path(), BTreeMap::new(), true).unwrap());
        topics.create("t", 4, BTreeMap::new()).unwrap();
        let groups = Arc::new(GroupCoordinator::new(
            GroupConfig::from_properties(&properties).unwrap(),
            Arc::clone(&topics),
            Clock::following_tokio(1_700_000_000_000),
        ));
        Fixture {
            _dir: dir,
            topics,
            groups,
        }
    }

    fn join_request(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: true,
        }
    }

    /// Joins with KIP-394's two steps; returns the pending answer.
    fn join(f: &Fixture, instance: Option<&str>) -> oneshot::Receiver<JoinResult> {
        let first = match f.groups.join_group("g", join_request("", instance)) {
            Reply::Now(r) => r,
            Reply::Later(rx) => return rx,
        };
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        match f
            .groups
            .join_group("g", join_request(&first.member_id, instance))
        {
            Reply::Later(rx) => rx,
            Reply::Now(r) => panic!("second join answered at once: {r:?}"),
        }
    }

    fn sync(
        f: &Fixture,
        joined: &JoinResult,
        assignments: Vec<(String, Bytes)>,
    ) -> oneshot::Receiver<SyncResult> {
        let request = SyncRequest {
            member_id: joined.member_id.clone(),
            group_instance_id: None,
            generation_id: joined.generation_id,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments,
        };
        match f.groups.sync_group("g", request) {
            Reply::Later(rx) => rx,
            Reply::Now(r) => {
                let (tx, rx) = oneshot::channel();
                tx.send(r).unwrap();
                rx
            }
        }
    }

    /// Two members, Stable at generation 2.
    async fn stable_pair(f: &Fixture) -> (JoinResult, JoinResult) {
        let a = join(f, None).await.unwrap();
        assert_eq!((a.generation_id, a.error), (1, None));
        let a_sync = sync(
            f,
            &a,
            vec![(a.member_id.clone(), Bytes::from_static(b"all"))],
        )
        .await
        .unwrap();
        assert_eq!(a_sync.assignment, Bytes::from_static(b"all"));
        let b_rx = join(f, None);
        // A learns of the rebalance through its heartbeat, and rejoins.
        assert_eq!(
            f.groups.heartbeat("g", &a.member_id, None, 1),
            Some(ResponseError::RebalanceInProgress)
        );
        let a_rx = match f.groups.join_group("g", join_request(&a.member_id, None)) {
            Reply::Later(rx) => rx,
            Reply::Now(r) => panic!("{r:?}"),
        };
        let (a, b) = (a_rx.await.unwrap(), b_rx.await.unwrap());
        assert_eq!((a.generation_id, b.generation_id), (2, 2));
        let leader = if a.member_id == a.leader { &a } else { &b };
        assert_eq!(leader.members.len(), 2, "the leader gets every member");
        let follower = if a.member_id == a.leader { &b } else { &a };
        assert!(follower.members.is_empty());
        let follower_rx = sync(f, follower, Vec::new());
        let assignments = vec![
            (a.member_id.clone(), Bytes::from_static(b"a")),
            (b.member_id.clone(), Bytes::from_static(b"b")),
        ];
        sync(f, leader, assignments).await.unwrap();
        let follower_sync = follower_rx.await.unwrap();
        assert_eq!(follower_sync.error, None);
        (a, b)
    }

    #[tokio::test(start_paused = true)]
    async fn members_join_sync_and_split() {
        let f = fixture(&[]);
        let (a, b) = stable_pair(&f).await;
        assert_eq!(f.groups.list_groups(&[], &[])[0].state, "Stable");
        let described = f.groups.describe_groups(&["g".into()], 5);
        assert_eq!(described[0].protocol, "range");
        let mut assignments: Vec<Bytes> = described[0]
            .members
            .iter()
            .map(|m| m.assignment.clone())
            .collect();
        assignments.sort();
        assert_eq!(
            assignments,
            [Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
        assert_eq!(f.groups.heartbeat("g", &a.member_id, None, 2), None);
        assert_eq!(
            f.groups.heartbeat("g", &b.member_id, None, 1),
            Some(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            f.groups.heartbeat("g", "stranger", None, 2),
            Some(ResponseError::UnknownMemberId)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_that_stops_heartbeating_is_removed_after_its_session() {
        let f = fixture(&[]);
        let (a, b) = stable_pair(&f).await;
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(3)).await;
            assert_eq!(f.groups.heartbeat("g", &a.member_id, None, 2), None);
            f.groups.expire(Instant::now());
        }
        // b's 10 s session is over: the group rebalances without it.
        assert_eq!(
            f.groups.heartbeat("g", &b.member_id, None, 2),
            Some(ResponseError::UnknownMemberId)
        );
        assert_eq!(
            f.groups.heartbeat("g", &a.member_id, None, 2),
            Some(ResponseError::RebalanceInProgress)
        );
        let rejoined = match f.groups.join_group("g", join_request(&a.member_id, None)) {
            Reply::Later(rx) => rx.await.unwrap(),
            Reply::Now(r) => r,
        };
        assert_eq!((rejoined.generation_id, rejoined.members.len()), (3, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn members_that_do_not_rejoin_are_removed_at_the_rebalance_timeout() {
        let f = fixture(&[]);
        let (a, b) = stable_pair(&f).await;
        let c_rx = join(&f, None);
        let a_rx = match f.groups.join_group("g", join_request(&a.member_id, None)) {
            Reply::Later(rx) => rx,
            Reply::Now(r) => panic!("{r:?}"),
        };
        // b keeps heartbeating but never rejoins.
        for _ in 0..11 {
            tokio::time::advance(Duration::from_secs(3)).await;
            f.groups.heartbeat("g", &b.member_id, None, 2);
            f.groups.expire(Instant::now());
        }
        let (a, c) = (a_rx.await.unwrap(), c_rx.await.unwrap());
        assert_eq!((a.generation_id, c.generation_id), (3, 3));
        assert_eq!(
            f.groups.heartbeat("g", &b.member_id, None, 2),
            Some(ResponseError::UnknownMemberId)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_initial_rebalance_delay_gathers_members() {
        let f = fixture(&[("group.initial.rebalance.delay.ms", "3000")]);
        let a_rx = join(&f, None);
        tokio::time::advance(Duration::from_secs(2)).await;
        f.groups.expire(Instant::now());
        let b_rx = join(&f, None);
        tokio::time::advance(Duration::from_secs(2)).await;
        f.groups.expire(Instant::now());
        assert_eq!(
            f.groups.list_groups(&[], &[])[0].state,
            "PreparingRebalance",
            "b's join extended the delay"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        f.groups.expire(Instant::now());
        let (a, b) = (a_rx.await.unwrap(), b_rx.await.unwrap());
        assert_eq!(
            (a.generation_id, b.generation_id),
            (1, 1),
            "one rebalance for both"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_delay_the_first_rebalance_waits_for_members_told_their_id() {
        let f = fixture(&[]);
        let first = |f: &Fixture| match f.groups.join_group("g", join_request("", None)) {
            Reply::Now(r) => r.member_id,
            Reply::Later(_) => panic!("MEMBER_ID_REQUIRED comes at once"),
        };
        let (a, b) = (first(&f), first(&f));
        let second = |f: &Fixture, id: &str| match f.groups.join_group("g", join_request(id, None))
        {
            Reply::Later(rx) => rx,
            Reply::Now(r) => panic!("{r:?}"),
        };
        let mut a_rx = second(&f, &a);
        assert!(a_rx.try_recv().is_err(), "b is still on its way");
        let b_rx = second(&f, &b);
        let (a, b) = (a_rx.await.unwrap(), b_rx.await.unwrap());
        assert_eq!((a.generation_id, b.generation_id), (1, 1));
        assert_eq!(
            a.members.len().max(b.members.len()),
            2,
            "one generation with both"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_static_member_restarting_keeps_its_assignment_and_fences_its_old_id() {
        let f = fixture(&[]);
        let first = join(&f, Some("i")).await.unwrap();
        sync(
            &f,
            &first,
            vec![(first.member_id.clone(), Bytes::from_static(b"mine"))],
        )
        .await
        .unwrap();
        let again = match f.groups.join_group("g", join_request("", Some("i"))) {
            Reply::Now(r) => r,
            Reply::Later(_) => panic!("a stable group answers a returning static member at once"),
        };
        assert_eq!(
            (again.error, again.generation_id),
            (None, 1),
            "no rebalance"
        );
        assert_ne!(again.member_id, first.member_id);
        assert_ne!(
            again.leader, again.member_id,
            "the old leader id keeps it from assigning"
        );
        let synced = sync(&f, &again, Vec::new()).await.unwrap();
        assert_eq!(synced.assignment, Bytes::from_static(b"mine"));
        assert_eq!(
            f.groups.heartbeat("g", &first.member_id, Some("i"), 1),
            Some(ResponseError::FencedInstanceId)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn commits_are_fenced_by_generation_and_membership() {
        let f = fixture(&[]);
        let offsets = [OffsetToCommit {
            topic: "t".into(),
            partition: 1,
            offset: 5,
            leader_epoch: -1,
            metadata: None,
        }];
        let simple = CommitIdentity {
            generation_id_or_member_epoch: -1,
            api_version: 8,
            ..Default::default()
        };
        assert_eq!(
            f.groups.commit_offsets("g", &simple, &offsets),
            [None],
            "a simple consumer commits"
        );
        let (a, _) = stable_pair(&f).await;
        let member = |generation| CommitIdentity {
            member_id: a.member_id.clone(),
            group_instance_id: None,
            generation_id_or_member_epoch: generation,
            api_version: 8,
        };
        assert_eq!(
            f.groups.commit_offsets("g", &member(1), &offsets),
            [Some(ResponseError::IllegalGeneration)]
        );
        assert_eq!(
            f.groups.commit_offsets("g", &simple, &offsets),
            [Some(ResponseError::UnknownMemberId)]
        );
        let stored = f
            .groups
            .fetch_offsets("g", None, Some(vec![("t".into(), vec![1])]), false)
            .unwrap();
        assert_eq!(
            stored[0].1[0].1.clone().ok().flatten().map(|o| o.offset),
            Some(5),
            "refused commits changed nothing"
        );
        let later = [OffsetToCommit {
            offset: 9,
            ..offsets[0].clone()
        }];
        assert_eq!(f.groups.commit_offsets("g", &member(2), &later), [None]);
        // The commits are in __consumer_offsets: a fresh coordinator replays them.
        let reloaded = GroupCoordinator::new(
            f.groups.config.clone(),
            Arc::clone(&f.topics),
            Clock::following_tokio(1_700_000_000_000),
        );
        reloaded.load();
        let stored = reloaded.fetch_offsets("g", None, None, false).unwrap();
        assert_eq!(
            stored,
            vec![("t".to_string(), vec![(1, stored[0].1[0].1.clone())])]
        );
        assert_eq!(
            stored[0].1[0].1.clone().ok().flatten().map(|o| o.offset),
            Some(9)
        );
        assert_eq!(
            reloaded.list_groups(&[], &[])[0].state,
            "Stable",
            "members are restored"
        );
    }

    fn heartbeat(
        member_id: &str,
        epoch: i32,
        owned: Option<Vec<i32>>,
        topic: Uuid,
    ) -> HeartbeatRequest {
        HeartbeatRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
            subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
            owned: owned.map(|p| {
                [(topic, p.into_iter().collect())]
                    .into_iter()
                    .filter(|(_, p): &(Uuid, BTreeSet<i32>)| !p.is_empty())
                    .collect()
            }),
            version: 1,
            ..Default::default()
        }
    }

    use std::collections::BTreeSet;
    use uuid::Uuid;

    fn partitions(result: &HeartbeatResult) -> Vec<i32> {
        result
            .assignment
            .as_ref()
            .map(|a| a.values().flatten().copied().collect())
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn a_regex_subscription_matches_whole_names_of_user_topics() {
        let f = fixture(&[]);
        f.groups.offsets_topic().unwrap();
        f.topics.create("tt", 2, BTreeMap::new()).unwrap();
        let topic = f.topics.get("t").unwrap().id;
        let mut request = heartbeat("m1", 0, Some(vec![]), topic);
        request.subscribed_topic_names = Some(Vec::new());
        request.subscribed_topic_regex = Some("t|__consumer_offsets".into());
        let joined = f.groups.consumer_group_heartbeat(request);
        let assigned = joined.assignment.unwrap();
        assert_eq!(
            assigned.keys().collect::<Vec<_>>(),
            [&topic],
            "not tt, not the internal topic"
        );
        let mut bad = heartbeat("m2", 0, Some(vec![]), topic);
        bad.subscribed_topic_regex = Some("(".into());
        assert_eq!(
            f.groups.consumer_group_heartbeat(bad).error,
            Some(ResponseError::InvalidRegularExpression)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn consumer_protocol_members_revoke_before_others_receive() {
        let f = fixture(&[]);
        let topic = f.topics.get("t").unwrap().id;
        let one = f
            .groups
            .consumer_group_heartbeat(heartbeat("m1", 0, Some(vec![]), topic));
        assert_eq!(
            (one.error, one.member_epoch, partitions(&one)),
            (None, 1, vec![0, 1, 2, 3])
        );
        let two = f
            .groups
            .consumer_group_heartbeat(heartbeat("m2", 0, Some(vec![]), topic));
        assert_eq!(two.member_epoch, 2);
        assert!(partitions(&two).is_empty(), "m1 still owns everything");
        // m1 must revoke half, staying at its epoch until it has.
        let revoke = f
            .groups
            .consumer_group_heartbeat(heartbeat("m1", 1, None, topic));
        assert_eq!(revoke.member_epoch, 1);
        let kept = partitions(&revoke);
        assert_eq!(kept.len(), 2);
        let acked =
            f.groups
                .consumer_group_heartbeat(heartbeat("m1", 1, Some(kept.clone()), topic));
        assert_eq!(acked.member_epoch, 2);
        let two = f
            .groups
            .consumer_group_heartbeat(heartbeat("m2", 2, Some(vec![]), topic));
        let mut all: Vec<i32> = partitions(&two).into_iter().chain(kept).collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3], "m2 got the released partitions");
        assert_eq!(
            f.groups
                .consumer_group_heartbeat(heartbeat("m2", 7, None, topic))
                .error,
            Some(ResponseError::FencedMemberEpoch)
        );
        assert_eq!(
            f.groups
                .consumer_group_heartbeat(heartbeat("m3", 1, None, topic))
                .error,
            Some(ResponseError::UnknownMemberId)
        );
        let stale = CommitIdentity {
            member_id: "m2".into(),
            generation_id_or_member_epoch: 1,
            api_version: 9,
            ..Default::default()
        };
        let offsets = [OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: None,
        }];
        assert_eq!(
            f.groups.commit_offsets("g", &stale, &offsets),
            [Some(ResponseError::StaleMemberEpoch)]
        );
        // m1 leaves: m2 gets everything on its next heartbeat.
        let left = f
            .groups
            .consumer_group_heartbeat(heartbeat("m1", -1, None, topic));
        assert_eq!((left.error, left.member_epoch), (None, -1));
        let two = f
            .groups
            .consumer_group_heartbeat(heartbeat("m2", 2, None, topic));
        assert_eq!(partitions(&two), [0, 1, 2, 3]);
        assert_eq!(
            f.groups.list_groups(&[], &["consumer".into()])[0].state,
            "Stable"
        );
    }
}
