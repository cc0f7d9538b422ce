//! Josefine's storage: partition logs of memory-mapped segments in Apache Kafka's on-disk
//! layout.
//!
//! The flow: [`PartitionLog::append`] validates record batches (length, magic 2, CRC32C)
//! without decompressing them, stamps their base offset and leader epoch, and copies them once
//! into the active [`segment::Segment`]'s mapping; [`PartitionLog::read`] returns whole batches
//! as zero-copy [`bytes::Bytes`] views of that mapping. [`PartitionLog::open`] recovers a log
//! after a crash. Storage knows nothing of sockets or Kafka requests.
//!
//! ```
//! use josefine_storage::{batch, LogConfig, PartitionLog};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = PartitionLog::open(&dir.path().join("orders-0"), LogConfig::default(), true)?;
//! let appended = log.append(&batch::build_batch(&[(1_700_000_000_000, None, Some(b"hello"))]), 0)?;
//! assert_eq!(appended.base_offset, 0);
//! let bytes = log.read(0, 1 << 20, true)?;
//! assert_eq!(batch::BatchHeader::parse(&bytes).map(|h| h.records_count()), Some(1));
//! # Ok(()) }
//! ```
//!
//! The byte layout, fsync order and assumptions are in `storage/FORMAT.md`.

pub mod batch;
pub mod cleaner;
pub mod error;
pub mod log;
pub mod producer_state;
pub mod segment;
mod time;

pub use cleaner::CleanerStats;
pub use error::{Result, StorageError};
pub use log::{AppendInfo, LogConfig, PartitionLog, RetentionOutcome, TimestampType};
pub use producer_state::AppendOrigin;
pub use time::now_ms;
