//! The history commands over a recorded run: sessions, events, timeline and
//! every export format, plus their errors.

use std::path::Path;
use std::process::{Command, Output};

fn sockscope(args: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_recorded_demo_reads_back_through_every_history_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    // Seeded: a random reconnect within one item's time would find the
    // server where it was, with nothing to resync, and no state sync.
    let run = sockscope(
        &[
            "demo",
            "--items",
            "12",
            "--interval-ms",
            "10",
            "--seed",
            "1",
        ],
        &db,
    );
    assert!(run.status.success(), "{}", text(&run));

    let sessions = sockscope(&["sessions"], &db);
    assert!(sessions.status.success(), "{}", text(&sessions));
    let listing = text(&sessions);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("clean")),
        "{listing}"
    );

    let events = sockscope(&["events", "--session", "1", "--socket", "csv_import"], &db);
    let lines = text(&events);
    assert!(events.status.success(), "{lines}");
    assert!(
        lines.contains("csv_import") && !lines.contains("enrichment"),
        "{lines}"
    );
    assert!(lines.contains("send_before_ready_queued"), "{lines}");

    let json = sockscope(&["events", "--session", "1", "--json"], &db);
    assert!(json.status.success());
    let mut kinds = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&json.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        kinds.insert(v["body"]["kind"].as_str().unwrap_or_default().to_owned());
    }
    for k in [
        "socket_added",
        "transition",
        "finding",
        "frame",
        "backoff_planned",
        "state_sync",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }

    let timeline = sockscope(&["timeline", "--session", "1", "--width", "60"], &db);
    let drawn = text(&timeline);
    assert!(timeline.status.success(), "{drawn}");
    for name in ["csv_import", "bookshelf_scan", "enrichment"] {
        let row = drawn
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row:\n{drawn}"));
        assert!(row.contains('=') && row.contains('!'), "{row}");
    }

    for (format, check) in [
        ("jaeger", "\"data\""),
        ("otlp", "\"resourceSpans\""),
        ("csv", "from_state,to_state"),
        ("perfetto", "\"traceEvents\""),
        ("har", "\"_webSocketMessages\""),
    ] {
        let out = dir.path().join(format!("x.{format}"));
        let o = Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args(["export", "--session", "1", "--format", format, "-o"])
            .arg(&out)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let body = std::fs::read_to_string(&out).unwrap();
        assert!(
            body.contains(check),
            "{format}: {}",
            &body[..body.len().min(300)]
        );
    }
}

#[test]
fn history_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let o = sockscope(&["sessions"], &missing);
    assert!(!o.status.success());
    assert!(text(&o).contains("no database at"), "{}", text(&o));

    let db = dir.path().join("e.db");
    let run = sockscope(&["demo", "--items", "6", "--interval-ms", "5"], &db);
    assert!(run.status.success(), "{}", text(&run));
    let o = sockscope(&["events", "--session", "1", "--socket", "nope"], &db);
    assert!(!o.status.success());
    assert!(text(&o).contains("no socket `nope`"), "{}", text(&o));
    let o = sockscope(&["timeline", "--session", "99"], &db);
    assert!(!o.status.success());
    // A failed export leaves an existing file as it was, and nothing new.
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let old = out_dir.join("old.json");
    std::fs::write(&old, "the previous export").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["export", "--session", "99", "--format", "jaeger", "-o"])
        .arg(&old)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("no session 99"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        "the previous export"
    );
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);
    let o = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["export", "--session", "1", "--format", "yaml", "-o", "x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("jaeger"), "{}", text(&o));
}
