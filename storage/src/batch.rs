//! Record batches (magic 2) as they travel on the wire and lie on disk.
//!
//! On the append path the log checks the header, the CRC32C and every record (a compressed
//! batch is decompressed for that, under [`MAX_DECOMPRESSED_BYTES`], as Kafka's
//! `LogValidator` does), then rewrites the base offset and partition leader epoch in place:
//! the bytes stored are the bytes the client sent.
//!
//! References: Kafka documentation, "Message Format" / "Record Batch" (section 5.3.1);
//! KIP-98 (producer id, epoch, sequence fields).
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Read;

mod batches;
mod error;

pub use batches::{Batch, Batches, Check};
pub use error::{BatchError, CodecError, RecordError};

/// Bytes before the records of a magic-2 batch.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Bytes of the `base_offset` and `batch_length` fields, which `batch_length` does not count.
pub const LOG_OVERHEAD: usize = 12;

const BATCH_LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

/// Attribute bits of a record batch.
pub mod attributes {
    /// Mask of the compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Set when the batch's timestamps are the broker's log append time.
    pub const TIMESTAMP_TYPE_LOG_APPEND_TIME: i16 = 0x08;
    /// Set on batches of a transaction (KIP-98).
    pub const TRANSACTIONAL: i16 = 0x10;
    /// Set on control batches (transaction markers).
    pub const CONTROL: i16 = 0x20;
}

/// Big-endian i64 at `at`, 0 when out of bounds.
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    i64::from_be_bytes(a)
}
/// Big-endian i32 at `at`, 0 when out of bounds.
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    i32::from_be_bytes(a)
}
pub(crate) fn be_i16(b: &[u8], at: usize) -> i16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    i16::from_be_bytes(a)
}

/// A read-only view of one record batch's header. Built by [`BatchHeader::parse`], which
/// guarantees at least [`RECORD_BATCH_OVERHEAD`] bytes.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchHeader<'a> {
    /// Views the header at the start of `bytes`; `None` when fewer than 61 bytes remain.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= RECORD_BATCH_OVERHEAD).then_some(Self { bytes })
    }
    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, 0)
    }
    /// Bytes after the `batch_length` field.
    pub fn batch_length(&self) -> i32 {
        be_i32(self.bytes, BATCH_LENGTH_OFFSET)
    }
    /// Whole batch size in bytes, including the first 12 bytes; negative lengths give 0.
    pub fn total_size(&self) -> usize {
        usize::try_from(self.batch_length()).unwrap_or(0) + LOG_OVERHEAD
    }
    /// Leader epoch stamped by the broker on append.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, PARTITION_LEADER_EPOCH_OFFSET)
    }
    /// Format version; always 2 here.
    pub fn magic(&self) -> i8 {
        self.bytes.get(MAGIC_OFFSET).map_or(-1, |m| *m as i8)
    }
    /// CRC32C of everything from the attributes to the end of the batch.
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC_OFFSET) as u32
    }
    /// Attribute bits, see [`attributes`].
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, ATTRIBUTES_OFFSET)
    }
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes() & attributes::COMPRESSION_MASK
    }
    /// Whether the timestamps are log append times.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & attributes::TIMESTAMP_TYPE_LOG_APPEND_TIME != 0
    }
    /// Whether this is a control batch (transaction marker).
    pub fn is_control(&self) -> bool {
        self.attributes() & attributes::CONTROL != 0
    }
    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & attributes::TRANSACTIONAL != 0
    }
    /// Offset of the last record relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA_OFFSET)
    }
    /// Offset of the last record; saturates at `i64::MAX`, as the base offset (outside the
    /// CRC) may hold anything.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(i64::from(self.last_offset_delta()))
    }
    /// Timestamp of the first record, ms since the epoch.
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP_OFFSET)
    }
    /// Largest timestamp in the batch, ms since the epoch.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP_OFFSET)
    }
    /// Producer id, -1 when the producer is not idempotent.
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID_OFFSET)
    }
    /// Producer epoch.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH_OFFSET)
    }
    /// Sequence number of the first record.
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE_OFFSET)
    }
    /// Number of records the header claims.
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT_OFFSET)
    }
}

/// Checks the batch at the start of `bytes` and returns its total size in bytes.
///
/// Checks the length fields against the bytes available, magic 2, the CRC32C, that the record
/// count agrees with the last offset delta, and that the records themselves parse with
/// contiguous offset deltas. Compressed batches are decompressed for it, under
/// [`MAX_DECOMPRESSED_BYTES`].
///
/// Errors: the first check that fails, with position 0 (see [`BatchError::is_corrupt`]).
///
/// ```
/// use josefine_storage::batch::{build_batch, validate_batch, BatchError};
/// let mut batch = build_batch(&[(1_700_000_000_000, None, Some(b"v"))]);
/// assert_eq!(validate_batch(&batch), Ok(batch.len()));
/// batch.pop();
/// assert!(matches!(validate_batch(&batch), Err(BatchError::Truncated { position: 0, .. })));
/// ```
pub fn validate_batch(bytes: &[u8]) -> Result<usize, BatchError> {
    check(bytes, 0, Check::Produce).map(|(_, batch)| batch.len())
}

/// [`validate_batch`] for a batch read back from a segment, where compaction may have removed
/// records: the record count may be below `last_offset_delta + 1` (even 0: Kafka keeps empty
/// batches to remember a producer's sequence), and record offset deltas rise with gaps up to
/// the last offset delta.
///
/// Errors: as [`validate_batch`].
pub fn validate_stored_batch(bytes: &[u8]) -> Result<usize, BatchError> {
    check(bytes, 0, Check::Stored).map(|(_, batch)| batch.len())
}

/// Checks the batch at `position` of `bytes` as `level` asks; returns its header and bytes.
pub(crate) fn check(
    bytes: &[u8],
    position: usize,
    level: Check,
) -> Result<(BatchHeader<'_>, &[u8]), BatchError> {
    let (header, batch) = check_bounds(bytes, position)?;
    match level {
        Check::Bounds => {}
        Check::Crc => check_crc(&header, batch, position)?,
        Check::Produce | Check::Stored => {
            check_crc(&header, batch, position)?;
            check_contents(&header, batch, position, level == Check::Stored)?;
        }
    }
    Ok((header, batch))
}

/// A whole batch at `position`: a header, and a batch length that covers the header and
/// fits the bytes left.
fn check_bounds(bytes: &[u8], position: usize) -> Result<(BatchHeader<'_>, &[u8]), BatchError> {
    let rest = bytes.get(position..).unwrap_or_default();
    let header = BatchHeader::parse(rest).ok_or(BatchError::ShortHeader {
        position,
        available: rest.len(),
    })?;
    let length = header.batch_length();
    if length < (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength { position, length });
    }
    let batch = rest
        .get(..header.total_size())
        .ok_or(BatchError::Truncated {
            position,
            length,
            available: rest.len(),
        })?;
    Ok((BatchHeader { bytes: batch }, batch))
}

/// Magic 2 and the CRC32C over the attributes to the end of the batch.
fn check_crc(header: &BatchHeader<'_>, batch: &[u8], position: usize) -> Result<(), BatchError> {
    if header.magic() != 2 {
        return Err(BatchError::UnsupportedMagic {
            position,
            magic: header.magic(),
        });
    }
    let computed = crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
    if computed != header.crc() {
        return Err(BatchError::CrcMismatch {
            position,
            stored: header.crc(),
            computed,
        });
    }
    Ok(())
}

/// Record count, offset deltas and codec; for uncompressed batches, and for compressed ones
/// from a client (not `stored`), every record.
fn check_contents(
    header: &BatchHeader<'_>,
    batch: &[u8],
    position: usize,
    stored: bool,
) -> Result<(), BatchError> {
    check_counts(header, position, stored)?;
    if header.compression() == 0 {
        let body = batch.get(RECORD_BATCH_OVERHEAD..).unwrap_or_default();
        check_records(header, body, position, stored, |_, _| {})?;
    } else if !stored {
        let section =
            records_section(batch).map_err(|source| BatchError::Codec { position, source })?;
        check_records(header, &section, position, stored, |_, _| {})?;
    }
    Ok(())
}

/// The header's record count and last offset delta agree, and the codec is known.
fn check_counts(header: &BatchHeader<'_>, position: usize, stored: bool) -> Result<(), BatchError> {
    let count = header.records_count();
    if count < i32::from(!stored) || header.last_offset_delta() < 0 {
        return Err(BatchError::BadRecordCount { position, count });
    }
    let delta_mismatch = if stored {
        i64::from(header.last_offset_delta()) < i64::from(count) - 1
    } else {
        i64::from(header.last_offset_delta()) != i64::from(count) - 1
    };
    if delta_mismatch {
        return Err(BatchError::OffsetDeltaMismatch {
            position,
            last_offset_delta: header.last_offset_delta(),
            count,
        });
    }
    if header.compression() > 4 {
        return Err(BatchError::UnknownCodec {
            position,
            codec: header.compression(),
        });
    }
    Ok(())
}

/// Walks the (decompressed) records `section` of the batch `header` heads: every record
/// parses and takes exactly its length, offset deltas run 0..count-1 (rise within the last
/// offset delta when `stored`), and there are as many records as the header says. `visit`
/// sees each record with its index in the batch (Kafka's `batch_index`).
fn check_records<'a>(
    header: &BatchHeader<'_>,
    section: &'a [u8],
    position: usize,
    stored: bool,
    mut visit: impl FnMut(i32, &RecordInfo<'a>),
) -> Result<(), BatchError> {
    let count = header.records_count();
    let mut expected_delta = 0i64;
    let mut seen = 0i64;
    for record in RecordIter::new(section) {
        let record = record.map_err(|source| BatchError::Record { position, source })?;
        let in_order = if stored {
            record.offset_delta >= expected_delta
                && record.offset_delta <= i64::from(header.last_offset_delta())
        } else {
            record.offset_delta == expected_delta
        };
        if !in_order {
            return Err(BatchError::RecordOffsetDelta {
                position,
                found: record.offset_delta,
                expected: expected_delta,
            });
        }
        visit(i32::try_from(seen).unwrap_or(i32::MAX), &record);
        expected_delta = record.offset_delta + 1;
        seen += 1;
    }
    if seen != i64::from(count) {
        return Err(BatchError::RecordCountMismatch {
            position,
            seen,
            count,
        });
    }
    Ok(())
}

/// Checks a batch from a client as [`validate_batch`] does, on a batch whose bounds and CRC
/// [`Batches`] checked ([`Check::Crc`]), and shows each record with its index in the batch
/// to `visit`, which applies the log's rules (keys of compacted topics, timestamps) in the
/// same pass. A compressed batch is decompressed first, under [`MAX_DECOMPRESSED_BYTES`].
///
/// Errors: the first failed check, as [`validate_batch`]; `Codec` when the records do not
/// decompress.
///
/// ```
/// use josefine_storage::batch::{build_batch, check_client_records, Batches, Check};
/// let batch = build_batch(&[(1, None, Some(b"a")), (2, Some(b"k"), Some(b"b"))]);
/// let mut keyless = Vec::new();
/// for batch in Batches::checked(&batch, Check::Crc) {
///     check_client_records(&batch, |index, record| {
///         if record.key.is_none() {
///             keyless.push(index);
///         }
///     })
///     .unwrap();
/// }
/// assert_eq!(keyless, vec![0]);
/// ```
pub fn check_client_records(
    batch: &Batch<'_>,
    mut visit: impl FnMut(i32, &RecordInfo<'_>),
) -> Result<(), BatchError> {
    let (header, position) = (&batch.header, batch.position);
    check_counts(header, position, false)?;
    let section =
        records_section(batch.bytes).map_err(|source| BatchError::Codec { position, source })?;
    check_records(header, &section, position, false, |index, record| {
        visit(index, record);
    })
}

/// Stamps the broker's fields into a batch that already passed [`validate_batch`]: the base
/// offset and partition leader epoch (outside the CRC), and for log-append-time topics the
/// timestamp type and max timestamp, after which the CRC is recomputed.
pub fn stamp_batch(
    batch: &mut [u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) {
    let Some((head, records)) = batch.split_at_mut_checked(RECORD_BATCH_OVERHEAD) else {
        return;
    };
    let mut header = [0u8; RECORD_BATCH_OVERHEAD];
    header.copy_from_slice(head);
    stamp_header(
        &mut header,
        records,
        base_offset,
        leader_epoch,
        log_append_time,
    );
    head.copy_from_slice(&header);
}

/// [`stamp_batch`] on a copy of a batch's 61-byte header, `records` being the rest of the
/// batch (read for the CRC only when the timestamp changes). Lets the log write the stamped
/// header and the untouched records straight from the request.
pub fn stamp_header(
    header: &mut [u8; RECORD_BATCH_OVERHEAD],
    records: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) {
    header[0..8].copy_from_slice(&base_offset.to_be_bytes());
    header[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attributes =
            be_i16(header, ATTRIBUTES_OFFSET) | attributes::TIMESTAMP_TYPE_LOG_APPEND_TIME;
        header[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
        header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_OFFSET..]), records);
        header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// One record of a batch, borrowed from the records section: its offset and timestamp
/// deltas, key and value (`None` when null). Headers are checked but not returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo<'a> {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i64,
    /// Timestamp relative to the batch's base timestamp, ms.
    pub timestamp_delta: i64,
    /// The key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
}

/// Iterates the records of an uncompressed records section, yielding a [`RecordError`] when a
/// record does not parse. Stops after the first error.
pub struct RecordIter<'a> {
    rest: &'a [u8],
    /// Bytes of the section before `rest`: positions in errors are within the section.
    consumed: usize,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates the records in `body` (the bytes after the 61-byte header).
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            rest: body,
            consumed: 0,
            failed: false,
        }
    }
}

/// A zigzag varlong at `*pos` of `buf`; `origin` is `buf`'s position in the records section.
fn read_varlong(buf: &[u8], pos: &mut usize, origin: usize) -> Result<i64, RecordError> {
    let start = origin + *pos;
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *buf
            .get(*pos)
            .ok_or(RecordError::VarintPastEnd { position: start })?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(RecordError::VarintTooLong { position: start });
        }
    }
    Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
}

/// Reads a varint-length-prefixed bytes field; `None` for length -1 (null).
fn read_bytes_field<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    origin: usize,
) -> Result<Option<&'a [u8]>, RecordError> {
    let position = origin + *pos;
    let length = read_varlong(buf, pos, origin)?;
    if length < -1 {
        return Err(RecordError::BadFieldLength { position, length });
    }
    if length == -1 {
        return Ok(None);
    }
    let field = usize::try_from(length)
        .ok()
        .and_then(|len| buf.get(*pos..pos.saturating_add(len)))
        .ok_or(RecordError::FieldPastEnd {
            position: origin + *pos,
            length,
        })?;
    *pos += field.len();
    Ok(Some(field))
}

/// Parses one record's body (after its length prefix); `origin` is its position in the
/// records section.
fn parse_record(record: &[u8], origin: usize) -> Result<RecordInfo<'_>, RecordError> {
    let mut pos = 1usize; // attributes
    if record.is_empty() {
        return Err(RecordError::EmptyRecord { position: origin });
    }
    let timestamp_delta = read_varlong(record, &mut pos, origin)?;
    let offset_delta = read_varlong(record, &mut pos, origin)?;
    let key = read_bytes_field(record, &mut pos, origin)?;
    let value = read_bytes_field(record, &mut pos, origin)?;
    let count_position = origin + pos;
    let headers = read_varlong(record, &mut pos, origin)?;
    if headers < 0 {
        return Err(RecordError::BadHeaderCount {
            position: count_position,
            count: headers,
        });
    }
    for _ in 0..headers {
        let key_position = origin + pos;
        let key_len = read_varlong(record, &mut pos, origin)?;
        if key_len < 0 || record.len().saturating_sub(pos) < key_len as usize {
            return Err(RecordError::FieldPastEnd {
                position: key_position,
                length: key_len,
            });
        }
        pos += key_len as usize;
        read_bytes_field(record, &mut pos, origin)?;
    }
    if pos != record.len() {
        return Err(RecordError::LengthMismatch {
            position: origin,
            length: record.len(),
            used: pos,
        });
    }
    Ok(RecordInfo {
        offset_delta,
        timestamp_delta,
        key,
        value,
    })
}

impl<'a> RecordIter<'a> {
    /// The next record with its raw bytes (length prefix included), as a batch holds it.
    pub fn next_raw(&mut self) -> Option<Result<(&'a [u8], RecordInfo<'a>), RecordError>> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let mut pos = 0;
        let rest = self.rest;
        let origin = self.consumed;
        let result = read_varlong(rest, &mut pos, origin).and_then(|length| {
            let end = usize::try_from(length)
                .ok()
                .and_then(|len| pos.checked_add(len))
                .filter(|end| *end <= rest.len())
                .ok_or(RecordError::RecordPastEnd {
                    position: origin,
                    length,
                })?;
            let record = rest.get(pos..end).unwrap_or_default();
            self.rest = rest.get(end..).unwrap_or_default();
            self.consumed += end;
            parse_record(record, origin + pos)
                .map(|info| (rest.get(..end).unwrap_or_default(), info))
        });
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordInfo<'a>, RecordError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw().map(|r| r.map(|(_, info)| info))
    }
}

/// Compresses a records section with a batch codec (1 gzip, 2 snappy, 3 lz4, 4 zstd; 0
/// copies).
///
/// Errors: `UnknownCodec`, or `Failed` naming the codec.
pub fn compress(codec: i16, section: &[u8]) -> Result<Vec<u8>, CodecError> {
    use std::io::Write;
    let failed = |codec: &'static str| {
        move |e: std::io::Error| CodecError::Failed {
            codec,
            message: e.to_string(),
        }
    };
    match codec {
        0 => Ok(section.to_vec()),
        1 => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder
                .write_all(section)
                .and_then(|()| encoder.finish())
                .map_err(failed("gzip"))
        }
        2 => snap::raw::Encoder::new()
            .compress_vec(section)
            .map_err(|e| CodecError::Failed {
                codec: "snappy",
                message: e.to_string(),
            }),
        3 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder.write_all(section).map_err(failed("lz4"))?;
            encoder.finish().map_err(|e| CodecError::Failed {
                codec: "lz4",
                message: e.to_string(),
            })
        }
        4 => zstd::bulk::compress(section, 1).map_err(|e| CodecError::Failed {
            codec: "zstd",
            message: e.to_string(),
        }),
        codec => Err(CodecError::UnknownCodec(codec)),
    }
}

/// Rebuilds a stored batch around a subset of its records (the compactor's output): the header
/// of `original` (base offset, last offset delta, timestamps, producer fields and attributes
/// kept, so offsets never change), `records` (raw, length-prefixed, in order) compressed with
/// the original codec, `count` records, a fresh CRC.
///
/// Errors: `ShortBatch`, `BatchTooLarge`, or the codec's.
pub fn rebuild_batch(original: &[u8], records: &[u8], count: i32) -> Result<Vec<u8>, CodecError> {
    let header = original
        .get(..RECORD_BATCH_OVERHEAD)
        .ok_or(CodecError::ShortBatch(original.len()))?;
    let codec = BatchHeader::parse(original)
        .map(|h| h.compression())
        .unwrap_or(0);
    let body = compress(codec, records)?;
    let mut batch = Vec::with_capacity(RECORD_BATCH_OVERHEAD + body.len());
    batch.extend_from_slice(header);
    batch.extend_from_slice(&body);
    let length = i32::try_from(batch.len() - LOG_OVERHEAD)
        .map_err(|_| CodecError::BatchTooLarge(batch.len()))?;
    if let Some(field) = batch.get_mut(BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4) {
        field.copy_from_slice(&length.to_be_bytes());
    }
    if let Some(field) = batch.get_mut(RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4) {
        field.copy_from_slice(&count.to_be_bytes());
    }
    let crc = crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
    if let Some(field) = batch.get_mut(CRC_OFFSET..CRC_OFFSET + 4) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(batch)
}

/// The most bytes [`records_section`] decompresses from one batch, against decompression
/// bombs: 64 MiB, far above any batch a producer builds.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 << 20;

/// Reads all of `reader` (a decoder of `codec`), failing past [`MAX_DECOMPRESSED_BYTES`].
fn read_limited(codec: &'static str, reader: impl Read) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Failed {
            codec,
            message: e.to_string(),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(CodecError::TooLarge {
            codec,
            limit: MAX_DECOMPRESSED_BYTES,
        });
    }
    Ok(out)
}

/// Returns the records section of a valid batch, decompressed when it is compressed.
///
/// Errors: `ShortBatch`, `UnknownCodec`, `Failed` naming the codec, or `TooLarge` when the
/// output passes [`MAX_DECOMPRESSED_BYTES`]. Used off the produce path only (timestamp
/// look-ups, compaction, replay).
pub fn records_section(batch: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, CodecError> {
    let header = BatchHeader::parse(batch).ok_or(CodecError::ShortBatch(batch.len()))?;
    let body = batch
        .get(RECORD_BATCH_OVERHEAD..header.total_size().min(batch.len()))
        .unwrap_or_default();
    let out = match header.compression() {
        0 => return Ok(std::borrow::Cow::Borrowed(body)),
        1 => read_limited("gzip", flate2::read::MultiGzDecoder::new(body))?,
        2 => snappy_decompress(body)?,
        3 => read_limited("lz4", lz4_flex::frame::FrameDecoder::new(body))?,
        4 => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(|e| CodecError::Failed {
                    codec: "zstd",
                    message: e.to_string(),
                })?;
            read_limited("zstd", decoder)?
        }
        codec => return Err(CodecError::UnknownCodec(codec)),
    };
    Ok(std::borrow::Cow::Owned(out))
}

/// Snappy as Kafka clients write it: raw snappy (librdkafka), or xerial's framing (the Java
/// client's snappy-java stream: an 8-byte magic, two version ints, then length-prefixed blocks).
/// Each block's declared length is checked against [`MAX_DECOMPRESSED_BYTES`] before it is
/// allocated.
fn snappy_decompress(body: &[u8]) -> Result<Vec<u8>, CodecError> {
    const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
    let failed = |message: String| CodecError::Failed {
        codec: "snappy",
        message,
    };
    let mut decoder = snap::raw::Decoder::new();
    let mut decompress = |block: &[u8], so_far: usize| {
        let len = snap::raw::decompress_len(block).map_err(|e| failed(e.to_string()))?;
        if (so_far + len) as u64 > MAX_DECOMPRESSED_BYTES {
            return Err(CodecError::TooLarge {
                codec: "snappy",
                limit: MAX_DECOMPRESSED_BYTES,
            });
        }
        decoder
            .decompress_vec(block)
            .map_err(|e| failed(e.to_string()))
    };
    if body.starts_with(XERIAL_MAGIC) {
        let mut out = Vec::new();
        let mut pos = XERIAL_MAGIC.len() + 8;
        while pos < body.len() {
            let len = usize::try_from(be_i32(body, pos))
                .map_err(|_| failed("negative block length".into()))?;
            pos += 4;
            let block = body
                .get(pos..pos.saturating_add(len))
                .ok_or_else(|| failed("block runs past the batch".into()))?;
            out.extend(decompress(block, out.len())?);
            pos += len;
        }
        Ok(out)
    } else {
        decompress(body, 0)
    }
}

/// A record for [`build_batch`]: (timestamp in ms, key, value).
pub type SimpleRecord<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>);

/// The producer fields and attribute bits of a batch made by [`build_batch_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchProducer {
    /// Producer id; -1 for a producer that is not idempotent.
    pub producer_id: i64,
    /// Producer epoch; -1 without a producer id.
    pub producer_epoch: i16,
    /// Sequence number of the first record; -1 when not checked.
    pub base_sequence: i32,
    /// Attribute bits (see [`attributes`]): transactional, control.
    pub attributes: i16,
}

impl BatchProducer {
    /// Not idempotent: producer id, epoch and sequence -1, no attributes.
    pub const NONE: Self = Self {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        attributes: 0,
    };
}

/// Builds an uncompressed magic-2 batch from `(timestamp, key, value)` records, for tests and
/// tools. Offsets start at 0; producer fields say "not idempotent".
pub fn build_batch(records: &[SimpleRecord<'_>]) -> Vec<u8> {
    build_batch_as(&BatchProducer::NONE, records)
}

/// The type of a control record (KIP-98): what a transaction marker ends the transaction with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// ABORT (key type 0).
    Abort,
    /// COMMIT (key type 1).
    Commit,
}

/// Builds a transaction marker: a control batch of one record whose key is (version 0, type)
/// and whose value is (version 0, coordinator epoch), as Kafka's `EndTransactionMarker`.
pub fn build_control_batch(
    producer_id: i64,
    producer_epoch: i16,
    control: ControlType,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Vec<u8> {
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&(control as i16).to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let producer = BatchProducer {
        producer_id,
        producer_epoch,
        base_sequence: -1,
        attributes: attributes::TRANSACTIONAL | attributes::CONTROL,
    };
    build_batch_as(&producer, &[(timestamp, Some(&key), Some(&value))])
}

/// The marker type of a control batch (from its first record's key); `None` when the batch is
/// not a control batch or its key does not parse.
pub fn control_type(batch: &[u8]) -> Option<ControlType> {
    let header = BatchHeader::parse(batch)?;
    if !header.is_control() {
        return None;
    }
    let section = records_section(batch).ok()?;
    let record = RecordIter::new(&section).next()?.ok()?;
    match be_i16(record.key?, 2) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    }
}

/// [`build_batch`] with the given producer fields and attributes.
pub fn build_batch_as(producer: &BatchProducer, records: &[SimpleRecord<'_>]) -> Vec<u8> {
    fn varlong(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    let base_timestamp = records.first().map_or(-1, |r| r.0);
    let max_timestamp = records.iter().map(|r| r.0).max().unwrap_or(-1);
    let mut body = Vec::new();
    for (i, (timestamp, key, value)) in records.iter().enumerate() {
        let mut record = vec![0u8];
        varlong(&mut record, timestamp - base_timestamp);
        varlong(&mut record, i as i64);
        for field in [key, value] {
            match field {
                Some(bytes) => {
                    varlong(&mut record, bytes.len() as i64);
                    record.extend_from_slice(bytes);
                }
                None => varlong(&mut record, -1),
            }
        }
        varlong(&mut record, 0);
        varlong(&mut body, record.len() as i64);
        body.extend(record);
    }
    let mut batch = Vec::with_capacity(RECORD_BATCH_OVERHEAD + body.len());
    batch.extend_from_slice(&0i64.to_be_bytes());
    batch.extend_from_slice(
        &((RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + body.len()) as i32).to_be_bytes(),
    );
    batch.extend_from_slice(&(-1i32).to_be_bytes());
    batch.push(2);
    batch.extend_from_slice(&0u32.to_be_bytes());
    batch.extend_from_slice(&producer.attributes.to_be_bytes());
    batch.extend_from_slice(&(records.len() as i32 - 1).to_be_bytes());
    batch.extend_from_slice(&base_timestamp.to_be_bytes());
    batch.extend_from_slice(&max_timestamp.to_be_bytes());
    batch.extend_from_slice(&producer.producer_id.to_be_bytes());
    batch.extend_from_slice(&producer.producer_epoch.to_be_bytes());
    batch.extend_from_slice(&producer.base_sequence.to_be_bytes());
    batch.extend_from_slice(&(records.len() as i32).to_be_bytes());
    batch.extend(body);
    let crc = crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
    if let Some(field) = batch.get_mut(CRC_OFFSET..CRC_OFFSET + 4) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
    batch
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn built_batch_validates_and_reads_back() {
        let batch = build_batch(&[(10, Some(b"k"), Some(b"v")), (12, None, Some(b"w"))]);
        assert_eq!(validate_batch(&batch), Ok(batch.len()));
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.records_count(), 2);
        assert_eq!(header.max_timestamp(), 12);
        let records: Vec<_> = RecordIter::new(&batch[RECORD_BATCH_OVERHEAD..]).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[1],
            Ok(RecordInfo {
                offset_delta: 1,
                timestamp_delta: 2,
                key: None,
                value: Some(&b"w"[..]),
            })
        );
    }

    #[test]
    fn flipped_bit_is_corrupt() {
        let mut batch = build_batch(&[(10, Some(b"k"), Some(b"v"))]);
        let last = batch.len() - 1;
        batch[last] ^= 1;
        let error = validate_batch(&batch).unwrap_err();
        assert!(error.is_corrupt());
        assert!(matches!(error, BatchError::CrcMismatch { position: 0, .. }));
    }

    #[test]
    fn wrong_count_is_invalid() {
        let mut batch = build_batch(&[(10, Some(b"k"), Some(b"v"))]);
        batch[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&2i32.to_be_bytes());
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let error = validate_batch(&batch).unwrap_err();
        assert!(!error.is_corrupt());
        assert!(matches!(
            error,
            BatchError::OffsetDeltaMismatch {
                position: 0,
                last_offset_delta: 0,
                count: 2
            }
        ));
    }

    #[test]
    fn stamping_keeps_crc_valid() {
        let mut batch = build_batch(&[(10, Some(b"k"), Some(b"v"))]);
        stamp_batch(&mut batch, 42, 3, Some(99));
        assert_eq!(validate_batch(&batch), Ok(batch.len()));
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(
            (header.base_offset(), header.partition_leader_epoch()),
            (42, 3)
        );
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp(), 99);
    }

    #[test]
    fn truncated_batch_is_corrupt() {
        let batch = build_batch(&[(10, Some(b"k"), Some(b"v"))]);
        assert!(matches!(
            validate_batch(&batch[..batch.len() - 1]),
            Err(BatchError::Truncated { position: 0, .. })
        ));
        assert!(matches!(
            validate_batch(&batch[..20]),
            Err(BatchError::ShortHeader {
                position: 0,
                available: 20
            })
        ));
    }

    fn with_crc(mut batch: Vec<u8>) -> Vec<u8> {
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        batch
    }

    #[test]
    fn a_record_running_past_the_batch_is_invalid_and_located() {
        let mut batch = build_batch(&[(10, Some(b"k"), Some(b"v")), (11, None, Some(b"w"))]);
        let first_record_len = batch[RECORD_BATCH_OVERHEAD] as usize / 2 + 1;
        // The second record's length prefix becomes 63 (zigzag 0x7e): past the batch's end.
        batch[RECORD_BATCH_OVERHEAD + first_record_len] = 0x7e;
        let error = validate_batch(&with_crc(batch)).unwrap_err();
        assert!(!error.is_corrupt());
        assert!(
            matches!(
                error,
                BatchError::Record {
                    position: 0,
                    source: RecordError::RecordPastEnd { position, length: 63 }
                } if position == first_record_len
            ),
            "{error}"
        );
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let producer = BatchProducer {
            attributes: 2, // snappy
            ..BatchProducer::NONE
        };
        let mut batch = build_batch_as(&producer, &[(10, None, Some(b"v"))]);
        batch.truncate(RECORD_BATCH_OVERHEAD);
        // A raw snappy block that claims 100 MiB of output.
        let mut claimed = 100u64 << 20;
        while claimed >= 0x80 {
            batch.push((claimed as u8 & 0x7f) | 0x80);
            claimed >>= 7;
        }
        batch.push(claimed as u8);
        batch.extend_from_slice(&[0; 8]);
        let length = (batch.len() - LOG_OVERHEAD) as i32;
        batch[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
        assert!(matches!(
            records_section(&batch),
            Err(CodecError::TooLarge {
                codec: "snappy",
                limit: MAX_DECOMPRESSED_BYTES
            })
        ));
        assert!(matches!(
            records_section(&batch[..20]),
            Err(CodecError::ShortBatch(20))
        ));
    }
}
