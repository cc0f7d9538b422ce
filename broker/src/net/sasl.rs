//! The SASL authenticator of a SASL_PLAINTEXT or SASL_SSL connection: what Kafka's
//! `SaslServerAuthenticator` does before a connection's requests reach the API table.
//!
//! A connection starts unauthenticated. Only ApiVersions (served by the table),
//! SaslHandshake and SaslAuthenticate are accepted, in frames of at most
//! `sasl.server.max.receive.size` bytes; any other request closes the connection. SaslHandshake
//! v1 is followed by SaslAuthenticate requests; v0 by raw size-prefixed tokens in both
//! directions (the unframed flow). A mechanism not enabled is answered with
//! UNSUPPORTED_SASL_MECHANISM and the enabled list, a failed exchange with
//! SASL_AUTHENTICATION_FAILED and Kafka's message; both then close the connection. On success
//! the connection's principal becomes `User:<name>`.
//!
//! Re-authentication (KIP-368): a client that used SaslAuthenticate v1+ may send SaslHandshake
//! again once authenticated and run a new exchange on the same connection, with the same
//! mechanism and principal. With `connections.max.reauth.ms` set (or an expiring OAUTHBEARER
//! token), SaslAuthenticate answers `session_lifetime_ms`; once the session expires, any
//! request other than SaslHandshake closes the connection.
//!
//! References: KIP-43, KIP-152 (SaslAuthenticate), KIP-368; Kafka's
//! `SaslServerAuthenticator` and `KafkaChannel`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateResponse, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use crate::config::sasl::ListenerSaslConfig;
use crate::config::SaslMechanism;
use crate::context::ConnectionContext;
use crate::error::ConnectionError;
use crate::protocol::apis::{decode_request, RequestBody, ResponseBody};
use crate::protocol::frame::BodyBuilder;
use crate::security::sasl::{SaslError, SaslServer, Step};
use crate::security::scram::ScramCredentialStore;
use crate::security::KafkaPrincipal;
use crate::state::BrokerState;

/// What the connection does with a frame.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Hand the frame to the API table.
    Serve,
    /// Write `bytes` (a framed response or raw token); then close with `close` if set.
    Respond {
        /// The bytes to write, size prefix included.
        bytes: Bytes,
        /// Why the connection closes after the write, if it does.
        close: Option<ConnectionError>,
    },
    /// Close the connection without an answer.
    Close(ConnectionError),
}

#[derive(Debug)]
enum Phase {
    /// Waiting for ApiVersions or SaslHandshake.
    Handshake,
    /// An exchange of `mechanism` is running.
    Authenticate {
        server: Box<SaslServer>,
        mechanism: SaslMechanism,
        /// SaslAuthenticate frames (handshake v1) or raw tokens (v0).
        framed: bool,
    },
    /// Authenticated: requests go to the table.
    Authenticated,
    /// Re-authentication asked for another mechanism: the next frame closes the connection
    /// with this message (Kafka's `REAUTH_BAD_MECHANISM`).
    BadMechanism(String),
}

#[derive(Debug)]
struct Session {
    principal: KafkaPrincipal,
    mechanism: SaslMechanism,
    expires_at: Option<Instant>,
}

/// The authentication state of one SASL connection.
#[derive(Debug)]
pub(crate) struct Authenticator {
    state: Arc<BrokerState>,
    config: Arc<ListenerSaslConfig>,
    scram: Arc<ScramCredentialStore>,
    phase: Phase,
    session: Option<Session>,
    client_supports_reauthentication: bool,
}

fn authentication_error(message: impl Into<String>) -> ConnectionError {
    ConnectionError::Authentication(message.into())
}

impl Authenticator {
    /// The authenticator of a connection on listener `listener`; `None` when the listener
    /// does not use SASL.
    pub(crate) fn for_listener(state: &Arc<BrokerState>, listener: usize) -> Option<Self> {
        let bound = state.listeners.get(listener)?;
        if !bound.security_protocol.uses_sasl() {
            return None;
        }
        // Every SASL listener has settings once the config is checked; without them no
        // mechanism is enabled, so nothing authenticates (never an open door).
        let config = state
            .config
            .sasl
            .listeners
            .get(&bound.name)
            .cloned()
            .unwrap_or_default();
        Some(Self {
            state: Arc::clone(state),
            config: Arc::new(config),
            scram: Arc::clone(&state.scram_credentials),
            phase: Phase::Handshake,
            session: None,
            client_supports_reauthentication: false,
        })
    }

    /// The largest frame accepted now: `sasl.server.max.receive.size` until authenticated
    /// and during re-authentication, `socket.request.max.bytes` otherwise.
    pub(crate) fn frame_limit(&self) -> usize {
        match self.phase {
            Phase::Authenticated => self.state.config.socket_request_max_bytes,
            _ => self.state.config.sasl.server_max_receive_size,
        }
    }

    fn reauthenticating(&self) -> bool {
        self.session.is_some()
    }

    /// Decides what to do with `frame`, running the SASL APIs itself; sets the principal of
    /// `connection` when an exchange succeeds.
    pub(crate) fn on_frame(
        &mut self,
        frame: &Bytes,
        connection: &mut ConnectionContext,
    ) -> Outcome {
        let api_key = frame
            .get(0..2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .unwrap_or(-1);
        match &self.phase {
            Phase::Authenticated => {
                let now = Instant::now();
                let handshake = api_key == ApiKey::SaslHandshake as i16;
                if handshake && self.client_supports_reauthentication {
                    return self.handshake(frame);
                }
                let expired = self
                    .session
                    .as_ref()
                    .and_then(|s| s.expires_at)
                    .is_some_and(|at| at <= now);
                if expired && !handshake {
                    return Outcome::Close(authentication_error(
                        "the authenticated session expired (connections.max.reauth.ms) without re-authentication",
                    ));
                }
                Outcome::Serve
            }
            Phase::Handshake => {
                if api_key == ApiKey::ApiVersions as i16 && !self.reauthenticating() {
                    Outcome::Serve
                } else if api_key == ApiKey::SaslHandshake as i16 {
                    self.handshake(frame)
                } else {
                    Outcome::Close(authentication_error(format!(
                        "Unexpected Kafka request of type {} during SASL handshake.",
                        api_name(api_key)
                    )))
                }
            }
            Phase::BadMechanism(message) => Outcome::Close(authentication_error(message.clone())),
            Phase::Authenticate { framed: false, .. } => self.raw_token(frame, connection),
            Phase::Authenticate { framed: true, .. } => {
                if api_key != ApiKey::SaslAuthenticate as i16 {
                    return Outcome::Close(authentication_error(format!(
                        "Unexpected Kafka request of type {} during SASL authentication.",
                        api_name(api_key)
                    )));
                }
                self.authenticate(frame, connection)
            }
        }
    }

    fn handshake(&mut self, frame: &Bytes) -> Outcome {
        let request = match decode_request(frame.clone()) {
            Ok(request) => request,
            Err(err) => return Outcome::Close(err),
        };
        let Some(RequestBody::SaslHandshake(body)) = request.body else {
            return Outcome::Close(authentication_error("SaslHandshake did not decode"));
        };
        let enabled: Vec<StrBytes> = self
            .config
            .enabled_mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let mut response = SaslHandshakeResponse::default().with_mechanisms(enabled);
        let requested = SaslMechanism::from_name(&body.mechanism)
            .filter(|m| self.config.enabled_mechanisms.contains(m));
        let Some(mechanism) = requested else {
            response.error_code = ResponseError::UnsupportedSaslMechanism.code();
            let reason = format!("Unsupported SASL mechanism {}", body.mechanism.as_str());
            return respond(
                &response,
                ApiKey::SaslHandshake,
                request.api_version,
                request.correlation_id,
                Some(authentication_error(reason)),
            );
        };
        if let Some(previous) = self.session.as_ref().map(|s| s.mechanism) {
            if previous != mechanism {
                // Kafka answers the handshake and fails the exchange's first token.
                self.phase = Phase::BadMechanism(format!(
                    "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{}'",
                    mechanism.name(),
                    previous.name()
                ));
                return respond(
                    &response,
                    ApiKey::SaslHandshake,
                    request.api_version,
                    request.correlation_id,
                    None,
                );
            }
        }
        let server = SaslServer::new(
            mechanism,
            &self.config,
            &self.scram,
            self.state.clock.now_ms(),
        );
        self.phase = Phase::Authenticate {
            server: Box::new(server),
            mechanism,
            framed: request.api_version >= 1,
        };
        respond(
            &response,
            ApiKey::SaslHandshake,
            request.api_version,
            request.correlation_id,
            None,
        )
    }

    /// Evaluates one client message; `Ok` with the server's answer and, when the exchange
    /// completed, the session lifetime; `Err` with the message for the client.
    fn evaluate(
        &mut self,
        message: &[u8],
        connection: &mut ConnectionContext,
    ) -> Result<(Vec<u8>, Option<i64>), String> {
        let Phase::Authenticate {
            server, mechanism, ..
        } = &mut self.phase
        else {
            return Err("no SASL exchange is running".into());
        };
        let mechanism = *mechanism;
        let during = if self.session.is_some() {
            "re-authentication"
        } else {
            "authentication"
        };
        match server.evaluate(message) {
            Ok(Step::Challenge(challenge)) => Ok((challenge, None)),
            Ok(Step::Complete {
                response,
                user,
                credential_expiry_ms,
            }) => {
                let principal = KafkaPrincipal {
                    principal_type: "User".into(),
                    name: user,
                };
                if let Some(session) = &self.session {
                    if session.principal != principal {
                        return Err(format!(
                            "Cannot change principals during re-authentication from {}.{}: {}.{}",
                            session.principal.principal_type,
                            session.principal.name,
                            principal.principal_type,
                            principal.name
                        ));
                    }
                }
                let now_ms = self.state.clock.now_ms();
                let max = self.config.connections_max_reauth.get(&mechanism).copied();
                let lifetime_ms = match (credential_expiry_ms, max) {
                    (None, None) => None,
                    (None, Some(max)) => Some(max.as_millis() as i64),
                    (Some(expiry), None) => Some((expiry - now_ms).max(0)),
                    (Some(expiry), Some(max)) => {
                        Some((expiry - now_ms).min(max.as_millis() as i64).max(0))
                    }
                };
                tracing::debug!(%principal, mechanism = mechanism.name(), during, "authenticated");
                connection.principal = principal.clone();
                self.session = Some(Session {
                    principal,
                    mechanism,
                    expires_at: lifetime_ms
                        .map(|ms| Instant::now() + Duration::from_millis(ms.unsigned_abs())),
                });
                self.phase = Phase::Authenticated;
                Ok((response, Some(lifetime_ms.unwrap_or(0))))
            }
            Err(SaslError::Authentication(message)) => Err(message),
            Err(SaslError::Invalid(reason)) => {
                tracing::debug!(%reason, mechanism = mechanism.name(), "SASL exchange failed");
                Err(format!(
                    "Authentication failed during {during} due to invalid credentials with SASL mechanism {}",
                    mechanism.name()
                ))
            }
        }
    }

    fn authenticate(&mut self, frame: &Bytes, connection: &mut ConnectionContext) -> Outcome {
        let request = match decode_request(frame.clone()) {
            Ok(request) => request,
            Err(err) => return Outcome::Close(err),
        };
        let Some(RequestBody::SaslAuthenticate(body)) = request.body else {
            return Outcome::Close(authentication_error("SaslAuthenticate did not decode"));
        };
        if request.api_version > 0 {
            self.client_supports_reauthentication = true;
        }
        let (response, close) = match self.evaluate(&body.auth_bytes, connection) {
            Ok((bytes, lifetime)) => (
                SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(bytes))
                    .with_session_lifetime_ms(lifetime.unwrap_or(0)),
                None,
            ),
            Err(message) => (
                SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_string(message.clone()))),
                Some(authentication_error(message)),
            ),
        };
        if close.is_some() {
            self.phase = Phase::Handshake;
        }
        respond(
            &response,
            ApiKey::SaslAuthenticate,
            request.api_version,
            request.correlation_id,
            close,
        )
    }

    fn raw_token(&mut self, frame: &Bytes, connection: &mut ConnectionContext) -> Outcome {
        match self.evaluate(frame, connection) {
            Ok((bytes, _)) => {
                let mut out = BytesMut::with_capacity(4 + bytes.len());
                out.put_i32(bytes.len() as i32);
                out.put_slice(&bytes);
                Outcome::Respond {
                    bytes: out.freeze(),
                    close: None,
                }
            }
            // The unframed flow has no way to carry an error: Kafka closes.
            Err(message) => Outcome::Close(authentication_error(message)),
        }
    }
}

/// Kafka's name of an API in its messages: `METADATA`, `SASL_HANDSHAKE`.
fn api_name(api_key: i16) -> String {
    let Ok(key) = ApiKey::try_from(api_key) else {
        return format!("api key {api_key}");
    };
    let mut name = String::new();
    for (i, c) in format!("{key:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

fn respond(
    response: &dyn ResponseBody,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    close: Option<ConnectionError>,
) -> Outcome {
    let mut out = BodyBuilder::new();
    let framed = response
        .encode_body(version, &mut out)
        .and_then(|_| out.finish(correlation_id, api_key.response_header_version(version)));
    match framed {
        Ok(frame) => Outcome::Respond {
            bytes: frame.to_bytes(),
            close,
        },
        Err(err) => Outcome::Close(err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_names_are_kafkas() {
        assert_eq!(super::api_name(3), "METADATA");
        assert_eq!(super::api_name(17), "SASL_HANDSHAKE");
        assert_eq!(super::api_name(-5), "api key -5");
    }
}
