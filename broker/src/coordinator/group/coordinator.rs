//! The group coordinator's requests: membership of both protocols, offset commits and
//! fetches, descriptions, listings and deletions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::error::ResponseError;
use tokio::sync::Notify;

use super::consumer::{self, ConsumerGroup, HeartbeatRequest, HeartbeatResult};
use super::records::{self, StoredOffset};
use super::{
    ClassicGroup, CommitIdentity, FetchedOffset, FetchedOffsets, Group, GroupConfig,
    GroupDescription, GroupKind, JoinRequest, JoinResult, ListedGroup, OffsetFetchTopics,
    OffsetToCommit, Records, Reply, SyncRequest, SyncResult, MAX_STORED_STRING,
};
use crate::clock::Clock;
use crate::metadata::topics::TopicRegistry;

/// The group coordinator of this broker: every group and its offsets.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// Settings.
    pub config: GroupConfig,
    pub(super) topics: Arc<TopicRegistry>,
    pub(super) clock: Clock,
    groups: Mutex<HashMap<String, Group>>,
    /// Wakes the timer task when a deadline earlier than the one it sleeps for appears.
    pub(super) wakeup: Notify,
}

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

    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the timer task to look at the deadlines again.
    pub(crate) fn wake_timers(&self) {
        self.wakeup.notify_one();
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
