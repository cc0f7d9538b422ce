//! The replay of `__consumer_offsets` at start-up.

use josefine_storage::TopicPartition;
use std::collections::HashMap;

use super::records::{self, RecordKey};
use super::{ClassicGroup, Group, GroupCoordinator, GroupKind, Records, OFFSETS_TOPIC};
use crate::clock::Clock;
use crate::metadata::topics::LogEvent;

impl GroupCoordinator {
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
                        .insert(TopicPartition::new(topic, partition), offset);
                }
            }
        }
        for group in groups.values_mut() {
            group
                .offsets
                .retain(|TopicPartition { topic, partition }, _| {
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
                    g.offsets.remove(&TopicPartition::new(topic, partition));
                }
            }
            Some(Ok(offset)) => {
                groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new_classic(&group, clock))
                    .offsets
                    .insert(TopicPartition::new(topic, partition), offset);
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
