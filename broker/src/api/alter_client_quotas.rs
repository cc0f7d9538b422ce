//! AlterClientQuotas: sets and removes quotas per entity, or only validates them.
//!
//! References: KIP-546; Kafka 3.7's `ClientQuotaControlManager.alterClientQuotas`.

use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::quota::{Alteration, ClientQuotaEntity};

/// Applies the alterations (nothing with `validate_only`): one entry per distinct entity,
/// each with its own error code and Kafka's message.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterClientQuotasRequest,
) -> Result<AlterClientQuotasResponse, ConnectionError> {
    let alterations = request
        .entries
        .into_iter()
        .map(|entry| Alteration {
            // Kafka reads the entity into a map: a repeated type keeps its last name.
            entity: entry
                .entity
                .into_iter()
                .map(|e| {
                    (
                        e.entity_type.to_string(),
                        e.entity_name.map(|n| n.to_string()),
                    )
                })
                .collect::<ClientQuotaEntity>(),
            ops: entry
                .ops
                .into_iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let results = ctx
        .state
        .client_quotas
        .alter(alterations, request.validate_only)
        .await;
    Ok(AlterClientQuotasResponse::default().with_entries(
        results
            .into_iter()
            .map(|(entity, result)| {
                let entry = EntryData::default().with_entity(
                    entity
                        .into_iter()
                        .map(|(entity_type, name)| {
                            EntityData::default()
                                .with_entity_type(str_bytes(entity_type))
                                .with_entity_name(name.map(str_bytes))
                        })
                        .collect(),
                );
                match result {
                    Ok(()) => entry,
                    Err(error) => entry
                        .with_error_code(error.code.code())
                        .with_error_message(Some(str_bytes(error.message))),
                }
            })
            .collect(),
    ))
}
