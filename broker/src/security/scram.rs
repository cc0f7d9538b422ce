//! SCRAM credentials: the salted keys of each user and mechanism (never a password), kept in
//! memory and persisted in the data dir as `josefine-scram-credentials.json`.
//!
//! A credential is what RFC 5802 section 3 has the server store: the salt, the iteration
//! count, `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` and
//! `ServerKey = HMAC(SaltedPassword, "Server Key")`. AlterUserScramCredentials carries the
//! salt and the salted password computed by the client (KIP-554); the broker derives the two
//! keys and forgets the salted password.
//!
//! References: RFC 5802; RFC 7677 (SCRAM-SHA-256); KIP-554 (SCRAM credential APIs); Kafka's
//! `ScramFormatter`, `ScramControlManager` and `ScramImage`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The file in the data dir that holds every SCRAM credential.
pub(crate) const CREDENTIALS_FILE: &str = "josefine-scram-credentials.json";

/// Fewest iterations Kafka accepts for both SCRAM mechanisms (`ScramMechanism.minIterations`).
pub(crate) const MIN_ITERATIONS: i32 = 4096;

/// Most iterations Kafka accepts (`ScramControlManager.MAX_ITERATIONS`).
pub(crate) const MAX_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism, with the type codes of KIP-554's APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ScramMechanism {
    /// SCRAM-SHA-256 (type 1, RFC 7677).
    Sha256,
    /// SCRAM-SHA-512 (type 2).
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name, e.g. `SCRAM-SHA-256`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism named `name` (exact SASL spelling), if SCRAM.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// The KIP-554 type code: 1 for SHA-256, 2 for SHA-512.
    pub(crate) fn type_code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of a KIP-554 type code; `None` for 0 (UNKNOWN) and anything else.
    pub(crate) fn from_type_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, data)`.
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length: new_from_slice cannot fail.
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            ScramMechanism::Sha256 => mac::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    #[cfg(test)]
    /// `Hi(password, salt, iterations)`: PBKDF2 with this mechanism's HMAC (RFC 5802 2.2).
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramMechanism::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// One user's salted credential for one mechanism. Debug prints `<redacted>` for the keys.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ScramCredential {
    /// The salt.
    pub(crate) salt: Vec<u8>,
    /// `H(ClientKey)`.
    pub(crate) stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub(crate) server_key: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub(crate) iterations: i32,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("salt", &"<redacted>")
            .field("stored_key", &"<redacted>")
            .field("server_key", &"<redacted>")
            .field("iterations", &self.iterations)
            .finish()
    }
}

impl ScramCredential {
    /// The credential of a salted password (what AlterUserScramCredentials carries).
    pub(crate) fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        Self {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    #[cfg(test)]
    /// The credential of a password, salted here (for tests and tools).
    pub(crate) fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: i32,
    ) -> Self {
        let salted =
            mechanism.salted_password(password.as_bytes(), salt, iterations.unsigned_abs());
        Self::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCredential {
    user: String,
    mechanism: String,
    salt: String,
    stored_key: String,
    server_key: String,
    iterations: i32,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct StoredFile {
    credentials: Vec<StoredCredential>,
}

/// Why the credential store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScramStoreError {
    /// The file could not be read, parsed or written.
    #[error("{path}: {reason}")]
    File {
        /// The credentials file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Every SCRAM credential, by user and mechanism; persisted on each change.
pub(crate) struct ScramCredentialStore {
    path: Option<PathBuf>,
    credentials: Mutex<BTreeMap<(String, ScramMechanism), ScramCredential>>,
}

impl fmt::Debug for ScramCredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentialStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Default for ScramCredentialStore {
    fn default() -> Self {
        Self {
            path: None,
            credentials: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ScramCredentialStore {
    /// The store of the data dir `dir`, loaded from its credentials file when there is one.
    ///
    /// Errors: `File` when the file exists but cannot be read or parsed.
    pub(crate) fn open(dir: &Path) -> Result<Self, ScramStoreError> {
        let path = dir.join(CREDENTIALS_FILE);
        let error = |reason: String| ScramStoreError::File {
            path: path.clone(),
            reason,
        };
        let mut credentials = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: StoredFile =
                    serde_json::from_slice(&bytes).map_err(|e| error(e.to_string()))?;
                for c in file.credentials {
                    let mechanism = ScramMechanism::from_name(&c.mechanism)
                        .ok_or_else(|| error(format!("unknown mechanism {}", c.mechanism)))?;
                    let decode = |v: &str| BASE64.decode(v).map_err(|e| error(e.to_string()));
                    credentials.insert(
                        (c.user, mechanism),
                        ScramCredential {
                            salt: decode(&c.salt)?,
                            stored_key: decode(&c.stored_key)?,
                            server_key: decode(&c.server_key)?,
                            iterations: c.iterations,
                        },
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(e.to_string())),
        }
        Ok(Self {
            path: Some(path),
            credentials: Mutex::new(credentials),
        })
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<(String, ScramMechanism), ScramCredential>> {
        self.credentials.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The credential of `user` for `mechanism`.
    pub(crate) fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.lock().get(&(user.to_string(), mechanism)).cloned()
    }

    /// Every user with a credential, and the (mechanism, iterations) of each of theirs.
    pub(crate) fn describe(&self) -> BTreeMap<String, Vec<(ScramMechanism, i32)>> {
        let mut out: BTreeMap<String, Vec<(ScramMechanism, i32)>> = BTreeMap::new();
        for ((user, mechanism), credential) in self.lock().iter() {
            out.entry(user.clone())
                .or_default()
                .push((*mechanism, credential.iterations));
        }
        out
    }

    /// Applies deletions and upserts as one change and persists the result (fsync, then
    /// rename). Blocks on the disk: call it off the runtime workers.
    ///
    /// Errors: `File` when the file cannot be written; memory is then unchanged.
    pub(crate) fn alter(
        &self,
        deletions: &[(String, ScramMechanism)],
        upserts: Vec<(String, ScramMechanism, ScramCredential)>,
    ) -> Result<(), ScramStoreError> {
        let mut credentials = self.lock();
        let mut next = credentials.clone();
        for key in deletions {
            next.remove(key);
        }
        for (user, mechanism, credential) in upserts {
            next.insert((user, mechanism), credential);
        }
        if let Some(path) = &self.path {
            let file = StoredFile {
                credentials: next
                    .iter()
                    .map(|((user, mechanism), c)| StoredCredential {
                        user: user.clone(),
                        mechanism: mechanism.name().into(),
                        salt: BASE64.encode(&c.salt),
                        stored_key: BASE64.encode(&c.stored_key),
                        server_key: BASE64.encode(&c.server_key),
                        iterations: c.iterations,
                    })
                    .collect(),
            };
            let error = |reason: String| ScramStoreError::File {
                path: path.clone(),
                reason,
            };
            let bytes = serde_json::to_vec_pretty(&file).map_err(|e| error(e.to_string()))?;
            josefine_storage::write_atomically(path, &bytes).map_err(|e| error(e.to_string()))?;
        }
        *credentials = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_survive_a_reopen_without_the_password() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let store = ScramCredentialStore::open(dir.path())?;
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha512, "alice-secret", b"salt", 4096);
        store.alter(
            &[],
            vec![("alice".into(), ScramMechanism::Sha512, credential.clone())],
        )?;
        let text = std::fs::read_to_string(dir.path().join(CREDENTIALS_FILE))?;
        assert!(!text.contains("alice-secret"));
        let reopened = ScramCredentialStore::open(dir.path())?;
        assert_eq!(
            reopened.get("alice", ScramMechanism::Sha512),
            Some(credential)
        );
        reopened.alter(&[("alice".into(), ScramMechanism::Sha512)], vec![])?;
        assert!(ScramCredentialStore::open(dir.path())?
            .describe()
            .is_empty());
        assert!(!format!("{:?}", reopened.get("x", ScramMechanism::Sha256)).contains("salt\": ["));
        Ok(())
    }
}
