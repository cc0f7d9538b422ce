//! Producer ids (KIP-98): handed out in blocks persisted before use, so an id is never given
//! twice, even across restarts.

use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

use josefine_storage::write_atomically;

/// Allocates producer ids in blocks persisted before use, so an id is never handed out twice,
/// even across restarts. The block file is written on the blocking pool; callers that need an
/// id meanwhile wait for it (they need that block), nobody else does.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    path: PathBuf,
    state: Mutex<(i64, i64)>,
}

const PRODUCER_ID_BLOCK: i64 = 1000;

impl ProducerIdAllocator {
    /// The allocator of the log dir `log_dir`, resuming after the last persisted block.
    pub fn open(log_dir: &Path) -> Self {
        let path = log_dir.join("josefine-producer-id-block");
        let next = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0i64);
        Self {
            path,
            state: Mutex::new((next, next)),
        }
    }

    /// The next producer id (KIP-98).
    ///
    /// Errors: the I/O error when the next block's file cannot be written.
    pub async fn allocate(&self) -> std::io::Result<i64> {
        let mut state = self.state.lock().await;
        if state.0 == state.1 {
            let end = state.1 + PRODUCER_ID_BLOCK;
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || {
                write_atomically(&path, end.to_string().as_bytes())
            })
            .await
            .map_err(std::io::Error::other)??;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}
