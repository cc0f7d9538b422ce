//! Request framing and decoding on arbitrary bytes: a frame either decodes or is refused with
//! an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = josefine_broker::protocol::apis::decode_request(bytes::Bytes::copy_from_slice(data));
});
