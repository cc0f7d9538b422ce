//! The records of `__consumer_offsets`, in Apache Kafka's key and value schemas, so that
//! Kafka's tools (`kafka-dump-log --offsets-decoder`) read our data and we read theirs.
//!
//! Keys start with an int16 version: 0 and 1 are an offset commit (group, topic, partition),
//! 2 is group metadata (group). Values start with their own int16 version: offset commits are
//! written at version 3 (offset, leader epoch, metadata, commit timestamp), group metadata at
//! version 3 (protocol type, generation, protocol, leader, state timestamp, members with their
//! instance id, client, timeouts, subscription and assignment). Versions 0-4 are read;
//! version 4 is the flexible (compact) encoding. A null value is a tombstone.
//!
//! References: Kafka's `OffsetCommitKey.json`, `OffsetCommitValue.json`,
//! `GroupMetadataKey.json`, `GroupMetadataValue.json` (group-coordinator module); KIP-915.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::{BufMut, Bytes};

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// A committed offset of `group` for one partition (key versions 0 and 1).
    Offset {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// The classic group's metadata (key version 2).
    Group(String),
    /// A record of a kind this broker does not keep (KIP-848 or share group records).
    Other(i16),
}

/// A committed offset as stored: Kafka's `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffset {
    /// The offset committed: the next record the group will read.
    pub offset: i64,
    /// The leader epoch of the record before `offset`, -1 if unknown (KIP-320).
    pub leader_epoch: i32,
    /// Client metadata, at most `offset.metadata.max.bytes`.
    pub metadata: String,
    /// When the commit was made, ms since the epoch.
    pub commit_timestamp: i64,
}

/// One member in a classic group's stored metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id (KIP-345); added in value version 3.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// The member's host, as Kafka writes it (`/127.0.0.1`).
    pub client_host: String,
    /// Rebalance timeout, ms.
    pub rebalance_timeout_ms: i32,
    /// Session timeout, ms.
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    /// The member's assignment from the leader.
    pub assignment: Bytes,
}

/// A classic group's stored metadata: Kafka's `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    /// Protocol type (`consumer`, `connect`, or empty for a group that only commits).
    pub protocol_type: String,
    /// Generation id.
    pub generation: i32,
    /// Selected protocol (assignor), if any.
    pub protocol: Option<String>,
    /// Leader member id, if any.
    pub leader: Option<String>,
    /// When the group last changed state, ms since the epoch.
    pub current_state_timestamp: i64,
    /// Members with their assignments.
    pub members: Vec<StoredMember>,
}

pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

fn put_nullable_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => out.put_i16(-1),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_i32(b.len() as i32);
    out.put_slice(b);
}

/// The key of `group`'s committed offset for `topic`-`partition` (key version 1).
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + group.len() + topic.len());
    out.put_i16(1);
    put_string(&mut out, group);
    put_string(&mut out, topic);
    out.put_i32(partition);
    out
}

/// The value of a committed offset (value version 3).
pub fn offset_value(offset: &StoredOffset) -> Vec<u8> {
    let mut out = Vec::with_capacity(26 + offset.metadata.len());
    out.put_i16(3);
    out.put_i64(offset.offset);
    out.put_i32(offset.leader_epoch);
    put_string(&mut out, &offset.metadata);
    out.put_i64(offset.commit_timestamp);
    out
}

/// The key of `group`'s metadata (key version 2).
pub fn group_key(group: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + group.len());
    out.put_i16(2);
    put_string(&mut out, group);
    out
}

/// The value of a classic group's metadata (value version 3).
pub fn group_value(group: &StoredGroup) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.put_i16(3);
    put_string(&mut out, &group.protocol_type);
    out.put_i32(group.generation);
    put_nullable_string(&mut out, group.protocol.as_deref());
    put_nullable_string(&mut out, group.leader.as_deref());
    out.put_i64(group.current_state_timestamp);
    out.put_i32(group.members.len() as i32);
    for m in &group.members {
        put_string(&mut out, &m.member_id);
        put_nullable_string(&mut out, m.group_instance_id.as_deref());
        put_string(&mut out, &m.client_id);
        put_string(&mut out, &m.client_host);
        out.put_i32(m.rebalance_timeout_ms);
        out.put_i32(m.session_timeout_ms);
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out
}

/// Why a stored key or value does not decode. Record decoders never panic on damaged bytes:
/// they answer one of these, and the replay skips the record with a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A field runs past the end of the bytes.
    #[error("{size} bytes at position {position} run past the end")]
    PastEnd {
        /// The field's size in bytes.
        size: usize,
        /// Where it starts.
        position: usize,
    },
    /// An unsigned varint longer than 5 bytes.
    #[error("varint longer than 5 bytes")]
    Varint,
    /// A length below -1 (null).
    #[error("negative length {0}")]
    NegativeLength(i64),
    /// A string field holds bytes that are not UTF-8.
    #[error("string is not UTF-8")]
    NotUtf8,
    /// A null where a string is required.
    #[error("null string")]
    NullString,
    /// A key or value version this broker does not know.
    #[error("unknown {record} version {version}")]
    UnknownVersion {
        /// Which record: `offset commit value`, `group metadata value`, ...
        record: &'static str,
        /// The version read.
        version: i16,
    },
    /// A member count that the bytes cannot hold.
    #[error("member count {0}")]
    MemberCount(i64),
    /// A transaction log value without its state byte.
    #[error("missing state")]
    MissingState,
    /// A transaction state id outside Kafka's.
    #[error("unknown transaction state {0}")]
    UnknownState(u8),
}

/// A bounds-checked reader of one key or value.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    pub(crate) flexible: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let slice = self
            .bytes
            .get(self.position..self.position.saturating_add(n))
            .ok_or(RecordError::PastEnd {
                size: n,
                position: self.position,
            })?;
        self.position += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(crate) fn unsigned_varint(&mut self) -> Result<u32, RecordError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let [byte] = self.array::<1>()?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::Varint)
    }

    /// A length: -1 for null, in the plain (int16/int32) or compact (varint + 1) encoding.
    pub(crate) fn length(&mut self, wide: bool) -> Result<i64, RecordError> {
        if self.flexible {
            Ok(i64::from(self.unsigned_varint()?) - 1)
        } else if wide {
            Ok(i64::from(self.i32()?))
        } else {
            Ok(i64::from(self.i16()?))
        }
    }

    fn nullable_bytes(&mut self, wide: bool) -> Result<Option<&'a [u8]>, RecordError> {
        match self.length(wide)? {
            -1 => Ok(None),
            n if n < 0 => Err(RecordError::NegativeLength(n)),
            n => self.take(n as usize).map(Some),
        }
    }

    pub(crate) fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        self.nullable_bytes(false)?
            .map(|b| String::from_utf8(b.to_vec()).map_err(|_| RecordError::NotUtf8))
            .transpose()
    }

    pub(crate) fn string(&mut self) -> Result<String, RecordError> {
        self.nullable_string()?.ok_or(RecordError::NullString)
    }

    fn bytes(&mut self) -> Result<Bytes, RecordError> {
        Ok(Bytes::copy_from_slice(
            self.nullable_bytes(true)?.unwrap_or_default(),
        ))
    }

    pub(crate) fn tagged_fields(&mut self) -> Result<(), RecordError> {
        if self.flexible {
            for _ in 0..self.unsigned_varint()? {
                self.unsigned_varint()?;
                let size = self.unsigned_varint()? as usize;
                self.take(size)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn reader(bytes: &[u8]) -> Result<(Reader<'_>, i16), RecordError> {
    let mut reader = Reader {
        bytes,
        position: 0,
        flexible: false,
    };
    let version = reader.i16()?;
    Ok((reader, version))
}

/// Decodes a record key. Errors describe the damage.
pub fn decode_key(bytes: &[u8]) -> Result<RecordKey, RecordError> {
    let (mut r, version) = reader(bytes)?;
    match version {
        0 | 1 => Ok(RecordKey::Offset {
            group: r.string()?,
            topic: r.string()?,
            partition: r.i32()?,
        }),
        2 => Ok(RecordKey::Group(r.string()?)),
        other => Ok(RecordKey::Other(other)),
    }
}

/// Decodes an offset commit value of versions 0-4.
pub fn decode_offset_value(bytes: &[u8]) -> Result<StoredOffset, RecordError> {
    let (mut r, version) = reader(bytes)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownVersion {
            record: "offset commit value",
            version,
        });
    }
    r.flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp = r.i64()?;
    if version == 1 {
        r.i64()?; // expire timestamp, ignored as Kafka does since 2.1
    }
    r.tagged_fields()?;
    Ok(StoredOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

/// Decodes a group metadata value of versions 0-4.
pub fn decode_group_value(bytes: &[u8]) -> Result<StoredGroup, RecordError> {
    let (mut r, version) = reader(bytes)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError::UnknownVersion {
            record: "group metadata value",
            version,
        });
    }
    r.flexible = version >= 4;
    let protocol_type = r.string()?;
    let generation = r.i32()?;
    let protocol = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.length(true)?;
    if count < 0 || count as usize > bytes.len() {
        return Err(RecordError::MemberCount(count));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let session_timeout_ms = r.i32()?;
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        r.tagged_fields()?;
        members.push(StoredMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: if rebalance_timeout_ms < 0 {
                session_timeout_ms
            } else {
                rebalance_timeout_ms
            },
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    r.tagged_fields()?;
    Ok(StoredGroup {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// The partition of `__consumer_offsets` that holds `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with Java's `String.hashCode`
/// over UTF-16 code units.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partition_matches_java_string_hash_code() {
        // "josefine".hashCode() == -1123233647 in Java; abs % 50 == 47.
        assert_eq!(partition_for("josefine", 50), 47);
        // "".hashCode() == 0.
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs gives 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }

    #[test]
    fn offset_value_reads_every_version() {
        // Version 1: offset, metadata, commit timestamp, expire timestamp.
        let mut v1 = vec![0, 1];
        v1.extend(42i64.to_be_bytes());
        v1.extend([0, 2, b'm', b'd']);
        v1.extend(7i64.to_be_bytes());
        v1.extend((-1i64).to_be_bytes());
        let read = decode_offset_value(&v1).unwrap();
        assert_eq!(
            (
                read.offset,
                read.leader_epoch,
                read.metadata.as_str(),
                read.commit_timestamp
            ),
            (42, -1, "md", 7)
        );
        // Version 4 (flexible): compact metadata string and an empty tagged-field section.
        let mut v4 = vec![0, 4];
        v4.extend(42i64.to_be_bytes());
        v4.extend(5i32.to_be_bytes());
        v4.extend([3, b'm', b'd']);
        v4.extend(7i64.to_be_bytes());
        v4.push(0);
        let read = decode_offset_value(&v4).unwrap();
        assert_eq!(
            (read.offset, read.leader_epoch, read.metadata.as_str()),
            (42, 5, "md")
        );
    }

    #[test]
    fn damaged_values_are_errors() {
        assert!(matches!(
            decode_offset_value(&[0, 3, 1]),
            Err(RecordError::PastEnd {
                size: 8,
                position: 2
            })
        ));
        assert!(matches!(
            decode_group_value(&[0, 3, 0, 8, b'c']),
            Err(RecordError::PastEnd {
                size: 8,
                position: 4
            })
        ));
        assert!(matches!(
            decode_key(&[0, 1, 0x7f, 0x7f]),
            Err(RecordError::PastEnd { .. })
        ));
        assert!(matches!(
            decode_offset_value(&[0, 9]),
            Err(RecordError::UnknownVersion {
                record: "offset commit value",
                version: 9
            })
        ));
        assert!(matches!(decode_key(&[0, 9]), Ok(RecordKey::Other(9))));
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9._-]{0,12}"
    }

    proptest! {
        #[test]
        fn offsets_round_trip(group in text(), topic in text(), partition in 0i32..1000,
                              offset in any::<i64>(), epoch in any::<i32>(), metadata in text(),
                              timestamp in any::<i64>()) {
            let key = offset_key(&group, &topic, partition);
            prop_assert_eq!(decode_key(&key).unwrap(), RecordKey::Offset { group, topic, partition });
            let value = StoredOffset { offset, leader_epoch: epoch, metadata, commit_timestamp: timestamp };
            prop_assert_eq!(decode_offset_value(&offset_value(&value)).unwrap(), value);
        }

        #[test]
        fn groups_round_trip(group in text(), generation in any::<i32>(), leader in proptest::option::of(text()),
                             members in proptest::collection::vec((text(), proptest::option::of(text()), any::<i32>(), proptest::collection::vec(any::<u8>(), 0..20)), 0..4)) {
            prop_assert_eq!(decode_key(&group_key(&group)).unwrap(), RecordKey::Group(group));
            let stored = StoredGroup {
                protocol_type: "consumer".into(),
                generation,
                protocol: Some("range".into()),
                leader,
                current_state_timestamp: 5,
                members: members.into_iter().map(|(id, instance, timeout, bytes)| StoredMember {
                    member_id: id,
                    group_instance_id: instance,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: timeout.max(0),
                    session_timeout_ms: 10,
                    subscription: Bytes::from(bytes.clone()),
                    assignment: Bytes::from(bytes),
                }).collect(),
            };
            prop_assert_eq!(decode_group_value(&group_value(&stored)).unwrap(), stored);
        }
    }
}
