//! The API table: every Kafka API Josefine serves, declared once.
//!
//! Each row names the API, its request type, the version range served, its authorization
//! (checked here for cluster-level operations, by the handler per resource otherwise), the
//! request bounds schema, and the handler. ApiVersions, header and body decoding, the bounds
//! check and dispatch are all driven by [`APIS`]; adding an API is one row and one handler file
//! (`api/<name>.rs`) with the one handler signature:
//!
//! ```text
//! pub async fn handle(ctx: &RequestContext<'_>, request: XRequest) -> Result<XResponse, ConnectionError>
//! ```
//!
//! A failure for one partition, topic or group is an error code in the response; `Err` means
//! the connection cannot go on. The response goes through [`ResponseBody`]: kafka-protocol's
//! encoder for every response, our own zero-copy encoder for Fetch (`api::ZeroCopy`).
//!
//! The version ranges are Apache Kafka 3.7's: older librdkafka releases enable a feature only
//! when the advertised range reaches back to the version they test for.
//!
//! References: Kafka protocol guide; KIP-35 (ApiVersions), KIP-482 (tagged fields), KIP-511
//! (ApiVersions fallback for unsupported versions).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tracing::Instrument;

use crate::api::{self, MaybeResponse};
use crate::context::{ConnectionContext, RequestContext};
use crate::error::ConnectionError;
use crate::inspect::capture::{CapturedRequest, ConnectionInfo};
use crate::inspect::faults::FaultAction;
use crate::protocol::faults::FaultTarget;
use crate::protocol::frame::{BodyBuilder, ResponseFrame};
use crate::protocol::request_bounds::{self, Schema};
use crate::security::Operation;
use crate::state::BrokerState;

/// How an API is authorized (Kafka's `KafkaApis` and `AuthHelper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// Served before authentication completes, with no ACL check: ApiVersions and the SASL
    /// APIs.
    Unauthenticated,
    /// Any authenticated principal, no ACL check (DescribeCluster: authorized operations are
    /// reported, not required).
    Authenticated,
    /// One operation on the cluster resource, checked by the table before the handler runs;
    /// a refusal is answered with CLUSTER_AUTHORIZATION_FAILED.
    Cluster(Operation),
    /// Per resource: the handler authorizes each topic, group or transactional id with
    /// `RequestContext::authorize` and answers refusals per resource.
    PerResource,
}

/// One row of the API table.
#[derive(Debug, Clone, Copy)]
pub struct ApiRow {
    /// The API.
    pub key: ApiKey,
    /// Lowest version served.
    pub min_version: i16,
    /// Highest version served.
    pub max_version: i16,
    /// How requests of this API are authorized.
    pub authorization: Authorization,
    /// The request schema whose length prefixes and array counts are checked against the
    /// bytes left before the body is decoded (`request_bounds`).
    pub bounds: Schema,
}

/// The name of the cluster resource in ACLs.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// A response the table can frame.
pub trait ResponseBody {
    /// Encodes the body at `version` into `out`. `Ok(false)` when no response is due
    /// (Produce with acks=0).
    ///
    /// Errors: `Encode` when the response does not fit its version (a bug).
    fn encode_body(&self, version: i16, out: &mut BodyBuilder) -> Result<bool, ConnectionError>;
}

impl<T: Encodable> ResponseBody for T {
    fn encode_body(&self, version: i16, out: &mut BodyBuilder) -> Result<bool, ConnectionError> {
        self.encode(out.buf(), version)
            .map_err(|e| ConnectionError::Encode(e.to_string()))?;
        Ok(true)
    }
}

impl<T: ResponseBody> ResponseBody for MaybeResponse<T> {
    fn encode_body(&self, version: i16, out: &mut BodyBuilder) -> Result<bool, ConnectionError> {
        match self {
            MaybeResponse::Send(response) => response.encode_body(version, out),
            MaybeResponse::Silent => Ok(false),
        }
    }
}

pub use crate::protocol::refusals::ErrorResponse;

macro_rules! authorization {
    (unauthenticated) => {
        Authorization::Unauthenticated
    };
    (authenticated) => {
        Authorization::Authenticated
    };
    (per_resource) => {
        Authorization::PerResource
    };
    (cluster($op:ident)) => {
        Authorization::Cluster(Operation::$op)
    };
}

/// Answers a request whose row is cluster-level when the principal lacks the operation.
macro_rules! authorize_cluster {
    ($ctx:ident, $out:ident, $body:ident: $request:ty, cluster($op:ident)) => {
        if !$ctx.authorize(
            Operation::$op,
            crate::security::ResourceType::Cluster,
            CLUSTER_NAME,
        ) {
            let refused = <$request as ErrorResponse>::error_response(
                &$body,
                ResponseError::ClusterAuthorizationFailed,
            );
            return refused.encode_body($ctx.api_version, $out);
        }
    };
    ($ctx:ident, $out:ident, $body:ident: $request:ty, $other:ident) => {};
}

macro_rules! apis {
    ($(
        $key:ident($request:ty), $min:literal..=$max:literal,
        $auth:ident $(($op:ident))?, bounds: $bounds:ident, $handler:path;
    )*) => {
        /// Every API served, in Kafka's API key order.
        pub const APIS: &[ApiRow] = &[$(
            ApiRow {
                key: ApiKey::$key,
                min_version: $min,
                max_version: $max,
                authorization: authorization!($auth $(($op))?),
                bounds: request_bounds::$bounds,
            },
        )*];

        /// A decoded request body, one variant per row of [`APIS`].
        #[derive(Debug)]
        #[allow(missing_docs)]
        pub enum RequestBody {
            $($key($request),)*
        }

        fn decode_body(
            key: ApiKey,
            version: i16,
            frame: &mut Bytes,
        ) -> Result<Option<RequestBody>, String> {
            Ok(Some(match key {
                $(ApiKey::$key => RequestBody::$key(<$request>::decode(frame, version).map_err(
                    |e| format!("cannot decode {} v{version}: {e}", stringify!($request)),
                )?),)*
                _ => return Ok(None),
            }))
        }

        /// The default request of `key` encoded at `version`, for tests that walk the table.
        #[cfg(test)]
        fn encode_default_request(key: ApiKey, version: i16) -> Option<Vec<u8>> {
            match key {
                $(ApiKey::$key => {
                    let mut buf = bytes::BytesMut::new();
                    let mut request = <$request>::default();
                    tests::fill_required_fields(&mut request);
                    request.encode(&mut buf, version).ok().map(|_| buf.to_vec())
                })*
                _ => None,
            }
        }

        /// Runs the handler of `body`'s API and encodes its response into `out`; `Ok(false)`
        /// when no response is due.
        ///
        /// `captured` receives a copy of the decoded request when request capture is on.
        async fn call(
            ctx: &RequestContext<'_>,
            body: RequestBody,
            out: &mut BodyBuilder,
            request_size: usize,
            captured: &mut Option<Arc<dyn std::any::Any + Send + Sync>>,
        ) -> Result<bool, ConnectionError> {
            match body {
                $(RequestBody::$key(request) => {
                    if ctx.state.capture.is_on() {
                        *captured = Some(Arc::new(request.clone()));
                    }
                    let fault = injected_fault(ctx, &request);
                    match fault {
                        Some(FaultAction::Error(error)) => {
                            if !FaultTarget::answered(&request) {
                                return Err(ConnectionError::InjectedFault(format!(
                                    "{error:?} for a request that takes no answer"
                                )));
                            }
                            return <$request as ErrorResponse>::error_response(&request, error)
                                .encode_body(ctx.api_version, out);
                        }
                        Some(FaultAction::Delay(delay)) => tokio::time::sleep(delay).await,
                        Some(FaultAction::CloseConnection) => {
                            return Err(ConnectionError::InjectedFault(
                                "the connection was closed instead of answered".into(),
                            ));
                        }
                        _ => {}
                    }
                    authorize_cluster!(ctx, out, request: $request, $auth $(($op))?);
                    let (response, thread_time) =
                        crate::protocol::throttle::timed(ctx, $handler(ctx, request)).await;
                    let mut response = response?;
                    crate::protocol::throttle::after_handler(
                        ctx, &mut response, request_size, thread_time,
                    );
                    let answered = response.encode_body(ctx.api_version, out)?;
                    match fault {
                        Some(FaultAction::DropResponse) => {
                            ctx.connection.silence();
                            Ok(false)
                        }
                        Some(FaultAction::DelayResponse(delay)) => {
                            tokio::time::sleep(delay).await;
                            Ok(answered)
                        }
                        _ => Ok(answered),
                    }
                })*
            }
        }
    };
}

apis! {
    Produce(ProduceRequest), 0..=10, per_resource, bounds: PRODUCE, api::produce::handle;
    Fetch(FetchRequest), 0..=16, per_resource, bounds: FETCH, api::fetch::handle;
    ListOffsets(ListOffsetsRequest), 0..=8, per_resource, bounds: LIST_OFFSETS,
        api::list_offsets::handle;
    Metadata(MetadataRequest), 0..=12, per_resource, bounds: METADATA, api::metadata::handle;
    // Versions 0-1 of OffsetCommit and 0 of OffsetFetch were removed in Kafka 4.0 (KIP-896).
    OffsetCommit(OffsetCommitRequest), 2..=9, per_resource, bounds: OFFSET_COMMIT,
        api::offset_commit::handle;
    OffsetFetch(OffsetFetchRequest), 1..=9, per_resource, bounds: OFFSET_FETCH,
        api::offset_fetch::handle;
    FindCoordinator(FindCoordinatorRequest), 0..=5, per_resource, bounds: FIND_COORDINATOR,
        api::find_coordinator::handle;
    JoinGroup(JoinGroupRequest), 0..=9, per_resource, bounds: JOIN_GROUP,
        api::join_group::handle;
    Heartbeat(HeartbeatRequest), 0..=4, per_resource, bounds: HEARTBEAT,
        api::heartbeat::handle;
    LeaveGroup(LeaveGroupRequest), 0..=5, per_resource, bounds: LEAVE_GROUP,
        api::leave_group::handle;
    SyncGroup(SyncGroupRequest), 0..=5, per_resource, bounds: SYNC_GROUP,
        api::sync_group::handle;
    DescribeGroups(DescribeGroupsRequest), 0..=6, per_resource, bounds: DESCRIBE_GROUPS,
        api::describe_groups::handle;
    ListGroups(ListGroupsRequest), 0..=5, per_resource, bounds: LIST_GROUPS,
        api::list_groups::handle;
    ApiVersions(ApiVersionsRequest), 0..=3, unauthenticated, bounds: API_VERSIONS,
        api::api_versions::handle;
    CreateTopics(CreateTopicsRequest), 0..=7, per_resource, bounds: CREATE_TOPICS,
        api::create_topics::handle;
    DeleteTopics(DeleteTopicsRequest), 0..=6, per_resource, bounds: DELETE_TOPICS,
        api::delete_topics::handle;
    DeleteRecords(DeleteRecordsRequest), 0..=2, per_resource, bounds: DELETE_RECORDS,
        api::delete_records::handle;
    InitProducerId(InitProducerIdRequest), 0..=4, per_resource, bounds: INIT_PRODUCER_ID,
        api::init_producer_id::handle;
    // Versions 0-1 were removed in Kafka 4.0 (KIP-896); kafka-protocol decodes 2-4.
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest), 2..=4, per_resource,
        bounds: OFFSET_FOR_LEADER_EPOCH, api::offset_for_leader_epoch::handle;
    AddPartitionsToTxn(AddPartitionsToTxnRequest), 0..=4, per_resource,
        bounds: ADD_PARTITIONS_TO_TXN, api::add_partitions_to_txn::handle;
    AddOffsetsToTxn(AddOffsetsToTxnRequest), 0..=3, per_resource, bounds: ADD_OFFSETS_TO_TXN,
        api::add_offsets_to_txn::handle;
    EndTxn(EndTxnRequest), 0..=3, per_resource, bounds: END_TXN, api::end_txn::handle;
    TxnOffsetCommit(TxnOffsetCommitRequest), 0..=3, per_resource, bounds: TXN_OFFSET_COMMIT,
        api::txn_offset_commit::handle;
    DescribeAcls(DescribeAclsRequest), 0..=3, cluster(Describe), bounds: DESCRIBE_ACLS,
        api::describe_acls::handle;
    CreateAcls(CreateAclsRequest), 0..=3, cluster(Alter), bounds: CREATE_ACLS,
        api::create_acls::handle;
    DeleteAcls(DeleteAclsRequest), 0..=3, cluster(Alter), bounds: DELETE_ACLS,
        api::delete_acls::handle;
    DescribeConfigs(DescribeConfigsRequest), 0..=4, per_resource, bounds: DESCRIBE_CONFIGS,
        api::describe_configs::handle;
    AlterConfigs(AlterConfigsRequest), 0..=2, per_resource, bounds: ALTER_CONFIGS,
        api::alter_configs::handle;
    CreatePartitions(CreatePartitionsRequest), 0..=3, per_resource, bounds: CREATE_PARTITIONS,
        api::create_partitions::handle;
    DeleteGroups(DeleteGroupsRequest), 0..=2, per_resource, bounds: DELETE_GROUPS,
        api::delete_groups::handle;
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest), 0..=1, per_resource,
        bounds: INCREMENTAL_ALTER_CONFIGS, api::incremental_alter_configs::handle;
    OffsetDelete(OffsetDeleteRequest), 0..=0, per_resource, bounds: OFFSET_DELETE,
        api::offset_delete::handle;
    DescribeCluster(DescribeClusterRequest), 0..=1, authenticated, bounds: DESCRIBE_CLUSTER,
        api::describe_cluster::handle;
    DescribeProducers(DescribeProducersRequest), 0..=0, per_resource,
        bounds: DESCRIBE_PRODUCERS, api::describe_producers::handle;
    DescribeTransactions(DescribeTransactionsRequest), 0..=0, per_resource,
        bounds: DESCRIBE_TRANSACTIONS, api::describe_transactions::handle;
    // Version 1 (the duration filter, KIP-994) is Kafka 3.8's.
    ListTransactions(ListTransactionsRequest), 0..=1, per_resource, bounds: LIST_TRANSACTIONS,
        api::list_transactions::handle;
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest), 0..=1, per_resource,
        bounds: CONSUMER_GROUP_HEARTBEAT, api::consumer_group_heartbeat::handle;
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest), 0..=1, per_resource,
        bounds: CONSUMER_GROUP_DESCRIBE, api::consumer_group_describe::handle;
    // Before authentication `net::sasl` serves these two; the handlers answer afterwards.
    SaslHandshake(SaslHandshakeRequest), 0..=1, unauthenticated, bounds: SASL_HANDSHAKE,
        api::sasl_handshake::handle;
    SaslAuthenticate(SaslAuthenticateRequest), 0..=2, unauthenticated, bounds: SASL_AUTHENTICATE,
        api::sasl_authenticate::handle;
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest), 0..=0, cluster(Describe),
        bounds: DESCRIBE_USER_SCRAM_CREDENTIALS, api::describe_user_scram_credentials::handle;
    AlterUserScramCredentials(AlterUserScramCredentialsRequest), 0..=0, cluster(Alter),
        bounds: ALTER_USER_SCRAM_CREDENTIALS, api::alter_user_scram_credentials::handle;
    DescribeClientQuotas(DescribeClientQuotasRequest), 0..=1, cluster(DescribeConfigs),
        bounds: DESCRIBE_CLIENT_QUOTAS, api::describe_client_quotas::handle;
    AlterClientQuotas(AlterClientQuotasRequest), 0..=1, cluster(AlterConfigs),
        bounds: ALTER_CLIENT_QUOTAS, api::alter_client_quotas::handle;
}

/// The action of the first armed fault rule that matches this request, if any (one atomic
/// load when no rule is armed).
fn injected_fault<T: FaultTarget>(ctx: &RequestContext<'_>, request: &T) -> Option<FaultAction> {
    if !ctx.state.faults.is_armed() {
        return None;
    }
    let action = ctx
        .state
        .faults
        .take(ctx.api_key, ctx.client_id, &|topic, partition| {
            crate::protocol::faults::names(ctx, request, topic, partition)
        })?;
    tracing::info!(?action, "injected fault");
    Some(action)
}

/// The row of `key`, if served.
pub fn row(key: ApiKey) -> Option<&'static ApiRow> {
    APIS.iter().find(|row| row.key == key)
}

/// The advertised (min, max) versions of `key`, if served.
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    row(key).map(|row| (row.min_version, row.max_version))
}

/// The ApiVersions entries of every row: what the broker advertises (KIP-35).
pub fn api_versions() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|row| {
            ApiVersion::default()
                .with_api_key(row.key as i16)
                .with_min_version(row.min_version)
                .with_max_version(row.max_version)
        })
        .collect()
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
    pub client_id: Option<StrBytes>,
    /// The body; `None` for an ApiVersions request of a version above ours, answered per
    /// KIP-511.
    pub body: Option<RequestBody>,
}

fn be_i16(frame: &[u8], at: usize) -> i16 {
    frame
        .get(at..at + 2)
        .map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]))
}

/// Decodes one request frame (without its size prefix) by the table.
///
/// Errors: `Malformed` for a short frame, an undecodable header or body, or a length or count
/// beyond the frame; `UnsupportedApi` for an API key not served; `UnsupportedVersion` for a
/// version outside the advertised range (except ApiVersions, whose body is then `None`).
pub fn decode_request(mut frame: Bytes) -> Result<DecodedRequest, ConnectionError> {
    let (Some(api_key), Some(api_version), Some(correlation_id)) = (
        frame.get(0..2).map(|_| be_i16(&frame, 0)),
        frame.get(2..4).map(|_| be_i16(&frame, 2)),
        frame
            .get(4..8)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
    ) else {
        return Err(ConnectionError::Malformed {
            api_key: -1,
            api_version: -1,
            reason: format!(
                "{} byte frame is shorter than a request header",
                frame.len()
            ),
        });
    };
    let key = ApiKey::try_from(api_key).map_err(|_| ConnectionError::UnsupportedApi(api_key))?;
    let row = row(key).ok_or(ConnectionError::UnsupportedApi(api_key))?;
    if key == ApiKey::ApiVersions && api_version > row.max_version {
        return Ok(DecodedRequest {
            api_key: key,
            api_version: 0,
            correlation_id,
            client_id: None,
            body: None,
        });
    }
    if api_version < row.min_version || api_version > row.max_version {
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
    request_bounds::check(row.bounds, api_version, header_version >= 2, &frame)
        .map_err(|e| malformed(e.to_string()))?;
    let body = decode_body(key, api_version, &mut frame)
        .map_err(malformed)?
        .ok_or(ConnectionError::UnsupportedApi(api_key))?;
    Ok(DecodedRequest {
        api_key: key,
        api_version,
        correlation_id,
        client_id: header.client_id,
        body: Some(body),
    })
}

/// Handles one request frame of `connection`; `None` when no response is due (Produce with
/// acks=0).
///
/// Errors (the connection closes): see [`decode_request`]; a failed Produce with acks=0; a
/// response that cannot be encoded.
pub async fn handle_frame(
    state: &Arc<BrokerState>,
    connection: &ConnectionContext,
    frame: Bytes,
) -> Result<Option<ResponseFrame>, ConnectionError> {
    let request_size = frame.len();
    let request = decode_request(frame)?;
    let client_id = request.client_id.as_deref().unwrap_or("");
    let span = tracing::debug_span!(
        "request",
        api_key = ?request.api_key,
        api_version = request.api_version,
        correlation_id = request.correlation_id,
        client_id,
    );
    let ctx = RequestContext {
        state,
        connection,
        api_key: request.api_key,
        api_version: request.api_version,
        correlation_id: request.correlation_id,
        client_id,
    };
    respond(&ctx, request.body, request_size)
        .instrument(span)
        .await
}

async fn respond(
    ctx: &RequestContext<'_>,
    body: Option<RequestBody>,
    request_size: usize,
) -> Result<Option<ResponseFrame>, ConnectionError> {
    tracing::debug!(principal = %ctx.principal(), "request");
    let capture = ctx.state.capture.is_on().then(|| {
        (
            std::time::Instant::now(),
            CapturedRequest::new(
                ctx.api_key,
                ctx.api_version,
                ctx.correlation_id,
                ConnectionInfo {
                    client_id: ctx.client_id.to_string(),
                    principal: ctx.principal().to_string(),
                    listener: ctx.connection.listener_name.clone(),
                    peer: ctx.connection.peer,
                },
                ctx.state.clock.now_ms(),
                Arc::new(()),
            ),
        )
    });
    let mut out = BodyBuilder::new();
    let mut captured = None;
    let answered = match body {
        // KIP-511: a v0 answer naming our ApiVersions range, so the client retries with it.
        None => {
            let (min, max) = supported_versions(ApiKey::ApiVersions).unwrap_or((0, 0));
            api::api_versions::unsupported_version(min, max)
                .encode_body(0, &mut out)
                .map(|_| true)
        }
        Some(body) => call(ctx, body, &mut out, request_size, &mut captured).await,
    };
    if let Some((start, entry)) = capture {
        let (response, error) = match &answered {
            Ok(true) => (Some(out.to_bytes()), None),
            Ok(false) => (None, None),
            Err(error) => (None, Some(error.to_string())),
        };
        let mut entry = entry.finish(start.elapsed(), response, error);
        if let Some(request) = captured {
            entry.set_request(request);
        }
        ctx.state.capture.push(entry);
    }
    if !answered? {
        return Ok(None);
    }
    // The KIP-511 answer is ApiVersions v0: header v0, as for every ApiVersions version.
    let header_version = ctx.api_key.response_header_version(ctx.api_version);
    out.finish(ctx.correlation_id, header_version).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's APIs that are served before authentication completes.
    const BEFORE_AUTHENTICATION: &[ApiKey] = &[
        ApiKey::ApiVersions,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
    ];

    /// Kafka 3.7's APIs that authorize one cluster-level operation before anything else.
    const CLUSTER_LEVEL: &[ApiKey] = &[
        ApiKey::CreateAcls,
        ApiKey::DescribeAcls,
        ApiKey::DeleteAcls,
        ApiKey::DescribeLogDirs,
        ApiKey::AlterReplicaLogDirs,
        ApiKey::ElectLeaders,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ListPartitionReassignments,
        ApiKey::DescribeClientQuotas,
        ApiKey::AlterClientQuotas,
        ApiKey::DescribeUserScramCredentials,
        ApiKey::AlterUserScramCredentials,
        ApiKey::UpdateFeatures,
        ApiKey::UnregisterBroker,
    ];

    #[test]
    fn every_api_has_one_row_with_kafkas_authorization() {
        let mut seen = std::collections::HashSet::new();
        for row in APIS {
            assert!(seen.insert(row.key), "{:?} has two rows", row.key);
            assert!(
                row.min_version <= row.max_version,
                "{:?}: empty range",
                row.key
            );
            match row.authorization {
                Authorization::Unauthenticated => assert!(
                    BEFORE_AUTHENTICATION.contains(&row.key),
                    "{:?} would be served before authentication",
                    row.key
                ),
                Authorization::Authenticated => assert_eq!(
                    row.key,
                    ApiKey::DescribeCluster,
                    "only DescribeCluster needs no ACL in Kafka 3.7"
                ),
                Authorization::Cluster(_) => assert!(
                    CLUSTER_LEVEL.contains(&row.key),
                    "{:?} is authorized per resource in Kafka",
                    row.key
                ),
                Authorization::PerResource => assert!(
                    !CLUSTER_LEVEL.contains(&row.key),
                    "{:?} needs a cluster-level operation",
                    row.key
                ),
            }
        }
    }

    #[test]
    fn every_row_decodes_its_default_request_at_every_version() -> Result<(), ConnectionError> {
        use bytes::{BufMut, BytesMut};
        for row in APIS {
            let mut decoded_versions = 0;
            for version in row.min_version..=row.max_version {
                // Produce v0-2 and Fetch v0-3 are advertised but not encodable by
                // kafka-protocol (message formats 0 and 1): see the README.
                let Some(body) = encode_default_request(row.key, version) else {
                    continue;
                };
                let header_version = row.key.request_header_version(version);
                let mut frame = BytesMut::new();
                RequestHeader::default()
                    .with_request_api_key(row.key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7)
                    .encode(&mut frame, header_version)
                    .map_err(|e| ConnectionError::Encode(e.to_string()))?;
                frame.put_slice(&body);
                let decoded = decode_request(frame.freeze())?;
                assert_eq!(decoded.correlation_id, 7);
                assert_eq!(decoded.api_version, version);
                assert!(decoded.body.is_some(), "{:?} v{version}", row.key);
                decoded_versions += 1;
            }
            assert!(decoded_versions > 0, "{:?}: no version decodes", row.key);
        }
        Ok(())
    }

    #[test]
    fn unknown_keys_versions_and_short_frames_are_refused() {
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 0, 0])),
            Err(ConnectionError::Malformed { .. })
        ));
        // DescribeLogDirs (35) is not served.
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 35, 0, 0, 0, 0, 0, 1, 0, 0])),
            Err(ConnectionError::UnsupportedApi(35))
        ));
        // Produce v11 is above the range.
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 0, 0, 11, 0, 0, 0, 1, 0, 0])),
            Err(ConnectionError::UnsupportedVersion {
                api_key: 0,
                api_version: 11
            })
        ));
        // ApiVersions above the range decodes to the KIP-511 fallback.
        assert!(matches!(
            decode_request(Bytes::from_static(&[0, 18, 0, 99, 0, 0, 0, 1, 0, 0])),
            Ok(DecodedRequest { body: None, .. })
        ));
    }

    /// Fields kafka-protocol refuses to encode at their default at some versions.
    pub(super) fn fill_required_fields<T: std::any::Any>(request: &mut T) {
        let any = request as &mut dyn std::any::Any;
        if let Some(r) = any.downcast_mut::<ApiVersionsRequest>() {
            r.client_software_name = StrBytes::from_static_str("test");
            r.client_software_version = StrBytes::from_static_str("1");
        }
    }
}
