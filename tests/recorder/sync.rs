//! Sync points: the writer answers only once it has committed every event
//! the channel held when asked, so a reader that syncs after subscribing
//! finds in SQLite whatever its subscription missed.

use std::sync::Arc;
use std::time::Duration;

use sockscope_recorder::{Error, RecordReader, Recorder, WindowQuery};
use sockscope_test_support::{bounded, within};
use tokio::sync::mpsc;

use crate::support::config;
use crate::synthetic::burst;

const WITHIN: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_sync_point_commits_everything_queued_before_it_at_once() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let mut cfg = config(&path);
        // Without a sync, nothing short of a full batch would commit for
        // an hour.
        cfg.flush_interval = Duration::from_secs(3600);
        cfg.batch_events = 100_000;
        let (tx, rx) = mpsc::channel(8192);
        let (recorder, report) = Recorder::start(cfg, rx).unwrap();

        let idle = within(WITHIN, "an idle sync", recorder.sync(WITHIN))
            .await
            .unwrap();
        assert_eq!((idle.written, idle.last_event_id), (0, None));

        let mut all = burst(5_000, 3);
        for (n, more) in [(1_000u64, 1_000), (5_000, 4_000)] {
            for e in all.by_ref().take(more) {
                tx.send(Arc::new(e)).await.unwrap();
            }
            let point = within(WITHIN, "a sync", recorder.sync(WITHIN))
                .await
                .unwrap();
            assert_eq!(point.written, n, "everything sent before the sync");
            let reader = RecordReader::open(&path).unwrap();
            let (rows, max_id): (i64, i64) = reader
                .connection()
                .query_row(
                    "SELECT count(*), max(id) FROM events WHERE session_id = ?1",
                    [report.session.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(rows as u64, n, "committed, not just taken");
            assert_eq!(point.last_event_id, Some(max_id));
        }

        // Many askers at once are all answered.
        let handle = recorder.sync_handle();
        let asks: Vec<_> = (0..100)
            .map(|_| {
                let h = handle.clone();
                tokio::spawn(async move { h.sync(WITHIN).await })
            })
            .collect();
        for a in asks {
            assert_eq!(a.await.unwrap().unwrap().written, 5_000);
        }

        drop(tx);
        recorder.finish().await.unwrap();
        let gone = within(WITHIN, "a sync after the end", handle.sync(WITHIN)).await;
        assert!(matches!(gone, Err(Error::WriterStopped)), "{gone:?}");
    })
    .await
}

/// Pages bounded by a sync point's last id are one prefix of the session
/// however much the writer commits between them.
#[tokio::test]
async fn pages_up_to_a_sync_point_ignore_later_commits() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (tx, rx) = mpsc::channel(8192);
        let (recorder, report) = Recorder::start(config(&path), rx).unwrap();
        let mut events = burst(4_000, 4);
        for e in events.by_ref().take(2_000) {
            tx.send(Arc::new(e)).await.unwrap();
        }
        let point = recorder.sync(WITHIN).await.unwrap();
        let through = point.last_event_id.unwrap();
        let reader = RecordReader::open(&path).unwrap();
        let mut q = WindowQuery {
            ids: Some(sockscope_recorder::IdRange { after: 0, through }),
            ..WindowQuery::whole_session(report.session.id, 300)
        };
        let mut seen = Vec::new();
        loop {
            let page = reader.events(&q).unwrap();
            seen.extend(page.events.iter().map(|r| r.mono_ns));
            // The writer commits more between the pages.
            for e in events.by_ref().take(300) {
                tx.send(Arc::new(e)).await.unwrap();
            }
            recorder.sync(WITHIN).await.unwrap();
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        // Each event's mono is its place in the burst: the first 2,000, once.
        let want: Vec<u64> = (0..2_000).collect();
        assert_eq!(seen.len(), want.len(), "events up to the sync point");
        assert!(seen == want, "the first 2,000, in order");
        drop(tx);
        recorder.finish().await.unwrap();
    })
    .await
}

/// A later round's range (ids after an earlier sync point) holds exactly
/// the events committed since, in time order, even those older than events
/// of the round before: its first page starts at their earliest time.
#[tokio::test]
async fn a_later_round_reads_exactly_what_was_committed_since() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let (tx, rx) = mpsc::channel(8192);
        let (recorder, report) = Recorder::start(config(&path), rx).unwrap();
        let events: Vec<_> = burst(3_000, 4).collect();
        // Times 0..1000 and 2000..3000 first, then the 1000..2000 between.
        for e in events[..1_000].iter().chain(&events[2_000..]) {
            tx.send(Arc::new(e.clone())).await.unwrap();
        }
        let first = recorder.sync(WITHIN).await.unwrap().last_event_id.unwrap();
        for e in &events[1_000..2_000] {
            tx.send(Arc::new(e.clone())).await.unwrap();
        }
        let second = recorder.sync(WITHIN).await.unwrap().last_event_id.unwrap();
        let reader = RecordReader::open(&path).unwrap();
        let round = |after, through| {
            let q = WindowQuery {
                ids: Some(sockscope_recorder::IdRange { after, through }),
                ..WindowQuery::whole_session(report.session.id, 300)
            };
            let mut seen = Vec::new();
            reader
                .for_each_in(q, |r| {
                    seen.push(r.mono_ns);
                    Ok(())
                })
                .unwrap();
            seen
        };
        let want: Vec<u64> = (1_000..2_000).collect();
        assert!(round(first, second) == want, "the events between, in order");
        assert!(round(second, i64::MAX).is_empty(), "nothing after the last");
        assert_eq!(round(0, first).len(), 2_000, "the first round");
        drop(tx);
        recorder.finish().await.unwrap();
    })
    .await
}
