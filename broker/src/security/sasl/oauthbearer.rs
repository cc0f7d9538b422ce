//! SASL/OAUTHBEARER (RFC 7628) with Kafka's unsecured-JWS validator, for development: the
//! token is a JWS with `"alg":"none"` and an empty signature, trusted for its claims.
//!
//! The client's one message is `n,[a=<authzid>],\x01auth=Bearer <token>\x01[key=value\x01]*\x01`.
//! The token must carry the principal claim (`sub` unless `unsecuredValidatorPrincipalClaimName`)
//! as a string, an `exp` not yet passed (less `unsecuredValidatorAllowableClockSkewMs`), an
//! `iat` if any not in the future, `exp` after `iat`, and every scope of
//! `unsecuredValidatorRequiredScope`. A refused token is answered, as in Kafka, with the JSON
//! challenge `{"status":"invalid_token"}` (`insufficient_scope` and the required scope for a
//! missing scope); the client acknowledges with `\x01` and the exchange fails with that JSON
//! as the message. The session cannot outlive `exp` (KIP-368).
//!
//! References: RFC 7628; RFC 7515 appendix A.5 (unsecured JWS); KIP-255; Kafka's
//! `OAuthBearerSaslServer`, `OAuthBearerUnsecuredValidatorCallbackHandler`,
//! `OAuthBearerUnsecuredJws` and `OAuthBearerValidationUtils`.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::Value;

use super::{SaslError, Step};
use crate::config::sasl::UnsecuredValidatorOptions;

const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An OAUTHBEARER exchange.
#[derive(Debug)]
pub(crate) struct OAuthBearerServer {
    options: UnsecuredValidatorOptions,
    now_ms: i64,
    error: Option<String>,
}

/// A validation failure: the status and, for a missing scope, the required scope.
struct Refusal {
    scope: Option<String>,
    reason: String,
}

fn refuse(reason: impl Into<String>) -> Refusal {
    Refusal {
        scope: None,
        reason: reason.into(),
    }
}

impl OAuthBearerServer {
    /// An exchange validating with `options` at wall-clock time `now_ms` (ms since epoch).
    pub(crate) fn new(options: UnsecuredValidatorOptions, now_ms: i64) -> Self {
        Self {
            options,
            now_ms,
            error: None,
        }
    }

    /// Evaluates the client's message.
    ///
    /// Errors: `Invalid` for a malformed message; `Authentication` with the JSON error once
    /// the client acknowledges a refused token, or for an authorization id that is not the
    /// token's principal.
    pub(crate) fn evaluate(&mut self, message: &[u8]) -> Result<Step, SaslError> {
        if message == [0x01] {
            if let Some(error) = self.error.take() {
                return Err(SaslError::Authentication(error));
            }
        }
        self.error = None;
        let text = std::str::from_utf8(message)
            .map_err(|_| SaslError::Invalid("Invalid OAUTHBEARER client first message".into()))?;
        let (authzid, token) = parse_initial_response(text)
            .ok_or_else(|| SaslError::Invalid("Invalid OAUTHBEARER client first message".into()))?;
        match self.validate(token) {
            Ok((principal, expiry_ms)) => {
                if !authzid.is_empty() && authzid != principal {
                    return Err(SaslError::Authentication(format!(
                        "Authentication failed: Client requested an authorization id ({authzid}) that is different from the token's principal name ({principal})"
                    )));
                }
                Ok(Step::Complete {
                    response: Vec::new(),
                    user: principal,
                    credential_expiry_ms: Some(expiry_ms),
                })
            }
            Err(refusal) => {
                tracing::debug!(reason = %refusal.reason, "OAUTHBEARER token refused");
                let json = match refusal.scope {
                    Some(scope) => {
                        format!("{{\"status\":\"insufficient_scope\", \"scope\":\"{scope}\"}}")
                    }
                    None => "{\"status\":\"invalid_token\"}".to_string(),
                };
                self.error = Some(json.clone());
                Ok(Step::Challenge(json.into_bytes()))
            }
        }
    }

    /// The token's principal and expiry (ms since epoch), or why it is refused.
    fn validate(&self, token: &str) -> Result<(String, i64), Refusal> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(refuse("an unsecured JWS has exactly two dots"));
        };
        if !signature.is_empty() {
            return Err(refuse("an unsecured JWS has an empty signature"));
        }
        let json = |part: &str| -> Result<serde_json::Map<String, Value>, Refusal> {
            let bytes = BASE64_URL
                .decode(part)
                .map_err(|e| refuse(format!("not base64url: {e}")))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(refuse("not a JSON object")),
            }
        };
        let header = json(header)?;
        if header.get("alg").and_then(Value::as_str) != Some("none") {
            return Err(refuse("the JOSE header's alg is not none"));
        }
        let claims = json(payload)?;
        let o = &self.options;
        let principal = match claims.get(&o.principal_claim_name) {
            Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
            Some(_) => {
                return Err(refuse(format!(
                    "The {} claim had the incorrect type",
                    o.principal_claim_name
                )))
            }
            None => {
                return Err(refuse(format!(
                    "Required claim missing: {}",
                    o.principal_claim_name
                )))
            }
        };
        let number = |name: &str| -> Result<Option<f64>, Refusal> {
            match claims.get(name) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(_) => Err(refuse(format!("The {name} claim had the incorrect type"))),
            }
        };
        let skew = o.allowable_clock_skew.as_millis() as f64;
        let now = self.now_ms as f64;
        let issued_at = number("iat")?;
        if let Some(iat) = issued_at {
            if 1000.0 * iat > now + skew {
                return Err(refuse("The Issued At value was after the indicated time"));
            }
        }
        let expiry = number("exp")?.ok_or_else(|| refuse("Required claim missing: exp"))?;
        if now - skew >= 1000.0 * expiry {
            return Err(refuse("the Expiration Time has passed"));
        }
        if issued_at.is_some_and(|iat| expiry <= iat) {
            return Err(refuse(
                "The Expiration Time was not after the Issued At time",
            ));
        }
        let scope: Vec<String> = match claims.get(&o.scope_claim_name) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = o.required_scope.iter().find(|s| !scope.contains(s)) {
            return Err(Refusal {
                scope: Some(format!("[{}]", o.required_scope.join(", "))),
                reason: format!("The provided scope was missing a required scope ({missing})"),
            });
        }
        Ok((principal, (1000.0 * expiry) as i64))
    }
}

/// The authorization id and the token of a client initial response (RFC 7628 3.1).
fn parse_initial_response(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("n,")?;
    let (authzid, rest) = rest.split_once(',')?;
    let authzid = match authzid {
        "" => "",
        a => a.strip_prefix("a=")?,
    };
    let pairs = rest.strip_prefix('\u{1}')?.strip_suffix("\u{1}\u{1}")?;
    let mut token = None;
    for pair in pairs.split('\u{1}') {
        let (key, value) = pair.split_once('=')?;
        if key == "auth" {
            let (scheme, value) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            token = Some(value.trim());
        }
    }
    Some((authzid, token?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(claims: &str) -> Vec<u8> {
        let header = BASE64_URL.encode(r#"{"alg":"none"}"#);
        let payload = BASE64_URL.encode(claims);
        format!("n,,\u{1}auth=Bearer {header}.{payload}.\u{1}\u{1}").into_bytes()
    }

    #[test]
    fn an_unsecured_token_authenticates_its_subject() {
        let mut server = OAuthBearerServer::new(UnsecuredValidatorOptions::default(), 1_000_000);
        assert_eq!(
            server.evaluate(&message(r#"{"sub":"alice","iat":900,"exp":2000}"#)),
            Ok(Step::Complete {
                response: vec![],
                user: "alice".into(),
                credential_expiry_ms: Some(2_000_000)
            })
        );
    }

    #[test]
    fn refused_tokens_get_kafkas_json_then_fail() {
        let options = UnsecuredValidatorOptions {
            required_scope: vec!["write".into()],
            ..UnsecuredValidatorOptions::default()
        };
        for (claims, json) in [
            (
                r#"{"sub":"alice","exp":999}"#,
                r#"{"status":"invalid_token"}"#,
            ),
            (r#"{"exp":2000}"#, r#"{"status":"invalid_token"}"#),
            (
                r#"{"sub":"alice","exp":2000,"scope":"read"}"#,
                r#"{"status":"insufficient_scope", "scope":"[write]"}"#,
            ),
        ] {
            let mut server = OAuthBearerServer::new(options.clone(), 1_000_000);
            assert_eq!(
                server.evaluate(&message(claims)),
                Ok(Step::Challenge(json.as_bytes().to_vec()))
            );
            assert_eq!(
                server.evaluate(&[1]),
                Err(SaslError::Authentication(json.into()))
            );
        }
    }
}
