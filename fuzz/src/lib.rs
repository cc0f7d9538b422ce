//! What the fuzz targets share: request frames built by the API table, the log directory
//! layout the recovery target writes, and the seed corpora.
//!
//! Seeds: run any target with `JOSEFINE_FUZZ_SEEDS=<dir>` and it writes its seed corpus into
//! `<dir>` before fuzzing starts (libFuzzer reads its corpus directories after that), so the
//! seeds follow the API table and the storage code instead of being checked-in bytes that go
//! stale. `.ci/run` passes the target's corpus directory.

use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
use josefine_broker::protocol::apis::{ApiRow, APIS};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// The row and version an input's first two bytes select: byte 0 picks a row of [`APIS`],
/// byte 1 a version within the row's range. Every input therefore reaches a body decoder.
pub fn select(data: &[u8]) -> Option<(&'static ApiRow, i16, &[u8])> {
    let ([key, version], body) = data.split_first_chunk::<2>().map(|(h, b)| (*h, b))?;
    let row = APIS.get(usize::from(key) % APIS.len())?;
    let versions = i32::from(row.max_version) - i32::from(row.min_version) + 1;
    let version = i32::from(row.min_version) + i32::from(version) % versions;
    Some((row, i16::try_from(version).ok()?, body))
}

/// A request frame (without its size prefix): the header of `row` at `version`, as a client
/// writes it (correlation id 7, client id `fuzz`), then `body`.
pub fn frame(row: &ApiRow, version: i16, body: &[u8]) -> Option<Bytes> {
    let mut frame = BytesMut::with_capacity(32 + body.len());
    RequestHeader::default()
        .with_request_api_key(row.key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
        .encode(&mut frame, row.key.request_header_version(version))
        .ok()?;
    frame.put_slice(body);
    Some(frame.freeze())
}

/// The default request of `key`, as kafka-protocol builds it; `None` for a key the table
/// does not serve (a new row needs a line here, or its seeds are missing: see
/// [`request_seeds`]).
fn default_request(key: ApiKey) -> Option<RequestKind> {
    macro_rules! defaults {
        ($($name:ident),* $(,)?) => {
            match key {
                $(ApiKey::$name => RequestKind::$name(Default::default()),)*
                _ => return None,
            }
        };
    }
    let mut request = defaults!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeConfigs,
        AlterConfigs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        OffsetDelete,
        DescribeCluster,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
    );
    if let RequestKind::ApiVersions(r) = &mut request {
        // Version 3 refuses to encode empty client software fields.
        r.client_software_name = StrBytes::from_static_str("fuzz");
        r.client_software_version = StrBytes::from_static_str("1");
    }
    Some(request)
}

/// One seed per row and version of [`APIS`] that kafka-protocol encodes: the two selector
/// bytes of [`select`], then the default request body. Named `<Api>-v<version>`. Then the
/// [`rich_requests`].
pub fn request_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (index, row) in APIS.iter().enumerate() {
        let Some(request) = default_request(row.key) else {
            continue;
        };
        for version in row.min_version..=row.max_version {
            let mut body = BytesMut::new();
            // Produce v0-2 and Fetch v0-3 (message formats 0 and 1) do not encode.
            if request.encode(&mut body, version).is_err() {
                continue;
            }
            let (Ok(key), Ok(selector)) =
                (u8::try_from(index), u8::try_from(version - row.min_version))
            else {
                continue;
            };
            let mut seed = vec![key, selector];
            seed.extend_from_slice(&body);
            seeds.push((format!("{:?}-v{version}", row.key), seed));
        }
    }
    seeds.extend(rich_seeds());
    seeds
}

/// Requests with content (the defaults have empty arrays): topic `t` created with two
/// partitions, a batch produced to `t-0` and fetched back, an offset committed for group `g`,
/// a transactional producer id. As (name, API, version, body).
pub fn rich_requests() -> Vec<(&'static str, ApiKey, i16, Vec<u8>)> {
    use kafka_protocol::messages::*;
    let topic = || TopicName(StrBytes::from_static_str("t"));
    let batch = josefine_storage::batch::build_batch(&[
        (1_700_000_000_000, Some(b"key"), Some(b"value")),
        (1_700_000_000_001, None, Some(b"second")),
    ]);
    let create = CreateTopicsRequest::default()
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(topic())
            .with_num_partitions(2)
            .with_replication_factor(1)])
        .with_timeout_ms(1000);
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic())
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(batch))),
            ])]);
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(10)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic())
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic())
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let mut out = Vec::new();
    let mut push = |name, key, version, request: &dyn Fn(&mut BytesMut) -> bool| {
        let mut body = BytesMut::new();
        if request(&mut body) {
            out.push((name, key, version, body.to_vec()));
        }
    };
    push("create-t", ApiKey::CreateTopics, 5, &|b| {
        create.encode(b, 5).is_ok()
    });
    push("produce-t", ApiKey::Produce, 9, &|b| {
        produce.encode(b, 9).is_ok()
    });
    push("produce-t-v3", ApiKey::Produce, 3, &|b| {
        produce.encode(b, 3).is_ok()
    });
    push("fetch-t", ApiKey::Fetch, 12, &|b| {
        fetch.encode(b, 12).is_ok()
    });
    push("commit-g", ApiKey::OffsetCommit, 8, &|b| {
        commit.encode(b, 8).is_ok()
    });
    push("init-tx", ApiKey::InitProducerId, 4, &|b| {
        init.encode(b, 4).is_ok()
    });
    out
}

/// [`rich_requests`] as inputs of the request targets (selector bytes of [`select`] first).
fn rich_seeds() -> Vec<(String, Vec<u8>)> {
    rich_requests()
        .into_iter()
        .filter_map(|(name, key, version, body)| {
            let index = APIS.iter().position(|row| row.key == key)?;
            let row = APIS.get(index)?;
            let selector = u8::try_from(version - row.min_version).ok()?;
            let mut seed = vec![u8::try_from(index).ok()?, selector];
            seed.extend_from_slice(&body);
            Some((name.to_string(), seed))
        })
        .collect()
}

/// Writes `seeds` into the directory named by `JOSEFINE_FUZZ_SEEDS`, if set. Called from a
/// target's `init`, before libFuzzer reads its corpus.
pub fn write_seeds_if_asked(seeds: impl FnOnce() -> Vec<(String, Vec<u8>)>) {
    let Some(dir) = std::env::var_os("JOSEFINE_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    #[allow(clippy::expect_used)]
    std::fs::create_dir_all(dir).expect("create the seed directory");
    for (name, bytes) in seeds() {
        #[allow(clippy::expect_used)]
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
    }
}

/// A file a start-up target may write: its directory (`None` for the log dir itself, else a
/// partition directory) and its name.
pub type FileSlot = (Option<&'static str>, &'static str);

/// The files of one partition `t-0` and its log dir that the log recovery target writes, by
/// the kind byte of its input (modulo the count): segments at base offsets 0 and 5 (a rolled
/// log) with their indexes and snapshots, the leader epoch checkpoint, `.swap` files of an
/// interrupted compaction, and the log dir's checkpoints and `meta.properties`.
pub const RECOVERY_FILES: &[FileSlot] = &[
    (Some("t-0"), "00000000000000000000.log"),
    (Some("t-0"), "00000000000000000000.index"),
    (Some("t-0"), "00000000000000000000.timeindex"),
    (Some("t-0"), "00000000000000000000.txnindex"),
    (Some("t-0"), "00000000000000000000.snapshot"),
    (Some("t-0"), "00000000000000000005.log"),
    (Some("t-0"), "00000000000000000005.index"),
    (Some("t-0"), "00000000000000000005.timeindex"),
    (Some("t-0"), "00000000000000000005.txnindex"),
    (Some("t-0"), "00000000000000000005.snapshot"),
    (Some("t-0"), "leader-epoch-checkpoint"),
    (Some("t-0"), "00000000000000000005.log.swap"),
    (Some("t-0"), "00000000000000000000.index.swap"),
    (None, "recovery-point-offset-checkpoint"),
    (None, "log-start-offset-checkpoint"),
    (None, "cleaner-offset-checkpoint"),
    (None, "meta.properties"),
];

/// Splits a start-up input into files of `slots`: repeated `kind: u8, length: u16
/// little-endian, bytes` (a short last file takes what is left; `kind` is taken modulo the
/// slot count). A later file of the same kind appends.
pub fn split_files(slots: &[FileSlot], mut data: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut files: Vec<(usize, Vec<u8>)> = Vec::new();
    while let Some(([kind, lo, hi], rest)) = data.split_first_chunk::<3>().map(|(h, r)| (*h, r)) {
        let kind = usize::from(kind) % slots.len().max(1);
        let len = usize::from(u16::from_le_bytes([lo, hi])).min(rest.len());
        let (bytes, rest) = rest.split_at(len);
        match files.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, file)) => file.extend_from_slice(bytes),
            None => files.push((kind, bytes.to_vec())),
        }
        data = rest;
    }
    files
}

/// The inverse of [`split_files`]: one input holding `files`, in chunks of at most
/// `u16::MAX` bytes.
pub fn join_files(files: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut input = Vec::new();
    for (kind, bytes) in files {
        for chunk in bytes.chunks(usize::from(u16::MAX)) {
            input.push(u8::try_from(*kind).unwrap_or(0));
            input.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(0).to_le_bytes());
            input.extend_from_slice(chunk);
        }
    }
    input
}

fn slot_path(root: &Path, (dir, name): FileSlot) -> std::path::PathBuf {
    match dir {
        Some(dir) => root.join(dir).join(name),
        None => root.join(name),
    }
}

/// Writes `files` (kinds of `slots`) under the log dir `root`.
pub fn write_files(
    root: &Path,
    slots: &[FileSlot],
    files: &[(usize, Vec<u8>)],
) -> std::io::Result<()> {
    for (kind, bytes) in files {
        let Some(slot) = slots.get(*kind) else {
            continue;
        };
        let path = slot_path(root, *slot);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// Reads back the files of `slots` present under `root`, for seeds.
pub fn read_files(root: &Path, slots: &[FileSlot]) -> Vec<(usize, Vec<u8>)> {
    slots
        .iter()
        .enumerate()
        .filter_map(|(kind, slot)| {
            std::fs::read(slot_path(root, *slot))
                .ok()
                .map(|b| (kind, b))
        })
        .collect()
}
