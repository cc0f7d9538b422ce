//! The group coordinator: consumer groups of the classic protocol (JoinGroup/SyncGroup) and of
//! the consumer protocol (KIP-848, ConsumerGroupHeartbeat), and their committed offsets.
//!
//! All groups live behind one mutex held for short, non-async critical sections; a request
//! that must wait (a JoinGroup until the rebalance completes, a SyncGroup until the leader's
//! assignment) gets a `oneshot` receiver and awaits it with the lock released. Deadlines
//! (session and rebalance timeouts, the initial rebalance delay) are kept in the groups and
//! served by one timer task (`run_timers`) that sleeps until the earliest of them.
//!
//! Offsets and classic group metadata are appended to the compacted internal topic
//! `__consumer_offsets` (Kafka's record schemas, [`records`]) before a request is answered, and
//! replayed from it when the broker starts (`GroupCoordinator::load`). The mutex is never
//! held across a write: a request orders its records under it on the writer of the group's
//! partition (`crate::coordinator::writer`), releases it, and awaits the write. Committed
//! offsets, deletions and a leader's assignment take effect when their write completes, in
//! write order (Kafka's classic coordinator: pending commits applied in the append callback);
//! membership changes take effect at once and their records follow in order (as in Kafka).
//!
//! References: Kafka protocol guide (group membership APIs); KIP-62 (rebalance timeout),
//! KIP-134 (initial rebalance delay), KIP-345 (static membership), KIP-394 (member id
//! required), KIP-429 (cooperative rebalancing: protocol bytes pass through), KIP-447
//! (require_stable), KIP-709 (batched OffsetFetch), KIP-848 (the consumer protocol).

mod coordinator;
mod expiry;
mod load;
mod persistence;
mod timers;
mod types;

pub(crate) mod assignor;
pub(crate) mod classic;
pub(crate) mod consumer;
pub mod records;

use tokio::sync::oneshot;

pub(crate) use crate::config::GroupConfig;
pub(crate) use classic::{ClassicGroup, JoinRequest, JoinResult, SyncRequest, SyncResult};
pub(crate) use consumer::HeartbeatRequest;
pub(crate) use coordinator::GroupCoordinator;
pub(crate) use expiry::run_expiry;
pub use expiry::Expired;
pub(crate) use persistence::group_record;
pub(crate) use timers::run_timers;
pub(crate) use types::{
    CommitIdentity, FetchedOffset, FetchedOffsets, Group, GroupDescription, GroupKind, ListedGroup,
    MemberDescription, OffsetFetchTopics, OffsetToCommit,
};

/// The longest string the stored records hold: their strings have int16 lengths.
const MAX_STORED_STRING: usize = i16::MAX as usize;

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

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

/// Records to append to a group's `__consumer_offsets` partition: (key, value or tombstone).
type Records = Vec<(Vec<u8>, Option<Vec<u8>>)>;

#[cfg(test)]
mod tests;
