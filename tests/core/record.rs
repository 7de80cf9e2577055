//! The recording proxy over real loopback sockets: a simulator job
//! recorded through it, a live finding, each conditional fault, the frame
//! limit, and a token in the upgrade URL kept out of the database.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sockscope_core::capture::fault::Fault;
use sockscope_core::capture::recording_proxy::{RecordOptions, RecordingProxy};
use sockscope_engine::TokenPlacement;
use sockscope_engine::event::{EventKind, FindingClass, StateName};
use sockscope_recorder::{EventBody, RecordReader};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::{Harness, bounded, self_signed_tls, within};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::capture::{events, findings};

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

type AppWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One connection the test server accepted: what the app sent through
/// the proxy (`None` once it ended), and a way to send it frames.
struct ServerConn {
    from_app: mpsc::Receiver<Option<Message>>,
    to_app: mpsc::Sender<Message>,
}

impl ServerConn {
    async fn next(&mut self) -> Option<Message> {
        within(Duration::from_secs(10), "a frame at the server", async {
            loop {
                match self.from_app.recv().await.flatten() {
                    Some(Message::Ping(_) | Message::Pong(_)) => {}
                    other => return other,
                }
            }
        })
        .await
    }

    async fn send(&self, text: &str) {
        self.to_app.send(Message::text(text)).await.unwrap();
    }
}

/// A WebSocket server the test drives frame by frame.
async fn test_server() -> (SocketAddr, mpsc::Receiver<ServerConn>) {
    serve_ws(None).await
}

/// [`test_server`], over TLS when given an acceptor (a `wss://` server).
async fn serve_ws(
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, mpsc::Receiver<ServerConn>) {
    let listener = TcpListener::bind(any_port()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (conns_tx, conns) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            match &tls {
                None => {
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        serve_conn(ws, &conns_tx).await;
                    }
                }
                Some(tls) => {
                    let Ok(tcp) = tls.accept(tcp).await else {
                        continue;
                    };
                    if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                        serve_conn(ws, &conns_tx).await;
                    }
                }
            }
        }
    });
    (addr, conns)
}

/// Hands the test a [`ServerConn`] for `ws` and runs it in a task.
async fn serve_conn<S>(ws: WebSocketStream<S>, conns_tx: &mpsc::Sender<ServerConn>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (from_tx, from_app) = mpsc::channel(64);
    let (to_app, mut to_rx) = mpsc::channel::<Message>(64);
    let _ = conns_tx.send(ServerConn { from_app, to_app }).await;
    tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        loop {
            tokio::select! {
                m = to_rx.recv() => match m {
                    Some(m) => { let _ = sink.send(m).await; }
                    // The test dropped its end: the server goes away.
                    None => break,
                },
                m = stream.next() => match m {
                    Some(Ok(m)) => { let _ = from_tx.send(Some(m)).await; }
                    _ => { let _ = from_tx.send(None).await; break; }
                },
            }
        }
    });
}

async fn record(upstream: &str, db: &Path, faults: &[&str]) -> RecordingProxy {
    let options = RecordOptions {
        faults: faults.iter().map(|f| Fault::parse(f).unwrap()).collect(),
        ..RecordOptions::default()
    };
    RecordingProxy::start(any_port(), upstream, db, options)
        .await
        .unwrap()
}

async fn app(proxy: &RecordingProxy, path: &str) -> AppWs {
    app_with_headers(proxy, path, &[]).await
}

/// The app's connection, its upgrade request carrying `headers`.
async fn app_with_headers(
    proxy: &RecordingProxy,
    path: &str,
    headers: &[(&'static str, &str)],
) -> AppWs {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("ws://{}{path}", proxy.local_addr());
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// One connection through a recording proxy in front of [`test_server`]:
/// the database's dir and path, the proxy, the app's end and the server's.
struct Through {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    proxy: RecordingProxy,
    ws: AppWs,
    server: ServerConn,
}

async fn through_proxy(path: &str, headers: &[(&'static str, &str)]) -> Through {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rec.db");
    let (upstream, mut conns) = test_server().await;
    let proxy = record(&format!("ws://{upstream}"), &db, &[]).await;
    let ws = app_with_headers(&proxy, path, headers).await;
    let server = conns.recv().await.unwrap();
    Through {
        _dir: dir,
        db,
        proxy,
        ws,
        server,
    }
}

/// The app's next frame other than a ping or pong; `None` when its
/// connection ended, `Err` text for an end without a close frame.
async fn app_next(ws: &mut AppWs) -> Result<Option<Message>, String> {
    within(Duration::from_secs(10), "a frame at the app", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(m)) => return Ok(Some(m)),
                Some(Err(e)) => return Err(e.to_string()),
                None => return Ok(None),
            }
        }
    })
    .await
}

fn text(m: &Option<Message>) -> &str {
    match m {
        Some(Message::Text(t)) => t.as_str(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn close_code(m: &Option<Message>) -> u16 {
    match m {
        Some(Message::Close(Some(CloseFrame { code, .. }))) => u16::from(*code),
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

/// A finished session's frames as (direction, opcode, close code, payload).
fn frames(db: &Path, session: i64) -> Vec<(String, String, Option<u16>, Option<String>)> {
    events(db, session)
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Frame(f) => Some((f.direction, f.opcode, f.close_code, f.payload)),
            _ => None,
        })
        .collect()
}

fn terminal_reason(db: &Path, session: i64) -> Option<String> {
    events(db, session)
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Transition(t) if t.to == "Closed" => Some(t.reason),
            _ => None,
        })
        .next_back()
        .flatten()
}

/// A recording proxy in front of the harness's simulator, a job of
/// `total` items with `faults`, and its socket config pointed at the proxy.
pub(crate) async fn job_through_proxy(
    h: &Harness,
    db: &Path,
    total: u64,
    faults: Faults,
) -> (
    RecordingProxy,
    sockscope_sim::CreateJobResponse,
    sockscope_engine::SocketConfig,
) {
    let proxy = record(&format!("ws://{}", h.sim.addr()), db, &[]).await;
    let job = h.job(JobKind::CsvImport, total, faults);
    let mut config = h.config(&job);
    config.url = job
        .ws_url
        .replace(&h.sim.addr().to_string(), &proxy.local_addr().to_string());
    (proxy, job, config)
}

#[tokio::test]
async fn a_simulator_job_through_the_proxy_is_a_lane_with_both_sides_and_its_close() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        let mut h = Harness::new().await;
        let (proxy, _, config) = job_through_proxy(&h, &db, 3, Faults::default()).await;
        let socket = h.add(&config);
        h.state(&socket, StateName::Closed).await;
        let session = proxy.session_id();
        let report = within(
            Duration::from_secs(10),
            "the recording's end",
            proxy.finish(),
        )
        .await
        .unwrap();
        assert_eq!((report.session_id, report.connections), (session, 1));

        let reader = RecordReader::open(&db).unwrap();
        let lanes = reader.sockets(session).unwrap();
        assert_eq!(lanes.len(), 1, "{lanes:?}");
        assert_eq!(lanes[0].config.adapter, "job", "told from the first frame");
        assert!(lanes[0].config.name.contains("/ws/progress"), "{lanes:?}");
        let frames = frames(&db, session);
        let has = |dir: &str, ty: &str| {
            events(&db, session).iter().any(|e| {
                matches!(&e.body, EventBody::Frame(f)
                    if f.direction == dir && f.message_type.as_deref() == Some(ty))
            })
        };
        assert!(has("out", "ready"), "{frames:?}");
        assert!(has("in", "ready_ack"), "{frames:?}");
        assert!(has("in", "job_complete"), "{frames:?}");
        // The server closed first with 1000; the app answered.
        let closes: Vec<_> = frames.iter().filter(|f| f.1 == "close").collect();
        assert_eq!(closes[0].0, "in", "{closes:?}");
        assert_eq!(closes[0].2, Some(1000), "{closes:?}");
        let all = events(&db, session);
        let closing = all
            .iter()
            .find_map(|e| match &e.body {
                EventBody::Transition(t) if t.to == "Closing" => Some(t.clone()),
                _ => None,
            })
            .expect("a Closing transition");
        assert_eq!(closing.close_initiator.as_deref(), Some("peer"));
        assert_eq!(closing.close_code, Some(1000));
        assert_eq!(
            terminal_reason(&db, session).as_deref(),
            Some("peer_closed")
        );
        let states: Vec<String> = all
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Transition(t) => Some(t.to.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            states,
            ["Connecting", "AwaitingReady", "Ready", "Closing", "Closed"]
        );
        // Sub-millisecond stamps: not every time is a whole millisecond.
        assert!(
            all.iter().any(|e| e.mono_ns % 1_000_000 != 0),
            "times are finer than a millisecond"
        );
        assert!(
            findings(&db, session).is_empty(),
            "the engine waits for its ack"
        );
    })
    .await;
}

#[tokio::test]
async fn an_app_that_sends_before_the_ack_is_found_live() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        let (upstream, mut conns) = test_server().await;
        let proxy = record(&format!("ws://{upstream}"), &db, &[]).await;
        let mut live = proxy.subscribe_live();
        let mut ws = app(&proxy, "/ws/progress?jobId=j1").await;
        let mut server = conns.recv().await.unwrap();
        ws.send(Message::text(
            r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#,
        ))
        .await
        .unwrap();
        ws.send(Message::text(
            r#"{"v":1,"type":"ping","payload":{"nonce":"early"}}"#,
        ))
        .await
        .unwrap();
        // The server acks only once the early frame is in: the race, for sure.
        server.next().await.unwrap();
        server.next().await.unwrap();
        server
            .send(r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#)
            .await;
        let found = within(Duration::from_secs(10), "the live finding", async {
            loop {
                let e = live.recv().await.unwrap();
                if let EventKind::Finding(f) = &e.kind {
                    break f.clone();
                }
            }
        })
        .await;
        assert_eq!(found.class, FindingClass::ClientSendBeforeReady);
        assert!(found.detail.contains("`ping`"), "{}", found.detail);
        assert_eq!(
            text(&app_next(&mut ws).await.unwrap()),
            r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#
        );
        ws.close(None).await.unwrap();
        while app_next(&mut ws).await.unwrap().is_some() {}
        let session = proxy.session_id();
        proxy.finish().await.unwrap();
        assert_eq!(
            findings(&db, session),
            [("client_send_before_ready".to_owned(), "client".to_owned())]
        );
        assert_eq!(
            terminal_reason(&db, session).as_deref(),
            Some("user_closed")
        );
    })
    .await;
}

/// A proxy with `fault` between an app and the test server, connected.
async fn faulted(fault: &str) -> (tempfile::TempDir, RecordingProxy, AppWs, ServerConn) {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, mut conns) = test_server().await;
    let proxy = record(
        &format!("ws://{upstream}"),
        &dir.path().join("rec.db"),
        &[fault],
    )
    .await;
    let ws = app(&proxy, "/feed").await;
    let server = conns.recv().await.unwrap();
    (dir, proxy, ws, server)
}

/// Ends the recording; returns the proxy_fault findings' details and the session.
async fn faults_found(dir: &tempfile::TempDir, proxy: RecordingProxy) -> (Vec<String>, i64) {
    let session = proxy.session_id();
    within(
        Duration::from_secs(10),
        "the recording's end",
        proxy.finish(),
    )
    .await
    .unwrap();
    let db = dir.path().join("rec.db");
    let details = events(&db, session)
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Finding(f) if f.class == "proxy_fault" => Some(f.detail),
            _ => None,
        })
        .collect();
    (details, session)
}

#[tokio::test]
async fn drop_leaves_out_the_matching_frame_only() {
    bounded(async {
        let (dir, proxy, mut ws, server) = faulted("in:/type=noise:drop").await;
        server.send(r#"{"type":"noise"}"#).await;
        server.send(r#"{"type":"signal"}"#).await;
        assert_eq!(
            text(&app_next(&mut ws).await.unwrap()),
            r#"{"type":"signal"}"#
        );
        drop(ws);
        let (found, session) = faults_found(&dir, proxy).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("drop"), "{found:?}");
        // The dropped frame is still recorded: the server did send it.
        let payloads: Vec<_> = frames(&dir.path().join("rec.db"), session)
            .into_iter()
            .filter_map(|f| f.3)
            .collect();
        assert_eq!(payloads, [r#"{"type":"noise"}"#, r#"{"type":"signal"}"#]);
    })
    .await;
}

#[tokio::test]
async fn delay_holds_the_matching_frame_and_keeps_the_order() {
    bounded(async {
        let (dir, proxy, mut ws, server) = faulted("in:/type=slow:delay=300ms").await;
        let sent = Instant::now();
        server.send(r#"{"type":"slow"}"#).await;
        server.send(r#"{"type":"fast"}"#).await;
        assert_eq!(
            text(&app_next(&mut ws).await.unwrap()),
            r#"{"type":"slow"}"#
        );
        let took = sent.elapsed();
        assert!(took >= Duration::from_millis(300), "held only {took:?}");
        assert_eq!(
            text(&app_next(&mut ws).await.unwrap()),
            r#"{"type":"fast"}"#
        );
        drop(ws);
        let (found, _) = faults_found(&dir, proxy).await;
        assert!(found[0].contains("delay=300ms"), "{found:?}");
    })
    .await;
}

#[tokio::test]
async fn duplicate_sends_the_matching_app_frame_twice() {
    bounded(async {
        let (dir, proxy, mut ws, mut server) = faulted("out:/op=charge:duplicate").await;
        ws.send(Message::text(r#"{"op":"charge"}"#)).await.unwrap();
        ws.send(Message::text(r#"{"op":"other"}"#)).await.unwrap();
        let got: Vec<String> = [
            server.next().await,
            server.next().await,
            server.next().await,
        ]
        .iter()
        .map(|m| text(m).to_owned())
        .collect();
        assert_eq!(
            got,
            [
                r#"{"op":"charge"}"#,
                r#"{"op":"charge"}"#,
                r#"{"op":"other"}"#
            ]
        );
        drop(ws);
        let (found, _) = faults_found(&dir, proxy).await;
        assert_eq!(found.len(), 1, "{found:?}");
    })
    .await;
}

#[tokio::test]
async fn close_sends_both_sides_the_code_after_the_frame() {
    bounded(async {
        let (dir, proxy, mut ws, mut server) = faulted("in:/type=bye:close=4001").await;
        server.send(r#"{"type":"bye"}"#).await;
        assert_eq!(text(&app_next(&mut ws).await.unwrap()), r#"{"type":"bye"}"#);
        assert_eq!(close_code(&app_next(&mut ws).await.unwrap()), 4001);
        assert_eq!(close_code(&server.next().await), 4001);
        while app_next(&mut ws).await.unwrap().is_some() {}
        let (found, session) = faults_found(&dir, proxy).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let db = dir.path().join("rec.db");
        let closing = events(&db, session)
            .into_iter()
            .find_map(|e| match e.body {
                EventBody::Transition(t) if t.to == "Closing" => Some(t),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (closing.close_initiator.as_deref(), closing.close_code),
            (Some("peer"), Some(4001)),
            "the app saw the server close"
        );
    })
    .await;
}

#[tokio::test]
async fn cut_ends_both_tcp_connections_without_a_close_frame() {
    bounded(async {
        let (dir, proxy, mut ws, mut server) = faulted("in:/type=cut:cut").await;
        server.send(r#"{"type":"cut"}"#).await;
        assert_eq!(text(&app_next(&mut ws).await.unwrap()), r#"{"type":"cut"}"#);
        // No close frame: the app's stream just ends (tungstenite calls it a reset).
        let end = app_next(&mut ws).await;
        assert!(
            matches!(&end, Err(_) | Ok(None)),
            "no close frame, no more data: {end:?}"
        );
        assert_eq!(server.next().await, None, "the server's side was cut too");
        let (found, session) = faults_found(&dir, proxy).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let db = dir.path().join("rec.db");
        assert_eq!(
            terminal_reason(&db, session).as_deref(),
            Some("connection_lost")
        );
        assert!(frames(&db, session).iter().all(|f| f.1 != "close"));
    })
    .await;
}

#[tokio::test]
async fn silent_forwards_nothing_more_and_keeps_tcp_open_until_a_side_leaves() {
    bounded(async {
        let (dir, proxy, mut ws, mut server) = faulted("in:/type=hush:silent").await;
        server.send(r#"{"type":"hush"}"#).await;
        assert_eq!(
            text(&app_next(&mut ws).await.unwrap()),
            r#"{"type":"hush"}"#
        );
        // Either way, nothing more goes through.
        ws.send(Message::text("from the app")).await.unwrap();
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        server.send("from the server").await;
        // The server leaves; only then does the app's TCP end, with
        // nothing after the matching frame and no close frame.
        drop(server.to_app);
        let end = app_next(&mut ws).await;
        assert!(
            matches!(&end, Err(_) | Ok(None)),
            "nothing got through: {end:?}"
        );
        loop {
            match server.from_app.recv().await.flatten() {
                None => break,
                Some(Message::Close(_)) => {}
                Some(m) => panic!("the app's {m:?} got through the silence"),
            }
        }
        let (found, session) = faults_found(&dir, proxy).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            terminal_reason(&dir.path().join("rec.db"), session).as_deref(),
            Some("connection_lost")
        );
    })
    .await;
}

#[tokio::test]
async fn a_message_over_the_limit_closes_both_sides_with_1009() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let (upstream, mut conns) = test_server().await;
        let options = RecordOptions {
            max_message_bytes: 1024,
            ..RecordOptions::default()
        };
        let proxy = RecordingProxy::start(
            any_port(),
            &format!("ws://{upstream}"),
            &dir.path().join("rec.db"),
            options,
        )
        .await
        .unwrap();
        let mut ws = app(&proxy, "/big").await;
        let mut server = conns.recv().await.unwrap();
        ws.send(Message::text("x".repeat(4096))).await.unwrap();
        assert_eq!(close_code(&app_next(&mut ws).await.unwrap()), 1009);
        assert_eq!(close_code(&server.next().await), 1009);
        let session = proxy.session_id();
        proxy.finish().await.unwrap();
        let found = findings(&dir.path().join("rec.db"), session);
        assert_eq!(found[0].0, "protocol_error", "{found:?}");
    })
    .await;
}

#[tokio::test]
async fn a_token_in_the_upgrade_url_is_not_stored() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        let mut h = Harness::new().await;
        let (proxy, job, mut config) = job_through_proxy(&h, &db, 2, Faults::default()).await;
        // The simulator takes the token in the query too (legacy backends).
        config.token_placement = TokenPlacement::Query;
        let socket = h.add(&config);
        h.state(&socket, StateName::Closed).await;
        let session = proxy.session_id();
        proxy.finish().await.unwrap();
        let found = findings(&db, session);
        assert!(found.iter().any(|(c, _)| c == "token_in_url"), "{found:?}");
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let token = job.token.as_bytes();
            assert!(
                !bytes.windows(token.len()).any(|w| w == token),
                "{} holds the token",
                path.display()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_wss_upstream_is_recorded_when_its_ca_is_trusted_and_refused_when_not() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        let (tls, pem) = self_signed_tls();
        let (server, mut conns) = serve_ws(Some(tls)).await;
        let upstream = format!("wss://{server}");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &pem).unwrap();

        // Trusted through the CA option: both sides' frames go through.
        let options = RecordOptions {
            upstream_ca: Some(ca.clone()),
            ..RecordOptions::default()
        };
        let proxy = RecordingProxy::start(any_port(), &upstream, &db, options)
            .await
            .unwrap();
        let mut ws = app(&proxy, "/feed").await;
        let mut conn = within(
            Duration::from_secs(10),
            "the TLS server's connection",
            conns.recv(),
        )
        .await
        .unwrap();
        ws.send(Message::text("hello over tls")).await.unwrap();
        assert_eq!(text(&conn.next().await), "hello over tls");
        conn.send("answered over tls").await;
        assert_eq!(text(&app_next(&mut ws).await.unwrap()), "answered over tls");
        ws.close(None).await.unwrap();
        while app_next(&mut ws).await.is_ok_and(|m| m.is_some()) {}
        let trusted = proxy.finish().await.unwrap();
        let texts: Vec<_> = frames(&db, trusted.session_id)
            .into_iter()
            .filter(|f| f.1 == "text")
            .map(|f| (f.0, f.3.unwrap_or_default()))
            .collect();
        assert_eq!(
            texts,
            [
                ("out".to_owned(), "hello over tls".to_owned()),
                ("in".to_owned(), "answered over tls".to_owned())
            ]
        );

        // The OS roots alone do not know the certificate: the upgrade is
        // refused and the lane says why.
        let proxy = record(&upstream, &db, &[]).await;
        let url = format!("ws://{}/feed", proxy.local_addr());
        let refused = tokio_tungstenite::connect_async(url).await.unwrap_err();
        assert!(refused.to_string().contains("502"), "{refused}");
        let untrusted = proxy.finish().await.unwrap();
        let why = events(&db, untrusted.session_id)
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::Transition(t) if t.to == "Closed" => t.cause_detail,
                _ => None,
            })
            .next_back()
            .unwrap_or_default();
        assert!(why.contains("certificate"), "{why}");

        // A CA file that holds no certificate, or one for a ws:// upstream,
        // is refused before anything listens.
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        for (up, file, want) in [
            (upstream.as_str(), &junk, "holds no PEM certificate"),
            ("ws://127.0.0.1:9", &ca, "is for a wss:// upstream"),
        ] {
            let options = RecordOptions {
                upstream_ca: Some(file.clone()),
                ..RecordOptions::default()
            };
            let e = RecordingProxy::start(any_port(), up, &db, options)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(want) && e.contains(&file.display().to_string()),
                "{e}"
            );
        }
    })
    .await;
}

/// A close frame with code 1000 and a text frame, as raw bytes: masked
/// with a zero key (a client's), or unmasked (a server's).
fn close_then_text(text: &str, masked: bool) -> Vec<u8> {
    let mask: &[u8] = if masked { &[0, 0, 0, 0] } else { &[] };
    let bit = if masked { 0x80 } else { 0 };
    let mut out = vec![0x88, bit | 2];
    out.extend_from_slice(mask);
    out.extend_from_slice(&1000u16.to_be_bytes());
    out.extend_from_slice(&[0x81, bit | u8::try_from(text.len()).unwrap()]);
    out.extend_from_slice(mask);
    out.extend_from_slice(text.as_bytes());
    out
}

/// The server closes and then sends a frame: the app gets the close and
/// not the frame, and the session has the finding on the server's side.
#[tokio::test]
async fn a_frame_the_server_sends_after_its_own_close_is_found_and_not_forwarded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        let listener = TcpListener::bind(any_port()).await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            // Waits for the app's first frame, then races it: close, then talk.
            let hello = ws.next().await;
            let tcp = ws.get_mut();
            tcp.write_all(&close_then_text("late", false))
                .await
                .unwrap();
            // Reads until the proxy's close reply and its end.
            let mut sink = Vec::new();
            let _ = tcp.read_to_end(&mut sink).await;
            hello
        });
        let proxy = record(&format!("ws://{upstream}"), &db, &[]).await;
        let mut ws = app(&proxy, "/ws/progress?jobId=j1").await;
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(close_code(&app_next(&mut ws).await.unwrap()), 1000);
        // The app's library answers the close; nothing after it reaches the app.
        assert_eq!(app_next(&mut ws).await, Ok(None));
        let hello = within(Duration::from_secs(10), "the server's end", server)
            .await
            .unwrap();
        assert!(matches!(hello, Some(Ok(Message::Text(t))) if t.as_str() == "hello"));
        let session = proxy.session_id();
        proxy.finish().await.unwrap();
        assert_eq!(
            findings(&db, session),
            [("peer_frame_after_close".to_owned(), "peer".to_owned())]
        );
        // Over ws:// the proxy walked the server's bytes: the frame is named.
        let details: Vec<String> = events(&db, session)
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::Finding(f) => Some(f.detail),
                _ => None,
            })
            .collect();
        assert!(
            details[0].contains("a text frame of 4 bytes"),
            "{details:?}"
        );
        let texts: Vec<_> = frames(&db, session)
            .into_iter()
            .filter_map(|(_, _, _, payload)| payload)
            .collect();
        assert_eq!(texts, ["hello"], "the late frame is not stored as a frame");
    })
    .await;
}

/// The app closes, gets the proxy's answer, and then sends a frame: the
/// server gets the close and not the frame, and the session has the
/// finding on the client's side, live, before the connection ends.
#[tokio::test]
async fn a_frame_the_app_sends_after_its_own_close_is_found_and_not_forwarded() {
    bounded(app_frame_after_close("late", false)).await;
}

/// The app writes its close and a frame in one TCP segment: the proxy's
/// WebSocket library reads both and stops at the close, so only the walk
/// over the app's bytes sees the frame.
#[tokio::test]
async fn a_frame_the_app_sends_in_the_same_segment_as_its_close_is_found() {
    bounded(app_frame_after_close("same segment", true)).await;
}

/// The app sends a close and then `text` (in one write when
/// `same_segment`); the finding names the frame's opcode and size.
async fn app_frame_after_close(text: &str, same_segment: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Through {
        _dir,
        db,
        proxy,
        mut ws,
        mut server,
    } = through_proxy("/ws/progress?jobId=j1", &[]).await;
    // Subscribed before the app closes: nothing is published before then.
    let mut live = proxy.subscribe_live();
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("a plain ws:// connection");
    };
    let bytes = close_then_text(text, true);
    if same_segment {
        tcp.write_all(&bytes).await.unwrap();
    } else {
        let (close, late) = bytes.split_at(8);
        tcp.write_all(close).await.unwrap();
        // The proxy's answer to the close (raw: the app's library never
        // saw its own close go out).
        let mut answer = [0u8; 2];
        within(Duration::from_secs(10), "the proxy's close answer", async {
            tcp.read_exact(&mut answer).await.unwrap();
        })
        .await;
        assert_eq!(answer[0], 0x88, "a close frame first: {answer:?}");
        tcp.write_all(late).await.unwrap();
    }
    match server.next().await {
        Some(Message::Close(Some(CloseFrame { code, .. }))) => {
            assert_eq!(u16::from(code), 1000);
        }
        other => panic!("expected the app's close at the server, got {other:?}"),
    }
    // The finding is live, before the connection ends.
    let found = within(Duration::from_secs(10), "the live finding", async {
        loop {
            if let EventKind::Finding(f) = &live.recv().await.unwrap().kind {
                break f.clone();
            }
        }
    })
    .await;
    assert_eq!(found.class, FindingClass::ClientFrameAfterClose);
    let what = format!("a text frame of {} bytes", text.len());
    assert!(found.detail.contains(&what), "{}", found.detail);
    let session = proxy.session_id();
    drop(ws);
    assert_eq!(
        server.next().await,
        None,
        "the late frame never reaches the server"
    );
    proxy.finish().await.unwrap();
    assert_eq!(
        findings(&db, session),
        [("client_frame_after_close".to_owned(), "client".to_owned())]
    );
    assert!(
        frames(&db, session).iter().all(|f| f.3.is_none()),
        "the late frame is not stored as a frame"
    );
}

/// Binary frames go through unchanged both ways, and are stored as base64
/// with a MessagePack map's `token` value masked byte for byte; the HAR
/// export carries them as DevTools does (opcode 2, base64).
#[tokio::test]
async fn binary_frames_are_forwarded_as_sent_and_stored_with_their_secrets_masked() {
    use base64::Engine as _;
    bounded(async {
        let mut t = through_proxy("/ws/bin", &[]).await;
        // MessagePack {"token": "bin-s3cr3t-77", "n": 7}.
        let mut packed = vec![0x82, 0xa5];
        packed.extend(b"token");
        packed.push(0xad);
        packed.extend(b"bin-s3cr3t-77");
        packed.extend([0xa1, b'n', 0x07]);
        t.ws.send(Message::binary(packed.clone())).await.unwrap();
        match t.server.next().await {
            Some(Message::Binary(b)) => assert_eq!(b.as_ref(), packed.as_slice()),
            other => panic!("expected the app's binary frame, got {other:?}"),
        }
        let reply = vec![0u8, 1, 2, 0xff];
        t.server
            .to_app
            .send(Message::binary(reply.clone()))
            .await
            .unwrap();
        match app_next(&mut t.ws).await {
            Ok(Some(Message::Binary(b))) => assert_eq!(b.as_ref(), reply.as_slice()),
            other => panic!("expected the server's binary frame, got {other:?}"),
        }
        t.ws.close(None).await.unwrap();
        let session = t.proxy.session_id();
        drop(t.ws);
        t.proxy.finish().await.unwrap();

        let b64 = base64::engine::general_purpose::STANDARD;
        let stored: Vec<(String, Vec<u8>)> = frames(&t.db, session)
            .into_iter()
            .filter(|f| f.1 == "binary")
            .map(|(direction, _, _, payload)| (direction, b64.decode(payload.unwrap()).unwrap()))
            .collect();
        let mut masked = packed.clone();
        masked[8..21].fill(b'*');
        assert_eq!(
            stored,
            [
                ("out".to_owned(), masked.clone()),
                ("in".to_owned(), reply.clone())
            ]
        );
        let reader = RecordReader::open(&t.db).unwrap();
        let mut har = Vec::new();
        sockscope_recorder::export::write_har(&reader, session, &mut har).unwrap();
        let har: serde_json::Value = serde_json::from_slice(&har).unwrap();
        let sent: Vec<(String, Vec<u8>)> = har["log"]["entries"][0]["_webSocketMessages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["opcode"] == 2)
            .map(|m| {
                let data = b64.decode(m["data"].as_str().unwrap()).unwrap();
                (m["type"].as_str().unwrap().to_owned(), data)
            })
            .collect();
        assert_eq!(
            sent,
            [("send".to_owned(), masked), ("receive".to_owned(), reply)]
        );
    })
    .await;
}

/// The upgrade is recorded with both sides' headers: the app's request
/// (its `Authorization` and key redacted) and the backend's 101, and the
/// HAR export carries them.
#[tokio::test]
async fn the_upgrade_is_recorded_with_its_headers_redacted() {
    bounded(async {
        let headers = [
            ("authorization", "Bearer hdr-s3cr3t-token"),
            ("x-trace-id", "trace-42"),
        ];
        let mut t = through_proxy("/ws/headers", &headers).await;
        t.ws.send(Message::text("hello")).await.unwrap();
        assert!(matches!(t.server.next().await, Some(Message::Text(_))));
        let session = t.proxy.session_id();
        drop(t.ws);
        t.proxy.finish().await.unwrap();
        let db = t.db;

        let handshakes: Vec<_> = events(&db, session)
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::Handshake(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(handshakes.len(), 1, "{handshakes:?}");
        let h = &handshakes[0];
        assert_eq!(h.status, 101);
        let request = |name: &str| {
            h.request_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(request("authorization"), Some("[REDACTED]"));
        assert_eq!(request("sec-websocket-key"), Some("[REDACTED]"));
        assert_eq!(request("x-trace-id"), Some("trace-42"));
        assert_eq!(request("upgrade"), Some("websocket"));
        assert!(
            h.response_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept")),
            "{h:?}"
        );
        let file = std::fs::read(&db).unwrap();
        assert!(
            !String::from_utf8_lossy(&file).contains("hdr-s3cr3t"),
            "the token is not in the database"
        );

        let reader = RecordReader::open(&db).unwrap();
        let mut har = Vec::new();
        sockscope_recorder::export::write_har(&reader, session, &mut har).unwrap();
        let har: serde_json::Value = serde_json::from_slice(&har).unwrap();
        let entry = &har["log"]["entries"][0];
        assert_eq!(entry["response"]["status"], 101);
        let sent = entry["request"]["headers"].as_array().unwrap();
        assert!(
            sent.contains(&serde_json::json!({"name": "x-trace-id", "value": "trace-42"})),
            "{sent:?}"
        );
    })
    .await;
}
