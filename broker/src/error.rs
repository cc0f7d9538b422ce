//! Errors of the broker, and the one place where storage errors become Kafka error codes.

use josefine_storage::producer_state::ProducerStateError;
use josefine_storage::StorageError;
use kafka_protocol::error::ResponseError;

/// Why a connection cannot go on. The connection is closed with a log line; nothing else is
/// affected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The size prefix is negative or above `socket.request.max.bytes`.
    #[error("request frame of {size} bytes is larger than socket.request.max.bytes {max}")]
    FrameTooLarge {
        /// Size the client announced.
        size: i64,
        /// The limit.
        max: usize,
    },
    /// No complete request frame arrived within `connections.max.idle.ms`.
    #[error("no complete request within connections.max.idle.ms ({0:?})")]
    Idle(std::time::Duration),
    /// The client did not take a response within `connections.max.idle.ms`.
    #[error("response not read by the client within connections.max.idle.ms ({0:?})")]
    WriteStalled(std::time::Duration),
    /// The request header or body does not decode.
    #[error("malformed request (api key {api_key}, version {api_version}): {reason}")]
    Malformed {
        /// API key of the request, -1 if unknown.
        api_key: i16,
        /// Its version.
        api_version: i16,
        /// What failed.
        reason: String,
    },
    /// The API key is not one Josefine serves.
    #[error("unsupported api key {0}")]
    UnsupportedApi(i16),
    /// The API version is outside the advertised range.
    #[error("unsupported version {api_version} of api key {api_key}")]
    UnsupportedVersion {
        /// API key.
        api_key: i16,
        /// Version sent.
        api_version: i16,
    },
    /// A produce request with acks=0 failed: Kafka closes the connection so the client learns
    /// of it.
    #[error("produce with acks=0 failed: {0}")]
    ProduceWithoutAcksFailed(String),
    /// Work moved to the blocking pool panicked (a bug: logged and the connection closed).
    #[error("blocking task failed: {0}")]
    TaskFailed(String),
    /// A response could not be encoded (a bug: logged and the connection closed).
    #[error("cannot encode response: {0}")]
    Encode(String),
    /// SASL authentication failed or was not followed (Kafka's `SaslServerAuthenticator`
    /// closes the connection).
    #[error("SASL: {0}")]
    Authentication(String),
    /// A test's fault rule closed the connection instead of answering (`inspect::faults`).
    #[error("closed by an injected fault: {0}")]
    InjectedFault(String),
}

/// The Kafka error code for a storage error.
pub fn storage_error_code(err: &StorageError) -> ResponseError {
    match err {
        StorageError::CorruptBatch { .. } => ResponseError::CorruptMessage,
        StorageError::InvalidRecord { .. } => ResponseError::InvalidRecord,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::InvalidTimestamp { .. } => ResponseError::InvalidTimestamp,
        StorageError::RecordsRejected(rejected) if rejected.invalid_timestamp => {
            ResponseError::InvalidTimestamp
        }
        StorageError::RecordsRejected(_) => ResponseError::InvalidRecord,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::Closed { .. } => ResponseError::NotLeaderOrFollower,
        StorageError::Producer(err) => match err {
            ProducerStateError::OutOfOrderSequence { .. } => {
                ResponseError::OutOfOrderSequenceNumber
            }
            ProducerStateError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            ProducerStateError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
        },
        StorageError::Poisoned { .. }
        | StorageError::Io { .. }
        | StorageError::Damaged { .. }
        | StorageError::LogDir(_) => ResponseError::KafkaStorageError,
    }
}

/// Kafka's code for "no error".
pub const NONE: i16 = 0;

/// Shorthand: the wire code of a `ResponseError`.
pub fn code(err: ResponseError) -> i16 {
    err.code()
}

/// The wire code of an optional error: NONE (0) when there is none.
pub fn optional_code(err: Option<ResponseError>) -> i16 {
    err.map_or(NONE, |e| e.code())
}
