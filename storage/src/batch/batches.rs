//! [`Batches`]: the one walk over the record batches of a byte range.
//!
//! Every place that steps from batch to batch (append validation, offset assignment, reads,
//! recovery, compaction, replay, fetch responses) uses it, so that the header, the length
//! against the bytes left and, when asked, the CRC are checked in one place.
//!
//! References: Kafka documentation section 5.3.1 "Record Batch"; Kafka's
//! `ByteBufferLogInputStream`, which walks batches the same way.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use super::{check, BatchError, BatchHeader};

/// How much of each batch [`Batches`] checks before yielding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Check {
    /// A 61-byte header, and a batch length that covers it and fits the bytes left. Enough
    /// for bytes the log already checked (its own segments, reads).
    #[default]
    Bounds,
    /// [`Check::Bounds`], magic 2 and the CRC32C.
    Crc,
    /// Everything [`super::validate_batch`] checks: for batches from a client.
    Produce,
    /// Everything [`super::validate_stored_batch`] checks: for batches read back from a
    /// segment, where compaction may have removed records.
    Stored,
}

/// One batch yielded by [`Batches`].
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Byte position of the batch in the range walked.
    pub position: usize,
    /// Its header.
    pub header: BatchHeader<'a>,
    /// The whole batch, header included (`header.total_size()` bytes).
    pub bytes: &'a [u8],
}

/// Walks the record batches of a byte range in order, checking each as its [`Check`] asks.
///
/// The walk stops at the first batch that fails (a short or torn tail included). Callers that
/// read whole batches from a longer range (fetch, replay) just stop there; callers that must
/// refuse bad bytes (append validation, recovery) ask [`Batches::finish`], which returns the
/// error, or the bytes walked when the range held whole batches only.
///
/// ```
/// use josefine_storage::batch::{build_batch, BatchError, Batches, Check};
/// let mut bytes = build_batch(&[(1_700_000_000_000, None, Some(b"a"))]);
/// let first = bytes.len();
/// bytes.extend(build_batch(&[(1_700_000_000_001, None, Some(b"b"))]));
/// bytes.truncate(bytes.len() - 1); // a torn tail
///
/// let mut batches = Batches::checked(&bytes, Check::Crc);
/// assert_eq!(batches.by_ref().map(|b| b.position).collect::<Vec<_>>(), vec![0]);
/// assert!(matches!(batches.finish(), Err(BatchError::Truncated { position, .. }) if position == first));
/// ```
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    bytes: &'a [u8],
    position: usize,
    check: Check,
    error: Option<BatchError>,
}

impl<'a> Batches<'a> {
    /// Walks `bytes` from its start with [`Check::Bounds`].
    pub fn new(bytes: &'a [u8]) -> Self {
        Self::checked(bytes, Check::Bounds)
    }

    /// Walks `bytes` from its start, checking each batch as `check` asks.
    pub fn checked(bytes: &'a [u8], check: Check) -> Self {
        Self {
            bytes,
            position: 0,
            check,
            error: None,
        }
    }

    /// Starts the walk at byte `position` of the range (an index entry's position); yielded
    /// positions stay positions in the whole range.
    #[must_use]
    pub fn starting_at(mut self, position: usize) -> Self {
        self.position = position;
        self
    }

    /// Byte position where the walk stands: the end of the last batch yielded (the start, or
    /// the starting position, before the first).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Why the walk stopped early, once it has.
    pub fn error(&self) -> Option<&BatchError> {
        self.error.as_ref()
    }

    /// Walks the rest and returns the byte position of the end of the last whole batch when
    /// the range held nothing else.
    ///
    /// Errors: the first failed check, torn tails included ([`BatchError::is_torn_tail`]).
    pub fn finish(mut self) -> Result<usize, BatchError> {
        for _ in self.by_ref() {}
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.position),
        }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Batch<'a>;

    fn next(&mut self) -> Option<Batch<'a>> {
        if self.error.is_some() || self.position >= self.bytes.len() {
            if self.position > self.bytes.len() && self.error.is_none() {
                self.error = Some(BatchError::ShortHeader {
                    position: self.position,
                    available: 0,
                });
            }
            return None;
        }
        match check(self.bytes, self.position, self.check) {
            Ok((header, bytes)) => {
                let batch = Batch {
                    position: self.position,
                    header,
                    bytes,
                };
                self.position += bytes.len();
                Some(batch)
            }
            Err(error) => {
                self.error = Some(error);
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::batch::build_batch;

    fn two_batches() -> (Vec<u8>, usize) {
        let mut bytes = build_batch(&[(10, Some(b"k"), Some(b"v"))]);
        let first = bytes.len();
        bytes.extend(build_batch(&[(11, None, Some(b"w")), (12, None, None)]));
        (bytes, first)
    }

    #[test]
    fn walks_whole_batches_and_ends_cleanly() {
        let (bytes, first) = two_batches();
        let mut batches = Batches::checked(&bytes, Check::Produce);
        let seen: Vec<_> = batches
            .by_ref()
            .map(|b| (b.position, b.bytes.len(), b.header.records_count()))
            .collect();
        assert_eq!(seen, vec![(0, first, 1), (first, bytes.len() - first, 2)]);
        assert_eq!(batches.error(), None);
        assert_eq!(batches.finish(), Ok(bytes.len()));
        assert_eq!(Batches::new(&[]).finish(), Ok(0));
    }

    #[test]
    fn torn_tail_stops_the_walk_and_is_reported() {
        let (bytes, first) = two_batches();
        for cut in [first + 1, first + 60, bytes.len() - 1] {
            let torn = &bytes[..cut];
            assert_eq!(Batches::new(torn).count(), 1, "cut at {cut}");
            let error = Batches::new(torn).finish().unwrap_err();
            assert!(error.is_torn_tail() && error.is_corrupt(), "{error}");
            assert_eq!(error.position(), first);
        }
        assert!(matches!(
            Batches::new(&bytes[..first + 10]).finish(),
            Err(BatchError::ShortHeader { position, available: 10 }) if position == first
        ));
        assert!(matches!(
            Batches::new(&bytes[..bytes.len() - 1]).finish(),
            Err(BatchError::Truncated { position, .. }) if position == first
        ));
    }

    #[test]
    fn bad_length_is_refused() {
        let (mut bytes, first) = two_batches();
        bytes[first + 8..first + 12].copy_from_slice(&10i32.to_be_bytes());
        let mut batches = Batches::new(&bytes);
        assert_eq!(batches.by_ref().count(), 1);
        assert!(matches!(
            batches.error(),
            Some(BatchError::BadLength { position, length: 10 }) if *position == first
        ));
        bytes[first + 8..first + 12].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            Batches::new(&bytes).finish(),
            Err(BatchError::BadLength { length: -1, .. })
        ));
    }

    #[test]
    fn crc_is_checked_only_when_asked() {
        let (mut bytes, first) = two_batches();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(Batches::new(&bytes).finish(), Ok(bytes.len()));
        let mut batches = Batches::checked(&bytes, Check::Crc);
        assert_eq!(batches.by_ref().count(), 1);
        assert!(matches!(
            batches.finish(),
            Err(BatchError::CrcMismatch { position, stored, computed })
                if position == first && stored != computed
        ));
    }

    #[test]
    fn starting_at_keeps_positions_in_the_range() {
        let (bytes, first) = two_batches();
        let positions: Vec<_> = Batches::new(&bytes)
            .starting_at(first)
            .map(|b| b.position)
            .collect();
        assert_eq!(positions, vec![first]);
        assert!(Batches::new(&bytes)
            .starting_at(bytes.len() + 1)
            .finish()
            .is_err());
    }
}
