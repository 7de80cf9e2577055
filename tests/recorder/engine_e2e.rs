//! End to end: a real engine against the simulator, its lossless
//! subscription recorded; every event it published is a row, in order, and
//! the job's bearer token is nowhere in the file.

use std::time::Duration;

use sockscope_engine::StateName;
use sockscope_recorder::{EventBody, EventRecord, RecordReader, Recorder, RecorderConfig};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::{Harness, bounded, within};

/// Runs `body` on its own runtime and thread, so that a task that never
/// yields fails this test instead of hanging the binary.
fn on_own_runtime(limit: Duration, body: impl std::future::Future<Output = ()> + Send + 'static) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(body)));
        let _ = done_tx.send(outcome.map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
        rt.shutdown_background();
    });
    match done_rx.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("{msg}"),
        Err(_) => panic!(
            "no result within {limit:?}: a runtime thread is stuck (an engine task that never yields?)"
        ),
    }
}

#[test]
fn a_real_socket_life_is_recorded_whole() {
    on_own_runtime(Duration::from_secs(40), async {
        bounded(async {
            let mut h = Harness::new().await;
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("rec.db");
            let (recorder, report) = Recorder::start(
                RecorderConfig::new(&path),
                h.engine.subscribe_lossless(4096),
            )
            .unwrap();
            let job = h.job(
                JobKind::CsvImport,
                8,
                Faults {
                    close_after: Some(3),
                    interval_ms: Some(10),
                    ..Faults::default()
                },
            );
            let socket = h.add(&h.config(&job));
            h.state(&socket, StateName::Closed).await;

            // Everything the harness saw has reached the recorder's channel too.
            let seen = h.log.len() as u64;
            let mut written = recorder.watch_written();
            within(
                Duration::from_secs(5),
                "the recorder to catch up",
                written.wait_for(|n| *n >= seen),
            )
            .await
            .unwrap();
            let summary = recorder.stop().await.unwrap();
            assert_eq!(summary.received, summary.written);

            let reader = RecordReader::open(&path).unwrap();
            let mut rows = Vec::new();
            reader
                .for_each_event(report.session.id, |e| {
                    rows.push(e);
                    Ok(())
                })
                .unwrap();
            assert!(rows.len() >= h.log.len());
            for (row, e) in rows.iter().zip(&h.log) {
                let mut expected = EventRecord::from_event(e, Some(4096));
                expected.event_id = row.event_id;
                if let (EventBody::Finding(want), EventBody::Finding(got)) =
                    (&mut expected.body, &row.body)
                {
                    want.transition_event_id = got.transition_event_id;
                    want.frame_event_id = got.frame_event_id;
                }
                assert_eq!(row, &expected);
            }
            let states: Vec<&str> = rows
                .iter()
                .filter_map(|r| match &r.body {
                    EventBody::Transition(t) => Some(t.to.as_str()),
                    _ => None,
                })
                .collect();
            assert!(
                states.contains(&"Backoff"),
                "the 1001 close caused a reconnect: {states:?}"
            );
            assert_eq!(states.last(), Some(&"Closed"));
            let attempts: i64 = reader
                .connection()
                .query_row(
                    "SELECT count(*) FROM connection_attempts WHERE session_id = ?1",
                    [report.session.id],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(attempts >= 2);
            drop(reader);
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&job.token),
                "the job token is in the file"
            );
        })
        .await
    })
}
