//! SCRAM-SHA-256 and SCRAM-SHA-512 servers (RFC 5802, RFC 7677) over the salted credentials
//! of [`crate::security::scram::ScramCredentialStore`].
//!
//! Two rounds: client-first (`n,,n=<user>,r=<nonce>[,ext=value]`) is answered with
//! `r=<client nonce><server nonce>,s=<salt>,i=<iterations>`; client-final
//! (`c=biws,r=<nonce>,p=<proof>`) is checked (channel binding equal to the GS2 header, the
//! combined nonce, the proof against StoredKey) and answered with `v=<server signature>`. No
//! channel binding (`y`/`p=` GS2 flags are refused), and no delegation tokens: `tokenauth=true`
//! fails as an unknown token does in Kafka.
//!
//! References: RFC 5802 sections 3, 5 and 7; RFC 7677; Kafka's `ScramSaslServer`,
//! `ScramMessages` and `ScramFormatter`.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::plain::constant_time_eq;
use super::{SaslError, Step};
use crate::security::scram::{
    ScramCredential, ScramCredentialStore, ScramMechanism, MIN_ITERATIONS,
};

#[derive(Debug)]
enum State {
    ClientFirst,
    ClientFinal {
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        user: String,
        credential: ScramCredential,
    },
    Done,
}

/// A SCRAM exchange.
#[derive(Debug)]
pub(crate) struct ScramServer {
    mechanism: ScramMechanism,
    store: Arc<ScramCredentialStore>,
    server_nonce: Option<String>,
    state: State,
}

fn invalid(reason: impl Into<String>) -> SaslError {
    SaslError::Invalid(reason.into())
}

/// A fresh server nonce: 32 random letters and digits, as Kafka's are alphanumeric (older
/// librdkafka releases mishandle a nonce with `+`, `/` or `=` in it).
fn random_nonce() -> Result<String, SaslError> {
    const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| invalid(format!("no random nonce: {e}")))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 62)]))
        .collect())
}

/// Kafka's `ScramFormatter.username`: `=2C` is `,` and `=3D` is `=` in a SASL name.
fn username(sasl_name: &str) -> String {
    sasl_name.replace("=2C", ",").replace("=3D", "=")
}

impl ScramServer {
    /// An exchange of `mechanism` against `store`.
    pub(crate) fn new(mechanism: ScramMechanism, store: Arc<ScramCredentialStore>) -> Self {
        Self {
            mechanism,
            store,
            server_nonce: None,
            state: State::ClientFirst,
        }
    }

    /// Evaluates client-first, then client-final.
    ///
    /// Errors: `Invalid` for malformed messages, unknown users, wrong proofs (Kafka answers
    /// them with its generic message); `Authentication` for an authorization id that is not
    /// the user name.
    pub(crate) fn evaluate(&mut self, message: &[u8]) -> Result<Step, SaslError> {
        let text = std::str::from_utf8(message)
            .map_err(|_| invalid("Invalid SCRAM client message: not UTF-8"))?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => self.client_first(text),
            State::ClientFinal {
                gs2_header,
                client_first_bare,
                server_first,
                nonce,
                user,
                credential,
            } => {
                let format =
                    || invalid(format!("Invalid SCRAM client final message format: {text}"));
                let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(format)?;
                let mut fields = without_proof.split(',');
                let channel = fields
                    .next()
                    .and_then(|f| f.strip_prefix("c="))
                    .ok_or_else(format)?;
                let final_nonce = fields
                    .next()
                    .and_then(|f| f.strip_prefix("r="))
                    .ok_or_else(format)?;
                if BASE64.decode(channel).ok().as_deref() != Some(gs2_header.as_bytes()) {
                    return Err(invalid(
                        "Invalid channel binding in the final client message.",
                    ));
                }
                // Kafka's check (3.8+; 3.7 has none): librdkafka before 2.2 sends its own
                // nonce again in front of the combined one.
                if !final_nonce.ends_with(&nonce) {
                    return Err(invalid("Invalid client nonce in the final client message."));
                }
                let proof = BASE64.decode(proof).map_err(|_| format())?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let m = self.mechanism;
                let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(invalid("Invalid client credentials"));
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                if !constant_time_eq(&m.hash(&client_key), &credential.stored_key) {
                    return Err(invalid("Invalid client credentials"));
                }
                let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(Step::Complete {
                    response: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
                    user,
                    credential_expiry_ms: None,
                })
            }
            State::Done => Err(invalid(
                "Unexpected challenge in Sasl server state COMPLETE",
            )),
        }
    }

    fn client_first(&mut self, text: &str) -> Result<Step, SaslError> {
        let format = || invalid(format!("Invalid SCRAM client first message format: {text}"));
        let rest = text.strip_prefix("n,").ok_or_else(format)?;
        let (authzid, bare) = rest.split_once(',').ok_or_else(format)?;
        let authzid = match authzid {
            "" => "",
            a => a.strip_prefix("a=").ok_or_else(format)?,
        };
        let gs2_header = format!(
            "n,{},",
            if authzid.is_empty() {
                String::new()
            } else {
                format!("a={authzid}")
            }
        );
        let mut fields = bare.split(',').peekable();
        if fields.peek().is_some_and(|f| f.starts_with("m=")) {
            fields.next();
        }
        let sasl_name = fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .ok_or_else(format)?;
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(format)?;
        let mut token_auth = false;
        for extension in fields {
            let (key, value) = extension.split_once('=').ok_or_else(format)?;
            if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
                token_auth = true;
            }
        }
        let user = username(sasl_name);
        if token_auth {
            // Delegation tokens are not served: every token id is unknown.
            return Err(invalid(format!(
                "Token Authentication failed: Invalid tokenId : {user}"
            )));
        }
        let credential = self
            .store
            .get(&user, self.mechanism)
            .ok_or_else(|| invalid("Authentication failed: Invalid user credentials"))?;
        if !authzid.is_empty() && authzid != user {
            return Err(SaslError::Authentication(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            ));
        }
        if credential.iterations < MIN_ITERATIONS {
            return Err(invalid(format!(
                "Iterations {} is less than the minimum {MIN_ITERATIONS} for {}",
                credential.iterations,
                self.mechanism.name()
            )));
        }
        let server_nonce = match self.server_nonce.take() {
            Some(nonce) => nonce,
            None => random_nonce()?,
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        self.state = State::ClientFinal {
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
            user,
            credential,
        };
        Ok(Step::Challenge(server_first.into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc_7677_test_vector() -> Result<(), Box<dyn std::error::Error>> {
        let store = Arc::new(ScramCredentialStore::default());
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")?;
        store.alter(
            &[],
            vec![(
                "user".into(),
                ScramMechanism::Sha256,
                ScramCredential::from_password(ScramMechanism::Sha256, "pencil", &salt, 4096),
            )],
        )?;
        let mut server = ScramServer::new(ScramMechanism::Sha256, Arc::clone(&store));
        server.server_nonce = Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into());
        let first = server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")?;
        assert_eq!(
            first,
            Step::Challenge(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec()
            )
        );
        let last = server.evaluate(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )?;
        assert_eq!(
            last,
            Step::Complete {
                response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
                user: "user".into(),
                credential_expiry_ms: None,
            }
        );
        // A wrong proof, a wrong nonce and a changed channel binding are refused.
        for (final_message, error) in [
            ("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "Invalid client credentials"),
            ("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "Invalid client nonce in the final client message."),
            // librdkafka < 2.2 repeats its nonce in front: past the nonce check, as in Kafka.
            ("c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "Invalid client credentials"),
            ("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "Invalid channel binding in the final client message."),
        ] {
            let mut server = ScramServer::new(ScramMechanism::Sha256, Arc::clone(&store));
            server.server_nonce = Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into());
            server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")?;
            assert_eq!(
                server.evaluate(final_message.as_bytes()),
                Err(SaslError::Invalid(error.into()))
            );
        }
        Ok(())
    }

    #[test]
    fn unknown_users_tokens_and_channel_binding_are_refused() {
        let store = Arc::new(ScramCredentialStore::default());
        for first in [
            &b"n,,n=nobody,r=abc"[..],
            b"n,,n=nobody,r=abc,tokenauth=true",
            b"y,,n=user,r=abc",
            b"p=tls-unique,,n=user,r=abc",
        ] {
            let mut server = ScramServer::new(ScramMechanism::Sha512, Arc::clone(&store));
            assert!(matches!(server.evaluate(first), Err(SaslError::Invalid(_))));
        }
    }
}
