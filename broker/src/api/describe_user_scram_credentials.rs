//! DescribeUserScramCredentials: the mechanisms and iteration counts of users' SCRAM
//! credentials, never the keys. Authorized `cluster(Describe)` by the API table.
//!
//! No users (or an empty list) lists every user; a user named twice gets DUPLICATE_RESOURCE,
//! an unknown one RESOURCE_NOT_FOUND, with Kafka's messages.
//!
//! References: KIP-554; Kafka's `ScramImage.describe`.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::str_bytes;
use crate::context::RequestContext;
use crate::error::ConnectionError;

/// Describes the requested users' credentials.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> Result<DescribeUserScramCredentialsResponse, ConnectionError> {
    let known = ctx.state.scram_credentials.describe();
    // user -> named twice
    let mut users: BTreeMap<String, bool> = BTreeMap::new();
    match request.users.filter(|u| !u.is_empty()) {
        None => users.extend(known.keys().map(|u| (u.clone(), false))),
        Some(named) => {
            for user in named {
                let name = user.name.to_string();
                match users.get_mut(&name) {
                    Some(duplicate) => *duplicate = true,
                    None => {
                        users.insert(name, false);
                    }
                }
            }
        }
    }
    let mut response = DescribeUserScramCredentialsResponse::default();
    for (user, duplicate) in users {
        let mut result =
            DescribeUserScramCredentialsResult::default().with_user(str_bytes(user.clone()));
        if duplicate {
            result.error_code = ResponseError::DuplicateResource.code();
            result.error_message = Some(str_bytes(format!(
                "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
            )));
        } else if let Some(credentials) = known.get(&user) {
            result.credential_infos = credentials
                .iter()
                .map(|(mechanism, iterations)| {
                    CredentialInfo::default()
                        .with_mechanism(mechanism.type_code())
                        .with_iterations(*iterations)
                })
                .collect();
        } else {
            result.error_code = ResponseError::ResourceNotFound.code();
            result.error_message = Some(str_bytes(format!(
                "Attempt to describe a user credential that does not exist: {user}"
            )));
        }
        response.results.push(result);
    }
    Ok(response)
}
