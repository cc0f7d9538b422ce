//! Producer ids (KIP-98): handed out in blocks persisted before use, so an id is never given
//! twice, even across restarts.
//!
//! The block file `josefine-producer-id-block` holds the end of the last block handed out. A
//! restart resumes there, but never below an id found in the logs: when the file is missing
//! or damaged (or behind, restored from an older backup), ids start above the highest producer
//! id in the partitions' producer states ([`ProducerIdAllocator::open`]) and in
//! `__transaction_state` ([`ProducerIdAllocator::raise_above`], called by the transaction
//! coordinator's replay), as Kafka's controller never hands out an id of a block it gave
//! before.
//!
//! References: KIP-98; KIP-730 (producer id blocks from the controller).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use josefine_storage::write_atomically;

use crate::metadata::topics::TopicRegistry;

/// Allocates producer ids in blocks persisted before use, so an id is never handed out twice,
/// even across restarts. The block file is written on the blocking pool; callers that need an
/// id meanwhile wait for it (they need that block), nobody else does.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    path: PathBuf,
    /// (next id, end of the persisted block): ids below the end may be handed out.
    state: Mutex<(i64, i64)>,
    /// Serialises the writes of new blocks.
    block_write: tokio::sync::Mutex<()>,
}

const PRODUCER_ID_BLOCK: i64 = 1000;
const BLOCK_FILE: &str = "josefine-producer-id-block";

impl ProducerIdAllocator {
    /// The allocator of the log dir `log_dir`, resuming after the last persisted block and
    /// above every producer id in the producer states of `topics`' partitions. A damaged
    /// block file is logged; ids then start above the logs' highest. Reads the producer states
    /// in memory (no disk access beyond the block file).
    pub fn open(log_dir: &Path, topics: &TopicRegistry) -> Self {
        let path = log_dir.join(BLOCK_FILE);
        let stored = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let parsed = text.trim().parse::<i64>().ok().filter(|n| *n >= 0);
                if parsed.is_none() {
                    tracing::warn!(path = %path.display(), "damaged producer id block file; producer ids resume above the highest in the logs");
                }
                parsed
            }
            Err(_) => None,
        };
        let highest = topics
            .all()
            .iter()
            .flat_map(|topic| topic.partitions())
            .flat_map(|partition| partition.log.producers())
            .map(|entry| entry.producer_id)
            .max()
            .unwrap_or(-1);
        let allocator = Self {
            path,
            state: Mutex::new((0, 0)),
            block_write: tokio::sync::Mutex::new(()),
        };
        if let Some(end) = stored {
            *allocator.lock() = (end, end);
        }
        allocator.raise_above(highest);
        allocator
    }

    fn lock(&self) -> MutexGuard<'_, (i64, i64)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure no id at or below `producer_id` (one found in a log) is handed out: the
    /// next id is above it, in a block persisted anew.
    pub fn raise_above(&self, producer_id: i64) {
        let mut state = self.lock();
        if state.0 <= producer_id {
            tracing::info!(
                producer_id,
                skipped_from = state.0,
                "producer ids resume above one found in the logs"
            );
            state.0 = producer_id.saturating_add(1);
            // Ids below the persisted end stay usable; past it a new block is persisted first.
            state.1 = state.1.max(state.0);
        }
    }

    /// The next producer id (KIP-98).
    ///
    /// Errors: the I/O error when the next block's file cannot be written.
    pub async fn allocate(&self) -> std::io::Result<i64> {
        loop {
            {
                let mut state = self.lock();
                if state.0 < state.1 {
                    let id = state.0;
                    state.0 += 1;
                    return Ok(id);
                }
            }
            let _writing = self.block_write.lock().await;
            let end = {
                let state = self.lock();
                if state.0 < state.1 {
                    // Another caller persisted a block meanwhile.
                    continue;
                }
                state.0 + PRODUCER_ID_BLOCK
            };
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || {
                write_atomically(&path, end.to_string().as_bytes())
            })
            .await
            .map_err(std::io::Error::other)??;
            let mut state = self.lock();
            state.1 = state.1.max(end);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use josefine_storage::batch::{build_batch_as, BatchProducer};
    use josefine_storage::{AppendOrigin, LogDir};

    use super::*;

    #[tokio::test]
    async fn ids_resume_after_the_block_and_above_the_logs_without_it(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log_dir = Arc::new(LogDir::open(dir.path())?);
        let topics = TopicRegistry::open(Arc::clone(&log_dir), BTreeMap::new(), true)?;
        let allocator = ProducerIdAllocator::open(dir.path(), &topics);
        assert_eq!(allocator.allocate().await?, 0);
        assert_eq!(allocator.allocate().await?, 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(BLOCK_FILE))?,
            "1000"
        );
        // A restart resumes after the persisted block.
        let allocator = ProducerIdAllocator::open(dir.path(), &topics);
        assert_eq!(allocator.allocate().await?, 1000);

        // A producer id in a log, then the block file lost or damaged.
        let topic = topics.create("orders", 1, BTreeMap::new())?;
        let producer = BatchProducer {
            producer_id: 4321,
            producer_epoch: 0,
            base_sequence: 0,
            attributes: 0,
        };
        let batch = build_batch_as(&producer, &[(1, None, Some(b"v".as_slice()))]);
        topic
            .partition(0)
            .unwrap()
            .append_from(&batch, AppendOrigin::Client)?;
        std::fs::remove_file(dir.path().join(BLOCK_FILE))?;
        let allocator = ProducerIdAllocator::open(dir.path(), &topics);
        assert_eq!(allocator.allocate().await?, 4322);
        std::fs::write(dir.path().join(BLOCK_FILE), "garbage")?;
        let allocator = ProducerIdAllocator::open(dir.path(), &topics);
        // Ids seen in __transaction_state raise it further.
        allocator.raise_above(9000);
        assert_eq!(allocator.allocate().await?, 9001);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(BLOCK_FILE))?,
            "10001"
        );
        allocator.raise_above(5);
        assert_eq!(allocator.allocate().await?, 9002);
        Ok(())
    }
}
