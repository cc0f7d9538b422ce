//! The expiry of committed offsets and of empty groups (KIP-211): Kafka's
//! `GroupMetadataManager.cleanupGroupMetadata`, run every
//! `offsets.retention.check.interval.ms`.
//!
//! An offset expires `offsets.retention.minutes` after a base time that depends on its group:
//! - a group with a protocol type and no members (Empty): the time it became Empty (its
//!   `current_state_timestamp`; the commit's time for groups stored without one);
//! - a classic group without a protocol type (a simple consumer or an admin client only
//!   commits): the commit's time;
//! - a Stable classic group of the `consumer` protocol type, and a consumer-protocol group
//!   (KIP-848): the commit's time, for offsets of topics its members do not subscribe to;
//! - any other group (rebalancing, members of an unknown protocol type): never.
//!
//! Offsets with a commit being written, or committed in an open transaction, do not expire.
//! Expired offsets get tombstones in `__consumer_offsets` and leave the group once written.
//! A group left Empty without offsets is then removed (Dead, its metadata tombstoned).
//!
//! References: KIP-211; Kafka's `GroupMetadata.removeExpiredOffsets` and
//! `OffsetMetadataManager.cleanupExpiredOffsets` (KIP-848).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use josefine_storage::TopicPartition;
use tokio_util::sync::CancellationToken;

use super::classic::ClassicState;
use super::records;
use super::{ClassicGroup, Group, GroupCoordinator, GroupKind, Records};

/// What a cleanup pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Offsets expired (tombstones written).
    pub offsets: usize,
    /// Empty groups without offsets removed.
    pub groups: usize,
}

/// What an offset's age is measured from.
#[derive(Debug, Clone, Copy)]
enum CommittedOffsetBase {
    /// This time, ms since the epoch (when the group became Empty).
    Fixed(i64),
    /// The commit's own timestamp.
    CommitTime,
}

/// The offsets of `group` expired at `now_ms` with retention `retention_ms`.
fn expired_offsets(group: &Group, now_ms: i64, retention_ms: i64) -> Vec<TopicPartition> {
    let (base, subscribed): (CommittedOffsetBase, BTreeSet<String>) = match &group.kind {
        GroupKind::Classic(g) => match (&g.protocol_type, g.state) {
            (Some(_), ClassicState::Empty) if g.state_timestamp >= 0 => (
                CommittedOffsetBase::Fixed(g.state_timestamp),
                BTreeSet::new(),
            ),
            (Some(_), ClassicState::Empty) | (None, _) => {
                (CommittedOffsetBase::CommitTime, BTreeSet::new())
            }
            (Some(protocol_type), ClassicState::Stable) if protocol_type == "consumer" => {
                match g.subscribed_topics() {
                    Some(topics) => (CommittedOffsetBase::CommitTime, topics),
                    None => return Vec::new(),
                }
            }
            _ => return Vec::new(),
        },
        GroupKind::Consumer(g) => (CommittedOffsetBase::CommitTime, g.subscribed_topics()),
    };
    group
        .offsets
        .iter()
        .filter(|(key, _)| !subscribed.contains(&key.topic))
        .filter(|(key, _)| !group.offsets_in_flight.contains_key(*key))
        .filter(|(key, _)| {
            !group
                .pending_transactional_offsets
                .values()
                .any(|pending| pending.contains_key(*key))
        })
        .filter(|(_, offset)| {
            let since = match base {
                CommittedOffsetBase::Fixed(at) => at,
                CommittedOffsetBase::CommitTime => offset.commit_timestamp,
            };
            now_ms.saturating_sub(since) >= retention_ms
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// Whether `group` has no members and, once `expiring` offsets are gone, no offsets at all.
fn empty_once_expired(group: &Group, expiring: usize) -> bool {
    let no_members = match &group.kind {
        GroupKind::Classic(g) => g.state == ClassicState::Empty,
        GroupKind::Consumer(g) => g.members.is_empty(),
    };
    no_members
        && group.offsets.len() == expiring
        && group.offsets_in_flight.is_empty()
        && group.pending_transactional_offsets.is_empty()
}

impl GroupCoordinator {
    /// One cleanup pass (see the module documentation) as of the clock's now. Returns once
    /// the tombstones are written; a group whose write fails keeps its offsets and stays.
    pub async fn cleanup_expired(&self) -> Expired {
        let now_ms = self.clock.now_ms();
        let retention_ms =
            i64::try_from(self.config.offsets_retention.as_millis()).unwrap_or(i64::MAX);
        let writes = {
            let mut groups = self.lock();
            let mut writes = Vec::new();
            for group in groups.values_mut() {
                if group.is_dead() {
                    continue;
                }
                let keys = expired_offsets(group, now_ms, retention_ms);
                let remove = empty_once_expired(group, keys.len());
                if keys.is_empty() && !remove {
                    continue;
                }
                let mut tombstones: Records = keys
                    .iter()
                    .map(|tp| {
                        (
                            records::offset_key(&group.id, &tp.topic, tp.partition),
                            None,
                        )
                    })
                    .collect();
                let before = if remove {
                    tombstones.push((records::group_key(&group.id), None));
                    // Dead while the tombstones are written: nothing joins or commits.
                    Some(std::mem::replace(
                        &mut group.kind,
                        GroupKind::Classic(ClassicGroup::dead(&group.id, self.clock)),
                    ))
                } else {
                    None
                };
                let done = Expired {
                    offsets: keys.len(),
                    groups: usize::from(remove),
                };
                let shared = Arc::clone(&self.shared);
                let id = group.id.clone();
                writes.push(self.write(&group.id, &tombstones, None, move |result| {
                    let mut groups = shared.lock();
                    match (result, before) {
                        (Ok(()), Some(_)) => {
                            groups.remove(&id);
                            tracing::info!(group_id = %id, offsets = keys.len(), "removed an empty group whose offsets expired");
                        }
                        (Ok(()), None) => {
                            if let Some(group) = groups.get_mut(&id) {
                                for key in &keys {
                                    group.offsets.remove(key);
                                }
                            }
                            tracing::info!(group_id = %id, offsets = keys.len(), "expired committed offsets");
                        }
                        (Err(err), before) => {
                            tracing::warn!(group_id = %id, ?err, "cannot write the tombstones of expired offsets");
                            if let (Some(group), Some(before)) = (groups.get_mut(&id), before) {
                                group.kind = before;
                            }
                            return Expired::default();
                        }
                    }
                    done
                }));
            }
            writes
        };
        let mut expired = Expired::default();
        for written in writes {
            let done = written.wait().await.unwrap_or_default();
            expired.offsets += done.offsets;
            expired.groups += done.groups;
        }
        expired
    }
}

/// Expires offsets and empty groups every `offsets.retention.check.interval.ms` until
/// `cancel` (Kafka's `delete-expired-group-metadata` task).
pub(crate) async fn run_expiry(coordinator: Arc<GroupCoordinator>, cancel: CancellationToken) {
    let interval = coordinator
        .config
        .offsets_retention_check_interval
        .max(Duration::from_millis(1));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        coordinator.cleanup_expired().await;
    }
}
