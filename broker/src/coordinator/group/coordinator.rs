//! The group coordinator's requests: membership of both protocols, offset commits and
//! fetches, descriptions, listings and deletions.

use josefine_storage::TopicPartition;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::error::ResponseError;
use tokio::sync::Notify;

use crate::coordinator::writer::{InternalTopic, InternalTopicWriter, Written};

use super::consumer::{self, ConsumerGroup, HeartbeatRequest, HeartbeatResult};
use super::records::{self, StoredOffset};
use super::{
    ClassicGroup, CommitIdentity, FetchedOffset, FetchedOffsets, Group, GroupConfig,
    GroupDescription, GroupKind, JoinRequest, JoinResult, ListedGroup, OffsetFetchTopics,
    OffsetToCommit, Records, Reply, SyncRequest, SyncResult, MAX_STORED_STRING, OFFSETS_TOPIC,
};
use crate::clock::Clock;
use crate::metadata::topics::TopicRegistry;

/// The group coordinator of this broker: every group and its offsets.
///
/// Its groups live behind one mutex held for short, in-memory sections. A request that
/// writes to `__consumer_offsets` orders the write under the mutex and awaits it with the
/// mutex released ([`crate::coordinator::writer`]); committed offsets and the outcome of
/// deletions are applied when their write has completed, in write order (as Kafka's classic
/// coordinator applies pending offset commits in its append callback), and membership
/// changes at once (as Kafka does), their records written in the order they were made.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// Settings.
    pub config: GroupConfig,
    pub(super) topics: Arc<TopicRegistry>,
    pub(super) clock: Clock,
    pub(super) shared: Arc<Shared>,
    pub(super) writer: InternalTopicWriter,
}

/// Per-partition errors of a request, and its write to await when it has one.
type Ordered = (
    Vec<Option<ResponseError>>,
    Option<Written<Result<(), ResponseError>>>,
);

/// What the coordinator shares with the completions of its writes.
#[derive(Debug, Default)]
pub(super) struct Shared {
    groups: Mutex<HashMap<String, Group>>,
    /// Wakes the timer task when a deadline earlier than the one it sleeps for appears.
    pub(super) wakeup: Notify,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl GroupCoordinator {
    /// A coordinator with no groups, of the topics in `topics` (whose `__consumer_offsets` it
    /// writes), reading time from `clock`.
    pub fn new(config: GroupConfig, topics: Arc<TopicRegistry>, clock: Clock) -> Self {
        let writer = InternalTopicWriter::new(
            Arc::clone(&topics),
            InternalTopic {
                name: OFFSETS_TOPIC,
                partitions: config.offsets_topic_partitions,
                segment_bytes: config.offsets_topic_segment_bytes,
            },
        );
        Self {
            config,
            topics,
            clock,
            shared: Arc::default(),
            writer,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.shared.lock()
    }

    /// Tells the timer task to look at the deadlines again.
    pub(crate) fn wake_timers(&self) {
        self.shared.wakeup.notify_one();
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
        let reply = match reply {
            _ if records.is_empty() => reply,
            // A static member that replaced its old id is answered once the group is stored.
            Reply::Now(result) => {
                let id = group_id.to_string();
                let written = self.write(group_id, &records, None, move |stored| {
                    if let Err(err) = stored {
                        tracing::warn!(group_id = %id, ?err, "cannot store group metadata");
                    }
                    result
                });
                Reply::Later(written.into_receiver())
            }
            Reply::Later(rx) => {
                let _ = self.write_membership(group_id, &records);
                Reply::Later(rx)
            }
        };
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
        let (reply, assignment) = classic.sync(request, self.clock.now());
        if let Some(assignment) = assignment {
            // The leader's assignment takes effect once stored: then every waiting member gets
            // its own and the group is Stable; if it cannot be stored they get the error and the
            // group rebalances again, as Kafka does.
            let shared = Arc::clone(&self.shared);
            let config = self.config.clone();
            let id = group_id.to_string();
            let records = vec![assignment.record.clone()];
            let _ = self.write(group_id, &records, None, move |stored| {
                let mut groups = shared.lock();
                if let Some(Group {
                    kind: GroupKind::Classic(classic),
                    ..
                }) = groups.get_mut(&id)
                {
                    classic.assignment_stored(assignment, stored, &config);
                }
                drop(groups);
                shared.wakeup.notify_one();
            });
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
    pub async fn leave_group(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        Self::check_group_id(group_id)?;
        let (errors, written) = self.leave_now(group_id, members);
        self.wake_timers();
        if let Some(written) = written {
            written.wait().await;
        }
        Ok(errors)
    }

    /// The in-memory part of a LeaveGroup: the errors, and the membership write to await.
    fn leave_now(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> (Vec<Option<ResponseError>>, Option<Written<()>>) {
        let mut groups = self.lock();
        let Some(Group {
            kind: GroupKind::Classic(classic),
            ..
        }) = groups.get_mut(group_id)
        else {
            return (
                vec![Some(ResponseError::UnknownMemberId); members.len()],
                None,
            );
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
        let written = (!records.is_empty()).then(|| self.write_membership(group_id, &records));
        (errors, written)
    }

    /// OffsetCommit: validates the committer as Kafka does (generation or member epoch), then
    /// stores each offset. Returns one error per offset, in order, when the commit is written.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        identity: &CommitIdentity,
        offsets: &[OffsetToCommit],
    ) -> Vec<Option<ResponseError>> {
        self.commit_offsets_in(group_id, identity, offsets, None)
            .await
    }

    /// OffsetCommit, or TxnOffsetCommit when `transaction` names the producer (id, epoch):
    /// then the offsets are written as a transactional batch of that producer and stay
    /// pending until the transaction's marker (KIP-98, KIP-447).
    ///
    /// The offsets become the group's (or pending) when their write has completed, in write
    /// order; a failed write answers its error (NOT_COORDINATOR, INVALID_PRODUCER_EPOCH) for
    /// every offset it carried and changes nothing.
    pub async fn commit_offsets_in(
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
        let (mut errors, written) = self.commit_now(group_id, identity, offsets, transaction, &all);
        let Some(written) = written else {
            return errors;
        };
        if let Err(err) = written
            .wait()
            .await
            .unwrap_or(Err(ResponseError::NotCoordinator))
        {
            for e in errors.iter_mut().filter(|e| e.is_none()) {
                *e = Some(err);
            }
        }
        errors
    }

    /// The in-memory part of an offset commit: the errors, and the write to await.
    fn commit_now(
        &self,
        group_id: &str,
        identity: &CommitIdentity,
        offsets: &[OffsetToCommit],
        transaction: Option<(i64, i16)>,
        all: &dyn Fn(ResponseError) -> Vec<Option<ResponseError>>,
    ) -> Ordered {
        let mut groups = self.lock();
        let group = match groups.get_mut(group_id) {
            Some(group) => group,
            None if identity.generation_id_or_member_epoch < 0 => groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::new_classic(group_id, self.clock)),
            None if identity.api_version >= 9 => {
                return (all(ResponseError::GroupIdNotFound), None)
            }
            None => return (all(ResponseError::IllegalGeneration), None),
        };
        let validated = match &mut group.kind {
            GroupKind::Classic(g) => g.validate_offset_commit(identity, self.clock.now()),
            GroupKind::Consumer(g) => g.validate_offset_commit(identity),
        };
        if let Err(err) = validated {
            return (all(err), None);
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
                accepted.push((TopicPartition::new(o.topic.clone(), o.partition), stored));
                None
            };
            errors.push(error);
        }
        if records.is_empty() {
            return (errors, None);
        }
        group.begin_offset_writes(accepted.iter().map(|(key, _)| key));
        let shared = Arc::clone(&self.shared);
        let id = group_id.to_string();
        let written = self.write(group_id, &records, transaction, move |result| {
            let mut groups = shared.lock();
            if let Some(group) = groups.get_mut(&id) {
                group.end_offset_writes(accepted.iter().map(|(key, _)| key));
                if result.is_ok() {
                    match transaction {
                        None => group.offsets.extend(accepted),
                        Some((producer_id, _)) => group
                            .pending_transactional_offsets
                            .entry(producer_id)
                            .or_default()
                            .extend(accepted),
                    }
                }
            }
            result
        });
        (errors, Some(written))
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
            let key = TopicPartition::new(topic, partition);
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
                for TopicPartition { topic, partition } in
                    group.map(|g| g.offsets.keys()).into_iter().flatten()
                {
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
    /// NON_EMPTY_GROUP, or the write's error.
    ///
    /// While its tombstones are written a group is Dead, as in Kafka: joins and commits are
    /// refused, so that nothing joins a group about to vanish. Once written the group is
    /// removed; if the write fails, it comes back as it was.
    pub async fn delete_groups(&self, ids: &[String]) -> Vec<Option<ResponseError>> {
        let deletions: Vec<Result<Written<Result<(), ResponseError>>, ResponseError>> = {
            let mut groups = self.lock();
            ids.iter()
                .map(|id| {
                    Self::check_group_id(id)?;
                    let group = groups.get_mut(id).ok_or(ResponseError::GroupIdNotFound)?;
                    if group.is_dead() {
                        return Err(ResponseError::GroupIdNotFound);
                    }
                    if !group.is_empty() {
                        return Err(ResponseError::NonEmptyGroup);
                    }
                    let mut records: Records = group
                        .offset_keys_written()
                        .map(|tp| (records::offset_key(id, &tp.topic, tp.partition), None))
                        .collect();
                    records.push((records::group_key(id), None));
                    let before = std::mem::replace(
                        &mut group.kind,
                        GroupKind::Classic(ClassicGroup::dead(id, self.clock)),
                    );
                    let shared = Arc::clone(&self.shared);
                    let group_id = id.clone();
                    Ok(self.write(id, &records, None, move |result| {
                        let id = group_id;
                        let mut groups = shared.lock();
                        match &result {
                            Ok(()) => {
                                groups.remove(&id);
                                tracing::info!(group_id = %id, "deleted group");
                            }
                            Err(_) => {
                                if let Some(group) = groups.get_mut(&id) {
                                    group.kind = before;
                                }
                            }
                        }
                        result
                    }))
                })
                .collect()
        };
        let mut errors = Vec::with_capacity(deletions.len());
        for deletion in deletions {
            errors.push(match deletion {
                Ok(written) => written
                    .wait()
                    .await
                    .unwrap_or(Err(ResponseError::NotCoordinator))
                    .err(),
                Err(err) => Some(err),
            });
        }
        errors
    }

    /// OffsetDelete: removes the committed offsets of `partitions` from `group_id`. A group
    /// with members keeps the offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).
    /// The offsets go when their tombstones are written.
    ///
    /// Errors (whole request): INVALID_GROUP_ID, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (a
    /// classic group with members that does not use the consumer protocol type), or the
    /// write's error.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        Self::check_group_id(group_id)?;
        let (errors, written) = self.delete_offsets_now(group_id, partitions)?;
        let Some(written) = written else {
            return Ok(errors);
        };
        written
            .wait()
            .await
            .unwrap_or(Err(ResponseError::NotCoordinator))?;
        Ok(errors)
    }

    /// The in-memory part of an OffsetDelete: the errors, and the write to await.
    fn delete_offsets_now(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<Ordered, ResponseError> {
        let mut groups = self.lock();
        let group = groups
            .get_mut(group_id)
            .filter(|g| !g.is_dead())
            .ok_or(ResponseError::GroupIdNotFound)?;
        let subscribed = match &group.kind {
            GroupKind::Classic(g) if g.members.is_empty() => Default::default(),
            GroupKind::Classic(g) => g.subscribed_topics().ok_or(ResponseError::NonEmptyGroup)?,
            GroupKind::Consumer(g) => g.subscribed_topics(),
        };
        let mut errors = Vec::with_capacity(partitions.len());
        let mut records = Vec::new();
        for TopicPartition { topic, partition } in partitions {
            if subscribed.contains(topic) {
                errors.push(Some(ResponseError::GroupSubscribedToTopic));
            } else if !self
                .topics
                .get(topic)
                .is_some_and(|t| *partition >= 0 && *partition < t.partition_count())
            {
                errors.push(Some(ResponseError::UnknownTopicOrPartition));
            } else {
                if group.has_offset_written(topic, *partition) {
                    records.push((records::offset_key(group_id, topic, *partition), None));
                }
                errors.push(None);
            }
        }
        if records.is_empty() {
            return Ok((errors, None));
        }
        let deleted: Vec<TopicPartition> = partitions
            .iter()
            .zip(&errors)
            .filter(|(_, error)| error.is_none())
            .map(|(key, _)| key.clone())
            .collect();
        let shared = Arc::clone(&self.shared);
        let id = group_id.to_string();
        let written = self.write(group_id, &records, None, move |result| {
            if result.is_ok() {
                if let Some(group) = shared.lock().get_mut(&id) {
                    for key in &deleted {
                        group.offsets.remove(key);
                    }
                }
            }
            result
        });
        Ok((errors, Some(written)))
    }

    /// Forgets (with tombstones) every group's offsets of a deleted topic, as Kafka does
    /// when a topic is deleted. Returns when the tombstones are written; a failed write is
    /// logged and the offsets are forgotten all the same.
    pub async fn on_topic_deleted(&self, topic: &str) {
        let writes = {
            let mut groups = self.lock();
            let mut writes = Vec::new();
            for group in groups.values_mut() {
                let keys: Vec<TopicPartition> = group
                    .offset_keys_written()
                    .filter(|tp| tp.topic == topic)
                    .cloned()
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                let records: Records = keys
                    .iter()
                    .map(|tp| {
                        (
                            records::offset_key(&group.id, &tp.topic, tp.partition),
                            None,
                        )
                    })
                    .collect();
                let shared = Arc::clone(&self.shared);
                let id = group.id.clone();
                writes.push(self.write(&group.id, &records, None, move |result| {
                    if let Err(err) = result {
                        tracing::warn!(group_id = %id, ?err, "cannot remove offsets of a deleted topic");
                    }
                    if let Some(group) = shared.lock().get_mut(&id) {
                        for key in &keys {
                            group.offsets.remove(key);
                        }
                    }
                }));
            }
            writes
        };
        for written in writes {
            written.wait().await;
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
                offsets_in_flight: BTreeMap::new(),
            });
        if group.is_dead() {
            return HeartbeatResult::error(
                ResponseError::CoordinatorNotAvailable,
                "The group is being deleted.",
            );
        }
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
    ) -> Vec<Result<consumer::ConsumerGroupDescription, DescribeError>> {
        let groups = self.lock();
        ids.iter()
            .map(|id| match groups.get(id) {
                Some(Group {
                    kind: GroupKind::Consumer(g),
                    ..
                }) => Ok(g.describe(&self.topics)),
                Some(_) => Err(DescribeError::NotAConsumerGroup(id.clone())),
                None => Err(DescribeError::NotFound(id.clone())),
            })
            .collect()
    }
}

/// Why ConsumerGroupDescribe cannot describe a group: GROUP_ID_NOT_FOUND with Kafka's
/// message ([`DescribeError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    /// The group exists but uses the classic protocol.
    #[error("Group {0} is not a consumer group.")]
    NotAConsumerGroup(String),
    /// No such group.
    #[error("Group {0} not found.")]
    NotFound(String),
}

impl DescribeError {
    /// The Kafka error code: GROUP_ID_NOT_FOUND for both.
    pub fn code(&self) -> ResponseError {
        ResponseError::GroupIdNotFound
    }
}
