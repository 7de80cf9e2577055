//! Crash safety: a writer process killed with SIGKILL mid-burst loses at
//! most what it had not committed, and the file stays sound and readable.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sockscope_recorder::{RecordReader, Recorder, RecorderConfig};
use sockscope_test_support::bounded;
use tokio::sync::mpsc;

use crate::support::{config, file_of_version, raw, record};
use crate::synthetic::burst;

const CHILD_ENV: &str = "SOCKSCOPE_RECORDER_CRASH_CHILD_DB";

/// Killed once this many events are reported committed.
const KILL_AFTER: u64 = 50_000;

/// The burst writer. Run by the harness, it records a bounded burst and
/// checks that every event was committed. Re-executed by the crash test below
/// with the path in the environment, it records an endless burst, printing
/// each commit count, until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_writer_commits_every_event() {
    let child_path = std::env::var(CHILD_ENV).ok();
    let dir = tempfile::tempdir().unwrap();
    let path = child_path
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("burst.db"));
    let count = if child_path.is_some() {
        u64::MAX / 2
    } else {
        20_000
    };
    let (tx, rx) = mpsc::channel(8192);
    let (recorder, report) = Recorder::start(RecorderConfig::new(&path), rx).unwrap();
    println!("session {}", report.session.id);
    let mut written = recorder.watch_written();
    tokio::spawn(async move {
        for e in burst(count, 8) {
            if tx.send(Arc::new(e)).await.is_err() {
                return;
            }
        }
    });
    if child_path.is_some() {
        while written.changed().await.is_ok() {
            let n = *written.borrow_and_update();
            println!("committed {n}");
            std::io::stdout().flush().unwrap();
        }
        return;
    }
    let summary = bounded(recorder.finish()).await.unwrap();
    assert_eq!(summary.written, count);
}

#[tokio::test]
async fn kill_9_mid_burst_loses_only_the_unflushed_batch() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash::burst_writer_commits_every_event", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut session = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print `test ... ` on the same line first.
                if let Some((_, s)) = line.split_once("session ") {
                    session = s.trim().parse::<i64>().ok();
                }
                if let Some(n) = line.split_once("committed ").and_then(|(_, n)| n.trim().parse::<u64>().ok()) {
                    if n >= KILL_AFTER {
                        let _ = seen_tx.send((session, n));
                        return;
                    }
                }
            }
        });
        let (session, acknowledged) = tokio::task::spawn_blocking(move || seen_rx.recv_timeout(Duration::from_secs(20)))
            .await
            .unwrap()
            .expect("the child reports commits");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let session = session.expect("the child reported its session");

        let conn = raw(&path);
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let (rows, min, max, distinct): (i64, i64, i64, i64) = conn
            .query_row(
                "SELECT count(*), min(mono_ns), max(mono_ns), count(DISTINCT mono_ns) FROM events WHERE session_id = ?1",
                [session],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let rows = rows as u64;
        assert!(rows >= acknowledged, "{rows} rows, but {acknowledged} were reported committed");
        assert_eq!((min, max as u64, distinct as u64), (0, rows - 1, rows), "the rows are a gapless prefix of the burst");
        let counted: i64 = conn
            .query_row("SELECT event_count FROM sessions WHERE id = ?1", [session], |r| r.get(0))
            .unwrap();
        assert_eq!(counted as u64, rows, "counter and rows commit together");
        drop(conn);

        // The next run: a new session, the old one marked crashed and readable.
        let (summary, report, _) = record(config(&path), burst(500, 2)).await;
        assert_eq!(report.crashed_sessions, vec![session]);
        assert!(report.moved_aside.is_none());
        assert_ne!(summary.session.id, session);
        let reader = RecordReader::open(&path).unwrap();
        let old = reader.session(session).unwrap();
        assert_eq!(old.end_state, "crashed");
        assert!(old.ended_ns.is_some());
        let mut n = 0u64;
        reader
            .for_each_event(session, |_| {
                n += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(n, rows);
        assert_eq!(reader.session(summary.session.id).unwrap().event_count, 500);
    })
    .await
}

/// A live process that is not a recorder; it lives until its stdin closes.
fn bystander() -> std::process::Child {
    Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cat runs")
}

/// Ends a [`bystander`] and reaps it.
fn end(mut child: std::process::Child) {
    drop(child.stdin.take());
    child.wait().expect("cat ends");
}

/// Pretends the recorder of `session` died while it ran, and the OS gave its
/// PID to `pid`.
fn left_running_with_pid(path: &std::path::Path, session: i64, pid: u32) {
    raw(path)
        .execute(
            "UPDATE sessions SET end_state = 'running', ended_ns = NULL, pid = ?1 WHERE id = ?2",
            (pid, session),
        )
        .unwrap();
}

#[tokio::test]
async fn a_reused_pid_does_not_hide_a_crash() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (gone, ..) = record(config(&path), burst(100, 2)).await;
        let other = bystander();
        left_running_with_pid(&path, gone.session.id, other.id());
        let (_, report, _) = record(config(&path), burst(10, 1)).await;
        end(other);
        assert_eq!(
            report.crashed_sessions,
            vec![gone.session.id],
            "the PID is alive, but it is another process's now"
        );
        let reader = RecordReader::open(&path).unwrap();
        assert_eq!(
            reader.session(gone.session.id).unwrap().end_state,
            "crashed"
        );
    })
    .await
}

#[tokio::test]
async fn a_session_still_recording_in_another_process_is_left_running() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        // A recorder that keeps its session open in this process.
        let (tx, rx) = mpsc::channel(16);
        let (running, _) = Recorder::start(RecorderConfig::new(&path), rx).unwrap();
        let (_, report, _) = record(config(&path), burst(10, 1)).await;
        assert!(
            report.crashed_sessions.is_empty(),
            "{:?}",
            report.crashed_sessions
        );
        drop(tx);
        running.finish().await.unwrap();
    })
    .await
}

/// A file of schema v2 (before the recorder's process was tagged by start
/// time and boot) opens, migrates, and keeps its sessions; its sessions left
/// running are judged by the PID alone.
#[tokio::test]
async fn a_version_2_file_opens_and_its_sessions_are_judged_by_pid() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let today = dir.path().join("today.db");
        let (alive, ..) = record(config(&today), burst(100, 2)).await;
        let (dead, ..) = record(config(&today), burst(100, 2)).await;
        let other = bystander();
        left_running_with_pid(&today, alive.session.id, other.id());
        left_running_with_pid(&today, dead.session.id, u32::MAX - 1);
        // What a v2 build wrote: its schema, these sessions' rows.
        let v2 = file_of_version(&path, 2);
        v2.execute("ATTACH ?1 AS today", [today.to_str().unwrap()])
            .unwrap();
        v2.execute_batch(
            "INSERT INTO sessions SELECT id, started_ns, ended_ns, end_state, host, app_version, pid, event_count, trace_salt FROM today.sessions;
             DETACH today;",
        )
        .unwrap();
        drop(v2);
        let (now, report, _) = record(config(&path), burst(10, 1)).await;
        end(other);
        assert_eq!(report.schema_version, sockscope_recorder::SCHEMA_VERSION);
        assert!(report.moved_aside.is_none());
        assert_eq!(report.crashed_sessions, vec![dead.session.id]);
        let reader = RecordReader::open(&path).unwrap();
        assert_eq!(
            reader.session(alive.session.id).unwrap().end_state,
            "running"
        );
        assert_eq!(reader.session(alive.session.id).unwrap().event_count, 100);
        assert_eq!(reader.session(now.session.id).unwrap().event_count, 10);
        let version: i64 = raw(&path)
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, sockscope_recorder::SCHEMA_VERSION);
    })
    .await
}
