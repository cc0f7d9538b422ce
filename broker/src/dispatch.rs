//! Request dispatch: the header is decoded, the body routed by API key to its handler in
//! `api::<name>`, and the response framed.
//!
//! `SUPPORTED_APIS` is the one list of what Josefine serves. Its version ranges are Apache
//! Kafka 3.7's: older librdkafka releases enable a feature only when the advertised range
//! reaches back to the version they test for (for example SaslHandshake or JoinGroup v0).
//!
//! References: Kafka protocol guide; KIP-35 (ApiVersions), KIP-482 (tagged fields), KIP-511
//! (ApiVersions fallback for unsupported versions).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use tracing::Instrument;

use crate::api;
use crate::connection::Session;
use crate::error::ConnectionError;
use crate::frame::{BodyBuilder, ResponseFrame};

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
    (ApiKey::DeleteRecords, 0, 2),
    // Versions 0-1 were removed in Kafka 4.0 (KIP-896); kafka-protocol decodes 2-4.
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    // Versions 0-1 of OffsetCommit and 0 of OffsetFetch were removed in Kafka 4.0 (KIP-896).
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::AddPartitionsToTxn, 0, 4),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    // Version 1 (the duration filter, KIP-994) is Kafka 3.8's.
    (ApiKey::ListTransactions, 0, 1),
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

/// A decoded request body, one variant per served API.
#[derive(Debug)]
#[allow(missing_docs)]
pub enum Request {
    /// An ApiVersions request of a version above ours, answered per KIP-511.
    ApiVersionsTooNew {
        min: i16,
        max: i16,
    },
    ApiVersions(ApiVersionsRequest),
    Metadata(MetadataRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    CreatePartitions(CreatePartitionsRequest),
    DescribeConfigs(DescribeConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
    InitProducerId(InitProducerIdRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    DescribeGroups(DescribeGroupsRequest),
    ListGroups(ListGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetDelete(OffsetDeleteRequest),
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    EndTxn(EndTxnRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    DescribeProducers(DescribeProducersRequest),
    DescribeTransactions(DescribeTransactionsRequest),
    ListTransactions(ListTransactionsRequest),
    DeleteRecords(DeleteRecordsRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    AlterConfigs(AlterConfigsRequest),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
}

/// A request frame, decoded.
#[derive(Debug)]
pub struct DecodedRequest {
    /// The API.
    pub api_key: ApiKey,
    /// Its version.
    pub api_version: i16,
    /// Echoed in the response header.
    pub correlation_id: i32,
    /// The client id of the header, if any.
    pub client_id: Option<String>,
    /// The body.
    pub body: Request,
}

/// Decodes one request frame (without its size prefix).
///
/// Errors: `Malformed` for a short frame or an undecodable header or body, `UnsupportedApi`
/// for an API key not served, `UnsupportedVersion` for a version outside the advertised range
/// (except ApiVersions, which decodes to [`Request::ApiVersionsTooNew`]).
pub fn decode_request(mut frame: Bytes) -> Result<DecodedRequest, ConnectionError> {
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
        return Ok(DecodedRequest {
            api_key: key,
            api_version: 0,
            correlation_id,
            client_id: None,
            body: Request::ApiVersionsTooNew { min, max },
        });
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
    let header_version = key.request_header_version(api_version);
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| malformed(e.to_string()))?;
    // kafka-protocol preallocates arrays from their wire count: check every count first.
    crate::request_bounds::check(key, api_version, header_version >= 2, &frame)
        .map_err(malformed)?;
    let version = api_version;
    macro_rules! decode {
        ($variant:ident, $ty:ty) => {
            Request::$variant(<$ty>::decode(&mut frame, version).map_err(|e| {
                malformed(format!("cannot decode {} v{version}: {e}", stringify!($ty)))
            })?)
        };
    }
    let body = match key {
        ApiKey::ApiVersions => decode!(ApiVersions, ApiVersionsRequest),
        ApiKey::Metadata => decode!(Metadata, MetadataRequest),
        ApiKey::Produce => decode!(Produce, ProduceRequest),
        ApiKey::Fetch => decode!(Fetch, FetchRequest),
        ApiKey::ListOffsets => decode!(ListOffsets, ListOffsetsRequest),
        ApiKey::CreateTopics => decode!(CreateTopics, CreateTopicsRequest),
        ApiKey::DeleteTopics => decode!(DeleteTopics, DeleteTopicsRequest),
        ApiKey::CreatePartitions => decode!(CreatePartitions, CreatePartitionsRequest),
        ApiKey::DescribeConfigs => decode!(DescribeConfigs, DescribeConfigsRequest),
        ApiKey::DescribeCluster => decode!(DescribeCluster, DescribeClusterRequest),
        ApiKey::InitProducerId => decode!(InitProducerId, InitProducerIdRequest),
        ApiKey::FindCoordinator => decode!(FindCoordinator, FindCoordinatorRequest),
        ApiKey::JoinGroup => decode!(JoinGroup, JoinGroupRequest),
        ApiKey::SyncGroup => decode!(SyncGroup, SyncGroupRequest),
        ApiKey::Heartbeat => decode!(Heartbeat, HeartbeatRequest),
        ApiKey::LeaveGroup => decode!(LeaveGroup, LeaveGroupRequest),
        ApiKey::OffsetCommit => decode!(OffsetCommit, OffsetCommitRequest),
        ApiKey::OffsetFetch => decode!(OffsetFetch, OffsetFetchRequest),
        ApiKey::DescribeGroups => decode!(DescribeGroups, DescribeGroupsRequest),
        ApiKey::ListGroups => decode!(ListGroups, ListGroupsRequest),
        ApiKey::DeleteGroups => decode!(DeleteGroups, DeleteGroupsRequest),
        ApiKey::OffsetDelete => decode!(OffsetDelete, OffsetDeleteRequest),
        ApiKey::ConsumerGroupHeartbeat => {
            decode!(ConsumerGroupHeartbeat, ConsumerGroupHeartbeatRequest)
        }
        ApiKey::ConsumerGroupDescribe => {
            decode!(ConsumerGroupDescribe, ConsumerGroupDescribeRequest)
        }
        ApiKey::AddPartitionsToTxn => decode!(AddPartitionsToTxn, AddPartitionsToTxnRequest),
        ApiKey::AddOffsetsToTxn => decode!(AddOffsetsToTxn, AddOffsetsToTxnRequest),
        ApiKey::EndTxn => decode!(EndTxn, EndTxnRequest),
        ApiKey::TxnOffsetCommit => decode!(TxnOffsetCommit, TxnOffsetCommitRequest),
        ApiKey::DescribeProducers => decode!(DescribeProducers, DescribeProducersRequest),
        ApiKey::DescribeTransactions => {
            decode!(DescribeTransactions, DescribeTransactionsRequest)
        }
        ApiKey::ListTransactions => decode!(ListTransactions, ListTransactionsRequest),
        ApiKey::DeleteRecords => decode!(DeleteRecords, DeleteRecordsRequest),
        ApiKey::OffsetForLeaderEpoch => {
            decode!(OffsetForLeaderEpoch, OffsetForLeaderEpochRequest)
        }
        ApiKey::AlterConfigs => decode!(AlterConfigs, AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => {
            decode!(IncrementalAlterConfigs, IncrementalAlterConfigsRequest)
        }
        _ => return Err(ConnectionError::UnsupportedApi(api_key)),
    };
    Ok(DecodedRequest {
        api_key: key,
        api_version,
        correlation_id,
        client_id: header.client_id.map(|c| c.to_string()),
        body,
    })
}

/// Handles one request frame; `None` when no response is due (Produce with acks=0).
///
/// Errors (the connection closes): see [`decode_request`]; and a failed Produce with acks=0.
pub async fn dispatch(
    session: &Session,
    frame: Bytes,
) -> Result<Option<ResponseFrame>, ConnectionError> {
    let request = decode_request(frame)?;
    let span = tracing::debug_span!(
        "request",
        api_key = ?request.api_key,
        api_version = request.api_version,
        correlation_id = request.correlation_id,
        client_id = request.client_id.as_deref().unwrap_or(""),
    );
    handle(session, request).instrument(span).await
}

async fn handle(
    session: &Session,
    request: DecodedRequest,
) -> Result<Option<ResponseFrame>, ConnectionError> {
    let version = request.api_version;
    let correlation_id = request.correlation_id;
    let client_id = request.client_id.as_deref().unwrap_or("");
    tracing::debug!("request");
    let header_version = request.api_key.response_header_version(version);
    let respond = |body: &dyn EncodableResponse| {
        frame_response(correlation_id, header_version, body, version)
    };
    match request.body {
        Request::ApiVersionsTooNew { min, max } => frame_response(
            correlation_id,
            0,
            &api::api_versions::unsupported_version(min, max),
            0,
        ),
        Request::ApiVersions(r) => respond(&api::api_versions::handle(r, version)),
        Request::Metadata(r) => respond(&api::metadata::handle(session, r, version)),
        Request::Produce(r) => match api::produce::handle(session, r, version)? {
            Some(response) => respond(&response),
            None => Ok(None),
        },
        Request::Fetch(r) => {
            // Framed by our own encoder: the record batches are spliced in, not copied.
            let response = api::fetch::handle(session, r, version).await;
            let mut body = BodyBuilder::new();
            api::fetch_response::encode(&response, version, &mut body)?;
            body.finish(correlation_id, header_version).map(Some)
        }
        Request::ListOffsets(r) => respond(&api::list_offsets::handle(session, r, version)),
        Request::CreateTopics(r) => respond(&api::create_topics::handle(session, r, version)),
        Request::DeleteTopics(r) => respond(&api::delete_topics::handle(session, r, version)),
        Request::CreatePartitions(r) => {
            respond(&api::create_partitions::handle(session, r, version))
        }
        Request::DescribeConfigs(r) => respond(&api::describe_configs::handle(session, r, version)),
        Request::DescribeCluster(r) => respond(&api::describe_cluster::handle(session, r, version)),
        Request::InitProducerId(r) => respond(&api::init_producer_id::handle(session, r, version)),
        Request::FindCoordinator(r) => respond(&api::find_coordinator::handle(session, r, version)),
        Request::JoinGroup(r) => {
            respond(&api::join_group::handle(session, r, version, client_id).await)
        }
        Request::SyncGroup(r) => respond(&api::sync_group::handle(session, r, version).await),
        Request::Heartbeat(r) => respond(&api::heartbeat::handle(session, r, version)),
        Request::LeaveGroup(r) => respond(&api::leave_group::handle(session, r, version)),
        Request::OffsetCommit(r) => respond(&api::offset_commit::handle(session, r, version)),
        Request::OffsetFetch(r) => respond(&api::offset_fetch::handle(session, r, version)),
        Request::DescribeGroups(r) => respond(&api::describe_groups::handle(session, r, version)),
        Request::ListGroups(r) => respond(&api::list_groups::handle(session, r, version)),
        Request::DeleteGroups(r) => respond(&api::delete_groups::handle(session, r, version)),
        Request::OffsetDelete(r) => respond(&api::offset_delete::handle(session, r, version)),
        Request::ConsumerGroupHeartbeat(r) => respond(&api::consumer_group_heartbeat::handle(
            session, r, version, client_id,
        )),
        Request::ConsumerGroupDescribe(r) => {
            respond(&api::consumer_group_describe::handle(session, r, version))
        }
        Request::AddPartitionsToTxn(r) => {
            respond(&api::add_partitions_to_txn::handle(session, r, version))
        }
        Request::AddOffsetsToTxn(r) => {
            respond(&api::add_offsets_to_txn::handle(session, r, version))
        }
        Request::EndTxn(r) => respond(&api::end_txn::handle(session, r, version)),
        Request::TxnOffsetCommit(r) => {
            respond(&api::txn_offset_commit::handle(session, r, version))
        }
        Request::DescribeProducers(r) => {
            respond(&api::describe_producers::handle(session, r, version))
        }
        Request::DescribeTransactions(r) => {
            respond(&api::describe_transactions::handle(session, r, version))
        }
        Request::ListTransactions(r) => {
            respond(&api::list_transactions::handle(session, r, version))
        }
        Request::DeleteRecords(r) => respond(&api::delete_records::handle(session, r)),
        Request::OffsetForLeaderEpoch(r) => {
            respond(&api::offset_for_leader_epoch::handle(session, r))
        }
        Request::AlterConfigs(r) => respond(&api::alter_configs::handle(session, r)),
        Request::IncrementalAlterConfigs(r) => {
            respond(&api::incremental_alter_configs::handle(session, r))
        }
    }
}

/// A response body that encodes at a version (object-safe view of `Encodable`).
trait EncodableResponse {
    fn encode_into(&self, out: &mut BytesMut, version: i16) -> Result<(), String>;
}

impl<T: Encodable> EncodableResponse for T {
    fn encode_into(&self, out: &mut BytesMut, version: i16) -> Result<(), String> {
        self.encode(out, version).map_err(|e| e.to_string())
    }
}

/// Frames `body` with its response header: size, correlation id, tagged fields if flexible.
fn frame_response(
    correlation_id: i32,
    header_version: i16,
    body: &dyn EncodableResponse,
    version: i16,
) -> Result<Option<ResponseFrame>, ConnectionError> {
    let mut builder = BodyBuilder::new();
    body.encode_into(builder.buf(), version)
        .map_err(ConnectionError::Encode)?;
    builder.finish(correlation_id, header_version).map(Some)
}
