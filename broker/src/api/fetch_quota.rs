//! The consumer byte rate quota of Fetch (`consumer_byte_rate`).
//!
//! References: KIP-13; Kafka 3.7's `KafkaApis.handleFetchRequest` (record the response size,
//! and when throttled unrecord it, answer with an empty response and mute the channel).

use crate::context::RequestContext;
use crate::security::quota::QuotaType;

/// Records the bytes a fetch would send (the record data of `reads`) against the client's
/// consumer byte rate; `Some(throttle_time_ms)` when it is past its quota, in which case the
/// bytes are taken back and the connection is muted for that long. `None` without a quota.
pub(crate) fn throttle<R>(
    ctx: &RequestContext<'_>,
    reads: &[R],
    bytes: impl Fn(&R) -> usize,
) -> Option<i32> {
    let quotas = &ctx.state.client_quotas;
    if !quotas.enabled(QuotaType::Fetch) {
        return None;
    }
    let size = reads.iter().map(bytes).sum::<usize>() as f64;
    let user = ctx.principal().name.as_str();
    let throttle = quotas.record(QuotaType::Fetch, user, ctx.client_id, size);
    if throttle.is_zero() {
        return None;
    }
    quotas.unrecord(QuotaType::Fetch, user, ctx.client_id, size);
    ctx.connection.throttle(throttle);
    Some(i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX))
}

/// `max_bytes` capped to what the client may fetch in one quota window without being
/// throttled (Kafka's `getMaxValueInQuotaWindow`): a larger response would be throttled for
/// certain, every time, and the consumer would never progress.
pub(crate) fn max_bytes(ctx: &RequestContext<'_>, max_bytes: usize) -> usize {
    let quotas = &ctx.state.client_quotas;
    if !quotas.enabled(QuotaType::Fetch) {
        return max_bytes;
    }
    match quotas.max_value_in_quota_window(QuotaType::Fetch, &ctx.principal().name, ctx.client_id) {
        Some(window_bytes) => max_bytes.min(window_bytes as usize),
        None => max_bytes,
    }
}
