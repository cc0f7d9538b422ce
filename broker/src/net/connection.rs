//! One client connection: length-prefixed frames in, responses out, in order.
//!
//! A frame is a 4-byte big-endian size and that many bytes. The size is checked against
//! `socket.request.max.bytes` before anything is allocated. Requests are handled one at a time,
//! as Kafka does per connection, so responses leave in request order.
//!
//! References: Kafka protocol guide, "Network" and "Common Request and Response Structure".

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::context::ConnectionContext;
use crate::error::ConnectionError;
use crate::protocol::apis::handle_frame;
use crate::security::KafkaPrincipal;
use crate::state::BrokerState;

/// Serves one connection until the client closes it, it misbehaves, or the broker stops.
///
/// `stream` is any byte stream: a TCP socket today, a TLS stream over one when listeners
/// encrypt. Requests run as the listener's principal (`User:ANONYMOUS` on PLAINTEXT).
pub(crate) async fn serve<S>(
    state: Arc<BrokerState>,
    listener: usize,
    stream: S,
    peer: SocketAddr,
    cancel: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let span = tracing::info_span!("connection", %peer);
    async move {
        let connection =
            ConnectionContext::new(&state, listener, peer, KafkaPrincipal::anonymous());
        match run(&state, &connection, stream, cancel).await {
            Ok(()) => tracing::debug!("connection closed"),
            Err(ConnectionError::Io(err)) if is_disconnect(&err) => {
                tracing::debug!(%err, "client disconnected")
            }
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

async fn run<S>(
    state: &Arc<BrokerState>,
    connection: &ConnectionContext,
    stream: S,
    cancel: CancellationToken,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    // One task reads a request, answers it, then reads the next: the stream needs no split.
    let mut frames = FrameReader::new(stream, state.config.socket_request_max_bytes);
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            frame = frames.next_frame() => frame?,
        };
        let Some(frame) = frame else { return Ok(()) };
        // A parked fetch must not hold up shutdown until its max wait ends.
        let response = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            response = handle_frame(state, connection, frame) => response?,
        };
        if let Some(response) = response {
            response.write_to(frames.stream_mut()).await?;
        }
    }
}

/// Bytes read from the socket per call when no frame of known size is pending.
const READ_CHUNK: usize = 64 * 1024;

/// Reads length-prefixed frames into one growing buffer, handing each frame out as a `Bytes`
/// view of it: a request's record batches are never copied on their way to the log.
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

    /// The next frame without its size prefix; `None` on a clean end of stream between frames.
    ///
    /// Errors: `FrameTooLarge` for a negative size or one above `max`, checked before the
    /// body's memory is reserved; `Io` for a stream that ends inside a frame.
    pub(crate) async fn next_frame(&mut self) -> Result<Option<Bytes>, ConnectionError> {
        loop {
            let mut wanted = READ_CHUNK;
            if let Some(prefix) = self.buf.get(..4) {
                let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                if size < 0 || size as usize > self.max {
                    return Err(ConnectionError::FrameTooLarge {
                        size: i64::from(size),
                        max: self.max,
                    });
                }
                let size = size as usize;
                if self.buf.len() >= 4 + size {
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(size).freeze()));
                }
                wanted = wanted.max(4 + size - self.buf.len());
            }
            self.buf.reserve(wanted);
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
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
