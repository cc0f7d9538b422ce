//! Errors of the storage layer.

use std::io;
use std::path::PathBuf;

use crate::batch::BatchError;

/// What went wrong in the log. The broker maps each variant onto a Kafka error code in one
/// place (`broker/src/error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The bytes of a record batch are damaged: short, torn, a bad length or CRC32C
    /// (Kafka: CORRUPT_MESSAGE). The error names the check and the byte position of the batch
    /// within the appended records.
    #[error("corrupt record batch: {0}")]
    CorruptBatch(BatchError),
    /// The batch is well formed but breaks a rule of the log, such as a wrong magic, an offset
    /// delta that disagrees with its record count, or a record without a key for a compacted
    /// log (Kafka: INVALID_RECORD).
    #[error("invalid record batch: {0}")]
    InvalidRecord(BatchError),
    /// A batch is larger than the topic's `max.message.bytes` (Kafka: MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// Size of the batch in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A batch's timestamp lies outside `message.timestamp.before.max.ms` / `after.max.ms`
    /// (KIP-937; Kafka: INVALID_TIMESTAMP).
    #[error("timestamp {timestamp} is out of the allowed range")]
    InvalidTimestamp {
        /// The offending timestamp in ms since the epoch.
        timestamp: i64,
    },
    /// Records of a well-formed batch break the log's rules: no key for a compacted topic,
    /// a CreateTime outside the allowed range, a producer-set LogAppendTime. The whole batch
    /// is refused; the errors name each record by its index in the batch (KIP-467; Kafka:
    /// INVALID_TIMESTAMP when any error is about a timestamp, else INVALID_RECORD).
    #[error("{0}")]
    RecordsRejected(RejectedRecords),
    /// A read asked for an offset outside `[log_start_offset, log_end_offset]`
    /// (Kafka: OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: i64,
        /// The log start offset at the time of the read.
        log_start_offset: i64,
        /// The log end offset at the time of the read.
        log_end_offset: i64,
    },
    /// An earlier fsync failed; the partition refuses appends until restart
    /// (Kafka: KAFKA_STORAGE_ERROR).
    #[error("partition log {dir} is offline after an I/O failure")]
    Poisoned {
        /// The partition directory.
        dir: PathBuf,
    },
    /// The log was closed for shutdown or deletion and takes no more appends
    /// (Kafka: NOT_LEADER_OR_FOLLOWER, which clients retry after a metadata refresh).
    #[error("partition log {dir} is closed")]
    Closed {
        /// The partition directory.
        dir: PathBuf,
    },
    /// A file of the log could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The producer state refuses the batch: out of order sequence, stale epoch, or a
    /// transaction rule (KIP-98; Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
    /// INVALID_TXN_STATE).
    #[error("{0}")]
    Producer(#[from] crate::producer_state::ProducerStateError),
    /// The log dir refuses: it is no longer locked by this process, so no log may open in it.
    #[error("{0}")]
    LogDir(#[from] crate::log_dir::LogDirError),
    /// On-disk state that recovery must not repair silently (damage outside the active
    /// segment's tail).
    #[error("{path}: {reason}")]
    Damaged {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The records of one batch that break the log's rules, as Kafka's `LogValidator` reports
/// them (KIP-467). Displays as Kafka's exception message, which the Produce response carries
/// in `error_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecords {
    /// Whether any error is about a timestamp (the partition's error is INVALID_TIMESTAMP).
    pub invalid_timestamp: bool,
    /// `(batch_index, message)` per rejected record, in record order; never empty.
    pub records: Vec<(i32, String)>,
}

impl std::fmt::Display for RejectedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.invalid_timestamp {
            return f.write_str("One or more records have been rejected due to invalid timestamp");
        }
        write!(
            f,
            "One or more records have been rejected due to {} record errors in total, and only \
             showing the first three errors at most: [",
            self.records.len()
        )?;
        for (i, (batch_index, message)) in self.records.iter().take(3).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "RecordError(batchIndex={batch_index}, message='{message}')"
            )?;
        }
        f.write_str("]")
    }
}

impl From<BatchError> for StorageError {
    /// `CorruptBatch` for damaged bytes, `InvalidRecord` for a rule broken.
    fn from(error: BatchError) -> Self {
        if error.is_corrupt() {
            Self::CorruptBatch(error)
        } else {
            Self::InvalidRecord(error)
        }
    }
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { path, source }
    }
}

/// Result of a storage operation.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
