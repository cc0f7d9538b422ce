//! AlterUserScramCredentials: deletes and upserts users' SCRAM credentials. Authorized
//! `cluster(Alter)` by the API table.
//!
//! An upsert carries the salt and the salted password computed by the client; the broker
//! stores `StoredKey` and `ServerKey` derived from them, never the salted password. Per user,
//! Kafka's checks and messages: a user altered twice in one request is DUPLICATE_RESOURCE,
//! an empty name UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM,
//! iterations outside 4096..=16384 UNACCEPTABLE_CREDENTIAL, a deletion of a missing credential
//! RESOURCE_NOT_FOUND. The accepted changes are applied and persisted together.
//!
//! References: KIP-554; Kafka's `ScramControlManager.alterCredentials`.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};

use super::{blocking, str_bytes};
use crate::context::RequestContext;
use crate::error::ConnectionError;
use crate::security::scram::{ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

type ApiError = (ResponseError, &'static str);

fn validate_user(name: &str, mechanism: i8) -> Result<ScramMechanism, ApiError> {
    if name.is_empty() {
        return Err((
            ResponseError::UnacceptableCredential,
            "Username must not be empty",
        ));
    }
    ScramMechanism::from_type_code(mechanism).ok_or((
        ResponseError::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism",
    ))
}

/// Applies the request's deletions and upserts.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterUserScramCredentialsRequest,
) -> Result<AlterUserScramCredentialsResponse, ConnectionError> {
    let store = &ctx.state.scram_credentials;
    let mut errors: BTreeMap<String, ApiError> = BTreeMap::new();
    let mut deletions: BTreeMap<String, ScramMechanism> = BTreeMap::new();
    let mut upserts: BTreeMap<String, (ScramMechanism, ScramCredential)> = BTreeMap::new();
    let twice = (
        ResponseError::DuplicateResource,
        "A user credential cannot be altered twice in the same request",
    );
    for deletion in &request.deletions {
        let name = deletion.name.to_string();
        if errors.contains_key(&name) {
            continue;
        }
        if deletions.remove(&name).is_some() {
            errors.insert(name, twice);
            continue;
        }
        match validate_user(&name, deletion.mechanism).and_then(|mechanism| {
            store.get(&name, mechanism).map(|_| mechanism).ok_or((
                ResponseError::ResourceNotFound,
                "Attempt to delete a user credential that does not exist",
            ))
        }) {
            Ok(mechanism) => {
                deletions.insert(name, mechanism);
            }
            Err(error) => {
                errors.insert(name, error);
            }
        }
    }
    for upsertion in &request.upsertions {
        let name = upsertion.name.to_string();
        if errors.contains_key(&name) {
            continue;
        }
        if deletions.remove(&name).is_some() || upserts.remove(&name).is_some() {
            errors.insert(name, twice);
            continue;
        }
        let checked = validate_user(&name, upsertion.mechanism).and_then(|mechanism| {
            if upsertion.iterations < MIN_ITERATIONS {
                Err((ResponseError::UnacceptableCredential, "Too few iterations"))
            } else if upsertion.iterations > MAX_ITERATIONS {
                Err((ResponseError::UnacceptableCredential, "Too many iterations"))
            } else {
                Ok(mechanism)
            }
        });
        match checked {
            Ok(mechanism) => {
                let credential = ScramCredential::from_salted_password(
                    mechanism,
                    &upsertion.salt,
                    &upsertion.salted_password,
                    upsertion.iterations,
                );
                upserts.insert(name, (mechanism, credential));
            }
            Err(error) => {
                errors.insert(name, error);
            }
        }
    }
    let mut response = AlterUserScramCredentialsResponse::default();
    let accepted: Vec<String> = deletions.keys().chain(upserts.keys()).cloned().collect();
    let deleted: Vec<(String, ScramMechanism)> = deletions.into_iter().collect();
    let upserted = upserts
        .into_iter()
        .map(|(user, (mechanism, credential))| (user, mechanism, credential))
        .collect();
    let store = std::sync::Arc::clone(store);
    let written = blocking(move || store.alter(&deleted, upserted)).await?;
    for user in accepted {
        let mut result = AlterUserScramCredentialsResult::default().with_user(str_bytes(user));
        if let Err(err) = &written {
            tracing::error!(%err, "cannot persist SCRAM credentials");
            result.error_code = ResponseError::UnknownServerError.code();
            result.error_message = Some(str_bytes("The credentials could not be persisted"));
        }
        response.results.push(result);
    }
    for (user, (error, message)) in errors {
        response.results.push(
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(user))
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(message))),
        );
    }
    Ok(response)
}
