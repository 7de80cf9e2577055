//! Bad input from a real peer: malformed JSON, an oversized frame and a
//! binary frame each give a finding and the connection is kept; invalid UTF-8
//! fails the connection with 1007 (RFC 6455) and the resume loses nothing.
//! The peer is a hand-written server, since the simulator always behaves.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope_engine::event::{EventKind, FindingClass, StateName};
use sockscope_engine::{Engine, EngineConfig, SocketConfig};
use sockscope_test_support::{bounded, within};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

async fn wait_for_ready(ws: &mut WebSocketStream<TcpStream>) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"ready\"") => return t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("client went away: {other:?}"),
        }
    }
}

/// First connection: bad frames between good ones, then invalid UTF-8.
/// Second connection: the resume, and the job's end.
async fn misbehaving_server(listener: TcpListener, big: usize) -> (Option<u16>, String) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    wait_for_ready(&mut ws).await;
    let ack = r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#;
    ws.send(Message::text(ack)).await.unwrap();
    ws.send(Message::text("this is not json")).await.unwrap();
    ws.send(Message::text("x".repeat(big))).await.unwrap();
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    let started = r#"{"v":1,"type":"job_started","seq":1,"payload":{"totalCount":5}}"#;
    ws.send(Message::text(started)).await.unwrap();
    // A text frame whose payload is not UTF-8: tungstenite will not build
    // one, so write the unmasked server frame by hand.
    ws.get_mut()
        .write_all(&[0x81, 0x02, 0xff, 0xfe])
        .await
        .unwrap();
    let mut close_code = None;
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Close(Some(f)) = m {
            close_code = Some(u16::from(f.code));
        }
    }
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let ready = wait_for_ready(&mut ws).await;
    let ack = r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":1,"replayed":0}}"#;
    ws.send(Message::text(ack)).await.unwrap();
    let done = r#"{"v":1,"type":"job_complete","seq":2,"payload":{"processedCount":5,"totalCount":5,"result":{}}}"#;
    ws.send(Message::text(done)).await.unwrap();
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    (close_code, ready)
}

#[tokio::test]
async fn malformed_frames_are_findings_and_the_connection_is_kept() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let limit = 64 * 1024;
        let server = tokio::spawn(misbehaving_server(listener, limit * 2));
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let mut events = engine.subscribe_lossless(1024);
        let mut cfg = SocketConfig::job(format!("ws://127.0.0.1:{port}/ws/progress?jobId=j1"));
        cfg.max_message_size = limit;
        let s = engine.add_socket(&cfg).unwrap();
        let mut errors = Vec::new();
        let mut states = Vec::new();
        let mut progress = Vec::new();
        loop {
            let e = within(Duration::from_secs(10), "the job to finish", events.recv())
                .await
                .unwrap();
            if std::env::var_os("SOCKSCOPE_TEST_TRACE").is_some() {
                eprintln!("event {:?}", e.kind);
            }
            match &e.kind {
                EventKind::Finding(f) if f.class == FindingClass::ProtocolError => {
                    errors.push(f.detail.split(':').next().unwrap_or_default().to_owned());
                }
                EventKind::Transition { to, .. } => {
                    states.push(to.name());
                    if to.is_terminal() {
                        break;
                    }
                }
                EventKind::Progress(p) => progress.push((p.processed, p.total)),
                _ => {}
            }
        }
        assert_eq!(
            errors,
            [
                "invalid_json",
                "oversized_frame",
                "invalid_utf8",
                "invalid_utf8"
            ],
            "one finding per bad frame"
        );
        // Kept through the first three; the invalid UTF-8 failed the
        // connection, and the resume finished the job.
        assert_eq!(progress, [(0, 5), (5, 5)]);
        assert_eq!(
            states,
            [
                StateName::Connecting,
                StateName::AwaitingReady,
                StateName::Ready,
                StateName::Backoff,
                StateName::Connecting,
                StateName::AwaitingReady,
                StateName::Ready,
                StateName::Closing,
                StateName::Closed
            ]
        );
        let (close_code, second_ready) =
            within(Duration::from_secs(5), "the server to finish", server)
                .await
                .unwrap();
        assert_eq!(close_code, Some(1007));
        assert!(second_ready.contains(r#""resumeFrom":1"#), "{second_ready}");
        assert!(s.snapshot().state.is_terminal());
    })
    .await;
}
