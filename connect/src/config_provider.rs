//! Config providers (CONNECT.md b.6, KIP-297/KIP-421): `${provider:[path:]key}` references in
//! connector configurations, resolved when a connector starts or is validated, so secrets
//! stay out of the stored configuration and out of REST responses.
//!
//! Providers: `file` (a properties file `path`, its `key`), `env` (environment variable
//! `key`), `dir` (the file named `key` in directory `path`), declared as Kafka does:
//! `config.providers=file` and `config.providers.file.class=
//! org.apache.kafka.common.config.provider.FileConfigProvider` (`EnvVarConfigProvider`,
//! `DirectoryConfigProvider`; our short names `file`, `env`, `dir` work too). A reference
//! whose provider or key is unknown is left as written, as Kafka's `ConfigTransformer` does.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;

use crate::config_def::with_prefix;
use crate::connector::Config;
use crate::data::ConnectError;
use crate::worker_config::WorkerConfig;

#[derive(Debug, Clone)]
enum Provider {
    File,
    Env { allowlist: Option<Regex> },
    Dir,
}

/// The config providers a worker declares.
#[derive(Debug, Clone, Default)]
pub struct ConfigProviders {
    providers: BTreeMap<String, Provider>,
}

impl ConfigProviders {
    /// The providers of `config.providers`. Errors when a provider's class is unknown or its
    /// `allowlist.pattern` is not a valid regex.
    pub fn from_worker(config: &WorkerConfig) -> Result<ConfigProviders, ConnectError> {
        let originals = config.originals();
        let mut providers = BTreeMap::new();
        for alias in config.parsed().list("config.providers") {
            let class = originals
                .get(&format!("config.providers.{alias}.class"))
                .map(|c| c.trim().to_string())
                .unwrap_or_default();
            let params = with_prefix(originals, &format!("config.providers.{alias}.param."));
            let simple = class.rsplit('.').next().unwrap_or_default();
            let provider = match simple {
                "FileConfigProvider" | "file" => Provider::File,
                "DirectoryConfigProvider" | "dir" => Provider::Dir,
                "EnvVarConfigProvider" | "env" => {
                    let allowlist = match params.get("allowlist.pattern") {
                        Some(pattern) => Some(Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                            ConnectError::config(format!(
                                "Invalid value {pattern} for configuration allowlist.pattern: {e}"
                            ))
                        })?),
                        None => None,
                    };
                    Provider::Env { allowlist }
                }
                _ => {
                    return Err(ConnectError::config(format!(
                        "Invalid value {class} for configuration config.providers.{alias}.class: Class {class} could not be found."
                    )))
                }
            };
            providers.insert(alias.clone(), provider);
        }
        Ok(ConfigProviders { providers })
    }

    /// True when no provider is declared.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// `config` with every resolvable `${provider:[path:]key}` replaced by its value.
    pub fn resolve(&self, config: &Config) -> Config {
        if self.providers.is_empty() {
            return config.clone();
        }
        config
            .iter()
            .map(|(key, value)| (key.clone(), self.resolve_value(value)))
            .collect()
    }

    fn resolve_value(&self, value: &str) -> String {
        // Kafka's pattern: ${provider:[path:]key}, shortest matches.
        let pattern = reference_pattern();
        pattern
            .replace_all(value, |caps: &regex::Captures<'_>| {
                let whole = caps
                    .get(0)
                    .map(|m| m.as_str())
                    .unwrap_or_default()
                    .to_string();
                let provider = caps.get(1).map(|m| m.as_str()).unwrap_or_default();
                let path = caps.get(3).map(|m| m.as_str()).unwrap_or_default();
                let key = caps.get(4).map(|m| m.as_str()).unwrap_or_default();
                self.lookup(provider, path, key).unwrap_or(whole)
            })
            .into_owned()
    }

    fn lookup(&self, provider: &str, path: &str, key: &str) -> Option<String> {
        match self.providers.get(provider)? {
            Provider::File => {
                let file = std::fs::File::open(path).ok()?;
                let props = java_properties::read(std::io::BufReader::new(file)).ok()?;
                props.get(key).cloned()
            }
            Provider::Env { allowlist } => {
                if allowlist.as_ref().is_some_and(|allow| !allow.is_match(key)) {
                    return None;
                }
                std::env::var(key).ok()
            }
            Provider::Dir => {
                let file = Path::new(path).join(key);
                // Only a regular file directly inside `path`, as Kafka's provider.
                if key.contains('/') || !file.is_file() {
                    return None;
                }
                std::fs::read_to_string(file).ok()
            }
        }
    }
}

fn reference_pattern() -> &'static Regex {
    static PATTERN: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"\$\{([^}]*?):(([^}]*?):)?([^}]*?)\}")
            .unwrap_or_else(|_| unreachable!("a valid pattern"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(extra: &[(&str, &str)]) -> WorkerConfig {
        let mut props: Config = [
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            ("offset.storage.file.filename", "/tmp/x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            props.insert(k.to_string(), v.to_string());
        }
        WorkerConfig::new(props).unwrap()
    }

    #[test]
    fn file_env_and_dir_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.properties");
        std::fs::write(&secrets, "password=s3cret\n").unwrap();
        std::fs::write(dir.path().join("token"), "t0ken").unwrap();
        let providers = ConfigProviders::from_worker(&worker(&[
            ("config.providers", "file,env,dir"),
            (
                "config.providers.file.class",
                "org.apache.kafka.common.config.provider.FileConfigProvider",
            ),
            (
                "config.providers.env.class",
                "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            ),
            (
                "config.providers.dir.class",
                "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
            ),
        ]))
        .unwrap();
        let config: Config = [
            (
                "a".to_string(),
                format!("${{file:{}:password}}", secrets.display()),
            ),
            ("b".to_string(), "${env:PATH}".to_string()),
            (
                "c".to_string(),
                format!("x-${{dir:{}:token}}-y", dir.path().display()),
            ),
            ("d".to_string(), "${vault:secret}".to_string()),
            (
                "e".to_string(),
                format!("${{file:{}:missing}}", secrets.display()),
            ),
        ]
        .into_iter()
        .collect();
        let resolved = providers.resolve(&config);
        assert_eq!(resolved["a"], "s3cret");
        assert_eq!(resolved["b"], std::env::var("PATH").unwrap());
        assert_eq!(resolved["c"], "x-t0ken-y");
        assert_eq!(resolved["d"], "${vault:secret}");
        assert_eq!(resolved["e"], config["e"]);
    }

    #[test]
    fn unknown_provider_class_is_refused() {
        let error = ConfigProviders::from_worker(&worker(&[
            ("config.providers", "vault"),
            (
                "config.providers.vault.class",
                "com.example.VaultConfigProvider",
            ),
        ]))
        .unwrap_err();
        assert!(
            error
                .message
                .contains("com.example.VaultConfigProvider could not be found"),
            "{}",
            error.message
        );
    }
}
