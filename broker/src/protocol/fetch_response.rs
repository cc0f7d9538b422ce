//! FetchResponse framing of our own, so that record batches reach the socket uncopied.
//!
//! kafka-protocol's encoder writes every field, records included, into one buffer. Here the
//! fields around the records are encoded into the frame's buffer and each partition's records
//! are spliced in as the `Bytes` view of the segment mapping it already is. The bytes on the
//! wire are exactly the crate's encoding (tested at every version below, 4 to 16).
//!
//! References: Kafka protocol guide "Fetch API" (FetchResponse schema, versions 4-16);
//! KIP-482 (flexible versions from v12: compact types and tagged fields); KIP-516 (topic ids,
//! v13); KIP-951 (node endpoints, v16).

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::protocol::Encodable;

use crate::api::ZeroCopy;
use crate::error::ConnectionError;
use crate::protocol::apis::ResponseBody;
use crate::protocol::frame::BodyBuilder;

/// Lowest FetchResponse version this encoder (and kafka-protocol) writes.
pub const MIN_VERSION: i16 = 4;
/// Highest FetchResponse version this encoder writes: the top of its row in `protocol::apis::APIS`.
pub const MAX_VERSION: i16 = 16;

fn error(message: impl Into<String>) -> ConnectionError {
    ConnectionError::Encode(message.into())
}

fn put_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Length of a compact (flexible) array, string or bytes field: `len + 1`, 0 for null.
fn put_compact_length(buf: &mut BytesMut, len: Option<usize>) -> Result<(), ConnectionError> {
    let value = match len {
        None => 0,
        Some(len) => u32::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(1))
            .ok_or_else(|| error(format!("{len} is too long for a compact length")))?,
    };
    put_unsigned_varint(buf, value);
    Ok(())
}

/// Length of a classic array or bytes field: i32, -1 for null.
fn put_i32_length(buf: &mut BytesMut, len: Option<usize>) -> Result<(), ConnectionError> {
    let value = match len {
        None => -1,
        Some(len) => {
            i32::try_from(len).map_err(|_| error(format!("{len} is too long for an i32 length")))?
        }
    };
    buf.put_i32(value);
    Ok(())
}

fn put_length(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
) -> Result<(), ConnectionError> {
    if flexible {
        put_compact_length(buf, len)
    } else {
        put_i32_length(buf, len)
    }
}

/// A nested struct encoded by kafka-protocol (small, fixed-size fields).
fn put_struct<T: Encodable>(
    buf: &mut BytesMut,
    value: &T,
    version: i16,
) -> Result<(), ConnectionError> {
    value
        .encode(buf, version)
        .map_err(|e| error(format!("FetchResponse v{version}: {e}")))
}

/// A tagged field holding a struct: tag, size, then the struct.
fn put_tagged_struct<T: Encodable>(
    buf: &mut BytesMut,
    tag: u32,
    value: &T,
    version: i16,
) -> Result<(), ConnectionError> {
    let size = value
        .compute_size(version)
        .map_err(|e| error(format!("FetchResponse v{version}: {e}")))?;
    put_tag(buf, tag, size)?;
    put_struct(buf, value, version)
}

/// Tagged fields not known to the schema, in tag order, from `first_tag` on.
fn put_unknown_tagged_fields(
    buf: &mut BytesMut,
    fields: &BTreeMap<i32, Bytes>,
    first_tag: i32,
) -> Result<(), ConnectionError> {
    for (&tag, value) in fields.range(first_tag..) {
        put_tag(buf, tag as u32, value.len())?;
        buf.put_slice(value);
    }
    Ok(())
}

/// The count that opens a tagged-field section: `known` schema fields set plus the unknown ones.
fn put_tagged_count(
    buf: &mut BytesMut,
    known: usize,
    unknown: &BTreeMap<i32, Bytes>,
) -> Result<(), ConnectionError> {
    let count =
        u32::try_from(known + unknown.len()).map_err(|_| error("too many tagged fields"))?;
    put_unsigned_varint(buf, count);
    Ok(())
}

/// The tag and size that precede a tagged field's value.
fn put_tag(buf: &mut BytesMut, tag: u32, size: usize) -> Result<(), ConnectionError> {
    put_unsigned_varint(buf, tag);
    put_unsigned_varint(
        buf,
        u32::try_from(size).map_err(|_| error("tagged field too large"))?,
    );
    Ok(())
}

/// Encodes `response` at `version` into `body`, splicing each partition's records in as a
/// slice of its own.
///
/// Errors: `Encode` for a version outside 4..=16 or a field set that `version` cannot carry
/// (the same cases in which kafka-protocol refuses to encode).
pub fn encode(
    response: &FetchResponse,
    version: i16,
    body: &mut BodyBuilder,
) -> Result<(), ConnectionError> {
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(error(format!("FetchResponse v{version} is not encodable")));
    }
    let flexible = version >= 12;
    let buf = body.buf();
    buf.put_i32(response.throttle_time_ms);
    if version >= 7 {
        buf.put_i16(response.error_code);
        buf.put_i32(response.session_id);
    } else if response.session_id != 0 {
        return Err(error(format!("FetchResponse v{version} has no session id")));
    }
    put_length(buf, Some(response.responses.len()), flexible)?;
    for topic in &response.responses {
        encode_topic(topic, version, body)?;
    }
    if flexible {
        let buf = body.buf();
        let endpoints = version >= 16 && !response.node_endpoints.is_empty();
        put_tagged_count(buf, usize::from(endpoints), &response.unknown_tagged_fields)?;
        if endpoints {
            let mut nested = BytesMut::new();
            put_compact_length(&mut nested, Some(response.node_endpoints.len()))?;
            for endpoint in &response.node_endpoints {
                put_struct(&mut nested, endpoint, version)?;
            }
            put_tag(buf, 0, nested.len())?;
            buf.put_slice(&nested);
        }
        put_unknown_tagged_fields(buf, &response.unknown_tagged_fields, 1)?;
    }
    Ok(())
}

fn encode_topic(
    topic: &FetchableTopicResponse,
    version: i16,
    body: &mut BodyBuilder,
) -> Result<(), ConnectionError> {
    let flexible = version >= 12;
    let buf = body.buf();
    if version <= 12 {
        let name = topic.topic.0.as_bytes();
        if flexible {
            put_compact_length(buf, Some(name.len()))?;
        } else {
            let len = i16::try_from(name.len()).map_err(|_| error("topic name too long"))?;
            buf.put_i16(len);
        }
        buf.put_slice(name);
    }
    if version >= 13 {
        buf.put_slice(topic.topic_id.as_bytes());
    }
    put_length(buf, Some(topic.partitions.len()), flexible)?;
    for partition in &topic.partitions {
        encode_partition(partition, version, body)?;
    }
    if flexible {
        let buf = body.buf();
        put_tagged_count(buf, 0, &topic.unknown_tagged_fields)?;
        put_unknown_tagged_fields(buf, &topic.unknown_tagged_fields, 0)?;
    }
    Ok(())
}

fn encode_partition(
    partition: &PartitionData,
    version: i16,
    body: &mut BodyBuilder,
) -> Result<(), ConnectionError> {
    let flexible = version >= 12;
    let buf = body.buf();
    buf.put_i32(partition.partition_index);
    buf.put_i16(partition.error_code);
    buf.put_i64(partition.high_watermark);
    buf.put_i64(partition.last_stable_offset);
    if version >= 5 {
        buf.put_i64(partition.log_start_offset);
    }
    let aborted = partition.aborted_transactions.as_ref();
    put_length(buf, aborted.map(Vec::len), flexible)?;
    for transaction in aborted.into_iter().flatten() {
        put_struct(buf, transaction, version)?;
    }
    if version >= 11 {
        buf.put_i32(partition.preferred_read_replica.0);
    } else if partition.preferred_read_replica.0 != -1 {
        return Err(error(format!(
            "FetchResponse v{version} has no preferred read replica"
        )));
    }
    let records = partition.records.as_ref();
    put_length(buf, records.map(Bytes::len), flexible)?;
    if let Some(records) = records {
        body.splice(records.clone());
    }
    if flexible {
        let buf = body.buf();
        let diverging = partition.diverging_epoch != Default::default();
        let leader = partition.current_leader != Default::default();
        let snapshot = partition.snapshot_id != Default::default();
        let known = usize::from(diverging) + usize::from(leader) + usize::from(snapshot);
        put_tagged_count(buf, known, &partition.unknown_tagged_fields)?;
        if diverging {
            put_tagged_struct(buf, 0, &partition.diverging_epoch, version)?;
        }
        if leader {
            put_tagged_struct(buf, 1, &partition.current_leader, version)?;
        }
        if snapshot {
            put_tagged_struct(buf, 2, &partition.snapshot_id, version)?;
        }
        put_unknown_tagged_fields(buf, &partition.unknown_tagged_fields, 3)?;
    }
    Ok(())
}

impl ResponseBody for ZeroCopy<FetchResponse> {
    fn encode_body(&self, version: i16, out: &mut BodyBuilder) -> Result<bool, ConnectionError> {
        encode(&self.0, version, out)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, LeaderIdAndEpoch, NodeEndpoint, SnapshotId,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn tagged() -> impl Strategy<Value = BTreeMap<i32, Bytes>> {
        proptest::collection::btree_map(
            10..20i32,
            proptest::collection::vec(any::<u8>(), 0..4).prop_map(Bytes::from),
            0..2,
        )
    }

    fn partition(version: i16) -> impl Strategy<Value = PartitionData> {
        let flexible = version >= 12;
        (
            (
                any::<i32>(),
                any::<i16>(),
                any::<i64>(),
                any::<i64>(),
                any::<i64>(),
            ),
            proptest::option::of(proptest::collection::vec(
                (any::<i64>(), any::<i64>()),
                0..3,
            )),
            any::<i32>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            // Tagged fields: each either default or set.
            proptest::option::of((any::<i32>(), any::<i64>())),
            proptest::option::of((any::<i32>(), any::<i32>())),
            proptest::option::of((any::<i64>(), any::<i32>())),
            tagged(),
        )
            .prop_map(
                move |(
                    (index, error_code, high_watermark, last_stable, log_start),
                    aborted,
                    replica,
                    records,
                    diverging,
                    leader,
                    snapshot,
                    unknown,
                )| {
                    let mut data = PartitionData::default()
                        .with_partition_index(index)
                        .with_error_code(error_code)
                        .with_high_watermark(high_watermark)
                        .with_last_stable_offset(last_stable)
                        .with_aborted_transactions(aborted.map(|list| {
                            list.into_iter()
                                .map(|(id, first)| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(id))
                                        .with_first_offset(first)
                                })
                                .collect()
                        }))
                        .with_records(records.map(Bytes::from));
                    if version >= 5 {
                        data.log_start_offset = log_start;
                    }
                    if version >= 11 {
                        data.preferred_read_replica = BrokerId(replica);
                    }
                    if flexible {
                        if let Some((epoch, end_offset)) = diverging {
                            data.diverging_epoch = EpochEndOffset::default()
                                .with_epoch(epoch)
                                .with_end_offset(end_offset);
                        }
                        if let Some((leader_id, leader_epoch)) = leader {
                            data.current_leader = LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader_id))
                                .with_leader_epoch(leader_epoch);
                        }
                        if let Some((end_offset, epoch)) = snapshot {
                            data.snapshot_id = SnapshotId::default()
                                .with_end_offset(end_offset)
                                .with_epoch(epoch);
                        }
                        data.unknown_tagged_fields = unknown;
                    }
                    data
                },
            )
    }

    fn response(version: i16) -> impl Strategy<Value = FetchResponse> {
        let flexible = version >= 12;
        let topic = (
            "[a-z._-]{0,20}",
            any::<u128>(),
            proptest::collection::vec(partition(version), 0..4),
            tagged(),
        )
            .prop_map(move |(name, id, partitions, unknown)| {
                let mut topic = FetchableTopicResponse::default().with_partitions(partitions);
                if version <= 12 {
                    topic.topic = TopicName(StrBytes::from_string(name));
                }
                if version >= 13 {
                    topic.topic_id = uuid::Uuid::from_u128(id);
                }
                if flexible {
                    topic.unknown_tagged_fields = unknown;
                }
                topic
            });
        let endpoint = (
            any::<i32>(),
            "[a-z0-9.]{0,12}",
            any::<i32>(),
            proptest::option::of("[a-z]{0,5}"),
        )
            .prop_map(|(node_id, host, port, rack)| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(node_id))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port)
                    .with_rack(rack.map(StrBytes::from_string))
            });
        (
            any::<i32>(),
            any::<i16>(),
            any::<i32>(),
            proptest::collection::vec(topic, 0..4),
            proptest::collection::vec(endpoint, 0..3),
            tagged(),
        )
            .prop_map(
                move |(throttle, error_code, session_id, topics, endpoints, unknown)| {
                    let mut response = FetchResponse::default()
                        .with_throttle_time_ms(throttle)
                        .with_responses(topics);
                    if version >= 7 {
                        response.error_code = error_code;
                        response.session_id = session_id;
                    }
                    if version >= 16 {
                        response.node_endpoints = endpoints;
                    }
                    if flexible {
                        response.unknown_tagged_fields = unknown;
                    }
                    response
                },
            )
    }

    fn versions_and_responses() -> impl Strategy<Value = (i16, FetchResponse)> {
        (MIN_VERSION..=MAX_VERSION).prop_flat_map(|v| (Just(v), response(v)))
    }

    /// The crate's own encoding of the same response, as one buffer.
    fn crate_encoding(response: &FetchResponse, version: i16) -> Bytes {
        let mut out = BytesMut::new();
        response
            .encode(&mut out, version)
            .unwrap_or_else(|e| panic!("kafka-protocol cannot encode v{version}: {e}"));
        out.freeze()
    }

    fn our_encoding(
        response: &FetchResponse,
        version: i16,
    ) -> Result<(Bytes, usize), ConnectionError> {
        let mut body = BodyBuilder::new();
        encode(response, version, &mut body)?;
        let frame = body.finish(7, 0)?;
        let bytes = frame.to_bytes();
        // Drop the size prefix and the v0 header (correlation id).
        Ok((bytes.slice(8..), frame.parts().len()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_version_matches_kafka_protocol_byte_for_byte(
            (version, response) in versions_and_responses()
        ) {
            let (ours, _) = our_encoding(&response, version)?;
            prop_assert_eq!(ours, crate_encoding(&response, version), "version {}", version);
        }
    }

    #[test]
    fn records_are_spliced_not_copied() -> Result<(), ConnectionError> {
        let records = Bytes::from(vec![7u8; 4096]);
        for version in MIN_VERSION..=MAX_VERSION {
            let response =
                FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![
                        PartitionData::default().with_records(Some(records.clone())),
                        PartitionData::default()
                            .with_partition_index(1)
                            .with_records(Some(records.clone())),
                    ])]);
            let response = if version >= 13 {
                let mut r = response;
                r.responses[0].topic = TopicName::default();
                r
            } else {
                response
            };
            let mut body = BodyBuilder::new();
            encode(&response, version, &mut body)?;
            let frame = body.finish(1, 0)?;
            let spliced: Vec<_> = frame
                .parts()
                .iter()
                .filter(|p| p.as_ptr() == records.as_ptr())
                .collect();
            assert_eq!(
                spliced.len(),
                2,
                "v{version}: both record sets are the original memory"
            );
            assert!(spliced.iter().all(|p| p.len() == records.len()));
            assert_eq!(
                frame.to_bytes().slice(8..),
                crate_encoding(&response, version)
            );
        }
        Ok(())
    }

    #[test]
    fn fields_a_version_cannot_carry_are_refused() {
        let mut body = BodyBuilder::new();
        let response = FetchResponse::default().with_session_id(5);
        assert!(matches!(
            encode(&response, 6, &mut body),
            Err(ConnectionError::Encode(_))
        ));
        let response = FetchResponse::default();
        assert!(matches!(
            encode(&response, 3, &mut body),
            Err(ConnectionError::Encode(_))
        ));
        assert!(matches!(
            encode(&response, 17, &mut body),
            Err(ConnectionError::Encode(_))
        ));
    }
}
