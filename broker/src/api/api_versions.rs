//! ApiVersions: the APIs and version ranges this broker serves.
//!
//! References: KIP-35; KIP-511 (client software name and version, and the v0 fallback answer
//! to a version the broker does not know).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::context::{ClientSoftware, RequestContext};
use crate::error::ConnectionError;

fn valid_software_field(s: &str) -> bool {
    // Kafka's pattern: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let first_last = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !s.is_empty()
        && s.chars().all(ok)
        && first_last(s.chars().next())
        && first_last(s.chars().last())
}

/// Answers with every API of the table and its version range. From v3 the client software
/// name and version must match Kafka's pattern, else INVALID_REQUEST; valid ones are kept on
/// the connection (KIP-511).
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: ApiVersionsRequest,
) -> Result<ApiVersionsResponse, ConnectionError> {
    let mut response = ApiVersionsResponse::default().with_api_keys(ctx.state.api_versions.clone());
    if ctx.api_version >= 3 {
        if valid_software_field(&request.client_software_name)
            && valid_software_field(&request.client_software_version)
        {
            ctx.connection.set_client_software(ClientSoftware {
                name: request.client_software_name.to_string(),
                version: request.client_software_version.to_string(),
            });
        } else {
            response.error_code = ResponseError::InvalidRequest.code();
        }
    }
    Ok(response)
}

/// The KIP-511 answer to an ApiVersions request of a version above ours: v0, error
/// UNSUPPORTED_VERSION, and only the ApiVersions range, so the client retries with it.
pub(crate) fn unsupported_version(min: i16, max: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(vec![ApiVersion::default()
            .with_api_key(ApiKey::ApiVersions as i16)
            .with_min_version(min)
            .with_max_version(max)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_follow_kafkas_pattern() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.3.0"));
        assert!(valid_software_field("apache-kafka-java"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("a b"));
    }
}
