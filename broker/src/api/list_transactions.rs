//! ListTransactions: the transactional ids of this coordinator (`kafka-transactions.sh list`),
//! filtered by state, producer id, and (v1, KIP-994) how long they have been open. State
//! names this broker does not know are returned in `unknown_state_filters`.
//!
//! References: KIP-664; KIP-994 (duration filter, v1).

use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::str_bytes;
use crate::context::RequestContext;
use crate::coordinator::txn::TransactionState;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// Lists the transactional ids that pass every filter.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ListTransactionsRequest,
) -> Result<ListTransactionsResponse, ConnectionError> {
    let version = ctx.api_version;
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for filter in &request.state_filters {
        match TransactionState::from_name(filter) {
            Some(state) => states.push(state),
            None => unknown.push(filter.clone()),
        }
    }
    if !unknown.is_empty() && states.is_empty() {
        // Every filter is unknown: nothing can match them.
        return Ok(ListTransactionsResponse::default().with_unknown_state_filters(unknown));
    }
    let producer_ids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let duration = if version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let listed = ctx
        .state
        .transactions
        .list(&states, &producer_ids, duration)
        .into_iter()
        // Only the transactional ids the principal may DESCRIBE (Kafka's
        // `handleListTransactionsRequest`).
        .filter(|t| {
            ctx.authorize(
                Operation::Describe,
                ResourceType::TransactionalId,
                &t.transactional_id,
            )
        })
        .map(|t| {
            Listed::default()
                .with_transactional_id(TransactionalId(str_bytes(t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(str_bytes(t.state.name()))
        })
        .collect();
    Ok(ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed))
}
