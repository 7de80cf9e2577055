//! Zero loss: every event produced is a row, under a burst of 1M+.

use std::time::Instant;

use sockscope_test_support::within;

use crate::support::{config, raw, record};
use crate::synthetic::burst;

/// Burst size: `SOCKSCOPE_BURST_EVENTS`, at least (and by default) 1M.
fn burst_size() -> u64 {
    std::env::var("SOCKSCOPE_BURST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000u64)
        .max(1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_million_events_loses_none() {
    let total = burst_size();
    let limit = std::time::Duration::from_secs(120);
    within(limit, "the 1M-event burst", async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("burst.db");
        let started = Instant::now();
        let (summary, report, sent) = record(config(&path), burst(total, 64)).await;
        let took = started.elapsed();
        eprintln!(
            "burst: {total} events in {took:?} ({:.0} events/s, {} batches)",
            total as f64 / took.as_secs_f64(),
            summary.batches
        );
        assert_eq!(sent, total);
        assert_eq!(summary.received, total);
        assert_eq!(summary.written, total);

        let conn = raw(&path);
        let session = report.session.id;
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM events WHERE session_id = ?1", [session], |r| r.get(0))
            .unwrap();
        assert_eq!(rows as u64, total, "every event produced is a row");
        let counted: i64 = conn
            .query_row("SELECT event_count FROM sessions WHERE id = ?1", [session], |r| r.get(0))
            .unwrap();
        assert_eq!(counted as u64, total);
        let details: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM frames) + (SELECT count(*) FROM transitions)
                      + (SELECT count(*) FROM findings) + (SELECT count(*) FROM sockets)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(details as u64, total, "every event has its detail row");
        // Nothing duplicated or reordered: monos are exactly 0..total.
        let (min, max, distinct): (i64, i64, i64) = conn
            .query_row(
                "SELECT min(mono_ns), max(mono_ns), count(DISTINCT mono_ns) FROM events WHERE session_id = ?1",
                [session],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((min, max, distinct as u64), (0, total as i64 - 1, total));
    })
    .await
}
