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
            info.name = "=HYPERLINK(\"http://evil.test\",\"x\")".into();
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
