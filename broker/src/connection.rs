//! One client connection: length-prefixed frames in, responses out, in order.
//!
//! A frame is a 4-byte big-endian size and that many bytes. The size is checked against
//! `socket.request.max.bytes` before anything is allocated. Requests are handled one at a time,
//! as Kafka does per connection, so responses leave in request order.
//!
//! References: Kafka protocol guide, "Network" and "Common Request and Response Structure".

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::ConnectionError;
use crate::server::BrokerState;

/// What a handler knows of the connection a request came in on.
#[derive(Debug)]
pub struct Session {
    /// The broker.
    pub state: Arc<BrokerState>,
    /// Index of the listener in `state.listeners`.
    pub listener: usize,
    /// The client's address.
    pub peer: SocketAddr,
}

/// Serves one connection until the client closes it, it misbehaves, or the broker stops.
pub async fn serve(
    state: Arc<BrokerState>,
    listener: usize,
    stream: TcpStream,
    peer: SocketAddr,
    cancel: CancellationToken,
) {
    let span = tracing::info_span!("connection", %peer);
    async move {
        let session = Session {
            state,
            listener,
            peer,
        };
        match run(&session, stream, cancel).await {
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

async fn run(
    session: &Session,
    stream: TcpStream,
    cancel: CancellationToken,
) -> Result<(), ConnectionError> {
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let max = session.state.config.socket_request_max_bytes;
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            frame = read_frame(&mut reader, max) => frame?,
        };
        let Some(frame) = frame else { return Ok(()) };
        // A parked fetch must not hold up shutdown until its max wait ends.
        let response = tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            response = crate::dispatch::dispatch(session, frame) => response?,
        };
        if let Some(response) = response {
            write_half.write_all(&response).await?;
        }
    }
}

/// Reads one frame; `None` on a clean end of stream between frames.
///
/// Errors: `FrameTooLarge` for a negative size or one above `max`, `Io` for a short read.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Bytes>, ConnectionError> {
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err.into()),
    }
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > max {
        return Err(ConnectionError::FrameTooLarge {
            size: i64::from(size),
            max,
        });
    }
    let mut body = BytesMut::zeroed(size as usize);
    reader.read_exact(&mut body).await?;
    Ok(Some(body.freeze()))
}
