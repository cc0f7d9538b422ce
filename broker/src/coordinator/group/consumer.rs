//! A group of the consumer protocol (KIP-848): the broker assigns, members reconcile.
//!
//! The group epoch is bumped whenever membership, a subscription, or the partitions of a
//! subscribed topic change; the target assignment is then recomputed by the server-side
//! assignor and stamped with that epoch (the assignment epoch). Each member converges on its
//! target through its heartbeats, one step at a time, as KIP-848's reconciliation describes:
//! partitions it must give up are revoked first (it keeps its epoch, state
//! UNREVOKED_PARTITIONS) and only once it reports them released does it move to the new
//! epoch; partitions still held by another member are withheld (UNRELEASED_PARTITIONS) until
//! that member lets go. A member that does not revoke within its rebalance timeout, or stops
//! heartbeating for `group.consumer.session.timeout.ms`, is fenced and removed.
//!
//! References: KIP-848 ("Consumer Group Heartbeat API", "Reconciliation", "Member Epoch");
//! KIP-1082 (client-generated member ids, ConsumerGroupHeartbeat v1), the regex subscription
//! of KIP-848 (v1).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::time::Instant;
use uuid::Uuid;

use super::assignor::{self, Assignment, MemberSpec};
use super::{CommitIdentity, GroupConfig};
use crate::metadata::topics::TopicRegistry;

/// Member epoch of a member leaving the group.
pub(crate) const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// Member epoch of a static member leaving temporarily (it keeps its assignment until its
/// session times out).
pub(crate) const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// A ConsumerGroupHeartbeat, decoded.
#[derive(Debug, Default)]
pub struct HeartbeatRequest {
    /// Group id.
    pub group_id: String,
    /// Member id: chosen by the client (v1), or empty on a v0 first join.
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member's temporary leave, else the epoch.
    pub member_epoch: i32,
    /// Static member id.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack_id: Option<String>,
    /// Rebalance timeout (-1 when unchanged).
    pub rebalance_timeout_ms: i32,
    /// Subscribed topic names (`None` when unchanged).
    pub subscribed_topic_names: Option<Vec<String>>,
    /// Subscribed topic regular expression (v1; `None` when unchanged, empty to clear).
    pub subscribed_topic_regex: Option<String>,
    /// Preferred server assignor (`None` when unchanged).
    pub server_assignor: Option<String>,
    /// Partitions the member owns now (`None` when unchanged).
    pub owned: Option<Assignment>,
    /// The request's version.
    pub version: i16,
    /// Client id, from the request header.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
}

/// A ConsumerGroupHeartbeat's answer.
#[derive(Debug, Default)]
pub struct HeartbeatResult {
    /// Error code, if any.
    pub error: Option<ResponseError>,
    /// Error message.
    pub error_message: Option<String>,
    /// The member id.
    pub member_id: Option<String>,
    /// The member epoch.
    pub member_epoch: i32,
    /// Heartbeat interval, ms.
    pub heartbeat_interval_ms: i32,
    /// The member's assignment when sent (full requests, or when it changed).
    pub assignment: Option<Assignment>,
}

impl HeartbeatResult {
    /// A failed heartbeat.
    pub fn error(error: ResponseError, message: &str) -> Self {
        Self {
            error: Some(error),
            error_message: Some(message.to_string()).filter(|m| !m.is_empty()),
            member_epoch: -1,
            ..Self::default()
        }
    }
}

/// Where a member stands in its reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberState {
    /// At the target epoch with its whole target assignment.
    Stable,
    /// Must release partitions before it moves to the new epoch.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still hold.
    UnreleasedPartitions,
}

/// One member of a consumer group.
#[derive(Debug)]
pub(crate) struct ConsumerMember {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Rebalance timeout: how long it may take to revoke.
    pub rebalance_timeout: Duration,
    /// Subscribed topic names.
    pub subscribed_topic_names: Vec<String>,
    /// Subscribed regular expression.
    pub subscribed_topic_regex: Option<String>,
    /// Preferred server assignor.
    pub server_assignor: Option<String>,
    /// Reconciliation state.
    pub state: MemberState,
    /// Member epoch.
    pub member_epoch: i32,
    /// The epoch before the last bump (a retry with it is accepted).
    pub previous_member_epoch: i32,
    /// Partitions the member owns.
    pub assigned: Assignment,
    /// Partitions it must release.
    pub pending_revocation: Assignment,
    /// `subscribed_topic_regex`, compiled to match whole names.
    pattern: Option<regex::Regex>,
    session_deadline: Instant,
    revocation_deadline: Option<Instant>,
    /// A static member that left with epoch -2 and may come back.
    left_temporarily: bool,
}

/// A consumer-protocol group.
#[derive(Debug, Default)]
pub(crate) struct ConsumerGroup {
    /// Group epoch.
    pub group_epoch: i32,
    /// Epoch of the current target assignment.
    pub assignment_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, ConsumerMember>,
    static_members: HashMap<String, String>,
    /// Target assignment by member id.
    target: HashMap<String, Assignment>,
    /// Which member holds a partition now (assigned or pending revocation).
    owners: HashMap<(Uuid, i32), String>,
    /// Subscribed topics as last seen: name -> (id, partition count).
    subscribed_metadata: BTreeMap<String, (Uuid, i32)>,
    /// The assignor of the last target assignment.
    assignor_name: String,
}

/// ConsumerGroupDescribe's view of a member.
#[derive(Debug, Clone)]
pub struct ConsumerMemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack_id: Option<String>,
    /// Member epoch.
    pub member_epoch: i32,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topic names.
    pub subscribed_topic_names: Vec<String>,
    /// Subscribed regular expression.
    pub subscribed_topic_regex: Option<String>,
    /// Owned partitions: (topic id, topic name, partitions).
    pub assignment: Vec<(Uuid, String, Vec<i32>)>,
    /// Target partitions.
    pub target_assignment: Vec<(Uuid, String, Vec<i32>)>,
}

/// ConsumerGroupDescribe's view of a group.
#[derive(Debug, Clone)]
pub struct ConsumerGroupDescription {
    /// State name.
    pub state: &'static str,
    /// Group epoch.
    pub group_epoch: i32,
    /// Assignment epoch.
    pub assignment_epoch: i32,
    /// Assignor name.
    pub assignor_name: String,
    /// Members.
    pub members: Vec<ConsumerMemberDescription>,
}

impl ConsumerMember {
    /// Whether the member subscribes to `topic`: by name, or (not internal) by its regex.
    fn subscribes_to(&self, topic: &str, internal: bool) -> bool {
        self.subscribed_topic_names.iter().any(|n| n == topic)
            || (!internal && self.pattern.as_ref().is_some_and(|p| p.is_match(topic)))
    }
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, parts)| b.get(t).is_some_and(|other| parts.is_subset(other)))
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, parts)| b.get(t).is_some_and(|other| !parts.is_disjoint(other)))
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, parts)| {
            let rest: BTreeSet<i32> = match b.get(t) {
                Some(other) => parts.difference(other).copied().collect(),
                None => parts.clone(),
            };
            (!rest.is_empty()).then_some((*t, rest))
        })
        .collect()
}

fn intersection(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, parts)| {
            let both: BTreeSet<i32> = parts.intersection(b.get(t)?).copied().collect();
            (!both.is_empty()).then_some((*t, both))
        })
        .collect()
}

fn pairs(a: &Assignment) -> impl Iterator<Item = (Uuid, i32)> + '_ {
    a.iter()
        .flat_map(|(t, parts)| parts.iter().map(move |p| (*t, *p)))
}

impl ConsumerGroup {
    /// An empty group at epoch 0.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `Empty`, `Assigning`, `Reconciling` or `Stable`, as Kafka's ConsumerGroupState names
    /// them.
    pub(crate) fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Every topic a member subscribes to by name.
    pub(crate) fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned())
            .collect()
    }

    /// The topics (name -> (id, partitions)) the members subscribe to, by name or regex,
    /// that exist.
    fn resolve_subscriptions(&self, topics: &TopicRegistry) -> BTreeMap<String, (Uuid, i32)> {
        topics
            .all()
            .into_iter()
            .filter(|t| {
                self.members
                    .values()
                    .any(|m| m.subscribes_to(&t.name, t.is_internal()))
            })
            .map(|t| (t.name.clone(), (t.id, t.partition_count())))
            .collect()
    }

    fn member_topics(
        &self,
        member: &ConsumerMember,
        metadata: &BTreeMap<String, (Uuid, i32)>,
    ) -> BTreeSet<Uuid> {
        // Internal topics are in `metadata` only when named, so a regex cannot reach them.
        metadata
            .iter()
            .filter(|(name, _)| member.subscribes_to(name, false))
            .map(|(_, (id, _))| *id)
            .collect()
    }

    /// Recomputes the target assignment at the group epoch.
    fn compute_target(&mut self, config: &GroupConfig) {
        let metadata = self.subscribed_metadata.clone();
        let partitions: BTreeMap<Uuid, i32> = metadata.values().copied().collect();
        // The assignor most members prefer, else the first configured.
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.server_assignor {
                *votes
                    .entry(crate::config::assignor_short_name(a))
                    .or_default() += 1;
            }
        }
        let name = votes
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(n, _)| n.to_string())
            .or_else(|| config.consumer_assignors.first().cloned())
            .unwrap_or_else(|| "uniform".into());
        let empty = Assignment::new();
        let specs: Vec<MemberSpec<'_>> = self
            .members
            .values()
            .map(|m| MemberSpec {
                member_id: &m.member_id,
                topics: self.member_topics(m, &metadata),
                current: self.target.get(&m.member_id).unwrap_or(&empty),
            })
            .collect();
        let target = assignor::assign(&name, &specs, &partitions);
        self.target = target;
        self.assignor_name = name;
        self.assignment_epoch = self.group_epoch;
    }

    fn release(&mut self, member_id: &str, partitions: &Assignment) {
        for key in pairs(partitions) {
            if self.owners.get(&key).map(String::as_str) == Some(member_id) {
                self.owners.remove(&key);
            }
        }
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(m) = self.members.remove(member_id) {
            let held: Vec<(Uuid, i32)> = pairs(&m.assigned)
                .chain(pairs(&m.pending_revocation))
                .collect();
            for key in held {
                if self.owners.get(&key).map(String::as_str) == Some(member_id) {
                    self.owners.remove(&key);
                }
            }
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    /// One step of a member's reconciliation towards its target assignment.
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Instant) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let assignment_epoch = self.assignment_epoch;
        let Some(member) = self.members.get(member_id) else {
            return;
        };
        let mut state = member.state;
        if state == MemberState::UnrevokedPartitions {
            let released = owned.is_some_and(|o| !intersects(o, &member.pending_revocation));
            if !released {
                return;
            }
            let pending = member.pending_revocation.clone();
            self.release(member_id, &pending);
            state = MemberState::Stable;
            if let Some(m) = self.members.get_mut(member_id) {
                m.pending_revocation.clear();
                m.revocation_deadline = None;
                m.state = state;
            }
        }
        let Some(member) = self.members.get(member_id) else {
            return;
        };
        if member.member_epoch == assignment_epoch
            && state == MemberState::Stable
            && member.assigned == target
        {
            return;
        }
        let kept = intersection(&member.assigned, &target);
        let revoke = minus(&member.assigned, &target);
        if !revoke.is_empty() {
            let rebalance_timeout = member.rebalance_timeout;
            if let Some(m) = self.members.get_mut(member_id) {
                m.assigned = kept;
                m.pending_revocation = revoke;
                m.state = MemberState::UnrevokedPartitions;
                m.revocation_deadline = Some(now + rebalance_timeout);
            }
            return;
        }
        let wanted = minus(&target, &member.assigned);
        let mut assigned = kept;
        let mut unreleased = false;
        for (topic, partition) in pairs(&wanted) {
            match self.owners.get(&(topic, partition)) {
                Some(owner) if owner != member_id => unreleased = true,
                _ => {
                    assigned.entry(topic).or_default().insert(partition);
                    self.owners
                        .insert((topic, partition), member_id.to_string());
                }
            }
        }
        if let Some(m) = self.members.get_mut(member_id) {
            if m.member_epoch != assignment_epoch {
                m.previous_member_epoch = m.member_epoch;
                m.member_epoch = assignment_epoch;
            }
            m.assigned = assigned;
            m.state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
        }
    }

    /// ConsumerGroupHeartbeat: joins, leaves, or advances a member, and returns its epoch and
    /// (when due) its assignment.
    pub(crate) fn heartbeat(
        &mut self,
        topics: &TopicRegistry,
        request: HeartbeatRequest,
        now: Instant,
        config: &GroupConfig,
    ) -> HeartbeatResult {
        let interval = config.consumer_heartbeat_interval.as_millis() as i32;
        let epoch = request.member_epoch;
        let invalid =
            |message: &str| HeartbeatResult::error(ResponseError::InvalidRequest, message);
        if request.version >= 1 && request.member_id.is_empty() {
            return invalid("MemberId can't be empty.");
        }
        if epoch == 0 {
            if request.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if request.owned.as_ref().is_some_and(|o| !o.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if request.subscribed_topic_names.is_none() && request.subscribed_topic_regex.is_none()
            {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        // Compiled once per change of subscription, matched against whole topic names.
        let pattern = match request
            .subscribed_topic_regex
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            None => None,
            Some(regex) => match regex::Regex::new(&format!("^(?:{regex})$")) {
                Ok(pattern) => Some(pattern),
                Err(_) => {
                    return HeartbeatResult::error(
                        ResponseError::InvalidRegularExpression,
                        &format!(
                            "SubscribedTopicRegex `{regex}` is not a valid regular expression."
                        ),
                    )
                }
            },
        };
        if let Some(a) = request.server_assignor.as_deref() {
            if !config
                .consumer_assignors
                .iter()
                .any(|c| c == crate::config::assignor_short_name(a))
            {
                return HeartbeatResult::error(
                    ResponseError::UnsupportedAssignor,
                    &format!(
                        "ServerAssignor {a} is not supported. Supported assignors: {}.",
                        config.consumer_assignors.join(", ")
                    ),
                );
            }
        }
        if epoch == LEAVE_GROUP_MEMBER_EPOCH || epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            return self.leave(request, epoch, interval, now, config);
        }
        let (member_id, joined) = match self.admit(&request, now, config) {
            Ok(admitted) => admitted,
            Err(result) => return result,
        };
        let Some(member) = self.members.get_mut(&member_id) else {
            return HeartbeatResult::error(ResponseError::UnknownMemberId, "");
        };
        member.session_deadline = now + config.consumer_session_timeout;
        let mut changed = joined;
        if request.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout = Duration::from_millis(request.rebalance_timeout_ms as u64);
        }
        if let Some(names) = request.subscribed_topic_names.clone() {
            let mut names = names;
            names.sort();
            names.dedup();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                changed = true;
            }
        }
        if let Some(regex) = request.subscribed_topic_regex.clone() {
            let regex = Some(regex).filter(|r| !r.is_empty());
            if regex != member.subscribed_topic_regex {
                member.subscribed_topic_regex = regex;
                member.pattern = pattern;
                changed = true;
            }
        }
        if request.server_assignor.is_some() && request.server_assignor != member.server_assignor {
            member.server_assignor = request.server_assignor.clone();
            changed = true;
        }
        if request.rack_id.is_some() {
            member.rack_id = request.rack_id.clone();
        }
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        let before = member.assigned.clone();
        let metadata = self.resolve_subscriptions(topics);
        if metadata != self.subscribed_metadata {
            self.subscribed_metadata = metadata;
            changed = true;
        }
        // One bump per heartbeat, whatever changed (membership, subscription, topics).
        if changed {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(config);
        }
        self.reconcile(&member_id, request.owned.as_ref(), now);
        let Some(member) = self.members.get(&member_id) else {
            return HeartbeatResult::error(ResponseError::UnknownMemberId, "");
        };
        let full = epoch == 0
            || (request.rebalance_timeout_ms != -1
                && (request.subscribed_topic_names.is_some()
                    || request.subscribed_topic_regex.is_some())
                && request.owned.is_some());
        HeartbeatResult {
            error: None,
            error_message: None,
            member_id: Some(member_id.clone()),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: interval,
            assignment: (full || member.assigned != before).then(|| member.assigned.clone()),
        }
    }

    /// Finds or creates the member of a heartbeat, checking its epoch. Returns its id and
    /// whether it is new to the group.
    fn admit(
        &mut self,
        request: &HeartbeatRequest,
        now: Instant,
        config: &GroupConfig,
    ) -> Result<(String, bool), HeartbeatResult> {
        let epoch = request.member_epoch;
        if epoch == 0 {
            let member_id = if request.member_id.is_empty() {
                uuid::Uuid::new_v4().simple().to_string()
            } else {
                request.member_id.clone()
            };
            if let Some(instance) = &request.instance_id {
                if let Some(old_id) = self.static_members.get(instance).cloned() {
                    if old_id != member_id {
                        let left = self
                            .members
                            .get(&old_id)
                            .is_some_and(|m| m.left_temporarily);
                        if !left {
                            return Err(HeartbeatResult::error(
                                ResponseError::UnreleasedInstanceId,
                                &format!("Static member {old_id} with instance id {instance} is not released yet."),
                            ));
                        }
                        // The static member comes back: the new id takes over its assignment.
                        if let Some(mut m) = self.members.remove(&old_id) {
                            m.member_id = member_id.clone();
                            m.left_temporarily = false;
                            for owner in self.owners.values_mut().filter(|o| **o == old_id) {
                                *owner = member_id.clone();
                            }
                            if let Some(target) = self.target.remove(&old_id) {
                                self.target.insert(member_id.clone(), target);
                            }
                            self.members.insert(member_id.clone(), m);
                            self.static_members
                                .insert(instance.clone(), member_id.clone());
                            return Ok((member_id, false));
                        }
                    }
                }
            }
            if let Some(existing) = self.members.get(&member_id) {
                // A rejoin with the same id: the member gave up its partitions.
                let held = existing.assigned.clone();
                let pending = existing.pending_revocation.clone();
                self.release(&member_id, &held);
                self.release(&member_id, &pending);
                if let Some(m) = self.members.get_mut(&member_id) {
                    m.assigned.clear();
                    m.pending_revocation.clear();
                    m.state = MemberState::Stable;
                    m.member_epoch = 0;
                    m.revocation_deadline = None;
                }
                return Ok((member_id, false));
            }
            if self.members.len() >= config.consumer_max_size {
                return Err(HeartbeatResult::error(
                    ResponseError::GroupMaxSizeReached,
                    "The consumer group has reached its maximum capacity.",
                ));
            }
            if let Some(instance) = &request.instance_id {
                self.static_members
                    .insert(instance.clone(), member_id.clone());
            }
            self.members.insert(
                member_id.clone(),
                ConsumerMember {
                    member_id: member_id.clone(),
                    instance_id: request.instance_id.clone(),
                    rack_id: request.rack_id.clone(),
                    client_id: request.client_id.clone(),
                    client_host: request.client_host.clone(),
                    rebalance_timeout: Duration::from_millis(
                        request.rebalance_timeout_ms.max(0) as u64
                    ),
                    subscribed_topic_names: Vec::new(),
                    subscribed_topic_regex: None,
                    pattern: None,
                    server_assignor: None,
                    state: MemberState::Stable,
                    member_epoch: 0,
                    previous_member_epoch: 0,
                    assigned: Assignment::new(),
                    pending_revocation: Assignment::new(),
                    session_deadline: now + config.consumer_session_timeout,
                    revocation_deadline: None,
                    left_temporarily: false,
                },
            );
            tracing::info!(member_id = %member_id, "consumer group member joined");
            return Ok((member_id, true));
        }
        let Some(member) = self.members.get(&request.member_id) else {
            return Err(HeartbeatResult::error(
                ResponseError::UnknownMemberId,
                &format!("Member {} is not a member of the group.", request.member_id),
            ));
        };
        if let Some(instance) = &request.instance_id {
            if self.static_members.get(instance) != Some(&request.member_id) {
                return Err(HeartbeatResult::error(ResponseError::FencedInstanceId, ""));
            }
        }
        if epoch > member.member_epoch {
            return Err(HeartbeatResult::error(
                ResponseError::FencedMemberEpoch,
                "The consumer group member has a greater member epoch than expected.",
            ));
        }
        if epoch < member.member_epoch {
            // A retry after a lost response: the previous epoch with a subset of the
            // assignment is accepted.
            let retry = epoch == member.previous_member_epoch
                && request
                    .owned
                    .as_ref()
                    .is_some_and(|o| is_subset(o, &member.assigned));
            if !retry {
                return Err(HeartbeatResult::error(
                    ResponseError::FencedMemberEpoch,
                    "The consumer group member has a smaller member epoch than expected.",
                ));
            }
        }
        Ok((request.member_id.clone(), false))
    }

    fn leave(
        &mut self,
        request: HeartbeatRequest,
        epoch: i32,
        interval: i32,
        now: Instant,
        config: &GroupConfig,
    ) -> HeartbeatResult {
        let member_id = match (&request.instance_id, request.member_id.is_empty()) {
            (Some(instance), _) => self
                .static_members
                .get(instance)
                .cloned()
                .unwrap_or_default(),
            (None, _) => request.member_id.clone(),
        };
        if !self.members.contains_key(&member_id) {
            return HeartbeatResult::error(
                ResponseError::UnknownMemberId,
                &format!("Member {} is not a member of the group.", request.member_id),
            );
        }
        if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH && request.instance_id.is_some() {
            if let Some(m) = self.members.get_mut(&member_id) {
                // Keeps its partitions until it comes back or its session expires.
                m.left_temporarily = true;
                m.session_deadline = now + config.consumer_session_timeout;
            }
        } else {
            self.remove_member(&member_id);
            tracing::info!(member_id = %member_id, "consumer group member left");
        }
        HeartbeatResult {
            member_id: Some(request.member_id),
            member_epoch: epoch,
            heartbeat_interval_ms: interval,
            ..HeartbeatResult::default()
        }
    }

    /// Removes members whose session expired or who did not revoke in time; returns the next
    /// deadline.
    pub(crate) fn expire(&mut self, group_id: &str, now: Instant) -> Option<Instant> {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline <= now || m.revocation_deadline.is_some_and(|d| d <= now)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group_id, member_id = %id, "consumer group member fenced: session or rebalance timeout expired");
            self.remove_member(&id);
        }
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline), m.revocation_deadline])
            .flatten()
            .min()
    }

    /// Offset commits of the consumer protocol: the member must exist with this epoch (a
    /// commit outside group management, epoch -1, only while the group is empty).
    pub(crate) fn validate_offset_commit(
        &self,
        identity: &CommitIdentity,
    ) -> Result<(), ResponseError> {
        let epoch = identity.generation_id_or_member_epoch;
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let member = self
            .members
            .get(&identity.member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if identity.api_version < 9 {
            return Err(ResponseError::UnsupportedVersion);
        }
        Self::check_epoch(epoch, member.member_epoch)
    }

    fn check_epoch(received: i32, expected: i32) -> Result<(), ResponseError> {
        if received > expected {
            Err(ResponseError::FencedMemberEpoch)
        } else if received < expected {
            Err(ResponseError::StaleMemberEpoch)
        } else {
            Ok(())
        }
    }

    /// Offset fetches of members of the consumer protocol (OffsetFetch v9): the member and
    /// epoch must be current; epoch -1 skips the check (admin clients).
    pub(crate) fn validate_offset_fetch(
        &self,
        member_id: &str,
        epoch: i32,
    ) -> Result<(), ResponseError> {
        if epoch < 0 {
            return Ok(());
        }
        let member = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if epoch != member.member_epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// ConsumerGroupDescribe's view of the group.
    pub(crate) fn describe(&self, topics: &TopicRegistry) -> ConsumerGroupDescription {
        let named = |a: &Assignment| -> Vec<(Uuid, String, Vec<i32>)> {
            a.iter()
                .map(|(id, parts)| {
                    let name = topics
                        .get_by_id(*id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    (*id, name, parts.iter().copied().collect())
                })
                .collect()
        };
        ConsumerGroupDescription {
            state: self.state_name(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor_name: if self.assignor_name.is_empty() {
                "uniform".into()
            } else {
                self.assignor_name.clone()
            },
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_topic_names.clone(),
                    subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                    assignment: named(&m.assigned),
                    target_assignment: named(
                        self.target.get(&m.member_id).unwrap_or(&Assignment::new()),
                    ),
                })
                .collect(),
        }
    }
}
