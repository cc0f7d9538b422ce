//! The entry point of the `sasl_messages` fuzz target: client messages run through a fresh
//! SASL server of one mechanism, as `net::sasl` feeds them from SaslAuthenticate requests or
//! raw v0 tokens. Not an API; the mechanisms themselves are the broker's own.

use std::sync::Arc;

use crate::config::sasl::{ListenerSaslConfig, Password};
use crate::config::SaslMechanism;
use crate::security::sasl::{SaslServer, Step};
use crate::security::scram::{ScramCredential, ScramCredentialStore, ScramMechanism};

/// Feeds `messages` in order to a new server of mechanism `selector % 4` (PLAIN,
/// SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER) that knows user `alice`; stops at the first
/// error or completion. Returns whether the exchange completed. Never panics (the fuzz
/// target's property).
#[doc(hidden)]
pub fn exchange(selector: u8, messages: &[&[u8]]) -> bool {
    let mechanism = match selector % 4 {
        0 => SaslMechanism::Plain,
        1 => SaslMechanism::ScramSha256,
        2 => SaslMechanism::ScramSha512,
        _ => SaslMechanism::OAuthBearer,
    };
    let mut config = ListenerSaslConfig::default();
    config
        .plain_users
        .insert("alice".into(), Password::new("alice-secret"));
    let store = ScramCredentialStore::default();
    let credentials = [ScramMechanism::Sha256, ScramMechanism::Sha512].map(|m| {
        let salted = m.hmac(b"alice-secret", b"salt");
        (
            "alice".to_string(),
            m,
            ScramCredential::from_salted_password(m, b"salt", &salted, 4096),
        )
    });
    if store.alter(&[], credentials.into()).is_err() {
        return false;
    }
    let mut server = SaslServer::new(
        mechanism,
        &Arc::new(config),
        &Arc::new(store),
        1_700_000_000_000,
    );
    for message in messages {
        match server.evaluate(message) {
            Ok(Step::Challenge(_)) => {}
            Ok(Step::Complete { .. }) => return true,
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_completes_and_garbage_does_not() {
        assert!(super::exchange(0, &[b"\0alice\0alice-secret"]));
        for selector in 0..4 {
            assert!(!super::exchange(
                selector,
                &[b"\xff\x00,=\x01", b"n,,", b"\x01"]
            ));
        }
    }
}
