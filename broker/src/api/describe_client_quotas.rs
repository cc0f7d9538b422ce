//! DescribeClientQuotas: the quota entities matching a filter, with their quotas.
//!
//! References: KIP-546; Kafka 3.7's `ClientQuotasImage.describe`.

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::quota::Component;

/// Lists the matching entities; a bad filter is answered with its error code and Kafka's
/// message and no entries.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeClientQuotasRequest,
) -> Result<DescribeClientQuotasResponse, ConnectionError> {
    let components: Vec<Component> = request
        .components
        .iter()
        .map(|c| Component {
            entity_type: c.entity_type.to_string(),
            match_type: c.match_type,
            name: c._match.as_ref().map(|m| m.to_string()),
        })
        .collect();
    match ctx
        .state
        .client_quotas
        .describe(&components, request.strict)
    {
        Ok(entries) => Ok(DescribeClientQuotasResponse::default().with_entries(Some(
            entries
                .into_iter()
                .map(|(entity, quotas)| {
                    EntryData::default()
                        .with_entity(
                            entity
                                .into_iter()
                                .map(|(entity_type, name)| {
                                    EntityData::default()
                                        .with_entity_type(str_bytes(entity_type))
                                        .with_entity_name(name.map(str_bytes))
                                })
                                .collect(),
                        )
                        .with_values(
                            quotas
                                .into_iter()
                                .map(|(key, value)| {
                                    ValueData::default()
                                        .with_key(str_bytes(key))
                                        .with_value(value)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ))),
        Err(error) => Ok(DescribeClientQuotasResponse::default()
            .with_error_code(error.code.code())
            .with_error_message(Some(str_bytes(error.message)))),
    }
}
