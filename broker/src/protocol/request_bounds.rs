//! Checks every length prefix and array count of a request body against the bytes left,
//! before the body is decoded.
//!
//! kafka-protocol (0.18) preallocates `Vec::with_capacity(count)` from an array count read off
//! the wire, so a request of a few bytes claiming a billion elements makes it try a huge
//! allocation and abort the process. Every array element takes at least one byte, so a count
//! above the bytes left is impossible: this walk rejects such a frame first. It follows the
//! request schemas of the APIs in the API table (`protocol::apis::APIS`), field by field and version by version.
//!
//! A count that fits can still be a lot: a 100 MiB DescribeGroups of empty group ids is 50
//! million ids, each a 32-byte string once decoded and a 216-byte entry in the response, tens
//! of GB in all. So the walk also counts the elements that decode to a structure (array
//! elements and strings of string arrays) and refuses a body holding more than
//! `MAX_EXPANSION * body_len + EXPANSION_ALLOWANCE` bytes of them at `ELEMENT_COST` bytes each,
//! or more than `MAX_ELEMENTS` in all: what a request decodes and answers to stays within a
//! fixed multiple of its own size and a fixed total, and elements average at least 8 bytes on
//! the wire in any large request, as real ones do.
//!
//! References: Kafka protocol guide, "Protocol Primitive Types"; KIP-482 (flexible versions
//! and tagged fields); the request JSON schemas in Kafka's `clients/src/main/resources/common/message`.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

/// A field's wire type.
#[derive(Debug, Clone, Copy)]
enum Type {
    /// A fixed-width integer, bool or float of this many bytes.
    Fixed(usize),
    /// A (nullable) string.
    Str,
    /// (Nullable) bytes or records.
    Bytes,
    /// A (nullable) array of structs with these fields.
    Array(&'static [Field]),
    /// A (nullable) array of int32.
    Int32Array,
    /// A (nullable) array of int64.
    Int64Array,
    /// A (nullable) array of strings.
    StringArray,
}

/// A field present from `min` to `max` version.
#[derive(Debug, Clone, Copy)]
struct Field(Type, i16, i16);

/// The fields of one request body, version by version: what the walk follows.
#[derive(Debug, Clone, Copy)]
pub struct Schema(&'static [Field]);

const ALL: i16 = i16::MAX;
const I8: Type = Type::Fixed(1);
const BOOL: Type = Type::Fixed(1);
const I16: Type = Type::Fixed(2);
const I32: Type = Type::Fixed(4);
const I64: Type = Type::Fixed(8);
const UUID: Type = Type::Fixed(16);
const INT32_ARRAY: Type = Type::Int32Array;
const STRING_ARRAY: Type = Type::StringArray;

/// The ApiVersions request schema.
pub(crate) const API_VERSIONS: Schema =
    Schema(&[Field(Type::Str, 3, ALL), Field(Type::Str, 3, ALL)]);

/// The Metadata request schema.
pub(crate) const METADATA: Schema = Schema(&[
    Field(
        Type::Array(&[Field(UUID, 10, ALL), Field(Type::Str, 0, ALL)]),
        0,
        ALL,
    ),
    Field(BOOL, 4, ALL),
    Field(BOOL, 8, 10),
    Field(BOOL, 8, ALL),
]);

/// The Produce request schema.
pub(crate) const PRODUCE: Schema = Schema(&[
    Field(Type::Str, 3, ALL),
    Field(I16, 0, ALL),
    Field(I32, 0, ALL),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, 12),
            Field(UUID, 13, ALL),
            Field(
                Type::Array(&[Field(I32, 0, ALL), Field(Type::Bytes, 0, ALL)]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
]);

/// The Fetch request schema.
pub(crate) const FETCH: Schema = Schema(&[
    Field(I32, 0, 14),
    Field(I32, 0, ALL),
    Field(I32, 0, ALL),
    Field(I32, 3, ALL),
    Field(I8, 4, ALL),
    Field(I32, 7, ALL),
    Field(I32, 7, ALL),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, 12),
            Field(UUID, 13, ALL),
            Field(
                Type::Array(&[
                    Field(I32, 0, ALL),
                    Field(I32, 9, ALL),
                    Field(I64, 0, ALL),
                    Field(I32, 12, ALL),
                    Field(I64, 5, ALL),
                    Field(I32, 0, ALL),
                ]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(
        Type::Array(&[
            Field(Type::Str, 7, 12),
            Field(UUID, 13, ALL),
            Field(INT32_ARRAY, 7, ALL),
        ]),
        7,
        ALL,
    ),
    Field(Type::Str, 11, ALL),
]);

/// The ListOffsets request schema.
pub(crate) const LIST_OFFSETS: Schema = Schema(&[
    Field(I32, 0, ALL),
    Field(I8, 2, ALL),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[
                    Field(I32, 0, ALL),
                    Field(I32, 4, ALL),
                    Field(I64, 0, ALL),
                    Field(I32, 0, 0),
                ]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(I32, 10, ALL),
]);

/// The CreateTopics request schema.
pub(crate) const CREATE_TOPICS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(I32, 0, ALL),
            Field(I16, 0, ALL),
            Field(
                Type::Array(&[Field(I32, 0, ALL), Field(INT32_ARRAY, 0, ALL)]),
                0,
                ALL,
            ),
            Field(
                Type::Array(&[Field(Type::Str, 0, ALL), Field(Type::Str, 0, ALL)]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(I32, 0, ALL),
    Field(BOOL, 1, ALL),
]);

/// The DeleteTopics request schema.
pub(crate) const DELETE_TOPICS: Schema = Schema(&[
    Field(
        Type::Array(&[Field(Type::Str, 6, ALL), Field(UUID, 6, ALL)]),
        6,
        ALL,
    ),
    Field(STRING_ARRAY, 0, 5),
    Field(I32, 0, ALL),
]);

/// The CreatePartitions request schema.
pub(crate) const CREATE_PARTITIONS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(I32, 0, ALL),
            Field(Type::Array(&[Field(INT32_ARRAY, 0, ALL)]), 0, ALL),
        ]),
        0,
        ALL,
    ),
    Field(I32, 0, ALL),
    Field(BOOL, 0, ALL),
]);

/// The DescribeConfigs request schema.
pub(crate) const DESCRIBE_CONFIGS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(I8, 0, ALL),
            Field(Type::Str, 0, ALL),
            Field(STRING_ARRAY, 0, ALL),
        ]),
        0,
        ALL,
    ),
    Field(BOOL, 1, ALL),
    Field(BOOL, 3, ALL),
]);

/// The DeleteRecords request schema.
pub(crate) const DELETE_RECORDS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[Field(I32, 0, ALL), Field(I64, 0, ALL)]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(I32, 0, ALL),
]);

/// The OffsetForLeaderEpoch request schema.
pub(crate) const OFFSET_FOR_LEADER_EPOCH: Schema = Schema(&[
    Field(I32, 3, ALL),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[Field(I32, 0, ALL), Field(I32, 2, ALL), Field(I32, 0, ALL)]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
]);

/// The AlterConfigs request schema.
pub(crate) const ALTER_CONFIGS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(I8, 0, ALL),
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[Field(Type::Str, 0, ALL), Field(Type::Str, 0, ALL)]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(BOOL, 0, ALL),
]);

/// The IncrementalAlterConfigs request schema.
pub(crate) const INCREMENTAL_ALTER_CONFIGS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(I8, 0, ALL),
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[
                    Field(Type::Str, 0, ALL),
                    Field(I8, 0, ALL),
                    Field(Type::Str, 0, ALL),
                ]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(BOOL, 0, ALL),
]);

/// The DescribeClientQuotas request schema.
pub(crate) const DESCRIBE_CLIENT_QUOTAS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(I8, 0, ALL),
            Field(Type::Str, 0, ALL),
        ]),
        0,
        ALL,
    ),
    Field(BOOL, 0, ALL),
]);

/// The AlterClientQuotas request schema.
pub(crate) const ALTER_CLIENT_QUOTAS: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(
                Type::Array(&[Field(Type::Str, 0, ALL), Field(Type::Str, 0, ALL)]),
                0,
                ALL,
            ),
            Field(
                Type::Array(&[
                    Field(Type::Str, 0, ALL),
                    Field(Type::Fixed(8), 0, ALL),
                    Field(BOOL, 0, ALL),
                ]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
    Field(BOOL, 0, ALL),
]);

/// The DescribeCluster request schema.
pub(crate) const DESCRIBE_CLUSTER: Schema =
    Schema(&[Field(BOOL, 0, ALL), Field(I8, 1, ALL), Field(BOOL, 2, ALL)]);

/// The InitProducerId request schema.
pub(crate) const INIT_PRODUCER_ID: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I32, 0, ALL),
    Field(I64, 3, ALL),
    Field(I16, 3, ALL),
    Field(BOOL, 6, ALL),
    Field(BOOL, 6, ALL),
]);

/// The FindCoordinator request schema.
pub(crate) const FIND_COORDINATOR: Schema = Schema(&[
    Field(Type::Str, 0, 3),
    Field(I8, 1, ALL),
    Field(STRING_ARRAY, 4, ALL),
]);

/// The JoinGroup request schema.
pub(crate) const JOIN_GROUP: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I32, 0, ALL),
    Field(I32, 1, ALL),
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 5, ALL),
    Field(Type::Str, 0, ALL),
    Field(
        Type::Array(&[Field(Type::Str, 0, ALL), Field(Type::Bytes, 0, ALL)]),
        0,
        ALL,
    ),
    Field(Type::Str, 8, ALL),
]);

/// The SyncGroup request schema.
pub(crate) const SYNC_GROUP: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I32, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 3, ALL),
    Field(Type::Str, 5, ALL),
    Field(Type::Str, 5, ALL),
    Field(
        Type::Array(&[Field(Type::Str, 0, ALL), Field(Type::Bytes, 0, ALL)]),
        0,
        ALL,
    ),
]);

/// The Heartbeat request schema.
pub(crate) const HEARTBEAT: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I32, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 3, ALL),
]);

/// The LeaveGroup request schema.
pub(crate) const LEAVE_GROUP: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 0, 2),
    Field(
        Type::Array(&[
            Field(Type::Str, 3, ALL),
            Field(Type::Str, 3, ALL),
            Field(Type::Str, 5, ALL),
        ]),
        3,
        ALL,
    ),
]);

/// The OffsetCommit request schema.
pub(crate) const OFFSET_COMMIT: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I32, 1, ALL),
    Field(Type::Str, 1, ALL),
    Field(Type::Str, 7, ALL),
    Field(I64, 2, 4),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[
                    Field(I32, 0, ALL),
                    Field(I64, 0, ALL),
                    Field(I32, 6, ALL),
                    Field(Type::Str, 0, ALL),
                ]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
]);

/// The OffsetFetch request schema.
pub(crate) const OFFSET_FETCH: Schema = Schema(&[
    Field(Type::Str, 0, 7),
    Field(
        Type::Array(&[Field(Type::Str, 0, 7), Field(INT32_ARRAY, 0, 7)]),
        0,
        7,
    ),
    Field(
        Type::Array(&[
            Field(Type::Str, 8, ALL),
            Field(Type::Str, 9, ALL),
            Field(I32, 9, ALL),
            Field(
                Type::Array(&[Field(Type::Str, 8, ALL), Field(INT32_ARRAY, 8, ALL)]),
                8,
                ALL,
            ),
        ]),
        8,
        ALL,
    ),
    Field(BOOL, 7, ALL),
]);

/// The DescribeGroups request schema.
pub(crate) const DESCRIBE_GROUPS: Schema =
    Schema(&[Field(STRING_ARRAY, 0, ALL), Field(BOOL, 3, ALL)]);

/// The ListGroups request schema.
pub(crate) const LIST_GROUPS: Schema =
    Schema(&[Field(STRING_ARRAY, 4, ALL), Field(STRING_ARRAY, 5, ALL)]);

/// The DeleteGroups request schema.
pub(crate) const DELETE_GROUPS: Schema = Schema(&[Field(STRING_ARRAY, 0, ALL)]);

/// The OffsetDelete request schema.
pub(crate) const OFFSET_DELETE: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(Type::Array(&[Field(I32, 0, ALL)]), 0, ALL),
        ]),
        0,
        ALL,
    ),
]);

/// The ConsumerGroupHeartbeat request schema.
pub(crate) const CONSUMER_GROUP_HEARTBEAT: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(I32, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(I32, 0, ALL),
    Field(STRING_ARRAY, 0, ALL),
    Field(Type::Str, 1, ALL),
    Field(Type::Str, 0, ALL),
    Field(
        Type::Array(&[Field(UUID, 0, ALL), Field(INT32_ARRAY, 0, ALL)]),
        0,
        ALL,
    ),
]);

/// The ConsumerGroupDescribe request schema.
pub(crate) const CONSUMER_GROUP_DESCRIBE: Schema =
    Schema(&[Field(STRING_ARRAY, 0, ALL), Field(BOOL, 0, ALL)]);

const TXN_TOPICS: Type = Type::Array(&[Field(Type::Str, 0, ALL), Field(INT32_ARRAY, 0, ALL)]);

/// The AddPartitionsToTxn request schema.
pub(crate) const ADD_PARTITIONS_TO_TXN: Schema = Schema(&[
    Field(
        Type::Array(&[
            Field(Type::Str, 4, ALL),
            Field(I64, 4, ALL),
            Field(I16, 4, ALL),
            Field(BOOL, 4, ALL),
            Field(TXN_TOPICS, 4, ALL),
        ]),
        4,
        ALL,
    ),
    Field(Type::Str, 0, 3),
    Field(I64, 0, 3),
    Field(I16, 0, 3),
    Field(TXN_TOPICS, 0, 3),
]);

/// The AddOffsetsToTxn request schema.
pub(crate) const ADD_OFFSETS_TO_TXN: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I64, 0, ALL),
    Field(I16, 0, ALL),
    Field(Type::Str, 0, ALL),
]);

/// The EndTxn request schema.
pub(crate) const END_TXN: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(I64, 0, ALL),
    Field(I16, 0, ALL),
    Field(BOOL, 0, ALL),
]);

/// The TxnOffsetCommit request schema.
pub(crate) const TXN_OFFSET_COMMIT: Schema = Schema(&[
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(I64, 0, ALL),
    Field(I16, 0, ALL),
    Field(I32, 3, ALL),
    Field(Type::Str, 3, ALL),
    Field(Type::Str, 3, ALL),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(
                Type::Array(&[
                    Field(I32, 0, ALL),
                    Field(I64, 0, ALL),
                    Field(I32, 2, ALL),
                    Field(Type::Str, 0, ALL),
                ]),
                0,
                ALL,
            ),
        ]),
        0,
        ALL,
    ),
]);

/// The DescribeProducers request schema.
pub(crate) const DESCRIBE_PRODUCERS: Schema = Schema(&[Field(TXN_TOPICS, 0, ALL)]);

/// The DescribeTransactions request schema.
pub(crate) const DESCRIBE_TRANSACTIONS: Schema = Schema(&[Field(STRING_ARRAY, 0, ALL)]);

/// The ListTransactions request schema.
pub(crate) const LIST_TRANSACTIONS: Schema = Schema(&[
    Field(STRING_ARRAY, 0, ALL),
    Field(Type::Int64Array, 0, ALL),
    Field(I64, 1, ALL),
]);

/// The SaslHandshake request schema.
pub(crate) const SASL_HANDSHAKE: Schema = Schema(&[Field(Type::Str, 0, ALL)]);

/// The SaslAuthenticate request schema.
pub(crate) const SASL_AUTHENTICATE: Schema = Schema(&[Field(Type::Bytes, 0, ALL)]);

/// The DescribeUserScramCredentials request schema.
pub(crate) const DESCRIBE_USER_SCRAM_CREDENTIALS: Schema =
    Schema(&[Field(Type::Array(&[Field(Type::Str, 0, ALL)]), 0, ALL)]);

/// The AlterUserScramCredentials request schema.
pub(crate) const ALTER_USER_SCRAM_CREDENTIALS: Schema = Schema(&[
    Field(
        Type::Array(&[Field(Type::Str, 0, ALL), Field(I8, 0, ALL)]),
        0,
        ALL,
    ),
    Field(
        Type::Array(&[
            Field(Type::Str, 0, ALL),
            Field(I8, 0, ALL),
            Field(I32, 0, ALL),
            Field(Type::Bytes, 0, ALL),
            Field(Type::Bytes, 0, ALL),
        ]),
        0,
        ALL,
    ),
]);
/// The DescribeAcls request schema.
pub(crate) const DESCRIBE_ACLS: Schema = Schema(ACL_FILTER);

/// The fields of an ACL filter (DescribeAcls, and each filter of DeleteAcls).
const ACL_FILTER: &[Field] = &[
    Field(I8, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(I8, 1, ALL),
    Field(Type::Str, 0, ALL),
    Field(Type::Str, 0, ALL),
    Field(I8, 0, ALL),
    Field(I8, 0, ALL),
];

/// The CreateAcls request schema.
pub(crate) const CREATE_ACLS: Schema = Schema(&[Field(
    Type::Array(&[
        Field(I8, 0, ALL),
        Field(Type::Str, 0, ALL),
        Field(I8, 1, ALL),
        Field(Type::Str, 0, ALL),
        Field(Type::Str, 0, ALL),
        Field(I8, 0, ALL),
        Field(I8, 0, ALL),
    ]),
    0,
    ALL,
)]);

/// The DeleteAcls request schema.
pub(crate) const DELETE_ACLS: Schema = Schema(&[Field(Type::Array(ACL_FILTER), 0, ALL)]);

/// What an element of an array or string array is assumed to cost once decoded and answered,
/// in bytes: a decoded request element is 32 (a string) to 112 bytes (`CreatableTopic`), a
/// response entry up to 216 (`DescribedGroup`), measured with `size_of` on kafka-protocol 0.18.
pub(crate) const ELEMENT_COST: usize = 256;

/// The most bytes of elements (at [`ELEMENT_COST`]) per byte of body.
pub(crate) const MAX_EXPANSION: usize = 32;

/// Element bytes allowed to any body on top of [`MAX_EXPANSION`] times its size: small
/// requests (16384 elements) are never refused for their shape.
pub(crate) const EXPANSION_ALLOWANCE: usize = 4 << 20;

/// The most elements in any one request, whatever its size (256 MiB at [`ELEMENT_COST`]):
/// more than a cluster has partitions, topics or groups to name.
pub(crate) const MAX_ELEMENTS: usize = 1 << 20;

/// Why a request body cannot be what its lengths and counts claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BoundsError {
    /// A field runs past the end of the body.
    #[error("{what} of {size} bytes at position {position} runs past the {body} byte body")]
    PastEnd {
        /// The field's kind.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// Where it starts.
        position: usize,
        /// The body's size in bytes.
        body: usize,
    },
    /// A length or count is below -1 (null).
    #[error("negative {what} length {length} at position {position}")]
    NegativeLength {
        /// The field's kind.
        what: &'static str,
        /// The length read.
        length: i64,
        /// Where it was read.
        position: usize,
    },
    /// A length or count exceeds the bytes left: every element takes at least one byte.
    #[error("{what} length {length} at position {position} exceeds the {left} bytes left")]
    TooLong {
        /// The field's kind.
        what: &'static str,
        /// The length read.
        length: u64,
        /// Where it was read.
        position: usize,
        /// Bytes left after it.
        left: usize,
    },
    /// The body holds more elements than its size allows: decoded and answered, they would
    /// take far more memory than the body.
    #[error("{elements} elements in a {body} byte body exceed the {limit} allowed")]
    TooManyElements {
        /// Elements counted when the walk stopped.
        elements: usize,
        /// The body's size in bytes.
        body: usize,
        /// The most elements a body of this size may hold.
        limit: usize,
    },
    /// An unsigned varint longer than 5 bytes.
    #[error("varint longer than 5 bytes at position {position}")]
    Varint {
        /// Where it ends.
        position: usize,
    },
}

struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
    flexible: bool,
    /// Elements walked so far.
    elements: usize,
    /// The most elements the body may hold.
    max_elements: usize,
}

/// The most elements a body of `body` bytes may hold.
fn max_elements(body: usize) -> usize {
    (body
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_ALLOWANCE)
        / ELEMENT_COST)
        .min(MAX_ELEMENTS)
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8], flexible: bool) -> Self {
        Cursor {
            bytes,
            position: 0,
            flexible,
            elements: 0,
            max_elements: max_elements(bytes.len()),
        }
    }

    /// Counts `count` more elements against the body's allowance.
    fn elements(&mut self, count: usize) -> Result<(), BoundsError> {
        self.elements = self.elements.saturating_add(count);
        if self.elements > self.max_elements {
            return Err(BoundsError::TooManyElements {
                elements: self.elements,
                body: self.bytes.len(),
                limit: self.max_elements,
            });
        }
        Ok(())
    }

    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.position)
    }

    fn skip(&mut self, size: usize, what: &'static str) -> Result<(), BoundsError> {
        if size > self.left() {
            return Err(BoundsError::PastEnd {
                what,
                size,
                position: self.position,
                body: self.bytes.len(),
            });
        }
        self.position += size;
        Ok(())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], BoundsError> {
        let mut out = [0u8; N];
        let slice =
            self.bytes
                .get(self.position..self.position + N)
                .ok_or(BoundsError::PastEnd {
                    what: "field",
                    size: N,
                    position: self.position,
                    body: self.bytes.len(),
                })?;
        out.copy_from_slice(slice);
        self.position += N;
        Ok(out)
    }

    fn unsigned_varint(&mut self) -> Result<u64, BoundsError> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let [byte] = self.fixed::<1>()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BoundsError::Varint {
            position: self.position,
        })
    }

    /// A length or count: -1 (null) or a value no larger than the bytes left.
    fn length(&mut self, width: usize, what: &'static str) -> Result<usize, BoundsError> {
        let length: i64 = if self.flexible {
            self.unsigned_varint()? as i64 - 1
        } else if width == 2 {
            i64::from(i16::from_be_bytes(self.fixed::<2>()?))
        } else {
            i64::from(i32::from_be_bytes(self.fixed::<4>()?))
        };
        if length < -1 {
            return Err(BoundsError::NegativeLength {
                what,
                length,
                position: self.position,
            });
        }
        let length = usize::try_from(length).unwrap_or(0);
        if length > self.left() {
            return Err(BoundsError::TooLong {
                what,
                length: length as u64,
                position: self.position,
                left: self.left(),
            });
        }
        Ok(length)
    }

    fn tagged_fields(&mut self) -> Result<(), BoundsError> {
        let count = self.unsigned_varint()?;
        if count > self.left() as u64 {
            return Err(BoundsError::TooLong {
                what: "tagged fields",
                length: count,
                position: self.position,
                left: self.left(),
            });
        }
        for _ in 0..count {
            self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.skip(size, "tagged field")?;
        }
        Ok(())
    }

    fn fields(&mut self, fields: &[Field], version: i16) -> Result<(), BoundsError> {
        for Field(ty, min, max) in fields {
            if version < *min || version > *max {
                continue;
            }
            match ty {
                Type::Fixed(n) => self.skip(*n, "field")?,
                Type::Str => {
                    let n = self.length(2, "string")?;
                    self.skip(n, "string")?;
                }
                Type::Bytes => {
                    let n = self.length(4, "bytes")?;
                    self.skip(n, "bytes")?;
                }
                Type::Array(element) => {
                    let count = self.length(4, "array")?;
                    self.elements(count)?;
                    for _ in 0..count {
                        self.fields(element, version)?;
                    }
                }
                Type::Int32Array => {
                    let n = self.length(4, "array")?;
                    self.skip(n.saturating_mul(4), "int32 array")?;
                }
                Type::Int64Array => {
                    let n = self.length(4, "array")?;
                    self.skip(n.saturating_mul(8), "int64 array")?;
                }
                Type::StringArray => {
                    let count = self.length(4, "array")?;
                    self.elements(count)?;
                    for _ in 0..count {
                        let n = self.length(2, "string")?;
                        self.skip(n, "string")?;
                    }
                }
            }
        }
        if self.flexible {
            self.tagged_fields()?;
        }
        Ok(())
    }
}

/// Walks a request body of `schema` at `version` (the bytes after the request header) and
/// checks each length and count against the bytes left, and the number of elements against
/// the body's size. `flexible` is whether the version
/// uses compact types and tagged fields (request header v2).
///
/// Errors: the first length or count that cannot fit, with its position; `TooManyElements`
/// when the body holds more elements than its size allows.
pub(crate) fn check(
    schema: Schema,
    version: i16,
    flexible: bool,
    body: &[u8],
) -> Result<(), BoundsError> {
    Cursor::new(body, flexible).fields(schema.0, version)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
    use uuid::Uuid;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_string())
    }

    /// Encodes `request` at every version in `versions` and checks that the walk consumes
    /// exactly the encoded bytes.
    fn walks_exactly<R: Encodable + HeaderVersion>(
        key: ApiKey,
        request: &R,
        versions: std::ops::RangeInclusive<i16>,
    ) {
        for version in versions {
            let mut buf = BytesMut::new();
            request
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("encoding {key:?} v{version}: {e}"));
            let flexible = R::header_version(version) >= 2;
            let mut cursor = Cursor::new(&buf, flexible);
            cursor
                .fields(crate::protocol::apis::row(key).unwrap().bounds.0, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
            assert_eq!(
                cursor.position,
                buf.len(),
                "{key:?} v{version}: walked {} of {} bytes",
                cursor.position,
                buf.len()
            );
        }
    }

    #[test]
    fn walks_every_served_request_at_every_version() {
        use fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
        walks_exactly(
            ApiKey::ApiVersions,
            &ApiVersionsRequest::default()
                .with_client_software_name(s("a"))
                .with_client_software_version(s("1")),
            0..=4,
        );
        let metadata = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(s("t"))))
                .with_topic_id(Uuid::nil()),
        ]));
        walks_exactly(ApiKey::Metadata, &metadata, 0..=12);
        walks_exactly(
            ApiKey::Metadata,
            &MetadataRequest::default().with_topics(None),
            1..=12,
        );
        let produce = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx"))))
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(TopicName(s("t")))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(2)
                        .with_records(Some(Bytes::from_static(b"0123456789"))),
                ])]);
        walks_exactly(ApiKey::Produce, &produce, 3..=12);
        let fetch = FetchRequest::default()
            .with_max_bytes(5)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s("t")))
                .with_partitions(vec![
                    FetchPartition::default().with_fetch_offset(3),
                    FetchPartition::default(),
                ])])
            .with_forgotten_topics_data(vec![ForgottenTopic::default()
                .with_topic(TopicName(s("u")))
                .with_partitions(vec![1, 2])])
            .with_rack_id(s("r"));
        walks_exactly(
            ApiKey::Fetch,
            &fetch
                .clone()
                .with_forgotten_topics_data(vec![])
                .with_rack_id(s("")),
            4..=6,
        );
        walks_exactly(ApiKey::Fetch, &fetch.clone().with_rack_id(s("")), 7..=10);
        walks_exactly(ApiKey::Fetch, &fetch.clone(), 11..=12);
        let by_id = fetch
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(Uuid::new_v4())
                .with_partitions(vec![FetchPartition::default()])])
            .with_forgotten_topics_data(vec![ForgottenTopic::default()
                .with_topic_id(Uuid::new_v4())
                .with_partitions(vec![1])])
            .with_cluster_id(Some(s("c")));
        walks_exactly(ApiKey::Fetch, &by_id, 13..=16);
        let list = ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1)
                ]),
        ]);
        walks_exactly(ApiKey::ListOffsets, &list, 1..=8);
        let create = CreateTopicsRequest::default()
            .with_validate_only(true)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s("t")))
                .with_assignments(vec![
                    create_topics_request::CreatableReplicaAssignment::default()
                        .with_broker_ids(vec![BrokerId(0)]),
                ])
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("k"))
                        .with_value(Some(s("v"))),
                ])]);
        walks_exactly(ApiKey::CreateTopics, &create, 2..=7);
        walks_exactly(
            ApiKey::DeleteTopics,
            &DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("t"))]),
            1..=5,
        );
        walks_exactly(
            ApiKey::DeleteTopics,
            &DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(TopicName(s("t"))))]),
            6..=6,
        );
        let partitions = CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s("t")))
                .with_count(3)
                .with_assignments(Some(vec![
                    create_partitions_request::CreatePartitionsAssignment::default()
                        .with_broker_ids(vec![BrokerId(0)]),
                ])),
        ]);
        walks_exactly(ApiKey::CreatePartitions, &partitions, 0..=3);
        let configs = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("t"))
                    .with_configuration_keys(Some(vec![s("a"), s("b")])),
            ]);
        walks_exactly(ApiKey::DescribeConfigs, &configs, 1..=4);
        walks_exactly(
            ApiKey::DescribeCluster,
            &DescribeClusterRequest::default().with_endpoint_type(1),
            0..=1,
        );
        walks_exactly(
            ApiKey::InitProducerId,
            &InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("tx")))),
            0..=4,
        );
    }

    #[test]
    fn walks_every_log_management_request_at_every_version() {
        let delete = DeleteRecordsRequest::default()
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(1)
                        .with_offset(5),
                ])])
            .with_timeout_ms(100);
        walks_exactly(ApiKey::DeleteRecords, &delete, 0..=2);
        let epochs = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(0)
                            .with_leader_epoch(0),
                    ]),
            ]);
        walks_exactly(ApiKey::OffsetForLeaderEpoch, &epochs, 2..=4);
        let alter = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1")))]),
        ]);
        walks_exactly(ApiKey::AlterConfigs, &alter, 0..=2);
        let incremental = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("t"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("cleanup.policy"))
                        .with_config_operation(2)
                        .with_value(Some(s("compact"))),
                ]),
        ]);
        walks_exactly(ApiKey::IncrementalAlterConfigs, &incremental, 0..=1);
    }

    #[test]
    fn walks_every_transaction_request_at_every_version() {
        use kafka_protocol::messages::{GroupId, ProducerId, TransactionalId};
        let tx = || TransactionalId(s("tx"));
        let topics = || {
            vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![0, 1]),
            ]
        };
        walks_exactly(
            ApiKey::AddPartitionsToTxn,
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tx())
                .with_v3_and_below_producer_id(ProducerId(7))
                .with_v3_and_below_topics(topics()),
            0..=3,
        );
        walks_exactly(
            ApiKey::AddPartitionsToTxn,
            &AddPartitionsToTxnRequest::default().with_transactions(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(tx())
                    .with_verify_only(true)
                    .with_topics(topics()),
            ]),
            4..=5,
        );
        walks_exactly(
            ApiKey::AddOffsetsToTxn,
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(tx())
                .with_group_id(GroupId(s("g"))),
            0..=4,
        );
        walks_exactly(
            ApiKey::EndTxn,
            &EndTxnRequest::default()
                .with_transactional_id(tx())
                .with_committed(true),
            0..=5,
        );
        walks_exactly(
            ApiKey::TxnOffsetCommit,
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(tx())
                .with_group_id(GroupId(s("g")))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_committed_metadata(Some(s("m"))),
                        ]),
                ]),
            0..=5,
        );
        walks_exactly(
            ApiKey::DescribeProducers,
            &DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![0, 1]),
            ]),
            0..=0,
        );
        walks_exactly(
            ApiKey::DescribeTransactions,
            &DescribeTransactionsRequest::default().with_transactional_ids(vec![tx(), tx()]),
            0..=0,
        );
        let list = ListTransactionsRequest::default()
            .with_state_filters(vec![s("Ongoing")])
            .with_producer_id_filters(vec![ProducerId(1), ProducerId(2)]);
        walks_exactly(ApiKey::ListTransactions, &list, 0..=0);
        walks_exactly(
            ApiKey::ListTransactions,
            &list.with_duration_filter(5),
            1..=1,
        );
    }

    #[test]
    fn walks_every_group_request_at_every_version() {
        use kafka_protocol::messages::GroupId;
        let g = || GroupId(s("g"));
        walks_exactly(
            ApiKey::FindCoordinator,
            &FindCoordinatorRequest::default().with_key(s("g")),
            0..=3,
        );
        walks_exactly(
            ApiKey::FindCoordinator,
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]),
            4..=6,
        );
        let join = JoinGroupRequest::default()
            .with_group_id(g())
            .with_member_id(s("m"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"meta"))]);
        walks_exactly(ApiKey::JoinGroup, &join, 0..=4);
        walks_exactly(
            ApiKey::JoinGroup,
            &join.clone().with_group_instance_id(Some(s("i"))),
            5..=7,
        );
        walks_exactly(
            ApiKey::JoinGroup,
            &join
                .with_group_instance_id(Some(s("i")))
                .with_reason(Some(s("r"))),
            8..=9,
        );
        let sync = SyncGroupRequest::default()
            .with_group_id(g())
            .with_member_id(s("m"))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m"))
                    .with_assignment(Bytes::from_static(b"a")),
            ]);
        walks_exactly(ApiKey::SyncGroup, &sync, 0..=2);
        walks_exactly(
            ApiKey::SyncGroup,
            &sync.clone().with_group_instance_id(Some(s("i"))),
            3..=4,
        );
        walks_exactly(
            ApiKey::SyncGroup,
            &sync
                .with_group_instance_id(Some(s("i")))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range"))),
            5..=5,
        );
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(g())
            .with_member_id(s("m"));
        walks_exactly(ApiKey::Heartbeat, &heartbeat, 0..=2);
        walks_exactly(
            ApiKey::Heartbeat,
            &heartbeat.with_group_instance_id(Some(s("i"))),
            3..=4,
        );
        walks_exactly(
            ApiKey::LeaveGroup,
            &LeaveGroupRequest::default()
                .with_group_id(g())
                .with_member_id(s("m")),
            0..=2,
        );
        let leave = LeaveGroupRequest::default()
            .with_group_id(g())
            .with_members(vec![leave_group_request::MemberIdentity::default()
                .with_member_id(s("m"))
                .with_group_instance_id(Some(s("i")))]);
        walks_exactly(ApiKey::LeaveGroup, &leave, 3..=4);
        walks_exactly(
            ApiKey::LeaveGroup,
            &LeaveGroupRequest::default()
                .with_group_id(g())
                .with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(s("m"))
                    .with_reason(Some(s("r")))]),
            5..=5,
        );
        let commit = OffsetCommitRequest::default()
            .with_group_id(g())
            .with_member_id(s("m"))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(5)
                            .with_committed_metadata(Some(s("md"))),
                    ]),
            ]);
        walks_exactly(ApiKey::OffsetCommit, &commit, 2..=6);
        walks_exactly(
            ApiKey::OffsetCommit,
            &commit
                .with_group_instance_id(Some(s("i")))
                .with_retention_time_ms(-1),
            7..=9,
        );
        walks_exactly(
            ApiKey::OffsetFetch,
            &OffsetFetchRequest::default()
                .with_group_id(g())
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_indexes(vec![0, 1]),
                ])),
            1..=7,
        );
        walks_exactly(
            ApiKey::OffsetFetch,
            &OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(g())
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s("t")))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
            ]),
            8..=8,
        );
        walks_exactly(
            ApiKey::OffsetFetch,
            &OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(g())
                    .with_member_id(Some(s("m")))
                    .with_topics(None),
            ]),
            9..=9,
        );
        walks_exactly(
            ApiKey::DescribeGroups,
            &DescribeGroupsRequest::default().with_groups(vec![g(), g()]),
            0..=6,
        );
        walks_exactly(ApiKey::ListGroups, &ListGroupsRequest::default(), 0..=3);
        walks_exactly(
            ApiKey::ListGroups,
            &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
            4..=4,
        );
        walks_exactly(
            ApiKey::ListGroups,
            &ListGroupsRequest::default()
                .with_states_filter(vec![s("Stable")])
                .with_types_filter(vec![s("consumer")]),
            5..=5,
        );
        walks_exactly(
            ApiKey::DeleteGroups,
            &DeleteGroupsRequest::default().with_groups_names(vec![g()]),
            0..=2,
        );
        walks_exactly(
            ApiKey::OffsetDelete,
            &OffsetDeleteRequest::default()
                .with_group_id(g())
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default(),
                        ]),
                ]),
            0..=0,
        );
        let cgh = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(g())
            .with_member_id(s("m"))
            .with_instance_id(Some(s("i")))
            .with_subscribed_topic_names(Some(vec![TopicName(s("t"))]))
            .with_server_assignor(Some(s("uniform")))
            .with_topic_partitions(Some(vec![
                consumer_group_heartbeat_request::TopicPartitions::default()
                    .with_topic_id(Uuid::new_v4())
                    .with_partitions(vec![1, 2]),
            ]));
        walks_exactly(ApiKey::ConsumerGroupHeartbeat, &cgh, 0..=0);
        walks_exactly(
            ApiKey::ConsumerGroupHeartbeat,
            &cgh.with_subscribed_topic_regex(Some(s("t.*"))),
            1..=1,
        );
        walks_exactly(
            ApiKey::ConsumerGroupDescribe,
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![g()]),
            0..=1,
        );
        walks_exactly(
            ApiKey::DescribeClientQuotas,
            &DescribeClientQuotasRequest::default()
                .with_components(vec![
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(s("user"))
                        .with_match(Some(s("alice"))),
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(s("client-id"))
                        .with_match_type(2),
                ])
                .with_strict(true),
            0..=1,
        );
        walks_exactly(
            ApiKey::AlterClientQuotas,
            &AlterClientQuotasRequest::default()
                .with_entries(vec![alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![
                        alter_client_quotas_request::EntityData::default()
                            .with_entity_type(s("user"))
                            .with_entity_name(None),
                        alter_client_quotas_request::EntityData::default()
                            .with_entity_type(s("client-id"))
                            .with_entity_name(Some(s("c"))),
                    ])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(s("producer_byte_rate"))
                        .with_value(1024.0)
                        .with_remove(false)])])
                .with_validate_only(true),
            0..=1,
        );
    }

    #[test]
    fn impossible_counts_are_refused() {
        // Metadata v3 with a topic count of 0x307a1000 in a 5-byte body (found by fuzzing).
        assert!(matches!(
            check(METADATA, 3, false, &[0x30, 0x7a, 0x10, 0x00, 0x00]),
            Err(BoundsError::TooLong {
                what: "array",
                length: 0x307a_1000,
                position: 4,
                left: 1
            })
        ));
        // Compact array (flexible) claiming 2^28 elements.
        assert!(matches!(
            check(METADATA, 12, true, &[0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(BoundsError::TooLong { what: "array", .. })
        ));
        // A string longer than the body.
        assert!(matches!(
            check(API_VERSIONS, 3, true, &[0x7f, 0x41]),
            Err(BoundsError::TooLong { what: "string", .. })
        ));
        // A truncated produce.
        assert!(matches!(
            check(PRODUCE, 7, false, &[0xff, 0xff, 0, 1, 0, 0]),
            Err(BoundsError::PastEnd { .. })
        ));
    }

    fn describe_groups(ids: usize, id: &str, version: i16) -> BytesMut {
        let mut buf = BytesMut::new();
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s(id)); ids])
            .encode(&mut buf, version)
            .unwrap();
        buf
    }

    #[test]
    fn element_counts_are_bounded_by_the_body_size() {
        // Five million empty group ids (5 MB, flexible) would decode to 160 MB of strings and
        // a GB of response entries: refused at the array's count, before a single id is walked.
        let body = describe_groups(5_000_000, "", 5);
        assert!(matches!(
            check(DESCRIBE_GROUPS, 5, true, &body),
            Err(BoundsError::TooManyElements {
                elements: 5_000_000,
                ..
            })
        ));
        // Two bytes an id (non-flexible) is still too small.
        let body = describe_groups(1_000_000, "", 0);
        assert!(matches!(
            check(DESCRIBE_GROUPS, 0, false, &body),
            Err(BoundsError::TooManyElements { .. })
        ));
        // Any shape passes in a small request, and realistic names pass in a large one.
        let body = describe_groups(16_000, "", 5);
        assert_eq!(check(DESCRIBE_GROUPS, 5, true, &body), Ok(()));
        let body = describe_groups(1_000_000, "consumer-group-1", 5);
        assert_eq!(check(DESCRIBE_GROUPS, 5, true, &body), Ok(()));
        // But not without end.
        let body = describe_groups(MAX_ELEMENTS + 1, "consumer-group-1", 5);
        assert!(matches!(
            check(DESCRIBE_GROUPS, 5, true, &body),
            Err(BoundsError::TooManyElements { .. })
        ));
        // Nested arrays count too: a Fetch of many tiny topics with many partitions each.
        let topics = vec![
            fetch_request::FetchTopic::default()
                .with_partitions(vec![fetch_request::FetchPartition::default(); 8]);
            100_000
        ];
        let mut buf = BytesMut::new();
        FetchRequest::default()
            .with_topics(topics)
            .encode(&mut buf, 12)
            .unwrap();
        assert_eq!(check(FETCH, 12, true, &buf), Ok(()));
        assert!(max_elements(0) >= 16_000);
        assert_eq!(max_elements(1 << 20), (32 * (1 << 20) + (4 << 20)) / 256);
    }
}
