//! Key stores and trust stores as Kafka reads them: JKS, PKCS12 and PEM (files or inline
//! values), including encrypted PKCS#8 keys (PBES2, and the legacy
//! `pbeWithSHAAnd3-KeyTripleDES-CBC` that Java and so Kafka accept).
//!
//! Errors name the file (or the configuration key of an inline value) and the reason: a
//! wrong password, no private key entry, no certificate.
//!
//! References: Kafka's `DefaultSslEngineFactory` (`FileBasedStore`, `PemStore`); KIP-651 (PEM
//! stores); RFC 7292 appendix B (PKCS#12 key derivation); RFC 8018 (PBES2); RFC 5958.

use std::fmt;
use std::path::Path;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::ssl::{Password, SslConfig, StoreConfig, StoreType};

/// A store that cannot be used: which one and why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {reason}")]
pub(crate) struct KeystoreError {
    /// The file, or the configuration key of an inline value.
    pub(crate) source_name: String,
    /// Why it cannot be used.
    pub(crate) reason: String,
}

fn fail(source_name: &str, reason: impl Into<String>) -> KeystoreError {
    KeystoreError {
        source_name: source_name.to_string(),
        reason: reason.into(),
    }
}

/// The broker's own key and certificate chain (leaf first), from the key store.
pub(crate) struct KeyMaterial {
    /// The certificate chain, leaf first, DER.
    pub(crate) certificate_chain: Vec<CertificateDer<'static>>,
    /// The private key, PKCS#8 DER (decrypted).
    pub(crate) private_key: PrivateKeyDer<'static>,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("certificates", &self.certificate_chain.len())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// Reads the key store of `config`: a JKS or PKCS12 file, a PEM file, or the inline
/// `ssl.keystore.key` and `ssl.keystore.certificate.chain`.
///
/// Errors: the file or key named, with the reason (unreadable, wrong password, no private
/// key entry, no certificate, an encrypted key without `ssl.key.password`).
pub(crate) fn load_key_material(config: &SslConfig) -> Result<KeyMaterial, KeystoreError> {
    let store = &config.keystore;
    if let (Some(key), Some(chain)) = (&config.keystore_key, &config.keystore_certificate_chain) {
        let private_key = pem_private_key(
            "ssl.keystore.key",
            key.expose().as_bytes(),
            config.key_password.as_ref(),
        )?;
        let certificate_chain =
            pem_certificates("ssl.keystore.certificate.chain", chain.expose().as_bytes())?;
        return Ok(KeyMaterial {
            certificate_chain,
            private_key,
        });
    }
    let Some(location) = &store.location else {
        return Err(fail(&store.location_key, "no key store configured"));
    };
    let name = location.display().to_string();
    let bytes = read(location)?;
    match store.store_type {
        StoreType::Pem => Ok(KeyMaterial {
            private_key: pem_private_key(&name, &bytes, config.key_password.as_ref())?,
            certificate_chain: pem_certificates(&name, &bytes)?,
        }),
        StoreType::Jks => {
            let store_password = password(store, &name)?;
            let key_password = config.key_password.as_ref().unwrap_or(store_password);
            jks_key(&name, &bytes, store_password, key_password)
        }
        StoreType::Pkcs12 => {
            // keytool writes PKCS12 keys under the store password (it ignores -keypass).
            let store_password = password(store, &name)?;
            pkcs12_key(&name, &bytes, store_password, config.key_password.as_ref())
        }
    }
}

/// Reads the trusted certificates of `config`'s trust store: every certificate entry of a
/// JKS or PKCS12 file, every certificate of a PEM file or of `ssl.truststore.certificates`.
/// Empty when no trust store is configured.
///
/// Errors: the file or key named, with the reason.
pub(crate) fn load_trusted_certificates(
    config: &SslConfig,
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    if let Some(inline) = &config.truststore_certificates {
        return pem_certificates("ssl.truststore.certificates", inline.expose().as_bytes());
    }
    let store = &config.truststore;
    let Some(location) = &store.location else {
        return Ok(Vec::new());
    };
    let name = location.display().to_string();
    let bytes = read(location)?;
    match store.store_type {
        StoreType::Pem => pem_certificates(&name, &bytes),
        StoreType::Jks => {
            let mut keystore = jks::KeyStore::new();
            keystore
                .load(
                    bytes.as_slice(),
                    password(store, &name)?.expose().as_bytes(),
                )
                .map_err(|e| jks_error(&name, e))?;
            let mut certificates = Vec::new();
            for alias in keystore.aliases() {
                if let Ok(entry) = keystore.get_trusted_certificate_entry(&alias) {
                    certificates.push(CertificateDer::from(entry.certificate.content));
                } else if let Ok(chain) = keystore.get_private_key_entry_certificate_chain(&alias) {
                    // Java's TrustManagerFactory trusts the certificates of key entries too.
                    if let Some(first) = chain.into_iter().next() {
                        certificates.push(CertificateDer::from(first.content));
                    }
                }
            }
            non_empty(&name, certificates)
        }
        StoreType::Pkcs12 => {
            let keystore = p12_keystore::KeyStore::from_pkcs12(
                &bytes,
                password(store, &name)?.expose(),
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| pkcs12_error(&name, e))?;
            let mut certificates = Vec::new();
            for (_, entry) in keystore.entries() {
                match entry {
                    p12_keystore::KeyStoreEntry::Certificate(cert) => {
                        certificates.push(CertificateDer::from(cert.as_der().to_vec()))
                    }
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => {
                        if let Some(first) = chain.certs().first() {
                            certificates.push(CertificateDer::from(first.as_der().to_vec()));
                        }
                    }
                    p12_keystore::KeyStoreEntry::Secret(_) => {}
                }
            }
            non_empty(&name, certificates)
        }
    }
}

fn non_empty(
    name: &str,
    certificates: Vec<CertificateDer<'static>>,
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    if certificates.is_empty() {
        return Err(fail(name, "the trust store holds no certificate"));
    }
    Ok(certificates)
}

fn read(path: &Path) -> Result<Vec<u8>, KeystoreError> {
    std::fs::read(path).map_err(|e| fail(&path.display().to_string(), e.to_string()))
}

fn password<'a>(store: &'a StoreConfig, name: &str) -> Result<&'a Password, KeystoreError> {
    store
        .password
        .as_ref()
        .ok_or_else(|| fail(name, "the store has no password configured"))
}

fn jks_error(name: &str, err: jks::KeyStoreError) -> KeystoreError {
    match err {
        jks::KeyStoreError::InvalidDigest => fail(
            name,
            "keystore was tampered with, or password was incorrect",
        ),
        jks::KeyStoreError::InvalidMagic => fail(name, "not a JKS key store"),
        other => fail(name, format!("cannot read the JKS key store: {other}")),
    }
}

fn pkcs12_error(name: &str, err: p12_keystore::error::Error) -> KeystoreError {
    fail(
        name,
        format!("cannot read the PKCS12 store (wrong password or damaged file): {err}"),
    )
}

fn jks_key(
    name: &str,
    bytes: &[u8],
    store_password: &Password,
    key_password: &Password,
) -> Result<KeyMaterial, KeystoreError> {
    let mut keystore = jks::KeyStore::new();
    keystore
        .load(bytes, store_password.expose().as_bytes())
        .map_err(|e| jks_error(name, e))?;
    let mut aliases = keystore.aliases();
    aliases.sort();
    let alias = aliases
        .into_iter()
        .find(|alias| keystore.is_private_key_entry(alias))
        .ok_or_else(|| fail(name, "the key store holds no private key entry"))?;
    let entry = keystore
        .get_private_key_entry(&alias, key_password.expose().as_bytes())
        .map_err(|e| {
            fail(
                name,
                format!("cannot recover the private key {alias:?} (wrong ssl.key.password?): {e}"),
            )
        })?;
    let certificate_chain: Vec<CertificateDer<'static>> = entry
        .certificate_chain
        .into_iter()
        .map(|c| CertificateDer::from(c.content))
        .collect();
    if certificate_chain.is_empty() {
        return Err(fail(
            name,
            format!("the key entry {alias:?} has no certificate"),
        ));
    }
    Ok(KeyMaterial {
        certificate_chain,
        private_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.private_key)),
    })
}

fn pkcs12_key(
    name: &str,
    bytes: &[u8],
    store_password: &Password,
    key_password: Option<&Password>,
) -> Result<KeyMaterial, KeystoreError> {
    let open = |password: &Password| {
        p12_keystore::KeyStore::from_pkcs12(
            bytes,
            password.expose(),
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
    };
    let keystore = open(store_password).map_err(|e| pkcs12_error(name, e))?;
    let chain = match keystore.private_key_chain() {
        Some((_, chain)) => chain.clone(),
        // A store whose key bag is under a key password of its own (not keytool's way).
        None => match key_password
            .filter(|k| *k != store_password)
            .and_then(|k| open(k).ok())
            .and_then(|k| k.private_key_chain().map(|(_, c)| c.clone()))
        {
            Some(chain) => chain,
            None => return Err(fail(name, "the key store holds no private key entry")),
        },
    };
    let certificate_chain: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if certificate_chain.is_empty() {
        return Err(fail(name, "the key entry has no certificate"));
    }
    Ok(KeyMaterial {
        certificate_chain,
        private_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec())),
    })
}

/// The PEM sections of `text` as (label, DER), leniently as Kafka's `PemParser` reads them:
/// white space anywhere in the base64 (inline values joined onto one line included).
///
/// Errors: the reason, for a section without an end line or with bad base64.
pub(crate) fn pem_sections(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    use base64ct::Encoding;
    let text = String::from_utf8_lossy(text);
    let mut rest = text.as_ref();
    let mut sections = Vec::new();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| "a BEGIN line without its closing dashes".to_string())?;
        let label = after[..label_end].trim().to_string();
        let body_and_more = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_and_more
            .find(&end_marker)
            .ok_or_else(|| format!("no END line for {label}"))?;
        let body: String = body_and_more[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64ct::Base64::decode_vec(&body)
            .map_err(|_| format!("bad base64 in the {label} section"))?;
        sections.push((label, der));
        rest = &body_and_more[body_end + end_marker.len()..];
    }
    Ok(sections)
}

fn pem_certificates(
    name: &str,
    text: &[u8],
) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    let certificates: Vec<_> = pem_sections(text)
        .map_err(|reason| fail(name, reason))?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if certificates.is_empty() {
        return Err(fail(name, "no certificate found in PEM"));
    }
    Ok(certificates)
}

/// The private key of a PEM text: a `PRIVATE KEY` (PKCS#8), or an `ENCRYPTED PRIVATE KEY`
/// decrypted with `key_password`. Kafka reads PKCS#8 keys only.
fn pem_private_key(
    name: &str,
    text: &[u8],
    key_password: Option<&Password>,
) -> Result<PrivateKeyDer<'static>, KeystoreError> {
    let sections = pem_sections(text).map_err(|reason| fail(name, reason))?;
    for (label, der) in sections {
        match label.as_str() {
            "PRIVATE KEY" => {
                return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)));
            }
            "ENCRYPTED PRIVATE KEY" => {
                let password = key_password.ok_or_else(|| {
                    fail(
                        name,
                        "the private key is encrypted and ssl.key.password is not set",
                    )
                })?;
                let plain = decrypt_pkcs8(&der, password.expose()).map_err(|r| fail(name, r))?;
                return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain)));
            }
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(fail(
                    name,
                    format!(
                        "{label} is not PKCS#8; Kafka reads PKCS#8 keys (openssl pkcs8 -topk8)"
                    ),
                ));
            }
            _ => {}
        }
    }
    Err(fail(name, "no private key found in PEM"))
}

/// `pbeWithSHAAnd3-KeyTripleDES-CBC` (PKCS#12 PBE, RFC 7292 appendix C).
const PBE_SHA1_3DES: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");

/// Decrypts an `EncryptedPrivateKeyInfo` (RFC 5958) with `password`: PBES2 (PBKDF2 with
/// AES-CBC or 3DES) or the legacy PKCS#12 `pbeWithSHAAnd3-KeyTripleDES-CBC`.
///
/// Errors: the reason (unsupported scheme, wrong password).
pub(crate) fn decrypt_pkcs8(der_bytes: &[u8], password: &str) -> Result<Vec<u8>, String> {
    use der::Decode;
    let info = pkcs12::pbe_params::EncryptedPrivateKeyInfo::from_der(der_bytes)
        .map_err(|e| format!("not an encrypted PKCS#8 key: {e}"))?;
    if info.encryption_algorithm.oid == PBE_SHA1_3DES {
        let params = info
            .encryption_algorithm
            .parameters
            .as_ref()
            .ok_or("PBE parameters missing")?
            .decode_as::<pkcs12::pbe_params::Pkcs12PbeParams>()
            .map_err(|e| format!("bad PBE parameters: {e}"))?;
        return legacy_3des_decrypt(
            info.encrypted_data.as_bytes(),
            password,
            params.salt.as_bytes(),
            params.iterations,
        );
    }
    let parsed = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der_bytes)
        .map_err(|e| format!("unsupported key encryption: {e}"))?;
    let document = parsed
        .decrypt(password)
        .map_err(|_| "cannot decrypt the private key: wrong ssl.key.password".to_string())?;
    Ok(document.as_bytes().to_vec())
}

fn legacy_3des_decrypt(
    data: &[u8],
    password: &str,
    salt: &[u8],
    iterations: i32,
) -> Result<Vec<u8>, String> {
    use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
    use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};
    let key =
        derive_key_utf8::<sha1::Sha1>(password, salt, Pkcs12KeyType::EncryptionKey, iterations, 24)
            .map_err(|e| format!("key derivation: {e}"))?;
    let iv = derive_key_utf8::<sha1::Sha1>(password, salt, Pkcs12KeyType::Iv, iterations, 8)
        .map_err(|e| format!("key derivation: {e}"))?;
    let cipher = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
        .map_err(|_| "bad 3DES key length".to_string())?;
    let plain = cipher
        .decrypt_padded_vec::<Pkcs7>(data)
        .map_err(|_| "cannot decrypt the private key: wrong ssl.key.password".to_string())?;
    // A wrong password can still unpad by chance: the result must be a PrivateKeyInfo.
    if plain.first() != Some(&0x30) {
        return Err("cannot decrypt the private key: wrong ssl.key.password".into());
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_sections_allow_joined_lines() -> Result<(), String> {
        let text = "junk\n-----BEGIN CERTIFICATE----- AAEC \\\n AwQ= -----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nBQY=\n-----END PRIVATE KEY-----\n";
        let sections = pem_sections(text.replace("\\\n", "").as_bytes())?;
        assert_eq!(
            sections,
            vec![
                ("CERTIFICATE".to_string(), vec![0, 1, 2, 3, 4]),
                ("PRIVATE KEY".to_string(), vec![5, 6])
            ]
        );
        assert!(pem_sections(b"-----BEGIN CERTIFICATE-----\nAAEC\n").is_err());
        Ok(())
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A self-signed certificate and its PKCS#8 key, DER.
    fn certified_key() -> Result<(Vec<u8>, Vec<u8>), rcgen::Error> {
        let key = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
        Ok((cert.der().to_vec(), key.serialize_der()))
    }

    fn ssl_config(pairs: &[(&str, String)]) -> Result<SslConfig, crate::config::ConfigError> {
        let properties = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        SslConfig::from_properties(&properties, "SSL", false)
    }

    #[test]
    fn pkcs12_key_store_and_its_wrong_password() -> TestResult {
        let (cert, key) = certified_key()?;
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry(
            "server",
            p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
                vec![1u8],
                p12_keystore::PrivateKey::from_der(&key)?,
                [p12_keystore::Certificate::from_der(&cert)?],
            )),
        );
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.p12");
        std::fs::write(&path, store.writer("store-secret").write()?)?;
        let location = path.display().to_string();
        let config = |password: &str| {
            ssl_config(&[
                ("ssl.keystore.type", "PKCS12".into()),
                ("ssl.keystore.location", location.clone()),
                ("ssl.keystore.password", password.into()),
            ])
        };
        let material = load_key_material(&config("store-secret")?)?;
        assert_eq!(material.certificate_chain[0].as_ref(), &cert[..]);
        assert_eq!(material.private_key.secret_der(), &key[..]);
        let err = load_key_material(&config("wrong")?)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().starts_with(&location), "{err}");
        Ok(())
    }

    #[test]
    fn jks_key_store_with_its_own_key_password() -> TestResult {
        let (cert, key) = certified_key()?;
        let mut store = jks::KeyStore::new();
        store.set_private_key_entry(
            "server",
            jks::PrivateKeyEntry {
                creation_time: std::time::SystemTime::now(),
                private_key: key.clone(),
                certificate_chain: vec![jks::Certificate {
                    cert_type: "X509".into(),
                    content: cert.clone(),
                }],
            },
            b"key-secret",
        )?;
        let mut bytes = Vec::new();
        store.store(&mut bytes, b"store-secret")?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.jks");
        std::fs::write(&path, bytes)?;
        let config = |key_password: &str| {
            ssl_config(&[
                ("ssl.keystore.location", path.display().to_string()),
                ("ssl.keystore.password", "store-secret".into()),
                ("ssl.key.password", key_password.into()),
            ])
        };
        let material = load_key_material(&config("key-secret")?)?;
        assert_eq!(material.private_key.secret_der(), &key[..]);
        let err = load_key_material(&config("store-secret")?)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("wrong ssl.key.password"), "{err}");
        Ok(())
    }

    #[test]
    fn legacy_pbe_sha1_3des_key_decrypts() -> TestResult {
        use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
        use der::Encode;
        use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};
        let (_, key) = certified_key()?;
        let salt = [7u8; 8];
        let derive = |kind, size| derive_key_utf8::<sha1::Sha1>("secret", &salt, kind, 2048, size);
        let cipher = cbc::Encryptor::<des::TdesEde3>::new_from_slices(
            &derive(Pkcs12KeyType::EncryptionKey, 24)?,
            &derive(Pkcs12KeyType::Iv, 8)?,
        )?;
        let info = pkcs12::pbe_params::EncryptedPrivateKeyInfo {
            encryption_algorithm: spki::AlgorithmIdentifierOwned {
                oid: PBE_SHA1_3DES,
                parameters: Some(der::Any::encode_from(
                    &pkcs12::pbe_params::Pkcs12PbeParams {
                        salt: der::asn1::OctetString::new(salt.to_vec())?,
                        iterations: 2048,
                    },
                )?),
            },
            encrypted_data: der::asn1::OctetString::new(cipher.encrypt_padded_vec::<Pkcs7>(&key))?,
        }
        .to_der()?;
        assert_eq!(decrypt_pkcs8(&info, "secret")?, key);
        assert!(decrypt_pkcs8(&info, "not-it").is_err());
        Ok(())
    }

    #[test]
    fn missing_and_non_pkcs8_keys_are_named() {
        let err = pem_private_key(
            "k.pem",
            b"-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----\n",
            None,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("k.pem: RSA PRIVATE KEY is not PKCS#8"),
            "{err}"
        );
        let err = pem_private_key("k.pem", b"", None).map(|_| ()).unwrap_err();
        assert_eq!(err.to_string(), "k.pem: no private key found in PEM");
    }
}
