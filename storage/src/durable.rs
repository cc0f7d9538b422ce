//! File operations that survive a crash: replacing a file atomically, and fsyncing the
//! directory after a rename or removal so that the change itself is on disk.
//!
//! References: storage/FORMAT.md "fsync order".

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temp file beside it (`<path>.tmp`), fsync, rename
/// over `path`, fsync of the directory. A crash leaves either the old file or the new one,
/// never a torn one.
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
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// fsyncs a directory, so that renames, creations and removals in it survive a crash.
///
/// Errors: the `io::Error` of opening or syncing `dir`.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
