//! The wall clock, in Kafka's unit: milliseconds since the Unix epoch.

use std::time::Duration;

/// Milliseconds since the Unix epoch by the system clock; 0 before the epoch and
/// `i64::MAX` past the range of `i64`.
///
/// ```
/// assert!(josefine_storage::now_ms() > 1_600_000_000_000);
/// ```
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A duration in whole milliseconds, saturating at `i64::MAX` (`Duration::MAX` stands for
/// "never" in configs such as `max.compaction.lag.ms`).
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
