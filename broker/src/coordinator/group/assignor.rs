//! Server-side partition assignors of the consumer protocol (KIP-848): `uniform` and `range`.
//!
//! `uniform` balances every member's share of the partitions it subscribes to to within one,
//! keeping each partition with its current owner where the balance allows (sticky), so a
//! rebalance moves as few partitions as possible. `range` gives each member, per topic, a
//! contiguous range of partitions in member id order, the first `partitions % members`
//! members one more, so members of co-partitioned topics get the same partition numbers.
//!
//! References: KIP-848 ("Assignors"); Kafka's `UniformAssignor` and `RangeAssignor`
//! (org.apache.kafka.coordinator.group.assignor).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

/// Partitions by topic id.
pub(crate) type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What an assignor knows of one member.
#[derive(Debug)]
pub(crate) struct MemberSpec<'a> {
    /// Member id.
    pub member_id: &'a str,
    /// Ids of the topics it subscribes to (that exist).
    pub topics: BTreeSet<Uuid>,
    /// Its current target assignment, for stickiness.
    pub current: &'a Assignment,
}

/// Assigns the partitions of `topics` (id -> partition count) to `members` with the
/// assignor `name` (`uniform` unless `range`). Every partition of a subscribed topic goes to
/// exactly one subscriber.
pub(crate) fn assign(
    name: &str,
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> HashMap<String, Assignment> {
    if name == "range" {
        range(members, topics)
    } else {
        uniform(members, topics)
    }
}

fn range(members: &[MemberSpec<'_>], topics: &BTreeMap<Uuid, i32>) -> HashMap<String, Assignment> {
    let mut out: HashMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_string(), Assignment::new()))
        .collect();
    for (topic, count) in topics {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id)
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        subscribers.sort_unstable();
        let n = subscribers.len() as i32;
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, member) in subscribers.into_iter().enumerate() {
            let share = quota + i32::from((i as i32) < extra);
            if share > 0 {
                if let Some(a) = out.get_mut(member) {
                    a.entry(*topic).or_default().extend(next..next + share);
                }
            }
            next += share;
        }
    }
    out
}

fn uniform(
    members: &[MemberSpec<'_>],
    topics: &BTreeMap<Uuid, i32>,
) -> HashMap<String, Assignment> {
    let mut sorted: Vec<&MemberSpec<'_>> = members.iter().collect();
    sorted.sort_unstable_by_key(|m| m.member_id);
    let mut out: HashMap<String, Assignment> = HashMap::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let partitions: Vec<(Uuid, i32)> = topics
        .iter()
        .filter(|(t, _)| sorted.iter().any(|m| m.topics.contains(t)))
        .flat_map(|(t, count)| (0..*count).map(move |p| (*t, p)))
        .collect();
    // A member's fair share: its subscribed partitions spread over their subscribers.
    let quota = |m: &MemberSpec<'_>| -> usize {
        let mut share = 0.0f64;
        for (topic, count) in topics {
            if m.topics.contains(topic) {
                let subscribers = sorted.iter().filter(|o| o.topics.contains(topic)).count();
                share += f64::from(*count) / subscribers.max(1) as f64;
            }
        }
        share.ceil() as usize
    };
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // Sticky pass: keep current partitions up to the member's quota.
    for m in &sorted {
        let limit = quota(m);
        let entry = out.entry(m.member_id.to_string()).or_default();
        let count = counts.entry(m.member_id).or_default();
        for (topic, parts) in m.current {
            if !m.topics.contains(topic) {
                continue;
            }
            let Some(partition_count) = topics.get(topic) else {
                continue;
            };
            for p in parts {
                if *count >= limit || *p >= *partition_count || taken.contains(&(*topic, *p)) {
                    continue;
                }
                taken.insert((*topic, *p));
                entry.entry(*topic).or_default().insert(*p);
                *count += 1;
            }
        }
    }
    // The rest go, in order, to the least loaded subscriber.
    for (topic, p) in partitions {
        if taken.contains(&(topic, p)) {
            continue;
        }
        let best = sorted
            .iter()
            .filter(|m| m.topics.contains(&topic))
            .min_by_key(|m| (counts.get(m.member_id).copied().unwrap_or(0), m.member_id));
        if let Some(m) = best {
            out.entry(m.member_id.to_string())
                .or_default()
                .entry(topic)
                .or_default()
                .insert(p);
            *counts.entry(m.member_id).or_default() += 1;
        }
    }
    // Balance: move partitions from members above their share to subscribers two below.
    loop {
        let mut moved = false;
        for giver in &sorted {
            let giver_count = counts.get(giver.member_id).copied().unwrap_or(0);
            let candidate = out.get(giver.member_id).and_then(|a| {
                a.iter().find_map(|(topic, parts)| {
                    let taker = sorted
                        .iter()
                        .filter(|m| m.topics.contains(topic) && m.member_id != giver.member_id)
                        .min_by_key(|m| {
                            (counts.get(m.member_id).copied().unwrap_or(0), m.member_id)
                        })?;
                    let taker_count = counts.get(taker.member_id).copied().unwrap_or(0);
                    (taker_count + 1 < giver_count)
                        .then(|| {
                            parts
                                .iter()
                                .next_back()
                                .map(|p| (*topic, *p, taker.member_id))
                        })
                        .flatten()
                })
            });
            if let Some((topic, p, taker)) = candidate {
                if let Some(parts) = out.get_mut(giver.member_id).and_then(|a| a.get_mut(&topic)) {
                    parts.remove(&p);
                    if parts.is_empty() {
                        out.get_mut(giver.member_id).map(|a| a.remove(&topic));
                    }
                }
                out.entry(taker.to_string())
                    .or_default()
                    .entry(topic)
                    .or_default()
                    .insert(p);
                *counts.entry(giver.member_id).or_default() -= 1;
                *counts.entry(taker).or_default() += 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn range_splits_each_topic_in_member_order() {
        let t = Uuid::from_u128(1);
        let empty = Assignment::new();
        let members = [
            MemberSpec {
                member_id: "b",
                topics: [t].into(),
                current: &empty,
            },
            MemberSpec {
                member_id: "a",
                topics: [t].into(),
                current: &empty,
            },
        ];
        let out = assign("range", &members, &[(t, 5)].into());
        assert_eq!(out["a"][&t], [0, 1, 2].into());
        assert_eq!(out["b"][&t], [3, 4].into());
    }

    #[test]
    fn uniform_keeps_partitions_of_remaining_members() {
        let t = Uuid::from_u128(1);
        let empty = Assignment::new();
        let first = assign(
            "uniform",
            &[
                MemberSpec {
                    member_id: "a",
                    topics: [t].into(),
                    current: &empty,
                },
                MemberSpec {
                    member_id: "b",
                    topics: [t].into(),
                    current: &empty,
                },
            ],
            &[(t, 6)].into(),
        );
        let second = assign(
            "uniform",
            &[
                MemberSpec {
                    member_id: "a",
                    topics: [t].into(),
                    current: &first["a"],
                },
                MemberSpec {
                    member_id: "b",
                    topics: [t].into(),
                    current: &first["b"],
                },
                MemberSpec {
                    member_id: "c",
                    topics: [t].into(),
                    current: &empty,
                },
            ],
            &[(t, 6)].into(),
        );
        for m in ["a", "b", "c"] {
            assert_eq!(count(&second[m]), 2, "{m}: {second:?}");
        }
        for m in ["a", "b"] {
            assert!(
                second[m][&t].is_subset(&first[m][&t]),
                "{m} kept its own partitions"
            );
        }
    }

    proptest! {
        /// Every partition of a subscribed topic goes to exactly one of its subscribers, and
        /// with one topic the shares differ by at most one.
        #[test]
        fn every_partition_once(members in 1usize..6, partitions in 0i32..20, range_assignor: bool,
                                sticky in proptest::collection::vec(0i32..20, 0..10)) {
            let t = Uuid::from_u128(7);
            let current: Assignment = [(t, sticky.into_iter().collect())].into();
            let empty = Assignment::new();
            let ids: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
            let specs: Vec<MemberSpec<'_>> = ids.iter().enumerate().map(|(i, id)| MemberSpec {
                member_id: id,
                topics: [t].into(),
                current: if i == 0 { &current } else { &empty },
            }).collect();
            let out = assign(if range_assignor { "range" } else { "uniform" }, &specs, &[(t, partitions)].into());
            let mut seen = BTreeSet::new();
            for a in out.values() {
                for p in a.get(&t).into_iter().flatten() {
                    prop_assert!(seen.insert(*p), "partition {} twice", p);
                }
            }
            prop_assert_eq!(seen.len(), partitions as usize);
            let counts: Vec<usize> = ids.iter().map(|id| out.get(id).map_or(0, count)).collect();
            prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{:?}", counts);
        }
    }
}
