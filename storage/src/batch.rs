//! Record batches (magic 2) as they travel on the wire and lie on disk.
//!
//! The log never decompresses a batch on the append path: it checks the header and the CRC32C
//! and rewrites the base offset and partition leader epoch in place. Only timestamp look-ups
//! read individual records.
//!
//! References: Kafka documentation, "Message Format" / "Record Batch" (section 5.3.1);
//! KIP-98 (producer id, epoch, sequence fields).
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Read;

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
    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
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

/// Why a batch failed [`validate_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The bytes are damaged: length or CRC (CORRUPT_MESSAGE).
    Corrupt(String),
    /// The batch is well formed but invalid (INVALID_RECORD).
    Invalid(String),
}

/// Checks the batch at the start of `bytes` and returns its total size in bytes.
///
/// Checks the length fields against the bytes available, magic 2, the CRC32C, that the record
/// count agrees with the last offset delta and, for uncompressed batches, that the records
/// themselves parse with contiguous offset deltas. Compressed batches are not decompressed.
pub fn validate_batch(bytes: &[u8]) -> Result<usize, BatchError> {
    check_batch(bytes, false)
}

/// [`validate_batch`] for a batch read back from a segment, where compaction may have removed
/// records: the record count may be below `last_offset_delta + 1` (even 0: Kafka keeps empty
/// batches to remember a producer's sequence), and record offset deltas rise with gaps up to
/// the last offset delta.
pub fn validate_stored_batch(bytes: &[u8]) -> Result<usize, BatchError> {
    check_batch(bytes, true)
}

fn check_batch(bytes: &[u8], stored: bool) -> Result<usize, BatchError> {
    let header = BatchHeader::parse(bytes).ok_or_else(|| {
        BatchError::Corrupt(format!(
            "{} bytes left, fewer than a batch header",
            bytes.len()
        ))
    })?;
    let length = header.batch_length();
    let size = header.total_size();
    if length < (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32 || size > bytes.len() {
        return Err(BatchError::Corrupt(format!(
            "batch length {length} does not fit the {} bytes left",
            bytes.len()
        )));
    }
    if header.magic() != 2 {
        return Err(BatchError::Invalid(format!(
            "magic {} is not supported, only 2",
            header.magic()
        )));
    }
    let covered = bytes.get(ATTRIBUTES_OFFSET..size).unwrap_or_default();
    let crc = crc32c::crc32c(covered);
    if crc != header.crc() {
        return Err(BatchError::Corrupt(format!(
            "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
            header.crc()
        )));
    }
    let count = header.records_count();
    if count < i32::from(!stored) || header.last_offset_delta() < 0 {
        return Err(BatchError::Invalid(format!("record count {count}")));
    }
    let delta_mismatch = if stored {
        i64::from(header.last_offset_delta()) < i64::from(count) - 1
    } else {
        i64::from(header.last_offset_delta()) != i64::from(count) - 1
    };
    if delta_mismatch {
        return Err(BatchError::Invalid(format!(
            "last offset delta {} disagrees with record count {count}",
            header.last_offset_delta()
        )));
    }
    if header.compression() > 4 {
        return Err(BatchError::Invalid(format!(
            "unknown compression codec {}",
            header.compression()
        )));
    }
    if header.compression() == 0 {
        let body = bytes.get(RECORD_BATCH_OVERHEAD..size).unwrap_or_default();
        let mut expected_delta = 0i64;
        let mut seen = 0i64;
        let mut records = RecordIter::new(body);
        for record in records.by_ref() {
            let record = record.map_err(BatchError::Invalid)?;
            let in_order = if stored {
                record.offset_delta >= expected_delta
                    && record.offset_delta <= i64::from(header.last_offset_delta())
            } else {
                record.offset_delta == expected_delta
            };
            if !in_order {
                return Err(BatchError::Invalid(format!(
                    "record offset delta {} where {expected_delta} was expected",
                    record.offset_delta
                )));
            }
            expected_delta = record.offset_delta + 1;
            seen += 1;
        }
        if seen != i64::from(count) {
            return Err(BatchError::Invalid(format!(
                "{seen} records where the header says {count}"
            )));
        }
    }
    Ok(size)
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

/// Iterates the records of an uncompressed records section, yielding an error string when a
/// record does not parse. Stops after the first error.
pub struct RecordIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates the records in `body` (the bytes after the 61-byte header).
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            rest: body,
            failed: false,
        }
    }
}

fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, String> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or("varint runs past the record")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err("varint longer than 10 bytes".into());
        }
    }
    Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
}

/// Reads a varint-length-prefixed bytes field; `None` for length -1 (null).
fn read_bytes_field<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, String> {
    let len = read_varlong(buf, pos)?;
    if len < -1 {
        return Err(format!("field length {len}"));
    }
    if len == -1 {
        return Ok(None);
    }
    let len = len as usize;
    let field = buf
        .get(*pos..pos.saturating_add(len))
        .ok_or("field runs past the record")?;
    *pos += len;
    Ok(Some(field))
}

fn parse_record(record: &[u8]) -> Result<RecordInfo<'_>, String> {
    let mut pos = 1usize; // attributes
    if record.is_empty() {
        return Err("empty record".into());
    }
    let timestamp_delta = read_varlong(record, &mut pos)?;
    let offset_delta = read_varlong(record, &mut pos)?;
    let key = read_bytes_field(record, &mut pos)?;
    let value = read_bytes_field(record, &mut pos)?;
    let headers = read_varlong(record, &mut pos)?;
    if headers < 0 {
        return Err(format!("header count {headers}"));
    }
    for _ in 0..headers {
        let key_len = read_varlong(record, &mut pos)?;
        if key_len < 0 || record.len().saturating_sub(pos) < key_len as usize {
            return Err("header key runs past the record".into());
        }
        pos += key_len as usize;
        read_bytes_field(record, &mut pos)?;
    }
    if pos != record.len() {
        return Err(format!(
            "record length {} but its fields take {pos} bytes",
            record.len()
        ));
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
    pub fn next_raw(&mut self) -> Option<Result<(&'a [u8], RecordInfo<'a>), String>> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let mut pos = 0;
        let rest = self.rest;
        let result = read_varlong(rest, &mut pos).and_then(|len| {
            if len < 0 || rest.len().saturating_sub(pos) < len as usize {
                return Err(format!("record length {len} runs past the batch"));
            }
            let end = pos + len as usize;
            let record = rest.get(pos..end).unwrap_or_default();
            self.rest = rest.get(end..).unwrap_or_default();
            parse_record(record).map(|info| (rest.get(..end).unwrap_or_default(), info))
        });
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordInfo<'a>, String>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw().map(|r| r.map(|(_, info)| info))
    }
}

/// Compresses a records section with a batch codec (1 gzip, 2 snappy, 3 lz4, 4 zstd; 0
/// copies). Errors name the codec.
pub fn compress(codec: i16, section: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    match codec {
        0 => Ok(section.to_vec()),
        1 => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder
                .write_all(section)
                .and_then(|()| encoder.finish())
                .map_err(|e| format!("gzip: {e}"))
        }
        2 => snap::raw::Encoder::new()
            .compress_vec(section)
            .map_err(|e| format!("snappy: {e}")),
        3 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
            encoder
                .write_all(section)
                .map_err(|e| format!("lz4: {e}"))?;
            encoder.finish().map_err(|e| format!("lz4: {e}"))
        }
        4 => Ok(ruzstd::encoding::compress_to_vec(
            section,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
        codec => Err(format!("unknown compression codec {codec}")),
    }
}

/// Rebuilds a stored batch around a subset of its records (the compactor's output): the header
/// of `original` (base offset, last offset delta, timestamps, producer fields and attributes
/// kept, so offsets never change), `records` (raw, length-prefixed, in order) compressed with
/// the original codec, `count` records, a fresh CRC.
///
/// Errors: the codec's.
pub fn rebuild_batch(original: &[u8], records: &[u8], count: i32) -> Result<Vec<u8>, String> {
    let header = original
        .get(..RECORD_BATCH_OVERHEAD)
        .ok_or("batch shorter than its header")?;
    let codec = BatchHeader::parse(original)
        .map(|h| h.compression())
        .unwrap_or(0);
    let body = compress(codec, records)?;
    let mut batch = Vec::with_capacity(RECORD_BATCH_OVERHEAD + body.len());
    batch.extend_from_slice(header);
    batch.extend_from_slice(&body);
    let length = i32::try_from(batch.len() - LOG_OVERHEAD).map_err(|_| "batch too large")?;
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

/// Returns the records section of a valid batch, decompressed when it is compressed.
///
/// Errors name the codec that failed, or say that the output passed
/// [`MAX_DECOMPRESSED_BYTES`]. Used off the produce path only (timestamp look-ups).
pub fn records_section(batch: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let header = BatchHeader::parse(batch).ok_or("batch shorter than its header")?;
    let body = batch
        .get(RECORD_BATCH_OVERHEAD..header.total_size().min(batch.len()))
        .unwrap_or_default();
    let mut out = Vec::new();
    match header.compression() {
        0 => return Ok(std::borrow::Cow::Borrowed(body)),
        1 => {
            flate2::read::MultiGzDecoder::new(body)
                .take(MAX_DECOMPRESSED_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("gzip: {e}"))?;
        }
        2 => out = snappy_decompress(body)?,
        3 => {
            lz4_flex::frame::FrameDecoder::new(body)
                .take(MAX_DECOMPRESSED_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("lz4: {e}"))?;
        }
        4 => {
            let mut decoder =
                ruzstd::decoding::StreamingDecoder::new(body).map_err(|e| format!("zstd: {e}"))?;
            decoder
                .read_to_end(&mut out)
                .map_err(|e| format!("zstd: {e}"))?;
        }
        codec => return Err(format!("unknown compression codec {codec}")),
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Snappy as Kafka clients write it: raw snappy (librdkafka), or xerial's framing (the Java
/// client's snappy-java stream: an 8-byte magic, two version ints, then length-prefixed blocks).
fn snappy_decompress(body: &[u8]) -> Result<Vec<u8>, String> {
    const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
    let mut decoder = snap::raw::Decoder::new();
    if body.starts_with(XERIAL_MAGIC) {
        let mut out = Vec::new();
        let mut pos = XERIAL_MAGIC.len() + 8;
        while pos < body.len() {
            let len =
                usize::try_from(be_i32(body, pos)).map_err(|_| "snappy: negative block length")?;
            pos += 4;
            let block = body
                .get(pos..pos + len)
                .ok_or("snappy: block runs past the batch")?;
            out.extend(
                decoder
                    .decompress_vec(block)
                    .map_err(|e| format!("snappy: {e}"))?,
            );
            pos += len;
        }
        Ok(out)
    } else {
        decoder
            .decompress_vec(body)
            .map_err(|e| format!("snappy: {e}"))
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
        assert!(matches!(
            validate_batch(&batch),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn wrong_count_is_invalid() {
        let mut batch = build_batch(&[(10, Some(b"k"), Some(b"v"))]);
        batch[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&2i32.to_be_bytes());
        let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate_batch(&batch),
            Err(BatchError::Invalid(_))
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
            Err(BatchError::Corrupt(_))
        ));
        assert!(matches!(
            validate_batch(&batch[..20]),
            Err(BatchError::Corrupt(_))
        ));
    }
}
