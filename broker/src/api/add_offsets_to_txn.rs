//! AddOffsetsToTxn: a transactional producer is about to commit a group's offsets in its
//! transaction (`send_offsets_to_transaction`): the group's `__consumer_offsets` partition
//! joins the transaction, so that its marker makes the offsets visible or drops them.
//!
//! References: Kafka protocol guide; KIP-98; KIP-588 (PRODUCER_FENCED, v2).

use josefine_storage::TopicPartition;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::context::RequestContext;
use crate::coordinator::txn::{FencedSince, ProducerIdAndEpoch};
use crate::error::optional_code;
use crate::error::ConnectionError;
use crate::security::{Operation, ResourceType};

/// PRODUCER_FENCED from version 2 (KIP-588).
const FENCED: FencedSince = FencedSince(2);

/// Adds the group's offsets partition to the transaction.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AddOffsetsToTxnRequest,
) -> Result<AddOffsetsToTxnResponse, ConnectionError> {
    let version = ctx.api_version;
    let state = &ctx.state;
    let producer = ProducerIdAndEpoch {
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
    };
    // WRITE on the transactional id, READ on the group (Kafka's `handleAddOffsetsToTxnRequest`).
    if !ctx.authorize(
        Operation::Write,
        ResourceType::TransactionalId,
        &request.transactional_id,
    ) {
        return Ok(AddOffsetsToTxnResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()));
    }
    if !ctx.authorize(Operation::Read, ResourceType::Group, &request.group_id) {
        return Ok(AddOffsetsToTxnResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code()));
    }
    let result = match state.groups.offsets_topic().await {
        Ok(topic) => {
            let partition = state.groups.partition_of(&request.group_id);
            state
                .transactions
                .add_partitions(
                    &request.transactional_id,
                    producer,
                    &[TopicPartition::new(topic.name.clone(), partition)],
                    FENCED.error(version),
                )
                .await
        }
        Err(err) => Err(err),
    };
    Ok(AddOffsetsToTxnResponse::default().with_error_code(optional_code(result.err())))
}
