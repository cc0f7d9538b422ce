//! SASL mechanisms as pure servers: bytes from the client in, a challenge or the outcome out.
//! No sockets here; `net::sasl` drives them over SaslHandshake/SaslAuthenticate.
//!
//! A failure is one of Kafka's two kinds: [`SaslError::Authentication`] (Kafka's
//! `SaslAuthenticationException`) whose message goes to the client as it is, and
//! [`SaslError::Invalid`] (a `SaslException`) that the client sees as "Authentication failed
//! during authentication due to invalid credentials with SASL mechanism `<M>`", its reason
//! only logged.
//!
//! References: RFC 4422 (SASL); Kafka's `SaslServerAuthenticator`.

pub(crate) mod oauthbearer;
pub(crate) mod plain;
pub(crate) mod scram;

use std::sync::Arc;

use crate::config::sasl::ListenerSaslConfig;
use crate::config::SaslMechanism;
use crate::security::scram::{ScramCredentialStore, ScramMechanism};

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SaslError {
    /// The message is sent to the client (Kafka's `SaslAuthenticationException`).
    #[error("{0}")]
    Authentication(String),
    /// The client gets Kafka's generic message; this reason is logged only.
    #[error("{0}")]
    Invalid(String),
}

/// What a server answers to one client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this challenge and wait for the next client message.
    Challenge(Vec<u8>),
    /// Authentication succeeded: send `response` (possibly empty).
    Complete {
        /// The last server message.
        response: Vec<u8>,
        /// The authenticated user: the principal is `User:<user>`.
        user: String,
        /// When the credential expires, ms since the epoch (OAUTHBEARER's `exp`).
        credential_expiry_ms: Option<i64>,
    },
}

/// One exchange of one mechanism.
#[derive(Debug)]
pub(crate) enum SaslServer {
    /// PLAIN.
    Plain(plain::PlainServer),
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    Scram(scram::ScramServer),
    /// OAUTHBEARER.
    OAuthBearer(oauthbearer::OAuthBearerServer),
}

impl SaslServer {
    /// A new exchange of `mechanism` with the listener's settings, the SCRAM credentials and
    /// the wall clock `now_ms` (ms since the epoch, for token expiry).
    pub(crate) fn new(
        mechanism: SaslMechanism,
        config: &Arc<ListenerSaslConfig>,
        scram: &Arc<ScramCredentialStore>,
        now_ms: i64,
    ) -> Self {
        match mechanism {
            SaslMechanism::Plain => SaslServer::Plain(plain::PlainServer::new(Arc::clone(config))),
            SaslMechanism::ScramSha256 => SaslServer::Scram(scram::ScramServer::new(
                ScramMechanism::Sha256,
                Arc::clone(scram),
            )),
            SaslMechanism::ScramSha512 => SaslServer::Scram(scram::ScramServer::new(
                ScramMechanism::Sha512,
                Arc::clone(scram),
            )),
            SaslMechanism::OAuthBearer => SaslServer::OAuthBearer(
                oauthbearer::OAuthBearerServer::new(config.oauthbearer.clone(), now_ms),
            ),
        }
    }

    /// Evaluates one client message.
    ///
    /// Errors: see [`SaslError`]; the exchange is over after an error.
    pub(crate) fn evaluate(&mut self, message: &[u8]) -> Result<Step, SaslError> {
        match self {
            SaslServer::Plain(s) => s.evaluate(message),
            SaslServer::Scram(s) => s.evaluate(message),
            SaslServer::OAuthBearer(s) => s.evaluate(message),
        }
    }
}
