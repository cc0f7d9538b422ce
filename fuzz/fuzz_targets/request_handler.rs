//! Every handler, reached through the API table as a client reaches it: frames built like the
//! `request_body` target's (row and version from the first two input bytes) go through
//! `Server::handle_frame` of one in-process broker over a temporary log dir: decoding, request
//! bounds, authorization, the handler, the response encoder.
//!
//! Checks: never a panic (libfuzzer-sys aborts on a panic in any task); a served API and
//! version is never refused as unsupported; no response fails to encode and no blocking task
//! fails (both are bugs by `ConnectionError`'s own account); every response decodes with
//! kafka-protocol at the request's version, to the last byte.
//!
//! The runtime's time is paused and advances whenever the broker is idle, so a Fetch or
//! JoinGroup that waits for minutes returns at once. Broker state carries over from input to
//! input (topics made by CreateTopics stay; topic `t` with two partitions is made at start) and the broker starts afresh every 2000 inputs so
//! that state stays small; a crash found late may need the inputs before it to reproduce.
#![no_main]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Buf;
use josefine_broker::error::ConnectionError;
use josefine_broker::protocol::apis::{decode_request, RequestBody};
use josefine_broker::{BrokerConfig, Server};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;

/// Inputs served by one broker before it is replaced.
const INPUTS_PER_BROKER: u32 = 2000;
/// Most partitions one CreateTopics or CreatePartitions input may ask for: each costs a
/// directory and files, and a broker with thousands of them slows every later input.
const MAX_PARTITIONS: i64 = 16;

struct Harness {
    runtime: tokio::runtime::Runtime,
    broker: Option<(Server, tempfile::TempDir)>,
    inputs: u32,
}

impl Harness {
    /// The broker for the next input, started (or replaced) as needed.
    fn ensure_broker(&mut self) {
        if self.inputs >= INPUTS_PER_BROKER {
            if let Some((server, dir)) = self.broker.take() {
                self.runtime.block_on(server.shutdown());
                drop(dir);
            }
            self.inputs = 0;
        }
        self.inputs += 1;
        let runtime = &self.runtime;
        self.broker.get_or_insert_with(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let properties: BTreeMap<String, String> = [
                ("listeners", "PLAINTEXT://127.0.0.1:0".to_string()),
                ("log.dirs", dir.path().display().to_string()),
                ("log.segment.bytes", "1048576".to_string()),
                ("log.index.size.max.bytes", "4096".to_string()),
                ("offsets.topic.num.partitions", "2".to_string()),
                ("transaction.state.log.num.partitions", "2".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let config = BrokerConfig::from_properties(properties).expect("fuzz config");
            let server = runtime
                .block_on(Server::start(config))
                .expect("broker starts");
            // Topic `t` with two partitions, which the rich seeds name.
            for (_, key, version, body) in josefine_fuzz::rich_requests() {
                if key == ApiKey::CreateTopics {
                    let row = josefine_broker::protocol::apis::row(key).expect("a row");
                    let frame = josefine_fuzz::frame(row, version, &body).expect("a frame");
                    let _ = runtime.block_on(server.handle_frame(frame));
                }
            }
            (server, dir)
        });
    }
}

thread_local! {
    static HARNESS: RefCell<Harness> = RefCell::new(Harness {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime"),
        broker: None,
        inputs: 0,
    });
}

/// Whether the request would create more partitions than a fuzz input may.
fn too_many_partitions(body: &RequestBody) -> bool {
    match body {
        RequestBody::CreateTopics(request) => {
            let total: i64 = request
                .topics
                .iter()
                .map(|t| i64::from(t.num_partitions).max(t.assignments.len() as i64))
                .sum();
            total > MAX_PARTITIONS
        }
        RequestBody::CreatePartitions(request) => request
            .topics
            .iter()
            .any(|t| i64::from(t.count) > MAX_PARTITIONS),
        _ => false,
    }
}

fuzz_target!(
    init: josefine_fuzz::write_seeds_if_asked(josefine_fuzz::request_seeds),
    |data: &[u8]| {
        let Some((row, version, body)) = josefine_fuzz::select(data) else {
            return;
        };
        let Some(frame) = josefine_fuzz::frame(row, version, body) else {
            return;
        };
        match decode_request(frame.clone()) {
            Ok(request) if request.body.as_ref().is_some_and(too_many_partitions) => return,
            Ok(_) => {}
            Err(ConnectionError::Malformed { .. }) => return,
            Err(other) => panic!("{:?} v{version}: {other}", row.key),
        }
        HARNESS.with_borrow_mut(|harness| {
            harness.ensure_broker();
            let Some((server, _)) = &harness.broker else {
                return;
            };
            let response = harness.runtime.block_on(async {
                // Virtual time: an hour passes at once when nothing else is to be done.
                tokio::time::timeout(Duration::from_secs(3600), server.handle_frame(frame)).await
            });
            let response = match response {
                Err(_elapsed) => return,
                Ok(Ok(Some(response))) => response,
                Ok(Ok(None)) | Ok(Err(ConnectionError::ProduceWithoutAcksFailed(_))) => return,
                Ok(Err(other)) => panic!("{:?} v{version}: {other}", row.key),
            };
            let mut bytes = response.to_bytes();
            assert_eq!(bytes.len(), response.len());
            let size = bytes.get_i32();
            assert_eq!(usize::try_from(size).ok(), Some(bytes.len()), "size prefix");
            let header_version = row.key.response_header_version(version);
            let header = ResponseHeader::decode(&mut bytes, header_version)
                .unwrap_or_else(|e| panic!("{:?} v{version} response header: {e}", row.key));
            assert_eq!(header.correlation_id, 7);
            if let Err(e) = ResponseKind::decode(row.key, &mut bytes, version) {
                panic!("{:?} v{version} response does not decode: {e}", row.key);
            }
            assert!(
                bytes.is_empty(),
                "{:?} v{version}: {} bytes after the response",
                row.key,
                bytes.len()
            );
        });
    }
);
