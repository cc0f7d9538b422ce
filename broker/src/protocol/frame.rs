//! Response frames as lists of byte slices, written to the socket with vectored writes.
//!
//! A response is a 4-byte big-endian size, the response header and the body. Most bodies are
//! encoded into one buffer; a Fetch body splices the record batches in as separate slices,
//! which are `Bytes` views of the segment mappings, so record data goes from the page cache to
//! the socket without a copy in user space.
//!
//! References: Kafka protocol guide, "Common Request and Response Structure".

use std::io::{self, IoSlice};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::ConnectionError;

/// Most slices passed to one `writev` (Linux allows 1024).
const MAX_IOVECS: usize = 64;

/// One framed response: size prefix and header first, then the body, as byte slices in
/// order. Cloning it clones reference counts, not bytes.
#[derive(Debug, Clone, Default)]
pub struct ResponseFrame {
    parts: Vec<Bytes>,
    len: usize,
}

impl ResponseFrame {
    /// The frame's bytes as slices in wire order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Total size in bytes, the 4-byte size prefix included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame holds no bytes (never true of a finished frame).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frame as one contiguous buffer: copies, for tests and tools.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len);
        for part in &self.parts {
            out.put_slice(part);
        }
        out.freeze()
    }

    /// Writes the whole frame with vectored writes, at most 64 slices per call.
    ///
    /// Errors: the socket's; `WriteZero` if it accepts no bytes.
    pub async fn write_to<W: AsyncWrite + Unpin>(&self, writer: &mut W) -> io::Result<()> {
        let mut index = 0;
        let mut offset = 0;
        while index < self.parts.len() {
            let mut slices: [IoSlice<'_>; MAX_IOVECS] = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            let mut first = offset;
            for part in self.parts.iter().skip(index).take(MAX_IOVECS) {
                slices[count] = IoSlice::new(part.get(first..).unwrap_or_default());
                first = 0;
                count += 1;
            }
            let mut written = writer.write_vectored(&slices[..count]).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            while written > 0 {
                let Some(part) = self.parts.get(index) else {
                    break;
                };
                let left = part.len() - offset;
                if written >= left {
                    written -= left;
                    index += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
            // Skip empty parts so the loop ends exactly when everything is out.
            while self.parts.get(index).is_some_and(|p| p.len() == offset) {
                index += 1;
                offset = 0;
            }
        }
        writer.flush().await
    }
}

/// Builds a response body: scalar fields go into one growing buffer, large byte fields are
/// spliced in as slices of their own with [`BodyBuilder::splice`].
#[derive(Debug)]
pub struct BodyBuilder {
    buf: BytesMut,
    parts: Vec<Bytes>,
    len: usize,
}

impl Default for BodyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyBuilder {
    /// An empty body.
    pub fn new() -> Self {
        BodyBuilder {
            buf: BytesMut::with_capacity(256),
            parts: Vec::new(),
            len: 0,
        }
    }

    /// The buffer that scalar fields are written into.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Appends `bytes` as a slice of its own: nothing is copied.
    pub fn splice(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if !self.buf.is_empty() {
            let head = self.buf.split().freeze();
            self.len += head.len();
            self.parts.push(head);
        }
        self.len += bytes.len();
        self.parts.push(bytes);
    }

    /// A copy of the body written so far, as one buffer (request capture: only when a test
    /// records requests).
    pub fn to_bytes(&self) -> Bytes {
        let mut all = BytesMut::with_capacity(self.len + self.buf.len());
        for part in &self.parts {
            all.extend_from_slice(part);
        }
        all.extend_from_slice(&self.buf);
        all.freeze()
    }

    /// Frames the body with the size prefix and a response header of `header_version`
    /// (1 adds the empty tagged-field section of flexible versions).
    ///
    /// Errors: `Encode` if the frame would exceed `i32::MAX` bytes.
    pub fn finish(
        mut self,
        correlation_id: i32,
        header_version: i16,
    ) -> Result<ResponseFrame, ConnectionError> {
        let tail = self.buf.split().freeze();
        self.len += tail.len();
        let mut head = BytesMut::with_capacity(16);
        head.put_i32(0);
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut head, header_version)
            .map_err(|e| ConnectionError::Encode(e.to_string()))?;
        let size = i32::try_from(head.len() - 4 + self.len).map_err(|_| {
            ConnectionError::Encode(format!("response of {} bytes is too large", self.len))
        })?;
        head[..4].copy_from_slice(&size.to_be_bytes());
        let head = head.freeze();
        let len = head.len() + self.len;
        let mut parts = Vec::with_capacity(self.parts.len() + 2);
        parts.push(head);
        parts.append(&mut self.parts);
        if !tail.is_empty() {
            parts.push(tail);
        }
        Ok(ResponseFrame { parts, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `step` bytes per call, to exercise partial writes.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> std::task::Poll<io::Result<usize>> {
            let mut left = self.step;
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(left);
                self.out.extend_from_slice(&buf[..take]);
                left -= take;
                n += take;
                if left == 0 {
                    break;
                }
            }
            std::task::Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_vectored_writes_deliver_every_byte_in_order() -> Result<(), ConnectionError> {
        let mut body = BodyBuilder::new();
        let mut expected_body = Vec::new();
        for i in 0..200u32 {
            body.buf().put_u32(i);
            expected_body.extend_from_slice(&i.to_be_bytes());
            let spliced = Bytes::from(vec![i as u8; (i % 7) as usize]);
            expected_body.extend_from_slice(&spliced);
            body.splice(spliced);
        }
        let frame = body.finish(42, 1)?;
        assert!(
            frame.parts().len() > MAX_IOVECS,
            "more parts than one writev takes"
        );
        let mut expected = Vec::new();
        expected.extend_from_slice(&((expected_body.len() + 5) as i32).to_be_bytes());
        expected.extend_from_slice(&42i32.to_be_bytes());
        expected.push(0); // empty tagged fields of header v1
        expected.extend_from_slice(&expected_body);
        assert_eq!(frame.len(), expected.len());
        assert_eq!(frame.to_bytes(), expected);
        for step in [1, 3, 100, usize::MAX] {
            let mut writer = Trickle {
                out: Vec::new(),
                step,
            };
            frame.write_to(&mut writer).await?;
            assert_eq!(writer.out, expected, "step {step}");
        }
        Ok(())
    }
}
