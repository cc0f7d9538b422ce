//! Replay of a whole log, record by record: how the coordinators rebuild their state from
//! `__consumer_offsets` and `__transaction_state` at start-up.
//!
//! References: Kafka's `GroupMetadataManager.loadGroupsAndOffsets` and
//! `TransactionStateManager.loadTransactionMetadata`, which walk their partitions the same way.

use super::PartitionLog;
use crate::batch::{self, Batch, Batches, ControlType, RecordIter};

/// What replaying a log meets, in offset order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEvent<'a> {
    /// A record with a key; `transaction` is the producer id of a transactional batch.
    Record {
        /// Producer id of the transaction the record belongs to, if any.
        transaction: Option<i64>,
        /// Key bytes.
        key: &'a [u8],
        /// Value bytes; `None` for a tombstone.
        value: Option<&'a [u8]>,
    },
    /// A transaction marker of `producer_id`.
    Marker {
        /// The producer whose transaction ends.
        producer_id: i64,
        /// COMMIT (true) or ABORT.
        commit: bool,
    },
}

/// Bytes read per step of the replay.
const REPLAY_READ_BYTES: usize = 1 << 20;

impl PartitionLog {
    /// Calls `f` for every keyed record and every transaction marker from the log start
    /// offset to the high watermark, in offset order. Records without a key are skipped;
    /// batches whose records do not decompress are skipped with a warning, and a record that
    /// does not parse ends its batch.
    ///
    /// ```
    /// use josefine_storage::log::LogEvent;
    /// use josefine_storage::{batch, LogConfig, LogDir, PartitionLog, TopicPartition};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let log_dir = LogDir::open(dir.path())?;
    /// let log = PartitionLog::open(&log_dir, &TopicPartition::new("t", 0), LogConfig::default(), true)?;
    /// log.append(&batch::build_batch(&[(1, Some(b"k"), Some(b"v")), (2, None, Some(b"x"))]), 0)?;
    /// let mut keys = Vec::new();
    /// log.replay(|event| {
    ///     if let LogEvent::Record { key, .. } = event {
    ///         keys.push(key.to_vec());
    ///     }
    /// });
    /// assert_eq!(keys, vec![b"k".to_vec()]);
    /// # Ok(()) }
    /// ```
    pub fn replay(&self, mut f: impl FnMut(LogEvent<'_>)) {
        let mut offset = self.log_start_offset();
        while offset < self.high_watermark() {
            let Ok(chunk) = self.read(offset, REPLAY_READ_BYTES, true) else {
                break;
            };
            let mut batches = Batches::new(&chunk);
            for Batch { header, bytes, .. } in batches.by_ref() {
                offset = header.last_offset() + 1;
                if header.is_control() {
                    if let Some(control) = batch::control_type(bytes) {
                        f(LogEvent::Marker {
                            producer_id: header.producer_id(),
                            commit: control == ControlType::Commit,
                        });
                    }
                    continue;
                }
                let section = match batch::records_section(bytes) {
                    Ok(section) => section,
                    Err(err) => {
                        tracing::warn!(dir = %self.dir.display(), offset, %err, "skipping an undecodable batch");
                        continue;
                    }
                };
                let transaction = header.is_transactional().then(|| header.producer_id());
                for record in RecordIter::new(&section).flatten() {
                    if let Some(key) = record.key {
                        f(LogEvent::Record {
                            transaction,
                            key,
                            value: record.value,
                        });
                    }
                }
            }
            if batches.position() == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::batch::{attributes, build_batch, build_batch_as, BatchProducer};
    use crate::{LogConfig, LogDir, TopicPartition};

    #[test]
    fn replay_yields_transactional_records_and_markers_in_order(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = LogDir::open(dir.path())?;
        let log = PartitionLog::open(
            &log_dir,
            &TopicPartition::new("__transaction_state", 0),
            LogConfig::default(),
            true,
        )?;
        log.append(&build_batch(&[(1, Some(b"a"), Some(b"1"))]), 0)?;
        let producer = BatchProducer {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
            attributes: attributes::TRANSACTIONAL,
        };
        log.append(&build_batch_as(&producer, &[(2, Some(b"b"), None)]), 0)?;
        log.append_marker(7, 0, ControlType::Abort, 0)?;
        let mut events = Vec::new();
        log.replay(|event| {
            events.push(match event {
                LogEvent::Record {
                    transaction,
                    key,
                    value,
                } => format!("{transaction:?} {key:?} {value:?}"),
                LogEvent::Marker {
                    producer_id,
                    commit,
                } => format!("marker {producer_id} {commit}"),
            })
        });
        assert_eq!(
            events,
            vec![
                format!("None {:?} Some({:?})", b"a", b"1"),
                format!("Some(7) {:?} None", b"b"),
                "marker 7 false".to_string(),
            ]
        );
        Ok(())
    }
}
