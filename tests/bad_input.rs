//! Hostile bytes on raw sockets close only that connection; every stored record survives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, DescribeClusterRequest,
    DescribeClusterResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::common::*;
use crate::watchdog;

/// Whether the broker closed the connection: a read returns end of stream or a reset.
fn closed_by_broker(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
    }
}

fn still_serves(bootstrap: &str, produced: &mut usize) -> TestResult {
    let (producer, deliveries) = producer(bootstrap, &[])?;
    let reports = produce_numbered(
        &producer,
        &deliveries,
        "survivor",
        1,
        100,
        1_700_000_000_000,
    )?;
    anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
    *produced += 100;
    let consumer = consumer(bootstrap, &[])?;
    assign_from_beginning(&consumer, "survivor", 1)?;
    let records = consume(&consumer, *produced)?;
    for (i, r) in records.iter().enumerate() {
        anyhow::ensure!(
            r.offset == i as i64 && r.key.as_deref() == Some(format!("k{}", i % 100).as_bytes()),
            "record {i} lost or changed"
        );
    }
    Ok(())
}

#[test]
fn hostile_bytes_close_only_their_connection() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let bootstrap = broker.bootstrap_servers();
    let mut produced = 0;
    still_serves(&bootstrap, &mut produced)?;
    // A bystander connection stays open throughout.
    let mut bystander = connect(&bootstrap)?;

    // Garbage: "GET / HTTP/1.1" reads as a ~1.2 GB frame, above socket.request.max.bytes.
    let mut stream = connect(&bootstrap)?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
    assert!(
        closed_by_broker(&mut stream),
        "garbage closes the connection"
    );
    still_serves(&bootstrap, &mut produced)?;

    // A 2 GiB length prefix is refused before anything is allocated.
    let mut stream = connect(&bootstrap)?;
    stream.write_all(&0x7fff_ffffi32.to_be_bytes())?;
    assert!(
        closed_by_broker(&mut stream),
        "2 GiB frame closes the connection"
    );
    stream = connect(&bootstrap)?;
    stream.write_all(&(-5i32).to_be_bytes())?;
    assert!(
        closed_by_broker(&mut stream),
        "negative frame size closes the connection"
    );
    still_serves(&bootstrap, &mut produced)?;

    // A truncated request: the frame promises more than the body holds.
    let mut frame = request(
        ApiKey::Metadata,
        9,
        2,
        &kafka_protocol::messages::MetadataRequest::default(),
    )?;
    frame.truncate(frame.len() - 2);
    let short = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&short.to_be_bytes());
    let mut stream = connect(&bootstrap)?;
    stream.write_all(&frame)?;
    assert!(
        closed_by_broker(&mut stream),
        "truncated body closes the connection"
    );
    // And a frame cut off mid-way by the client going away.
    let mut stream = connect(&bootstrap)?;
    stream.write_all(&100i32.to_be_bytes())?;
    stream.write_all(&[0u8; 10])?;
    drop(stream);
    still_serves(&bootstrap, &mut produced)?;

    // A tiny request claiming a huge array: kafka-protocol would preallocate it (tens of GB)
    // and abort the process; the broker refuses the frame first (found by fuzzing).
    let mut stream = connect(&bootstrap)?;
    stream.write_all(&[
        0, 0, 0, 14, 0, 3, 0, 0, 0x9b, 0, 0, 0, 0, 0, 0x02, 0x03, 0, 0,
    ])?;
    assert!(
        closed_by_broker(&mut stream),
        "impossible array count closes the connection"
    );
    let mut stream = connect(&bootstrap)?;
    stream.write_all(&[
        0, 0, 0, 17, 0, 3, 0, 3, 0, 0, 0, 0x7a, 0, 3, 0, 0, 0, 0x30, 0x7a, 0x10, 0,
    ])?;
    assert!(
        closed_by_broker(&mut stream),
        "impossible array count closes the connection"
    );
    still_serves(&bootstrap, &mut produced)?;

    // An unknown API version and an unknown API key.
    let mut stream = connect(&bootstrap)?;
    stream.write_all(
        &request(
            ApiKey::Metadata,
            9,
            2,
            &kafka_protocol::messages::MetadataRequest::default(),
        )?
        .iter()
        .enumerate()
        .map(|(i, b)| if i == 7 { 99 } else { *b })
        .collect::<Vec<_>>(),
    )?;
    assert!(
        closed_by_broker(&mut stream),
        "Metadata v99 closes the connection"
    );
    let mut stream = connect(&bootstrap)?;
    let mut unknown = request(
        ApiKey::Metadata,
        9,
        2,
        &kafka_protocol::messages::MetadataRequest::default(),
    )?;
    unknown[4..6].copy_from_slice(&999i16.to_be_bytes());
    stream.write_all(&unknown)?;
    assert!(
        closed_by_broker(&mut stream),
        "api key 999 closes the connection"
    );
    still_serves(&bootstrap, &mut produced)?;

    // The bystander still gets answers.
    bystander.write_all(&request(
        ApiKey::ApiVersions,
        3,
        2,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("raw"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    )?)?;
    let mut response = read_response(&mut bystander)?;
    let header = ResponseHeader::decode(&mut response, 0)?;
    assert_eq!(header.correlation_id, 7);
    let versions = ApiVersionsResponse::decode(&mut response, 3)?;
    assert_eq!(versions.error_code, 0);
    assert!(versions
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16 && k.min_version == 0 && k.max_version == 10));
    Ok(())
}

#[test]
fn api_versions_above_ours_gets_the_kip_511_answer() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = broker()?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    // ApiVersions v9, which no broker knows: answered in v0 with UNSUPPORTED_VERSION.
    let mut frame = request(ApiKey::ApiVersions, 3, 2, &ApiVersionsRequest::default())?;
    frame[6..8].copy_from_slice(&9i16.to_be_bytes());
    stream.write_all(&frame)?;
    let mut response = read_response(&mut stream)?;
    assert_eq!(ResponseHeader::decode(&mut response, 0)?.correlation_id, 7);
    let versions = ApiVersionsResponse::decode(&mut response, 0)?;
    assert_eq!(versions.error_code, 35, "UNSUPPORTED_VERSION");
    assert_eq!(versions.api_keys.len(), 1);
    assert_eq!(
        (
            versions.api_keys[0].api_key,
            versions.api_keys[0].min_version,
            versions.api_keys[0].max_version
        ),
        (18, 0, 3)
    );
    // The connection stays usable.
    stream.write_all(&request(
        ApiKey::DescribeCluster,
        0,
        2,
        &DescribeClusterRequest::default(),
    )?)?;
    let mut response = read_response(&mut stream)?;
    ResponseHeader::decode(&mut response, 1)?;
    let cluster = DescribeClusterResponse::decode(&mut response, 0)?;
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.brokers.len(), 1);
    assert!(!cluster.cluster_id.is_empty());
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(())
}

#[test]
fn describe_configs_of_a_missing_topic_is_unknown_topic_on_the_wire() -> TestResult {
    let _watchdog = watchdog::guard();
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
    let broker = broker()?;
    let mut stream = connect(&broker.bootstrap_servers())?;
    let request_body = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("missing")),
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("7")),
    ]);
    stream.write_all(&request(ApiKey::DescribeConfigs, 4, 2, &request_body)?)?;
    let mut response = read_response(&mut stream)?;
    ResponseHeader::decode(&mut response, 1)?;
    let described = DescribeConfigsResponse::decode(&mut response, 4)?;
    assert_eq!(
        described.results[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        described.results[1].error_code, 42,
        "INVALID_REQUEST for another broker's id"
    );
    Ok(())
}
