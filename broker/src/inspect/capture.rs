//! Request capture: every request the broker serves, recorded on demand with its decoded
//! body, its encoded response, its connection and its timings, into a bounded queue that a
//! test awaits (`broker.requests().next_of(ApiKey::Produce).await`).
//!
//! Capture starts with [`RequestCapture::start`] and records requests decoded from then on.
//! The queue holds at most `capacity` entries; when full, the oldest entry is dropped and
//! counted ([`Requests::dropped`]). The bound is in entries, not bytes: each entry keeps its
//! decoded request (record data stays a view of the connection's read buffer, which it keeps
//! alive) and a copy of its response body (a Fetch response may be as large as
//! `fetch.max.bytes`), so pick the capacity for the traffic a test makes.
//!
//! An entry is queued when its response is encoded, just before it is written to the socket:
//! a test that awaits an entry and then looks at the client may see the client before it
//! read the answer. Not captured: frames that do not decode (malformed, unknown API or
//! version), which close their connection before they are requests, and the SaslHandshake
//! and SaslAuthenticate exchanges of a SASL listener, which are served before the API table.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Decodable;
use tokio::sync::Notify;

/// How many entries the queue holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// One request as the broker served it.
#[derive(Clone)]
pub struct CapturedRequest {
    /// The API.
    pub api_key: ApiKey,
    /// The request's version (the response has the same). An ApiVersions request of a
    /// version above the broker's (KIP-511) is recorded as version 0, without client id.
    pub api_version: i16,
    /// The header's correlation id.
    pub correlation_id: i32,
    /// The header's client id; empty when the client sent none.
    pub client_id: String,
    /// The authenticated principal, e.g. `User:ANONYMOUS`.
    pub principal: String,
    /// The name of the listener the request came in on, e.g. `PLAINTEXT`.
    pub listener: String,
    /// The client's address: requests of one connection share it.
    pub peer: SocketAddr,
    /// When the request was decoded, by the broker's wall clock (ms since the Unix epoch).
    pub received_at_ms: i64,
    /// From the decoded request to the encoded response (the handler's time, any injected
    /// delay included).
    pub elapsed: Duration,
    /// Why the connection was closed instead of answered (the handler failed, or a fault
    /// closed it); `None` when the request was answered or needed no answer.
    pub error: Option<String>,
    request: Arc<dyn Any + Send + Sync>,
    response: Option<Bytes>,
}

impl std::fmt::Debug for CapturedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedRequest")
            .field("api_key", &self.api_key)
            .field("api_version", &self.api_version)
            .field("correlation_id", &self.correlation_id)
            .field("client_id", &self.client_id)
            .field("peer", &self.peer)
            .field("elapsed", &self.elapsed)
            .field("error", &self.error)
            .field("response_bytes", &self.response.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

impl CapturedRequest {
    /// The decoded request body as kafka-protocol's type for its API (`ProduceRequest` for
    /// Produce, ...); `None` when `T` is another type. An ApiVersions request of a version
    /// above the broker's (answered per KIP-511 before its body is decoded) has no body.
    pub fn request<T: Any>(&self) -> Option<&T> {
        self.request.downcast_ref::<T>()
    }

    /// The response body decoded as `R` at the request's version (`ProduceResponse` for
    /// Produce, ...); `None` when no response was sent (Produce with acks=0, a closed
    /// connection, a dropped response) or the body does not decode as `R`.
    pub fn response<R: Decodable>(&self) -> Option<R> {
        let mut body = self.response.clone()?;
        R::decode(&mut body, self.api_version).ok()
    }

    /// The encoded response body (without the size prefix and response header), if one was
    /// sent.
    pub fn response_bytes(&self) -> Option<&Bytes> {
        self.response.as_ref()
    }

    pub(crate) fn new(
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        connection: ConnectionInfo,
        received_at_ms: i64,
        request: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        CapturedRequest {
            api_key,
            api_version,
            correlation_id,
            client_id: connection.client_id,
            principal: connection.principal,
            listener: connection.listener,
            peer: connection.peer,
            received_at_ms,
            elapsed: Duration::ZERO,
            error: None,
            request,
            response: None,
        }
    }

    pub(crate) fn set_request(&mut self, request: Arc<dyn Any + Send + Sync>) {
        self.request = request;
    }

    pub(crate) fn finish(
        mut self,
        elapsed: Duration,
        response: Option<Bytes>,
        error: Option<String>,
    ) -> Self {
        self.elapsed = elapsed;
        self.response = response;
        self.error = error;
        self
    }
}

/// Who sent a request, as the capture records it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionInfo {
    pub client_id: String,
    pub principal: String,
    pub listener: String,
    pub peer: SocketAddr,
}

/// The broker's capture queue; one per broker, shared by every connection.
#[derive(Debug)]
pub struct RequestCapture {
    on: AtomicBool,
    capacity: AtomicUsize,
    dropped: AtomicU64,
    queue: Mutex<VecDeque<CapturedRequest>>,
    arrived: Notify,
}

impl Default for RequestCapture {
    fn default() -> Self {
        RequestCapture {
            on: AtomicBool::new(false),
            capacity: AtomicUsize::new(DEFAULT_CAPACITY),
            dropped: AtomicU64::new(0),
            queue: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
        }
    }
}

impl RequestCapture {
    /// Whether requests are being recorded.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Starts recording, keeping at most `capacity` entries (at least 1). Entries already
    /// queued stay.
    pub fn start(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Release);
        self.on.store(true, Ordering::Release);
    }

    /// Stops recording; queued entries stay readable.
    pub fn stop(&self) {
        self.on.store(false, Ordering::Release);
    }

    pub(crate) fn push(&self, entry: CapturedRequest) {
        let capacity = self.capacity.load(Ordering::Acquire);
        {
            let mut queue = lock(&self.queue);
            while queue.len() >= capacity {
                queue.pop_front();
                self.dropped.fetch_add(1, Ordering::AcqRel);
            }
            queue.push_back(entry);
        }
        self.arrived.notify_waiters();
    }

    /// Removes and returns the oldest entry `matches` accepts, leaving the others queued.
    fn take(&self, matches: &(dyn Fn(&CapturedRequest) -> bool + Sync)) -> Option<CapturedRequest> {
        let mut queue = lock(&self.queue);
        let index = queue.iter().position(matches)?;
        queue.remove(index)
    }

    async fn next_matching(
        &self,
        matches: &(dyn Fn(&CapturedRequest) -> bool + Sync),
    ) -> CapturedRequest {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so that a push in between is not missed.
            arrived.as_mut().enable();
            if let Some(entry) = self.take(matches) {
                return entry;
            }
            arrived.await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A test's handle on the capture queue of a broker (`josefine::Broker::requests`). Clones
/// share the queue: an entry taken through one is gone for all.
///
/// The waiting methods wait forever; bound them with `tokio::time::timeout` in a test.
#[derive(Debug, Clone)]
pub struct Requests {
    capture: Arc<RequestCapture>,
}

impl Requests {
    /// The handle on `capture`.
    pub fn new(capture: Arc<RequestCapture>) -> Self {
        Requests { capture }
    }

    /// Waits for the next request of any API and removes it from the queue.
    pub async fn next(&self) -> CapturedRequest {
        self.capture.next_matching(&|_| true).await
    }

    /// Waits for the next request of `api_key` and removes it from the queue; requests of
    /// other APIs stay queued.
    pub async fn next_of(&self, api_key: ApiKey) -> CapturedRequest {
        self.capture
            .next_matching(&|entry| entry.api_key == api_key)
            .await
    }

    /// Waits for the next request `matches` accepts and removes it from the queue; the
    /// others stay queued. `matches` runs while the queue is locked (the broker waits to
    /// queue new entries): keep it quick, and do not call this handle from it.
    pub async fn next_matching(
        &self,
        matches: impl Fn(&CapturedRequest) -> bool + Send + Sync,
    ) -> CapturedRequest {
        self.capture.next_matching(&matches).await
    }

    /// The next request of any API if one is queued, without waiting.
    pub fn try_next(&self) -> Option<CapturedRequest> {
        self.capture.take(&|_| true)
    }

    /// Removes and returns every queued request, oldest first.
    pub fn drain(&self) -> Vec<CapturedRequest> {
        lock(&self.capture.queue).drain(..).collect()
    }

    /// How many requests are queued.
    pub fn len(&self) -> usize {
        lock(&self.capture.queue).len()
    }

    /// Whether no request is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.capture.dropped.load(Ordering::Acquire)
    }

    /// Stops recording (queued entries stay); [`Requests::resume`] starts again.
    pub fn pause(&self) {
        self.capture.stop();
    }

    /// Records again, with the capacity given last.
    pub fn resume(&self) {
        self.capture.on.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(api_key: ApiKey, correlation_id: i32) -> CapturedRequest {
        CapturedRequest::new(
            api_key,
            0,
            correlation_id,
            ConnectionInfo {
                client_id: "c".into(),
                principal: "User:ANONYMOUS".into(),
                listener: "PLAINTEXT".into(),
                peer: "127.0.0.1:1".parse().unwrap(),
            },
            0,
            Arc::new(correlation_id),
        )
        .finish(Duration::from_millis(1), None, None)
    }

    #[tokio::test]
    async fn next_of_takes_the_oldest_of_its_api_and_leaves_the_rest() {
        let capture = Arc::new(RequestCapture::default());
        capture.start(10);
        let requests = Requests::new(capture.clone());
        capture.push(entry(ApiKey::Metadata, 1));
        capture.push(entry(ApiKey::Produce, 2));
        capture.push(entry(ApiKey::Produce, 3));
        assert_eq!(requests.next_of(ApiKey::Produce).await.correlation_id, 2);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests.next().await.correlation_id, 1);
        assert_eq!(requests.try_next().map(|e| e.correlation_id), Some(3));
        assert!(requests.try_next().is_none());
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_on_a_push() {
        let capture = Arc::new(RequestCapture::default());
        capture.start(10);
        let requests = Requests::new(capture.clone());
        let waiting = tokio::spawn({
            let requests = requests.clone();
            async move { requests.next_of(ApiKey::Fetch).await }
        });
        tokio::task::yield_now().await;
        capture.push(entry(ApiKey::Produce, 1));
        capture.push(entry(ApiKey::Fetch, 2));
        let fetch = waiting.await.unwrap();
        assert_eq!(fetch.correlation_id, 2);
        assert_eq!(fetch.request::<i32>(), Some(&2));
        assert_eq!(requests.len(), 1);
    }

    /// The handle and its futures cross threads: tests spawn them.
    #[test]
    fn handles_and_their_futures_are_send_and_sync() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let requests = Requests::new(Arc::new(RequestCapture::default()));
        send_sync(&requests);
        send(requests.next());
        send(requests.next_of(ApiKey::Produce));
        send(requests.next_matching(|r| r.api_version > 0));
    }

    #[test]
    fn a_full_queue_drops_its_oldest_and_counts_them() {
        let capture = Arc::new(RequestCapture::default());
        capture.start(2);
        let requests = Requests::new(capture.clone());
        for id in 0..5 {
            capture.push(entry(ApiKey::Produce, id));
        }
        assert_eq!(requests.dropped(), 3);
        let left: Vec<i32> = requests.drain().iter().map(|e| e.correlation_id).collect();
        assert_eq!(left, [3, 4]);
    }
}
