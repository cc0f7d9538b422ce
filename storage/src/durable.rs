//! File operations that survive a crash: replacing a file atomically, fsyncing a file, and
//! fsyncing the directory after a rename, creation or removal so that the change itself is on
//! disk. Every fsync of the storage crate goes through this module, so that the test-only
//! power-loss recorder (feature `power-loss`, [`power_loss`]) sees each one.
//!
//! References: storage/FORMAT.md "fsync order".

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temp file beside it (`<path>.tmp`), fsync, rename
/// over `path`, fsync of the directory. A crash leaves either the old file or the new one,
/// never a torn one. Two writers of the same `path` at once would share the temp file: callers
/// serialise the writes of one path (`LogDir` holds one lock per checkpoint file).
///
/// Errors: the first failed step's `io::Error` (the caller knows the path).
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("state");
/// josefine_storage::write_atomically(&path, b"one")?;
/// josefine_storage::write_atomically(&path, b"two")?;
/// assert_eq!(std::fs::read(&path)?, b"two");
/// # Ok(()) }
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    sync_file(&file, &tmp)?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// fsyncs a directory, so that renames, creations and removals in it survive a crash.
///
/// Errors: the `io::Error` of opening or syncing `dir`.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()?;
    power_loss::dir_synced(dir);
    Ok(())
}

/// fsyncs the directory holding `path` (the current directory for a bare file name).
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// fsyncs `file` (data and metadata, length included), which is open at `path`.
pub(crate) fn sync_file(file: &File, path: &Path) -> io::Result<()> {
    file.sync_all()?;
    power_loss::file_synced(path);
    Ok(())
}

/// Writes `bytes` as the whole of a new file at `path` and fsyncs it (no rename: for files
/// in a work directory that a later rename publishes).
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    sync_file(&file, path)
}

/// Opens `path` and fsyncs it.
pub(crate) fn sync_path(path: &Path) -> io::Result<()> {
    sync_file(&File::open(path)?, path)
}

/// Creates `dir` (and its parents) when missing, then fsyncs its parent so that the new
/// directory survives a crash. An existing `dir` is left alone.
pub(crate) fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    sync_parent(dir)
}

/// A simulated power cut for tests: what the disk holds is exactly what was fsynced.
///
/// [`track`] starts recording a directory tree (its current contents count as on disk). From
/// then on each fsync of a file under it records the file's bytes at that moment (the file's
/// inode, so a later rename keeps them), and each fsync of a directory records its entries.
/// [`cut`] writes what a machine would find after losing power now: each directory with the
/// entries of its last fsync, each file with the bytes of its last fsync (empty when never
/// fsynced), and nothing else. Linux's `msync(MS_SYNC)` writes a mapping's pages like an
/// `fsync`, so the segment code records its index flushes as file fsyncs too.
///
/// Only compiled with the `power-loss` feature (tests); without it the hooks are empty.
#[cfg(feature = "power-loss")]
pub mod power_loss {
    use std::collections::{BTreeMap, HashMap};
    use std::ffi::OsString;
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, MutexGuard};

    /// A directory entry as of the directory's last fsync.
    #[derive(Debug, Clone, Copy)]
    enum Entry {
        /// A file: its inode number.
        File(u64),
        /// A subdirectory.
        Dir,
    }

    /// A file's bytes as of its last fsync: the bytes up to the last non-zero one, and the
    /// length (preallocated files are mostly zeros).
    #[derive(Debug, Default)]
    struct Image {
        bytes: Vec<u8>,
        len: u64,
    }

    #[derive(Debug)]
    struct Tracked {
        root: PathBuf,
        /// Entries of each directory, by path relative to `root`.
        dirs: HashMap<PathBuf, BTreeMap<OsString, Entry>>,
        /// File images by inode number.
        files: HashMap<u64, Image>,
    }

    static TRACKED: Mutex<Vec<Tracked>> = Mutex::new(Vec::new());

    fn tracked() -> MutexGuard<'static, Vec<Tracked>> {
        TRACKED.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn image(path: &Path) -> io::Result<(u64, Image)> {
        let ino = std::fs::metadata(path)?.ino();
        let mut bytes = std::fs::read(path)?;
        let len = bytes.len() as u64;
        let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        bytes.truncate(end);
        Ok((ino, Image { bytes, len }))
    }

    fn entries(dir: &Path) -> io::Result<BTreeMap<OsString, Entry>> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let kind = if meta.is_dir() {
                Entry::Dir
            } else {
                Entry::File(meta.ino())
            };
            out.insert(entry.file_name(), kind);
        }
        Ok(out)
    }

    /// Starts recording fsyncs under `root`, which exists; what it holds now counts as on
    /// disk.
    ///
    /// Errors: reading the tree.
    pub fn track(root: &Path) -> io::Result<()> {
        let mut state = Tracked {
            root: root.to_path_buf(),
            dirs: HashMap::new(),
            files: HashMap::new(),
        };
        let mut pending = vec![PathBuf::new()];
        while let Some(relative) = pending.pop() {
            let dir = root.join(&relative);
            let listed = entries(&dir)?;
            for (name, entry) in &listed {
                match entry {
                    Entry::Dir => pending.push(relative.join(name)),
                    Entry::File(_) => {
                        let (ino, image) = image(&dir.join(name))?;
                        state.files.insert(ino, image);
                    }
                }
            }
            state.dirs.insert(relative, listed);
        }
        let mut all = tracked();
        all.retain(|t| t.root != root);
        all.push(state);
        Ok(())
    }

    /// Writes into `dest` (created) what `root` would hold after a power cut now, and stops
    /// recording `root`.
    ///
    /// Errors: `NotFound` when `root` is not tracked; writing `dest`.
    pub fn cut(root: &Path, dest: &Path) -> io::Result<()> {
        let state = {
            let mut all = tracked();
            let index = all
                .iter()
                .position(|t| t.root == root)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not tracked"))?;
            all.swap_remove(index)
        };
        std::fs::create_dir_all(dest)?;
        let mut pending = vec![PathBuf::new()];
        while let Some(relative) = pending.pop() {
            let Some(listed) = state.dirs.get(&relative) else {
                continue;
            };
            for (name, entry) in listed {
                let target = dest.join(&relative).join(name);
                match entry {
                    Entry::Dir => {
                        std::fs::create_dir_all(&target)?;
                        pending.push(relative.join(name));
                    }
                    Entry::File(ino) => {
                        let empty = Image::default();
                        let image = state.files.get(ino).unwrap_or(&empty);
                        std::fs::write(&target, &image.bytes)?;
                        std::fs::OpenOptions::new()
                            .write(true)
                            .open(&target)?
                            .set_len(image.len)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Records `path`'s bytes after its fsync, when it lies under a tracked root.
    pub(crate) fn file_synced(path: &Path) {
        let mut all = tracked();
        if let Some(state) = all.iter_mut().find(|t| path.starts_with(&t.root)) {
            if let Ok((ino, image)) = image(path) {
                state.files.insert(ino, image);
            }
        }
    }

    /// Records `dir`'s entries after its fsync, when it lies under a tracked root.
    pub(crate) fn dir_synced(dir: &Path) {
        let mut all = tracked();
        if let Some(state) = all.iter_mut().find(|t| dir.starts_with(&t.root)) {
            if let (Ok(relative), Ok(listed)) = (dir.strip_prefix(&state.root), entries(dir)) {
                state.dirs.insert(relative.to_path_buf(), listed);
            }
        }
    }
}

/// The hooks without the `power-loss` feature: nothing is recorded.
#[cfg(not(feature = "power-loss"))]
pub(crate) mod power_loss {
    use std::path::Path;

    #[inline]
    pub(crate) fn file_synced(_path: &Path) {}

    #[inline]
    pub(crate) fn dir_synced(_dir: &Path) {}
}
