//! One WebSocket connection: one task, a bounded queue from its job.
//!
//! Frames are written with tokio-tungstenite; frames are read with a thin
//! frame reader of our own, because tungstenite as a server stops handing out
//! frames after the peer's close, and the wire log must see those too.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::SinkExt;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::json;
use sockscope_protocol::{ClientMessage, Envelope, ServerMessage, encode_server, parse_client};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use crate::Shared;
use crate::faults::Faults;
use crate::job::{CONN_QUEUE, ConnCmd, ConnHandle, HeldEvent, Job};
use crate::wire::{DropReason, Opcode, Side, WireEvent};

/// Largest client frame read; a bigger one ends the connection.
const MAX_FRAME: usize = 1 << 20;
/// How long the server waits for the peer's answer to its close frame.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// After the close handshake, how long the server keeps reading (to record
/// frames a peer writes after close) before it lets TCP go.
const LINGER: Duration = Duration::from_secs(2);

type Io = TokioIo<Upgraded>;

/// The write half, given to tungstenite, which never reads in our use.
struct WriteOnly(WriteHalf<Io>);

impl AsyncRead for WriteOnly {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Reads go through `FrameReader`; tungstenite only writes here.
        Poll::Pending
    }
}

impl AsyncWrite for WriteOnly {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A frame as read off the wire, unmasked.
struct RawFrame {
    fin: bool,
    opcode: Opcode,
    payload: Vec<u8>,
}

/// Reads RFC 6455 frames. Cancel-safe: bytes read stay in `buf`.
struct FrameReader {
    io: ReadHalf<Io>,
    buf: Vec<u8>,
}

impl FrameReader {
    async fn next(&mut self) -> io::Result<Option<RawFrame>> {
        loop {
            if let Some(frame) = parse_frame(&mut self.buf)? {
                return Ok(Some(frame));
            }
            self.buf.reserve(4096);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads and discards until EOF (a stalled connection).
    async fn discard(&mut self) -> io::Result<usize> {
        self.buf.clear();
        self.buf.reserve(4096);
        let n = self.io.read_buf(&mut self.buf).await?;
        self.buf.clear();
        Ok(n)
    }
}

fn parse_frame(buf: &mut Vec<u8>) -> io::Result<Option<RawFrame>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = Opcode::from_bits(buf[0] & 0x0F);
    let masked = buf[1] & 0x80 != 0;
    let mut pos = 2;
    let len = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            pos = 4;
            u64::from(u16::from_be_bytes([buf[2], buf[3]]))
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            pos = 10;
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > MAX_FRAME as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    let len = len as usize;
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < pos + len {
        return Ok(None);
    }
    let mut payload: Vec<u8> = buf[pos..pos + len].to_vec();
    if let Some(m) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    buf.drain(..pos + len);
    Ok(Some(RawFrame {
        fin,
        opcode,
        payload,
    }))
}

/// An unmasked server text frame, built by hand: tungstenite refuses to
/// write data after close, which is exactly what `send_after_close` does.
fn raw_text_frame(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 10);
    out.push(0x81);
    match text.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(text);
    out
}

/// What a connection got at its handshake.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub conn: u64,
    pub job: Arc<Job>,
    /// 1-based index among the job's connections.
    pub index: u64,
    /// When the token it authenticated with expires.
    pub token_expiry: Option<Instant>,
}

/// Resolves once the simulator shuts down (also if it already had).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

/// Why the connection loop stopped.
enum End {
    /// The peer closed TCP, or I/O failed.
    Gone,
    /// We cut it (the reason was recorded).
    Cut,
}

/// Per-connection knobs, resolved for this connection.
struct ConnKnobs {
    drop_after: Option<u64>,
    close_after: Option<u64>,
    send_after_close: u64,
    duplicate_seq: Option<u64>,
    /// Seqs withheld from this connection, first to last.
    gap: Option<std::ops::RangeInclusive<u64>>,
    deaf_until: Option<Instant>,
    stall_at: Option<Instant>,
}

impl ConnKnobs {
    fn resolve(faults: &Faults, index: u64, start: Instant) -> ConnKnobs {
        if !faults.hits_connection(index) {
            return ConnKnobs {
                drop_after: None,
                close_after: None,
                send_after_close: 0,
                duplicate_seq: None,
                gap: None,
                deaf_until: None,
                stall_at: None,
            };
        }
        let ms = |v: Option<u64>| v.map(|ms| start + Duration::from_millis(ms));
        ConnKnobs {
            drop_after: faults.drop_after,
            close_after: faults.close_after,
            send_after_close: faults.send_after_close.unwrap_or(0),
            duplicate_seq: faults.duplicate_seq,
            gap: faults.gap_after.map(|after| {
                let len = faults.gap_len.unwrap_or(crate::faults::DEFAULT_GAP_LEN);
                after + 1..=after + len
            }),
            deaf_until: ms(faults.ready_deaf_ms),
            stall_at: ms(faults.stall_after_ms),
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    job: Arc<Job>,
    id: u64,
    ws: WebSocketStream<WriteOnly>,
    reader: FrameReader,
    rx: mpsc::Receiver<ConnCmd>,
    rx_open: bool,
    kill: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    knobs: ConnKnobs,
    token_expiry: Option<Instant>,
    ready: bool,
    events_sent: u64,
    /// Our close frame went out.
    closed_by_us: bool,
    /// The peer's close frame arrived.
    closed_by_peer: bool,
    /// Partial fragmented data message: its opcode and bytes so far.
    partial: Option<(Opcode, Vec<u8>)>,
}

/// Runs a connection until TCP is gone. Records everything in the wire log.
pub(crate) async fn run(shared: Arc<Shared>, accepted: Accepted, io: Io) {
    let Accepted {
        conn: id,
        job,
        index,
        token_expiry,
    } = accepted;
    let (read, write) = tokio::io::split(io);
    let config = WebSocketConfig::default().max_frame_size(Some(MAX_FRAME));
    let ws = WebSocketStream::from_raw_socket(WriteOnly(write), Role::Server, Some(config)).await;
    let (tx, rx) = mpsc::channel(CONN_QUEUE);
    let kill = Arc::new(Notify::new());
    let registered = job.register(
        id,
        ConnHandle {
            tx,
            kill: Arc::clone(&kill),
            ready: false,
        },
    );
    let shutdown = shared.shutdown.subscribe();
    let knobs = ConnKnobs::resolve(&job.faults, index, Instant::now());
    let mut conn = Conn {
        shared,
        job,
        id,
        ws,
        reader: FrameReader {
            io: read,
            buf: Vec::new(),
        },
        rx,
        rx_open: true,
        kill,
        shutdown,
        knobs,
        token_expiry,
        ready: false,
        events_sent: 0,
        closed_by_us: false,
        closed_by_peer: false,
        partial: None,
    };
    if !registered {
        // Deleted between the 101 and now.
        let _ = conn.close(4004, "job unknown").await;
    }
    conn.run_loop().await;
    conn.job.deregister(conn.id);
    conn.record(WireEvent::Ended {
        conn: conn.id,
        job_id: conn.job.id.clone(),
    });
}

impl Conn {
    fn record(&self, event: WireEvent) {
        self.shared.wire.record(event);
    }

    fn closing(&self) -> bool {
        self.closed_by_us || self.closed_by_peer
    }

    async fn run_loop(&mut self) {
        let mut close_deadline: Option<Instant> = None;
        loop {
            if self.closed_by_us && self.closed_by_peer {
                self.linger().await;
                return;
            }
            if self.closing() && close_deadline.is_none() {
                close_deadline = Some(Instant::now() + CLOSE_REPLY_TIMEOUT);
            }
            let stall_at = self.knobs.stall_at.filter(|_| !self.closing());
            let expiry = self.token_expiry.filter(|_| !self.closing());
            let far = Instant::now() + Duration::from_secs(86_400);
            let result = tokio::select! {
                biased;
                _ = self.kill.notified() => Err(self.cut(DropReason::QueueFull)),
                _ = stopped(&mut self.shutdown) => Err(self.cut(DropReason::Shutdown)),
                cmd = self.rx.recv(), if self.rx_open => match cmd {
                    Some(cmd) => self.on_cmd(cmd).await,
                    None => {
                        self.rx_open = false;
                        Ok(())
                    }
                },
                frame = self.reader.next() => match frame {
                    Ok(Some(frame)) => self.on_frame(frame).await,
                    Ok(None) | Err(_) => Err(End::Gone),
                },
                _ = tokio::time::sleep_until(stall_at.unwrap_or(far)), if stall_at.is_some() => {
                    self.stall().await;
                    return;
                }
                _ = tokio::time::sleep_until(expiry.unwrap_or(far)), if expiry.is_some() => {
                    self.close(4001, "token expired").await
                }
                _ = tokio::time::sleep_until(close_deadline.unwrap_or(far)), if close_deadline.is_some() => {
                    Err(End::Gone)
                }
            };
            match result {
                Ok(()) => {}
                Err(End::Gone | End::Cut) => return,
            }
        }
    }

    fn cut(&mut self, reason: DropReason) -> End {
        self.job.deregister(self.id);
        self.record(WireEvent::Dropped {
            conn: self.id,
            job_id: self.job.id.clone(),
            reason,
        });
        End::Cut
    }

    async fn on_cmd(&mut self, cmd: ConnCmd) -> Result<(), End> {
        match cmd {
            ConnCmd::Event(event) => {
                if self.closing() {
                    return Ok(());
                }
                self.send_event(&event).await
            }
            ConnCmd::Close { code, reason } => self.close(code, &reason).await,
            ConnCmd::Drop(reason) => Err(self.cut(reason)),
        }
    }

    /// Writes `msg`, unless the queue overflowed or the simulator stops meanwhile.
    async fn write(&mut self, msg: Message) -> Result<(), End> {
        let reason = tokio::select! {
            r = self.ws.send(msg) => return r.map_err(|_| End::Gone),
            _ = self.kill.notified() => DropReason::QueueFull,
            _ = stopped(&mut self.shutdown) => DropReason::Shutdown,
        };
        Err(self.cut(reason))
    }

    async fn send_text(
        &mut self,
        text: Utf8Bytes,
        kind: &str,
        seq: Option<u64>,
    ) -> Result<(), End> {
        self.write(Message::Text(text)).await?;
        self.record_sent(Opcode::Text, Some(kind.to_owned()), seq, false);
        Ok(())
    }

    async fn send_control(&mut self, message: ServerMessage) -> Result<(), End> {
        let kind = message.kind().to_owned();
        let text = encode_server(&Envelope {
            job_id: Some(self.job.id.clone()),
            seq: None,
            ts: Some(crate::time::rfc3339(std::time::SystemTime::now())),
            message,
        });
        self.send_text(Utf8Bytes::from(text), &kind, None).await
    }

    /// Sends a job event (twice for `duplicate_seq`, not at all inside a
    /// `gap_after` gap), then applies `drop_after` / `close_after`.
    async fn send_event(&mut self, event: &HeldEvent) -> Result<(), End> {
        if self
            .knobs
            .gap
            .as_ref()
            .is_some_and(|g| g.contains(&event.seq))
        {
            return Ok(());
        }
        self.send_text(event.text.clone(), event.kind, Some(event.seq))
            .await?;
        if self.knobs.duplicate_seq == Some(event.seq) {
            self.send_text(event.text.clone(), event.kind, Some(event.seq))
                .await?;
        }
        self.events_sent += 1;
        if self.knobs.drop_after == Some(self.events_sent) {
            return Err(self.cut(DropReason::DropAfter));
        }
        if self.knobs.close_after == Some(self.events_sent) {
            self.close(1001, "going away").await?;
        }
        Ok(())
    }

    /// Starts the close handshake (or answers the peer's), then sends the
    /// `send_after_close` frames.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), End> {
        if self.closed_by_us {
            return Ok(());
        }
        self.job.deregister(self.id);
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.to_owned().into(),
        };
        self.closed_by_us = true;
        self.write(Message::Close(Some(frame))).await?;
        self.record(WireEvent::Close {
            conn: self.id,
            job_id: self.job.id.clone(),
            by: Side::Server,
            code: Some(code),
            reply: self.closed_by_peer,
        });
        for n in 1..=self.knobs.send_after_close {
            let text = json!({
                "v": 1, "type": "after_close", "jobId": self.job.id, "payload": { "n": n }
            })
            .to_string();
            let raw = raw_text_frame(text.as_bytes());
            let stream = self.ws.get_mut();
            if stream.write_all(&raw).await.is_err() || stream.flush().await.is_err() {
                return Err(End::Gone);
            }
            self.record_sent(Opcode::Text, Some("after_close".into()), None, true);
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: RawFrame) -> Result<(), End> {
        let after_close = self.closing();
        match frame.opcode {
            Opcode::Close => {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                self.record(WireEvent::Close {
                    conn: self.id,
                    job_id: self.job.id.clone(),
                    by: Side::Client,
                    code,
                    reply: self.closed_by_us,
                });
                if self.closed_by_peer {
                    return Ok(());
                }
                self.closed_by_peer = true;
                if !self.closed_by_us {
                    // Echo the peer's code when it may be sent; else a normal close.
                    let echo = code
                        .filter(|c| crate::check_close(*c, "").is_ok())
                        .unwrap_or(1000);
                    self.close(echo, "").await?;
                }
                Ok(())
            }
            Opcode::Ping => {
                self.record_received(Opcode::Ping, None, after_close, false);
                if !self.closing() {
                    self.write(Message::Pong(Bytes::from(frame.payload)))
                        .await?;
                    self.record_sent(Opcode::Pong, None, None, false);
                }
                Ok(())
            }
            Opcode::Pong | Opcode::Reserved(_) => {
                self.record_received(frame.opcode, None, after_close, false);
                Ok(())
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                self.on_data(frame, after_close).await
            }
        }
    }

    fn record_sent(
        &self,
        opcode: Opcode,
        kind: Option<String>,
        seq: Option<u64>,
        after_close: bool,
    ) {
        self.record(WireEvent::Sent {
            conn: self.id,
            job_id: self.job.id.clone(),
            opcode,
            kind,
            seq,
            after_close,
        });
    }

    fn record_received(&self, opcode: Opcode, kind: Option<String>, after_close: bool, deaf: bool) {
        self.record(WireEvent::Received {
            conn: self.id,
            job_id: self.job.id.clone(),
            opcode,
            kind,
            after_close,
            deaf,
        });
    }

    async fn on_data(&mut self, frame: RawFrame, after_close: bool) -> Result<(), End> {
        // Reassemble fragmented messages; a stray continuation is recorded as is.
        let (opcode, payload) = match (frame.opcode, self.partial.take()) {
            (Opcode::Continuation, Some((op, mut bytes))) => {
                bytes.extend_from_slice(&frame.payload);
                if bytes.len() > MAX_FRAME {
                    return Err(End::Gone);
                }
                if !frame.fin {
                    self.partial = Some((op, bytes));
                    return Ok(());
                }
                (op, bytes)
            }
            (op @ (Opcode::Text | Opcode::Binary), _) if !frame.fin => {
                self.partial = Some((op, frame.payload));
                return Ok(());
            }
            (op, _) => (op, frame.payload),
        };
        let deaf = !after_close && self.knobs.deaf_until.is_some_and(|t| Instant::now() < t);
        let parsed = match opcode {
            Opcode::Text => match std::str::from_utf8(&payload) {
                Ok(text) => parse_client(text, MAX_FRAME),
                Err(_) => Err(sockscope_protocol::ProtocolError::InvalidUtf8),
            },
            _ => Err(sockscope_protocol::ProtocolError::InvalidUtf8),
        };
        let kind = parsed.as_ref().ok().map(|m| m.kind().to_owned());
        self.record_received(opcode, kind, after_close, deaf);
        if after_close || deaf {
            return Ok(());
        }
        match parsed {
            Err(e) => {
                self.record(WireEvent::ProtocolError {
                    conn: self.id,
                    job_id: self.job.id.clone(),
                    class: e.class().to_owned(),
                });
                Ok(())
            }
            Ok(ClientMessage::Ready { resume_from }) => self.on_ready(resume_from).await,
            Ok(ClientMessage::Ping { nonce }) => {
                self.send_control(ServerMessage::Pong { nonce }).await
            }
            Ok(ClientMessage::Cancel) => {
                self.job.cancel();
                Ok(())
            }
            // Recorded above, otherwise ignored.
            Ok(ClientMessage::Unknown { .. }) => Ok(()),
        }
    }

    async fn on_ready(&mut self, resume_from: Option<u64>) -> Result<(), End> {
        self.record(WireEvent::Ready {
            conn: self.id,
            job_id: self.job.id.clone(),
            resume_from,
        });
        if self.ready {
            let last_seq = self.job.last_seq();
            return self.send_ack(last_seq, 0).await;
        }
        self.ready = true;
        let plan = self.job.first_ready(self.id, resume_from);
        if plan.resync {
            let reason = self.job.faults.resync_reason.clone();
            self.send_control(ServerMessage::ResyncRequired {
                reason: reason.unwrap_or_else(|| "history_expired".into()),
            })
            .await?;
        }
        let mut replayed = 0;
        for event in &plan.replay {
            self.send_event(event).await?;
            if self.closing() {
                // close_after fired mid-replay.
                return Ok(());
            }
            replayed += 1;
        }
        self.send_ack(plan.last_seq, replayed).await?;
        if let Some(code) = plan.terminal_close {
            self.close(code, "job ended").await?;
        }
        Ok(())
    }

    async fn send_ack(&mut self, last_seq: u64, replayed: u64) -> Result<(), End> {
        self.send_control(ServerMessage::ReadyAck { last_seq, replayed })
            .await?;
        self.record(WireEvent::ReadyAck {
            conn: self.id,
            job_id: self.job.id.clone(),
            last_seq,
            replayed,
        });
        Ok(())
    }

    /// The close handshake is done: send FIN, then keep reading (and
    /// recording) what the peer still writes until it closes TCP.
    async fn linger(&mut self) {
        let _ = self.ws.get_mut().shutdown().await;
        let deadline = Instant::now() + LINGER;
        loop {
            let frame = tokio::select! {
                biased;
                _ = stopped(&mut self.shutdown) => return,
                _ = tokio::time::sleep_until(deadline) => return,
                frame = self.reader.next() => frame,
            };
            match frame {
                Ok(Some(frame)) => {
                    if self.on_frame(frame).await.is_err() {
                        return;
                    }
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Silent both ways until the peer closes TCP: bytes are read and
    /// discarded (only to notice EOF), nothing is written.
    async fn stall(&mut self) {
        self.job.deregister(self.id);
        self.record(WireEvent::Stalled {
            conn: self.id,
            job_id: self.job.id.clone(),
        });
        loop {
            tokio::select! {
                _ = stopped(&mut self.shutdown) => return,
                cmd = self.rx.recv(), if self.rx_open => {
                    if cmd.is_none() {
                        self.rx_open = false;
                    }
                }
                n = self.reader.discard() => match n {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
            }
        }
    }
}
