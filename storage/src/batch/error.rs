//! Why a record batch, a record or a compressed records section is refused.
//!
//! Positions are byte positions: of a batch within the bytes walked (a request's records, a
//! segment, a read), or of a record within its batch's (decompressed) records section.

/// Why a record batch is refused. [`BatchError::is_corrupt`] tells damaged bytes
/// (Kafka: CORRUPT_MESSAGE) from well-formed batches that break a rule (INVALID_RECORD).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than a 61-byte batch header are left: a short or torn tail.
    #[error("{available} bytes at position {position}, fewer than a batch header")]
    ShortHeader {
        /// Byte position of the batch.
        position: usize,
        /// Bytes left from there.
        available: usize,
    },
    /// The batch length field is smaller than the header it must cover.
    #[error("batch length {length} at position {position} is smaller than a batch header")]
    BadLength {
        /// Byte position of the batch.
        position: usize,
        /// The `batch_length` field.
        length: i32,
    },
    /// The batch length runs past the bytes left: a torn tail.
    #[error(
        "batch length {length} at position {position} does not fit the {available} bytes left"
    )]
    Truncated {
        /// Byte position of the batch.
        position: usize,
        /// The `batch_length` field.
        length: i32,
        /// Bytes left from `position`.
        available: usize,
    },
    /// The CRC32C stored in the header does not match the bytes.
    #[error(
        "CRC mismatch at position {position}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        /// Byte position of the batch.
        position: usize,
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// A magic other than 2.
    #[error("magic {magic} at position {position} is not supported, only 2")]
    UnsupportedMagic {
        /// Byte position of the batch.
        position: usize,
        /// The magic byte.
        magic: i8,
    },
    /// A negative record count or last offset delta, or no record in a batch from a client.
    #[error("record count {count} at position {position}")]
    BadRecordCount {
        /// Byte position of the batch.
        position: usize,
        /// The header's record count.
        count: i32,
    },
    /// The last offset delta disagrees with the record count.
    #[error("last offset delta {last_offset_delta} disagrees with record count {count} at position {position}")]
    OffsetDeltaMismatch {
        /// Byte position of the batch.
        position: usize,
        /// The header's last offset delta.
        last_offset_delta: i32,
        /// The header's record count.
        count: i32,
    },
    /// A compression codec other than 0 to 4.
    #[error("unknown compression codec {codec} at position {position}")]
    UnknownCodec {
        /// Byte position of the batch.
        position: usize,
        /// The codec bits of the attributes.
        codec: i16,
    },
    /// A record's offset delta is out of order.
    #[error("record offset delta {found} where {expected} was expected, in the batch at position {position}")]
    RecordOffsetDelta {
        /// Byte position of the batch.
        position: usize,
        /// The record's offset delta.
        found: i64,
        /// The offset delta expected (the least one allowed for a stored batch).
        expected: i64,
    },
    /// The records section holds another number of records than the header says.
    #[error("{seen} records where the header says {count}, in the batch at position {position}")]
    RecordCountMismatch {
        /// Byte position of the batch.
        position: usize,
        /// Records found.
        seen: i64,
        /// The header's record count.
        count: i32,
    },
    /// A record does not parse.
    #[error("batch at position {position}: {source}")]
    Record {
        /// Byte position of the batch.
        position: usize,
        /// What is wrong with the record.
        #[source]
        source: RecordError,
    },
    /// No batch at all where one is needed (an empty produce).
    #[error("no record batch")]
    NoBatch,
    /// A client sent a control batch; markers come from the transaction coordinator only.
    #[error("control batch at position {position}: control batches are written by the transaction coordinator only")]
    ControlBatch {
        /// Byte position of the batch.
        position: usize,
    },
    /// A transactional batch without a producer id.
    #[error("batch at position {position}: a transactional batch without a producer id")]
    TransactionalWithoutProducerId {
        /// Byte position of the batch.
        position: usize,
    },
    /// A client's batch with a producer id but no base sequence (Kafka's `LogValidator`:
    /// "Invalid sequence number").
    #[error("batch at position {position}: invalid sequence number {base_sequence} in a record batch with producer id {producer_id}")]
    InvalidSequence {
        /// Byte position of the batch.
        position: usize,
        /// The batch's producer id.
        producer_id: i64,
        /// Its base sequence.
        base_sequence: i32,
    },
    /// The records section of the batch cannot be decompressed.
    #[error("batch at position {position}: {source}")]
    Codec {
        /// Byte position of the batch.
        position: usize,
        /// What the codec said.
        #[source]
        source: CodecError,
    },
}

impl BatchError {
    /// Whether the bytes are damaged (short, torn, bad length or CRC, a compressed section
    /// that does not decompress, no batch at all: Kafka's CORRUPT_MESSAGE), rather than a
    /// well-formed batch that breaks a rule (INVALID_RECORD).
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            Self::ShortHeader { .. }
                | Self::BadLength { .. }
                | Self::Truncated { .. }
                | Self::CrcMismatch { .. }
                | Self::Codec { .. }
                | Self::NoBatch
        )
    }

    /// Whether the batch is cut off by the end of the bytes (a torn or short tail), as a crash
    /// in the middle of a write or a read that ends mid-batch leaves it.
    pub fn is_torn_tail(&self) -> bool {
        matches!(self, Self::ShortHeader { .. } | Self::Truncated { .. })
    }

    /// Byte position of the batch the error is about; 0 for [`BatchError::NoBatch`].
    pub fn position(&self) -> usize {
        match self {
            Self::NoBatch => 0,
            Self::ShortHeader { position, .. }
            | Self::BadLength { position, .. }
            | Self::Truncated { position, .. }
            | Self::CrcMismatch { position, .. }
            | Self::UnsupportedMagic { position, .. }
            | Self::BadRecordCount { position, .. }
            | Self::OffsetDeltaMismatch { position, .. }
            | Self::UnknownCodec { position, .. }
            | Self::RecordOffsetDelta { position, .. }
            | Self::RecordCountMismatch { position, .. }
            | Self::Record { position, .. }
            | Self::ControlBatch { position }
            | Self::TransactionalWithoutProducerId { position }
            | Self::InvalidSequence { position, .. }
            | Self::Codec { position, .. } => *position,
        }
    }
}

/// Why a record of a records section does not parse. `position` is the byte position of the
/// failing field within the records section (after the 61-byte header, decompressed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A varint runs past the end of its record.
    #[error("varint at byte {position} of the records runs past the record")]
    VarintPastEnd {
        /// Byte position of the varint.
        position: usize,
    },
    /// A varint longer than 10 bytes.
    #[error("varint at byte {position} of the records is longer than 10 bytes")]
    VarintTooLong {
        /// Byte position of the varint.
        position: usize,
    },
    /// A record length that is negative or runs past the records section.
    #[error("record length {length} at byte {position} of the records runs past the batch")]
    RecordPastEnd {
        /// Byte position of the record.
        position: usize,
        /// Its length prefix.
        length: i64,
    },
    /// A record of length 0 (it must hold at least its attributes).
    #[error("empty record at byte {position} of the records")]
    EmptyRecord {
        /// Byte position of the record's body.
        position: usize,
    },
    /// A key, value or header value length below -1.
    #[error("field length {length} at byte {position} of the records")]
    BadFieldLength {
        /// Byte position of the length prefix.
        position: usize,
        /// The length prefix.
        length: i64,
    },
    /// A key, value or header field that runs past its record.
    #[error("field of {length} bytes at byte {position} of the records runs past the record")]
    FieldPastEnd {
        /// Byte position of the field.
        position: usize,
        /// Its length.
        length: i64,
    },
    /// A negative header count.
    #[error("header count {count} at byte {position} of the records")]
    BadHeaderCount {
        /// Byte position of the count.
        position: usize,
        /// The count.
        count: i64,
    },
    /// A record whose fields do not take exactly its length.
    #[error("record at byte {position} of the records has length {length} but its fields take {used} bytes")]
    LengthMismatch {
        /// Byte position of the record's body.
        position: usize,
        /// The record's length prefix.
        length: usize,
        /// Bytes its fields take.
        used: usize,
    },
}

/// Why a records section cannot be compressed or decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The batch is shorter than its 61-byte header.
    #[error("batch of {0} bytes is shorter than its header")]
    ShortBatch(usize),
    /// A compression codec other than 0 to 4.
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    /// The codec failed (the message is the codec library's).
    #[error("{codec}: {message}")]
    Failed {
        /// `gzip`, `snappy`, `lz4` or `zstd`.
        codec: &'static str,
        /// What the codec said.
        message: String,
    },
    /// The decompressed output passes [`super::MAX_DECOMPRESSED_BYTES`].
    #[error("{codec}: decompressed output passes {limit} bytes")]
    TooLarge {
        /// `gzip`, `snappy`, `lz4` or `zstd`.
        codec: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// A rebuilt batch would be larger than a batch length can say.
    #[error("rebuilt batch of {0} bytes is too large")]
    BatchTooLarge(usize),
}
