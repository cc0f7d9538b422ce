//! Connection and request limits: `max.connections.per.ip`, `max.connections`,
//! `connections.max.idle.ms`, the request memory budget (`queued.max.request.bytes`), the
//! element caps of request bounds, and a shutdown that no client can hold up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FetchRequest, GroupId, MetadataRequest, MetadataResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::common::*;
use crate::watchdog;

/// A broker on a runtime of this test's own, so the test thread can block on raw sockets
/// while reading the server's counters.
struct Running {
    broker: Option<josefine::Broker>,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    fn start(properties: &[(&str, &str)]) -> TestResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut builder = josefine::Broker::builder();
        for (key, value) in properties {
            builder = builder.property(*key, *value);
        }
        let broker = runtime.block_on(builder.start())?;
        Ok(Running {
            broker: Some(broker),
            runtime,
        })
    }

    fn server(&self) -> TestResult<&josefine_broker::server::Server> {
        Ok(self
            .broker
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("stopped"))?
            .server())
    }

    fn address(&self) -> TestResult<SocketAddr> {
        self.server()?
            .local_addrs()
            .first()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no listener"))
    }

    /// A connection from `source` (any 127.0.0.0/8 address reaches the loopback listener).
    fn connect_from(&self, source: [u8; 4]) -> TestResult<TcpStream> {
        let address = self.address()?;
        let stream = self.runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            socket.connect(address).await
        })?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        Ok(stream)
    }

    fn shutdown(mut self) {
        if let Some(broker) = self.broker.take() {
            self.runtime.block_on(broker.shutdown());
        }
    }
}

/// Polls `condition` until it holds; failing after [`PATIENCE`] (a deadlock, not a timing).
fn wait_until(what: &str, mut condition: impl FnMut() -> TestResult<bool>) -> TestResult {
    let start = Instant::now();
    while !condition()? {
        anyhow::ensure!(start.elapsed() < PATIENCE, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Whether the broker closed the connection: a read returns end of stream or a reset.
fn closed_by_broker(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // Responses still in flight: read past them.
            Ok(_) => continue,
            Err(e) => {
                return matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                )
            }
        }
    }
}

fn api_versions(stream: &mut TcpStream) -> TestResult<ApiVersionsResponse> {
    round_trip::<_, ApiVersionsResponse>(
        stream,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("raw"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    )
}

#[test]
fn per_ip_limit_refuses_the_next_connection_while_others_work() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[("max.connections.per.ip.overrides", "127.0.0.2:3")])?;
    let server = running.server()?;
    let bootstrap = server.bootstrap_servers();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = running.connect_from([127, 0, 0, 2])?;
        assert_eq!(api_versions(&mut stream)?.error_code, 0);
        held.push(stream);
    }
    // The fourth from 127.0.0.2 is closed right after the accept, before any request.
    let mut refused = running.connect_from([127, 0, 0, 2])?;
    assert!(closed_by_broker(&mut refused), "4th connection closed");
    // The three held ones and clients from other addresses keep working.
    for stream in &mut held {
        assert_eq!(api_versions(stream)?.error_code, 0);
    }
    let mut produced = 0;
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    let reports = produce_numbered(&producer, &deliveries, "per-ip", 1, 50, 1_700_000_000_000)?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    produced += 50;
    assert_eq!(read_to_end(&bootstrap, "per-ip")?.len(), produced);
    // Once one closes, 127.0.0.2 gets a connection again.
    drop(held.pop());
    wait_until("a freed per-ip slot", || {
        let mut stream = running.connect_from([127, 0, 0, 2])?;
        Ok(api_versions(&mut stream).is_ok_and(|v| v.error_code == 0))
    })?;
    drop(held);
    running.shutdown();
    Ok(())
}

#[test]
fn max_connections_makes_the_next_connection_wait() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[("max.connections", "2")])?;
    let server = running.server()?;
    let mut first = running.connect_from([127, 0, 0, 1])?;
    let mut second = running.connect_from([127, 0, 0, 1])?;
    assert_eq!(api_versions(&mut first)?.error_code, 0);
    assert_eq!(api_versions(&mut second)?.error_code, 0);
    // The third connects (the kernel's backlog) and sends, but is not served ...
    let mut third = running.connect_from([127, 0, 0, 1])?;
    third.write_all(&request(
        ApiKey::ApiVersions,
        3,
        2,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("raw"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    )?)?;
    assert_eq!(server.open_connections(), 2);
    // ... until one of the first two closes: then it is accepted and answered.
    drop(first);
    let mut response = read_response(&mut third)?;
    ResponseHeader::decode(&mut response, 0)?;
    assert_eq!(ApiVersionsResponse::decode(&mut response, 3)?.error_code, 0);
    assert_eq!(server.open_connections(), 2);
    drop((second, third));
    running.shutdown();
    Ok(())
}

#[test]
fn idle_and_slowloris_connections_are_closed() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[("connections.max.idle.ms", "1000")])?;
    let server = running.server()?;
    // A connection that sends nothing.
    let mut idle = running.connect_from([127, 0, 0, 1])?;
    assert!(closed_by_broker(&mut idle), "idle connection closed");
    // One that answers a request, then idles.
    let mut used = running.connect_from([127, 0, 0, 1])?;
    assert_eq!(api_versions(&mut used)?.error_code, 0);
    assert!(closed_by_broker(&mut used), "idle after a request closed");
    // Slowloris: a valid 1000-byte frame, one byte every 20 ms (20 s in all). Bytes keep
    // arriving, but no frame completes within the idle timeout.
    let frame = request(
        ApiKey::Metadata,
        4,
        1,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(
                    StrBytes::from_string("t".repeat(200))
                )));
            4
        ])),
    )?;
    let mut slow = running.connect_from([127, 0, 0, 1])?;
    slow.set_nonblocking(true)?;
    let mut closed = false;
    for byte in &frame {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => {
                closed = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(closed, "a frame trickled in is cut off by the idle timeout");
    wait_until("idle connections closed", || {
        Ok(server.open_connections() == 0)
    })?;
    running.shutdown();
    Ok(())
}

/// A Metadata v4 request of at most `frame_size` bytes: distinct topic names of 249
/// characters, no auto-creation. Returns the frame and its number of topics.
fn large_metadata_request(frame_size: usize) -> TestResult<(Vec<u8>, usize)> {
    let count = (frame_size - 64) / 251;
    let topics = (0..count)
        .map(|i| {
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(format!("{i:0>249}")))))
        })
        .collect();
    let frame = request(
        ApiKey::Metadata,
        4,
        1,
        &MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(false),
    )?;
    anyhow::ensure!(frame.len() <= frame_size + 4, "{} bytes", frame.len());
    Ok((frame, count))
}

#[test]
fn request_memory_budget_makes_large_requests_wait() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[
        ("socket.request.max.bytes", "1048576"),
        ("queued.max.request.bytes", "2097152"),
    ])?;
    let server = running.server()?;
    // A frame above socket.request.max.bytes is refused before any budget is taken.
    let mut oversized = running.connect_from([127, 0, 0, 1])?;
    oversized.write_all(&1_048_577i32.to_be_bytes())?;
    assert!(closed_by_broker(&mut oversized), "oversized frame closed");
    assert_eq!(server.queued_request_bytes(), 0);

    let (frame, topics) = large_metadata_request(1 << 20)?;
    let body = frame.len() - 4;
    // Eight connections announce a frame of ~1 MiB each: two fit the 2 MiB budget and read
    // their bodies; six wait before reserving any memory for theirs.
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut stream = running.connect_from([127, 0, 0, 1])?;
        stream.write_all(&frame[..4])?;
        clients.push(stream);
    }
    wait_until("two frames admitted and six waiting", || {
        Ok(server.queued_request_bytes() == 2 * body && server.requests_waiting_for_memory() == 6)
    })?;
    // Once the bodies arrive, all eight are answered in turn.
    for stream in &mut clients {
        stream.write_all(&frame[4..])?;
    }
    for stream in &mut clients {
        let mut response = read_response(stream)?;
        ResponseHeader::decode(&mut response, 0)?;
        let metadata = MetadataResponse::decode(&mut response, 4)?;
        assert_eq!(metadata.topics.len(), topics);
        assert!(metadata.topics.iter().all(|t| t.error_code == 3));
    }
    wait_until("the budget given back", || {
        Ok(server.queued_request_bytes() == 0 && server.requests_waiting_for_memory() == 0)
    })?;
    running.shutdown();
    Ok(())
}

#[test]
fn describe_groups_of_millions_of_empty_ids_is_refused_with_bounded_memory() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[])?;
    let server = running.server()?;
    let before = peak_rss()?;
    // Ten million empty ids: a 10 MB frame that would decode to 320 MB of strings and answer
    // with ten million 216-byte group entries (over 2 GB) before it is encoded. Built by hand,
    // so that this test does not hold the 320 MB of a `Vec<GroupId>` itself.
    let ids = 10_000_000usize;
    let mut frame = request(
        ApiKey::DescribeGroups,
        5,
        2,
        &DescribeGroupsRequest::default(),
    )?;
    // Size 4, header 14 (key, version, correlation id, client id "raw", tags), then the
    // compact array's length + 1: one byte for zero groups, replaced by ten million ones.
    anyhow::ensure!(frame.get(18) == Some(&1), "the empty groups array is at 18");
    let mut varint = Vec::new();
    let mut n = ids as u64 + 1;
    while n >= 0x80 {
        varint.push((n as u8) | 0x80);
        n >>= 7;
    }
    varint.push(n as u8);
    let tail = frame.split_off(19);
    frame.truncate(18);
    frame.extend_from_slice(&varint);
    frame.resize(frame.len() + ids, 1);
    frame.extend_from_slice(&tail);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    let mut stream = running.connect_from([127, 0, 0, 1])?;
    stream.write_all(&frame)?;
    assert!(closed_by_broker(&mut stream), "refused and closed");
    drop(frame);
    // A sanity bound, not a measurement: other tests of this process allocate too.
    let grown = peak_rss()?.saturating_sub(before);
    assert!(grown < 1 << 30, "peak RSS grew by {grown} bytes");
    wait_until("the budget given back", || {
        Ok(server.queued_request_bytes() == 0)
    })?;
    // Realistic ids are answered.
    let mut stream = running.connect_from([127, 0, 0, 1])?;
    let described: DescribeGroupsResponse = round_trip(
        &mut stream,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![
            GroupId(StrBytes::from_static_str(
                "some-group"
            ));
            1000
        ]),
    )?;
    assert_eq!(described.groups.len(), 1000);
    running.shutdown();
    Ok(())
}

/// Raw Fetch v4 of partition 0 of `topic` from offset 0, up to 1 MiB.
fn fetch_all(topic: &str) -> TestResult<Vec<u8>> {
    request(
        ApiKey::Fetch,
        4,
        1,
        &FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)])]),
    )
}

/// Sends Fetch requests of ~1 MiB answers on a new connection and never reads them; returns
/// the connection once the broker stops taking requests (its response writes are stuck).
fn stall_a_connection(running: &Running, topic: &str) -> TestResult<TcpStream> {
    let bootstrap = running.server()?.bootstrap_servers();
    let (producer, deliveries) = producer(&bootstrap, &[])?;
    let reports = produce_numbered(&producer, &deliveries, topic, 1, 20_000, 1_700_000_000_000)?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    let mut stream = running.connect_from([127, 0, 0, 1])?;
    let fetch = fetch_all(topic)?;
    // Each answer is large: a few fill the socket buffers.
    stream.write_all(&fetch)?;
    let answer = read_response(&mut stream)?;
    anyhow::ensure!(
        answer.len() > 512 << 10,
        "a fetch answer of {} bytes",
        answer.len()
    );
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    // Requests pile up until the broker, stuck writing answers nobody reads, stops reading
    // them and the socket buffers fill: then a write times out.
    let batch = fetch.repeat(100);
    let mut stalled = false;
    for _ in 0..10_000 {
        if stream.write_all(&batch).is_err() {
            stalled = true;
            break;
        }
    }
    anyhow::ensure!(stalled, "the broker kept reading");
    Ok(stream)
}

#[test]
fn shutdown_completes_while_a_client_never_reads() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[])?;
    let stalled = stall_a_connection(&running, "never-read")?;
    let server = running.server()?;
    wait_until("only the stalled connection open", || {
        Ok(server.open_connections() == 1)
    })?;
    // Returns: the stuck response write ends with the broker (the watchdog bounds the wait).
    running.shutdown();
    drop(stalled);
    Ok(())
}

#[test]
fn a_client_that_stops_reading_is_closed_after_the_idle_timeout() -> TestResult {
    let _watchdog = watchdog::guard();
    let running = Running::start(&[("connections.max.idle.ms", "1000")])?;
    let stalled = stall_a_connection(&running, "stop-reading")?;
    let server = running.server()?;
    wait_until("the stalled connection closed", || {
        Ok(server.open_connections() == 0)
    })?;
    // And the broker serves others.
    let mut stream = running.connect_from([127, 0, 0, 1])?;
    assert_eq!(api_versions(&mut stream)?.error_code, 0);
    drop(stalled);
    running.shutdown();
    Ok(())
}
