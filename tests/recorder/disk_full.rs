//! A disk that fills up for a while: the writer retries, says so, and
//! loses nothing once space comes back.

use std::sync::Arc;
use std::time::Duration;

use sockscope_recorder::{CommitRetry, RecordReader, Recorder, RecorderConfig, WriterHealth};
use sockscope_test_support::tmpfs::SmallFs;
use sockscope_test_support::{bounded, within};
use tokio::sync::mpsc;

use crate::synthetic::burst;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_full_for_a_while_is_retried_and_loses_nothing() {
    let Some(fs) = SmallFs::mount("4m", "a_disk_full_for_a_while_is_retried") else {
        return;
    };
    bounded(async {
        let db = fs.path().join("full.db");
        let mut config = RecorderConfig::new(&db);
        // Retries enough to outlast the test's own wait; short waits.
        config.commit_retry = CommitRetry {
            tries: 100_000,
            first_wait: Duration::from_millis(1),
            max_wait: Duration::from_millis(5),
        };
        let (tx, rx) = mpsc::channel(1024);
        let (recorder, _) = Recorder::start(config, rx).unwrap();
        let mut health = recorder.watch_health();
        let mut written = recorder.watch_written();
        let events: Vec<_> = burst(2000, 4).map(Arc::new).collect();
        for e in &events[..1000] {
            tx.send(e.clone()).await.unwrap();
        }
        within(
            WAIT,
            "the first half committed",
            written.wait_for(|n| *n == 1000),
        )
        .await
        .unwrap();
        assert!(fs.fill() > 0);
        for e in &events[1000..] {
            tx.send(e.clone()).await.unwrap();
        }
        let retrying = within(
            WAIT,
            "the writer to say it retries",
            health.wait_for(|h| matches!(h, WriterHealth::Retrying { .. })),
        )
        .await
        .unwrap()
        .clone();
        let WriterHealth::Retrying { error, .. } = retrying else {
            unreachable!()
        };
        assert!(error.contains("full"), "{error}");
        fs.free();
        within(
            WAIT,
            "every event committed",
            written.wait_for(|n| *n == 2000),
        )
        .await
        .unwrap();
        within(
            WAIT,
            "the writer to be well again",
            health.wait_for(|h| *h == WriterHealth::Writing),
        )
        .await
        .unwrap();
        drop(tx);
        let summary = recorder.stop().await.unwrap();
        assert_eq!(summary.written, 2000);
        let reader = RecordReader::open(&db).unwrap();
        let session = reader.session(summary.session.id).unwrap();
        assert_eq!(session.end_state, "clean");
        assert_eq!(session.event_count, 2000);
    })
    .await;
}
