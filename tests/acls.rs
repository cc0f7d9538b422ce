//! ACL authorization (`authorizer.class.name`) with real clients: confluent-kafka's admin
//! client creates, describes and deletes ACLs; librdkafka producers and consumers are refused
//! with TOPIC_ and GROUP_AUTHORIZATION_FAILED. On PLAINTEXT the principal is `User:ANONYMOUS`.

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::common::*;
use crate::watchdog;

const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// Kafka's error codes asserted here.
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const SECURITY_DISABLED: i16 = 54;

/// KIP-430 bits: READ 3, WRITE 4, DESCRIBE 8.
const READ_WRITE_DESCRIBE: i32 = (1 << 3) | (1 << 4) | (1 << 8);

fn run_acls_py(bootstrap: &str, phase: &str, expect: &str) -> TestResult {
    run_python(
        "confluent_kafka",
        "confluent-kafka",
        "acls.py",
        &[bootstrap, phase],
        expect,
    )
}

/// Polls `consumer` until it reports an error (a failure after [`PATIENCE`]).
fn first_error(consumer: &rdkafka::consumer::BaseConsumer) -> TestResult<KafkaError> {
    let start = Instant::now();
    loop {
        anyhow::ensure!(start.elapsed() < PATIENCE, "no consumer error");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(err)) => return Ok(err),
            Some(Ok(message)) => anyhow::bail!("consumed {:?}", own(&message)),
        }
    }
}

fn metadata(bootstrap: &str, topics: &[&str]) -> TestResult<MetadataResponse> {
    let mut stream = connect(bootstrap)?;
    let request = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
                })
                .collect(),
        ))
        .with_allow_auto_topic_creation(false)
        .with_include_topic_authorized_operations(true);
    round_trip(&mut stream, ApiKey::Metadata, 12, &request)
}

#[test]
fn acls_created_by_an_admin_client_refuse_producers_and_consumers_after_a_restart() -> TestResult {
    let _watchdog = watchdog::guard();
    let dir = tempfile::tempdir()?;
    let authorized = || {
        josefine::Broker::builder()
            .log_dir(dir.path())
            .property("authorizer.class.name", STANDARD_AUTHORIZER)
    };
    // As a super user: create the topics and the ACLs.
    let broker = authorized()
        .property("super.users", "User:ANONYMOUS")
        .start_blocking()?;
    run_acls_py(&broker.bootstrap_servers(), "create", "python acls created")?;
    broker.shutdown();

    // Without super.users the ACLs decide, read back from josefine-acls.json.
    assert!(dir.path().join("josefine-acls.json").exists());
    let broker = authorized().start_blocking()?;
    let bootstrap = broker.bootstrap_servers();

    // A topic without an ACL for the principal refuses the producer.
    let refused = produce_one(&bootstrap, &[], "denied")?;
    assert!(
        matches!(
            refused,
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::TopicAuthorizationFailed
            ))
        ),
        "{refused:?}"
    );
    // `User:*` may write `allowed`, and the ALL of the prefix `pfx-` covers `pfx-secret`.
    assert!(produce_one(&bootstrap, &[], "allowed")?.is_ok());
    assert!(produce_one(&bootstrap, &[], "pfx-secret")?.is_ok());

    // A group consumer reads `allowed` (GROUP `*` READ).
    let group_consumer = consumer(&bootstrap, &[("group.id", "readers")])?;
    group_consumer.subscribe(&["allowed"])?;
    let records = consume(&group_consumer, 1)?;
    assert_eq!(records[0].payload.as_deref(), Some(b"v".as_slice()));
    // OffsetCommit needs READ on the group and on the topic.
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets.add_partition_offset("allowed", 0, rdkafka::Offset::Offset(records[0].offset + 1))?;
    group_consumer.commit(&offsets, rdkafka::consumer::CommitMode::Sync)?;

    // DENY READ on `pfx-secret` beats the prefixed ALLOW ALL.
    let secret_reader = consumer(&bootstrap, &[])?;
    assign_from_beginning(&secret_reader, "pfx-secret", 1)?;
    let err = first_error(&secret_reader)?;
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{err:?}"
    );
    // DENY READ on the group `blocked`.
    let blocked = consumer(&bootstrap, &[("group.id", "blocked")])?;
    blocked.subscribe(&["allowed"])?;
    let err = first_error(&blocked)?;
    assert_eq!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::GroupAuthorizationFailed),
        "{err:?}"
    );

    // Metadata lists only the topics the principal may describe.
    let listed = secret_reader.fetch_metadata(None, Duration::from_secs(10))?;
    let mut names: Vec<&str> = listed.topics().iter().map(|t| t.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["allowed", "pfx-a", "pfx-secret"]);
    // A named unauthorized topic is refused; authorized operations are the principal's.
    let response = metadata(&bootstrap, &["allowed", "denied", "no-such-topic"])?;
    let by_name = |name: &str| {
        response
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == name))
            .map(|t| (t.error_code, t.topic_authorized_operations))
    };
    assert_eq!(by_name("allowed"), Some((0, READ_WRITE_DESCRIBE)));
    assert_eq!(
        by_name("denied").map(|(code, _)| code),
        Some(TOPIC_AUTHORIZATION_FAILED)
    );
    // Not disclosed: an unknown topic the principal may not describe is refused, not unknown.
    assert_eq!(
        by_name("no-such-topic").map(|(code, _)| code),
        Some(TOPIC_AUTHORIZATION_FAILED)
    );

    // ALTER and DESCRIBE on the cluster: the admin client lists and deletes ACLs.
    run_acls_py(&bootstrap, "after-restart", "python acls ok")?;
    Ok(())
}

#[test]
fn super_users_and_allow_everyone_if_no_acl_found() -> TestResult {
    let _watchdog = watchdog::guard();
    let deny_all_writes = |topic: &str| {
        CreateAclsRequest::default().with_creations(vec![AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.into()))
            .with_resource_pattern_type(3)
            .with_principal(StrBytes::from_static_str("User:ANONYMOUS"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(4)
            .with_permission_type(2)])
    };
    // Nothing names the topic or the cluster: everyone may, until an ACL names the topic.
    let broker = josefine::Broker::builder()
        .property(
            "authorizer.class.name",
            "kafka.security.authorizer.AclAuthorizer",
        )
        .property("allow.everyone.if.no.acl.found", "true")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    assert!(produce_one(&bootstrap, &[], "open")?.is_ok());
    let mut stream = connect(&bootstrap)?;
    let created: CreateAclsResponse =
        round_trip(&mut stream, ApiKey::CreateAcls, 3, &deny_all_writes("open"))?;
    assert_eq!(created.results[0].error_code, 0);
    let refused = produce_one(&bootstrap, &[], "open")?;
    assert!(
        matches!(
            refused,
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::TopicAuthorizationFailed
            ))
        ),
        "{refused:?}"
    );
    broker.shutdown();

    // A super user is allowed whatever the ACLs say.
    let broker = josefine::Broker::builder()
        .property("authorizer.class.name", STANDARD_AUTHORIZER)
        .property("super.users", "User:admin;User:ANONYMOUS")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    let mut stream = connect(&bootstrap)?;
    let created: CreateAclsResponse =
        round_trip(&mut stream, ApiKey::CreateAcls, 3, &deny_all_writes("mine"))?;
    assert_eq!(created.results[0].error_code, 0);
    assert!(produce_one(&bootstrap, &[], "mine")?.is_ok());
    Ok(())
}

#[test]
fn acl_apis_answer_kafkas_errors() -> TestResult {
    let _watchdog = watchdog::guard();
    let creation = |resource_type: i8, name: &'static str, principal: &'static str| {
        AclCreation::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_static_str(name))
            .with_resource_pattern_type(3)
            .with_principal(StrBytes::from_static_str(principal))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(3)
            .with_permission_type(3)
    };
    let describe_all = DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1);
    let create = CreateAclsRequest::default().with_creations(vec![
        creation(2, "t", "User:alice"),
        creation(4, "other-cluster", "User:alice"),
        creation(2, "", "User:alice"),
        creation(2, "t", "alice"),
    ]);

    // No authorizer: SECURITY_DISABLED.
    let broker = josefine::Broker::builder().start_blocking()?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let described: DescribeAclsResponse =
        round_trip(&mut stream, ApiKey::DescribeAcls, 3, &describe_all)?;
    assert_eq!(described.error_code, SECURITY_DISABLED);
    assert_eq!(
        described.error_message.as_deref(),
        Some("No Authorizer is configured on the broker")
    );
    let created: CreateAclsResponse = round_trip(&mut stream, ApiKey::CreateAcls, 3, &create)?;
    assert_eq!(created.results.len(), 4);
    assert!(created
        .results
        .iter()
        .all(|r| r.error_code == SECURITY_DISABLED
            && r.error_message.as_deref() == Some("No Authorizer is configured.")));
    broker.shutdown();

    // An authorizer, and no ALTER or DESCRIBE on the cluster: CLUSTER_AUTHORIZATION_FAILED.
    let broker = josefine::Broker::builder()
        .property("authorizer.class.name", STANDARD_AUTHORIZER)
        .start_blocking()?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let described: DescribeAclsResponse =
        round_trip(&mut stream, ApiKey::DescribeAcls, 3, &describe_all)?;
    assert_eq!(described.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let created: CreateAclsResponse = round_trip(&mut stream, ApiKey::CreateAcls, 3, &create)?;
    assert_eq!(created.results.len(), 4);
    assert!(created
        .results
        .iter()
        .all(|r| r.error_code == CLUSTER_AUTHORIZATION_FAILED));
    broker.shutdown();

    // As a super user: bad bindings get INVALID_REQUEST with Kafka's messages.
    let broker = josefine::Broker::builder()
        .property("authorizer.class.name", STANDARD_AUTHORIZER)
        .property("super.users", "User:ANONYMOUS")
        .start_blocking()?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let created: CreateAclsResponse = round_trip(&mut stream, ApiKey::CreateAcls, 3, &create)?;
    let answers: Vec<(i16, Option<&str>)> = created
        .results
        .iter()
        .map(|r| (r.error_code, r.error_message.as_deref()))
        .collect();
    assert_eq!(
        answers,
        [
            (0, None),
            (
                INVALID_REQUEST,
                Some("The only valid name for the CLUSTER resource is kafka-cluster")
            ),
            (INVALID_REQUEST, Some("Invalid empty resource name")),
            (INVALID_REQUEST, Some("Could not parse principal from `alice` (no colon is present separating the principal type from the principal name)")),
        ]
    );
    let described: DescribeAclsResponse =
        round_trip(&mut stream, ApiKey::DescribeAcls, 3, &describe_all)?;
    assert_eq!(described.error_code, 0);
    assert_eq!(described.resources.len(), 1);
    assert_eq!(described.resources[0].resource_name.as_str(), "t");
    // A filter with an UNKNOWN element is refused.
    let deleted: DeleteAclsResponse = round_trip(
        &mut stream,
        ApiKey::DeleteAcls,
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            kafka_protocol::messages::delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(0)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ]),
    )?;
    assert_eq!(deleted.filter_results[0].error_code, INVALID_REQUEST);
    assert_eq!(
        deleted.filter_results[0].error_message.as_deref(),
        Some("Unknown patternFilter.")
    );
    Ok(())
}
