//! The thin tokio driver of a replay: a listener that gives each upgrade
//! request its attempt, and [`serve_attempt`], which carries out an
//! [`AttemptRun`]'s steps on a WebSocket as they fall due.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{self, Message};

use super::ReplayOptions;
use super::script::{Act, Answer, AttemptScript, Script, ServerFrame};
use super::timing::{AttemptRun, Due, Timing};
use crate::CoreError;
use crate::capture::recording_proxy::{
    HANDSHAKE_TIMEOUT, Rewind, accept_each, answer, upgrade_request,
};

/// After the server's close frame, how long the client has to answer it.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Reports of served connections not yet read; when full, finished
/// connections wait to report.
const SERVED_QUEUE: usize = 256;

/// How a served connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedEnd {
    /// Every step was carried out, and the connection ended.
    Complete,
    /// The client ended the connection before every step was done.
    ClientLeft,
    /// The upgrade was refused with a status, or closed unanswered, as recorded.
    Refused,
    /// The replay was stopped.
    Stopped,
}

/// One connection served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Which connection to the replay (1-based).
    pub connection: u64,
    /// Which attempt of the script it got (0-based).
    pub attempt: usize,
    /// Its recorded socket and attempt number there.
    pub socket: u64,
    /// Its attempt number on that socket.
    pub number: u32,
    /// Steps carried out, of all the attempt has.
    pub steps: (usize, usize),
    /// Data frames the client sent.
    pub client_frames: usize,
    /// How it ended.
    pub end: ServedEnd,
}

struct Shared {
    script: Script,
    options: ReplayOptions,
    next_attempt: AtomicUsize,
    connections: AtomicU64,
    stopped: watch::Receiver<bool>,
    served: mpsc::Sender<Served>,
}

impl Shared {
    /// The attempt the next upgrade gets, if any is left.
    fn take_attempt(&self) -> Option<usize> {
        if let Some(a) = self.options.attempt {
            return Some(a);
        }
        let i = self.next_attempt.fetch_add(1, Ordering::Relaxed);
        (i < self.script.attempts.len()).then_some(i)
    }

    /// Each attempt once, and all of them taken.
    fn used_up(&self) -> bool {
        self.options.attempt.is_none()
            && self.next_attempt.load(Ordering::Relaxed) >= self.script.attempts.len()
    }
}

/// A running replay. It ends by itself once each attempt was served once
/// (and [`ReplayServer::next_served`] returns `None`), or on
/// [`ReplayServer::stop`]; dropping it stops it too.
#[derive(Debug)]
pub struct ReplayServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    served: mpsc::Receiver<Served>,
}

impl ReplayServer {
    /// Serves `script` on `listen` (port 0 picks one).
    pub async fn start(
        listen: SocketAddr,
        script: Script,
        options: ReplayOptions,
    ) -> Result<ReplayServer, CoreError> {
        options.check(&script)?;
        let (listener, addr) = crate::proxy::bind(listen).await?;
        let (stop, stopped) = watch::channel(false);
        let (served_tx, served) = mpsc::channel(SERVED_QUEUE);
        let shared = Arc::new(Shared {
            script,
            options,
            next_attempt: AtomicUsize::new(0),
            connections: AtomicU64::new(0),
            stopped,
            served: served_tx,
        });
        let task = tokio::spawn(accept(listener, shared));
        Ok(ReplayServer {
            addr,
            stop,
            task: Some(task),
            served,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next connection served, once it has ended; `None` when the
    /// replay is over.
    pub async fn next_served(&mut self) -> Option<Served> {
        self.served.recv().await
    }

    /// Stops: no more connections, open ones end at once.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let max = shared.options.max_connections;
    let stopped = shared.stopped.clone();
    let over = || shared.used_up();
    accept_each(listener, stopped, max, over, |tcp| {
        connection(Arc::clone(&shared), tcp)
    })
    .await;
}

/// One connection: its upgrade request, its attempt's answer, its steps.
async fn connection(shared: Arc<Shared>, mut tcp: TcpStream) {
    let Some(head) = upgrade_request(&mut tcp).await else {
        return;
    };
    let Some(index) = shared.take_attempt() else {
        return answer(&mut tcp, (503, "Service Unavailable")).await;
    };
    let connection = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
    let attempt = &shared.script.attempts[index];
    let mut served = Served {
        connection,
        attempt: index,
        socket: attempt.socket,
        number: attempt.number,
        steps: (0, attempt.steps.len()),
        client_frames: 0,
        end: ServedEnd::Refused,
    };
    match attempt.answer {
        Answer::Drop => drop(tcp),
        Answer::Refuse(status) => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Refused");
            answer(&mut tcp, (status, reason)).await;
        }
        Answer::Upgrade => {
            // The first subprotocol the client offers: the recording keeps
            // no headers, and a client that asked for one needs an answer.
            let protocol = head
                .header("sec-websocket-protocol")
                .and_then(|p| p.split(',').next())
                .and_then(|p| HeaderValue::from_str(p.trim()).ok());
            #[allow(clippy::result_large_err)]
            let callback = move |_: &Request, mut response: Response| {
                if let Some(p) = protocol {
                    response.headers_mut().insert("sec-websocket-protocol", p);
                }
                Ok(response)
            };
            let rewind = Rewind {
                prefix: head.bytes,
                at: 0,
                inner: tcp,
                tap: None,
            };
            let accepted = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                tokio_tungstenite::accept_hdr_async(rewind, callback),
            )
            .await;
            if let Ok(Ok(ws)) = accepted {
                let (done, clients, end) = serve_attempt(
                    ws,
                    attempt,
                    shared.options.timing,
                    shared.options.speed,
                    shared.stopped.clone(),
                )
                .await;
                served.steps.0 = done;
                served.client_frames = clients;
                served.end = end;
            } else {
                served.end = ServedEnd::ClientLeft;
            }
        }
    }
    let _ = shared.served.send(served).await;
}

/// The message a frame of the script is.
fn message(frame: &ServerFrame) -> Message {
    match frame {
        ServerFrame::Text(t) => Message::text(t.as_str()),
        ServerFrame::Binary(b) => Message::binary(b.clone()),
        ServerFrame::Ping => Message::Ping(Default::default()),
        // Codes that never go in a frame (RFC 6455 7.4.1): a close without one.
        ServerFrame::Close(None | Some(1005 | 1006 | 1015)) => Message::Close(None),
        ServerFrame::Close(Some(code)) => Message::Close(Some(CloseFrame {
            code: CloseCode::from(*code),
            reason: "".into(),
        })),
    }
}

/// Serves one attempt on an upgraded WebSocket: each step when due, the
/// client's data frames counted as they come. Frames recorded after a close
/// frame (the server's own, or the library's answer to the client's) are
/// written raw, as the recorded server did: the library refuses to. Returns
/// the steps done, the client's data frames and how it ended.
pub async fn serve_attempt<S>(
    mut ws: WebSocketStream<S>,
    attempt: &AttemptScript,
    timing: Timing,
    speed: f64,
    mut stopped: watch::Receiver<bool>,
) -> (usize, usize, ServedEnd)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let opened = Instant::now();
    let mut run = AttemptRun::new(attempt, timing, speed);
    let mut close_by: Option<Instant> = None;
    // Whether the client's side is still read: not once it ended after a
    // close, while frames recorded after that close are still due.
    let mut reading = true;
    let outcome = |run: &AttemptRun<'_>, end| (run.done(), run.client_frames(), end);
    loop {
        let now = opened.elapsed();
        while let Some(act) = run.take_due(now) {
            match act {
                Act::Send(frame) => {
                    if send(&mut ws, frame).await.is_err() {
                        return outcome(&run, ServedEnd::ClientLeft);
                    }
                    if matches!(frame, ServerFrame::Close(_)) {
                        close_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
                // The stream drops here: TCP ends with no close frame.
                Act::Cut => return outcome(&run, ServedEnd::Complete),
            }
        }
        let due = match run.due() {
            Due::At(at) => Some(opened + at),
            Due::Client | Due::Done => None,
        };
        // A step still due after the close keeps the connection past the
        // close's grace; with none, the grace ends it.
        let wake = due.or(close_by);
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return outcome(&run, ServedEnd::Stopped),
            _ = sleep_until(wake) => {
                if due.is_none() && close_by.is_some_and(|t| t <= Instant::now()) {
                    return outcome(&run, end_of(&run));
                }
            }
            read = ws.next(), if reading => match read {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    run.client_frame(opened.elapsed());
                }
                // Pings and the client's close are answered by the library.
                Some(Ok(_)) => {}
                Some(Err(_)) | None if close_by.is_some() && due.is_some() => reading = false,
                Some(Err(_)) | None => return outcome(&run, end_of(&run)),
            },
        }
    }
}

/// Sends `frame`; after a close frame, as a raw frame on the stream.
async fn send<S>(ws: &mut WebSocketStream<S>, frame: &ServerFrame) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match ws.send(message(frame)).await {
        Ok(()) => Ok(()),
        // Closed by us, or the close handshake is over: the library is done
        // with the stream, the client may not be.
        Err(
            tungstenite::Error::Protocol(ProtocolError::SendAfterClosing)
            | tungstenite::Error::AlreadyClosed
            | tungstenite::Error::ConnectionClosed,
        ) => {
            let (payload, opcode) = match frame {
                ServerFrame::Text(t) => (t.as_bytes().to_vec(), Data::Text),
                ServerFrame::Binary(b) => (b.clone(), Data::Binary),
                ServerFrame::Ping => {
                    let mut raw = Vec::new();
                    Frame::ping(Vec::new()).format(&mut raw).map_err(drop)?;
                    return write_raw(ws, &raw).await;
                }
                // A second close is the library's to send, or not.
                ServerFrame::Close(_) => return Ok(()),
            };
            let mut raw = Vec::with_capacity(payload.len() + 10);
            Frame::message(payload, OpCode::Data(opcode), true)
                .format(&mut raw)
                .map_err(drop)?;
            write_raw(ws, &raw).await
        }
        Err(_) => Err(()),
    }
}

async fn write_raw<S>(ws: &mut WebSocketStream<S>, raw: &[u8]) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = ws.get_mut();
    stream.write_all(raw).await.map_err(drop)?;
    stream.flush().await.map_err(drop)
}

fn end_of(run: &AttemptRun<'_>) -> ServedEnd {
    if run.due() == Due::Done {
        ServedEnd::Complete
    } else {
        ServedEnd::ClientLeft
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
