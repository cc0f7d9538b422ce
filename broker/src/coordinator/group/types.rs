//! The group coordinator's data: groups, and what its requests take and answer.

use josefine_storage::TopicPartition;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::classic::{ClassicGroup, ClassicState};
use super::consumer::ConsumerGroup;
use super::records::StoredOffset;
use crate::clock::Clock;

/// A committed offset of one partition, as OffsetFetch returns it.
pub(crate) type CommittedOffset = StoredOffset;

/// The kind of a group, as ListGroups v5 reports it (KIP-848).
#[derive(Debug)]
pub(crate) enum GroupKind {
    /// The classic protocol (JoinGroup/SyncGroup), including groups that only commit offsets.
    Classic(ClassicGroup),
    /// The consumer protocol (ConsumerGroupHeartbeat).
    Consumer(ConsumerGroup),
}

/// One group: its membership and its committed offsets.
#[derive(Debug)]
pub(crate) struct Group {
    /// The group id.
    pub id: String,
    /// Membership, by protocol.
    pub kind: GroupKind,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// Offsets committed in open transactions (TxnOffsetCommit), by producer id: applied by
    /// a COMMIT marker, dropped by an ABORT.
    pub pending_transactional_offsets: HashMap<i64, BTreeMap<TopicPartition, CommittedOffset>>,
    /// Offset commits ordered but not yet written, by (topic, partition): their count. A
    /// deletion writes tombstones for these too, so that a commit written before it does not
    /// come back at the next start.
    pub(super) offsets_in_flight: BTreeMap<TopicPartition, usize>,
}

impl Group {
    pub(super) fn new_classic(id: &str, clock: Clock) -> Self {
        Self {
            id: id.to_string(),
            kind: GroupKind::Classic(ClassicGroup::new(id, clock)),
            offsets: BTreeMap::new(),
            pending_transactional_offsets: HashMap::new(),
            offsets_in_flight: BTreeMap::new(),
        }
    }

    /// Whether the group is being deleted (its tombstones are being written).
    pub(crate) fn is_dead(&self) -> bool {
        matches!(&self.kind, GroupKind::Classic(g) if g.state == ClassicState::Dead)
    }

    /// Counts commits of `keys` ordered but not written yet.
    pub(super) fn begin_offset_writes<'a>(
        &mut self,
        keys: impl Iterator<Item = &'a TopicPartition>,
    ) {
        for key in keys {
            *self.offsets_in_flight.entry(key.clone()).or_default() += 1;
        }
    }

    /// Forgets commits of `keys` whose write has completed (or failed).
    pub(super) fn end_offset_writes<'a>(&mut self, keys: impl Iterator<Item = &'a TopicPartition>) {
        for key in keys {
            if let Some(count) = self.offsets_in_flight.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    self.offsets_in_flight.remove(key);
                }
            }
        }
    }

    /// Every partition with a committed offset or a commit being written: what a deletion
    /// must write tombstones for.
    pub(super) fn offset_keys_written(&self) -> impl Iterator<Item = &TopicPartition> {
        let in_flight = self
            .offsets_in_flight
            .keys()
            .filter(|key| !self.offsets.contains_key(*key));
        self.offsets.keys().chain(in_flight)
    }

    /// Whether `topic`-`partition` has a committed offset or a commit being written.
    pub(super) fn has_offset_written(&self, topic: &str, partition: i32) -> bool {
        let key = TopicPartition::new(topic, partition);
        self.offsets.contains_key(&key) || self.offsets_in_flight.contains_key(&key)
    }

    /// Whether the group has no members (it may still have offsets).
    pub(crate) fn is_empty(&self) -> bool {
        match &self.kind {
            GroupKind::Classic(g) => g.members.is_empty(),
            GroupKind::Consumer(g) => g.members.is_empty(),
        }
    }

    /// The state as ListGroups and DescribeGroups spell it.
    pub(crate) fn state_name(&self) -> &'static str {
        match &self.kind {
            GroupKind::Classic(g) => g.state.name(),
            GroupKind::Consumer(g) => g.state_name(),
        }
    }

    /// `classic` or `consumer` (ListGroups v5 group type).
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.kind {
            GroupKind::Classic(_) => "classic",
            GroupKind::Consumer(_) => "consumer",
        }
    }

    /// The protocol type ListGroups reports: the classic group's, `consumer` for the consumer
    /// protocol.
    pub(crate) fn protocol_type(&self) -> String {
        match &self.kind {
            GroupKind::Classic(g) => g.protocol_type.clone().unwrap_or_default(),
            GroupKind::Consumer(_) => "consumer".into(),
        }
    }
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
pub(crate) type FetchedOffsets = Vec<(String, Vec<(i32, FetchedOffset)>)>;

/// One partition's answer to OffsetFetch: its commit (`None` without one), or
/// UNSTABLE_OFFSET_COMMIT when `require_stable` meets an offset committed in an open
/// transaction (KIP-447).
pub(crate) type FetchedOffset = Result<Option<CommittedOffset>, ResponseError>;

/// Offsets a fetch asks for: every committed one, or these partitions of these topics.
pub(crate) type OffsetFetchTopics = Option<Vec<(String, Vec<i32>)>>;
