//! One client connection: length-prefixed frames in, responses out, in order.
//!
//! A frame is a 4-byte big-endian size and that many bytes. The size is checked against
//! `socket.request.max.bytes` before anything is allocated (Kafka's `InvalidReceiveException`
//! closes the connection), then taken from the request memory budget
//! (`queued.max.request.bytes`, see [`super::limits`]) before the body's memory is reserved,
//! and given back once the response is written. Requests are handled one at a time, as Kafka
//! does per connection, so responses leave in request order.
//!
//! `connections.max.idle.ms` bounds every wait on the client: a connection closes when no
//! complete frame arrives within it (an idle client, or one sending a frame a byte at a time),
//! or when a response cannot be written within it (a client that stopped reading). Shutdown
//! ends every wait at once.
//!
//! The frame size limit is per reader ([`FrameReader::new`]), so that a connection can start
//! with a smaller one before it authenticates (Kafka's `sasl.server.max.receive.size`).
//!
//! References: Kafka protocol guide, "Network" and "Common Request and Response Structure";
//! KIP-72 (memory pool for requests); Kafka's `Selector` (idle expiry).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::context::ConnectionContext;
use crate::error::ConnectionError;
use crate::net::limits::{BudgetPermit, MemoryBudget};
use crate::protocol::apis::handle_frame;
use crate::security::KafkaPrincipal;
use crate::state::BrokerState;

/// Serves one connection until the client closes it, it misbehaves, it idles past
/// `connections.max.idle.ms`, or the broker stops.
///
/// `stream` is any byte stream: a TCP socket, or a TLS stream over one on SSL and SASL_SSL
/// listeners. Requests run as `principal` (`User:ANONYMOUS` on PLAINTEXT, the client
/// certificate's mapped name on SSL, see `net::tls`) until a SASL listener's authentication
/// replaces it (`net::sasl`). Request bodies are read within `budget`.
pub(crate) async fn serve<S>(
    state: Arc<BrokerState>,
    listener: usize,
    stream: S,
    peer: SocketAddr,
    budget: Arc<MemoryBudget>,
    cancel: CancellationToken,
    principal: KafkaPrincipal,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let span = tracing::info_span!("connection", %peer);
    async move {
        let mut connection = ConnectionContext::new(&state, listener, peer, principal);
        match run(&state, &mut connection, stream, &budget, cancel).await {
            Ok(()) => tracing::debug!("connection closed"),
            Err(ConnectionError::Io(err)) if is_disconnect(&err) => {
                tracing::debug!(%err, "client disconnected")
            }
            Err(err @ ConnectionError::Idle(_)) => tracing::debug!(%err, "closing connection"),
            Err(err) => tracing::warn!(%err, "closing connection"),
        }
    }
    .instrument(span)
    .await
}

fn is_disconnect(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}

/// `work`, or `None` once `limit` passes (never without a limit).
async fn within<F: Future>(limit: Option<Duration>, work: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

async fn run<S>(
    state: &Arc<BrokerState>,
    connection: &mut ConnectionContext,
    stream: S,
    budget: &Arc<MemoryBudget>,
    cancel: CancellationToken,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let idle = state.config.socket_server.connections_max_idle;
    let idle_error = || ConnectionError::Idle(idle.unwrap_or_default());
    // One task reads a request, answers it, then reads the next: the stream needs no split.
    let mut frames = FrameReader::new(stream, state.config.socket_request_max_bytes);
    // SASL listeners: authentication first, with its own frame limit (see `super::sasl`).
    let mut sasl = crate::net::sasl::Authenticator::for_listener(state, connection.listener);
    loop {
        if let Some(sasl) = &sasl {
            frames.max = sasl.frame_limit();
        }
        // The size prefix, then budget for the body (not counted as idle), then the body.
        let size = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            size = within(idle, frames.next_size()) => size.ok_or_else(idle_error)??,
        };
        let Some(size) = size else { return Ok(()) };
        let permit: BudgetPermit = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            permit = budget.acquire(size) => permit,
        };
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            frame = within(idle, frames.body(size)) => frame.ok_or_else(idle_error)??,
        };
        if let Some(sasl) = sasl.as_mut() {
            match sasl.on_frame(&frame, connection) {
                crate::net::sasl::Outcome::Serve => {}
                crate::net::sasl::Outcome::Close(err) => return Err(err),
                crate::net::sasl::Outcome::Respond { bytes, close } => {
                    use tokio::io::AsyncWriteExt;
                    let stream = frames.stream_mut();
                    let write = async {
                        stream.write_all(&bytes).await?;
                        stream.flush().await
                    };
                    within(idle, write)
                        .await
                        .ok_or(ConnectionError::WriteStalled(idle.unwrap_or_default()))??;
                    drop(permit);
                    match close {
                        Some(err) => return Err(err),
                        None => continue,
                    }
                }
            }
        }
        // A parked fetch must not hold up shutdown until its max wait ends.
        let response = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            response = handle_frame(state, connection, frame) => response?,
        };
        if let Some(response) = response {
            // A client that stops reading must not hold the connection (or the budget).
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                written = within(idle, response.write_to(frames.stream_mut())) => {
                    written.ok_or(ConnectionError::WriteStalled(idle.unwrap_or_default()))??
                }
            }
        }
        drop(permit);
        if connection.is_silenced() {
            // A fault dropped that response: nothing more is read or answered here until the
            // client gives up and the idle timeout (or shutdown) closes the connection.
            tracing::info!(peer = %connection.peer, "connection silenced by an injected fault");
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(idle.unwrap_or(std::time::Duration::from_secs(600))) => {
                    return Err(idle_error());
                }
            }
        }
        // A client past its quota is not read from until its throttle time passes.
        let throttle = connection.take_throttle();
        if !throttle.is_zero() {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(throttle) => {}
            }
        }
    }
}

/// Bytes read from the socket per call when no frame of known size is pending; frame bodies
/// up to this size share one buffer, larger ones get a buffer of their own of exactly their
/// size.
const READ_CHUNK: usize = 64 * 1024;

/// Reads length-prefixed frames, handing each frame out as a `Bytes` view of the buffer it
/// was read into: a request's record batches are never copied on their way to the log.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `reader`, each at most `max` bytes (`socket.request.max.bytes`).
    pub(crate) fn new(reader: R, max: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::new(),
            max,
        }
    }

    /// The stream the frames are read from, for writing responses to it between reads.
    pub(crate) fn stream_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Reads into the shared buffer, at most up to [`READ_CHUNK`] buffered bytes or `at_least`.
    async fn fill(&mut self, at_least: usize) -> Result<usize, ConnectionError> {
        let capacity = READ_CHUNK.max(at_least);
        self.buf.reserve(capacity.saturating_sub(self.buf.len()));
        Ok(self.reader.read_buf(&mut self.buf).await?)
    }

    /// The size of the next frame, its prefix consumed; `None` on a clean end of stream
    /// between frames.
    ///
    /// Errors: `FrameTooLarge` for a negative size or one above `max`, before anything is
    /// reserved for the body; `Io` for a stream that ends inside the prefix.
    pub(crate) async fn next_size(&mut self) -> Result<Option<usize>, ConnectionError> {
        loop {
            if let Some(prefix) = self.buf.get(..4) {
                let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                if size < 0 || size as usize > self.max {
                    return Err(ConnectionError::FrameTooLarge {
                        size: i64::from(size),
                        max: self.max,
                    });
                }
                self.buf.advance(4);
                return Ok(Some(size as usize));
            }
            if self.fill(4).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
    }

    /// The `size` byte body of the frame whose size [`FrameReader::next_size`] returned.
    ///
    /// Errors: `Io` for a stream that ends inside the body.
    pub(crate) async fn body(&mut self, size: usize) -> Result<Bytes, ConnectionError> {
        let eof = || ConnectionError::from(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        if size > READ_CHUNK && self.buf.len() < size {
            // A buffer of exactly the frame's size: what the budget accounted for.
            let mut body = BytesMut::with_capacity(size);
            body.extend_from_slice(&self.buf);
            self.buf.clear();
            while body.len() < size {
                if self.reader.read_buf(&mut body).await? == 0 {
                    return Err(eof());
                }
            }
            return Ok(body.freeze());
        }
        while self.buf.len() < size {
            if self.fill(size).await? == 0 {
                return Err(eof());
            }
        }
        Ok(self.buf.split_to(size).freeze())
    }

    /// The next frame without its size prefix; `None` on a clean end of stream between
    /// frames. [`FrameReader::next_size`] and [`FrameReader::body`] without a budget.
    #[cfg(test)]
    pub(crate) async fn next_frame(&mut self) -> Result<Option<Bytes>, ConnectionError> {
        match self.next_size().await? {
            Some(size) => Ok(Some(self.body(size).await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_split_across_reads_and_packed_in_one_read() -> Result<(), ConnectionError> {
        let mut wire = Vec::new();
        for body in [&b"abc"[..], b"", &[9u8; 100_000][..]] {
            wire.extend_from_slice(&(body.len() as i32).to_be_bytes());
            wire.extend_from_slice(body);
        }
        let (mut client, server) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            client.write_all(&wire).await
        });
        let mut frames = FrameReader::new(server, 1 << 20);
        assert_eq!(frames.next_frame().await?.as_deref(), Some(&b"abc"[..]));
        assert_eq!(frames.next_frame().await?.as_deref(), Some(&b""[..]));
        assert_eq!(frames.next_frame().await?.map(|f| f.len()), Some(100_000));
        writer.await.map_err(std::io::Error::other)??;
        assert!(frames.next_frame().await?.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn oversized_and_torn_frames_are_errors() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&2000i32.to_be_bytes());
        let mut frames = FrameReader::new(&wire[..], 1000);
        assert!(matches!(
            frames.next_frame().await,
            Err(ConnectionError::FrameTooLarge {
                size: 2000,
                max: 1000
            })
        ));
        let torn = [0u8, 0, 0, 10, 1, 2];
        let mut frames = FrameReader::new(&torn[..], 1000);
        assert!(matches!(
            frames.next_frame().await,
            Err(ConnectionError::Io(_))
        ));
    }
}
