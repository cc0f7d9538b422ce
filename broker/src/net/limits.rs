//! Limits shared by all connections: the request memory budget and the connection quotas.
//!
//! The budget is Kafka's memory pool (`queued.max.request.bytes`, KIP-72): a connection takes
//! a frame's size from it once the size prefix is read and before the body's memory is
//! reserved, and gives it back when the response is written. A connection that finds the
//! budget spent waits, and so does every connection behind it (first come, first served).
//! Unlike Kafka's non-strict pool, the bytes held never exceed the budget: the budget is at
//! least `socket.request.max.bytes`, so every frame fits once the others are answered.
//!
//! The quotas are Kafka's `ConnectionQuotas`: `max.connections` makes the accept loop wait for
//! a free slot; `max.connections.per.ip` (and its overrides) closes a new connection from an
//! address that already holds its limit.
//!
//! References: KIP-72 (memory pool for requests), KIP-308 and KIP-402 (connection limits);
//! Kafka's `SocketServer.scala` (`ConnectionQuotas`) and `SimpleMemoryPool`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::SocketServerConfig;

/// The request memory budget (`queued.max.request.bytes`).
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    /// `None` when unbounded (-1): bytes are only counted.
    semaphore: Option<Arc<Semaphore>>,
    capacity: usize,
    in_use: AtomicUsize,
    waiting: AtomicUsize,
}

/// Bytes taken from a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    budget: Arc<MemoryBudget>,
    bytes: usize,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Counts a waiter for as long as it waits, even when its wait is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MemoryBudget {
    /// A budget of `bytes`; `None` counts without limiting.
    pub(crate) fn new(bytes: Option<usize>) -> Arc<Self> {
        Arc::new(MemoryBudget {
            semaphore: bytes.map(|b| Arc::new(Semaphore::new(b.min(Semaphore::MAX_PERMITS)))),
            capacity: bytes.unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS),
            in_use: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` (a frame size), waiting until they are free. A request larger than the
    /// whole budget takes all of it.
    pub(crate) async fn acquire(self: &Arc<Self>, bytes: usize) -> BudgetPermit {
        let permit = match &self.semaphore {
            Some(semaphore) => {
                self.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&self.waiting);
                // The budget is never below socket.request.max.bytes, so a frame fits it
                // whole; the clamp keeps a larger one (a unit test) from waiting forever.
                let wanted = u32::try_from(bytes.min(self.capacity)).unwrap_or(u32::MAX);
                Arc::clone(semaphore).acquire_many_owned(wanted).await.ok()
            }
            None => None,
        };
        self.in_use.fetch_add(bytes, Ordering::Relaxed);
        BudgetPermit {
            budget: Arc::clone(self),
            bytes,
            _permit: permit,
        }
    }

    /// Bytes held by requests read and not yet answered.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Connections waiting for budget before reading a frame body.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// Why a new connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("address {ip} already has the configured maximum of {limit} connections")]
pub(crate) struct TooManyConnections {
    /// The peer's address.
    pub(crate) ip: IpAddr,
    /// Its limit.
    pub(crate) limit: usize,
}

/// Open connections, in total and per address.
#[derive(Debug)]
pub(crate) struct ConnectionQuotas {
    config: SocketServerConfig,
    slots: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
}

/// One admitted connection's place in the quotas, given back on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.quotas.open.fetch_sub(1, Ordering::Relaxed);
        let mut per_ip = self
            .quotas
            .per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

impl ConnectionQuotas {
    /// Quotas from the checked configuration.
    pub(crate) fn new(config: &SocketServerConfig) -> Arc<Self> {
        Arc::new(ConnectionQuotas {
            slots: Arc::new(Semaphore::new(
                config.max_connections.min(Semaphore::MAX_PERMITS),
            )),
            config: config.clone(),
            per_ip: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
        })
    }

    /// Waits until fewer than `max.connections` connections are open and reserves a slot for
    /// the next one accepted.
    pub(crate) async fn wait_for_slot(&self) -> OwnedSemaphorePermit {
        match Arc::clone(&self.slots).acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        }
    }

    /// Admits a connection from `ip` into the reserved `slot`, or refuses it when the address
    /// already holds `max.connections.per.ip` (or its override).
    pub(crate) fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        slot: OwnedSemaphorePermit,
    ) -> Result<ConnectionSlot, TooManyConnections> {
        let limit = self.config.max_connections_for(ip);
        let mut per_ip = self
            .per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            return Err(TooManyConnections { ip, limit });
        }
        *count += 1;
        drop(per_ip);
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionSlot {
            quotas: Arc::clone(self),
            ip,
            _slot: slot,
        })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn the_budget_makes_the_next_request_wait() {
        let budget = MemoryBudget::new(Some(100));
        let first = budget.acquire(60).await;
        let second = budget.acquire(40).await;
        assert_eq!(budget.in_use(), 100);
        let waiter = {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.acquire(30).await.bytes })
        };
        while budget.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        drop(first);
        assert!(matches!(waiter.await, Ok(30)));
        drop(second);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.waiting(), 0);
    }

    #[tokio::test]
    async fn per_ip_limits_refuse_and_slots_come_back() -> Result<(), crate::config::ConfigError> {
        let mut properties = BTreeMap::new();
        properties.insert("max.connections.per.ip".to_string(), "2".to_string());
        properties.insert("max.connections".to_string(), "3".to_string());
        let config = SocketServerConfig::from_properties(&properties, 100)?;
        let quotas = ConnectionQuotas::new(&config);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = quotas.admit(a, quotas.wait_for_slot().await);
        let second = quotas.admit(a, quotas.wait_for_slot().await);
        assert!(first.is_ok() && second.is_ok());
        assert!(matches!(
            quotas.admit(a, quotas.wait_for_slot().await),
            Err(TooManyConnections { limit: 2, .. })
        ));
        let other = quotas.admit(b, quotas.wait_for_slot().await);
        assert!(other.is_ok());
        assert_eq!(quotas.open(), 3);
        // max.connections reached: the next slot waits until a connection closes.
        let mut next = Box::pin(quotas.wait_for_slot());
        assert!(futures_poll_once(next.as_mut()).await.is_none());
        drop(first);
        assert!(quotas.admit(a, next.await).is_ok());
        Ok(())
    }

    /// Polls `future` once: `None` when it is still pending.
    async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = future => Some(out),
            _ = std::future::ready(()) => None,
        }
    }
}
