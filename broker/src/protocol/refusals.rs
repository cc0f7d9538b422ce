//! The responses of requests whose cluster-level authorization failed
//! (CLUSTER_AUTHORIZATION_FAILED): Kafka's `AbstractRequest.getErrorResponse` of every API
//! whose row in the table is `cluster(..)`. Responses that answer each element of the request
//! (CreateAcls, DeleteAcls, AlterUserScramCredentials, AlterClientQuotas) answer every element
//! with the error, as Kafka does.
//!
//! References: Kafka's `DescribeAclsRequest`, `CreateAclsRequest`, `DeleteAclsRequest`
//! (KIP-140), `DescribeUserScramCredentialsRequest`, `AlterUserScramCredentialsRequest`
//! (KIP-554), `DescribeClientQuotasRequest`, `AlterClientQuotasRequest` (KIP-546).

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};

use crate::api::{create_acls, delete_acls};

/// A request that the table can refuse as a whole (its row is `cluster(..)`).
pub trait ErrorResponse: Request {
    /// The response refusing this request with `error`: every error code of the response,
    /// and every element the request names, set to `error`.
    fn error_response(&self, error: ResponseError) -> Self::Response;
}

fn message(error: ResponseError) -> Option<StrBytes> {
    Some(StrBytes::from_string(error.to_string()))
}

impl ErrorResponse for DescribeAclsRequest {
    fn error_response(&self, error: ResponseError) -> DescribeAclsResponse {
        DescribeAclsResponse::default()
            .with_error_code(error.code())
            .with_error_message(None)
    }
}

impl ErrorResponse for CreateAclsRequest {
    fn error_response(&self, error: ResponseError) -> CreateAclsResponse {
        create_acls::failed(self.creations.len(), error, None)
    }
}

impl ErrorResponse for DeleteAclsRequest {
    fn error_response(&self, error: ResponseError) -> DeleteAclsResponse {
        delete_acls::failed(self.filters.len(), error, None)
    }
}

impl ErrorResponse for DescribeUserScramCredentialsRequest {
    fn error_response(&self, error: ResponseError) -> DescribeUserScramCredentialsResponse {
        DescribeUserScramCredentialsResponse::default().with_error_code(error.code())
    }
}

impl ErrorResponse for AlterUserScramCredentialsRequest {
    /// One result per user named by a deletion or an upsertion, each user once.
    fn error_response(&self, error: ResponseError) -> AlterUserScramCredentialsResponse {
        let users: BTreeSet<&StrBytes> = self
            .deletions
            .iter()
            .map(|d| &d.name)
            .chain(self.upsertions.iter().map(|u| &u.name))
            .collect();
        AlterUserScramCredentialsResponse::default().with_results(
            users
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(user.clone())
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

impl ErrorResponse for DescribeClientQuotasRequest {
    fn error_response(&self, error: ResponseError) -> DescribeClientQuotasResponse {
        DescribeClientQuotasResponse::default()
            .with_error_code(error.code())
            .with_error_message(message(error))
    }
}

impl ErrorResponse for AlterClientQuotasRequest {
    /// One entry per entry of the request, with its entity.
    fn error_response(&self, error: ResponseError) -> AlterClientQuotasResponse {
        AlterClientQuotasResponse::default().with_entries(
            self.entries
                .iter()
                .map(|entry| {
                    EntryData::default()
                        .with_entity(
                            entry
                                .entity
                                .iter()
                                .map(|entity| {
                                    EntityData::default()
                                        .with_entity_type(entity.entity_type.clone())
                                        .with_entity_name(entity.entity_name.clone())
                                })
                                .collect(),
                        )
                        .with_error_code(error.code())
                        .with_error_message(message(error))
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };

    #[test]
    fn element_wise_refusals_name_every_element_once() {
        let request = AlterUserScramCredentialsRequest::default()
            .with_deletions(vec![
                ScramCredentialDeletion::default().with_name(StrBytes::from_static_str("alice"))
            ])
            .with_upsertions(vec![
                ScramCredentialUpsertion::default().with_name(StrBytes::from_static_str("alice")),
                ScramCredentialUpsertion::default().with_name(StrBytes::from_static_str("bob")),
            ]);
        let refused = request.error_response(ResponseError::ClusterAuthorizationFailed);
        let users: Vec<&str> = refused.results.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["alice", "bob"]);
        assert!(refused.results.iter().all(|r| r.error_code == 31));

        let request = AlterClientQuotasRequest::default().with_entries(vec![
            kafka_protocol::messages::alter_client_quotas_request::EntryData::default()
                .with_entity(vec![
                    kafka_protocol::messages::alter_client_quotas_request::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_entity_name(Some(StrBytes::from_static_str("alice"))),
                ]),
        ]);
        let refused = request.error_response(ResponseError::ClusterAuthorizationFailed);
        assert_eq!(refused.entries.len(), 1);
        assert_eq!(
            refused.entries[0].entity[0].entity_name.as_deref(),
            Some("alice")
        );
        assert_eq!(refused.entries[0].error_code, 31);
    }
}
