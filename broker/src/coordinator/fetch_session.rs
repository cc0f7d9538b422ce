//! Incremental fetch sessions: the broker remembers each consumer's partitions and fetch
//! offsets so that later fetches send, and get back, only what changed.
//!
//! A request with session id 0 and epoch 0 opens a session; epoch -1 fetches without one
//! (closing the named session, if any); a known id with the expected epoch is an incremental
//! fetch. Sessions beyond `max.incremental.fetch.session.cache.slots` evict the least
//! recently used.
//!
//! References: KIP-227.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// One partition of a fetch: its key and what the consumer asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    /// Topic name (resolved from the id for v13+, empty when the id is unknown).
    pub topic: String,
    /// Topic id (nil before v13).
    pub topic_id: Uuid,
    /// Partition index.
    pub partition: i32,
    /// Offset to read from.
    pub fetch_offset: i64,
    /// Byte limit for this partition.
    pub partition_max_bytes: i32,
    /// The leader epoch the consumer believes current, -1 if unknown.
    pub current_leader_epoch: i32,
}

impl FetchTarget {
    fn key(&self) -> (String, Uuid, i32) {
        (self.topic.clone(), self.topic_id, self.partition)
    }
}

/// What the last response of a session said of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SentState {
    /// High watermark sent.
    pub high_watermark: i64,
    /// Last stable offset sent.
    pub last_stable_offset: i64,
    /// Log start offset sent.
    pub log_start_offset: i64,
}

#[derive(Debug)]
struct CachedPartition {
    target: FetchTarget,
    sent: Option<SentState>,
}

#[derive(Debug)]
struct FetchSession {
    next_epoch: i32,
    partitions: Vec<CachedPartition>,
    last_used: Instant,
}

/// How to answer a fetch.
#[derive(Debug)]
pub struct FetchContext {
    /// Session id for the response (0 without a session).
    pub session_id: i32,
    /// Whether the response lists only changed partitions.
    pub incremental: bool,
    /// Every partition to read, in session order.
    pub targets: Vec<FetchTarget>,
}

/// The broker's fetch sessions.
#[derive(Debug)]
pub struct FetchSessionCache {
    slots: usize,
    inner: Mutex<(i32, HashMap<i32, FetchSession>)>,
}

/// Session epoch that opens a session.
pub(crate) const INITIAL_EPOCH: i32 = 0;
/// Session epoch that fetches without (or closes) a session.
pub(crate) const FINAL_EPOCH: i32 = -1;

impl FetchSessionCache {
    /// A cache of at most `slots` sessions.
    pub fn new(slots: usize) -> Self {
        Self {
            slots,
            inner: Mutex::new((0, HashMap::new())),
        }
    }

    /// Works out the partitions of a fetch from its session fields.
    ///
    /// Errors: FETCH_SESSION_ID_NOT_FOUND for an unknown id, INVALID_FETCH_SESSION_EPOCH for an
    /// unexpected epoch.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<FetchTarget>,
        forgotten: &[(String, Uuid, i32)],
    ) -> Result<FetchContext, ResponseError> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (next_id, sessions) = &mut *guard;
        if epoch == FINAL_EPOCH || epoch == INITIAL_EPOCH {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            if epoch == FINAL_EPOCH || self.slots == 0 {
                return Ok(FetchContext {
                    session_id: 0,
                    incremental: false,
                    targets: requested,
                });
            }
            if sessions.len() >= self.slots {
                if let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(id, _)| *id)
                {
                    sessions.remove(&oldest);
                }
            }
            let id = loop {
                *next_id = next_id.wrapping_add(1).max(1);
                if !sessions.contains_key(next_id) {
                    break *next_id;
                }
            };
            let mut partitions: Vec<CachedPartition> = Vec::with_capacity(requested.len());
            for target in &requested {
                if !partitions.iter().any(|p| p.target.key() == target.key()) {
                    partitions.push(CachedPartition {
                        target: target.clone(),
                        sent: None,
                    });
                }
            }
            sessions.insert(
                id,
                FetchSession {
                    next_epoch: 1,
                    partitions,
                    last_used: Instant::now(),
                },
            );
            return Ok(FetchContext {
                session_id: id,
                incremental: false,
                targets: requested,
            });
        }
        if session_id == 0 {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        let session = sessions
            .get_mut(&session_id)
            .ok_or(ResponseError::FetchSessionIdNotFound)?;
        if session.next_epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        session.last_used = Instant::now();
        for target in requested {
            match session
                .partitions
                .iter_mut()
                .find(|p| p.target.key() == target.key())
            {
                Some(cached) => cached.target = target,
                None => session
                    .partitions
                    .push(CachedPartition { target, sent: None }),
            }
        }
        session
            .partitions
            .retain(|p| !forgotten.iter().any(|f| *f == p.target.key()));
        Ok(FetchContext {
            session_id,
            incremental: true,
            targets: session
                .partitions
                .iter()
                .map(|p| p.target.clone())
                .collect(),
        })
    }

    /// Records what a response said of each partition and, for an incremental fetch, tells
    /// which partitions to include: those with records, an error, or a changed high
    /// watermark, last stable offset or log start offset.
    pub fn complete(
        &self,
        session_id: i32,
        results: &[(FetchTarget, SentState, bool)],
    ) -> Vec<bool> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(session) = guard.1.get_mut(&session_id) else {
            return vec![true; results.len()];
        };
        results
            .iter()
            .map(|(target, sent, has_news)| {
                match session
                    .partitions
                    .iter_mut()
                    .find(|p| p.target.key() == target.key())
                {
                    Some(cached) => {
                        let changed = cached.sent != Some(*sent);
                        cached.sent = Some(*sent);
                        *has_news || changed
                    }
                    None => true,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(partition: i32, offset: i64) -> FetchTarget {
        FetchTarget {
            topic: "t".into(),
            topic_id: Uuid::nil(),
            partition,
            fetch_offset: offset,
            partition_max_bytes: 1024,
            current_leader_epoch: -1,
        }
    }

    #[test]
    fn session_lifecycle() -> Result<(), ResponseError> {
        let cache = FetchSessionCache::new(10);
        let full = cache.begin(0, INITIAL_EPOCH, vec![target(0, 0), target(1, 0)], &[])?;
        assert!(full.session_id > 0 && !full.incremental);
        let sent = SentState {
            high_watermark: 5,
            last_stable_offset: 5,
            log_start_offset: 0,
        };
        cache.complete(
            full.session_id,
            &[(target(0, 0), sent, true), (target(1, 0), sent, false)],
        );
        // Incremental: only partition 0 moves; partition 1 stays in the session.
        let inc = cache.begin(full.session_id, 1, vec![target(0, 5)], &[])?;
        assert!(inc.incremental);
        assert_eq!(inc.targets, vec![target(0, 5), target(1, 0)]);
        let include = cache.complete(
            full.session_id,
            &[(target(0, 5), sent, false), (target(1, 0), sent, false)],
        );
        assert_eq!(include, vec![false, false]);
        assert_eq!(
            cache.begin(full.session_id, 1, vec![], &[]).err(),
            Some(ResponseError::InvalidFetchSessionEpoch)
        );
        let forgot = cache.begin(full.session_id, 2, vec![], &[("t".into(), Uuid::nil(), 1)])?;
        assert_eq!(forgot.targets.len(), 1);
        assert_eq!(
            cache.begin(999, 1, vec![], &[]).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        let closed = cache.begin(full.session_id, FINAL_EPOCH, vec![target(0, 0)], &[])?;
        assert_eq!(closed.session_id, 0);
        assert_eq!(
            cache.begin(full.session_id, 3, vec![], &[]).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        Ok(())
    }
}
