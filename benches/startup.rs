//! Start-up time of the embedded broker: from `Broker::builder().start()` to a broker that
//! answers, and to stopped again.
//!
//! Run: `cargo bench --bench startup`. Criterion reports the median of many runs.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]
// Helpers of `benches/support` are `pub` within this one binary.
#![allow(unreachable_pub)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "support/metadata.rs"]
mod metadata;

use metadata::{answer_metadata, metadata_request};

fn startup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let request = metadata_request().expect("metadata request");
    let mut group = c.benchmark_group("embedded_broker");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("start_to_first_metadata_then_stop", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let broker = josefine::Broker::builder().start().await.expect("start");
                let bootstrap = broker.bootstrap_servers();
                let request = request.clone();
                tokio::task::spawn_blocking(move || answer_metadata(&bootstrap, &request))
                    .await
                    .expect("client")
                    .expect("metadata answered");
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
