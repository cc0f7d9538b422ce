//! Kafka's `leader-epoch-checkpoint`: a single node has one leader epoch, 0, from the log
//! start offset.
//!
//! References: KIP-101, KIP-279 (OffsetForLeaderEpoch); Kafka's `LeaderEpochFileCache`.

use super::PartitionLog;
use crate::error::Result;

/// Kafka's leader epoch checkpoint in each partition directory.
const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

impl PartitionLog {
    /// Writes Kafka's `leader-epoch-checkpoint` (version 0, then `epoch start_offset` lines).
    /// A single node has one leader epoch, 0, starting at the log start offset.
    pub(super) fn write_leader_epoch_checkpoint(&self) -> Result<()> {
        let contents = format!("0\n1\n0 {}\n", self.log_start_offset());
        self.replace_regenerated_file(LEADER_EPOCH_CHECKPOINT, contents.as_bytes())
    }

    /// The end offset of `leader_epoch` (OffsetForLeaderEpoch, KIP-101/KIP-279): this
    /// node's only epoch, 0, ends at the log end offset; any other epoch is unknown here.
    /// Returns (epoch, end offset), or (-1, -1) for an unknown epoch, as Kafka's
    /// `LeaderEpochFileCache.endOffsetFor`.
    pub fn end_offset_for_leader_epoch(&self, leader_epoch: i32) -> (i32, i64) {
        if leader_epoch == 0 {
            (0, self.log_end_offset())
        } else {
            (-1, -1)
        }
    }
}
