//! The per-partition settings of a log, named after Kafka's topic configs.
//!
//! References: Kafka documentation section 6.x "Topic-Level Configs"; KIP-937 (timestamp
//! bounds).

use std::time::Duration;

/// Whether batch timestamps are the producer's (`CreateTime`) or the broker's
/// (`LogAppendTime`); Kafka's `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Overwrite the batch max timestamp with the broker's clock on append.
    LogAppendTime,
}

/// The per-partition settings of a log, named after Kafka's topic configs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: a segment rolls when the next batch would not fit. Default 1 GiB.
    pub segment_bytes: usize,
    /// `segment.ms`: a non-empty segment older than this rolls. Default 7 days.
    pub segment_ms: Duration,
    /// `segment.index.bytes`: preallocated size of each index file. Default 10 MiB.
    pub segment_index_bytes: usize,
    /// `index.interval.bytes`: bytes between index entries. Default 4096.
    pub index_interval_bytes: usize,
    /// `max.message.bytes`: the largest record batch accepted, in bytes. Default 1048588.
    pub max_message_bytes: usize,
    /// `flush.messages`: fsync after this many records; `None` leaves it to the OS (default).
    pub flush_messages: Option<u64>,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` (KIP-937): how far in the past a CreateTime may be.
    pub timestamp_before_max: Duration,
    /// `message.timestamp.after.max.ms` (KIP-937): how far in the future a CreateTime may be.
    pub timestamp_after_max: Duration,
    /// `retention.ms`: a closed segment whose newest record is older is deleted; `None` (-1)
    /// keeps segments forever. Applies only with `cleanup_delete`. Default 7 days.
    pub retention: Option<Duration>,
    /// `retention.bytes`: oldest segments are deleted while the log is larger than this many
    /// bytes; `None` (-1, the default) sets no limit. Applies only with `cleanup_delete`.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy` contains `delete`: time and size retention apply (default).
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`: the cleaner keeps the last record per key, and
    /// records without a key are refused.
    pub cleanup_compact: bool,
    /// `min.cleanable.dirty.ratio`: share of not yet cleaned bytes that makes the log
    /// cleanable. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a segment is cleaned only once its newest record is this old.
    pub min_compaction_lag: Duration,
    /// `max.compaction.lag.ms`: dirty records older than this make the log cleanable whatever
    /// the dirty ratio. Default: never.
    pub max_compaction_lag: Duration,
    /// `delete.retention.ms`: how long a tombstone (and an emptied transaction's marker)
    /// outlives its first cleaning. Default 1 day.
    pub delete_retention: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: Duration::from_millis(7 * 24 * 3_600_000),
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            flush_messages: None,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max: Duration::from_millis(i64::MAX as u64),
            timestamp_after_max: Duration::from_millis(i64::MAX as u64),
            retention: Some(Duration::from_millis(7 * 24 * 3_600_000)),
            retention_bytes: None,
            cleanup_delete: true,
            cleanup_compact: false,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag: Duration::ZERO,
            max_compaction_lag: Duration::from_millis(i64::MAX as u64),
            delete_retention: Duration::from_millis(24 * 3_600_000),
        }
    }
}
