//! Every request body decoder, reached through the API table: the input's first two bytes
//! pick a row of `APIS` and a version in its range (`josefine_fuzz::select`), the harness
//! writes a valid header for them, and the rest of the input is the body. The frame then goes
//! through `decode_request`: header, request bounds, body decoding. Never a panic, and a
//! frame of a served API and version is never refused as unsupported.
//!
//! One target with the API chosen by the input, rather than one target per API: libFuzzer's
//! mutations move inputs between APIs, the per-version seeds (`JOSEFINE_FUZZ_SEEDS`) start
//! every body decoder off at once, and one binary builds and links once instead of 35 times.
#![no_main]

use josefine_broker::error::ConnectionError;
use josefine_broker::protocol::apis::decode_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: josefine_fuzz::write_seeds_if_asked(josefine_fuzz::request_seeds),
    |data: &[u8]| {
        let Some((row, version, body)) = josefine_fuzz::select(data) else {
            return;
        };
        let Some(frame) = josefine_fuzz::frame(row, version, body) else {
            return;
        };
        match decode_request(frame) {
            Ok(request) => {
                assert_eq!((request.api_key, request.api_version), (row.key, version));
                assert!(request.body.is_some());
            }
            Err(ConnectionError::Malformed { .. }) => {}
            Err(other) => panic!("{:?} v{version}: {other}", row.key),
        }
    }
);
