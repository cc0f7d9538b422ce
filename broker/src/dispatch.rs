//! Request dispatch: the header is decoded, the body routed by API key to its handler in
//! `api::<name>`, and the response framed.
//!
//! `SUPPORTED_APIS` is the one list of what Josefine serves. Its version ranges are Apache
//! Kafka 3.7's: older librdkafka releases enable a feature only when the advertised range
//! reaches back to the version they test for (for example SaslHandshake or JoinGroup v0).
//!
//! References: Kafka protocol guide; KIP-35 (ApiVersions), KIP-482 (tagged fields), KIP-511
//! (ApiVersions fallback for unsupported versions).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::api;
use crate::connection::Session;
use crate::error::ConnectionError;

/// (API, min version, max version) served, as Apache Kafka 3.7 advertises them.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 10),
    (ApiKey::Fetch, 0, 16),
    (ApiKey::ListOffsets, 0, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
];

/// The advertised (min, max) versions of `key`, if served.
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, min, max)| (*min, *max))
}

fn be_i16(frame: &[u8], at: usize) -> i16 {
    frame
        .get(at..at + 2)
        .map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]))
}

/// Frames `body` with its response header: size, correlation id, tagged fields if flexible.
fn frame<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &R,
    version: i16,
) -> Result<BytesMut, ConnectionError> {
    let mut out = BytesMut::with_capacity(128);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, header_version)
        .map_err(|e| ConnectionError::Encode(e.to_string()))?;
    body.encode(&mut out, version)
        .map_err(|e| ConnectionError::Encode(e.to_string()))?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// Handles one request frame; `None` when no response is due (Produce with acks=0).
///
/// Errors (the connection closes): an unknown API key, an unsupported version (except
/// ApiVersions, which answers per KIP-511), an undecodable header or body.
pub async fn dispatch(
    session: &Session,
    mut frame: Bytes,
) -> Result<Option<BytesMut>, ConnectionError> {
    if frame.len() < 8 {
        return Err(ConnectionError::Malformed {
            api_key: -1,
            api_version: -1,
            reason: format!(
                "{} byte frame is shorter than a request header",
                frame.len()
            ),
        });
    }
    let api_key = be_i16(&frame, 0);
    let api_version = be_i16(&frame, 2);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(api_key).map_err(|_| ConnectionError::UnsupportedApi(api_key))?;
    let (min, max) = supported_versions(key).ok_or(ConnectionError::UnsupportedApi(api_key))?;
    if key == ApiKey::ApiVersions && api_version > max {
        // KIP-511: answer in v0 with UNSUPPORTED_VERSION and our ApiVersions range.
        let response = api::api_versions::unsupported_version(min, max);
        return frame_response(correlation_id, 0, &response, 0);
    }
    if api_version < min || api_version > max {
        return Err(ConnectionError::UnsupportedVersion {
            api_key,
            api_version,
        });
    }
    let malformed = |reason: String| ConnectionError::Malformed {
        api_key,
        api_version,
        reason,
    };
    let header = RequestHeader::decode(&mut frame, key.request_header_version(api_version))
        .map_err(|e| malformed(e.to_string()))?;
    let span = tracing::debug_span!("request", api_key = ?key, api_version, correlation_id, client_id = header.client_id.as_ref().map(|c| c.as_str()).unwrap_or(""));
    let _entered = span.enter();
    tracing::debug!("request");
    let response_header = key.response_header_version(api_version);
    let version = api_version;
    macro_rules! decode {
        ($ty:ty) => {
            <$ty>::decode(&mut frame, version).map_err(|e| {
                malformed(format!("cannot decode {} v{version}: {e}", stringify!($ty)))
            })?
        };
    }
    macro_rules! respond {
        ($response:expr) => {
            frame_response(correlation_id, response_header, &$response, version)
        };
    }
    drop(_entered);
    match key {
        ApiKey::ApiVersions => respond!(api::api_versions::handle(
            decode!(ApiVersionsRequest),
            version
        )),
        ApiKey::Metadata => respond!(api::metadata::handle(
            session,
            decode!(MetadataRequest),
            version
        )),
        ApiKey::Produce => match api::produce::handle(session, decode!(ProduceRequest), version)? {
            Some(response) => respond!(response),
            None => Ok(None),
        },
        ApiKey::Fetch => {
            respond!(api::fetch::handle(session, decode!(FetchRequest), version).await)
        }
        ApiKey::ListOffsets => respond!(api::list_offsets::handle(
            session,
            decode!(ListOffsetsRequest),
            version
        )),
        ApiKey::CreateTopics => respond!(api::create_topics::handle(
            session,
            decode!(CreateTopicsRequest),
            version
        )),
        ApiKey::DeleteTopics => respond!(api::delete_topics::handle(
            session,
            decode!(DeleteTopicsRequest),
            version
        )),
        ApiKey::CreatePartitions => respond!(api::create_partitions::handle(
            session,
            decode!(CreatePartitionsRequest),
            version
        )),
        ApiKey::DescribeConfigs => respond!(api::describe_configs::handle(
            session,
            decode!(DescribeConfigsRequest),
            version
        )),
        ApiKey::DescribeCluster => respond!(api::describe_cluster::handle(
            session,
            decode!(DescribeClusterRequest),
            version
        )),
        ApiKey::InitProducerId => respond!(api::init_producer_id::handle(
            session,
            decode!(InitProducerIdRequest),
            version
        )),
        _ => Err(ConnectionError::UnsupportedApi(api_key)),
    }
}

fn frame_response<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &R,
    version: i16,
) -> Result<Option<BytesMut>, ConnectionError> {
    frame(correlation_id, header_version, body, version).map(Some)
}
