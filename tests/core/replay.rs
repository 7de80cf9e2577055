//! Replay over real loopback sockets: a scenario's recorded socket served
//! again to the engine (the same states and findings), an imported HAR
//! served to a plain client (the same frames in order), and bad input.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope_core::capture::recording_proxy::{RecordOptions, RecordingProxy};
use sockscope_core::capture::replay::{
    ReplayOptions, ReplayServer, Script, ServedEnd, Timing, load_script, load_script_within,
};
use sockscope_core::capture::{ImportOptions, import_har};
use sockscope_core::{CoreError, scenario};
use sockscope_engine::SocketHandle;
use sockscope_engine::event::{EventKind, StateName};
use sockscope_recorder::EventBody;
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::{Harness, bounded, within};
use tokio_tungstenite::tungstenite::Message;

use crate::capture::{events, har, message, planted, ws_entry};
use crate::record::job_through_proxy;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn script(db: &Path, session: i64, sockets: &[&str]) -> Result<Script, CoreError> {
    let db = db.to_owned();
    let sockets: Vec<String> = sockets.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || load_script(&db, session, &sockets))
        .await
        .unwrap()
}

/// `capture` written to a file in `dir` and imported: the database and
/// the session.
async fn imported(dir: &Path, capture: &serde_json::Value) -> (std::path::PathBuf, i64) {
    let file = dir.join("app.har");
    std::fs::write(&file, capture.to_string()).unwrap();
    let db = dir.join("rec.db");
    let r = import_har(&file, &db, ImportOptions::default())
        .await
        .unwrap();
    (db, r.session_id)
}

/// A recorded socket's states and findings, in order.
fn recorded_story(db: &Path, session: i64, socket: u64) -> (Vec<String>, Vec<String>) {
    let mut states = Vec::new();
    let mut found = Vec::new();
    for e in events(db, session)
        .into_iter()
        .filter(|e| e.socket_id == socket)
    {
        match e.body {
            EventBody::Transition(t) => states.push(t.to),
            EventBody::Finding(f) => found.push(f.class),
            _ => {}
        }
    }
    (states, found)
}

/// A socket's states and findings in the harness's log, in order.
fn engine_story(h: &Harness, socket: &SocketHandle) -> (Vec<String>, Vec<String>) {
    let mut states = Vec::new();
    let mut found = Vec::new();
    for e in h.log.iter().filter(|e| e.socket == socket.id()) {
        match &e.kind {
            EventKind::Transition { to, .. } => states.push(to.name().as_str().to_owned()),
            EventKind::Finding(f) => found.push(f.class.as_str().to_owned()),
            _ => {}
        }
    }
    (states, found)
}

/// `script` served to an engine's job socket until it ends: the socket's
/// story, and the replay.
async fn replayed_to_the_engine(script: Script) -> ((Vec<String>, Vec<String>), ReplayServer) {
    let replay = ReplayServer::start(any_port(), script, ReplayOptions::default())
        .await
        .unwrap();
    let mut h = Harness::new().await;
    let job = h.job(JobKind::CsvImport, 30, Faults::default());
    let mut config = h.config(&job);
    config.url = job
        .ws_url
        .replace(&h.sim.addr().to_string(), &replay.local_addr().to_string());
    let socket = h.add(&config);
    h.state(&socket, StateName::Closed).await;
    (engine_story(&h, &socket), replay)
}

/// Each connection got its attempt, complete, and the replay is over.
async fn served_each_once(mut replay: ReplayServer, attempts: u64) {
    for n in 1..=attempts {
        let s = within(
            Duration::from_secs(10),
            "a served connection",
            replay.next_served(),
        )
        .await
        .unwrap();
        assert_eq!((s.connection, s.attempt), (n, n as usize - 1));
        assert_eq!(s.end, ServedEnd::Complete, "{s:?}");
        assert_eq!(s.steps.0, s.steps.1, "{s:?}");
    }
    assert_eq!(replay.next_served().await, None);
}

#[tokio::test]
async fn a_scenario_replayed_to_the_engine_reaches_the_same_states_and_findings() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        // Our own socket against the simulator: a TCP drop after 6 events,
        // then a reconnect that resumes.
        let report = scenario::run_recorded("abrupt-drop-then-resume", &db)
            .await
            .unwrap();
        assert!(report.passed(), "{report}");
        let session = report.recording.unwrap().session_id;
        let recorded = recorded_story(&db, session, 1);
        assert!(
            recorded.1.contains(&"abnormal_close".to_owned()),
            "{recorded:?}"
        );

        let script = script(&db, session, &["1"]).await.unwrap();
        let numbers: Vec<u32> = script.attempts.iter().map(|a| a.number).collect();
        assert_eq!(numbers, [1, 2], "{script:?}");
        let (replayed, replay) = replayed_to_the_engine(script).await;
        assert_eq!(replayed, recorded);
        served_each_once(replay, 2).await;
    })
    .await;
}

#[tokio::test]
async fn a_reconnect_recorded_by_the_proxy_replays_to_the_engine_as_it_ran() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        // The engine through the recording proxy: the simulator cuts the
        // first connection after 3 events; the proxy makes a lane of each.
        let mut h = Harness::new().await;
        let faults = Faults {
            drop_after: Some(3),
            ..Faults::default()
        };
        let (proxy, _, config) = job_through_proxy(&h, &db, 6, faults).await;
        let socket = h.add(&config);
        h.state(&socket, StateName::Closed).await;
        let original = engine_story(&h, &socket);
        assert!(original.0.contains(&"Backoff".to_owned()), "{original:?}");
        let session = proxy.session_id();
        within(
            Duration::from_secs(10),
            "the recording's end",
            proxy.finish(),
        )
        .await
        .unwrap();

        let script = script(&db, session, &["1", "2"]).await.unwrap();
        assert_eq!(script.attempts.len(), 2, "one attempt per lane: {script:?}");
        let (replayed, replay) = replayed_to_the_engine(script).await;
        assert_eq!(replayed, original);
        served_each_once(replay, 2).await;
    })
    .await;
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr) -> Client {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws/progress?jobId=j1"))
        .await
        .unwrap()
        .0
}

async fn texts(ws: &mut Client, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match within(
            Duration::from_secs(10),
            "a frame from the replay",
            ws.next(),
        )
        .await
        {
            Some(Ok(Message::Text(t))) => got.push(t.to_string()),
            Some(Ok(_)) => {}
            other => panic!("the replay ended early: {other:?} after {got:?}"),
        }
    }
    got
}

#[tokio::test]
async fn an_imported_har_replayed_to_a_plain_client_sends_the_same_frames_in_order() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let capture = planted();
        let (db, session) = imported(dir.path(), &capture).await;
        // What the server sent, per attempt, in the file.
        let received: Vec<Vec<String>> = capture["log"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["_webSocketMessages"].as_array())
            .map(|m| {
                m.iter()
                    .filter(|m| m["type"] == "receive")
                    .map(|m| m["data"].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(received.len(), 4);

        let script = script(&db, session, &["1"]).await.unwrap();
        let options = ReplayOptions {
            speed: 10.0,
            ..ReplayOptions::default()
        };
        let mut replay = ReplayServer::start(any_port(), script, options)
            .await
            .unwrap();
        for (i, expected) in received.iter().enumerate() {
            let mut ws = connect(replay.local_addr()).await;
            // The recorded client sent its ready (and, the first time, a
            // ping) before the server's ack: the ack waits for as many.
            ws.send(Message::text(r#"{"v":1,"type":"ready"}"#))
                .await
                .unwrap();
            if i == 0 {
                ws.send(Message::text(r#"{"v":1,"type":"ping"}"#))
                    .await
                    .unwrap();
            }
            // The same bytes: the recorder keeps a JSON payload as it was
            // sent, only secrets masked (these frames hold none).
            let got = texts(&mut ws, expected.len()).await;
            assert_eq!(&got, expected, "attempt {}", i + 1);
            // HAR holds no close: the replay waits for the client's.
            ws.close(None).await.unwrap();
            while let Some(Ok(_)) = ws.next().await {}
            let s = within(
                Duration::from_secs(10),
                "the served report",
                replay.next_served(),
            )
            .await
            .unwrap();
            assert_eq!((s.attempt, s.end), (i, ServedEnd::Complete), "{s:?}");
        }
        // Every attempt served: the replay is over, the port closed.
        assert_eq!(replay.next_served().await, None);
        assert!(
            tokio_tungstenite::connect_async(format!("ws://{}/", replay.local_addr()))
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test]
async fn open_timing_sends_without_waiting_for_the_client_and_an_attempt_can_repeat() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let (db, session) = imported(dir.path(), &planted()).await;
        let script = script(&db, session, &["1"]).await.unwrap();
        let options = ReplayOptions {
            timing: Timing::Open,
            attempt: Some(0),
            ..ReplayOptions::default()
        };
        let replay = ReplayServer::start(any_port(), script, options)
            .await
            .unwrap();
        // The client sends nothing, twice: attempt 1 comes both times.
        for _ in 0..2 {
            let mut ws = connect(replay.local_addr()).await;
            let got = texts(&mut ws, 4).await;
            assert!(got[0].contains("ready_ack"), "{got:?}");
            assert!(got[3].contains("\"seq\":3"), "{got:?}");
        }
        replay.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        // One lane whose server sent nothing.
        let capture = har(vec![ws_entry(
            "ws://a.example/quiet",
            0.0,
            vec![message("send", 0.001, "hello")],
        )]);
        let (db, session) = imported(dir.path(), &capture).await;
        let error = |r: Result<Script, CoreError>| r.unwrap_err().to_string();

        let e = error(script(&db, session + 7, &["1"]).await);
        assert!(e.contains(&format!("no session {}", session + 7)), "{e}");
        let e = error(script(&db, session, &["nope"]).await);
        assert!(
            e.contains("no socket `nope`") && e.contains("a.example/quiet"),
            "{e}"
        );
        let e = error(script(&db, session, &["1"]).await);
        assert!(e.contains("has no frames from the server to replay"), "{e}");
        let e = error(script(&db, session, &[]).await);
        assert!(
            e.contains("name a socket") && e.contains("a.example/quiet"),
            "{e}"
        );
        let e = error(script(&dir.path().join("none.db"), 1, &["1"]).await);
        assert!(e.contains("no database"), "{e}");

        // A session still being recorded.
        let proxy = RecordingProxy::start(
            any_port(),
            "ws://127.0.0.1:9",
            &db,
            RecordOptions::default(),
        )
        .await
        .unwrap();
        let e = error(script(&db, proxy.session_id(), &["1"]).await);
        assert!(e.contains("still being recorded"), "{e}");
        proxy.finish().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sockets_whose_server_payloads_pass_the_limit_are_refused() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        // The server sends three 100-byte texts.
        let text = |n: u32| format!("{{\"pad\":\"{}\",\"n\":{n}}}", "x".repeat(84));
        let sent: Vec<_> = (0..3)
            .map(|n| message("receive", 0.01 * f64::from(n + 1), &text(n)))
            .collect();
        assert_eq!(text(0).len(), 100);
        let capture = har(vec![ws_entry("ws://a.example/big", 0.0, sent)]);
        let (db, session) = imported(dir.path(), &capture).await;
        let load = |max: usize| {
            let db = db.clone();
            tokio::task::spawn_blocking(move || {
                load_script_within(&db, session, &["1".to_owned()], max)
            })
        };
        // 300 bytes fit in 300; 299 do not.
        let script = load(300).await.unwrap().unwrap();
        assert_eq!(script.attempts[0].frames(), 3);
        let e = load(299).await.unwrap().unwrap_err().to_string();
        assert!(
            e.contains("socket 1 of session")
                && e.contains("holds over 299 bytes of server payloads"),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn binary_frames_of_an_imported_har_replay_in_order_with_their_bytes() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let bin = |at: f64, data: &str| {
            let mut m = message("receive", at, data);
            m["opcode"] = 2.into();
            m
        };
        // Base64 of 3, 2 and 1 bytes (padded or not); and a MessagePack
        // `{"token": "s3cr3t"}` whose value is masked byte for byte.
        let sent = vec![
            bin(0.01, "AAEC"),
            message("receive", 0.02, "between"),
            bin(0.03, "AAE="),
            bin(0.04, "/w"),
            bin(0.05, "gaV0b2tlbqZzM2NyM3Q="),
        ];
        let capture = har(vec![ws_entry("ws://a.example/bin", 0.0, sent)]);
        let (db, session) = imported(dir.path(), &capture).await;
        let script = script(&db, session, &["1"]).await.unwrap();
        assert_eq!(
            script.notes.missing_payloads, 0,
            "binary payloads are stored"
        );
        let options = ReplayOptions {
            timing: Timing::Open,
            ..ReplayOptions::default()
        };
        let replay = ReplayServer::start(any_port(), script, options)
            .await
            .unwrap();
        let mut ws = connect(replay.local_addr()).await;
        let mut got = Vec::new();
        while got.len() < 5 {
            match within(Duration::from_secs(10), "a frame", ws.next()).await {
                Some(Ok(Message::Binary(b))) => got.push(format!("{:?}", b.as_ref())),
                Some(Ok(Message::Text(t))) => got.push(t.to_string()),
                Some(Ok(_)) => {}
                other => panic!("the replay ended early: {other:?} after {got:?}"),
            }
        }
        let mut packed = vec![0x81, 0xa5];
        packed.extend(b"token");
        packed.push(0xa6);
        packed.extend(b"******");
        assert_eq!(
            got,
            [
                "[0, 1, 2]".to_owned(),
                "between".to_owned(),
                "[0, 1]".to_owned(),
                "[255]".to_owned(),
                format!("{packed:?}"),
            ]
        );
        replay.stop().await;
    })
    .await;
}
