//! The group coordinator's deadlines: session and rebalance timeouts, the end of a join
//! phase, served by one task.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{GroupCoordinator, GroupKind};

impl GroupCoordinator {
    /// Serves every expired deadline (session and rebalance timeouts, the end of a join
    /// phase) as of `now`, and returns the earliest deadline left. The membership records
    /// this produces are ordered for writing, not awaited.
    pub fn expire(&self, now: Instant) -> Option<Instant> {
        let mut groups = self.lock();
        let mut next: Option<Instant> = None;
        for group in groups.values_mut() {
            let (records, deadline) = match &mut group.kind {
                GroupKind::Classic(g) => g.expire(now, &self.config),
                GroupKind::Consumer(g) => (Vec::new(), g.expire(&group.id, now)),
            };
            if !records.is_empty() {
                let _ = self.write_membership(&group.id, &records);
            }
            if let Some(deadline) = deadline {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        next
    }
}

/// Serves the coordinator's deadlines until `cancel`: sleeps until the earliest one, or until
/// a request adds an earlier one.
pub(crate) async fn run_timers(coordinator: Arc<GroupCoordinator>, cancel: CancellationToken) {
    loop {
        let now = coordinator.clock.now();
        let next = coordinator.expire(now);
        // An hour stands for "no deadline": any new one wakes the task first.
        let until = next.unwrap_or_else(|| now + Duration::from_secs(3600));
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(until) => {}
            _ = coordinator.shared.wakeup.notified() => {}
        }
    }
}
