//! A Metadata request over a plain TCP socket: the probe the benches use to see that a broker
//! answers. Included by the bench targets with `#[path]`.

use std::io::{Read, Write};
use std::net::TcpStream;

use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// A request frame, size prefix included, asking for the metadata of all topics (v12).
pub fn metadata_request() -> anyhow::Result<Vec<u8>> {
    let mut buf = bytes::BytesMut::new();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    RequestHeader::default()
        .with_request_api_key(ApiKey::Metadata as i16)
        .with_request_api_version(12)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bench")))
        .encode(&mut buf, 2)?;
    MetadataRequest::default()
        .with_topics(None)
        .encode(&mut buf, 12)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.to_vec())
}

/// Connects to `bootstrap`, sends `request` and reads the whole response.
pub fn answer_metadata(bootstrap: &str, request: &[u8]) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(bootstrap)?;
    stream.write_all(request)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream.read_exact(&mut body)?;
    Ok(())
}
