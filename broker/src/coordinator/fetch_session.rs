//! Incremental fetch sessions: the broker remembers each consumer's partitions and fetch
//! offsets so that later fetches send, and get back, only what changed.
//!
//! A request with session id 0 and epoch 0 opens a session; epoch -1 fetches without one
//! (closing the named session, if any); a known id with the expected epoch is an incremental
//! fetch, which adds, updates and forgets partitions. A session left with no partition is
//! closed. An incremental response carries the partitions with records, an error or new
//! offsets, and those move to the end of the session's order, so that a `max_bytes` limit
//! serves every partition in turn.
//!
//! At most `max.incremental.fetch.session.cache.slots` sessions are kept. When the cache is
//! full a new session takes the slot of one unused for 120 s (the least recently used), or
//! else of the smallest session created over 120 s ago if the new one has more partitions;
//! otherwise the fetch is answered without a session (session id 0), as Kafka's
//! `FetchSessionCache.tryEvict` does (no replica fetches here, so no session is privileged).
//!
//! Every step costs time linear in the partitions of the request and of the session: the
//! session's partitions are indexed by (topic id, topic name, partition), and topic names are
//! shared (`Arc<str>`), never copied per partition.
//!
//! References: KIP-227; Kafka's `FetchSession.scala`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// How long a session must stay unused, or exist, before a new session may evict it
/// (Kafka's `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
pub(crate) const EVICTION_AGE: Duration = Duration::from_secs(120);

/// Session epoch that opens a session.
pub(crate) const INITIAL_EPOCH: i32 = 0;
/// Session epoch that fetches without (or closes) a session.
pub(crate) const FINAL_EPOCH: i32 = -1;

/// A partition as a session knows it: topic id (nil before v13), topic name (resolved from
/// the id from v13 on, empty when the id is unknown) and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    /// Topic id (nil before v13).
    pub topic_id: Uuid,
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

/// One partition of a fetch: its key and what the consumer asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    /// Topic name (resolved from the id for v13+, empty when the id is unknown).
    pub topic: Arc<str>,
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
    /// The partition's key (shares the topic name).
    pub fn key(&self) -> PartitionKey {
        PartitionKey {
            topic_id: self.topic_id,
            topic: Arc::clone(&self.topic),
            partition: self.partition,
        }
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
    /// The epoch the next request must carry.
    next_epoch: i32,
    /// The partitions, in session order.
    partitions: Vec<CachedPartition>,
    /// Position of each partition in `partitions`.
    index: HashMap<PartitionKey, usize>,
    created: Instant,
    last_used: Instant,
}

impl FetchSession {
    fn new(targets: &[FetchTarget], now: Instant) -> Self {
        let mut session = Self {
            next_epoch: 1,
            partitions: Vec::with_capacity(targets.len()),
            index: HashMap::with_capacity(targets.len()),
            created: now,
            last_used: now,
        };
        session.upsert(targets.iter().cloned());
        session
    }

    /// Adds the targets not in the session (at the end) and updates the others.
    fn upsert(&mut self, targets: impl IntoIterator<Item = FetchTarget>) {
        for target in targets {
            let key = target.key();
            match self.index.get(&key) {
                Some(&i) => {
                    if let Some(cached) = self.partitions.get_mut(i) {
                        cached.target = target;
                    }
                }
                None => {
                    self.index.insert(key, self.partitions.len());
                    self.partitions.push(CachedPartition { target, sent: None });
                }
            }
        }
    }

    /// Removes the forgotten partitions, in one pass.
    fn forget(&mut self, forgotten: &[PartitionKey]) {
        if forgotten.is_empty() {
            return;
        }
        let forgotten: HashSet<&PartitionKey> = forgotten.iter().collect();
        let before = self.partitions.len();
        self.partitions
            .retain(|p| !forgotten.contains(&p.target.key()));
        if self.partitions.len() != before {
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, p) in self.partitions.iter().enumerate() {
            self.index.insert(p.target.key(), i);
        }
    }

    fn size(&self) -> usize {
        self.partitions.len()
    }
}

/// How to answer a fetch.
#[derive(Debug)]
pub struct FetchContext {
    /// Session id for the response (0 without a session).
    pub session_id: i32,
    /// The session epoch this fetch advanced the session to (checked by `complete`).
    epoch: i32,
    /// Whether the response lists only changed partitions.
    pub incremental: bool,
    /// Every partition to read, in session order.
    pub targets: Vec<FetchTarget>,
}

/// The broker's fetch sessions, behind one lock held only for linear-time bookkeeping.
#[derive(Debug)]
pub struct FetchSessionCache {
    slots: usize,
    sessions: Mutex<HashMap<i32, FetchSession>>,
}

impl FetchSessionCache {
    /// A cache of at most `slots` sessions (`max.incremental.fetch.session.cache.slots`).
    pub fn new(slots: usize) -> Self {
        Self {
            slots,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Number of sessions cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sessions.lock().map_or(0, |s| s.len())
    }

    /// Works out the partitions of a fetch from its session fields, at time `now`.
    ///
    /// Errors: FETCH_SESSION_ID_NOT_FOUND for an unknown id, INVALID_FETCH_SESSION_EPOCH for an
    /// unexpected epoch.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<FetchTarget>,
        forgotten: &[PartitionKey],
        now: Instant,
    ) -> Result<FetchContext, ResponseError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let sessionless = |targets| FetchContext {
            session_id: 0,
            epoch: FINAL_EPOCH,
            incremental: false,
            targets,
        };
        if epoch == FINAL_EPOCH || epoch == INITIAL_EPOCH {
            // A full fetch closes the session it names.
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            if epoch == FINAL_EPOCH || self.slots == 0 {
                return Ok(sessionless(requested));
            }
            let session = FetchSession::new(&requested, now);
            if sessions.len() >= self.slots && !try_evict(&mut sessions, session.size(), now) {
                return Ok(sessionless(requested));
            }
            let id = new_session_id(&sessions);
            sessions.insert(id, session);
            return Ok(FetchContext {
                session_id: id,
                epoch: 1,
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
        session.upsert(requested);
        session.forget(forgotten);
        if session.partitions.is_empty() {
            sessions.remove(&session_id);
            return Ok(sessionless(Vec::new()));
        }
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        session.last_used = now;
        Ok(FetchContext {
            session_id,
            epoch: session.next_epoch,
            incremental: true,
            targets: session
                .partitions
                .iter()
                .map(|p| p.target.clone())
                .collect(),
        })
    }

    /// Records what the response says of each of `context`'s targets (`results`, in the same
    /// order: the offsets sent and whether it has records or an error) and tells which to
    /// include: all for a full fetch; for an incremental one those with records, an error,
    /// or a changed high watermark, last stable offset or log start offset, which then move
    /// to the end of the session's order.
    ///
    /// Errors: INVALID_FETCH_SESSION_EPOCH when another fetch of the session began meanwhile
    /// (the client sent two at once).
    pub fn complete(
        &self,
        context: &FetchContext,
        results: &[(SentState, bool)],
    ) -> Result<Vec<bool>, ResponseError> {
        if context.session_id == 0 {
            return Ok(vec![true; results.len()]);
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let Some(session) = sessions.get_mut(&context.session_id) else {
            // Evicted meanwhile: the response still answers this fetch in full.
            return if context.incremental {
                Err(ResponseError::FetchSessionIdNotFound)
            } else {
                Ok(vec![true; results.len()])
            };
        };
        if session.next_epoch != context.epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        let mut include = Vec::with_capacity(results.len());
        let mut moved = false;
        for (target, (sent, has_news)) in context.targets.iter().zip(results) {
            let cached = session
                .index
                .get(&target.key())
                .and_then(|&i| session.partitions.get_mut(i));
            let respond = match cached {
                Some(cached) => {
                    let changed = cached.sent != Some(*sent);
                    cached.sent = Some(*sent);
                    *has_news || changed
                }
                None => true,
            };
            moved |= respond;
            include.push(respond);
        }
        if context.incremental && moved {
            // Partitions answered go to the end, in their order (Kafka's round robin).
            let answered: HashSet<PartitionKey> = context
                .targets
                .iter()
                .zip(&include)
                .filter(|(_, respond)| **respond)
                .map(|(t, _)| t.key())
                .collect();
            let (mut kept, answered): (Vec<_>, Vec<_>) = std::mem::take(&mut session.partitions)
                .into_iter()
                .partition(|p| !answered.contains(&p.target.key()));
            kept.extend(answered);
            session.partitions = kept;
            session.reindex();
        }
        if !context.incremental {
            include.iter_mut().for_each(|i| *i = true);
        }
        Ok(include)
    }
}

/// Makes room for a new session of `size` partitions (Kafka's `tryEvict`): evicts the least
/// recently used session if unused for [`EVICTION_AGE`], else the smallest session (lowest id
/// among equals) created more than [`EVICTION_AGE`] ago if it is smaller than `size`. Returns
/// whether one was evicted. Linear in the number of sessions; runs only when the cache is
/// full.
fn try_evict(sessions: &mut HashMap<i32, FetchSession>, size: usize, now: Instant) -> bool {
    let stale = sessions
        .iter()
        .min_by_key(|(id, s)| (s.last_used, **id))
        .filter(|(_, s)| now.saturating_duration_since(s.last_used) > EVICTION_AGE)
        .map(|(id, _)| *id);
    let victim = stale.or_else(|| {
        sessions
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.created) > EVICTION_AGE)
            .min_by_key(|(id, s)| (s.size(), **id))
            .filter(|(_, s)| size > s.size())
            .map(|(id, _)| *id)
    });
    match victim {
        Some(id) => {
            sessions.remove(&id);
            tracing::debug!(session_id = id, "evicted a fetch session");
            true
        }
        None => false,
    }
}

/// A random positive session id not in use (Kafka's `newSessionId`).
fn new_session_id(sessions: &HashMap<i32, FetchSession>) -> i32 {
    loop {
        let bytes = josefine_storage::random_uuid().into_bytes();
        let id = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & i32::MAX;
        if id != 0 && !sessions.contains_key(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(partition: i32, offset: i64) -> FetchTarget {
        FetchTarget {
            topic: Arc::from("t"),
            topic_id: Uuid::nil(),
            partition,
            fetch_offset: offset,
            partition_max_bytes: 1024,
            current_leader_epoch: -1,
        }
    }

    fn key(partition: i32) -> PartitionKey {
        target(partition, 0).key()
    }

    fn sent(high_watermark: i64) -> SentState {
        SentState {
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset: 0,
        }
    }

    fn partitions(context: &FetchContext) -> Vec<(i32, i64)> {
        context
            .targets
            .iter()
            .map(|t| (t.partition, t.fetch_offset))
            .collect()
    }

    #[test]
    fn session_lifecycle() -> Result<(), ResponseError> {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let full = cache.begin(0, INITIAL_EPOCH, vec![target(0, 0), target(1, 0)], &[], now)?;
        assert!(full.session_id > 0 && !full.incremental);
        assert_eq!(
            cache.complete(&full, &[(sent(5), true), (sent(5), false)])?,
            vec![true, true]
        );
        let id = full.session_id;
        // Incremental: only partition 0 moves; partition 1 stays in the session.
        let inc = cache.begin(id, 1, vec![target(0, 5)], &[], now)?;
        assert!(inc.incremental);
        assert_eq!(partitions(&inc), vec![(0, 5), (1, 0)]);
        assert_eq!(
            cache.complete(&inc, &[(sent(5), false), (sent(5), false)])?,
            vec![false, false]
        );
        assert_eq!(
            cache.begin(id, 1, vec![], &[], now).err(),
            Some(ResponseError::InvalidFetchSessionEpoch)
        );
        let forgot = cache.begin(id, 2, vec![], &[key(1)], now)?;
        assert_eq!(partitions(&forgot), vec![(0, 5)]);
        assert_eq!(
            cache.begin(999, 1, vec![], &[], now).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        let closed = cache.begin(id, FINAL_EPOCH, vec![target(0, 0)], &[], now)?;
        assert_eq!(closed.session_id, 0);
        assert_eq!(
            cache.begin(id, 3, vec![], &[], now).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        Ok(())
    }

    #[test]
    fn incremental_fetches_add_alter_and_remove_partitions() -> Result<(), ResponseError> {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let full = cache.begin(0, INITIAL_EPOCH, vec![target(0, 0), target(1, 0)], &[], now)?;
        cache.complete(&full, &[(sent(0), false), (sent(0), false)])?;
        let id = full.session_id;
        // Add 2, alter 0's offset, forget 1, in one request.
        let inc = cache.begin(id, 1, vec![target(2, 7), target(0, 3)], &[key(1)], now)?;
        assert_eq!(partitions(&inc), vec![(0, 3), (2, 7)]);
        // The new partition is answered (nothing was sent of it yet); 0 is unchanged.
        assert_eq!(
            cache.complete(&inc, &[(sent(0), false), (sent(9), false)])?,
            vec![false, true]
        );
        // A duplicate partition in one request is one session entry.
        let inc = cache.begin(id, 2, vec![target(3, 1), target(3, 2)], &[], now)?;
        assert_eq!(partitions(&inc), vec![(0, 3), (2, 7), (3, 2)]);
        cache.complete(
            &inc,
            &[(sent(0), false), (sent(9), false), (sent(1), false)],
        )?;
        // Forgetting every partition closes the session.
        let last = cache.begin(id, 3, vec![], &[key(0), key(2), key(3)], now)?;
        assert_eq!(last.session_id, 0);
        assert!(last.targets.is_empty());
        assert_eq!(cache.len(), 0);
        Ok(())
    }

    #[test]
    fn answered_partitions_move_to_the_end() -> Result<(), ResponseError> {
        let cache = FetchSessionCache::new(10);
        let now = Instant::now();
        let targets: Vec<_> = (0..4).map(|p| target(p, 0)).collect();
        let full = cache.begin(0, INITIAL_EPOCH, targets, &[], now)?;
        cache.complete(&full, &[(sent(0), false); 4])?;
        let inc = cache.begin(full.session_id, 1, vec![], &[], now)?;
        // Partitions 0 and 2 have records.
        let include = cache.complete(
            &inc,
            &[
                (sent(1), true),
                (sent(0), false),
                (sent(1), true),
                (sent(0), false),
            ],
        )?;
        assert_eq!(include, vec![true, false, true, false]);
        let inc = cache.begin(full.session_id, 2, vec![], &[], now)?;
        assert_eq!(partitions(&inc), vec![(1, 0), (3, 0), (0, 0), (2, 0)]);
        // A response computed for an epoch that has moved on is refused.
        let _next = cache.begin(full.session_id, 3, vec![], &[], now)?;
        assert_eq!(
            cache.complete(&inc, &[(sent(0), false); 4]).err(),
            Some(ResponseError::InvalidFetchSessionEpoch)
        );
        Ok(())
    }

    #[test]
    fn a_full_cache_evicts_as_kafka_does() -> Result<(), ResponseError> {
        let cache = FetchSessionCache::new(2);
        let start = Instant::now();
        let small = cache.begin(0, INITIAL_EPOCH, vec![target(0, 0)], &[], start)?;
        let large = cache.begin(
            0,
            INITIAL_EPOCH,
            (0..3).map(|p| target(p, 0)).collect(),
            &[],
            start,
        )?;
        assert!(small.session_id > 0 && large.session_id > 0);
        // Full, nothing stale or old: a new session is refused (answered without one).
        let refused = cache.begin(
            0,
            INITIAL_EPOCH,
            (0..5).map(|p| target(p, 0)).collect(),
            &[],
            start,
        )?;
        assert_eq!(refused.session_id, 0);
        assert_eq!(cache.len(), 2);
        // Past the eviction age both are old; keep `large` in use so only `small` is stale.
        let later = start + EVICTION_AGE + Duration::from_secs(1);
        cache.begin(large.session_id, 1, vec![], &[], later)?;
        let evicts_stale = cache.begin(0, INITIAL_EPOCH, vec![target(9, 0)], &[], later)?;
        assert!(evicts_stale.session_id > 0);
        assert_eq!(
            cache.begin(small.session_id, 1, vec![], &[], later).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        // No stale session now: a new one may evict the smallest old session only if larger.
        let same_size = cache.begin(0, INITIAL_EPOCH, vec![target(8, 0)], &[], later)?;
        assert_eq!(
            same_size.session_id, 0,
            "only the larger session is old, and it is larger"
        );
        let much_later = later + EVICTION_AGE + Duration::from_secs(1);
        // Both sessions in use, both old: large (3) stays, the 1-partition one goes for 2.
        cache.begin(large.session_id, 2, vec![], &[], much_later)?;
        cache.begin(evicts_stale.session_id, 1, vec![], &[], much_later)?;
        let one = cache.begin(0, INITIAL_EPOCH, vec![target(7, 0)], &[], much_later)?;
        assert_eq!(one.session_id, 0, "an equal size does not evict");
        let two = cache.begin(
            0,
            INITIAL_EPOCH,
            vec![target(5, 0), target(6, 0)],
            &[],
            much_later,
        )?;
        assert!(two.session_id > 0);
        assert_eq!(
            cache
                .begin(evicts_stale.session_id, 2, vec![], &[], much_later)
                .err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        assert!(cache
            .begin(large.session_id, 3, vec![], &[], much_later)
            .is_ok());
        Ok(())
    }

    #[test]
    fn ten_thousand_partitions_in_linear_time() -> Result<(), ResponseError> {
        let cache = FetchSessionCache::new(1);
        let now = Instant::now();
        let n = 10_000;
        let targets: Vec<_> = (0..n).map(|p| target(p, 0)).collect();
        let full = cache.begin(0, INITIAL_EPOCH, targets.clone(), &[], now)?;
        cache.complete(&full, &vec![(sent(0), false); n as usize])?;
        // Every partition altered and half forgotten in one incremental fetch.
        let forgotten: Vec<_> = (0..n).step_by(2).map(key).collect();
        let inc = cache.begin(full.session_id, 1, targets, &forgotten, now)?;
        assert_eq!(inc.targets.len(), (n / 2) as usize);
        let include = cache.complete(&inc, &vec![(sent(1), false); (n / 2) as usize])?;
        assert!(include.iter().all(|i| *i));
        Ok(())
    }
}
