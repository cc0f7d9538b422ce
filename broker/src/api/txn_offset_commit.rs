//! TxnOffsetCommit: a group's offsets committed inside a producer's transaction. They are
//! written to `__consumer_offsets` as a transactional batch of the producer and become the
//! group's committed offsets only when the transaction commits.
//!
//! Version 3+ names the consumer's member id and generation (KIP-447), checked like an
//! OffsetCommit's so that a consumer fenced from its group cannot commit.
//!
//! References: Kafka protocol guide; KIP-98; KIP-447 (v3); KIP-588 (PRODUCER_FENCED, v3).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::context::RequestContext;
use crate::coordinator::group::{CommitIdentity, OffsetToCommit};
use crate::coordinator::txn::{FencedSince, ProducerIdAndEpoch};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// PRODUCER_FENCED from version 3 (KIP-588).
const FENCED: FencedSince = FencedSince(3);

/// Commits the offsets in the producer's transaction; one error code per partition.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: TxnOffsetCommitRequest,
) -> Result<TxnOffsetCommitResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let producer = ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
    };
    // WRITE on the transactional id, READ on the group, then READ on each topic (Kafka's
    // `handleTxnOffsetCommitRequest`).
    let request_refused = if !ctx.authorize(
        Operation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id,
    ) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    };
    let topic_authorized: Vec<bool> = request
        .topics
        .iter()
        .map(|t| {
            request_refused.is_none()
                && ctx.authorize(Operation::Read, ResourceType::Topic, &t.name)
        })
        .collect();
    let offsets: Vec<OffsetToCommit> = request
        .topics
        .iter()
        .zip(&topic_authorized)
        .filter(|(_, authorized)| **authorized)
        .flat_map(|(t, _)| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 2 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let identity = CommitIdentity {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
        generation_id_or_member_epoch: if version >= 3 {
            request.generation_id
        } else {
            -1
        },
        // Members of either group protocol may commit in a transaction.
        api_version: 9,
    };
    let fenced = FENCED.error(version);
    let verified = if request_refused.is_some() {
        Ok(())
    } else {
        state.groups.offsets_topic().await.map(|_| ())
    }
    .and_then(|()| {
        let partition = state.groups.partition_of(&request.group_id);
        state
            .transactions
            .verify_offsets(&request.transactional_id, producer, partition, fenced)
    });
    let errors: Vec<Option<ResponseError>> = match verified {
        _ if request_refused.is_some() => Vec::new(),
        Err(error) => vec![Some(error); offsets.len()],
        Ok(()) => state
            .groups
            .commit_offsets_in(
                &request.group_id,
                &identity,
                &offsets,
                Some((producer.producer_id, producer.producer_epoch)),
            )
            .await
            .into_iter()
            .map(|e| {
                e.map(|e| {
                    if e == ResponseError::InvalidProducerEpoch {
                        fenced
                    } else {
                        e
                    }
                })
            })
            .collect(),
    };
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .into_iter()
        .zip(topic_authorized)
        .map(|(t, authorized)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = match request_refused {
                        Some(error) => Some(error),
                        None if !authorized => Some(ResponseError::TopicAuthorizationFailed),
                        None => errors.next().flatten(),
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(optional_code(error))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    Ok(TxnOffsetCommitResponse::default().with_topics(topics))
}
