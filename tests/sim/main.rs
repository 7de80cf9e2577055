//! Integration tests of the simulator over real sockets on 127.0.0.1.

mod cli;
mod control;
mod faults;
mod rest;
mod scale;
mod session;
mod wire;

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope_protocol::{
    ClientMessage, CreateJobResponse, Envelope, ServerMessage, encode_client, parse_server,
};
use sockscope_sim::{DropReason, Faults, JobKind, Side, Sim, SimConfig, WireEvent};
use sockscope_test_support::within;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Bound of a single wait inside a test.
pub const STEP: Duration = Duration::from_secs(5);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn start() -> Sim {
    Sim::start(SimConfig::default()).await.expect("sim starts")
}

/// A quick job: items every 10 ms unless `faults` says otherwise.
pub fn quick(faults: Faults) -> Faults {
    Faults {
        interval_ms: faults.interval_ms.or(Some(10)),
        ..faults
    }
}

pub fn faults(s: &str) -> Faults {
    s.parse().expect("valid faults")
}

pub fn job(sim: &Sim, total: u64, f: &str) -> CreateJobResponse {
    sim.create_job(JobKind::CsvImport, total, quick(faults(f)))
        .expect("job created")
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Runs the `sockscope-sim` binary with `args`; returns it (killed on drop)
/// and the base URL it prints once it listens.
pub async fn spawn_binary(args: &[&str]) -> (Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope-sim"))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = within(STEP, "the listening line", lines.next_line())
        .await
        .unwrap()
        .expect("a line");
    let base = line
        .strip_prefix("sockscope-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line}"))
        .to_owned();
    (child, base)
}

/// Connects with the token in the `Authorization` header (and/or in the query).
pub async fn try_connect(url: &str, header: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let mut req = url.into_client_request().expect("valid url");
    if let Some(token) = header {
        req.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
    }
    within(STEP, "the WebSocket handshake", connect_async(req))
        .await
        .map(|(ws, _)| ws)
}

pub async fn connect(job: &CreateJobResponse) -> Ws {
    try_connect(&job.ws_url, Some(&job.token))
        .await
        .expect("handshake succeeds")
}

/// Connects, says `ready` from the start and reads up to the `ready_ack`.
pub async fn ready_socket(job: &CreateJobResponse) -> Ws {
    let mut ws = connect(job).await;
    ready(&mut ws, None).await;
    until_ack(&mut ws).await;
    ws
}

/// The status of a GET of `job`'s state URL with its token in the header.
pub async fn state_status(client: &reqwest::Client, job: &CreateJobResponse) -> u16 {
    client
        .get(&job.state_url)
        .bearer_auth(&job.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// HTTP status of a refused handshake.
pub fn refused_status(result: Result<Ws, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, got a WebSocket"),
    }
}

pub async fn send(ws: &mut Ws, message: ClientMessage) {
    ws.send(Message::text(encode_client(&message)))
        .await
        .expect("send");
}

pub async fn ready(ws: &mut Ws, resume_from: Option<u64>) {
    send(ws, ClientMessage::Ready { resume_from }).await;
}

/// What a client read next.
#[derive(Debug)]
pub enum Got {
    Msg(Envelope),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    /// The stream ended without a close frame.
    Cut,
}

pub async fn next(ws: &mut Ws) -> Got {
    within(STEP, "the next frame", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return Got::Msg(parse_server(&t, 1 << 20).expect("valid server message"));
                }
                Some(Ok(Message::Pong(p))) => return Got::Pong(p.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(f) => Got::Close(Some(f.code.into()), f.reason.to_string()),
                        None => Got::Close(None, String::new()),
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Cut,
            }
        }
    })
    .await
}

pub async fn next_msg(ws: &mut Ws) -> Envelope {
    match next(ws).await {
        Got::Msg(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Reads messages until the close frame; returns them and the close code.
pub async fn until_close(ws: &mut Ws) -> (Vec<Envelope>, Option<u16>) {
    let mut msgs = Vec::new();
    loop {
        match next(ws).await {
            Got::Msg(m) => msgs.push(m),
            Got::Pong(_) => {}
            Got::Close(code, _) => return (msgs, code),
            Got::Cut => panic!("cut without a close frame after {msgs:?}"),
        }
    }
}

/// Reads messages until the stream is cut without a close frame; returns them.
pub async fn until_cut(ws: &mut Ws) -> Vec<Envelope> {
    let mut msgs = Vec::new();
    loop {
        match next(ws).await {
            Got::Msg(m) => msgs.push(m),
            Got::Cut => return msgs,
            other => panic!("expected a cut, got {other:?}"),
        }
    }
}

/// Reads messages until one whose seq is at least `seq`.
pub async fn until_seq(ws: &mut Ws, seq: u64) {
    while next_msg(ws).await.seq < Some(seq) {}
}

/// Reads until `ready_ack`; returns what came before it and the ack's (lastSeq, replayed).
pub async fn until_ack(ws: &mut Ws) -> (Vec<Envelope>, u64, u64) {
    let mut before = Vec::new();
    loop {
        let m = next_msg(ws).await;
        if let ServerMessage::ReadyAck { last_seq, replayed } = m.message {
            return (before, last_seq, replayed);
        }
        before.push(m);
    }
}

/// Waits for the simulator to log an accepted (101) handshake.
pub async fn accepted(sim: &Sim) -> WireEvent {
    sim.wait_for(
        |e| matches!(e, WireEvent::Connection { status: 101, .. }),
        STEP,
    )
    .await
    .unwrap()
}

/// Waits for the simulator to log a close frame sent by `by`.
pub async fn close_by(sim: &Sim, by: Side) -> WireEvent {
    sim.wait_for(
        |e| matches!(e, WireEvent::Close { by: b, .. } if *b == by),
        STEP,
    )
    .await
    .unwrap()
}

/// Waits for the simulator to log a connection cut for `reason`.
pub async fn dropped(sim: &Sim, reason: DropReason) -> WireEvent {
    sim.wait_for(
        |e| matches!(e, WireEvent::Dropped { reason: r, .. } if *r == reason),
        STEP,
    )
    .await
    .unwrap()
}

pub fn seqs(msgs: &[Envelope]) -> Vec<u64> {
    msgs.iter().filter_map(|m| m.seq).collect()
}

/// A client that speaks raw frames, to do what a well-behaved library won't.
#[derive(Debug)]
pub struct RawWs {
    pub tcp: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    pub async fn connect(job: &CreateJobResponse) -> RawWs {
        let url = job.ws_url.strip_prefix("ws://").expect("ws url");
        let (host, path) = url.split_once('/').expect("path");
        let mut tcp = TcpStream::connect(host).await.expect("tcp connect");
        tcp.set_nodelay(true).expect("nodelay");
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {}\r\n\r\n",
            job.token
        );
        tcp.write_all(request.as_bytes())
            .await
            .expect("write handshake");
        let mut buf = Vec::new();
        let head_end = within(STEP, "the 101", async {
            loop {
                let mut chunk = [0u8; 1024];
                let n = tcp.read(&mut chunk).await.expect("read handshake");
                assert!(n > 0, "server closed during the handshake");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    return i + 4;
                }
            }
        })
        .await;
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "handshake answer: {head}");
        assert!(
            head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "accept key: {head}"
        );
        buf.drain(..head_end);
        RawWs { tcp, buf }
    }

    /// Sends one masked frame, as a client must.
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut out = vec![0x80 | opcode];
        assert!(payload.len() < 126);
        out.push(0x80 | payload.len() as u8);
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.tcp.write_all(&out).await.expect("write frame");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(0x1, text.as_bytes()).await;
    }

    pub async fn send_close(&mut self, code: u16) {
        self.send_frame(0x8, &code.to_be_bytes()).await;
    }

    /// Next frame from the server as (opcode, payload); `None` at EOF.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        within(STEP, "a raw frame", async {
            loop {
                if self.buf.len() >= 2 {
                    assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                    let (len, pos) = match self.buf[1] & 0x7F {
                        126 if self.buf.len() >= 4 => {
                            (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                        }
                        126 | 127 => (usize::MAX, 0),
                        n => (n as usize, 2),
                    };
                    if len != usize::MAX && self.buf.len() >= pos + len {
                        let opcode = self.buf[0] & 0x0F;
                        let payload = self.buf[pos..pos + len].to_vec();
                        self.buf.drain(..pos + len);
                        return Some((opcode, payload));
                    }
                }
                let mut chunk = [0u8; 4096];
                match self.tcp.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
    }
}
