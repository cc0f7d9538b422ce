//! The append path: validation, producer state checks, offset assignment, the copy into the
//! active segment and segment rolls.
//!
//! References: Kafka's `UnifiedLog.append` and `LogValidator`; KIP-98 (idempotence).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{AppendWaiter, LogConfig, PartitionLog, TimestampType, Writer};
use crate::batch::{self, Batch, BatchError, BatchHeader, Batches, Check, RecordInfo};
use crate::error::{RejectedRecords, Result, StorageError};
use crate::producer_state::{self, Admission, AppendOrigin, ProducerEntry, ProducerState};
use crate::segment::Segment;
use crate::time::{duration_ms, now_ms};
use crate::topic_partition::TopicPartition;

/// What one append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker time stamped into the batches for `LogAppendTime` topics, else `None`.
    pub log_append_time: Option<i64>,
    /// Records appended; 0 for a duplicate.
    pub record_count: u64,
    /// The batch was a producer's retry of one already in the log (same producer id, epoch
    /// and sequence numbers): nothing was written and the offsets are the original batch's.
    pub duplicate: bool,
}

impl PartitionLog {
    /// Validates every batch in `records` (see [`batch::validate_batch`]; compressed batches
    /// are decompressed for it) and every record against the topic's rules (keys for
    /// compacted topics, CreateTime range), then assigns them
    /// consecutive offsets from the log end offset, stamps `leader_epoch`, copies them into the
    /// active segment once, updates the indexes and publishes the new log end offset. Nothing is
    /// written when any batch is invalid.
    ///
    /// Errors: `CorruptBatch` (CORRUPT_MESSAGE), `InvalidRecord` (INVALID_RECORD),
    /// `RecordsRejected` (INVALID_RECORD or INVALID_TIMESTAMP with per-record errors, KIP-467),
    /// `MessageTooLarge` (MESSAGE_TOO_LARGE), `InvalidTimestamp`, `Poisoned` after an I/O
    /// failure, `Io`.
    pub fn append(&self, records: &[u8], leader_epoch: i32) -> Result<AppendInfo> {
        self.append_from(records, leader_epoch, AppendOrigin::Client)
    }

    /// [`PartitionLog::append`] for batches from `origin`. Batches with a producer id are
    /// checked against the producer state first (KIP-98): a retry of one of the producer's
    /// last five batches is not written again and answered with its original offsets; a gap
    /// in the sequence, an old epoch or a non-transactional batch during the producer's
    /// transaction fails the append. Coordinators' batches skip the sequence check. Control
    /// batches are refused: markers come from [`PartitionLog::append_marker`] only.
    ///
    /// Errors: those of `append`, and `Producer` for the producer state checks.
    pub fn append_from(
        &self,
        records: &[u8],
        leader_epoch: i32,
        origin: AppendOrigin,
    ) -> Result<AppendInfo> {
        // Only an inline-only append stops short of writing; this one never answers `None`.
        self.append_checked(records, leader_epoch, origin, false)?
            .ok_or(StorageError::Closed {
                dir: self.dir.clone(),
            })
    }

    /// [`PartitionLog::append`] when it is a copy into the mapping; `Ok(None)`, having written
    /// nothing, when it would block on the disk: roll a segment (seal the old one, create and
    /// preallocate the new one, write a producer state snapshot, then fsync everything below
    /// the new one) or fsync for `flush.messages`. The broker appends inline with this and moves the appends it refuses
    /// to its blocking pool. The decision is taken under the append lock, so it is exact.
    ///
    /// Errors: those of [`PartitionLog::append`].
    pub fn try_append_inline(
        &self,
        records: &[u8],
        leader_epoch: i32,
    ) -> Result<Option<AppendInfo>> {
        self.append_checked(records, leader_epoch, AppendOrigin::Client, true)
    }

    fn append_checked(
        &self,
        records: &[u8],
        leader_epoch: i32,
        origin: AppendOrigin,
        inline_only: bool,
    ) -> Result<Option<AppendInfo>> {
        let config = self.config();
        let now = now_ms();
        // Validate everything before touching the log (no allocation: the write pass below
        // walks the same, now trusted, batch lengths).
        let mut batch_count = 0usize;
        // Whether any batch has a producer id: only then is the producer state consulted.
        let mut idempotent = false;
        let mut record_count = 0u64;
        let rules = RecordRules::new(&config, now);
        let mut batches = Batches::checked(records, Check::Crc);
        for checked in batches.by_ref() {
            let Batch {
                position, header, ..
            } = checked;
            let size = checked.bytes.len();
            if size > config.max_message_bytes {
                return Err(StorageError::MessageTooLarge {
                    size,
                    max: config.max_message_bytes,
                });
            }
            let mut rejected = Vec::new();
            batch::check_client_records(&checked, |index, record| {
                if let Some(message) = rules.check(&header, &self.topic_partition, record) {
                    rejected.push((index, message));
                }
            })?;
            if !rejected.is_empty() {
                return Err(StorageError::RecordsRejected(RejectedRecords {
                    invalid_timestamp: rejected.iter().any(|(_, m)| m.is_timestamp()),
                    records: rejected.into_iter().map(|(i, m)| (i, m.text)).collect(),
                }));
            }
            if config.timestamp_type == TimestampType::CreateTime {
                // The header's timestamps go into the time index as they are.
                for timestamp in [header.base_timestamp(), header.max_timestamp()] {
                    if timestamp >= 0
                        && (now.saturating_sub(timestamp)
                            > duration_ms(config.timestamp_before_max)
                            || timestamp.saturating_sub(now)
                                > duration_ms(config.timestamp_after_max))
                    {
                        return Err(StorageError::InvalidTimestamp { timestamp });
                    }
                }
            }
            if header.is_control() {
                return Err(BatchError::ControlBatch { position }.into());
            }
            if header.is_transactional() && header.producer_id() < 0 {
                return Err(BatchError::TransactionalWithoutProducerId { position }.into());
            }
            if origin == AppendOrigin::Client
                && header.producer_id() >= 0
                && header.base_sequence() < 0
            {
                return Err(BatchError::InvalidSequence {
                    position,
                    producer_id: header.producer_id(),
                    base_sequence: header.base_sequence(),
                }
                .into());
            }
            record_count += header.records_count() as u64;
            batch_count += 1;
            idempotent |= header.producer_id() >= 0;
        }
        batches.finish()?;
        if batch_count == 0 {
            return Err(BatchError::NoBatch.into());
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);

        let mut writer = self.lock_writable()?;
        if inline_only && would_block(&writer, &config, records.len(), record_count, now) {
            return Ok(None);
        }
        let base_offset = self.log_end_offset();
        let touched = if idempotent {
            match check_producers(&writer.producers, records, base_offset, origin)? {
                Ok(touched) => touched,
                Err(original) => {
                    return Ok(Some(AppendInfo {
                        base_offset: original.first_offset,
                        last_offset: original.last_offset,
                        log_append_time: None,
                        record_count: 0,
                        duplicate: true,
                    }));
                }
            }
        } else {
            Vec::new()
        };
        let active_before = writer.active.base_offset();
        let next_offset = self.write_batches(
            &mut writer,
            &config,
            records,
            leader_epoch,
            log_append_time,
            now,
        )?;
        if writer.active.base_offset() != active_before {
            // Rolled: snapshot the state as of this append's first offset, from which a
            // recovery replays.
            if let Err(err) = self.write_snapshot(base_offset, &writer.producers) {
                tracing::warn!(dir = %self.dir.display(), %err, "cannot write a producer state snapshot");
            }
        }
        for entry in touched {
            writer.producers.put(entry);
        }
        let due = writer.roll_flush_due.take();
        self.publish(&mut writer, &config, next_offset, record_count)?;
        drop(writer);
        self.flush_rolled(due)?;
        Ok(Some(AppendInfo {
            base_offset,
            last_offset: next_offset - 1,
            log_append_time,
            record_count,
            duplicate: false,
        }))
    }

    /// Publishes the log end and last stable offsets after a write and applies the flush
    /// policy.
    pub(super) fn publish(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        next_offset: i64,
        record_count: u64,
    ) -> Result<()> {
        self.log_end_offset.store(next_offset, Ordering::Release);
        self.last_stable_offset.store(
            writer
                .producers
                .first_unstable_offset()
                .unwrap_or(next_offset),
            Ordering::Release,
        );
        writer.messages_since_flush += record_count;
        let flushed = if config
            .flush_messages
            .is_some_and(|n| writer.messages_since_flush >= n)
        {
            writer.messages_since_flush = 0;
            self.flush_up_to(next_offset)
        } else {
            Ok(())
        };
        // The offsets are published: parked fetches may answer, even if the flush failed.
        self.wake_waiters();
        flushed
    }

    /// Parks `waiter` until the next append or marker ([`AppendWaiter::wake`]). Registrations
    /// whose owner has let go of them (strong count 1) are dropped here, so the list stays
    /// as long as the fetches that wait.
    pub fn register_waiter(&self, waiter: &Arc<dyn AppendWaiter>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        waiters.retain(|w| Arc::strong_count(w) > 1);
        if !waiters.iter().any(|w| Arc::ptr_eq(w, waiter)) {
            waiters.push(Arc::clone(waiter));
        }
    }

    fn wake_waiters(&self) {
        // Draining keeps the list's allocation for the next waiters; waking never blocks.
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for waiter in waiters.drain(..) {
            waiter.wake();
        }
    }

    /// Copies validated `records` into the active segment (rolling as needed) from the log
    /// end offset on; returns the next offset. Publishes nothing.
    ///
    /// A failure after some batches were written (a full disk at the second batch) must not
    /// leave them behind the log end offset: the next append would write the same offsets
    /// again after them, and a read by offset would find the stale batch first. Written into
    /// the segment that was active, they are cut off again; after a roll they cannot be, and
    /// the log is poisoned (appends refused until a restart recovers it), as Kafka takes a
    /// log dir offline after an I/O error in an append.
    pub(super) fn write_batches(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        records: &[u8],
        leader_epoch: i32,
        log_append_time: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let start_segment = Arc::clone(&writer.active);
        let start_size = start_segment.size();
        let start = start_segment.append_mark()?;
        let start_bytes_since_index_entry = writer.bytes_since_index_entry;
        let mut write_all = || -> Result<i64> {
            let mut next_offset = self.log_end_offset();
            for Batch { header, bytes, .. } in Batches::new(records) {
                #[cfg(test)]
                if tests::batch_write_fails() {
                    return Err(StorageError::Io {
                        path: self.dir.clone(),
                        source: std::io::Error::other("injected write failure"),
                    });
                }
                let size = bytes.len();
                let records_in_batch = i64::from(header.last_offset_delta()) + 1;
                self.maybe_roll(
                    writer,
                    config,
                    size,
                    next_offset,
                    next_offset + records_in_batch - 1,
                    now,
                )?;
                let segment = Arc::clone(&writer.active);
                let write_position = segment.size();
                let (last_offset, max_timestamp) = segment.write_batch(
                    write_position,
                    bytes,
                    next_offset,
                    leader_epoch,
                    log_append_time,
                )?;
                let due = writer.bytes_since_index_entry > config.index_interval_bytes;
                segment.index_batch(write_position, last_offset, max_timestamp, due)?;
                writer.bytes_since_index_entry = if due {
                    0
                } else {
                    writer.bytes_since_index_entry
                } + size;
                next_offset = last_offset + 1;
                segment.commit(write_position + size, next_offset);
            }
            Ok(next_offset)
        };
        let written = write_all();
        if written.is_err() && start_segment.size() != start_size {
            if Arc::ptr_eq(&start_segment, &writer.active) && !writer.active_sealed {
                start_segment.rewind(&start)?;
                writer.bytes_since_index_entry = start_bytes_since_index_entry;
                tracing::warn!(dir = %self.dir.display(), "append failed part way; its written batches were cut off");
            } else {
                self.poisoned.store(true, Ordering::Release);
                tracing::error!(dir = %self.dir.display(), "append failed part way across a roll; the log refuses appends until a restart recovers it");
            }
        }
        written
    }

    /// Rolls to a new segment when the batch would not fit, the relative offsets would
    /// overflow, an index is full, or the segment is older than `segment.ms`.
    pub(super) fn maybe_roll(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        size: usize,
        base_offset: i64,
        last_offset: i64,
        now: i64,
    ) -> Result<()> {
        if writer.active_sealed {
            return self.roll(writer, config, base_offset, size, now, false);
        }
        let active = &writer.active;
        let used = active.size();
        let empty = used == 0;
        let fits = used + size <= active.capacity();
        let offsets_fit = last_offset - active.base_offset() <= i64::from(i32::MAX);
        let young = now.saturating_sub(active.created_ms()) < duration_ms(config.segment_ms);
        if empty && !fits {
            // A batch larger than segment.bytes gets a segment of its own size, as in Kafka.
            return self.roll(writer, config, base_offset, size, now, true);
        }
        if fits && offsets_fit && !active.index_full() && (young || empty) {
            return Ok(());
        }
        self.roll(writer, config, base_offset, size, now, false)
    }

    pub(super) fn roll(
        &self,
        writer: &mut Writer,
        config: &LogConfig,
        base_offset: i64,
        size: usize,
        now: i64,
        replace_empty: bool,
    ) -> Result<()> {
        let old = Arc::clone(&writer.active);
        if replace_empty {
            // The empty active segment is replaced by one large enough at the same base
            // offset: the same files, grown; the map entry is replaced below.
            drop(old);
        } else if !writer.active_sealed {
            // Seal (trim) before creating the next segment, so that after a crash every
            // segment but the last is trimmed to its contents.
            old.seal()?;
            writer.active_sealed = true;
        }
        let capacity = config.segment_bytes.max(size);
        let segment = Arc::new(Segment::create(
            &self.dir,
            base_offset,
            capacity,
            config.segment_index_bytes,
            now,
        )?);
        if let Ok(mut segments) = self.segments.write() {
            segments.insert(base_offset, Arc::clone(&segment));
        }
        // The new files' directory entries go to disk with the next flush, which the roll
        // makes due: everything below the new segment (`flush_rolled`, after the append).
        self.dir_unsynced.store(true, Ordering::Release);
        writer.roll_flush_due = Some(
            writer
                .roll_flush_due
                .map_or(base_offset, |d| d.max(base_offset)),
        );
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled segment");
        writer.active = segment;
        writer.active_sealed = false;
        writer.bytes_since_index_entry = 0;
        Ok(())
    }
}

/// Checks every batch of `records` against the producer state, predicting the offsets the
/// writes will assign from `base_offset`. Returns the updated copies of the entries touched
/// (the state itself is left as it was, so a refusal changes nothing), or `Err` with the batch
/// that the append retries (KIP-98 duplicate).
///
/// Errors: `Producer` for a gap, an old epoch or a transaction rule.
fn check_producers(
    producers: &ProducerState,
    records: &[u8],
    base_offset: i64,
    origin: AppendOrigin,
) -> Result<Result<Vec<ProducerEntry>, producer_state::BatchMetadata>> {
    let mut touched: Vec<ProducerEntry> = Vec::new();
    let mut next_offset = base_offset;
    for Batch { header, .. } in Batches::new(records) {
        let last_offset = next_offset + i64::from(header.last_offset_delta());
        next_offset = last_offset + 1;
        if header.producer_id() < 0 {
            continue;
        }
        let index = match touched
            .iter()
            .position(|e| e.producer_id == header.producer_id())
        {
            Some(index) => index,
            None => {
                touched.push(producers.entry_or_new(header.producer_id()));
                touched.len() - 1
            }
        };
        let Some(entry) = touched.get_mut(index) else {
            break;
        };
        match producer_state::check_batch(entry, &header, origin)? {
            Admission::Duplicate(original) => return Ok(Err(original)),
            Admission::Append => producer_state::record_batch(
                entry,
                &header,
                last_offset - i64::from(header.last_offset_delta()),
                last_offset,
            ),
        }
    }
    Ok(Ok(touched))
}

/// The rules of Kafka's `LogValidator` that apply to single records of a client's batch: a
/// compacted log keeps records by key, so one without a key is refused; a CreateTime must lie
/// within `message.timestamp.before.max.ms` / `after.max.ms` of the broker's clock (KIP-937);
/// a producer may not set LogAppendTime.
struct RecordRules {
    compacted: bool,
    create_time: bool,
    /// `[now - before.max, now + after.max]`, when either bound is not the default
    /// `Long.MAX_VALUE` (with the defaults no timestamp can fall outside).
    window: Option<(i64, i64)>,
}

/// Why one record is refused: Kafka's message, and whether it is about a timestamp.
struct Rejection {
    text: String,
    timestamp: bool,
}

impl Rejection {
    fn is_timestamp(&self) -> bool {
        self.timestamp
    }
}

impl RecordRules {
    fn new(config: &LogConfig, now: i64) -> Self {
        let create_time = config.timestamp_type == TimestampType::CreateTime;
        let (before, after) = (
            duration_ms(config.timestamp_before_max),
            duration_ms(config.timestamp_after_max),
        );
        Self {
            compacted: config.cleanup_compact,
            create_time,
            window: (create_time && (before != i64::MAX || after != i64::MAX))
                .then(|| (now.saturating_sub(before), now.saturating_add(after))),
        }
    }

    /// Kafka's message for `record` of the batch `header` heads when it breaks a rule.
    fn check(
        &self,
        header: &BatchHeader<'_>,
        topic_partition: &TopicPartition,
        record: &RecordInfo<'_>,
    ) -> Option<Rejection> {
        if self.compacted && record.key.is_none() {
            return Some(Rejection {
                text: format!(
                    "Compacted topic cannot accept message without key in topic partition {topic_partition}"
                ),
                timestamp: false,
            });
        }
        let timestamp = header
            .base_timestamp()
            .saturating_add(record.timestamp_delta);
        if self.create_time && timestamp != -1 {
            let (earliest, latest) = self.window?;
            if timestamp < earliest || timestamp > latest {
                let offset = header.base_offset().saturating_add(record.offset_delta);
                return Some(Rejection {
                    text: format!(
                        "Timestamp {timestamp} of message with offset {offset} is out of range. \
                         The timestamp should be within [{earliest}, {latest}]"
                    ),
                    timestamp: true,
                });
            }
        } else if header.is_log_append_time() {
            let offset = header.base_offset().saturating_add(record.offset_delta);
            let bytes = |field: Option<&[u8]>| field.map_or(0, <[u8]>::len);
            return Some(Rejection {
                text: format!(
                    "Invalid timestamp type in message DefaultRecord(offset={offset}, \
                     timestamp={timestamp}, key={} bytes, value={} bytes). Producer should not \
                     set timestamp type to LogAppendTime.",
                    bytes(record.key),
                    bytes(record.value)
                ),
                timestamp: true,
            });
        }
        None
    }
}

/// Whether appending `size` bytes holding `records` records to the log whose append lock
/// `writer` is would block on the disk: roll a segment (the active one is sealed, full, its
/// index full, or older than `segment.ms`) or fsync for `flush.messages`.
fn would_block(writer: &Writer, config: &LogConfig, size: usize, records: u64, now: i64) -> bool {
    let active = &writer.active;
    let young = now.saturating_sub(active.created_ms()) < duration_ms(config.segment_ms);
    writer.active_sealed
        // A roll whose flush is still due (its append failed after rolling): the next append
        // takes that flush over.
        || writer.roll_flush_due.is_some()
        || active.size() + size > active.capacity()
        || active.index_full()
        || (!young && active.size() > 0)
        || config
            .flush_messages
            .is_some_and(|n| writer.messages_since_flush + records >= n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::cell::Cell;

    use crate::batch::{build_batch, Batches};
    use crate::{LogConfig, LogDir, PartitionLog, TopicPartition};

    thread_local! {
        /// Batch writes on this thread before one fails; `None`: none fails.
        static FAIL_AT_BATCH: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Whether the batch write about to happen fails (counting down [`FAIL_AT_BATCH`]).
    pub(super) fn batch_write_fails() -> bool {
        FAIL_AT_BATCH.with(|f| match f.get() {
            Some(0) => {
                f.set(None);
                true
            }
            Some(n) => {
                f.set(Some(n - 1));
                false
            }
            None => false,
        })
    }

    fn two_batches(value_len: usize) -> Vec<u8> {
        let value = vec![b'v'; value_len];
        let mut records = build_batch(&[(1, None, Some(&value)), (2, None, Some(&value))]);
        records.extend(build_batch(&[(3, None, Some(&value))]));
        records
    }

    #[test]
    fn an_append_failing_at_its_second_batch_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = LogDir::open(dir.path()).unwrap();
        let config = LogConfig {
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), config, true).unwrap();
        log.append(&two_batches(10), 0).unwrap();
        FAIL_AT_BATCH.with(|f| f.set(Some(1)));
        assert!(log.append(&two_batches(5000), 0).is_err());
        assert_eq!(log.log_end_offset(), 3);
        // Different sizes: a stale batch or index entry would show at offset 3.
        log.append(&two_batches(7), 0).unwrap();
        assert_eq!(log.log_end_offset(), 6);
        for offset in 0..6 {
            let bytes = log.read(offset, 1 << 20, true).unwrap();
            let first = Batches::new(&bytes).next().unwrap();
            assert!(first.header.base_offset() <= offset, "offset {offset}");
            assert!(first.header.last_offset() >= offset, "offset {offset}");
            let expected_len = if offset < 3 { 10 } else { 7 };
            assert!(
                first.bytes.len() < 200
                    && first
                        .bytes
                        .windows(expected_len)
                        .any(|w| w.iter().all(|b| *b == b'v')),
                "offset {offset} reads a batch of {} bytes",
                first.bytes.len()
            );
        }
    }
}
