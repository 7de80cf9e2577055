//! A real browser's capture: Debian's chromium, driven by playwright-core
//! (`tests/servers/browser-har.mjs`), runs a page whose job client sends a
//! `ping` before the simulator's `ready_ack`. The page talks to the
//! simulator through the recording proxy, while two HAR files are recorded:
//! one built from the DevTools Protocol's Network events as DevTools builds
//! it, and playwright's own `recordHar`. The proxy's session and each
//! imported file hold one lane whose frames are the ones the simulator's
//! wire log saw, in order, with the planted race found on the client's side.
//!
//! The browser is required: without chromium and playwright-core this
//! fails, unless `SOCKSCOPE_BROWSERS_OPTIONAL=1` says to skip.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockscope_core::capture::recording_proxy::{RecordOptions, RecordingProxy};
use sockscope_core::capture::{ImportOptions, import_har};
use sockscope_recorder::{EventBody, RecordReader};

use crate::capture::events;
use sockscope_sim::reference::servers_dir;
use sockscope_sim::{Faults, JobKind, Opcode, Sim, SimConfig, WireEvent};
use sockscope_test_support::within;

/// The browser's whole run: start, page, socket, both files.
const BROWSER_RUN: Duration = Duration::from_secs(60);

fn chromium() -> std::path::PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), Into::into)
}

/// Why the browser cannot run here, if it cannot.
fn missing() -> Option<String> {
    let browser = chromium();
    let driver = servers_dir().join("node_modules/playwright-core");
    if !browser.exists() {
        Some(format!(
            "no chromium at {} (apt-get install chromium)",
            browser.display()
        ))
    } else if !driver.is_dir() {
        Some(format!(
            "no {} (npm ci --prefix tests/servers)",
            driver.display()
        ))
    } else {
        None
    }
}

/// The text frames the simulator saw on its one connection, as
/// (direction from the client's side, type), in order.
fn wire_frames(wire: &[WireEvent]) -> Vec<(&'static str, String)> {
    wire.iter()
        .filter_map(|e| match e {
            WireEvent::Received {
                opcode: Opcode::Text,
                kind,
                ..
            } => Some(("out", kind.clone().unwrap_or_default())),
            WireEvent::Sent {
                opcode: Opcode::Text,
                kind,
                ..
            } => Some(("in", kind.clone().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chromium_capture_imports_with_its_frames_and_the_planted_race() {
    if let Some(why) = missing() {
        if std::env::var("SOCKSCOPE_BROWSERS_OPTIONAL").as_deref() == Ok("1") {
            println!("skipped: {why}; SOCKSCOPE_BROWSERS_OPTIONAL=1");
            return;
        }
        panic!("{why}; set SOCKSCOPE_BROWSERS_OPTIONAL=1 to skip the browser test");
    }
    // Deaf for 300 ms after the upgrade: the page's first `ready` and its
    // early `ping` are dropped, and its resent `ready` is acked.
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let faults = Faults {
        ready_deaf_ms: Some(300),
        interval_ms: Some(20),
        ..Faults::default()
    };
    let job = sim.create_job(JobKind::CsvImport, 5, faults).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The page talks to the simulator through the recording proxy.
    let proxy_db = dir.path().join("proxy.db");
    let upstream = format!("ws://{}", sim.addr());
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let proxy = RecordingProxy::start(any_port, &upstream, &proxy_db, RecordOptions::default())
        .await
        .unwrap();
    // A browser cannot set headers on a WebSocket: the token rides in the URL.
    let ws_url = format!("{}&token={}", job.ws_url, job.token)
        .replace(&sim.addr().to_string(), &proxy.local_addr().to_string());
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();

    let options = serde_json::json!({
        "wsUrl": ws_url,
        "out": dir.path(),
        "chromium": chromium(),
    });
    let run = tokio::process::Command::new("node")
        .arg(servers_dir().join("browser-har.mjs"))
        .arg(options.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = within(BROWSER_RUN, "the browser's run", run)
        .await
        .expect("node starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let ended = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(report["page"]["acked"], true, "{report}");
    assert_eq!(
        report["page"]["seen"].as_array().unwrap().last().unwrap(),
        "job_complete"
    );

    // The server's side of the race: the early ping was dropped unread.
    let wire = sim.wire_log();
    assert!(
        wire.iter().any(|e| matches!(e,
            WireEvent::Received { kind: Some(k), deaf: true, .. } if k == "ping")),
        "{wire:#?}"
    );
    let want = wire_frames(&wire);
    assert_eq!(want[1], ("out", "ping".to_owned()), "{want:?}");
    assert_eq!(sim.connections(&job.job_id), 1);

    let run = (started, ended);
    let proxied = within(
        Duration::from_secs(10),
        "the recording's end",
        proxy.finish(),
    )
    .await
    .unwrap();
    assert_eq!(proxied.connections, 1, "{proxied:?}");
    // The proxy saw the close frames too: the server closed first.
    let closed = ["Connecting", "AwaitingReady", "Ready", "Closing", "Closed"];
    check_lane("proxy", &proxy_db, proxied.session_id, &want, run, &closed);
    for (name, entries) in [("devtools.har", 3), ("playwright.har", 2)] {
        let har = dir.path().join(name);
        let db = dir.path().join(format!("{name}.db"));
        let r = import_har(&har, &db, ImportOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The page, (a favicon), and the socket: one lane of one attempt.
        assert_eq!(
            (r.entries, r.attempts, r.lanes),
            (entries, 1, 1),
            "{name}: {r:?}"
        );
        // An end the capture does not hold.
        let states = ["Connecting", "AwaitingReady", "Ready", "Closed"];
        check_lane(name, &db, r.session_id, &want, run, &states);
    }
    // The token stays out of every database.
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap().path();
        if f.to_string_lossy().ends_with(".db") {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&job.token),
                "{} holds the token",
                f.display()
            );
        }
    }
    sim.shutdown().await;
}

/// Checks one session's lane (the proxy's, or an imported file's) against
/// what the simulator's wire log saw (`want`): its dialect and path, its
/// text frames each way in order, the payload of the early ping, its times
/// within the browser's `run` (wall clock), its states, and the findings:
/// the token in the URL and the planted race before the ack, both on the
/// client's side.
fn check_lane(
    name: &str,
    db: &std::path::Path,
    session: i64,
    want: &[(&str, String)],
    run: (Duration, Duration),
    expected_states: &[&str],
) {
    let reader = RecordReader::open(db).unwrap();
    let sockets = reader.sockets(session).unwrap();
    assert_eq!(sockets.len(), 1, "{name}");
    assert_eq!(sockets[0].config.adapter, "job", "{name}");
    assert_eq!(sockets[0].config.path, "/ws/progress", "{name}");
    drop(reader);

    let all = events(db, session);
    // Every text frame, each way in the order the simulator saw it (a
    // resent `ready` may cross the ack, so only each way's order holds).
    let frames: Vec<(&str, String)> = all
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Frame(f) if f.opcode == "text" => Some((
                if f.direction == "out" { "out" } else { "in" },
                f.message_type.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    for way in ["out", "in"] {
        let of = |v: &[(&str, String)]| -> Vec<String> {
            v.iter()
                .filter(|f| f.0 == way)
                .map(|f| f.1.clone())
                .collect()
        };
        assert_eq!(of(&frames), of(want), "{name}: {way}");
    }
    let at = |kind: &str| frames.iter().position(|f| f.1 == kind).unwrap();
    assert!(at("ping") < at("ready_ack"), "{name}: {frames:?}");
    let ping = all
        .iter()
        .find_map(|e| match &e.body {
            EventBody::Frame(f) if f.message_type.as_deref() == Some("ping") => f.payload.clone(),
            _ => None,
        })
        .unwrap();
    // The payload as the page sent it (the recorder keeps JSON as sent,
    // only secrets masked).
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ping).unwrap(),
        serde_json::json!({"v": 1, "type": "ping", "payload": {"nonce": "early"}})
    );
    // Times are the browser's wall clock, within the run.
    for e in &all {
        let at = Duration::from_nanos(u64::try_from(e.wall_ns).unwrap());
        assert!(
            at + Duration::from_secs(1) >= run.0 && at <= run.1 + Duration::from_secs(1),
            "{name}: an event at {at:?}, the run was {run:?}: {e:?}"
        );
    }
    // The lane's states: connecting, the 101, Ready at the ack, its end.
    let states: Vec<&str> = all
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Transition(t) => Some(t.to.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(states, expected_states, "{name}");
    // The planted race, on the client's side, before the ack; and the
    // token in the URL.
    let findings: Vec<(String, String, i64)> = all
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Finding(f) => Some((f.class.clone(), f.side.clone(), e.wall_ns)),
            _ => None,
        })
        .collect();
    let classes: Vec<&str> = findings.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        classes,
        ["token_in_url", "client_send_before_ready"],
        "{name}: {findings:?}"
    );
    assert!(findings.iter().all(|f| f.1 == "client"), "{findings:?}");
    let ack_at = all
        .iter()
        .find_map(|e| match &e.body {
            EventBody::Frame(f) if f.message_type.as_deref() == Some("ready_ack") => {
                Some(e.wall_ns)
            }
            _ => None,
        })
        .unwrap();
    assert!(findings[1].2 < ack_at, "{name}: the race is before the ack");
}
