//! Names of the files of a segment and of the cleaner's work in a partition directory.
//!
//! References: Kafka's `LogFileUtils`; storage/FORMAT.md "Partition directory".

/// Suffix of Kafka's aborted transaction index, one per segment.
pub(crate) const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// The files of one segment, `.log` first: deleting in this order never brings a segment
/// back after a crash (an index without its `.log` is an orphan that start-up removes).
pub(crate) const SEGMENT_SUFFIXES: [&str; 4] = [".log", ".index", ".timeindex", TXN_INDEX_SUFFIX];
/// Directory inside a partition directory where the cleaner builds new segments.
pub(crate) const CLEANER_DIR: &str = ".cleaner";
/// Suffix of a cleaned file waiting to replace the old segments.
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// File name of a segment file: the base offset in 20 digits and the suffix.
///
/// ```
/// assert_eq!(josefine_storage::segment::file_name(42, ".log"), "00000000000000000042.log");
/// ```
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}
