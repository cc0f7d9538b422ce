//! DescribeTransactions: the state of transactional ids (`kafka-transactions.sh describe`).
//! An unknown id answers TRANSACTIONAL_ID_NOT_FOUND.
//!
//! References: KIP-664.

use josefine_storage::TopicPartition;
use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Describes each transactional id asked for.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeTransactionsRequest,
) -> Result<DescribeTransactionsResponse, ConnectionError> {
    let ids: Vec<String> = request
        .transactional_ids
        .iter()
        .map(|id| id.to_string())
        .collect();
    let described = ctx.state.transactions.describe(&ids);
    let states = request
        .transactional_ids
        .into_iter()
        .zip(described)
        .map(|(id, txn)| {
            // DESCRIBE on the transactional id; its partitions of topics the principal may
            // not DESCRIBE are left out (Kafka's `handleDescribeTransactionsRequest`).
            let authorized = ctx.authorize(Operation::Describe, ResourceType::TransactionalId, &id);
            let response = TransactionState::default().with_transactional_id(id);
            if !authorized {
                return response
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
                    .with_transaction_state(str_bytes(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            }
            let Some(txn) = txn else {
                return response
                    .with_error_code(ResponseError::TransactionalIdNotFound.code())
                    .with_transaction_state(str_bytes(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            };
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for TopicPartition { topic, partition } in &txn.partitions {
                if !ctx.authorize(Operation::Describe, ResourceType::Topic, topic) {
                    continue;
                }
                by_topic.entry(topic.clone()).or_default().push(*partition);
            }
            let topics = by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicData::default()
                        .with_topic(TopicName(str_bytes(topic)))
                        .with_partitions(partitions)
                })
                .collect();
            response
                .with_transaction_state(str_bytes(txn.state.name()))
                .with_transaction_timeout_ms(txn.timeout_ms)
                .with_transaction_start_time_ms(txn.start_ms)
                .with_producer_id(ProducerId(txn.producer_id))
                .with_producer_epoch(txn.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    Ok(DescribeTransactionsResponse::default().with_transaction_states(states))
}
