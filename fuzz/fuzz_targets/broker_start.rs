//! Broker start-up from arbitrary files: every file the broker reads when it opens its log
//! dir. The input's first byte holds flags (bit 0: the clean-shutdown marker is there), the
//! rest is a list of files (`josefine_fuzz::split_files` of `FILES`): the topic and dynamic
//! config metadata, the producer id block, `meta.properties` and the offset checkpoints, and
//! the segments of topic `t` and of the group and transaction state topics, which the
//! coordinators replay at start.
//!
//! Checks: never a panic. A start that succeeds answers a Metadata request, shuts down
//! cleanly, and starts again from what it left.
#![no_main]

use std::collections::BTreeMap;

use josefine_broker::{BrokerConfig, Server};
use josefine_fuzz::FileSlot;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;

const FILES: &[FileSlot] = &[
    (None, "josefine-topics.json"),
    (None, "josefine-dynamic-configs.json"),
    (None, "josefine-producer-id-block"),
    (None, "meta.properties"),
    (None, "log-start-offset-checkpoint"),
    (None, "cleaner-offset-checkpoint"),
    (None, "recovery-point-offset-checkpoint"),
    (Some("t-0"), "00000000000000000000.log"),
    (Some("t-0"), "00000000000000000000.index"),
    (Some("t-0"), "00000000000000000000.timeindex"),
    (Some("t-0"), "partition.metadata"),
    (Some("t-0"), "leader-epoch-checkpoint"),
    (Some("__consumer_offsets-0"), "00000000000000000000.log"),
    (Some("__consumer_offsets-0"), "00000000000000000000.index"),
    (
        Some("__consumer_offsets-0"),
        "00000000000000000000.timeindex",
    ),
    (Some("__consumer_offsets-0"), "partition.metadata"),
    (Some("__transaction_state-0"), "00000000000000000000.log"),
    (Some("__transaction_state-0"), "00000000000000000000.index"),
    (
        Some("__transaction_state-0"),
        "00000000000000000000.timeindex",
    ),
    (Some("__transaction_state-0"), "partition.metadata"),
];

const CLEAN: u8 = 1;

fn config(dir: &std::path::Path) -> BrokerConfig {
    let properties: BTreeMap<String, String> = [
        ("listeners", "PLAINTEXT://127.0.0.1:0".to_string()),
        ("log.dirs", dir.display().to_string()),
        ("node.id", "0".to_string()),
        ("log.segment.bytes", "1048576".to_string()),
        ("log.index.size.max.bytes", "4096".to_string()),
        ("offsets.topic.num.partitions", "1".to_string()),
        ("transaction.state.log.num.partitions", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    BrokerConfig::from_properties(properties).expect("fuzz config")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The files a broker leaves after the rich requests (topic `t`, a produce, an offset commit
/// of group `g`, a transactional producer id) and a clean shutdown.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = runtime();
    runtime.block_on(async {
        let server = Server::start(config(dir.path())).await.expect("start");
        for (_, key, version, body) in josefine_fuzz::rich_requests() {
            let row = josefine_broker::protocol::apis::row(key).expect("a row");
            let frame = josefine_fuzz::frame(row, version, &body).expect("a frame");
            let _ = server.handle_frame(frame).await;
        }
        server.shutdown().await;
    });
    let files = josefine_fuzz::join_files(&josefine_fuzz::read_files(dir.path(), FILES));
    vec![
        (
            "after-requests-clean".into(),
            [&[CLEAN][..], &files].concat(),
        ),
        ("after-requests-unclean".into(), [&[0][..], &files].concat()),
    ]
}

fn metadata_frame() -> bytes::Bytes {
    let row = josefine_broker::protocol::apis::row(ApiKey::Metadata).expect("a row");
    // Metadata v12 with null topics: all topics.
    josefine_fuzz::frame(row, 12, &[0, 0, 0, 0]).expect("a frame")
}

fuzz_target!(
    init: josefine_fuzz::write_seeds_if_asked(seeds),
    |data: &[u8]| {
        let Some((&flags, rest)) = data.split_first() else {
            return;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let files = josefine_fuzz::split_files(FILES, rest);
        josefine_fuzz::write_files(dir.path(), FILES, &files).expect("write files");
        if flags & CLEAN != 0 {
            std::fs::write(dir.path().join(josefine_broker::server::CLEAN_SHUTDOWN_FILE), b"")
                .expect("marker");
        }
        let runtime = runtime();
        runtime.block_on(async {
            let Ok(server) = Server::start(config(dir.path())).await else {
                return;
            };
            let response = server.handle_frame(metadata_frame()).await;
            assert!(matches!(response, Ok(Some(_))), "metadata: {response:?}");
            server.shutdown().await;
            let again = Server::start(config(dir.path())).await;
            let again = again.unwrap_or_else(|e| panic!("restart after a clean shutdown: {e}"));
            again.shutdown().await;
        });
    }
);
