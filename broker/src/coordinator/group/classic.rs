//! A group of the classic protocol: Kafka's state machine of Empty, PreparingRebalance,
//! CompletingRebalance, Stable (and Dead, for a deleted group).
//!
//! A rebalance starts when a member joins, leaves, expires or changes its protocols. Every
//! member then rejoins (JoinGroup waits) until all have, or the rebalance timeout passes and
//! the missing dynamic members are removed; the generation is bumped, a protocol selected by
//! vote, and the leader receives every member's metadata. Its SyncGroup carries the
//! assignment, stored and handed to each member's waiting SyncGroup; the group is Stable.
//! The protocol bytes are opaque here, so range, round-robin, sticky and cooperative-sticky
//! (KIP-429) all work: the cooperative protocol is the client's business.
//!
//! References: Kafka protocol guide; KIP-62, KIP-134, KIP-345 (static membership), KIP-394
//! (MEMBER_ID_REQUIRED), KIP-559 (protocol type and name in SyncGroup), KIP-814
//! (skip_assignment), KIP-800 (join and leave reasons).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::records::{StoredGroup, StoredMember};
use super::{
    group_record, new_member_id, CommitIdentity, GroupConfig, GroupDescription, MemberDescription,
    Records, Reply,
};
use crate::clock::Clock;

/// The classic group states, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassicState {
    /// No members (offsets may be committed).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted.
    Dead,
}

impl ClassicState {
    /// The name ListGroups and DescribeGroups report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// A JoinGroup, decoded.
#[derive(Debug)]
pub struct JoinRequest {
    /// Member id; empty for a first join.
    pub member_id: String,
    /// Static member id (KIP-345), v5+.
    pub group_instance_id: Option<String>,
    /// The client id of the request header.
    pub client_id: String,
    /// The client's host, `/a.b.c.d` as Kafka writes it.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout (v1+; the session timeout before).
    pub rebalance_timeout: Duration,
    /// Protocol type, `consumer` for consumers.
    pub protocol_type: String,
    /// Supported protocols (assignors) in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// Whether a first join must be told its member id first (KIP-394, v4+).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// Its metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A JoinGroup's answer.
#[derive(Debug, Clone)]
pub struct JoinResult {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// Generation id, -1 on error.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Selected protocol.
    pub protocol_name: Option<String>,
    /// Leader member id.
    pub leader: String,
    /// The member's id (new members learn theirs here).
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<JoinedMember>,
    /// Whether the leader must skip the assignment (KIP-814).
    pub skip_assignment: bool,
}

impl JoinResult {
    /// A failed join.
    pub fn error(error: ResponseError, member_id: &str) -> Self {
        Self {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup, decoded.
#[derive(Debug)]
pub struct SyncRequest {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// Generation id.
    pub generation_id: i32,
    /// Protocol type (v5+).
    pub protocol_type: Option<String>,
    /// Protocol name (v5+).
    pub protocol_name: Option<String>,
    /// The leader's assignment by member id; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup's answer.
#[derive(Debug, Clone)]
pub struct SyncResult {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Protocol name.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResult {
    /// A failed sync.
    pub fn error(error: ResponseError) -> Self {
        Self {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A leader's assignment, to be stored before the members receive it.
#[derive(Debug)]
pub(crate) struct AssignmentToStore {
    /// The generation it assigns.
    pub generation_id: i32,
    /// Each member's assignment, by member id.
    pub assignments: HashMap<String, Bytes>,
    /// The group's record with these assignments, for `__consumer_offsets`.
    pub record: (Vec<u8>, Option<Vec<u8>>),
}

/// One member of a classic group.
#[derive(Debug)]
pub(crate) struct ClassicMember {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Supported protocols with metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// Assignment of the current generation.
    pub assignment: Bytes,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    heartbeat_deadline: Instant,
}

impl ClassicMember {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether the member is waiting in a JoinGroup or SyncGroup (it cannot heartbeat then).
    fn is_waiting(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }
}

/// A classic group's membership and rebalance state.
#[derive(Debug)]
pub(crate) struct ClassicGroup {
    /// The group id.
    pub id: String,
    /// State.
    pub state: ClassicState,
    /// When the state last changed, ms since the epoch.
    pub state_timestamp: i64,
    /// Generation id.
    pub generation_id: i32,
    /// Protocol type of the members.
    pub protocol_type: Option<String>,
    /// Protocol selected for the current generation.
    pub protocol_name: Option<String>,
    /// Leader member id.
    pub leader_id: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, ClassicMember>,
    static_members: HashMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED who have not rejoined yet, with their deadline.
    pending_members: HashMap<String, Instant>,
    /// When the join phase ends at the latest.
    join_deadline: Option<Instant>,
    /// The initial delayed join of a new group: when it must end at the latest (KIP-134).
    initial_join_limit: Option<Instant>,
    /// Where state timestamps come from.
    clock: Clock,
}

impl ClassicGroup {
    /// An empty group of generation 0, reading its state timestamps from `clock`.
    pub(crate) fn new(id: &str, clock: Clock) -> Self {
        Self {
            id: id.to_string(),
            state: ClassicState::Empty,
            state_timestamp: clock.now_ms(),
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            join_deadline: None,
            initial_join_limit: None,
            clock,
        }
    }

    /// The group as stored in `__consumer_offsets`: Stable with its members (who must
    /// heartbeat within their session timeout from `clock.now()`), or Empty.
    pub(crate) fn restore(id: &str, stored: StoredGroup, clock: Clock) -> Self {
        let now = clock.now();
        let mut group = Self::new(id, clock);
        group.generation_id = stored.generation;
        group.protocol_type = Some(stored.protocol_type).filter(|p| !p.is_empty());
        group.protocol_name = stored.protocol.clone();
        group.leader_id = stored.leader;
        group.state_timestamp = stored.current_state_timestamp;
        for m in stored.members {
            let session_timeout = Duration::from_millis(m.session_timeout_ms.max(0) as u64);
            if let Some(instance) = &m.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            group.members.insert(
                m.member_id.clone(),
                ClassicMember {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout,
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocols: vec![(stored.protocol.clone().unwrap_or_default(), m.subscription)],
                    assignment: m.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    heartbeat_deadline: now + session_timeout,
                },
            );
        }
        group.state = if group.members.is_empty() {
            ClassicState::Empty
        } else {
            ClassicState::Stable
        };
        group
    }

    /// A group being deleted: Dead, refusing joins and commits until it is gone.
    pub(crate) fn dead(id: &str, clock: Clock) -> Self {
        let mut group = Self::new(id, clock);
        group.state = ClassicState::Dead;
        group
    }

    fn stored(&self) -> StoredGroup {
        self.stored_with(None, self.state_timestamp)
    }

    /// The stored form, with `assignments` in place of the members' when given.
    fn stored_with(
        &self,
        assignments: Option<&HashMap<String, Bytes>>,
        state_timestamp: i64,
    ) -> StoredGroup {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp: state_timestamp,
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    subscription: m.metadata(&protocol),
                    assignment: match assignments {
                        Some(assignments) => {
                            assignments.get(&m.member_id).cloned().unwrap_or_default()
                        }
                        None => m.assignment.clone(),
                    },
                })
                .collect(),
        }
    }

    fn transition(&mut self, state: ClassicState) {
        self.state = state;
        self.state_timestamp = self.clock.now_ms();
    }

    /// The protocols every member supports, in no particular order.
    fn common_protocols(&self) -> BTreeSet<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return BTreeSet::new();
        };
        let mut common: BTreeSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            common.retain(|p| m.protocols.iter().any(|(n, _)| n == p));
        }
        common
    }

    /// Whether a member with `protocol_type` and `protocols` may join.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.common_protocols().contains(name))
    }

    /// The protocol chosen by vote: each member votes for its most preferred protocol that
    /// all support; the most votes win (ties go to the leader's preference).
    fn select_protocol(&self) -> Option<String> {
        let common = self.common_protocols();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| common.contains(n)) {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let most = votes.values().copied().max()?;
        let leader_order = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .map(|m| {
                m.protocols
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        leader_order
            .into_iter()
            .find(|p| votes.get(p) == Some(&most))
            .or_else(|| {
                votes
                    .iter()
                    .filter(|(_, v)| **v == most)
                    .map(|(p, _)| *p)
                    .min()
            })
            .map(str::to_string)
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Starts a rebalance: assignments are revoked, waiting syncs fail with
    /// REBALANCE_IN_PROGRESS, and the join phase gets its deadline (the longest rebalance
    /// timeout, or the initial delay for a group that was empty).
    fn prepare_rebalance(&mut self, now: Instant, config: &GroupConfig) {
        if self.state == ClassicState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(SyncResult::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let timeout = self.max_rebalance_timeout();
        if self.state == ClassicState::Empty {
            let delay = config.initial_rebalance_delay.min(timeout);
            self.initial_join_limit = Some(now + timeout);
            self.join_deadline = Some(now + delay);
        } else {
            self.initial_join_limit = None;
            self.join_deadline = Some(now + timeout);
        }
        self.transition(ClassicState::PreparingRebalance);
    }

    fn maybe_prepare_rebalance(&mut self, now: Instant, config: &GroupConfig) {
        if matches!(
            self.state,
            ClassicState::Stable | ClassicState::CompletingRebalance | ClassicState::Empty
        ) {
            self.prepare_rebalance(now, config);
        }
    }

    /// Completes the join phase if every member has rejoined, or its deadline has passed.
    fn try_complete_join(&mut self, now: Instant, records: &mut Records) {
        if self.state != ClassicState::PreparingRebalance {
            return;
        }
        let expired = self.join_deadline.is_some_and(|d| now >= d);
        let ready = match self.initial_join_limit {
            // The initial delay gathers members (KIP-134); members told their id
            // (MEMBER_ID_REQUIRED) and about to rejoin are waited for too, up to the limit,
            // so that consumers started together form one generation even with no delay.
            Some(limit) => (expired && self.pending_members.is_empty()) || now >= limit,
            None => expired || self.all_joined(),
        };
        if ready {
            self.complete_join(now, records);
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed, the generation
    /// is bumped and every waiting member answered (the leader with all members' metadata).
    fn complete_join(&mut self, now: Instant, records: &mut Records) {
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in missing {
            tracing::info!(group_id = %self.id, member_id = %id, "removing a member that did not rejoin in time");
            self.members.remove(&id);
        }
        let leader_joined = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if !leader_joined {
            self.leader_id = self
                .members
                .values()
                .find(|m| m.awaiting_join.is_some())
                .map(|m| m.member_id.clone());
        }
        if self.leader_id.is_none() && !self.members.is_empty() {
            // Only static members that have not rejoined are left: wait for them once more.
            self.join_deadline = Some(now + self.max_rebalance_timeout());
            self.initial_join_limit = None;
            return;
        }
        self.join_deadline = None;
        self.initial_join_limit = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.protocol_type = if self.generation_id > 0 {
                self.protocol_type.take()
            } else {
                None
            };
            self.leader_id = None;
            self.transition(ClassicState::Empty);
            records.push(group_record(&self.id, &self.stored()));
            tracing::info!(group_id = %self.id, generation_id = self.generation_id, "group is empty");
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(ClassicState::CompletingRebalance);
        tracing::info!(group_id = %self.id, generation_id = self.generation_id, members = self.members.len(), protocol = ?self.protocol_name, "rebalance: members joined");
        let mut waiting = Vec::new();
        for m in self.members.values_mut() {
            m.heartbeat_deadline = now + m.session_timeout;
            if let Some(tx) = m.awaiting_join.take() {
                waiting.push((m.member_id.clone(), tx));
            }
        }
        for (member_id, tx) in waiting {
            let _ = tx.send(self.current_generation(&member_id));
        }
    }

    /// The answer to a join that needs no rebalance: the current generation.
    fn current_generation(&self, member_id: &str) -> JoinResult {
        let leader = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinResult {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            members: if member_id == leader {
                self.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            leader,
            member_id: member_id.to_string(),
            skip_assignment: false,
        }
    }

    /// Adds a member (new, or pending after MEMBER_ID_REQUIRED) and waits for the rebalance.
    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        request: JoinRequest,
        now: Instant,
        config: &GroupConfig,
        records: &mut Records,
    ) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        self.members.insert(
            member_id.clone(),
            ClassicMember {
                member_id: member_id.clone(),
                group_instance_id: request.group_instance_id,
                client_id: request.client_id,
                client_host: request.client_host,
                session_timeout: request.session_timeout,
                rebalance_timeout: request.rebalance_timeout,
                protocols: request.protocols,
                assignment: Bytes::new(),
                awaiting_join: Some(tx),
                awaiting_sync: None,
                heartbeat_deadline: now + request.session_timeout,
            },
        );
        if self.state == ClassicState::PreparingRebalance {
            if let Some(limit) = self.initial_join_limit {
                // Each member joining during the initial delay extends it, up to the limit.
                self.join_deadline = Some((now + config.initial_rebalance_delay).min(limit));
            }
        } else {
            self.maybe_prepare_rebalance(now, config);
        }
        self.try_complete_join(now, records);
        Reply::Later(rx)
    }

    /// JoinGroup. Returns the answer (now, or when the join phase completes) and the records
    /// to store.
    pub(crate) fn join(
        &mut self,
        request: JoinRequest,
        now: Instant,
        config: &GroupConfig,
    ) -> (Reply<JoinResult>, Records) {
        let mut records = Vec::new();
        let member_id = request.member_id.clone();
        let fail = |e| Reply::Now(JoinResult::error(e, &member_id));
        if self.state == ClassicState::Dead {
            return (fail(ResponseError::CoordinatorNotAvailable), records);
        }
        if !self.supports(&request.protocol_type, &request.protocols) {
            return (fail(ResponseError::InconsistentGroupProtocol), records);
        }
        if member_id.is_empty() {
            // A new member, or a static member coming back with a new process.
            let prefix = request
                .group_instance_id
                .clone()
                .unwrap_or_else(|| request.client_id.clone());
            let new_id = new_member_id(&prefix);
            if let Some(old_id) = request
                .group_instance_id
                .as_ref()
                .and_then(|i| self.static_members.get(i))
                .cloned()
            {
                let reply =
                    self.replace_static_member(&old_id, new_id, request, now, config, &mut records);
                return (reply, records);
            }
            if self.members.len() >= config.max_size {
                return (fail(ResponseError::GroupMaxSizeReached), records);
            }
            if request.group_instance_id.is_none() && request.require_known_member_id {
                self.pending_members
                    .insert(new_id.clone(), now + request.session_timeout);
                return (
                    Reply::Now(JoinResult::error(ResponseError::MemberIdRequired, &new_id)),
                    records,
                );
            }
            let reply = self.add_member_and_rebalance(new_id, request, now, config, &mut records);
            return (reply, records);
        }
        if self.pending_members.remove(&member_id).is_some() {
            if self.members.len() >= config.max_size {
                return (fail(ResponseError::GroupMaxSizeReached), records);
            }
            let reply = self.add_member_and_rebalance(
                member_id.clone(),
                request,
                now,
                config,
                &mut records,
            );
            return (reply, records);
        }
        if let Err(err) = self.check_member(&member_id, request.group_instance_id.as_deref()) {
            return (fail(err), records);
        }
        let Some(member) = self.members.get_mut(&member_id) else {
            return (fail(ResponseError::UnknownMemberId), records);
        };
        let same_protocols = member.protocols == request.protocols;
        member.heartbeat_deadline = now + request.session_timeout;
        match self.state {
            ClassicState::Empty | ClassicState::Dead => {
                (fail(ResponseError::UnknownMemberId), records)
            }
            ClassicState::CompletingRebalance if same_protocols => {
                (Reply::Now(self.current_generation(&member_id)), records)
            }
            ClassicState::Stable
                if same_protocols && self.leader_id.as_deref() != Some(member_id.as_str()) =>
            {
                (Reply::Now(self.current_generation(&member_id)), records)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                member.protocols = request.protocols;
                member.session_timeout = request.session_timeout;
                member.rebalance_timeout = request.rebalance_timeout;
                member.client_id = request.client_id;
                member.client_host = request.client_host;
                // A repeated join replaces the earlier one, whose answer is dropped.
                member.awaiting_join = Some(tx);
                self.maybe_prepare_rebalance(now, config);
                self.try_complete_join(now, &mut records);
                (Reply::Later(rx), records)
            }
        }
    }

    /// A static member rejoining with an unknown member id takes over its old member id's
    /// place: in a Stable group with unchanged protocols it gets the current generation and
    /// its assignment without a rebalance (KIP-345); the old id is fenced.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        request: JoinRequest,
        now: Instant,
        config: &GroupConfig,
        records: &mut Records,
    ) -> Reply<JoinResult> {
        let Some(mut member) = self.members.remove(old_id) else {
            return Reply::Now(JoinResult::error(ResponseError::UnknownMemberId, ""));
        };
        if let Some(tx) = member.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(ResponseError::FencedInstanceId, old_id));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(ResponseError::FencedInstanceId));
        }
        let old_leader = self.leader_id.clone().unwrap_or_default();
        if self.leader_id.as_deref() == Some(old_id) {
            self.leader_id = Some(new_id.clone());
        }
        let same_protocols = member.protocols == request.protocols;
        member.member_id = new_id.clone();
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        member.heartbeat_deadline = now + member.session_timeout;
        if let Some(instance) = &member.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        tracing::info!(group_id = %self.id, old_member_id = old_id, member_id = %new_id, "static member replaced");
        match self.state {
            ClassicState::Stable if same_protocols => {
                self.members.insert(new_id.clone(), member);
                records.push(group_record(&self.id, &self.stored()));
                // The old leader id is returned so that a rejoining leader does not assign
                // again: a Stable group would not pass a new assignment on.
                let mut result = self.current_generation(&new_id);
                result.leader = old_leader;
                result.members = Vec::new();
                Reply::Now(result)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                member.awaiting_join = Some(tx);
                self.members.insert(new_id, member);
                self.maybe_prepare_rebalance(now, config);
                self.try_complete_join(now, records);
                Reply::Later(rx)
            }
        }
    }

    /// Checks a member id (and static instance id) against the group: FENCED_INSTANCE_ID
    /// when the instance id belongs to another member id, UNKNOWN_MEMBER_ID when unknown.
    fn check_member(&self, member_id: &str, instance: Option<&str>) -> Result<(), ResponseError> {
        if let Some(instance) = instance {
            match self.static_members.get(instance) {
                Some(known) if known != member_id => return Err(ResponseError::FencedInstanceId),
                None => return Err(ResponseError::UnknownMemberId),
                _ => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        }
    }

    /// SyncGroup: followers wait for the leader's assignment. The leader's sync returns the
    /// assignment to store; once it is stored, [`ClassicGroup::assignment_stored`] hands each
    /// member its own and makes the group Stable (Kafka's `doSyncGroup`).
    pub(crate) fn sync(
        &mut self,
        request: SyncRequest,
        now: Instant,
    ) -> (Reply<SyncResult>, Option<AssignmentToStore>) {
        let nothing_to_store = None;
        let fail = |e| Reply::Now(SyncResult::error(e));
        if let Err(err) =
            self.check_member(&request.member_id, request.group_instance_id.as_deref())
        {
            return (fail(err), nothing_to_store);
        }
        if request.generation_id != self.generation_id {
            return (fail(ResponseError::IllegalGeneration), nothing_to_store);
        }
        let mismatched =
            |given: &Option<String>, ours: &Option<String>| given.is_some() && given != ours;
        if mismatched(&request.protocol_type, &self.protocol_type)
            || mismatched(&request.protocol_name, &self.protocol_name)
        {
            return (
                fail(ResponseError::InconsistentGroupProtocol),
                nothing_to_store,
            );
        }
        match self.state {
            ClassicState::Empty | ClassicState::Dead => {
                (fail(ResponseError::UnknownMemberId), nothing_to_store)
            }
            ClassicState::PreparingRebalance => {
                (fail(ResponseError::RebalanceInProgress), nothing_to_store)
            }
            ClassicState::Stable => {
                let member = self.members.get_mut(&request.member_id);
                let assignment = member
                    .map(|m| {
                        m.heartbeat_deadline = now + m.session_timeout;
                        m.assignment.clone()
                    })
                    .unwrap_or_default();
                (Reply::Now(self.sync_result(assignment)), nothing_to_store)
            }
            ClassicState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(&request.member_id) {
                    m.awaiting_sync = Some(tx);
                    m.heartbeat_deadline = now + m.session_timeout;
                }
                let mut store = None;
                if self.leader_id.as_deref() == Some(request.member_id.as_str()) {
                    let assignments: HashMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    let stored = self.stored_with(Some(&assignments), self.clock.now_ms());
                    store = Some(AssignmentToStore {
                        generation_id: self.generation_id,
                        record: group_record(&self.id, &stored),
                        assignments,
                    });
                }
                (Reply::Later(rx), store)
            }
        }
    }

    fn sync_result(&self, assignment: Bytes) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    fn complete_syncs(&mut self) {
        let protocol_type = self.protocol_type.clone();
        let protocol_name = self.protocol_name.clone();
        for m in self.members.values_mut() {
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult {
                    error: None,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                });
            }
        }
    }

    /// The leader's assignment was written (`stored` is Ok) or could not be: if the group
    /// is still completing that generation's rebalance, every waiting member gets its
    /// assignment and the group is Stable, or they get the error and the group rebalances
    /// again (Kafka's `setAndPropagateAssignment` / `resetAndPropagateAssignmentError`).
    /// A group that moved on meanwhile ignores it.
    pub(crate) fn assignment_stored(
        &mut self,
        assignment: AssignmentToStore,
        stored: Result<(), ResponseError>,
        config: &GroupConfig,
    ) {
        if self.state != ClassicState::CompletingRebalance
            || self.generation_id != assignment.generation_id
        {
            return;
        }
        match stored {
            Ok(()) => {
                for m in self.members.values_mut() {
                    m.assignment = assignment
                        .assignments
                        .get(&m.member_id)
                        .cloned()
                        .unwrap_or_default();
                }
                self.transition(ClassicState::Stable);
                self.complete_syncs();
            }
            Err(err) => self.storing_failed(err, config),
        }
    }

    /// The leader's assignment could not be stored: waiting syncs get `error` and the group
    /// rebalances, as Kafka does.
    fn storing_failed(&mut self, error: ResponseError, config: &GroupConfig) {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(error));
            }
        }
        self.maybe_prepare_rebalance(self.clock.now(), config);
    }

    /// Heartbeat: NONE while Stable or CompletingRebalance, REBALANCE_IN_PROGRESS while
    /// members must rejoin, else the fencing error.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> Option<ResponseError> {
        if let Err(err) = self.check_member(member_id, instance) {
            return Some(err);
        }
        match self.state {
            ClassicState::Empty | ClassicState::Dead => {
                return Some(ResponseError::UnknownMemberId)
            }
            _ if generation_id != self.generation_id => {
                return Some(ResponseError::IllegalGeneration)
            }
            _ => {}
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.heartbeat_deadline = now + m.session_timeout;
        }
        match self.state {
            ClassicState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            _ => None,
        }
    }

    /// One member of a LeaveGroup: found by member id, or by instance id when the member id
    /// is empty (KIP-345 admin removal).
    pub(crate) fn leave(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        now: Instant,
        config: &GroupConfig,
        records: &mut Records,
    ) -> Option<ResponseError> {
        if instance.is_none() && self.pending_members.remove(member_id).is_some() {
            self.try_complete_join(now, records);
            return None;
        }
        let id = match instance {
            Some(instance) => match self.static_members.get(instance) {
                None => return Some(ResponseError::UnknownMemberId),
                Some(known) if !member_id.is_empty() && known != member_id => {
                    return Some(ResponseError::FencedInstanceId)
                }
                Some(known) => known.clone(),
            },
            None if self.members.contains_key(member_id) => member_id.to_string(),
            None => return Some(ResponseError::UnknownMemberId),
        };
        self.remove_member(&id, "the member left the group", now, config, records);
        None
    }

    fn remove_member(
        &mut self,
        member_id: &str,
        reason: &str,
        now: Instant,
        config: &GroupConfig,
        records: &mut Records,
    ) {
        let Some(mut member) = self.members.remove(member_id) else {
            return;
        };
        tracing::info!(group_id = %self.id, member_id, reason, "removing group member");
        if let Some(instance) = &member.group_instance_id {
            self.static_members.remove(instance);
        }
        if let Some(tx) = member.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(ResponseError::UnknownMemberId, member_id));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(ResponseError::UnknownMemberId));
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        match self.state {
            ClassicState::Stable | ClassicState::CompletingRebalance => {
                self.prepare_rebalance(now, config);
                self.try_complete_join(now, records);
            }
            ClassicState::PreparingRebalance => self.try_complete_join(now, records),
            ClassicState::Empty | ClassicState::Dead => {}
        }
    }

    /// Serves the group's deadlines as of `now`: the end of the join phase, members whose
    /// session expired, pending members that never rejoined. Returns the records to store and
    /// the next deadline.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        config: &GroupConfig,
    ) -> (Records, Option<Instant>) {
        let mut records = Vec::new();
        self.pending_members.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_waiting() && m.heartbeat_deadline <= now)
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group_id = %self.id, member_id = %id, "member session expired");
            self.remove_member(&id, "session timeout expired", now, config, &mut records);
        }
        self.try_complete_join(now, &mut records);
        let deadlines = self
            .members
            .values()
            .filter(|m| !m.is_waiting())
            .map(|m| m.heartbeat_deadline)
            .chain(self.pending_members.values().copied())
            .chain(self.join_deadline);
        (records, deadlines.min())
    }

    /// Offset commits of the classic protocol, validated as Kafka's ClassicGroup does: a
    /// commit without generation (-1) is for an empty group only; otherwise the member and
    /// generation must match, and not while members are rejoining.
    pub(crate) fn validate_offset_commit(
        &mut self,
        identity: &CommitIdentity,
        now: Instant,
    ) -> Result<(), ResponseError> {
        let generation = identity.generation_id_or_member_epoch;
        if self.state == ClassicState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == ClassicState::Empty {
            return Ok(());
        }
        if generation >= 0 || !identity.member_id.is_empty() || identity.group_instance_id.is_some()
        {
            self.check_member(&identity.member_id, identity.group_instance_id.as_deref())?;
            if generation != self.generation_id {
                return Err(ResponseError::IllegalGeneration);
            }
        } else if self.state != ClassicState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        if self.state == ClassicState::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        if let Some(m) = self.members.get_mut(&identity.member_id) {
            m.heartbeat_deadline = now + m.session_timeout;
        }
        Ok(())
    }

    /// The topics the members subscribe to, from their `consumer` protocol metadata; `None`
    /// when the group does not use the consumer protocol type (its topics are unknown).
    pub(crate) fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(consumer_subscription_topics(&m.metadata(&protocol)));
        }
        Some(topics)
    }

    /// DescribeGroups' view: metadata and assignments only when Stable, as Kafka reports.
    pub(crate) fn describe(&self) -> GroupDescription {
        let stable = self.state == ClassicState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            error: None,
            state: self.state.name().into(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }
}

/// The topics of a `ConsumerProtocolSubscription` (any version: int16 version, then an array
/// of topic names). Undecodable metadata yields none.
pub(crate) fn consumer_subscription_topics(metadata: &[u8]) -> Vec<String> {
    let read = || -> Option<Vec<String>> {
        let count = i32::from_be_bytes(metadata.get(2..6)?.try_into().ok()?);
        let mut position = 6usize;
        let mut topics = Vec::new();
        for _ in 0..count.max(0) {
            let len = i16::from_be_bytes(metadata.get(position..position + 2)?.try_into().ok()?);
            position += 2;
            let name = metadata.get(position..position + usize::try_from(len).ok()?)?;
            position += name.len();
            topics.push(String::from_utf8_lossy(name).into_owned());
        }
        Some(topics)
    };
    read().unwrap_or_default()
}
