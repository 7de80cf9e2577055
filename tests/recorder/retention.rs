//! Retention: old sessions are pruned by age and by size, whole, oldest
//! first; the running session never is.

use std::path::Path;
use std::time::Duration;

use sockscope_recorder::{RecordReader, Retention};
use sockscope_test_support::bounded;

use crate::support::{config, raw, record};
use crate::synthetic::burst;

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

#[tokio::test]
async fn sessions_older_than_the_age_limit_are_pruned_whole() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (old, ..) = record(config(&path), burst(3_000, 3)).await;
        let (recent, ..) = record(config(&path), burst(1_000, 3)).await;
        let forty_days_ns: i64 = 40 * 24 * 3600 * 1_000_000_000;
        raw(&path)
            .execute(
                "UPDATE sessions SET started_ns = started_ns - ?1 WHERE id = ?2",
                (forty_days_ns, old.session.id),
            )
            .unwrap();
        let mut cfg = config(&path);
        cfg.retention = Retention {
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            max_bytes: None,
        };
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
