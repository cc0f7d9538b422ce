//! TLS for SSL and SASL_SSL listeners: one rustls `ServerConfig` per listener, built at
//! start-up from the listener's [`SslConfig`], and the handshake of each connection, run in
//! the connection's own task with a time limit.
//!
//! `ssl.enabled.protocols` maps to rustls' versions (TLSv1.2, TLSv1.3; TLSv1 and TLSv1.1 are
//! not served, with a warning), `ssl.cipher.suites` to rustls' suites (Java and IANA names are
//! the same but for TLS 1.3, where rustls says `TLS13_` for Java's `TLS_`), and
//! `ssl.client.auth` to a client certificate verifier over the trust store's certificates.
//!
//! References: Kafka documentation section 7.3; Kafka's `SslFactory`,
//! `DefaultSslEngineFactory`; RFC 8446; RFC 5246.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::ssl::{ClientAuth, PrincipalMappingRules, SslConfig};
use crate::config::SecurityProtocol;
use crate::security::keystore::{load_key_material, load_trusted_certificates};
use crate::security::ssl_principal::ssl_principal;
use crate::security::KafkaPrincipal;

/// What a TLS listener needs to accept connections: the acceptor and how to name clients.
pub(crate) struct TlsListener {
    acceptor: TlsAcceptor,
    rules: PrincipalMappingRules,
    security_protocol: SecurityProtocol,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("security_protocol", &self.security_protocol)
            .finish_non_exhaustive()
    }
}

/// The rustls name of a Java/IANA cipher suite name.
fn rustls_suite_name(java: &str) -> String {
    match java.strip_prefix("TLS_") {
        Some(rest) if !rest.contains("_WITH_") => format!("TLS13_{rest}"),
        _ => java.to_string(),
    }
}

impl TlsListener {
    /// Builds the TLS side of listener `ssl.listener` (SSL or SASL_SSL): reads the stores,
    /// picks versions and suites, sets client authentication.
    ///
    /// Errors: the reason, naming the file or key: a store that cannot be read, no usable
    /// protocol or cipher suite, `ssl.client.auth=required` without a trust store.
    pub(crate) fn build(
        ssl: &SslConfig,
        security_protocol: SecurityProtocol,
    ) -> Result<Self, String> {
        let listener = &ssl.listener;
        let key = load_key_material(ssl).map_err(|e| e.to_string())?;
        let mut provider = rustls::crypto::ring::default_provider();
        if !ssl.cipher_suites.is_empty() {
            let mut chosen = Vec::new();
            for name in &ssl.cipher_suites {
                let wanted = rustls_suite_name(name);
                match provider
                    .cipher_suites
                    .iter()
                    .find(|s| s.suite().as_str() == Some(wanted.as_str()))
                {
                    Some(suite) => chosen.push(*suite),
                    None => {
                        tracing::warn!(%listener, suite = %name, "ssl.cipher.suites: suite not available, ignored")
                    }
                }
            }
            if chosen.is_empty() {
                return Err(format!(
                    "ssl.cipher.suites of listener {listener}: none of {} is available; available: {}",
                    ssl.cipher_suites.join(","),
                    provider
                        .cipher_suites
                        .iter()
                        .filter_map(|s| s.suite().as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            provider.cipher_suites = chosen;
        }
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        let mut legacy = Vec::new();
        for protocol in &ssl.enabled_protocols {
            match protocol.as_str() {
                "TLSv1.3" => versions.push(&rustls::version::TLS13),
                "TLSv1.2" => versions.push(&rustls::version::TLS12),
                other => legacy.push(other.to_string()),
            }
        }
        if !legacy.is_empty() {
            tracing::warn!(
                %listener,
                ignored = %legacy.join(","),
                "ssl.enabled.protocols lists protocols older than TLSv1.2: only TLS 1.2 and 1.3 are served"
            );
        }
        versions.retain(|v| provider.cipher_suites.iter().any(|s| s.version() == *v));
        if versions.is_empty() {
            return Err(format!(
                "ssl.enabled.protocols of listener {listener}: no protocol of {} can be served with the chosen cipher suites (TLSv1.2 and TLSv1.3 are)",
                ssl.enabled_protocols.join(",")
            ));
        }
        let provider = Arc::new(provider);
        let verifier = match ssl.client_auth {
            ClientAuth::None => rustls::server::WebPkiClientVerifier::no_client_auth(),
            auth => {
                let trusted = load_trusted_certificates(ssl).map_err(|e| e.to_string())?;
                if trusted.is_empty() {
                    return Err(format!(
                        "ssl.client.auth={} on listener {listener} needs a trust store (ssl.truststore.location or ssl.truststore.certificates)",
                        if auth == ClientAuth::Required { "required" } else { "requested" }
                    ));
                }
                let mut roots = rustls::RootCertStore::empty();
                for certificate in trusted {
                    roots
                        .add(certificate)
                        .map_err(|e| format!("trust store of listener {listener}: {e}"))?;
                }
                let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                );
                let builder = if auth == ClientAuth::Requested {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                builder
                    .build()
                    .map_err(|e| format!("trust store of listener {listener}: {e}"))?
            }
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("listener {listener}: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(key.certificate_chain, key.private_key)
            .map_err(|e| format!("key store of listener {listener}: {e}"))?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            rules: ssl.principal_mapping_rules.clone(),
            security_protocol,
        })
    }

    /// Runs the TLS handshake on `stream` within `limit`, and names the client: on SSL
    /// listeners its certificate's mapped DN (`User:ANONYMOUS` without one), on SASL_SSL
    /// `User:ANONYMOUS` until SASL authenticates it.
    ///
    /// Errors: the reason (handshake failure, time limit, a DN no mapping rule applies to).
    pub(crate) async fn handshake<S>(
        &self,
        stream: S,
        limit: Duration,
    ) -> Result<(TlsStream<S>, KafkaPrincipal), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = tokio::time::timeout(limit, self.acceptor.accept(stream))
            .await
            .map_err(|_| format!("TLS handshake not done within {limit:?}"))?
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let principal = match self.security_protocol {
            SecurityProtocol::Ssl => {
                ssl_principal(stream.get_ref().1.peer_certificates(), &self.rules)
                    .map_err(|e| e.to_string())?
            }
            _ => KafkaPrincipal::anonymous(),
        };
        Ok((stream, principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_suite_names_map_to_rustls_names() {
        assert_eq!(
            rustls_suite_name("TLS_AES_128_GCM_SHA256"),
            "TLS13_AES_128_GCM_SHA256"
        );
        assert_eq!(
            rustls_suite_name("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        );
    }
}
