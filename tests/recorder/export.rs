//! Exports of a past session: Jaeger JSON, OTLP JSON, transitions CSV.

use std::collections::HashMap;

use serde_json::Value;
use sockscope_engine::Event;
use sockscope_recorder::export::{self, JaegerFile, OtlpFile, TRANSITIONS_CSV_HEADER};
use sockscope_recorder::trace::{TraceBuilder, hex};
use sockscope_recorder::{EventRecord, RecordReader};
use sockscope_test_support::bounded;

use crate::support::{config, record};
use crate::synthetic::socket_life;

fn two_lives_one_unfinished() -> Vec<Event> {
    let mut all = socket_life(1, 0, 20, None);
    let mut second = socket_life(2, 5, 20, None);
    // Socket 2 is still Ready when the session ends.
    let cut = second
        .iter()
        .rposition(|e| matches!(&e.kind, sockscope_engine::EventKind::Transition { to, .. } if to.name() == sockscope_engine::StateName::Ready))
        .unwrap();
    second.truncate(cut + 3);
    all.extend(second);
    all.sort_by_key(|e| e.mono);
    all
}

#[tokio::test]
async fn a_past_session_exports_as_jaeger_otlp_json_and_csv() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let events = two_lives_one_unfinished();
        let (summary, ..) = record(config(&path), events.clone()).await;
        let session = summary.session;
        let reader = RecordReader::open(&path).unwrap();

        // What the live path would have sent, ids included.
        let mut live = Vec::new();
        let mut b = TraceBuilder::new(session);
        for e in &events {
            b.push(&EventRecord::from_event(e, None), &mut live);
        }
        let live_ids: HashMap<String, String> = live
            .iter()
            .map(|s| (hex(&s.span_id), s.name.clone()))
            .collect();

        // Jaeger.
        let mut out = Vec::new();
        export::write_jaeger(&reader, session.id, "sockscope", &mut out).unwrap();
        let typed: JaegerFile = serde_json::from_slice(&out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "one trace per socket");
        for t in data {
            let trace_id = t["traceID"].as_str().unwrap();
            assert_eq!(trace_id.len(), 32);
            assert_eq!(t["processes"]["p1"]["serviceName"], "sockscope");
            let spans = t["spans"].as_array().unwrap();
            let root = spans
                .iter()
                .find(|s| s["references"].as_array().unwrap().is_empty())
                .unwrap();
            assert!(
                root["operationName"]
                    .as_str()
                    .unwrap()
                    .starts_with("socket job socket")
            );
            assert_eq!(root["duration"], 0);
            for s in spans.iter().filter(|s| s["spanID"] != root["spanID"]) {
                assert_eq!(s["traceID"], trace_id);
                let r = &s["references"][0];
                assert_eq!(
                    (r["refType"].as_str(), &r["spanID"]),
                    (Some("CHILD_OF"), &root["spanID"])
                );
                assert_eq!(s["processID"], "p1");
                assert!(
                    s["startTime"].as_i64().unwrap() >= 1_800_000_000_000_000,
                    "µs since the epoch"
                );
            }
        }
        let t1 = &typed
            .data
            .iter()
            .find(|t| {
                t.spans
                    .iter()
                    .any(|s| s.operation_name == "socket job socket 1")
            })
            .unwrap();
        let ready = t1
            .spans
            .iter()
            .find(|s| s.operation_name == "Ready")
            .unwrap();
        assert_eq!(
            ready
                .logs
                .iter()
                .filter(|l| l.fields[0].value
                    == sockscope_recorder::trace::AttrValue::Str("frame".into()))
                .count(),
            20
        );
        assert!(t1.spans.iter().any(|s| s.operation_name == "Closed"));

        // OTLP JSON: same spans, same ids as live.
        let mut out = Vec::new();
        export::write_otlp_json(&reader, session.id, "sockscope", &mut out).unwrap();
        let _typed: OtlpFile = serde_json::from_slice(&out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let rs = &v["resourceSpans"][0];
        assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
        assert_eq!(
            rs["resource"]["attributes"][0]["value"]["stringValue"],
            "sockscope"
        );
        let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
        let total_jaeger: usize = data
            .iter()
            .map(|t| t["spans"].as_array().unwrap().len())
            .sum();
        assert_eq!(spans.len(), total_jaeger);
        for s in spans {
            let id = s["spanId"].as_str().unwrap();
            if let Some(name) = live_ids.get(id) {
                assert_eq!(s["name"].as_str(), Some(name.as_str()));
            }
            assert!(
                s["startTimeUnixNano"]
                    .as_str()
                    .unwrap()
                    .parse::<i64>()
                    .is_ok(),
                "ns as strings"
            );
            assert_eq!(s["kind"], 1);
        }
        // The unfinished interval of socket 2 ends at the session's end.
        let unfinished: Vec<&Value> = spans
            .iter()
            .filter(|s| {
                s["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["key"] == "sockscope.unfinished")
            })
            .collect();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0]["name"], "Ready");
        let failed_connect =
            spans
                .iter()
                .find(|s| {
                    s["attributes"].as_array().unwrap().iter().any(|a| {
                        a["key"] == "error.type" && a["value"]["stringValue"] == "io_refused"
                    })
                })
                .unwrap();
        assert_eq!(failed_connect["status"]["code"], 2);
        let port = spans[0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "server.port")
            .unwrap();
        assert_eq!(port["value"]["intValue"], "8443");

        // CSV of transitions.
        let mut out = Vec::new();
        export::write_transitions_csv(&reader, session.id, &mut out).unwrap();
        let csv = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], TRANSITIONS_CSV_HEADER);
        let transitions = events
            .iter()
            .filter(|e| matches!(e.kind, sockscope_engine::EventKind::Transition { .. }))
            .count();
        assert_eq!(lines.len() - 1, transitions);
        let first: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(first.len(), TRANSITIONS_CSV_HEADER.split(',').count());
        assert_eq!(&first[1..3], ["1", "job socket 1"]);
        assert_eq!(&first[7..11], ["Idle", "Connecting", "1", "start"]);
        assert!(
            first[6].starts_with("2027-01-15T08:00:00.001"),
            "{}",
            first[6]
        );
        let failed = lines
            .iter()
            .find(|l| l.contains("handshake_failed"))
            .unwrap();
        assert!(failed.contains("io_refused"));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Closed") && l.contains("job_finished"))
        );
    })
    .await
}

#[tokio::test]
async fn exporting_an_unknown_session_is_an_error() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        record(config(&path), Vec::new()).await;
        let reader = RecordReader::open(&path).unwrap();
        let err = export::write_jaeger(&reader, 999, "sockscope", Vec::new()).unwrap_err();
        assert!(
            matches!(err, sockscope_recorder::Error::UnknownSession(999)),
            "{err}"
        );
    })
    .await
}

#[tokio::test]
async fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        // Socket names and job ids can come from the server.
        let mut events = socket_life(1, 0, 2, None);
        if let sockscope_engine::EventKind::SocketAdded(info) = &mut events[0].kind {
            std::sync::Arc::make_mut(info).name = "=HYPERLINK(\"http://evil.test\",\"x\")".into();
        }
        let (summary, ..) = record(config(&path), events).await;
        let reader = RecordReader::open(&path).unwrap();
        let mut out = Vec::new();
        export::write_transitions_csv(&reader, summary.session.id, &mut out).unwrap();
        let csv = String::from_utf8(out).unwrap();
        let row = csv.lines().nth(1).unwrap();
        assert!(
            row.contains(r#","'=HYPERLINK(""http://evil.test"",""x"")","#),
            "{row}"
        );
        for line in csv.lines() {
            for cell in line.split(',') {
                let cell = cell.trim_start_matches('"');
                assert!(!cell.starts_with(['=', '+', '-', '@']), "{line}");
            }
        }
    })
    .await
}

/// Breaks the session's last event so that reading it fails: an export
/// then fails after it has written most of its output.
fn break_last_event(db: &std::path::Path) {
    crate::support::raw(db)
        .execute(
            "UPDATE events SET kind = 'bogus' WHERE id = (SELECT max(id) FROM events)",
            [],
        )
        .unwrap();
}

#[tokio::test]
async fn a_failed_export_leaves_no_file_and_an_old_one_intact() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        let (summary, ..) = record(config(&db), socket_life(1, 0, 5000, None)).await;
        let session = summary.session.id;
        let out_dir = dir.path().join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let reader = RecordReader::open(&db).unwrap();
        for format in [
            export::Format::Jaeger,
            export::Format::Otlp,
            export::Format::Csv,
        ] {
            let out = out_dir.join(format!("s.{}", format.file_suffix()));
            export::write_file(&reader, session, format, "sockscope", &out).unwrap();
            assert!(std::fs::metadata(&out).unwrap().len() > 0);
            std::fs::remove_file(&out).unwrap();
        }
        break_last_event(&db);
        let reader = RecordReader::open(&db).unwrap();
        let listing = || {
            let mut names: Vec<String> = std::fs::read_dir(&out_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        for format in [
            export::Format::Jaeger,
            export::Format::Otlp,
            export::Format::Csv,
        ] {
            // No file before: none after.
            let out = out_dir.join(format!("new.{}", format.file_suffix()));
            let err = export::write_file(&reader, session, format, "sockscope", &out).unwrap_err();
            assert!(
                matches!(err, sockscope_recorder::Error::Malformed(_)),
                "{format:?}: {err}"
            );
            assert!(listing().is_empty(), "{format:?} left {:?}", listing());
            // A file already there stays as it was.
            let old = out_dir.join(format!("old.{}", format.file_suffix()));
            std::fs::write(&old, b"the previous export").unwrap();
            export::write_file(&reader, session, format, "sockscope", &old).unwrap_err();
            assert_eq!(std::fs::read(&old).unwrap(), b"the previous export");
            std::fs::remove_file(&old).unwrap();
            assert!(listing().is_empty(), "{format:?} left {:?}", listing());
        }
        // An unknown session fails before anything is read: same outcome.
        let old = out_dir.join("old.csv");
        std::fs::write(&old, b"kept").unwrap();
        export::write_file(&reader, 999, export::Format::Csv, "sockscope", &old).unwrap_err();
        assert_eq!(std::fs::read(&old).unwrap(), b"kept");
    })
    .await
}

/// [`two_lives_one_unfinished`], recorded, then exported by `write` as JSON.
async fn export_two_lives(
    write: fn(&RecordReader, i64, &mut Vec<u8>) -> Result<(), sockscope_recorder::Error>,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.db");
    let (summary, ..) = record(config(&path), two_lives_one_unfinished()).await;
    let reader = RecordReader::open(&path).unwrap();
    let mut out = Vec::new();
    write(&reader, summary.session.id, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// `(name, ts, dur)` of a track's state slices, in time order.
fn slices(events: &[Value], tid: u64) -> Vec<(String, f64, f64)> {
    let mut out: Vec<(String, f64, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["tid"] == tid)
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

#[tokio::test]
async fn a_session_exports_as_a_perfetto_trace_with_a_track_per_socket() {
    bounded(async {
        let v = export_two_lives(|r, s, o| export::write_perfetto(r, s, o)).await;
        assert_eq!(v["displayTimeUnit"], "ms");
        let events = v["traceEvents"].as_array().unwrap();
        let thread_names: Vec<u64> = events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| e["tid"].as_u64().unwrap())
            .collect();
        assert_eq!(thread_names, [1, 2], "one named track per socket");

        // Socket 1: its states as back-to-back slices, its end an instant.
        let one = slices(events, 1);
        let names: Vec<&str> = one.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "Idle",
                "Connecting",
                "AwaitingReady",
                "Ready",
                "Backoff",
                "Connecting",
                "Backoff",
                "Connecting",
                "AwaitingReady",
                "Ready",
                "Closing"
            ]
            .into_iter()
            .skip(1)
            .collect::<Vec<_>>()
        );
        for w in one.windows(2) {
            let end = w[0].1 + w[0].2;
            assert!((end - w[1].1).abs() < 1e-6, "a gap between {w:?}");
        }
        let closed: Vec<&Value> = events
            .iter()
            .filter(|e| e["ph"] == "i" && e["tid"] == 1 && e["cat"] == "state")
            .collect();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0]["name"], "Closed");

        // A flow from each attempt to the next, bound to its Connecting slice.
        let connecting: Vec<f64> = one
            .iter()
            .filter(|s| s.0 == "Connecting")
            .map(|s| s.1)
            .collect();
        let flow = |ph: &str| -> Vec<(u64, f64)> {
            events
                .iter()
                .filter(|e| e["ph"] == ph && e["tid"] == 1)
                .map(|e| (e["id"].as_u64().unwrap(), e["ts"].as_f64().unwrap()))
                .collect()
        };
        let (starts, ends) = (flow("s"), flow("f"));
        assert_eq!(starts.len(), 2);
        assert_eq!(ends.len(), 2);
        for (i, ((sid, sts), (fid, fts))) in starts.iter().zip(&ends).enumerate() {
            assert_eq!(sid, fid);
            assert_eq!(*sts, connecting[i]);
            assert_eq!(*fts, connecting[i + 1]);
        }

        // Frames, findings, progress and the engine-wide wake.
        let on_one = |cat: &str| {
            events
                .iter()
                .filter(|e| e["ph"] == "i" && e["tid"] == 1 && e["cat"] == cat)
                .count()
        };
        assert_eq!(on_one("frame"), 21, "the ready out, 20 progress in");
        assert_eq!(on_one("finding"), 2);
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "C" && e["tid"] == 1 && e["args"]["processed"] == 20)
        );
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "i" && e["s"] == "g" && e["name"] == "wake")
        );

        // Socket 2 was still Ready at the end: its slice runs to the trace's end.
        let two = slices(events, 2);
        assert_eq!(two.last().unwrap().0, "Ready");
        let last_ts = events
            .iter()
            .filter_map(|e| e["ts"].as_f64())
            .fold(0.0, f64::max);
        let (_, ts, dur) = two.last().unwrap();
        assert!((ts + dur - last_ts).abs() < 1e-6);
    })
    .await;
}

#[tokio::test]
async fn a_session_exports_as_har_with_an_entry_per_connection_attempt() {
    bounded(async {
        let v = export_two_lives(|r, s, o| export::write_har(r, s, o)).await;
        assert_eq!(v["log"]["version"], "1.2");
        let entries = v["log"]["entries"].as_array().unwrap();
        let of = |socket: u64| -> Vec<&Value> {
            entries
                .iter()
                .filter(|e| e["_sockscope"]["socket"] == socket)
                .collect()
        };
        let (one, two) = (of(1), of(2));
        assert_eq!(one.len(), 3, "socket 1 tried three times");
        assert_eq!(two.len(), 3, "socket 2 too, its last still Ready");
        for e in entries {
            assert_eq!(e["_resourceType"], "websocket");
            assert!(e["request"]["url"].as_str().unwrap().starts_with("ws"));
            assert_eq!(e["request"]["method"], "GET");
        }
        let started: Vec<&str> = entries
            .iter()
            .map(|e| e["startedDateTime"].as_str().unwrap())
            .collect();
        let mut sorted = started.clone();
        sorted.sort();
        assert_eq!(started, sorted, "entries in start order");

        // Attempt 1: upgraded, the ready out and 20 frames in, lost with 1006.
        let a1 = one[0];
        assert_eq!(a1["response"]["status"], 101);
        let msgs = a1["_webSocketMessages"].as_array().unwrap();
        assert_eq!(msgs.len(), 21);
        assert_eq!(msgs[0]["type"], "send");
        assert!(msgs[0]["data"].as_str().unwrap().contains("\"ready\""));
        assert!(msgs[1..].iter().all(|m| m["type"] == "receive"));
        assert!(msgs.iter().all(|m| m["opcode"] == 1));
        let times: Vec<f64> = msgs.iter().map(|m| m["time"].as_f64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times[0] > 1.0e9, "epoch seconds");
        // Some progress payloads were never captured; those say so.
        let (captured, missing): (Vec<&Value>, Vec<&Value>) =
            msgs[1..].iter().partition(|m| m.get("_payload").is_none());
        assert!(!captured.is_empty() && !missing.is_empty());
        assert!(
            captured
                .iter()
                .all(|m| !m["data"].as_str().unwrap().is_empty())
        );
        assert!(
            missing
                .iter()
                .all(|m| m["_payload"] == "not captured" && m["_size"].is_u64())
        );
        assert_eq!(a1["_closeCode"], 1006);
        assert_eq!(a1["_sockscope"]["end_state"], "Backoff");

        // Attempt 2: the handshake was refused: no upgrade, the error named.
        let a2 = one[1];
        assert_eq!(a2["response"]["status"], 0);
        assert!(a2["_webSocketMessages"].as_array().unwrap().is_empty());
        assert!(a2["_error"].as_str().unwrap().contains("io"), "{a2}");

        // Attempt 3: closed by the server with 1000.
        let a3 = one[2];
        assert_eq!(a3["response"]["status"], 101);
        assert_eq!(a3["_closeCode"], 1000);
        assert_eq!(a3["_closedBy"], "peer");
        assert_eq!(a3["_sockscope"]["end_state"], "Closed");

        // Socket 2 never ended.
        assert_eq!(two[2]["_sockscope"]["still_open"], true);
        assert_eq!(two[1]["_sockscope"]["still_open"], false);
    })
    .await;
}
