//! Batch validation, record parsing and decompression on arbitrary bytes: never a panic, and
//! a batch that validates is read back whole.
#![no_main]

use josefine_storage::batch::{records_section, validate_batch, BatchHeader, RecordIter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(size) = validate_batch(data) {
        assert!(size <= data.len());
        let header = BatchHeader::parse(data).expect("a valid batch has a header");
        assert_eq!(header.total_size(), size);
        if let Ok(section) = records_section(&data[..size]) {
            for record in RecordIter::new(&section) {
                if record.is_err() {
                    break;
                }
            }
        }
    }
});
