//! Captures in: HAR files become sessions, their frames and the observer's
//! findings. A round trip through the HAR export, a planted race, and a
//! corpus of broken files.

use std::path::Path;

use serde_json::{Value, json};
use sockscope_core::capture::har::MAX_MESSAGE_BYTES;
use sockscope_core::capture::{ImportOptions, import_har};
use sockscope_core::scenario;
use sockscope_recorder::{EventBody, RecordReader, export};
use sockscope_test_support::bounded;

/// Every event of a session.
pub(crate) fn events(db: &Path, session: i64) -> Vec<sockscope_recorder::EventRecord> {
    let reader = RecordReader::open(db).unwrap();
    let mut out = Vec::new();
    reader
        .for_each_event(session, |e| {
            out.push(e);
            Ok(())
        })
        .unwrap();
    out
}

/// Per socket, in socket order: its data frames as (direction, payload).
fn data_frames(db: &Path, session: i64) -> Vec<Vec<(String, Option<String>)>> {
    let mut by_socket: std::collections::BTreeMap<u64, Vec<(String, Option<String>)>> =
        Default::default();
    for e in events(db, session) {
        if let EventBody::Frame(f) = e.body
            && (f.opcode == "text" || f.opcode == "binary")
        {
            by_socket
                .entry(e.socket_id)
                .or_default()
                .push((f.direction, f.payload));
        }
    }
    by_socket.into_values().collect()
}

pub(crate) fn findings(db: &Path, session: i64) -> Vec<(String, String)> {
    events(db, session)
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Finding(f) => Some((f.class, f.side)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_recorded_session_goes_out_as_har_and_comes_back_the_same() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.db");
        let report = scenario::run_recorded("abrupt-drop-then-resume", &first)
            .await
            .unwrap();
        assert!(report.passed(), "{report}");
        let session = report.recording.unwrap().session_id;
        let har = dir.path().join("out.har");
        let reader = RecordReader::open(&first).unwrap();
        export::write_file(&reader, session, export::Format::Har, "sockscope", &har).unwrap();

        let second = dir.path().join("second.db");
        let imported = import_har(&har, &second, ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(imported.lanes, 1, "{imported:?}");
        assert!(
            imported.attempts >= 2,
            "the drop made a second attempt: {imported:?}"
        );

        // The same data frames, in the same order, with the same payloads
        // wherever the first recording captured one.
        let before = data_frames(&first, session);
        let after = data_frames(&second, imported.session_id);
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b.len(), a.len());
            for (x, y) in b.iter().zip(a) {
                assert_eq!(x.0, y.0, "direction");
                if x.1.is_some() {
                    assert_eq!(x.1, y.1, "payload");
                }
            }
        }
        // The engine held back every early send, so the observer, reading
        // the job protocol, finds no client race in what went on the wire.
        let found = findings(&second, imported.session_id);
        assert!(
            !found.iter().any(|(c, _)| c == "client_send_before_ready"),
            "{found:?}"
        );
        // The lane was read as the job protocol and went Ready on its acks.
        let reader = RecordReader::open(&second).unwrap();
        let sockets = reader.sockets(imported.session_id).unwrap();
        assert_eq!(sockets[0].config.adapter, "job");
        let readies = events(&second, imported.session_id)
            .into_iter()
            .filter(|e| matches!(&e.body, EventBody::Transition(t) if t.to == "Ready"))
            .count();
        assert_eq!(readies, imported.attempts);
    })
    .await;
}

const T0: f64 = 1_800_000_000.0;

pub(crate) fn message(kind: &str, at: f64, data: &str) -> Value {
    json!({ "type": kind, "time": T0 + at, "opcode": 1, "data": data })
}

/// An entry starting `start` s after `T0`, to the ms.
pub(crate) fn ws_entry(url: &str, start: f64, messages: Vec<Value>) -> Value {
    let started =
        export::rfc3339(T0 as i64 * 1_000_000_000 + (start * 1000.0).round() as i64 * 1_000_000);
    json!({
        "startedDateTime": started,
        "time": 5.0,
        "request": { "method": "GET", "url": url, "headers": [] },
        "response": { "status": 101, "headers": [] },
        "timings": { "send": 0.1, "wait": 2.0, "receive": 0 },
        "_resourceType": "websocket",
        "_webSocketMessages": messages,
    })
}

pub(crate) fn har(entries: Vec<Value>) -> Value {
    json!({ "log": { "version": "1.2", "creator": { "name": "test" }, "entries": entries } })
}

const SECRET: &str = "capture-secret-7f3a9c41d2e8";

/// A job-protocol client that pings before the ack, reconnects three
/// times at exactly 1 s, and loses seq 4 across a reconnect; its token is
/// in the URL. An HTTP entry sits between, as in any browser capture.
pub(crate) fn planted() -> Value {
    let url = format!("wss://api.example.com/ws/progress?jobId=j1&token={SECRET}");
    let ready = r#"{"payload":{"resumeFrom":null},"type":"ready","v":1}"#;
    let ack = r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#;
    let ev = |seq: u64| {
        format!(
            r#"{{"v":1,"type":"job_progress","seq":{seq},"payload":{{"processedCount":{seq},"totalCount":9}}}}"#
        )
    };
    let mut entries = vec![ws_entry(
        &url,
        0.0,
        vec![
            message("send", 0.001, ready),
            message(
                "send",
                0.0015,
                r#"{"payload":{"nonce":"early"},"type":"ping","v":1}"#,
            ),
            message("receive", 0.002, ack),
            message("receive", 0.003, &ev(1)),
            message("receive", 0.0035, &ev(2)),
            message("receive", 0.004, &ev(3)),
        ],
    )];
    // The upgrade's headers carry it too.
    entries[0]["request"]["headers"] = json!([
        { "name": "Cookie", "value": format!("sid={SECRET}") },
        { "name": "Authorization", "value": format!("Bearer {SECRET}") },
        { "name": "User-Agent", "value": "planted-agent" },
    ]);
    entries[0]["response"]["headers"] = json!([
        { "name": "Sec-WebSocket-Accept", "value": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
    ]);
    entries.push(json!({
        "startedDateTime": export::rfc3339(((T0 + 0.5) * 1e9) as i64),
        "time": 3.0,
        "request": { "method": "GET", "url": "https://api.example.com/app.js", "headers": [] },
        "response": { "status": 200, "headers": [], "content": { "size": 10, "text": "x".repeat(10) } },
        "timings": { "wait": 1.0 },
    }));
    // Each attempt lasts 5 ms (its `time`); the next starts 1 s after.
    for (i, seqs) in [vec![5, 6], vec![7], vec![8, 9]].into_iter().enumerate() {
        let start = 1.005 * (i as f64 + 1.0);
        let mut msgs = vec![
            message("send", start + 0.001, ready),
            message("receive", start + 0.002, ack),
        ];
        for s in seqs {
            msgs.push(message("receive", start + 0.003, &ev(s)));
        }
        entries.push(ws_entry(&url, start, msgs));
    }
    har(entries)
}

#[tokio::test]
async fn a_planted_race_in_a_har_file_is_found_and_its_token_kept_out() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.har");
        std::fs::write(&file, planted().to_string()).unwrap();
        let db = dir.path().join("rec.db");
        let r = import_har(&file, &db, ImportOptions::default())
            .await
            .unwrap();
        assert_eq!((r.entries, r.attempts, r.lanes), (5, 4, 1), "{r:?}");
        let found = findings(&db, r.session_id);
        let count = |class: &str| found.iter().filter(|(c, _)| c == class).count();
        assert_eq!(count("client_send_before_ready"), 1, "{found:?}");
        assert_eq!(count("token_in_url"), 4, "every attempt's URL: {found:?}");
        assert_eq!(count("seq_gap"), 1, "seq 4 never came: {found:?}");
        assert_eq!(count("reconnect_without_jitter"), 1, "{found:?}");
        for (class, side) in &found {
            let want = if class == "seq_gap" { "peer" } else { "client" };
            assert_eq!(side, want, "{class}");
        }
        // Three reconnects, each a Backoff with its delay; the end is not guessed.
        let all = events(&db, r.session_id);
        let delays: Vec<u64> = all
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::BackoffPlanned(b) => Some((b.delay_ns + 500_000) / 1_000_000),
                _ => None,
            })
            .collect();
        assert_eq!(delays, [1000, 1000, 1000]);
        let last = all
            .iter()
            .rev()
            .find_map(|e| match &e.body {
                EventBody::Transition(t) => Some(t.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(last.to, "Closed");
        assert_eq!(last.reason.as_deref(), Some("capture_ended"));
        // Each attempt's upgrade, the first with its headers, redacted.
        let handshakes: Vec<_> = all
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Handshake(h) => Some(h.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(handshakes.len(), 4);
        let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        assert_eq!(
            handshakes[0].request_headers,
            [
                pair("Cookie", "[REDACTED]"),
                pair("Authorization", "[REDACTED]"),
                pair("User-Agent", "planted-agent"),
            ]
        );
        assert_eq!(handshakes[0].response_headers[0].0, "Sec-WebSocket-Accept");
        // The lane keeps the URL without its query; the token is nowhere.
        let reader = RecordReader::open(&db).unwrap();
        let socket = &reader.sockets(r.session_id).unwrap()[0];
        assert_eq!(socket.config.path, "/ws/progress");
        drop(reader);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "har") {
                continue;
            }
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(SECRET),
                "{} holds the token",
                f.display()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn broken_har_files_get_a_clear_error_naming_the_entry() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let good = ws_entry("ws://h/ws", 0.0, vec![message("receive", 0.001, "hi")]);
        let bad_time = {
            let mut e = good.clone();
            e["startedDateTime"] = json!("yesterday");
            e
        };
        let bad_type = ws_entry("ws://h/ws", 1.0, vec![message("shout", 1.001, "hi")]);
        let oversized = ws_entry(
            "ws://h/ws",
            1.0,
            vec![message(
                "receive",
                1.001,
                &"x".repeat(MAX_MESSAGE_BYTES + 1),
            )],
        );
        let no_url = {
            let mut e = good.clone();
            e["request"] = json!({ "method": "GET" });
            e
        };
        let bad_binary = {
            let mut m = message("receive", 1.001, "not base64!");
            m["opcode"] = 2.into();
            ws_entry("ws://h/ws", 1.0, vec![message("send", 1.0005, "ok"), m])
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("not json", b"this is not json".to_vec(), "not a HAR file"),
            ("no log", br#"{"version": 1}"#.to_vec(), "no `log`"),
            (
                "no entries",
                br#"{"log": {"version": "1.2"}}"#.to_vec(),
                "no `entries`",
            ),
            (
                "entries not a list",
                br#"{"log": {"entries": 3}}"#.to_vec(),
                "not a HAR file",
            ),
            (
                "bad time",
                har(vec![good.clone(), bad_time]).to_string().into_bytes(),
                "entry 1: `startedDateTime`",
            ),
            (
                "bad message type",
                har(vec![good.clone(), bad_type]).to_string().into_bytes(),
                "entry 1: message 0: `type` is `shout`",
            ),
            (
                "bad oversized message",
                har(vec![good.clone(), oversized]).to_string().into_bytes(),
                // The limit's own words: 16 MiB and one byte over it.
                "entry 1: message 0: 16777217 bytes of data, over the limit of 16777216",
            ),
            (
                "bad binary data",
                har(vec![good.clone(), bad_binary]).to_string().into_bytes(),
                "entry 1: message 1: binary data (opcode 2) is not base64",
            ),
            (
                "no url",
                har(vec![no_url]).to_string().into_bytes(),
                "entry 0",
            ),
            (
                "truncated",
                har(vec![good.clone()]).to_string().as_bytes()[..60].to_vec(),
                "EOF",
            ),
            (
                "invalid utf-8",
                {
                    let mut b = har(vec![good.clone()]).to_string().into_bytes();
                    let at = b.windows(2).position(|w| w == b"hi").unwrap();
                    b[at] = 0xff;
                    b
                },
                "entry 0",
            ),
        ];
        for (name, bytes, want) in cases {
            let file = dir.path().join(format!("{}.har", name.replace(' ', "-")));
            std::fs::write(&file, &bytes).unwrap();
            let db = dir.path().join(format!("{}.db", name.replace(' ', "-")));
            let err = import_har(&file, &db, ImportOptions::default())
                .await
                .expect_err(name)
                .to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(
                err.contains(&file.display().to_string()),
                "{name}: names the file: {err}"
            );
            // Which session holds what came before the bad entry, if anything.
            let kept = if name.starts_with("bad ") {
                "what came before it is in session 1 (1 lanes, 1 frames)"
            } else {
                "nothing was stored (session 1 is empty)"
            };
            assert!(err.ends_with(kept), "{name}: {err}");
        }
        // What came before a bad entry is kept, in the session the error names.
        let file = dir.path().join("bad-time.har");
        let db = dir.path().join("kept.db");
        std::fs::write(dir.path().join("other.har"), planted().to_string()).unwrap();
        import_har(&dir.path().join("other.har"), &db, ImportOptions::default())
            .await
            .unwrap();
        let err = import_har(&file, &db, ImportOptions::default())
            .await
            .unwrap_err();
        let sockscope_core::CoreError::Capture { kept, .. } = err else {
            panic!("{err}")
        };
        let session = kept.session_id;
        assert_eq!(session, 2, "{kept:?}");
        assert_eq!(
            data_frames(&db, session),
            [[("in".to_owned(), Some("hi".to_owned()))]]
        );
    })
    .await;
}
