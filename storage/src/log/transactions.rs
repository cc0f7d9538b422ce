//! Transactions in the log: markers (control batches) that end a producer's transaction,
//! and the aborted transaction index (`.txnindex`, in memory in `PartitionLog::aborted`)
//! that read_committed fetches use to skip aborted records.
//!
//! References: KIP-98; Kafka's `TransactionIndex`.

use std::sync::atomic::Ordering;

use super::{PartitionLog, TimestampType};
use crate::batch::{self, ControlType, RecordIter};
use crate::error::{Result, StorageError};
use crate::producer_state::{self, AbortedTransaction};
use crate::segment::file_name;
use crate::segment::files::TXN_INDEX_SUFFIX;
use crate::time::now_ms;

/// The coordinator epoch in a control batch's record value (version i16, epoch i32).
pub(super) fn control_coordinator_epoch(batch: &[u8]) -> i32 {
    batch::records_section(batch)
        .ok()
        .and_then(|section| {
            RecordIter::new(&section)
                .next()
                .and_then(|r| r.ok())
                .and_then(|r| r.value)
                .and_then(|v| (v.len() >= 6).then(|| batch::be_i32(v, 2)))
        })
        .unwrap_or(-1)
}

impl PartitionLog {
    /// Aborted transactions whose records may lie in `from..upper` (marker at or after
    /// `from`, first offset before `upper`), for a read_committed fetch to skip.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTransaction> {
        let Ok(aborted) = self.aborted.read() else {
            return Vec::new();
        };
        let start = aborted.partition_point(|a| a.last_offset < from);
        aborted
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|a| a.first_offset < upper)
            .copied()
            .collect()
    }

    /// Appends an aborted transaction to the `.txnindex` of segment `base`; the next flush
    /// that covers the segment fsyncs it (and the directory, for a new file).
    pub(super) fn write_txn_index(&self, base: i64, entry: &AbortedTransaction) -> Result<()> {
        use std::io::Write;
        let path = self.dir.join(file_name(base, TXN_INDEX_SUFFIX));
        if !path.exists() {
            self.dir_unsynced.store(true, Ordering::Release);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&entry.encode()))
            .map_err(StorageError::io(&path))?;
        self.unsynced_txn_indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(base);
        Ok(())
    }

    /// A fault hook for tests: the next `count` transaction markers fail with an I/O error
    /// (as on EIO or a full disk) and write nothing; `u32::MAX` fails them until the hook is
    /// set again, 0 clears it. Tests use it to check that a transaction coordinator retries
    /// its markers; it is no configuration.
    #[doc(hidden)]
    pub fn inject_marker_failures(&self, count: u32) {
        self.marker_faults.store(count, Ordering::Release);
    }

    /// Writes a transaction marker (KIP-98) for `producer_id`: a control batch that commits or
    /// aborts its open transaction in this partition, moving the last stable offset on. An
    /// abort is recorded in the `.txnindex` of the active segment. Returns the marker's offset.
    ///
    /// Errors: `Producer` (INVALID_PRODUCER_EPOCH) when `producer_epoch` is older than the
    /// producer's; `Closed`, `Poisoned`, `Io`.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        control: ControlType,
        coordinator_epoch: i32,
    ) -> Result<i64> {
        let config = self.config();
        let now = now_ms();
        let marker = batch::build_control_batch(
            producer_id,
            producer_epoch,
            control,
            coordinator_epoch,
            now,
        );
        let mut writer = self.lock_writable()?;
        if self
            .marker_faults
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StorageError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other("injected transaction marker failure (EIO)"),
            });
        }
        if let Some(entry) = writer.producers.get(producer_id) {
            if producer_epoch < entry.producer_epoch {
                return Err(StorageError::Producer(
                    producer_state::ProducerStateError::InvalidProducerEpoch {
                        producer_id,
                        epoch: producer_epoch,
                        current: entry.producer_epoch,
                    },
                ));
            }
        }
        let offset = self.log_end_offset();
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let next_offset =
            self.write_batches(&mut writer, &config, &marker, 0, log_append_time, now)?;
        let first = writer.producers.complete_transaction(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            now,
        );
        if let (ControlType::Abort, Some(first_offset)) = (control, first) {
            let entry = AbortedTransaction {
                producer_id,
                first_offset,
                last_offset: offset,
                last_stable_offset: writer
                    .producers
                    .first_unstable_offset()
                    .unwrap_or(next_offset),
            };
            if let Ok(mut aborted) = self.aborted.write() {
                aborted.push(entry);
            }
            self.write_txn_index(writer.active.base_offset(), &entry)?;
        }
        let due = writer.roll_flush_due.take();
        self.publish(&mut writer, &config, next_offset, 1)?;
        drop(writer);
        self.flush_rolled(due)?;
        Ok(offset)
    }
}
