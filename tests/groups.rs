//! Consumer groups with librdkafka (and kcat): rebalances of the classic protocol with eager
//! and cooperative assignors, session expiry, static membership, committed offsets across a
//! restart, group administration, and the consumer protocol of KIP-848.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::common::*;
use crate::watchdog;

/// One rebalance event: "assign" or "revoke", and the partitions.
type Event = (&'static str, Vec<i32>);

/// Rebalance events seen by one consumer.
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<Event>>>);

impl ClientContext for Events {}
impl ConsumerContext for Events {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let (kind, list) = match rebalance {
            Rebalance::Assign(list) => ("assign", *list),
            Rebalance::Revoke(list) => ("revoke", *list),
            Rebalance::Error(_) => return,
        };
        let partitions = list.elements().iter().map(|e| e.partition()).collect();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((kind, partitions));
    }
}

impl Events {
    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
    fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

type GroupConsumer = BaseConsumer<Events>;

/// A subscribed consumer of `group` with the test defaults plus `extra`.
fn member(
    bootstrap: &str,
    group: &str,
    topic: &str,
    extra: &[(&str, &str)],
) -> TestResult<(GroupConsumer, Events)> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "100");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    let events = Events::default();
    let consumer: GroupConsumer = config.create_with_context(events.clone())?;
    consumer.subscribe(&[topic])?;
    Ok((consumer, events))
}

/// The partitions assigned to `consumer` now.
fn assigned(consumer: &GroupConsumer) -> TestResult<BTreeSet<i32>> {
    Ok(consumer
        .assignment()?
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect())
}

/// Polls every consumer (collecting records as (partition, offset)) until `done` holds for
/// their assignments; fails after [`PATIENCE`].
fn poll_until(
    consumers: &[&GroupConsumer],
    seen: &mut BTreeSet<(i32, i64)>,
    what: &str,
    done: impl Fn(&[BTreeSet<i32>], &BTreeSet<(i32, i64)>) -> bool,
) -> TestResult<Vec<BTreeSet<i32>>> {
    let start = Instant::now();
    loop {
        for c in consumers {
            match c.poll(Duration::from_millis(20)) {
                Some(Ok(m)) => {
                    use rdkafka::Message;
                    seen.insert((m.partition(), m.offset()));
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(err)) => anyhow::bail!("consumer error while waiting for {what}: {err}"),
            }
        }
        let assignments = consumers
            .iter()
            .map(|c| assigned(c))
            .collect::<TestResult<Vec<_>>>()?;
        if done(&assignments, seen) {
            return Ok(assignments);
        }
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "gave up waiting for {what}: assignments {assignments:?}"
        );
    }
}

/// Whether the assignments split `0..partitions` exactly, with these sizes (any order).
fn splits(assignments: &[BTreeSet<i32>], partitions: i32, sizes: &[usize]) -> bool {
    let mut all = BTreeSet::new();
    let mut total = 0;
    for a in assignments {
        total += a.len();
        all.extend(a.iter().copied());
    }
    let mut got: Vec<usize> = assignments.iter().map(BTreeSet::len).collect();
    let mut want = sizes.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    total == partitions as usize && all.len() == total && got == want
}

fn produce_to_every_partition(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    per_partition: usize,
) -> TestResult {
    let (producer, deliveries) = producer(bootstrap, &[])?;
    let reports = produce_numbered(
        &producer,
        &deliveries,
        topic,
        partitions,
        per_partition * partitions as usize,
        1_700_000_000_000,
    )?;
    anyhow::ensure!(
        reports.iter().all(Result::is_ok),
        "produce failed: {reports:?}"
    );
    Ok(())
}

fn all_records(partitions: i32, per_partition: usize) -> BTreeSet<(i32, i64)> {
    (0..partitions)
        .flat_map(|p| (0..per_partition as i64).map(move |o| (p, o)))
        .collect()
}

#[test]
fn three_consumers_split_a_topic_and_take_over_from_one_that_leaves() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "split", 6, &[])?;
    produce_to_every_partition(&bootstrap, "split", 6, 50)?;
    let (a, _) = member(&bootstrap, "splitters", "split", &[])?;
    let (b, _) = member(&bootstrap, "splitters", "split", &[])?;
    let (c, _) = member(&bootstrap, "splitters", "split", &[])?;
    let mut seen = BTreeSet::new();
    let everything = all_records(6, 50);
    poll_until(
        &[&a, &b, &c],
        &mut seen,
        "a 2/2/2 split and every record",
        |s, seen| splits(s, 6, &[2, 2, 2]) && seen.is_superset(&everything),
    )?;
    // One leaves (LeaveGroup on close): the other two take its partitions. It closes on a
    // thread of its own while the others are polled, so their rebalance is served meanwhile.
    let closing = close_in_background(c, "consumer c");
    poll_until(
        &[&a, &b],
        &mut seen,
        "a 3/3 split after a member left",
        |s, _| splits(s, 6, &[3, 3]),
    )?;
    closing.wait(PATIENCE);
    Ok(())
}

#[test]
fn a_killed_member_loses_its_partitions_after_the_session_timeout() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("group.min.session.timeout.ms", "500")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "orphans", 4, &[])?;
    let (a, _) = member(
        &bootstrap,
        "survivors",
        "orphans",
        &[("session.timeout.ms", "1500")],
    )?;
    let mut seen = BTreeSet::new();
    poll_until(
        &[&a],
        &mut seen,
        "the first member to own everything",
        |s, _| splits(s, 4, &[4]),
    )?;
    // kcat joins the group as a second member, then dies without leaving.
    let mut kcat = std::process::Command::new("kcat")
        .args([
            "-b",
            &bootstrap,
            "-G",
            "survivors",
            "-X",
            "session.timeout.ms=1500",
            "-X",
            "heartbeat.interval.ms=100",
            "-q",
            "orphans",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let shared = poll_until(
        &[&a],
        &mut seen,
        "kcat to take half of the partitions",
        |s, _| s[0].len() == 2,
    );
    let _ = kcat.kill(); // SIGKILL: no LeaveGroup.
    let _ = kcat.wait();
    shared?;
    poll_until(
        &[&a],
        &mut seen,
        "the survivor to get every partition back",
        |s, _| splits(s, 4, &[4]),
    )?;
    Ok(())
}

#[test]
fn cooperative_sticky_moves_only_what_it_must() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "coop", 6, &[])?;
    let cooperative = [("partition.assignment.strategy", "cooperative-sticky")];
    let (a, a_events) = member(&bootstrap, "cooperative", "coop", &cooperative)?;
    let (b, b_events) = member(&bootstrap, "cooperative", "coop", &cooperative)?;
    let mut seen = BTreeSet::new();
    let before = poll_until(&[&a, &b], &mut seen, "a 3/3 split", |s, _| {
        splits(s, 6, &[3, 3])
    })?;
    let events_before = [a_events.count(), b_events.count()];
    let (c, _) = member(&bootstrap, "cooperative", "coop", &cooperative)?;
    let after = poll_until(&[&a, &b, &c], &mut seen, "a 2/2/2 split", |s, _| {
        splits(s, 6, &[2, 2, 2])
    })?;
    // Sticky: a and b kept two of their three partitions each; cooperative: nothing else
    // was revoked on the way (KIP-429).
    for (i, events) in [&a_events, &b_events].into_iter().enumerate() {
        assert!(
            after[i].is_subset(&before[i]),
            "member {i} kept its partitions: {before:?} -> {after:?}"
        );
        let revoked: usize = events
            .all()
            .iter()
            .skip(events_before[i])
            .filter(|(kind, _)| *kind == "revoke")
            .map(|(_, p)| p.len())
            .sum();
        assert_eq!(
            revoked,
            1,
            "member {i} revoked only the partition it gave up: {:?}",
            &events.all()[events_before[i]..]
        );
    }
    Ok(())
}

#[test]
fn eager_assignors_split_and_revoke_everything() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "eager", 4, &[])?;
    for strategy in ["range", "roundrobin"] {
        let group = format!("eager-{strategy}");
        let settings = [("partition.assignment.strategy", strategy)];
        let (a, a_events) = member(&bootstrap, &group, "eager", &settings)?;
        let mut seen = BTreeSet::new();
        poll_until(&[&a], &mut seen, "one member owning everything", |s, _| {
            splits(s, 4, &[4])
        })?;
        let (b, _) = member(&bootstrap, &group, "eager", &settings)?;
        let split = poll_until(&[&a, &b], &mut seen, "a 2/2 split", |s, _| {
            splits(s, 4, &[2, 2])
        })?;
        if strategy == "range" {
            let ranges: BTreeSet<Vec<i32>> =
                split.iter().map(|s| s.iter().copied().collect()).collect();
            assert_eq!(
                ranges,
                [vec![0, 1], vec![2, 3]].into(),
                "range gives contiguous ranges"
            );
        }
        assert!(
            a_events.all().contains(&("revoke", vec![0, 1, 2, 3])),
            "{strategy}: the eager protocol revokes the whole assignment: {:?}",
            a_events.all()
        );
    }
    Ok(())
}

#[test]
fn a_restarted_static_member_gets_its_partitions_back_without_a_rebalance() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "static", 4, &[])?;
    let (a, a_events) = member(
        &bootstrap,
        "statics",
        "static",
        &[("group.instance.id", "a")],
    )?;
    let (b, _) = member(
        &bootstrap,
        "statics",
        "static",
        &[("group.instance.id", "b")],
    )?;
    let mut seen = BTreeSet::new();
    let before = poll_until(&[&a, &b], &mut seen, "a 2/2 split", |s, _| {
        splits(s, 4, &[2, 2])
    })?;
    let events_before = a_events.count();
    // A static member does not leave when it closes (KIP-345); its replacement comes back
    // with the same instance id within the session timeout. The close is bounded: see
    // `close_in_background`.
    close_in_background(b, "static member b").wait(PATIENCE);
    let (b, _) = member(
        &bootstrap,
        "statics",
        "static",
        &[("group.instance.id", "b")],
    )?;
    let after = poll_until(
        &[&a, &b],
        &mut seen,
        "b back with its partitions",
        |s, _| s[1].len() == 2,
    )?;
    assert_eq!(after, before, "same assignment after the restart");
    // Give a rebalance, if one were coming, time to reach `a` through its heartbeats.
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        a.poll(Duration::from_millis(20));
        b.poll(Duration::from_millis(20));
    }
    assert_eq!(
        a_events.count(),
        events_before,
        "no rebalance reached the other member: {:?}",
        a_events.all()
    );
    Ok(())
}

#[test]
fn committed_offsets_survive_a_broker_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let commit = |bootstrap: &str| -> TestResult {
        let consumer = consumer(bootstrap, &[("group.id", "durable")])?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("kept", 0, Offset::Offset(42))?;
        list.add_partition_offset("kept", 2, Offset::Offset(7))?;
        consumer.commit(&list, CommitMode::Sync)?;
        Ok(())
    };
    {
        let broker = josefine::Broker::builder()
            .log_dir(dir.path())
            .start_blocking()?;
        create_topic(&broker.bootstrap_servers(), "kept", 3, &[])?;
        commit(&broker.bootstrap_servers())?;
        broker.shutdown();
    }
    let broker = josefine::Broker::builder()
        .log_dir(dir.path())
        .start_blocking()?;
    let consumer = consumer(&broker.bootstrap_servers(), &[("group.id", "durable")])?;
    let mut wanted = TopicPartitionList::new();
    for p in 0..3 {
        wanted.add_partition("kept", p);
    }
    let committed = consumer.committed_offsets(wanted, PATIENCE)?;
    let offsets: BTreeMap<i32, Offset> = committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(
        offsets,
        [
            (0, Offset::Offset(42)),
            (1, Offset::Invalid),
            (2, Offset::Offset(7))
        ]
        .into()
    );
    Ok(())
}

#[test]
fn groups_are_listed_described_and_deleted() -> TestResult {
    let _watchdog = watchdog::guard();
    use rdkafka::admin::AdminOptions;
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "admin-groups", 2, &[])?;
    let (a, _) = member(
        &bootstrap,
        "described",
        "admin-groups",
        &[("client.id", "describer")],
    )?;
    let mut seen = BTreeSet::new();
    poll_until(
        &[&a],
        &mut seen,
        "the member to own both partitions",
        |s, _| splits(s, 2, &[2]),
    )?;
    // ListGroups + DescribeGroups through librdkafka.
    let list = a.fetch_group_list(Some("described"), PATIENCE)?;
    let group = list
        .groups()
        .first()
        .ok_or_else(|| anyhow::anyhow!("group not listed"))?;
    assert_eq!(group.state(), "Stable");
    assert_eq!(group.protocol_type(), "consumer");
    assert_eq!(group.protocol(), "range");
    assert_eq!(group.members().len(), 1);
    assert_eq!(group.members()[0].client_id(), "describer");
    let admin = admin(&bootstrap)?;
    let options = AdminOptions::new();
    let deleted = block_on(admin.delete_groups(&["described"], &options))??;
    assert!(
        matches!(
            deleted.as_slice(),
            [Err((_, rdkafka::types::RDKafkaErrorCode::NonEmptyGroup))]
        ),
        "a group with members is not deleted: {deleted:?}"
    );
    close_in_background(a, "the only member").wait(PATIENCE);
    let deleted = block_on(admin.delete_groups(&["described", "never-existed"], &options))??;
    assert!(deleted[0].is_ok(), "{deleted:?}");
    assert!(
        matches!(
            deleted[1],
            Err((_, rdkafka::types::RDKafkaErrorCode::GroupIdNotFound))
        ),
        "{deleted:?}"
    );
    let consumer = consumer(&bootstrap, &[])?;
    let list = consumer.fetch_group_list(Some("described"), PATIENCE)?;
    assert!(
        list.groups().iter().all(|g| g.state() == "Dead"),
        "the deleted group is gone"
    );
    Ok(())
}

#[test]
fn a_consumer_protocol_member_joins_consumes_and_commits() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder()
        .property("group.consumer.heartbeat.interval.ms", "100")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "kip848", 4, &[])?;
    produce_to_every_partition(&bootstrap, "kip848", 4, 25)?;
    let settings = [("group.protocol", "consumer")];
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "new-protocol")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in settings {
        config.set(k, v);
    }
    let events = Events::default();
    let a: GroupConsumer = config.create_with_context(events.clone())?;
    a.subscribe(&["kip848"])?;
    let mut seen = BTreeSet::new();
    let everything = all_records(4, 25);
    poll_until(
        &[&a],
        &mut seen,
        "one member owning everything and every record",
        |s, seen| splits(s, 4, &[4]) && seen.is_superset(&everything),
    )?;
    let b: GroupConsumer = config.create_with_context(Events::default())?;
    b.subscribe(&["kip848"])?;
    poll_until(&[&a, &b], &mut seen, "a 2/2 split by the broker", |s, _| {
        splits(s, 4, &[2, 2])
    })?;
    // Commit with the member epoch (OffsetCommit v9) and read it back.
    let mut list = TopicPartitionList::new();
    for p in assigned(&a)? {
        list.add_partition_offset("kip848", p, Offset::Offset(25))?;
    }
    a.commit(&list, CommitMode::Sync)?;
    let committed = a.committed(PATIENCE)?;
    assert!(
        committed
            .elements()
            .iter()
            .all(|e| e.offset() == Offset::Offset(25)),
        "{committed:?}"
    );
    // Seen here: librdkafka's incremental unassign in a KIP-848 consumer's destructor never
    // returned (also on a tree before issue 14), so both close on threads of their own.
    let closing_b = close_in_background(b, "KIP-848 member b");
    close_in_background(a, "KIP-848 member a").wait(PATIENCE);
    closing_b.wait(PATIENCE);
    Ok(())
}

#[test]
fn bad_commits_get_kafka_error_codes_and_change_nothing() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "real", 1, &[])?;
    let consumer = consumer(&bootstrap, &[("group.id", "careful")])?;
    // An unknown topic: UNKNOWN_TOPIC_OR_PARTITION for that partition.
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("no-such-topic", 0, Offset::Offset(5))?;
    let err = consumer.commit(&list, CommitMode::Sync);
    assert!(
        matches!(
            err,
            Err(KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
            ))
        ),
        "{err:?}"
    );
    // Metadata above offset.metadata.max.bytes: OFFSET_METADATA_TOO_LARGE.
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("real", 0, Offset::Offset(5))?;
    list.find_partition("real", 0)
        .ok_or_else(|| anyhow::anyhow!("partition"))?
        .set_metadata("x".repeat(5000));
    let err = consumer.commit(&list, CommitMode::Sync);
    assert!(
        matches!(
            err,
            Err(KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::OffsetMetadataTooLarge
            ))
        ),
        "{err:?}"
    );
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("real", 0);
    let committed = consumer.committed_offsets(wanted, PATIENCE)?;
    assert_eq!(
        committed.elements()[0].offset(),
        Offset::Invalid,
        "nothing was committed"
    );
    Ok(())
}

#[test]
fn stale_generations_and_unknown_members_are_fenced_on_the_wire() -> TestResult {
    let _watchdog = watchdog::guard();
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    create_topic(&bootstrap, "fenced", 1, &[])?;
    let mut stream = connect(&bootstrap)?;
    // Batched FindCoordinator (v4): both keys answered by this node.
    let found: FindCoordinatorResponse = round_trip(
        &mut stream,
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("wire"), s("other")]),
    )?;
    assert_eq!(found.coordinators.len(), 2);
    assert!(found
        .coordinators
        .iter()
        .all(|c| c.error_code == 0 && c.node_id.0 == 0));
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("wire")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(bytes::Bytes::from_static(b"\0\0\0\0\0\0"))]);
    // KIP-394: the first join of v4+ is told its member id.
    let first: JoinGroupResponse = round_trip(&mut stream, ApiKey::JoinGroup, 6, &join)?;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member_id = first.member_id.clone();
    let joined: JoinGroupResponse = round_trip(
        &mut stream,
        ApiKey::JoinGroup,
        6,
        &join.clone().with_member_id(member_id.clone()),
    )?;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    assert_eq!(joined.leader, member_id);
    let synced: SyncGroupResponse = round_trip(
        &mut stream,
        ApiKey::SyncGroup,
        5,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s("wire")))
            .with_generation_id(1)
            .with_member_id(member_id.clone())
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(member_id.clone())
                    .with_assignment(bytes::Bytes::from_static(b"assigned")),
            ]),
    )?;
    assert_eq!(
        (synced.error_code, synced.assignment.as_ref()),
        (0, &b"assigned"[..])
    );
    let heartbeat = |generation: i32, member: &StrBytes| {
        HeartbeatRequest::default()
            .with_group_id(GroupId(s("wire")))
            .with_generation_id(generation)
            .with_member_id(member.clone())
    };
    let beat: HeartbeatResponse =
        round_trip(&mut stream, ApiKey::Heartbeat, 4, &heartbeat(1, &member_id))?;
    assert_eq!(beat.error_code, 0);
    let beat: HeartbeatResponse =
        round_trip(&mut stream, ApiKey::Heartbeat, 4, &heartbeat(0, &member_id))?;
    assert_eq!(beat.error_code, 22, "ILLEGAL_GENERATION");
    let beat: HeartbeatResponse = round_trip(
        &mut stream,
        ApiKey::Heartbeat,
        4,
        &heartbeat(1, &s("ghost")),
    )?;
    assert_eq!(beat.error_code, 25, "UNKNOWN_MEMBER_ID");
    let commit = |generation: i32, offset: i64| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("wire")))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(member_id.clone())
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("fenced")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(offset),
                    ]),
            ])
    };
    let stale: OffsetCommitResponse =
        round_trip(&mut stream, ApiKey::OffsetCommit, 8, &commit(0, 99))?;
    assert_eq!(
        stale.topics[0].partitions[0].error_code, 22,
        "ILLEGAL_GENERATION"
    );
    let fresh: OffsetCommitResponse =
        round_trip(&mut stream, ApiKey::OffsetCommit, 8, &commit(1, 5))?;
    assert_eq!(fresh.topics[0].partitions[0].error_code, 0);
    // The batched OffsetFetch (v8) sees the accepted commit only.
    let fetched: OffsetFetchResponse = round_trip(
        &mut stream,
        ApiKey::OffsetFetch,
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("wire")))
                .with_topics(None),
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("nobody")))
                .with_topics(None),
        ]),
    )?;
    assert_eq!(
        fetched.groups[0].topics[0].partitions[0].committed_offset,
        5
    );
    assert!(fetched.groups[1].topics.is_empty());
    // Leaving (v3+, batched) ends the group: Empty, generation 2.
    let left: LeaveGroupResponse = round_trip(
        &mut stream,
        ApiKey::LeaveGroup,
        5,
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s("wire")))
            .with_members(vec![
                leave_group_request::MemberIdentity::default().with_member_id(member_id.clone()),
                leave_group_request::MemberIdentity::default().with_member_id(s("ghost")),
            ]),
    )?;
    assert_eq!(
        left.members
            .iter()
            .map(|m| m.error_code)
            .collect::<Vec<_>>(),
        [0, 25]
    );
    let listed: ListGroupsResponse = round_trip(
        &mut stream,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
    )?;
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(
        (
            listed.groups[0].group_state.as_str(),
            listed.groups[0].group_type.as_str()
        ),
        ("Empty", "classic")
    );
    Ok(())
}
