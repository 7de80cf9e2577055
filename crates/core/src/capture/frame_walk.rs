//! A walk over one side's raw bytes, as the proxy reads them: past the
//! HTTP upgrade, then from frame header to frame header (RFC 6455, 5.2),
//! skipping payloads. Sans-IO and constant in memory: it keeps at most one
//! frame header.
//!
//! The proxy's WebSocket library stops at a close frame, so a frame the app
//! sends after its own close, in the same TCP segment or later, is never
//! handed on; this walk still sees it, with its opcode and size.

/// A frame header the walk passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame {
    /// The opcode's name (`text`, `binary`, `continuation`, `close`,
    /// `ping`, `pong`, or `reserved`).
    pub opcode: &'static str,
    /// Payload length in bytes, as the header says.
    pub size: u64,
    /// Whether a close frame came before it on this side.
    pub after_close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the upgrade request: how many bytes of `\r\n\r\n` matched.
    Http(u8),
    /// Collecting a frame header.
    Header,
    /// Skipping a payload: bytes left.
    Payload(u64),
}

/// Where one side's byte stream stands.
#[derive(Debug, Clone)]
pub struct FrameWalk {
    state: State,
    head: [u8; 14],
    have: usize,
    closed: bool,
}

impl FrameWalk {
    /// A walk that starts at the upgrade request.
    pub fn from_upgrade() -> FrameWalk {
        FrameWalk {
            state: State::Http(0),
            head: [0; 14],
            have: 0,
            closed: false,
        }
    }

    /// Walks `bytes`, calling `on_frame` for each header completed.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_frame: impl FnMut(RawFrame)) {
        while !bytes.is_empty() {
            match self.state {
                State::Http(matched) => {
                    let mut m = matched;
                    let mut used = 0;
                    for &b in bytes {
                        used += 1;
                        m = match (m, b) {
                            (0 | 2, b'\r') => m + 1,
                            (1 | 3, b'\n') => m + 1,
                            (_, b'\r') => 1,
                            _ => 0,
                        };
                        if m == 4 {
                            break;
                        }
                    }
                    bytes = &bytes[used..];
                    self.state = if m == 4 {
                        State::Header
                    } else {
                        State::Http(m)
                    };
                }
                State::Payload(left) => {
                    let n = left.min(bytes.len() as u64);
                    // `n` is at most `bytes.len()`, a usize.
                    bytes = &bytes[n as usize..];
                    self.state = if left == n {
                        State::Header
                    } else {
                        State::Payload(left - n)
                    };
                }
                State::Header => {
                    let need = self.header_len();
                    let take = (need - self.have).min(bytes.len());
                    self.head[self.have..self.have + take].copy_from_slice(&bytes[..take]);
                    self.have += take;
                    bytes = &bytes[take..];
                    // The length may grow once the second byte is in.
                    if self.have < self.header_len() {
                        continue;
                    }
                    let frame = self.frame();
                    self.have = 0;
                    on_frame(frame);
                    if frame.opcode == "close" {
                        self.closed = true;
                    }
                    self.state = if frame.size == 0 {
                        State::Header
                    } else {
                        State::Payload(frame.size)
                    };
                }
            }
        }
    }

    /// The header's full length, as far as its bytes so far tell.
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let ext = match self.head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    fn frame(&self) -> RawFrame {
        let size = match self.head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => u64::from_be_bytes(self.head[2..10].try_into().unwrap_or([0; 8])),
            n => u64::from(n),
        };
        let opcode = match self.head[0] & 0x0f {
            0x0 => "continuation",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xa => "pong",
            _ => "reserved",
        };
        RawFrame {
            opcode,
            size,
            after_close: self.closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame: FIN, the opcode, the length, a mask, the payload.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [1, 2, 3, 4];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn walk(chunks: &[&[u8]]) -> Vec<RawFrame> {
        let mut w = FrameWalk::from_upgrade();
        let mut seen = Vec::new();
        for c in chunks {
            w.feed(c, |f| seen.push(f));
        }
        seen
    }

    fn stream() -> Vec<u8> {
        let mut s = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n".to_vec();
        s.extend(frame(0x1, b"{\"type\":\"hello\"}"));
        s.extend(frame(0x2, &[0u8; 300]));
        s.extend(frame(0x2, &vec![7u8; 70_000]));
        s.extend(frame(0x8, &[0x03, 0xe8]));
        s.extend(frame(0x1, b"late"));
        s.extend(frame(0x9, b""));
        s
    }

    #[test]
    fn walks_the_headers_and_marks_what_came_after_the_close() {
        let seen = walk(&[&stream()]);
        let got: Vec<_> = seen
            .iter()
            .map(|f| (f.opcode, f.size, f.after_close))
            .collect();
        assert_eq!(
            got,
            [
                ("text", 16, false),
                ("binary", 300, false),
                ("binary", 70_000, false),
                ("close", 2, false),
                ("text", 4, true),
                ("ping", 0, true),
            ]
        );
    }

    #[test]
    fn any_split_of_the_bytes_walks_the_same() {
        let s = stream();
        let whole = walk(&[&s]);
        for cut in [1, 2, 3, 7, 13, 64, 65, 66, 70, 400, 70_350] {
            let bytes: Vec<&[u8]> = s.chunks(cut).collect();
            assert_eq!(walk(&bytes), whole, "chunks of {cut}");
        }
    }

    #[test]
    fn a_header_ending_split_across_reads_still_ends_the_upgrade() {
        let s = b"GET / HTTP/1.1\r\nA: b\r\r\n\r\n";
        let mut w = FrameWalk::from_upgrade();
        for b in s {
            w.feed(std::slice::from_ref(b), |_| panic!("no frame yet"));
        }
        let mut seen = Vec::new();
        w.feed(&frame(0x1, b"x"), |f| seen.push(f));
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].opcode, "text");
    }

    proptest::proptest! {
        /// Any bytes, in any split: no panic, the same frames, and at most
        /// one frame per two bytes after the upgrade.
        #[test]
        fn any_bytes_in_any_split_walk_the_same(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            cut in 1usize..50,
        ) {
            let mut input = b"GET / HTTP/1.1\r\n\r\n".to_vec();
            input.extend(&bytes);
            let whole = walk(&[&input]);
            let chunks: Vec<&[u8]> = input.chunks(cut).collect();
            proptest::prop_assert_eq!(walk(&chunks), whole.clone());
            proptest::prop_assert!(whole.len() <= bytes.len() / 2);
        }
    }
}
