//! OffsetFetch: a group's committed offsets.
//!
//! Versions 1-7 ask for one group, version 8+ for several (KIP-709); from version 2 a null
//! topic list asks for every committed offset. A partition without a commit answers offset
//! -1 with empty metadata and no error, as Kafka does. `require_stable` (v7, KIP-447) answers
//! UNSTABLE_OFFSET_COMMIT for a partition with an offset committed in an open transaction
//! (the client retries until the transaction ends). Version 9 names
//! the member and epoch of a consumer-protocol group (KIP-848).
//!
//! References: Kafka protocol guide; KIP-320 (leader epoch, v5), KIP-447, KIP-709, KIP-848.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::str_bytes;
use crate::context::RequestContext;
use crate::coordinator::group::{FetchedOffsets, OffsetFetchTopics};
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

type Fetched = Result<FetchedOffsets, ResponseError>;

fn fetch(
    ctx: &RequestContext<'_>,
    group_id: &str,
    member: Option<(&str, i32)>,
    wanted: OffsetFetchTopics,
    require_stable: bool,
) -> Fetched {
    // DESCRIBE on the group, then on each topic (Kafka's `handleOffsetFetchRequest`): a
    // refused topic named in the request answers TOPIC_AUTHORIZATION_FAILED, one found by
    // "every topic" is left out.
    if !ctx.authorize(Operation::Describe, ResourceType::Group, group_id) {
        return Err(ResponseError::GroupAuthorizationFailed);
    }
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let every_topic = wanted.is_none();
    let mut fetched = ctx
        .state
        .groups
        .fetch_offsets(group_id, member, wanted, require_stable)?;
    if ctx.state.authorizer.is_enabled() {
        fetched.retain_mut(|(topic, partitions)| {
            if ctx.authorize(Operation::Describe, ResourceType::Topic, topic) {
                return true;
            }
            for (_, offset) in partitions.iter_mut() {
                *offset = Err(ResponseError::TopicAuthorizationFailed);
            }
            !every_topic
        });
    }
    Ok(fetched)
}

/// The response topics, built with `topic` and `partition` (the v1-7 and v8+ responses have
/// their own types of the same shape). A partition without a commit answers offset -1, leader
/// epoch -1 and empty metadata; an unstable one (require_stable) the same with its error.
fn topics<T, P>(
    fetched: FetchedOffsets,
    topic: impl Fn(TopicName, Vec<P>) -> T,
    partition: impl Fn(i32, i64, i32, String) -> P,
    error: impl Fn(P, i16) -> P,
) -> Vec<T> {
    fetched
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, offset)| match offset {
                    Ok(Some(o)) => partition(index, o.offset, o.leader_epoch, o.metadata),
                    Ok(None) => partition(index, -1, -1, String::new()),
                    Err(e) => error(partition(index, -1, -1, String::new()), e.code()),
                })
                .collect();
            topic(TopicName(str_bytes(name)), partitions)
        })
        .collect()
}

/// The committed offsets of the group (v1-7) or groups (v8+) asked for.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetFetchRequest,
) -> Result<OffsetFetchResponse, ConnectionError> {
    let version = ctx.api_version;
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|topics| {
                    topics
                        .into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let member = g.member_id.as_deref().map(|m| (m, g.member_epoch));
                let member = if version >= 9 { member } else { None };
                let response =
                    OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match fetch(ctx, &g.group_id, member, wanted, request.require_stable) {
                    Err(error) => response.with_error_code(error.code()),
                    Ok(fetched) => response.with_topics(topics(
                        fetched,
                        |name, partitions| {
                            OffsetFetchResponseTopics::default()
                                .with_name(name)
                                .with_partitions(partitions)
                        },
                        |index, offset, epoch, metadata| {
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(index)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(str_bytes(metadata)))
                        },
                        |p, code| p.with_error_code(code),
                    )),
                }
            })
            .collect();
        return Ok(OffsetFetchResponse::default().with_groups(groups));
    }
    let wanted = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let require_stable = version >= 7 && request.require_stable;
    Ok(
        match fetch(ctx, &request.group_id, None, wanted, require_stable) {
            Err(error) if version >= 2 => {
                OffsetFetchResponse::default().with_error_code(error.code())
            }
            Err(_) => OffsetFetchResponse::default(),
            Ok(fetched) => OffsetFetchResponse::default().with_topics(topics(
                fetched,
                |name, partitions| {
                    OffsetFetchResponseTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                },
                |index, offset, epoch, metadata| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        // The leader epoch is answered from version 5 (KIP-320).
                        .with_committed_leader_epoch(if version >= 5 { epoch } else { -1 })
                        .with_metadata(Some(str_bytes(metadata)))
                },
                |p, code| p.with_error_code(code),
            )),
        },
    )
}
