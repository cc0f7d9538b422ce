//! The broker's clock: wall-clock time in milliseconds since the Unix epoch (for stored
//! timestamps: commit and state timestamps, transaction start and update times, retention)
//! and tokio's monotonic [`Instant`] (for deadlines: session and rebalance timeouts).
//!
//! Every broker use of wall-clock time reads it from a [`Clock`], so that a test can make the
//! wall clock follow tokio's paused time ([`Clock::following_tokio`]) and control both with
//! `tokio::time::advance`.
//!
//! References: Kafka's `org.apache.kafka.common.utils.Time` (`milliseconds()` and
//! `nanoseconds()`), which its coordinators take for the same reason.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::time::Instant;

/// Where time comes from. Cheap to copy; every coordinator holds one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Debug, Clone, Copy, Default)]
enum Source {
    /// The operating system's clock.
    #[default]
    System,
    /// `epoch_ms` at `start`, then advancing with tokio's (possibly paused) time.
    Tokio { epoch_ms: i64, start: Instant },
    /// The operating system's clock plus a shift (ms) read at each call.
    Shifted { by: &'static AtomicI64 },
}

impl Clock {
    /// The operating system's clock: what a running broker uses.
    pub fn system() -> Self {
        Self {
            source: Source::System,
        }
    }

    /// A wall clock that reads `epoch_ms` now and then advances with tokio's clock: under
    /// `#[tokio::test(start_paused = true)]` it moves only with `tokio::time::advance`.
    pub fn following_tokio(epoch_ms: i64) -> Self {
        Self {
            source: Source::Tokio {
                epoch_ms,
                start: Instant::now(),
            },
        }
    }

    /// Wall-clock milliseconds since the Unix epoch (0 if the system clock is before it).
    pub fn now_ms(&self) -> i64 {
        match self.source {
            Source::System => josefine_storage::now_ms(),
            Source::Shifted { by } => {
                josefine_storage::now_ms().saturating_add(by.load(Ordering::Acquire))
            }
            Source::Tokio { epoch_ms, start } => {
                let elapsed = Instant::now().saturating_duration_since(start);
                epoch_ms.saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
            }
        }
    }

    /// The operating system's clock moved on by `by` ms, read at each call: a running
    /// broker whose wall clock an end-to-end test moves forward, to see expiry by wall-clock
    /// time (offsets, producer ids, transactional ids) with real clients. Deadlines
    /// ([`Clock::now`]) do not move.
    pub fn system_shifted(by: &'static AtomicI64) -> Self {
        Self {
            source: Source::Shifted { by },
        }
    }

    /// The monotonic time deadlines are measured against: tokio's, so that paused test time
    /// controls them.
    pub fn now(&self) -> Instant {
        Instant::now()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_system_clock_reads_ms_since_the_unix_epoch() {
        assert!(Clock::system().now_ms() > 1_600_000_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_following_tokio_moves_only_with_tokio_time() {
        let clock = Clock::following_tokio(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(clock.now_ms(), 1_250);
    }
}
