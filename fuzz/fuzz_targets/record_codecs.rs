//! Every decompression path on arbitrary bytes, without a valid CRC in the way: the input's
//! first byte picks the codec (0 none, 1 gzip, 2 snappy raw, 3 lz4, 4 zstd, 5 snappy in
//! xerial's framing, whose magic and version ints the harness writes), the rest is the
//! compressed records section. The harness wraps it in a batch header with that codec, a
//! correct length and CRC, and runs `records_section`, the record iteration, the batch
//! checks, and the compactor's `rebuild_batch`.
//!
//! Checks: never a panic; the output never passes `MAX_DECOMPRESSED_BYTES`; what
//! decompresses, recompressed by `rebuild_batch` with the same codec, decompresses to the same
//! records.
#![no_main]

use josefine_storage::batch::{
    build_batch, compress, rebuild_batch, records_section, validate_batch, validate_stored_batch,
    RecordIter, MAX_DECOMPRESSED_BYTES, RECORD_BATCH_OVERHEAD,
};
use libfuzzer_sys::fuzz_target;

const XERIAL_HEADER: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// A batch of `codec` around `section`, with consistent length, record count and CRC.
fn batch(codec: i16, section: &[u8]) -> Vec<u8> {
    let mut batch = build_batch(&[(1_700_000_000_000, Some(b"k"), Some(b"v"))]);
    batch.truncate(RECORD_BATCH_OVERHEAD);
    batch.extend_from_slice(section);
    let length = i32::try_from(batch.len() - 12).unwrap_or(i32::MAX);
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    batch[21..23].copy_from_slice(&codec.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let records = build_batch(&[
        (1_700_000_000_000, Some(b"key"), Some(b"value")),
        (1_700_000_000_001, None, Some(&[7u8; 300])),
        (1_700_000_000_002, Some(b"tombstone"), None),
    ]);
    let section = &records[RECORD_BATCH_OVERHEAD..];
    let mut seeds = Vec::new();
    for codec in 0..=4u8 {
        if let Ok(compressed) = compress(i16::from(codec), section) {
            seeds.push((
                format!("codec-{codec}"),
                [&[codec], &compressed[..]].concat(),
            ));
        }
    }
    if let Ok(block) = compress(2, section) {
        let len = u32::try_from(block.len()).unwrap_or(0).to_be_bytes();
        seeds.push(("codec-5-xerial".into(), [&[5u8], &len[..], &block].concat()));
    }
    seeds
}

fuzz_target!(
    init: josefine_fuzz::write_seeds_if_asked(seeds),
    |data: &[u8]| {
        let Some((&selector, rest)) = data.split_first() else {
            return;
        };
        let (codec, section) = match selector % 6 {
            5 => (2, [XERIAL_HEADER, rest].concat()),
            codec => (i16::from(codec), rest.to_vec()),
        };
        let batch = batch(codec, &section);
        let _ = validate_batch(&batch);
        let _ = validate_stored_batch(&batch);
        let Ok(records) = records_section(&batch) else {
            return;
        };
        assert!(records.len() as u64 <= MAX_DECOMPRESSED_BYTES);
        let mut count = 0i32;
        for record in RecordIter::new(&records) {
            if record.is_err() {
                break;
            }
            count += 1;
        }
        let rebuilt = rebuild_batch(&batch, &records, count).expect("recompress");
        let again = records_section(&rebuilt).expect("a rebuilt batch decompresses");
        assert!(again[..] == records[..], "codec {codec}: round trip differs");
    }
);
