//! AddPartitionsToTxn: a transactional producer names the partitions it is about to write.
//!
//! Versions 0-3 carry one transaction; version 4+ a batch of them, each optionally
//! `verify_only` (KIP-890: the check brokers make before appending a transactional batch). A
//! partition of an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION and the others of its
//! transaction with OPERATION_NOT_ATTEMPTED, as Kafka answers.
//!
//! References: Kafka protocol guide; KIP-98; KIP-588 (PRODUCER_FENCED, v2); KIP-890 (v4).

use josefine_storage::TopicPartition;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use crate::context::RequestContext;
use crate::coordinator::txn::{FencedSince, ProducerIdAndEpoch};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType, CLUSTER_NAME};

/// PRODUCER_FENCED from version 2 (KIP-588).
const FENCED: FencedSince = FencedSince(2);

/// One transaction's partitions, answered per partition.
async fn add(
    ctx: &RequestContext<'_>,
    transactional_id: &str,
    producer: ProducerIdAndEpoch,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
    version: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let state = &ctx.state;
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.name.to_string(), *p))
        })
        .collect();
    // Clients (versions 0-3) need WRITE on the transactional id and on each topic; internal
    // topics are never theirs to add (Kafka's `handleAddPartitionsToTxnRequest`).
    let from_client = version < 4;
    let id_refused = from_client
        && !ctx.authorize(
            Operation::Write,
            ResourceType::TransactionalId,
            transactional_id,
        );
    let failed: Vec<Option<ResponseError>> = partitions
        .iter()
        .map(
            |TopicPartition {
                 topic,
                 partition: p,
             }| {
                let known = state.topics.get(topic);
                if id_refused {
                    Some(ResponseError::TransactionalIdAuthorizationFailed)
                } else if from_client
                    && (known.as_ref().is_some_and(|t| t.is_internal())
                        || !ctx.authorize(Operation::Write, ResourceType::Topic, topic))
                    && ctx.state.authorizer.is_enabled()
                {
                    Some(ResponseError::TopicAuthorizationFailed)
                } else if known.and_then(|t| t.partition(*p)).is_none() {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else {
                    None
                }
            },
        )
        .collect();
    let fenced = FENCED.error(version);
    let errors: Vec<Option<ResponseError>> = if failed.iter().any(Option::is_some) {
        failed
            .iter()
            .map(|f| Some(f.unwrap_or(ResponseError::OperationNotAttempted)))
            .collect()
    } else if verify_only {
        state
            .transactions
            .verify_partitions(transactional_id, producer, &partitions, fenced)
            .unwrap_or_else(|e| vec![Some(e); partitions.len()])
    } else {
        let error = state
            .transactions
            .add_partitions(transactional_id, producer, &partitions, fenced)
            .await
            .err();
        vec![error; partitions.len()]
    };
    let mut errors = errors.into_iter();
    topics
        .iter()
        .map(|t| {
            let results = t
                .partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(optional_code(errors.next().flatten()))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(results)
        })
        .collect()
}

/// Adds (or verifies) the partitions of each transaction.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AddPartitionsToTxnRequest,
) -> Result<AddPartitionsToTxnResponse, ConnectionError> {
    let version = ctx.api_version;
    if version < 4 {
        let producer = ProducerIdAndEpoch {
            producer_id: request.v3_and_below_producer_id.0,
            producer_epoch: request.v3_and_below_producer_epoch,
        };
        let results = add(
            ctx,
            &request.v3_and_below_transactional_id,
            producer,
            false,
            &request.v3_and_below_topics,
            version,
        )
        .await;
        return Ok(
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
        );
    }
    // Version 4+ comes from brokers: CLUSTER_ACTION.
    if !ctx.authorize(
        Operation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER_NAME,
    ) {
        return Ok(AddPartitionsToTxnResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code()));
    }
    let mut results = Vec::with_capacity(request.transactions.len());
    for t in &request.transactions {
        let producer = ProducerIdAndEpoch {
            producer_id: t.producer_id.0,
            producer_epoch: t.producer_epoch,
        };
        let topic_results = add(
            ctx,
            &t.transactional_id,
            producer,
            t.verify_only,
            &t.topics,
            version,
        )
        .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(topic_results),
        );
    }
    Ok(AddPartitionsToTxnResponse::default().with_results_by_transaction(results))
}
