//! Quota throttling around every handler: the request time share (`request_percentage`),
//! the produce byte rate, `throttle_time_ms` in the response and the channel mute.
//!
//! The API table runs each handler through [`timed`], which measures the time spent polling
//! it (the handler's thread time; a fetch parked on its partitions costs nothing), then calls
//! [`after_handler`], which records what the request cost against the client's quotas (Kafka's
//! `ClientRequestQuotaManager` and, for Produce, `ClientQuotaManager` with the request size),
//! puts the longest throttle time in the response's `throttle_time_ms` and mutes the
//! connection for it once the response is written (KIP-219). The consumer byte rate is
//! recorded by the Fetch handler, which answers a throttled fetch with an empty response as
//! Kafka 3.7 does. With no quota of a type configured, nothing of this runs but one atomic
//! load per type.
//!
//! References: KIP-13, KIP-124 (request quotas), KIP-219 (throttling by muting the channel);
//! Kafka 3.7's `KafkaApis.handleProduceRequest` and `RequestHandlerHelper.sendResponseMaybeThrottle`.

use std::future::Future;
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;

use crate::api::{MaybeResponse, ZeroCopy};
use crate::context::RequestContext;
use crate::security::quota::QuotaType;

/// Kafka's `ClientRequestQuotaManager.NanosToPercentagePerSecond`: thread time recorded as a
/// percentage of one thread over a second.
const NANOS_TO_PERCENTAGE_PER_SECOND: f64 = 100.0 / 1_000_000_000.0;

/// APIs that never count against the request quota: those served before authentication
/// (Kafka handles them in its network layer, outside `KafkaApis`).
fn exempt(key: ApiKey) -> bool {
    matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
}

/// Awaits `handler`, measuring the time spent polling it when a request quota is configured.
pub(crate) async fn timed<F: Future>(
    ctx: &RequestContext<'_>,
    handler: F,
) -> (F::Output, Duration) {
    if !ctx.state.client_quotas.enabled(QuotaType::Request) || exempt(ctx.api_key) {
        return (handler.await, Duration::ZERO);
    }
    let mut handler = std::pin::pin!(handler);
    let mut spent = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let poll = handler.as_mut().poll(cx);
        spent += started.elapsed();
        poll
    })
    .await;
    (output, spent)
}

/// Records the request against the client's quotas, sets the throttle time in `response` and
/// mutes the connection for it. `request_size` is the request frame's size in bytes (header
/// and body), `thread_time` what [`timed`] measured.
pub(crate) fn after_handler(
    ctx: &RequestContext<'_>,
    response: &mut impl ThrottleTime,
    request_size: usize,
    thread_time: Duration,
) {
    let quotas = &ctx.state.client_quotas;
    let (produce_enabled, request_enabled) = (
        quotas.enabled(QuotaType::Produce),
        quotas.enabled(QuotaType::Request),
    );
    if !produce_enabled && !request_enabled {
        return;
    }
    let user = ctx.principal().name.as_str();
    let client_id = ctx.client_id;
    let silent = response.is_silent();
    let mut throttle = Duration::ZERO;
    if ctx.api_key == ApiKey::Produce && produce_enabled {
        throttle = quotas.record(QuotaType::Produce, user, client_id, request_size as f64);
    }
    // Kafka does not count acks=0 produce requests against the request quota.
    if request_enabled && !exempt(ctx.api_key) && !silent {
        let percentage = thread_time.as_nanos() as f64 * NANOS_TO_PERCENTAGE_PER_SECOND;
        throttle = throttle.max(quotas.record(QuotaType::Request, user, client_id, percentage));
    }
    if throttle.is_zero() {
        return;
    }
    // A throttled Fetch carries its byte-rate throttle already: the field keeps the longer.
    let ms = i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX);
    response.raise_throttle_time_ms(ms);
    ctx.connection.throttle(throttle);
}

/// A response the table can throttle: every handler's response type implements it (the API
/// table does not compile otherwise), so no response of a new API goes without its field.
pub(crate) trait ThrottleTime {
    /// Raises the response's `throttle_time_ms` to at least `ms`; nothing for responses
    /// without the field (SaslHandshake, SaslAuthenticate).
    fn raise_throttle_time_ms(&mut self, ms: i32);

    /// Whether no response is sent (Produce with acks=0), which Kafka does not count against
    /// the request quota.
    fn is_silent(&self) -> bool {
        false
    }
}

impl<T: ThrottleTime> ThrottleTime for MaybeResponse<T> {
    fn raise_throttle_time_ms(&mut self, ms: i32) {
        if let MaybeResponse::Send(response) = self {
            response.raise_throttle_time_ms(ms);
        }
    }

    fn is_silent(&self) -> bool {
        matches!(self, MaybeResponse::Silent)
    }
}

impl<T: ThrottleTime> ThrottleTime for ZeroCopy<T> {
    fn raise_throttle_time_ms(&mut self, ms: i32) {
        self.0.raise_throttle_time_ms(ms);
    }
}

macro_rules! throttle_time_field {
    ($($t:ty),* $(,)?) => {
        $(impl ThrottleTime for $t {
            fn raise_throttle_time_ms(&mut self, ms: i32) {
                self.throttle_time_ms = self.throttle_time_ms.max(ms);
            }
        })*
    };
}

throttle_time_field!(
    ProduceResponse,
    FetchResponse,
    ListOffsetsResponse,
    MetadataResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    FindCoordinatorResponse,
    JoinGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    SyncGroupResponse,
    DescribeGroupsResponse,
    ListGroupsResponse,
    ApiVersionsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    DeleteRecordsResponse,
    InitProducerIdResponse,
    OffsetForLeaderEpochResponse,
    AddPartitionsToTxnResponse,
    AddOffsetsToTxnResponse,
    EndTxnResponse,
    TxnOffsetCommitResponse,
    DescribeAclsResponse,
    CreateAclsResponse,
    DeleteAclsResponse,
    DescribeConfigsResponse,
    AlterConfigsResponse,
    CreatePartitionsResponse,
    DeleteGroupsResponse,
    IncrementalAlterConfigsResponse,
    OffsetDeleteResponse,
    DescribeClientQuotasResponse,
    AlterClientQuotasResponse,
    DescribeUserScramCredentialsResponse,
    AlterUserScramCredentialsResponse,
    DescribeClusterResponse,
    DescribeProducersResponse,
    DescribeTransactionsResponse,
    ListTransactionsResponse,
    ConsumerGroupHeartbeatResponse,
    ConsumerGroupDescribeResponse,
);

/// The SASL responses have no `throttle_time_ms`; they are exempt from quotas anyway.
impl ThrottleTime for SaslHandshakeResponse {
    fn raise_throttle_time_ms(&mut self, _ms: i32) {}
}

impl ThrottleTime for SaslAuthenticateResponse {
    fn raise_throttle_time_ms(&mut self, _ms: i32) {}
}
