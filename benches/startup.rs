//! Start-up time of the embedded broker: from `Broker::builder().start()` to a broker that
//! answers, and to stopped again.
//!
//! Run: `cargo bench --bench startup`. Criterion reports the median of many runs.

use std::io::{Read, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};

fn metadata_request() -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    buf.extend_from_slice(&[0, 0, 0, 0]);
    #[allow(clippy::unwrap_used)]
    {
        RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("bench")))
            .encode(&mut buf, 2)
            .unwrap();
        MetadataRequest::default()
            .with_topics(None)
            .encode(&mut buf, 12)
            .unwrap();
    }
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.to_vec()
}

fn startup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let request = metadata_request();
    let mut group = c.benchmark_group("embedded_broker");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("start_to_first_metadata_then_stop", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let broker = josefine::Broker::builder().start().await.expect("start");
                let bootstrap = broker.bootstrap_servers();
                let request = request.clone();
                tokio::task::spawn_blocking(move || {
                    let mut stream = std::net::TcpStream::connect(bootstrap).expect("connect");
                    stream.write_all(&request).expect("write");
                    let mut size = [0u8; 4];
                    stream.read_exact(&mut size).expect("response");
                    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                    stream.read_exact(&mut body).expect("body");
                })
                .await
                .expect("client");
                broker.shutdown().await;
            })
        })
    });
    group.bench_function("start_only", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                runtime.block_on(async {
                    let started = std::time::Instant::now();
                    let broker = josefine::Broker::builder().start().await.expect("start");
                    total += started.elapsed();
                    broker.shutdown().await;
                })
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
