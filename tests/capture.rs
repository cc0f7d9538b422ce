//! Request capture (issue #18, `Broker::requests`): librdkafka produces and consumes against
//! an embedded broker while the test reads the requests back from the capture queue, decoded:
//! the Produce requests carry the records sent and their responses the offsets given; the
//! Fetch responses carry them back; every request of one client shares its connection; a
//! bounded queue drops its oldest entries and counts them.

use std::time::Duration;

use josefine::messages::{ApiKey, FetchResponse, MetadataRequest, ProduceRequest, ProduceResponse};
use kafka_protocol::records::RecordBatchDecoder;
use rdkafka::producer::BaseRecord;

use crate::common::{self, TestResult, PATIENCE};
use crate::watchdog;

/// The values of every record in `records` (a record batch set as sent on the wire).
fn values(records: &bytes::Bytes) -> TestResult<Vec<String>> {
    let mut buf = records.clone();
    let sets = RecordBatchDecoder::decode_all(&mut buf).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(sets
        .iter()
        .flat_map(|set| &set.records)
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_decodes_produce_and_fetch_requests_and_their_responses() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let requests = broker.requests();
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> TestResult {
            common::create_topic(&bootstrap, "captured", 1, &[])?;
            let (producer, deliveries) =
                common::producer(&bootstrap, &[("client.id", "capture-producer")])?;
            for value in ["one", "two", "three"] {
                common::enqueue(
                    &producer,
                    BaseRecord::to("captured")
                        .key("k")
                        .payload(value.as_bytes()),
                )?;
            }
            let reports = common::flush(&producer, &deliveries)?;
            anyhow::ensure!(reports.iter().all(Result::is_ok), "{reports:?}");
            Ok(())
        })
        .await??;
    }

    // The Produce requests of the producer, in order, carry the three values; each answer
    // gives the partition's next offsets.
    let mut sent = Vec::new();
    let mut producer_peer = None;
    let mut next_offset = 0;
    while sent.len() < 3 {
        let produce = tokio::time::timeout(PATIENCE, requests.next_of(ApiKey::Produce)).await?;
        assert_eq!(produce.client_id, "capture-producer");
        assert_eq!(produce.listener, "PLAINTEXT");
        assert_eq!(produce.principal, "User:ANONYMOUS");
        assert!(produce.error.is_none(), "{produce:?}");
        assert_eq!(*producer_peer.get_or_insert(produce.peer), produce.peer);
        let request: &ProduceRequest = produce
            .request()
            .ok_or_else(|| anyhow::anyhow!("not a ProduceRequest"))?;
        assert_eq!(request.acks, -1);
        assert_eq!(request.topic_data.len(), 1);
        let topic = &request.topic_data[0];
        assert_eq!(topic.name.as_str(), "captured");
        let partition = &topic.partition_data[0];
        assert_eq!(partition.index, 0);
        let batch = values(
            partition
                .records
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no records"))?,
        )?;
        let response: ProduceResponse = produce
            .response()
            .ok_or_else(|| anyhow::anyhow!("no ProduceResponse"))?;
        let answered = &response.responses[0].partition_responses[0];
        assert_eq!(answered.error_code, 0);
        assert_eq!(answered.base_offset, next_offset);
        next_offset += batch.len() as i64;
        sent.extend(batch);
    }
    assert_eq!(sent, ["one", "two", "three"]);

    // A consumer's Fetch responses carry the same records back, on another connection.
    {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || -> TestResult {
            let consumer = common::consumer(&bootstrap, &[("client.id", "capture-consumer")])?;
            common::assign_from_beginning(&consumer, "captured", 1)?;
            common::consume(&consumer, 3)?;
            Ok(())
        })
        .await??;
    }
    let fetched = tokio::time::timeout(
        PATIENCE,
        requests.next_matching(|r| {
            r.api_key == ApiKey::Fetch
                && r.response::<FetchResponse>().is_some_and(|f| {
                    f.responses
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .any(|p| p.records.as_ref().is_some_and(|b| !b.is_empty()))
                })
        }),
    )
    .await?;
    assert_eq!(fetched.client_id, "capture-consumer");
    assert_ne!(Some(fetched.peer), producer_peer);
    let response: FetchResponse = fetched
        .response()
        .ok_or_else(|| anyhow::anyhow!("no FetchResponse"))?;
    let records = response.responses[0].partitions[0]
        .records
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no records"))?;
    assert_eq!(values(&records)?, ["one", "two", "three"]);
    assert!(fetched.received_at_ms > 0);
    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_capture_keeps_the_newest_requests_and_counts_the_rest() -> TestResult {
    let _watchdog = watchdog::guard();
    let broker = josefine::Broker::builder().start().await?;
    let bootstrap = broker.bootstrap_servers();
    let requests = broker.requests_with_capacity(2);
    tokio::task::spawn_blocking(move || -> TestResult {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        // No group.id: a client that only asks for metadata.
        let client: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()?;
        for _ in 0..3 {
            client.fetch_metadata(None, Duration::from_secs(10))?;
        }
        Ok(())
    })
    .await??;
    // At least one ApiVersions and three Metadata requests went through a queue of two.
    assert_eq!(requests.len(), 2);
    assert!(requests.dropped() >= 2, "dropped {}", requests.dropped());
    let kept = requests.drain();
    for entry in &kept {
        match entry.api_key {
            ApiKey::Metadata => assert!(entry.request::<MetadataRequest>().is_some()),
            ApiKey::ApiVersions => {}
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert!(requests.is_empty());
    broker.shutdown().await;
    Ok(())
}
