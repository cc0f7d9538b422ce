//! Josefine's storage: partition logs of memory-mapped segments in Apache Kafka's on-disk
//! layout.
//!
//! The flow: [`PartitionLog::append`] validates record batches (length, magic 2, CRC32C)
//! without decompressing them, stamps their base offset and leader epoch, and copies them once
//! into the active [`segment::Segment`]'s mapping; [`PartitionLog::read`] returns whole batches
//! as zero-copy [`bytes::Bytes`] views of that mapping. [`PartitionLog::open`] recovers a log
//! after a crash. [`LogDir`] owns the log directory: its lock (which the mappings rely on),
//! `meta.properties`, the clean-shutdown marker and the checkpoint files. [`batch::Batches`]
//! walks the record batches of any byte range. Storage knows nothing of sockets or Kafka
//! requests.
//!
//! ```
//! use josefine_storage::{batch, LogConfig, LogDir, PartitionLog, TopicPartition};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log_dir = LogDir::open(dir.path())?; // takes the log dir's lock
//! let orders = TopicPartition::new("orders", 0);
//! let log = PartitionLog::open(&log_dir, &orders, LogConfig::default(), log_dir.had_clean_shutdown())?;
//! let appended = log.append(&batch::build_batch(&[(1_700_000_000_000, None, Some(b"hello"))]), 0)?;
//! assert_eq!(appended.base_offset, 0);
//! let bytes = log.read(0, 1 << 20, true)?;
//! assert_eq!(batch::BatchHeader::parse(&bytes).map(|h| h.records_count()), Some(1));
//! # Ok(()) }
//! ```
//!
//! The byte layout, fsync order and assumptions are in `storage/FORMAT.md`.
// `unsafe` lives in one module, `segment/mmap.rs`, which allows it and says why each block is
// sound; everywhere else it is an error.

pub mod batch;
pub mod cleaner;
mod durable;
pub mod error;
mod ids;
pub mod log;
pub mod log_dir;
pub mod producer_state;
pub mod segment;
mod time;
mod topic_partition;

pub use cleaner::CleanerStats;
#[cfg(feature = "power-loss")]
pub use durable::power_loss;
pub use durable::{sync_dir, write_atomically};
pub use error::{RejectedRecords, Result, StorageError};
pub use ids::{random_uuid, uuid_to_kafka_string};
pub use log::{
    AppendInfo, AppendWaiter, LogConfig, LogEvent, PartitionLog, RetentionOutcome, TimestampType,
};
pub use log_dir::{LogDir, LogDirError, MetaProperties, OffsetCheckpoint};
pub use producer_state::AppendOrigin;
pub use time::now_ms;
pub use topic_partition::TopicPartition;
