//! Retention: old sessions are pruned by age and by size, whole, oldest
//! first; the running session never is.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sockscope_recorder::{Error, RecordReader, Recorder, Retention};
use sockscope_test_support::{bounded, within};
use tokio::sync::mpsc;

use crate::support::{config, raw, record};
use crate::synthetic::{burst, socket_life};

fn count(path: &Path, table: &str) -> i64 {
    raw(path)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// The ids of the sessions on file, as the reader lists them.
fn session_ids(path: &Path) -> Vec<i64> {
    RecordReader::open(path)
        .unwrap()
        .sessions()
        .unwrap()
        .iter()
        .map(|s| s.tag.id)
        .collect()
}

/// The database file's size in bytes, by its pages.
fn file_size(path: &Path) -> u64 {
    let c = raw(path);
    let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    (pages * size) as u64
}

/// Moves a session's start forty days back.
fn started_forty_days_ago(path: &Path, session: i64) {
    let forty_days_ns: i64 = 40 * 24 * 3600 * 1_000_000_000;
    raw(path)
        .execute(
            "UPDATE sessions SET started_ns = started_ns - ?1 WHERE id = ?2",
            (forty_days_ns, session),
        )
        .unwrap();
}

/// A config whose retention keeps thirty days, whatever the size.
fn keeping_thirty_days(path: &Path) -> sockscope_recorder::RecorderConfig {
    let mut cfg = config(path);
    cfg.retention = Retention {
        max_age: Some(Duration::from_secs(30 * 24 * 3600)),
        max_bytes: None,
    };
    cfg
}

#[tokio::test]
async fn sessions_older_than_the_age_limit_are_pruned_whole() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (old, ..) = record(config(&path), burst(3_000, 3)).await;
        let (recent, ..) = record(config(&path), burst(1_000, 3)).await;
        started_forty_days_ago(&path, old.session.id);
        let cfg = keeping_thirty_days(&path);
        let (now, report, _) = record(cfg, burst(10, 1)).await;
        assert_eq!(report.pruned_sessions, vec![old.session.id]);
        assert_eq!(session_ids(&path), vec![now.session.id, recent.session.id]);
        assert_eq!(count(&path, "events"), 1_010);
        // Detail rows went with their events.
        assert_eq!(
            count(&path, "frames")
                + count(&path, "transitions")
                + count(&path, "findings")
                + count(&path, "sockets"),
            1_010
        );
    })
    .await
}

#[tokio::test]
async fn the_oldest_sessions_go_until_the_size_limit_holds() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let mut ids = Vec::new();
        for _ in 0..4 {
            let (s, ..) = record(config(&path), burst(20_000, 4)).await;
            ids.push(s.session.id);
        }
        let size_of_all = file_size(&path);
        // Room for about two of the four.
        let mut cfg = config(&path);
        cfg.retention = Retention {
            max_age: None,
            max_bytes: Some(size_of_all / 2 + size_of_all / 8),
        };
        let (now, report, _) = record(cfg, burst(10, 1)).await;
        assert_eq!(report.pruned_sessions, ids[..2].to_vec(), "oldest first");
        assert_eq!(session_ids(&path), vec![now.session.id, ids[3], ids[2]]);
        assert!(
            file_size(&path) < size_of_all,
            "the file shrank (incremental vacuum)"
        );
    })
    .await
}

/// Every row a pruned session owns goes with it: no table keeps a row whose
/// event or session is gone (SQLite's own foreign key check says so), the
/// engine-wide `environment` rows included.
#[tokio::test]
async fn pruning_leaves_no_row_behind_in_any_table() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        // Lives with every kind of event, engine-wide ones among them.
        let lives = || {
            let mut all = socket_life(1, 0, 40, None);
            all.extend(socket_life(2, 1_000_000_000, 40, None));
            all
        };
        let (old, ..) = record(config(&path), lives()).await;
        let (kept, ..) = record(config(&path), lives()).await;
        assert!(count(&path, "environment") > 0, "the lives have engine-wide events");
        started_forty_days_ago(&path, old.session.id);
        let cfg = keeping_thirty_days(&path);
        let (now, report, _) = record(cfg, std::iter::empty()).await;
        assert_eq!(report.pruned_sessions, vec![old.session.id]);
        assert_eq!(session_ids(&path), vec![now.session.id, kept.session.id]);

        let c = raw(&path);
        let mut check = c.prepare("PRAGMA foreign_key_check").unwrap();
        let orphans: Vec<(String, i64)> = check
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(orphans.is_empty(), "rows whose parent is gone (table, rowid): {orphans:?}");
        // Each table holds exactly the kept session's rows.
        let kept_rows = |table: &str, by: &str| -> (i64, i64) {
            let all = count(&path, table);
            let sql = match by {
                "event" => format!("SELECT count(*) FROM {table} WHERE event_id IN (SELECT id FROM events WHERE session_id = ?1)"),
                _ => format!("SELECT count(*) FROM {table} WHERE session_id = ?1"),
            };
            let mine: i64 = c.query_row(&sql, [kept.session.id], |r| r.get(0)).unwrap();
            (all, mine)
        };
        for (table, by) in [
            ("environment", "event"),
            ("frames", "event"),
            ("transitions", "event"),
            ("state_syncs", "event"),
            ("events", "session"),
            ("sockets", "session"),
            ("connection_attempts", "session"),
        ] {
            let (all, mine) = kept_rows(table, by);
            assert!(mine > 0, "{table}: the kept session has rows");
            assert_eq!(all, mine, "{table}: only the kept session's rows are left");
        }
    })
    .await
}

/// A session that outgrows its cap stops recording at a batch's end: the
/// file stays near the cap, the session is marked `capped` (not crashed),
/// the writer says why, and it lets go of the channel so the engine is not
/// held back.
#[tokio::test]
async fn a_session_that_reaches_its_cap_stops_recording_cleanly() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        // Another session's rows, which the cap does not count.
        let (before, ..) = record(config(&path), burst(20_000, 4)).await;
        let size_before = file_size(&path);
        let cap: u64 = 2 << 20;
        let mut cfg = config(&path);
        cfg.max_session_bytes = Some(cap);
        cfg.batch_events = 1_000;
        let (tx, rx) = mpsc::channel(8192);
        let (recorder, report) = Recorder::start(cfg, rx).unwrap();
        let offered: u64 = 1_000_000;
        let producer = tokio::spawn(async move {
            let mut sent = 0u64;
            for e in burst(offered, 8) {
                if tx.send(Arc::new(e)).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        let sent = within(
            Duration::from_secs(60),
            "the producer to be let go",
            producer,
        )
        .await
        .unwrap();
        assert!(
            sent < offered,
            "the writer let go of the channel at the cap"
        );
        let err = recorder.finish().await.unwrap_err();
        let said = err.to_string();
        assert!(said.contains("recording cap"), "{said}");
        let Error::SessionFull { cap: at, written } = err else {
            panic!("{said}")
        };
        assert_eq!(at, cap);

        let reader = RecordReader::open(&path).unwrap();
        let s = reader.session(report.session.id).unwrap();
        assert_eq!(s.end_state, "capped");
        assert!(s.ended_ns.is_some());
        assert_eq!(s.event_count, written, "what it said it kept is there");
        assert!(written > 0 && written <= sent, "{written} of {sent}");
        let grew = file_size(&path) - size_before;
        assert!(
            grew <= cap + cap / 2,
            "the file grew by {grew} bytes for a cap of {cap}"
        );
        assert_eq!(
            reader.session(before.session.id).unwrap().event_count,
            20_000
        );
        drop(reader);

        // The next run neither takes it for a crash nor is held back by it.
        let (next, report, _) = record(config(&path), burst(10, 1)).await;
        assert!(report.crashed_sessions.is_empty());
        assert_eq!(next.written, 10);
    })
    .await
}
