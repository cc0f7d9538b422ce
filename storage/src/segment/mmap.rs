//! A file mapped into memory, written by one appender and read by many readers at once.
//!
//! This is the only module with `unsafe` (the crate denies `unsafe_code` elsewhere). Soundness rests on three rules the callers keep:
//! 1. the log dir is locked at startup (`PartitionLog` callers hold the dir lock), so no other
//!    process shrinks or rewrites our files;
//! 2. readers only touch bytes below a committed length that the single writer publishes with
//!    release ordering after the bytes are in place, and the writer never writes below it
//!    (except during recovery, before any reader exists);
//! 3. a mapped file is never truncated below its committed length.
//!
//! Every write first makes sure the file system has blocks for the bytes written
//! ([`MappedFile::ensure_allocated`]): a store through a mapping into a hole of a sparse file
//! on a full disk raises SIGBUS and kills the process, where `fallocate` returns ENOSPC,
//! which the log reports as KAFKA_STORAGE_ERROR and recovers from once space returns.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use memmap2::MmapRaw;

/// A file and its shared, writable mapping of `capacity` bytes.
///
/// The mapping does not need the file descriptor: only the rarer calls do (`pwrite`,
/// `fallocate`, `fsync`, truncation). A file opened without `keep_fd` (index files, closed
/// segments) opens its path again for each such call, so that a broker with ten thousand
/// partitions holds one descriptor per partition (the active `.log`), not three per segment.
#[derive(Debug)]
pub(crate) struct MappedFile {
    path: PathBuf,
    file: RwLock<Option<Arc<File>>>,
    /// `None` for an empty file: a mapping cannot have length zero.
    map: Option<MmapRaw>,
    capacity: usize,
    /// Bytes from the start known to have blocks on disk; grows by `allocation_chunk`.
    allocated: AtomicUsize,
    /// Bytes reserved per `fallocate` call.
    allocation_chunk: usize,
    /// End of the bytes this process has written so far (0 at open): the pages below it,
    /// rounded up to a page, are in the page cache. See [`MappedFile::write_at`].
    written_end: AtomicUsize,
}

/// The page size assumed for [`MappedFile::write_at`]'s choice; a larger real page only makes
/// it choose `pwrite` more often.
const PAGE: usize = 4096;

/// Bytes of a `.log` reserved per `fallocate` call: one system call per MiB appended.
pub(crate) const LOG_ALLOCATION_CHUNK: usize = 1 << 20;
/// Bytes of an index file reserved per `fallocate` call.
pub(crate) const INDEX_ALLOCATION_CHUNK: usize = 64 << 10;

impl MappedFile {
    /// Opens (creating if needed) `path` and maps it, first growing the file to `min_len` bytes
    /// if it is shorter. Never shrinks a file.
    /// `allocation_chunk` is how many bytes each [`MappedFile::ensure_allocated`] reserves.
    /// With `keep_fd` the file descriptor stays open until [`MappedFile::release_fd`].
    pub(crate) fn open(
        path: &Path,
        min_len: usize,
        allocation_chunk: usize,
        keep_fd: bool,
    ) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("file larger than the address space"))?;
        if len < min_len {
            file.set_len(min_len as u64)?;
        }
        let capacity = len.max(min_len);
        let map = if capacity == 0 {
            None
        } else {
            let map = memmap2::MmapOptions::new().len(capacity).map_raw(&file)?;
            // Past the data lie holes (preallocated, or an active segment left untrimmed by a
            // crash). A read fault there would read ahead, by the device's read-ahead (8 MiB
            // measured), allocating and zeroing pages for nothing: recovery, which reads up
            // to the first invalid batch, paid that per partition. No read-ahead past the
            // data, then; below it, reads keep the kernel's read-ahead.
            let data_end = first_hole(&file).unwrap_or(capacity) / PAGE * PAGE;
            if data_end < capacity {
                // Advice only: a kernel that refuses it reads ahead as before.
                let _ = map.advise_range(memmap2::Advice::Random, data_end, capacity - data_end);
            }
            Some(map)
        };
        Ok(Self {
            path: path.to_path_buf(),
            file: RwLock::new(keep_fd.then(|| Arc::new(file))),
            map,
            capacity,
            allocated: AtomicUsize::new(0),
            allocation_chunk: allocation_chunk.max(1),
            written_end: AtomicUsize::new(0),
        })
    }

    /// The open file: the one kept, or the path opened again.
    fn file(&self) -> io::Result<Arc<File>> {
        if let Some(file) = self.file.read().ok().and_then(|f| f.clone()) {
            return Ok(file);
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        Ok(Arc::new(file))
    }

    /// Closes the kept file descriptor (a segment that stops taking appends); later calls that
    /// need one open the path again.
    pub(crate) fn release_fd(&self) {
        if let Ok(mut file) = self.file.write() {
            *file = None;
        }
    }

    /// Makes sure the file has disk blocks for `[0, end)`, reserving them `allocation_chunk`
    /// bytes at a time with `fallocate` (which never changes contents already there).
    ///
    /// Errors: ENOSPC (or EDQUOT) when the file system is full: nothing was written. File
    /// systems without `fallocate` are trusted to have room.
    pub(crate) fn ensure_allocated(&self, end: usize) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let allocated = self.allocated.load(Ordering::Acquire);
        if end <= allocated {
            return Ok(());
        }
        let target = end
            .max(allocated.saturating_add(self.allocation_chunk))
            .min(self.capacity.max(end));
        let (Ok(offset), Ok(len)) = (
            libc::off_t::try_from(allocated),
            libc::off_t::try_from(target - allocated),
        ) else {
            return Err(io::Error::other("allocation beyond off_t"));
        };
        let file = self.file()?;
        // SAFETY: plain system call on a file descriptor that `file` keeps open for the
        // call; no memory is passed. Mode 0 only allocates blocks (zeros for holes) and never
        // changes bytes that are already in the file.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
                return Err(err);
            }
        }
        self.allocated.store(target, Ordering::Release);
        Ok(())
    }

    /// Mapped length in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes `[start, end)` of the mapping.
    ///
    /// Callers pass `end` at or below the committed length (rule 2). Panics if the range lies
    /// outside the mapping, which is a bug in the caller, never a result of file contents.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &[u8] {
        assert!(
            start <= end && end <= self.capacity,
            "mapped read out of bounds"
        );
        match &self.map {
            // SAFETY: the range lies inside the mapping (asserted above), which lives as long
            // as `self`. Bytes below the committed length are never written while readers
            // exist (rule 2) and the file never shrinks below them (rule 3), so this shared
            // view is neither mutated nor unmapped while the borrow lasts.
            Some(map) => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(start), end - start)
            },
            None => &[],
        }
    }

    /// Copies `data` into the mapping at `position`, or writes it through the file when it
    /// reaches a page this process has not written yet.
    ///
    /// Callers are the single writer (they hold the partition's append lock) and write only at
    /// or above the committed length, where no reader looks (rule 2).
    ///
    /// Why not always the mapping: a store into a page that is not in the page cache faults,
    /// and the kernel serves the fault like a read, with the device's read-ahead (8 MiB on
    /// the virtio disk measured): it allocates and zero-fills megabytes of holes around the
    /// page. The first append to each of a thousand partitions then cost about 20 ms of CPU
    /// (issue #14). `pwrite` allocates and zeroes just the page it writes.
    pub(crate) fn write_at(&self, position: usize, data: &[u8]) -> io::Result<()> {
        let end = position
            .checked_add(data.len())
            .filter(|end| *end <= self.capacity)
            .ok_or_else(|| io::Error::other("write past the end of the mapped file"))?;
        let cached_end = self
            .written_end
            .load(Ordering::Acquire)
            .next_multiple_of(PAGE);
        if end > cached_end && !data.is_empty() {
            return self.write_through_file(position, data);
        }
        let Some(map) = &self.map else {
            return if data.is_empty() {
                Ok(())
            } else {
                Err(io::Error::other("write to an empty mapping"))
            };
        };
        self.ensure_allocated(end)?;
        // SAFETY: `position + data.len() <= capacity` was checked above, so the destination is
        // inside the mapping. The source is a Rust slice and cannot overlap the destination
        // region, which no reader sees yet (rule 2) and which only this writer touches.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                map.as_mut_ptr().add(position),
                data.len(),
            );
        }
        self.written_end.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    /// Writes `data` at `position` through the file (pwrite), not through the mapping.
    ///
    /// Same contract as [`MappedFile::write_at`]. The page cache is shared by the file and its
    /// shared mapping, so readers of the mapping see the bytes once they are committed. The log
    /// appends large batches this way: a store through the mapping into a new page faults, and
    /// the kernel first zero-fills the page only for the batch to overwrite it; a write call
    /// covering whole pages skips both.
    pub(crate) fn write_through_file(&self, position: usize, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = position
            .checked_add(data.len())
            .filter(|end| *end <= self.capacity)
            .ok_or_else(|| io::Error::other("write past the end of the mapped file"))?;
        // A write call on a full disk would fail cleanly, but the mapping must not later
        // find a hole.
        self.ensure_allocated(end)?;
        self.file()?.write_all_at(data, position as u64)?;
        self.written_end.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    /// Writes the dirty pages of `[start, end)` back to the file and waits for it.
    pub(crate) fn flush_range(&self, start: usize, end: usize) -> io::Result<()> {
        match &self.map {
            Some(map) if end > start && end <= self.capacity => map.flush_range(start, end - start),
            _ => Ok(()),
        }
    }

    /// fsyncs the file itself (length changes included).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file()?.sync_all()
    }

    /// Sets the file's length. Callers never pass less than the committed length (rule 3);
    /// the mapping keeps its size, and nobody reads past the committed length.
    pub(crate) fn set_file_len(&self, len: usize) -> io::Result<()> {
        self.file()?.set_len(len as u64)?;
        self.allocated.fetch_min(len, Ordering::AcqRel);
        // Truncation drops the pages past `len` from the cache.
        self.written_end.fetch_min(len, Ordering::AcqRel);
        Ok(())
    }

    /// Sets the file's modification time (the cleaner keeps a cleaned segment's age).
    pub(crate) fn set_modified(&self, time: std::time::SystemTime) -> io::Result<()> {
        self.file()?.set_modified(time)
    }
}

/// Where the first hole of `file` starts (`SEEK_HOLE` from 0): the end of its data as the file
/// system knows it. `None` when it cannot tell.
fn first_hole(file: &File) -> Option<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on a file descriptor `file` keeps open; no memory is passed.
    // SEEK_HOLE only reports a position (the file offset it moves is not used for I/O here:
    // every read and write of this module is positioned).
    let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_HOLE) };
    usize::try_from(end).ok()
}

/// Owner of a `Bytes` view of a mapping: keeps the mapping alive, even after its segment is
/// deleted, and exposes only `[0, len)` where `len` was committed when the view was made.
struct MappedView {
    file: Arc<MappedFile>,
    len: usize,
}

impl AsRef<[u8]> for MappedView {
    fn as_ref(&self) -> &[u8] {
        self.file.slice(0, self.len)
    }
}

/// A zero-copy `Bytes` of `[start, end)` of `file`; `end` is at or below the committed length.
pub(crate) fn bytes_of(file: &Arc<MappedFile>, start: usize, end: usize) -> Bytes {
    if start >= end {
        return Bytes::new();
    }
    Bytes::from_owner(MappedView {
        file: Arc::clone(file),
        len: end,
    })
    .slice(start..end)
}
