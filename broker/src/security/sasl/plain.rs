//! SASL/PLAIN (RFC 4616): one message `authzid NUL authcid NUL passwd`, checked against the
//! `user_<name>` options of the listener's `PlainLoginModule` JAAS line.
//!
//! References: RFC 4616; Kafka's `PlainSaslServer` and `PlainServerCallbackHandler`.

use std::sync::Arc;

use super::{SaslError, Step};
use crate::config::sasl::ListenerSaslConfig;

/// A PLAIN exchange.
#[derive(Debug)]
pub(crate) struct PlainServer {
    config: Arc<ListenerSaslConfig>,
}

impl PlainServer {
    /// An exchange checking the users of `config`.
    pub(crate) fn new(config: Arc<ListenerSaslConfig>) -> Self {
        Self { config }
    }

    /// Checks the one PLAIN message.
    ///
    /// Errors: `Authentication` with Kafka's messages.
    pub(crate) fn evaluate(&mut self, message: &[u8]) -> Result<Step, SaslError> {
        let text = String::from_utf8_lossy(message);
        // Kafka splits on NUL and keeps empty tokens: exactly three are required.
        let tokens: Vec<&str> = text.split('\u{0}').collect();
        let [authzid, username, password] = tokens[..] else {
            return Err(SaslError::Authentication(format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                tokens.len()
            )));
        };
        if username.is_empty() {
            return Err(SaslError::Authentication(
                "Authentication failed: username not specified".into(),
            ));
        }
        if password.is_empty() {
            return Err(SaslError::Authentication(
                "Authentication failed: password not specified".into(),
            ));
        }
        let matches = self
            .config
            .plain_users
            .get(username)
            .is_some_and(|expected| {
                constant_time_eq(expected.expose().as_bytes(), password.as_bytes())
            });
        if !matches {
            return Err(SaslError::Authentication(
                "Authentication failed: Invalid username or password".into(),
            ));
        }
        if !authzid.is_empty() && authzid != username {
            return Err(SaslError::Authentication(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            ));
        }
        Ok(Step::Complete {
            response: Vec::new(),
            user: username.to_string(),
            credential_expiry_ms: None,
        })
    }
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sasl::Password;

    fn server() -> PlainServer {
        let mut users = std::collections::BTreeMap::new();
        users.insert("alice".to_string(), Password::new("alice-secret"));
        PlainServer::new(Arc::new(ListenerSaslConfig {
            plain_users: users,
            ..ListenerSaslConfig::default()
        }))
    }

    #[test]
    fn users_of_the_jaas_line_and_kafkas_refusals() {
        assert!(matches!(
            server().evaluate(b"\0alice\0alice-secret"),
            Ok(Step::Complete { user, .. }) if user == "alice"
        ));
        for (message, error) in [
            (&b"\0alice\0wrong"[..], "Authentication failed: Invalid username or password"),
            (b"\0bob\0alice-secret", "Authentication failed: Invalid username or password"),
            (b"\0\0x", "Authentication failed: username not specified"),
            (b"alice\0alice-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"),
            (
                b"bob\0alice\0alice-secret",
                "Authentication failed: Client requested an authorization id that is different from username",
            ),
        ] {
            assert_eq!(
                server().evaluate(message),
                Err(SaslError::Authentication(error.into()))
            );
        }
    }
}
