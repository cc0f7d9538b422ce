//! Metadata: brokers, cluster id, controller, and topics with their partitions and ids.
//! Topics that do not exist are created when `auto.create.topics.enable` and the request
//! allow it.
//!
//! References: Kafka protocol guide "Metadata API"; KIP-516 (topic ids, v10+); KIP-430
//! (authorized operations).

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::{str_bytes, OPERATIONS_NOT_REQUESTED};
use crate::context::RequestContext;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::txn::TRANSACTION_STATE_TOPIC;
use crate::error::ConnectionError;
use crate::metadata::topics::{validate_topic_name, Topic, TopicError};
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

fn describe_topic(
    topic: &Topic,
    node_id: i32,
    operations: i32,
    version: i16,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions()
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(node_id))
                .with_leader_epoch(if version >= 7 { 0 } else { -1 })
                .with_replica_nodes(vec![BrokerId(node_id)])
                .with_isr_nodes(vec![BrokerId(node_id)])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_topic_id(if version >= 10 { topic.id } else { Uuid::nil() })
        .with_is_internal(version >= 1 && topic.is_internal())
        .with_partitions(partitions)
        .with_topic_authorized_operations(operations)
}

fn topic_error(name: Option<String>, id: Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id)
        .with_error_code(error.code())
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

/// Answers with this broker and the requested topics (all of them for a null list, or an
/// empty one in v0).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: MetadataRequest,
) -> Result<MetadataResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let node_id = state.config.node_id;
    // KIP-430: the principal's operations on each topic described, when asked.
    let include_operations = request.include_topic_authorized_operations;
    let operations = |name: &str| {
        if include_operations {
            ctx.authorized_operations(ResourceType::Topic, name)
        } else {
            OPERATIONS_NOT_REQUESTED
        }
    };
    let may_describe = |name: &str| ctx.authorize(Operation::Describe, ResourceType::Topic, name);
    let mut response = MetadataResponse::default()
        .with_cluster_id((version >= 2).then(|| str_bytes(state.cluster_id.clone())))
        .with_controller_id(BrokerId(if version >= 1 { node_id } else { -1 }))
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
        } else {
            OPERATIONS_NOT_REQUESTED
        });
    if let Some(listener) = ctx.listener() {
        response.brokers.push(
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node_id))
                .with_host(str_bytes(listener.advertised_host.clone()))
                .with_port(listener.advertised_port),
        );
    }
    let requested = match request.topics {
        Some(topics) if !(version == 0 && topics.is_empty()) => topics,
        _ => {
            response.topics = state
                .topics
                .all()
                .iter()
                // Every topic means every topic the principal may describe.
                .filter(|t| may_describe(&t.name))
                .map(|t| describe_topic(t, node_id, operations(&t.name), version))
                .collect();
            return Ok(response);
        }
    };
    if version < 12
        && requested
            .iter()
            .any(|t| t.name.is_none() || !t.topic_id.is_nil())
    {
        // Kafka: "Topic IDs are not supported in requests for version N" (and null names),
        // answered as every topic failing with INVALID_REQUEST.
        response.brokers.clear();
        response.topics = requested
            .into_iter()
            .map(|t| {
                topic_error(
                    Some(t.name.map(|n| n.0.to_string()).unwrap_or_default()),
                    t.topic_id,
                    ResponseError::InvalidRequest,
                )
            })
            .collect();
        return Ok(response);
    }
    if requested.iter().any(|t| !t.topic_id.is_nil()) {
        // v12+ by topic id (KIP-516): as soon as one id is given, Kafka looks every topic up
        // by id and ignores the names (which Java-derived clients send empty or null).
        let mut ids: Vec<Uuid> = requested
            .iter()
            .map(|t| t.topic_id)
            .filter(|id| !id.is_nil())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        response.topics = ids
            .into_iter()
            .map(|id| match state.topics.get_by_id(id) {
                // Topic ids are not secret: Kafka answers TOPIC_AUTHORIZATION_FAILED.
                Some(topic) if !may_describe(&topic.name) => {
                    topic_error(None, id, ResponseError::TopicAuthorizationFailed)
                }
                Some(topic) => describe_topic(&topic, node_id, operations(&topic.name), version),
                None => topic_error(None, id, ResponseError::UnknownTopicId),
            })
            .collect();
        return Ok(response);
    }
    let auto_create = state.config.auto_create_topics_enable
        && (version < 4 || request.allow_auto_topic_creation);
    // Kafka lists topics refused CREATE, then topics refused DESCRIBE, after the others;
    // a refused topic is not looked up, so its existence is not disclosed.
    let mut refused_create = Vec::new();
    let mut refused_describe = Vec::new();
    let may_create = |name: &str| {
        ctx.authorize(Operation::Create, ResourceType::Cluster, CLUSTER_NAME)
            || ctx.authorize(Operation::Create, ResourceType::Topic, name)
    };
    for wanted in requested {
        let name = wanted.name.map(|n| n.0.to_string());
        if let Some(name) = name.as_ref().filter(|name| !may_describe(name)) {
            refused_describe.push(topic_error(
                Some(name.clone()),
                Uuid::nil(),
                ResponseError::TopicAuthorizationFailed,
            ));
            continue;
        }
        let topic = match &name {
            Some(name) => state.topics.get(name),
            None => None,
        };
        let entry = match (topic, name) {
            (Some(topic), _) => describe_topic(&topic, node_id, operations(&topic.name), version),
            (None, None) => topic_error(
                None,
                if version >= 10 {
                    wanted.topic_id
                } else {
                    Uuid::nil()
                },
                ResponseError::UnknownTopicId,
            ),
            (None, Some(name)) => {
                if validate_topic_name(&name).is_err() {
                    topic_error(
                        Some(name),
                        Uuid::nil(),
                        ResponseError::InvalidTopicException,
                    )
                } else if !auto_create {
                    topic_error(
                        Some(name),
                        Uuid::nil(),
                        ResponseError::UnknownTopicOrPartition,
                    )
                } else if !may_create(&name) {
                    refused_create.push(topic_error(
                        Some(name),
                        Uuid::nil(),
                        ResponseError::TopicAuthorizationFailed,
                    ));
                    continue;
                } else {
                    // Creating the partitions' files blocks: off the runtime. Internal
                    // topics are created as their coordinators create them (Kafka's
                    // `AutoTopicCreationManager`): `offsets.topic.num.partitions`,
                    // compacted, and so on.
                    let created = if name == OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC {
                        let internal = if name == OFFSETS_TOPIC {
                            state.groups.offsets_topic().await
                        } else {
                            state.transactions.state_topic().await
                        };
                        match internal {
                            Ok(topic) => Ok(topic),
                            Err(error) => {
                                response
                                    .topics
                                    .push(topic_error(Some(name), Uuid::nil(), error));
                                continue;
                            }
                        }
                    } else {
                        let (state, name) = (Arc::clone(state), name.clone());
                        super::blocking(move || {
                            state.topics.create(
                                &name,
                                state.config.num_partitions,
                                Default::default(),
                            )
                        })
                        .await?
                    };
                    match created {
                        Ok(topic) => {
                            describe_topic(&topic, node_id, operations(&topic.name), version)
                        }
                        // Another connection created it meanwhile.
                        Err(TopicError::AlreadyExists(_)) => match state.topics.get(&name) {
                            Some(topic) => {
                                describe_topic(&topic, node_id, operations(&topic.name), version)
                            }
                            None => topic_error(
                                Some(name),
                                Uuid::nil(),
                                ResponseError::LeaderNotAvailable,
                            ),
                        },
                        Err(TopicError::InvalidName(_)) => topic_error(
                            Some(name),
                            Uuid::nil(),
                            ResponseError::InvalidTopicException,
                        ),
                        Err(err) => {
                            tracing::error!(topic = %name, %err, "auto-creating a topic failed");
                            topic_error(Some(name), Uuid::nil(), ResponseError::UnknownServerError)
                        }
                    }
                }
            }
        };
        response.topics.push(entry);
    }
    response.topics.extend(refused_create);
    response.topics.extend(refused_describe);
    Ok(response)
}
