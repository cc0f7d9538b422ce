//! SASL client messages (PLAIN, SCRAM-SHA-256/512 client-first and client-final, OAUTHBEARER
//! initial responses with unsecured JWS tokens): the input's first byte picks the mechanism,
//! the rest is split at 0xFF bytes into the messages of one exchange, each fed to the server
//! as a SaslAuthenticate request or raw v0 token would be. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let messages: Vec<&[u8]> = rest.split(|b| *b == 0xFF).take(4).collect();
    let _ = josefine_broker::protocol::sasl_fuzz::exchange(selector, &messages);
});
