//! Swapping cleaned segments in, and finishing or discarding a swap that a crash
//! interrupted.
//!
//! The cleaner builds new files in `.cleaner/`, renames them into the partition directory as
//! `<name>.swap` (indexes first, `.log` last: the `.log.swap` is the commit point), removes
//! the old segments and renames the `.swap` files to their final names ([`finish_swap`]).
//! [`recover_swap`] runs at open, before the segments are read.
//!
//! References: Kafka's `LogLoader` (swap files); storage/FORMAT.md "Cleaning".
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;

use super::file_name;
use super::files::{CLEANER_DIR, SEGMENT_SUFFIXES, SWAP_SUFFIX, TXN_INDEX_SUFFIX};
use super::mmap::{MappedFile, LOG_ALLOCATION_CHUNK};
use crate::batch::Batches;
use crate::error::{Result, StorageError};

/// fsyncs a directory, so that renames and removals in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    crate::durable::sync_dir(dir).map_err(StorageError::io(dir))
}

/// Renames the `.swap` files of segment `base` to their final names, `.log` last.
pub(crate) fn finish_swap(dir: &Path, base: i64) -> Result<()> {
    for suffix in SEGMENT_SUFFIXES.iter().rev() {
        let name = file_name(base, suffix);
        let from = dir.join(format!("{name}{SWAP_SUFFIX}"));
        if from.exists() {
            let to = dir.join(&name);
            std::fs::rename(&from, &to).map_err(StorageError::io(&to))?;
        }
    }
    sync_dir(dir)
}

/// The next offset after the whole batches of a `.log` file (mapped, headers read only).
fn next_offset_of(path: &Path, base: i64) -> Result<i64> {
    let file =
        MappedFile::open(path, 0, LOG_ALLOCATION_CHUNK, false).map_err(StorageError::io(path))?;
    Ok(Batches::new(file.slice(0, file.capacity()))
        .last()
        .map_or(base, |batch| batch.header.last_offset() + 1))
}

/// Start-up recovery of an interrupted cleaning (run before the segments are opened):
/// discards `.cleaner/` and `.swap` files whose `.log.swap` never appeared (the old segments
/// are intact), completes a swap whose `.log.swap` did (removing the old segments it covers),
/// and removes index files left without their `.log` by an interrupted deletion.
///
/// Errors: `Io`.
pub(crate) fn recover_swap(dir: &Path) -> Result<()> {
    let work = dir.join(CLEANER_DIR);
    if work.exists() {
        tracing::warn!(dir = %dir.display(), "discarding an interrupted cleaning");
        std::fs::remove_dir_all(&work).map_err(StorageError::io(&work))?;
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StorageError::io(dir))? {
        let entry = entry.map_err(StorageError::io(dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    let base_of = |name: &str, suffix: &str| -> Option<i64> {
        name.strip_suffix(suffix).and_then(|stem| stem.parse().ok())
    };
    let swaps: Vec<i64> = names
        .iter()
        .filter_map(|n| base_of(n, ".log.swap"))
        .collect();
    for name in &names {
        if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            let base = stem.split('.').next().and_then(|b| b.parse::<i64>().ok());
            if base.is_some_and(|b| !swaps.contains(&b)) {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    }
    for base in &swaps {
        let swap = dir.join(format!("{}{SWAP_SUFFIX}", file_name(*base, ".log")));
        let next = next_offset_of(&swap, *base)?;
        for old in names.iter().filter_map(|n| base_of(n, ".log")) {
            if old >= *base && old < next {
                for suffix in SEGMENT_SUFFIXES {
                    let _ = std::fs::remove_file(dir.join(file_name(old, suffix)));
                }
            }
        }
        finish_swap(dir, *base)?;
        tracing::warn!(dir = %dir.display(), base_offset = base, "completed an interrupted cleaning");
    }
    let logs: Vec<i64> = std::fs::read_dir(dir)
        .map_err(StorageError::io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| base_of(n, ".log")))
        .collect();
    for name in &names {
        for suffix in [".index", ".timeindex", TXN_INDEX_SUFFIX] {
            if let Some(base) = base_of(name, suffix) {
                if !logs.contains(&base) {
                    let _ = std::fs::remove_file(dir.join(name));
                }
            }
        }
    }
    Ok(())
}
