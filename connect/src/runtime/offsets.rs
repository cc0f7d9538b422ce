//! The standalone source offsets store (CONNECT.md b.5).
//!
//! Kafka's `FileOffsetBackingStore` keeps `key → value` byte pairs where the key is the JSON
//! (schemas off) of `["<connector>", {<source partition>}]` and the value the JSON of the
//! source offset map. Kafka writes them as a Java-serialised `HashMap`; **DIVERGE**: our file
//! is JSON lines `{"k":"<base64 key>","v":"<base64 value>"}`, rewritten atomically (temp file,
//! fsync, rename) at each flush.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::connector::{OffsetReader, PartitionOffset};
use crate::data::{ConnectError, JsonMap};

/// The offsets of every source connector of this worker, kept in memory and written to one
/// file on [`OffsetStore::flush`].
#[derive(Debug)]
pub struct OffsetStore {
    path: PathBuf,
    data: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Held from snapshot to rename, so that two flushes cannot rename out of order and
    /// leave an older snapshot on disk.
    flushing: Mutex<()>,
}

/// The key bytes of `connector`'s `partition`: `["<connector>",{partition}]`.
pub fn offset_key(connector: &str, partition: &JsonMap) -> Vec<u8> {
    let key = serde_json::json!([connector, partition]);
    serde_json::to_vec(&key).unwrap_or_default()
}

impl OffsetStore {
    /// Opens the store at `path`, reading the file when it exists. Errors when the file is
    /// not in our JSON-lines format.
    pub fn open(path: &Path) -> Result<OffsetStore, ConnectError> {
        let mut data = BTreeMap::new();
        match std::fs::read(path) {
            Ok(bytes) => {
                for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
                    if line.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let bad = || {
                        ConnectError::connect(format!(
                            "Invalid line {} in offsets file {}",
                            n + 1,
                            path.display()
                        ))
                    };
                    let entry: serde_json::Value =
                        serde_json::from_slice(line).map_err(|_| bad())?;
                    let key = entry
                        .get("k")
                        .and_then(|k| k.as_str())
                        .and_then(|k| STANDARD.decode(k).ok())
                        .ok_or_else(bad)?;
                    match entry.get("v").and_then(|v| v.as_str()) {
                        Some(value) => {
                            data.insert(key, STANDARD.decode(value).map_err(|_| bad())?);
                        }
                        None => {
                            data.remove(&key);
                        }
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(ConnectError::connect(format!(
                    "Could not read offsets file {}: {error}",
                    path.display()
                )));
            }
        }
        Ok(OffsetStore {
            path: path.to_path_buf(),
            data: Mutex::new(data),
            flushing: Mutex::new(()),
        })
    }

    /// The stored offset of `connector`'s `partition`.
    pub fn get(&self, connector: &str, partition: &JsonMap) -> Option<JsonMap> {
        let data = lock(&self.data);
        let bytes = data.get(&offset_key(connector, partition)).or_else(|| {
            // A key written with another key order of the partition map.
            data.iter()
                .find(|(key, _)| {
                    parse_key(key).is_some_and(|(c, p)| c == connector && &p == partition)
                })
                .map(|(_, value)| value)
        })?;
        serde_json::from_slice(bytes).ok()
    }

    /// Sets (`Some`) or removes (`None`) the offset of `connector`'s `partition` in memory;
    /// [`OffsetStore::flush`] writes it.
    pub fn put(&self, connector: &str, partition: &JsonMap, offset: Option<&JsonMap>) {
        let mut data = lock(&self.data);
        data.retain(|key, _| {
            !parse_key(key).is_some_and(|(c, p)| c == connector && &p == partition)
        });
        if let Some(offset) = offset {
            data.insert(
                offset_key(connector, partition),
                serde_json::to_vec(offset).unwrap_or_default(),
            );
        }
    }

    /// Every offset of `connector`, in key order.
    pub fn offsets(&self, connector: &str) -> Vec<PartitionOffset> {
        lock(&self.data)
            .iter()
            .filter_map(|(key, value)| {
                let (c, partition) = parse_key(key)?;
                (c == connector).then(|| PartitionOffset {
                    partition,
                    offset: serde_json::from_slice(value).ok(),
                })
            })
            .collect()
    }

    /// Forgets every offset of `connector` (in memory).
    pub fn remove_connector(&self, connector: &str) {
        lock(&self.data).retain(|key, _| parse_key(key).is_none_or(|(c, _)| c != connector));
    }

    /// Writes the whole store to its file atomically: a temporary file in the same
    /// directory, fsync, rename over the file.
    pub fn flush(&self) -> Result<(), ConnectError> {
        let _flushing = lock(&self.flushing);
        let mut text = Vec::new();
        for (key, value) in lock(&self.data).iter() {
            let line = serde_json::json!({"k": STANDARD.encode(key), "v": STANDARD.encode(value)});
            text.extend_from_slice(line.to_string().as_bytes());
            text.push(b'\n');
        }
        let failed = |error: std::io::Error| {
            ConnectError::connect(format!(
                "Failed to write offsets file {}: {error}",
                self.path.display()
            ))
        };
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(failed)?;
        temp.write_all(&text).map_err(failed)?;
        temp.as_file().sync_all().map_err(failed)?;
        temp.persist(&self.path)
            .map_err(|error| failed(error.error))?;
        if let Ok(dir) = std::fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

fn parse_key(key: &[u8]) -> Option<(String, JsonMap)> {
    let value: serde_json::Value = serde_json::from_slice(key).ok()?;
    let array = value.as_array()?;
    match array.as_slice() {
        [serde_json::Value::String(connector), serde_json::Value::Object(partition)] => {
            Some((connector.clone(), partition.clone()))
        }
        _ => None,
    }
}

/// The [`OffsetReader`] a source task of one connector gets.
#[derive(Debug, Clone)]
pub struct ConnectorOffsetReader {
    /// The store.
    pub store: Arc<OffsetStore>,
    /// The connector.
    pub connector: String,
}

impl OffsetReader for ConnectorOffsetReader {
    fn offset(&self, partition: &JsonMap) -> Option<JsonMap> {
        self.store.get(&self.connector, partition)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: serde_json::Value) -> JsonMap {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn key_is_kafkas_json() {
        let key = offset_key(
            "local-file-source",
            &map(serde_json::json!({"filename": "test.txt"})),
        );
        assert_eq!(key, br#"["local-file-source",{"filename":"test.txt"}]"#);
    }

    #[test]
    fn offsets_survive_a_flush_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connect.offsets");
        let store = OffsetStore::open(&path).unwrap();
        let partition = map(serde_json::json!({"filename": "test.txt"}));
        store.put(
            "src",
            &partition,
            Some(&map(serde_json::json!({"position": 20}))),
        );
        store.put(
            "other",
            &partition,
            Some(&map(serde_json::json!({"position": 1}))),
        );
        store.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|line| line.starts_with("{\"k\":\"")));

        let reopened = OffsetStore::open(&path).unwrap();
        assert_eq!(
            reopened.get("src", &partition),
            Some(map(serde_json::json!({"position": 20})))
        );
        assert_eq!(reopened.offsets("src").len(), 1);
        reopened.put("src", &partition, None);
        reopened.flush().unwrap();
        let again = OffsetStore::open(&path).unwrap();
        assert_eq!(again.get("src", &partition), None);
        assert_eq!(again.offsets("other").len(), 1);
        again.remove_connector("other");
        assert!(again.offsets("other").is_empty());
    }

    #[test]
    fn garbage_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, b"\xac\xed\x00\x05").unwrap();
        assert!(OffsetStore::open(&path).is_err());
    }
}
