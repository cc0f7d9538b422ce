//! Producer state snapshots (`<offset>.snapshot`) and the replay that rebuilds the producer
//! state and the aborted transaction index at open.
//!
//! References: KIP-98; Kafka's `ProducerStateManager` and `LogLoader`.

use std::sync::atomic::Ordering;

use super::transactions::control_coordinator_epoch;
use super::PartitionLog;
use crate::batch::{self, Batch, Batches, ControlType};
use crate::durable::write_atomically;
use crate::error::{Result, StorageError};
use crate::producer_state::{self, AbortedTransaction, ProducerState};
use crate::segment::file_name;
use crate::segment::files::TXN_INDEX_SUFFIX;

/// Suffix of Kafka's producer state snapshots, named by the offset they describe the state at.
const SNAPSHOT_SUFFIX: &str = ".snapshot";

impl PartitionLog {
    /// Restores the producer state: the newest readable snapshot at or below the log end
    /// offset, then every batch after it replayed (none after a clean shutdown, which
    /// snapshots at the log end). Aborted transactions come from the `.txnindex` files, those
    /// after the snapshot from the replay.
    pub(super) fn load_producer_state(&self) -> Result<()> {
        let log_end_offset = self.log_end_offset();
        let mut snapshots = self.snapshot_offsets()?;
        let mut state = None;
        while let Some(offset) = snapshots.pop() {
            let path = self.dir.join(file_name(offset, SNAPSHOT_SUFFIX));
            if offset > log_end_offset {
                // Written before a crash cut the log shorter: it describes records now gone.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| ProducerState::decode_snapshot(&bytes).map_err(|e| e.to_string()))
            {
                Ok(loaded) => {
                    state = Some((offset, loaded));
                    break;
                }
                Err(reason) => {
                    tracing::warn!(snapshot = %path.display(), %reason, "ignoring an unreadable producer state snapshot");
                }
            }
        }
        let (from, mut producers) =
            state.unwrap_or((self.log_start_offset(), ProducerState::default()));
        // A snapshot older than the log start describes records since deleted: replay what
        // is left.
        let from = from.max(self.log_start_offset());
        let mut aborted = Vec::new();
        for base in self.segment_bases() {
            let path = self.dir.join(file_name(base, TXN_INDEX_SUFFIX));
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let entries = AbortedTransaction::decode_all(&bytes);
            let kept: Vec<_> = entries
                .iter()
                .filter(|e| e.last_offset < from)
                .copied()
                .collect();
            if kept.len() != entries.len() || bytes.len() % producer_state::TXN_INDEX_ENTRY != 0 {
                // The replay below writes these entries again. A new file renamed over the
                // old one: a crash now leaves either, never a file cut short.
                let bytes: Vec<u8> = kept.iter().flat_map(|e| e.encode()).collect();
                write_atomically(&path, &bytes).map_err(StorageError::io(&path))?;
            }
            aborted.extend(kept);
        }
        let mut offset = from;
        let mut replayed = 0u64;
        while offset < log_end_offset {
            let chunk = self.read(offset, 1 << 20, true)?;
            if chunk.is_empty() {
                break;
            }
            let before = offset;
            let mut batches = Batches::new(&chunk);
            for Batch { header, bytes, .. } in batches.by_ref() {
                // Closed segments are trusted, and base offsets lie outside the CRC: a batch
                // going backwards would send the replay round in circles.
                if header.last_offset() < offset {
                    continue;
                }
                offset = header.last_offset().saturating_add(1);
                replayed += 1;
                if header.producer_id() < 0 {
                    continue;
                }
                if header.is_control() {
                    let first = producers.complete_transaction(
                        header.producer_id(),
                        header.producer_epoch(),
                        control_coordinator_epoch(bytes),
                        header.max_timestamp(),
                    );
                    if let (Some(ControlType::Abort), Some(first)) =
                        (batch::control_type(bytes), first)
                    {
                        let entry = AbortedTransaction {
                            producer_id: header.producer_id(),
                            first_offset: first,
                            last_offset: header.base_offset(),
                            last_stable_offset: producers
                                .first_unstable_offset()
                                .unwrap_or(header.base_offset() + 1),
                        };
                        self.write_txn_index(self.segment_base_of(header.base_offset()), &entry)?;
                        aborted.push(entry);
                    }
                } else {
                    let mut entry = producers.entry_or_new(header.producer_id());
                    producer_state::record_batch(
                        &mut entry,
                        &header,
                        header.base_offset(),
                        header.last_offset(),
                    );
                    producers.put(entry);
                }
            }
            if batches.position() == 0 || offset == before {
                break;
            }
        }
        if replayed > 0 {
            tracing::info!(dir = %self.dir.display(), from, batches = replayed, "rebuilt producer state");
        }
        self.last_stable_offset.store(
            producers.first_unstable_offset().unwrap_or(log_end_offset),
            Ordering::Release,
        );
        if let Ok(mut a) = self.aborted.write() {
            *a = aborted;
        }
        self.lock_writer().producers = producers;
        Ok(())
    }

    /// Offsets of the producer state snapshots in the directory, ascending.
    pub(super) fn snapshot_offsets(&self) -> Result<Vec<i64>> {
        let mut offsets = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(StorageError::io(&self.dir))? {
            let entry = entry.map_err(StorageError::io(&self.dir))?;
            let name = entry.file_name();
            if let Some(offset) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX))
                .and_then(|n| n.parse::<i64>().ok())
            {
                offsets.push(offset);
            }
        }
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// Writes a producer state snapshot for `offset` atomically (temp file, fsync, rename,
    /// fsync of the directory: a crash leaves the old set of snapshots) and keeps only the two
    /// newest.
    pub(super) fn write_snapshot(&self, offset: i64, producers: &ProducerState) -> Result<()> {
        let path = self.dir.join(file_name(offset, SNAPSHOT_SUFFIX));
        write_atomically(&path, &producers.encode_snapshot()).map_err(StorageError::io(&path))?;
        let offsets = self.snapshot_offsets()?;
        for old in offsets.iter().take(offsets.len().saturating_sub(2)) {
            let _ = std::fs::remove_file(self.dir.join(file_name(*old, SNAPSHOT_SUFFIX)));
        }
        Ok(())
    }
}
