//! The group coordinator's behaviour, request by request.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use josefine_storage::TopicPartition;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::consumer::HeartbeatResult;
use super::*;
use crate::clock::Clock;
use crate::metadata::topics::TopicRegistry;

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
    let log_dir = Arc::new(josefine_storage::LogDir::open(dir.path()).unwrap());
    let topics = Arc::new(TopicRegistry::open(log_dir, BTreeMap::new(), true).unwrap());
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
    let second = |f: &Fixture, id: &str| match f.groups.join_group("g", join_request(id, None)) {
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
    // A stable group answers a returning static member without a rebalance, once the group
    // with its new member id is stored.
    let again = match f.groups.join_group("g", join_request("", Some("i"))) {
        Reply::Now(r) => r,
        Reply::Later(rx) => rx.await.unwrap(),
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
        f.groups.commit_offsets("g", &simple, &offsets).await,
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
        f.groups.commit_offsets("g", &member(1), &offsets).await,
        [Some(ResponseError::IllegalGeneration)]
    );
    assert_eq!(
        f.groups.commit_offsets("g", &simple, &offsets).await,
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
    assert_eq!(
        f.groups.commit_offsets("g", &member(2), &later).await,
        [None]
    );
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
    f.groups.offsets_topic().await.unwrap();
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
    let acked = f
        .groups
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
        f.groups.commit_offsets("g", &stale, &offsets).await,
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

/// A group id whose `__consumer_offsets` partition (of 3) differs from `g`'s.
fn id_on_another_partition() -> String {
    let g = records::partition_for("g", 3);
    (0..)
        .map(|i| format!("other-{i}"))
        .find(|id| records::partition_for(id, 3) != g)
        .unwrap()
}

fn commit_of(offset: i64) -> [OffsetToCommit; 1] {
    [OffsetToCommit {
        topic: "t".into(),
        partition: 1,
        offset,
        leader_epoch: -1,
        metadata: None,
    }]
}

fn committed(f: &Fixture, group_id: &str) -> Option<i64> {
    let fetched = f
        .groups
        .fetch_offsets(group_id, None, Some(vec![("t".into(), vec![1])]), false)
        .unwrap();
    fetched[0].1[0].1.clone().ok().flatten().map(|o| o.offset)
}

#[tokio::test(start_paused = true)]
// The write guard stands for a disk that does not answer: held across awaits on purpose.
#[allow(clippy::await_holding_lock)]
async fn a_write_that_blocks_holds_up_neither_the_lock_nor_other_partitions() {
    let f = fixture(&[]);
    f.groups.offsets_topic().await.unwrap();
    let (a, _) = stable_pair(&f).await;
    let other = id_on_another_partition();
    let simple = CommitIdentity {
        generation_id_or_member_epoch: -1,
        api_version: 8,
        ..Default::default()
    };
    let disk = f.groups.writer.hold(f.groups.partition_of(&other));
    let stuck = disk.write().unwrap();
    let commit = {
        let groups = Arc::clone(&f.groups);
        let (other, simple) = (other.clone(), simple.clone());
        tokio::spawn(async move { groups.commit_offsets(&other, &simple, &commit_of(5)).await })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!commit.is_finished(), "its write is held");
    assert_eq!(committed(&f, &other), None, "applied only once written");
    // The lock is free: another group's heartbeat and commit are answered meanwhile.
    assert_eq!(f.groups.heartbeat("g", &a.member_id, None, 2), None);
    let member = CommitIdentity {
        member_id: a.member_id.clone(),
        group_instance_id: None,
        generation_id_or_member_epoch: 2,
        api_version: 8,
    };
    assert_eq!(
        f.groups.commit_offsets("g", &member, &commit_of(7)).await,
        [None]
    );
    assert_eq!(committed(&f, "g"), Some(7));
    drop(stuck);
    assert_eq!(commit.await.unwrap(), [None]);
    assert_eq!(committed(&f, &other), Some(5));
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_answers_not_coordinator_and_changes_nothing() {
    let f = fixture(&[]);
    let simple = CommitIdentity {
        generation_id_or_member_epoch: -1,
        api_version: 8,
        ..Default::default()
    };
    assert_eq!(
        f.groups.commit_offsets("g", &simple, &commit_of(5)).await,
        [None]
    );
    // The partition's log refuses appends from now on, as after a failed fsync.
    let partition = f
        .topics
        .get(OFFSETS_TOPIC)
        .unwrap()
        .partition(f.groups.partition_of("g"))
        .unwrap();
    partition.log.close().unwrap();
    assert_eq!(
        f.groups.commit_offsets("g", &simple, &commit_of(9)).await,
        [Some(ResponseError::NotCoordinator)]
    );
    assert_eq!(committed(&f, "g"), Some(5));
    assert_eq!(
        f.groups.delete_groups(&["g".to_string()]).await,
        [Some(ResponseError::NotCoordinator)]
    );
    let listed = f.groups.list_groups(&[], &[]);
    assert_eq!(
        (listed.len(), listed[0].state),
        (1, "Empty"),
        "the group is back as it was"
    );
    assert!(matches!(
        f.groups
            .delete_offsets("g", &[TopicPartition::new("t", 1)])
            .await,
        Err(ResponseError::NotCoordinator)
    ));
    assert_eq!(committed(&f, "g"), Some(5));
}

#[tokio::test(start_paused = true)]
// The write guard stands for a disk that does not answer: held across awaits on purpose.
#[allow(clippy::await_holding_lock)]
async fn a_deleted_group_takes_the_commits_written_before_its_tombstones() {
    let f = fixture(&[]);
    f.groups.offsets_topic().await.unwrap();
    let simple = CommitIdentity {
        generation_id_or_member_epoch: -1,
        api_version: 8,
        ..Default::default()
    };
    let disk = f.groups.writer.hold(f.groups.partition_of("g"));
    let stuck = disk.write().unwrap();
    // The group exists (an earlier commit), then a commit and a deletion are ordered together.
    let first = {
        let groups = Arc::clone(&f.groups);
        let simple = simple.clone();
        tokio::spawn(async move { groups.commit_offsets("g", &simple, &commit_of(3)).await })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    drop(stuck);
    assert_eq!(first.await.unwrap(), [None]);
    let stuck = disk.write().unwrap();
    let commit = {
        let groups = Arc::clone(&f.groups);
        let simple = simple.clone();
        tokio::spawn(async move {
            let mut other = commit_of(4);
            other[0].partition = 2;
            groups.commit_offsets("g", &simple, &other).await
        })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    let delete = {
        let groups = Arc::clone(&f.groups);
        tokio::spawn(async move { groups.delete_groups(&["g".to_string()]).await })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(f.groups.list_groups(&[], &[])[0].state, "Dead");
    drop(stuck);
    assert_eq!(commit.await.unwrap(), [None]);
    assert_eq!(delete.await.unwrap(), [None]);
    assert!(f.groups.list_groups(&[], &[]).is_empty());
    // A fresh coordinator replays the log: the commit written before the tombstones is gone.
    let reloaded = GroupCoordinator::new(
        f.groups.config.clone(),
        Arc::clone(&f.topics),
        Clock::following_tokio(1_700_000_000_000),
    );
    reloaded.load();
    assert!(reloaded.list_groups(&[], &[]).is_empty());
}

/// `consumer` protocol metadata subscribing to `topics` (version 0, no user data).
fn subscription(topics: &[&str]) -> Bytes {
    let mut out = vec![0u8, 0];
    out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for topic in topics {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
    }
    out.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(out)
}

#[tokio::test(start_paused = true)]
async fn offsets_expire_after_the_retention_since_their_commit_or_their_group_emptied() {
    let f = fixture(&[("offsets.retention.minutes", "1")]);
    let simple = CommitIdentity {
        generation_id_or_member_epoch: -1,
        api_version: 8,
        ..Default::default()
    };
    assert_eq!(
        f.groups
            .commit_offsets("simple", &simple, &commit_of(5))
            .await,
        [None]
    );
    // A member of `g` subscribed to `t`.
    let request = |member_id: &str| JoinRequest {
        protocols: vec![("range".into(), subscription(&["t"]))],
        ..join_request(member_id, None)
    };
    let first = match f.groups.join_group("g", request("")) {
        Reply::Now(r) => r,
        Reply::Later(_) => panic!("first join waited"),
    };
    let joined = match f.groups.join_group("g", request(&first.member_id)) {
        Reply::Later(rx) => rx.await.unwrap(),
        Reply::Now(r) => r,
    };
    let synced = sync(&f, &joined, vec![(joined.member_id.clone(), Bytes::new())])
        .await
        .unwrap();
    assert_eq!(synced.error, None);
    let member = CommitIdentity {
        member_id: joined.member_id.clone(),
        group_instance_id: None,
        generation_id_or_member_epoch: joined.generation_id,
        api_version: 8,
    };
    assert_eq!(
        f.groups.commit_offsets("g", &member, &commit_of(7)).await,
        [None]
    );

    tokio::time::advance(Duration::from_secs(59)).await;
    // The member keeps its session alive.
    assert_eq!(
        f.groups
            .heartbeat("g", &joined.member_id, None, joined.generation_id),
        None
    );
    assert_eq!(f.groups.cleanup_expired().await, Expired::default());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        f.groups
            .heartbeat("g", &joined.member_id, None, joined.generation_id),
        None
    );
    // The simple consumer's commit is a minute old: it goes, and its group with it. The
    // member's group subscribes to `t`: its offset stays.
    assert_eq!(
        f.groups.cleanup_expired().await,
        Expired {
            offsets: 1,
            groups: 1
        }
    );
    assert_eq!(committed(&f, "simple"), None);
    assert_eq!(committed(&f, "g"), Some(7));
    assert!(f
        .groups
        .list_groups(&[], &[])
        .iter()
        .all(|g| g.group_id != "simple"));

    // The member leaves: the offsets expire a minute after the group became Empty.
    f.groups
        .leave_group("g", &[(joined.member_id.clone(), None)])
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(f.groups.cleanup_expired().await, Expired::default());
    assert_eq!(committed(&f, "g"), Some(7));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        f.groups.cleanup_expired().await,
        Expired {
            offsets: 1,
            groups: 1
        }
    );
    assert_eq!(committed(&f, "g"), None);
    assert!(f.groups.list_groups(&[], &[]).is_empty());

    // The tombstones are in __consumer_offsets: a fresh coordinator finds nothing.
    let reloaded = GroupCoordinator::new(
        f.groups.config.clone(),
        Arc::clone(&f.topics),
        Clock::following_tokio(1_700_000_000_000),
    );
    reloaded.load();
    assert!(reloaded.list_groups(&[], &[]).is_empty());
    assert_eq!(
        reloaded.fetch_offsets("g", None, None, false).unwrap(),
        Vec::new()
    );
}
