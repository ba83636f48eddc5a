//! Length-prefixed CBOR frames: `u32 BE length ‖ CBOR(Envelope)`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use zeroize::Zeroize as _;

use crate::message::Envelope;

/// Largest frame body accepted, checked against the length prefix before any
/// buffer is allocated. Fits a 64 KiB Ed25519 message, a sealed key and an
/// attestation document with room to spare.
pub const MAX_FRAME_LEN: usize = 256 * 1024;

/// Why a frame could not be read or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix exceeds [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    /// A zero-length frame.
    #[error("empty frame")]
    Empty,
    /// The body is not a valid CBOR envelope of the expected message type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The connection failed or ended inside a frame.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes an envelope into a complete frame (prefix included).
pub fn encode<T: Serialize>(envelope: &Envelope<T>) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; 4];
    ciborium::ser::into_writer(envelope, &mut out)
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    let prefix = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    out[..4].copy_from_slice(&prefix.to_be_bytes());
    Ok(out)
}

/// Decodes a frame body (without the prefix). Refuses trailing bytes.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<Envelope<T>, FrameError> {
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut rest = body;
    let envelope =
        ciborium::de::from_reader(&mut rest).map_err(|e| FrameError::Malformed(short(&e)))?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(envelope)
}

fn short<E: std::fmt::Debug>(e: &ciborium::de::Error<E>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "truncated".into(),
        ciborium::de::Error::Syntax(at) => format!("CBOR syntax error at byte {at}"),
        ciborium::de::Error::Semantic(_, msg) => msg.chars().take(200).collect(),
        ciborium::de::Error::RecursionLimitExceeded => "nesting too deep".into(),
    }
}

/// Parses a length prefix, refusing empty and oversized frames.
pub fn parse_prefix(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len)
}

/// Reads one frame body into `buf`. `Ok(false)` on a clean end of stream
/// before any byte of a new frame. Unbuffered: it never reads past its
/// frame, for a caller that reads one answer at a time on a stream it also
/// writes to (the tests' raw connections); a connection's reader is
/// [`FrameReader`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<bool, FrameError> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    reader.read_exact(&mut prefix[1..]).await?;
    let len = parse_prefix(prefix)?;
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(true)
}

/// Bytes a [`FrameReader`] asks the connection for at once.
pub const READ_BUFFER: usize = 64 * 1024;

/// Reads frames through a buffer of its own: under load many frames arrive
/// together, and one system call takes them all, where [`read_frame`] makes
/// three per frame (issue 29). Frames may carry secrets (provisioning, AWS
/// credentials), so the buffer is wiped on drop and on [`FrameReader::wipe`].
pub struct FrameReader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// [`read_frame`], buffered: one frame body into `out`; `Ok(false)` on
    /// a clean end of stream before any byte of a new frame. The length is
    /// checked before `out` grows, and a body longer than what is buffered
    /// is read straight into `out`. Not cancel-safe: a call dropped after
    /// the prefix was read loses the frame, so a caller that times it out
    /// (the hello) must not read from this reader again.
    pub async fn read_frame(&mut self, out: &mut Vec<u8>) -> Result<bool, FrameError> {
        if !self.fill(4).await? {
            return Ok(false);
        }
        let mut prefix = [0u8; 4];
        prefix.copy_from_slice(&self.buf[self.start..self.start + 4]);
        let len = parse_prefix(prefix)?;
        self.start += 4;
        let buffered = len.min(self.end - self.start);
        out.clear();
        out.reserve(len);
        out.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        if buffered < len {
            out.resize(len, 0);
            self.inner.read_exact(&mut out[buffered..]).await?;
        }
        Ok(true)
    }

    /// Buffers at least `need` (≤ [`READ_BUFFER`]) unread bytes. `Ok(false)`
    /// if the stream ended cleanly with nothing unread; an end with some
    /// bytes unread is [`std::io::ErrorKind::UnexpectedEof`].
    async fn fill(&mut self, need: usize) -> Result<bool, FrameError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < need {
            let n = self.inner.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                if self.end == 0 {
                    return Ok(false);
                }
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.end += n;
        }
        Ok(true)
    }

    /// Zeroes every byte already read out of the buffer (after a frame that
    /// held a secret); the unread bytes are kept.
    pub fn wipe(&mut self) {
        self.buf[..self.start].zeroize();
        self.buf[self.end..].zeroize();
    }
}

impl<R> Drop for FrameReader<R> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Writes a complete frame (as made by [`encode`]).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &[u8],
) -> std::io::Result<()> {
    writer.write_all(frame).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{KeyType, Request, Response};
    use crate::ErrorCode;

    #[test]
    fn round_trip() {
        let env = Envelope {
            id: 7,
            body: Request::Generate {
                key_id: "w1".into(),
                key_type: KeyType::P256,
                settings: None,
            },
        };
        let frame = encode(&env).unwrap();
        assert_eq!(
            parse_prefix(frame[..4].try_into().unwrap()).unwrap(),
            frame.len() - 4
        );
        assert_eq!(decode::<Request>(&frame[4..]).unwrap(), env);
    }

    #[test]
    fn prefix_limits() {
        assert!(matches!(parse_prefix([0, 0, 0, 0]), Err(FrameError::Empty)));
        assert!(matches!(
            parse_prefix([0xff, 0xff, 0xff, 0xff]),
            Err(FrameError::TooLarge(_))
        ));
        let max = u32::try_from(MAX_FRAME_LEN).unwrap().to_be_bytes();
        assert_eq!(parse_prefix(max).unwrap(), MAX_FRAME_LEN);
    }

    #[test]
    fn unknown_fields_and_trailing_bytes_are_refused() {
        let env = Envelope {
            id: 1,
            body: Response::error(ErrorCode::Busy, "x"),
        };
        let mut frame = encode(&env).unwrap();
        frame.push(0);
        assert!(matches!(
            decode::<Response>(&frame[4..]),
            Err(FrameError::Malformed(_))
        ));
        // A request body where a response is expected.
        let req = encode(&Envelope {
            id: 1,
            body: Request::List {
                after: None,
                limit: None,
            },
        })
        .unwrap();
        assert!(decode::<Response>(&req[4..]).is_err());
    }

    #[tokio::test]
    async fn reads_frames_and_clean_eof() {
        let a = encode(&Envelope {
            id: 1,
            body: Request::Status,
        })
        .unwrap();
        let b = encode(&Envelope {
            id: 2,
            body: Request::List {
                after: None,
                limit: None,
            },
        })
        .unwrap();
        let mut input: &[u8] = &[a.clone(), b].concat();
        let mut buf = Vec::new();
        assert!(read_frame(&mut input, &mut buf).await.unwrap());
        assert_eq!(decode::<Request>(&buf).unwrap().id, 1);
        assert!(read_frame(&mut input, &mut buf).await.unwrap());
        assert_eq!(
            decode::<Request>(&buf).unwrap().body,
            Request::List {
                after: None,
                limit: None
            }
        );
        assert!(!read_frame(&mut input, &mut buf).await.unwrap());
        // EOF inside a frame is an error, not a clean end.
        let mut cut: &[u8] = &a[..a.len() - 1];
        assert!(read_frame(&mut cut, &mut buf).await.is_err());
    }

    #[tokio::test]
    async fn oversized_prefix_is_refused_before_reading_the_body() {
        let mut input: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        let mut buf = Vec::new();
        assert!(matches!(
            read_frame(&mut input, &mut buf).await,
            Err(FrameError::TooLarge(_))
        ));
        assert_eq!(buf.capacity(), 0, "nothing was allocated");
    }

    #[tokio::test]
    async fn the_buffered_reader_reads_what_read_frame_reads() {
        let frames: Vec<Vec<u8>> = (0..40u64)
            .map(|id| {
                let body = Request::Status;
                let mut f = encode(&Envelope { id, body }).unwrap();
                if id % 7 == 3 {
                    // Some bodies longer than the buffer holds.
                    f = encode(&Envelope {
                        id,
                        body: Request::Attest {
                            nonce: Some(vec![id as u8; READ_BUFFER + 1000]),
                            key_id: None,
                        },
                    })
                    .unwrap();
                }
                f
            })
            .collect();
        let all = frames.concat();
        // Fed in pieces that split prefixes and bodies anywhere.
        let (mut tx, rx) = tokio::io::duplex(997);
        let writer = tokio::spawn(async move {
            for piece in all.chunks(613) {
                tx.write_all(piece).await.unwrap();
            }
        });
        let mut reader = FrameReader::new(rx);
        let mut buf = Vec::new();
        for (id, frame) in frames.iter().enumerate() {
            assert!(reader.read_frame(&mut buf).await.unwrap());
            assert_eq!(buf, frame[4..], "frame {id}");
            assert_eq!(decode::<Request>(&buf).unwrap().id, id as u64);
        }
        writer.await.unwrap();
        assert!(!reader.read_frame(&mut buf).await.unwrap(), "a clean end");
    }

    #[tokio::test]
    async fn the_buffered_reader_refuses_a_cut_frame_and_an_oversized_prefix() {
        let a = encode(&Envelope {
            id: 1,
            body: Request::Status,
        })
        .unwrap();
        let mut buf = Vec::new();
        for cut in [1, 3, 4, a.len() - 1] {
            let mut reader = FrameReader::new(&a[..cut]);
            assert!(
                matches!(reader.read_frame(&mut buf).await, Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof),
                "cut at {cut}"
            );
        }
        let mut reader = FrameReader::new(&[0x7f, 0xff, 0xff, 0xff, 0, 0][..]);
        let mut buf = Vec::new();
        assert!(matches!(
            reader.read_frame(&mut buf).await,
            Err(FrameError::TooLarge(_))
        ));
        assert_eq!(buf.capacity(), 0, "nothing was allocated");
        let mut reader = FrameReader::new(&[0, 0, 0, 0][..]);
        assert!(matches!(
            reader.read_frame(&mut buf).await,
            Err(FrameError::Empty)
        ));
    }

    #[tokio::test]
    async fn wiping_zeroes_what_was_read_and_keeps_what_was_not() {
        let secret = encode(&Envelope {
            id: 1,
            body: Request::Attest {
                nonce: Some(vec![0xAB; 64]),
                key_id: None,
            },
        })
        .unwrap();
        let next = encode(&Envelope {
            id: 2,
            body: Request::Status,
        })
        .unwrap();
        let input = [secret.clone(), next.clone()].concat();
        let mut reader = FrameReader::new(&input[..]);
        let mut buf = Vec::new();
        assert!(reader.read_frame(&mut buf).await.unwrap());
        reader.wipe();
        assert!(
            reader.buf[..reader.start].iter().all(|b| *b == 0),
            "the secret frame is gone"
        );
        assert!(!reader.buf.windows(8).any(|w| w == [0xAB; 8]));
        assert!(reader.read_frame(&mut buf).await.unwrap());
        assert_eq!(
            decode::<Request>(&buf).unwrap().id,
            2,
            "the next frame is intact"
        );
    }
}
