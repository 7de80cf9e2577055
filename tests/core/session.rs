//! A session wires the engine, the recorder and the simulator: the demo runs
//! to the end and every event lands in the database.

use std::time::Duration;

use sockscope_core::{Session, SessionOptions, SocketSpec};
use sockscope_engine::State;
use sockscope_recorder::RecordReader;
use sockscope_test_support::{bounded, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_session_runs_to_the_end_and_is_recorded() {
    bounded(async {
        let dir = tempdir();
        let db = dir.join("s.db");
        let session = Session::start(SessionOptions {
            db_path: Some(db.clone()),
            demo: true,
            demo_items: Some(12),
            demo_interval_ms: Some(10),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        assert!(session.is_demo());
        assert_eq!(session.sockets().len(), 3);
        within(
            Duration::from_secs(20),
            "the demo jobs to end",
            session.wait_all_ended(),
        )
        .await
        .unwrap();
        for s in session.sockets() {
            assert!(
                matches!(s.state, State::Closed { .. }),
                "{}: {:?}",
                s.name,
                s.state
            );
            assert!(s.findings > 0, "{} showed no race", s.name);
            // A job that ended while its socket was away is learned from the
            // state sync, which may answer after the close.
            let h = session.engine().socket(s.id).unwrap();
            let done = h.wait_for(|snap| snap.progress.as_ref().is_some_and(|p| p.processed == 12));
            within(Duration::from_secs(10), "the final progress", done)
                .await
                .unwrap();
        }
        let id = session.session_id();
        let written = session.stop().await.unwrap();
        assert!(written > 100);
        let reader = RecordReader::open(&db).unwrap();
        let sessions = reader.sessions().unwrap();
        let recorded = sessions
            .iter()
            .find(|s| s.tag.id == id)
            .expect("the session is listed");
        assert_eq!(recorded.event_count, written);
        assert_eq!(recorded.end_state, "clean");
        assert_eq!(reader.sockets(id).unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_socket_added_with_create_gets_its_job_and_token_from_the_backend() {
    bounded(async {
        let dir = tempdir();
        let sim = sockscope_sim::Sim::start(Default::default()).await.unwrap();
        let session = Session::start(SessionOptions {
            db_path: Some(dir.join("c.db")),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let mut spec = SocketSpec::job(format!(
            "{}/ws/progress",
            sim.http_base().replacen("http", "ws", 1)
        ));
        spec.create = Some(sockscope_core::config::CreateJob {
            kind: sockscope_protocol::JobKind::CsvImport,
            total_count: 5,
            faults: Some(serde_json::json!({ "interval_ms": 5 })),
        });
        let id = session.add_socket(spec).await.unwrap();
        let h = session.engine().socket(id).unwrap();
        let snap = within(
            Duration::from_secs(10),
            "the job to end",
            h.wait_for(|s| s.state.is_terminal()),
        )
        .await
        .unwrap();
        assert!(
            matches!(snap.state, State::Closed { .. }),
            "{:?}",
            snap.state
        );
        session.stop().await.unwrap();
    })
    .await;
}

/// Remove forgets a socket whatever its state, a cancelled one (whose task
/// may have ended) included; removing it twice is an unknown socket.
#[tokio::test]
async fn a_cancelled_socket_can_be_removed() {
    bounded(async {
        let dir = tempdir();
        let session = Session::start(SessionOptions {
            db_path: Some(dir.join("r.db")),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let mut spec = SocketSpec::job("ws://127.0.0.1:9/nowhere");
        spec.adapter = sockscope_engine::AdapterKind::Raw;
        let id = session.add_socket(spec).await.unwrap();
        let h = session.engine().socket(id).unwrap();
        session.cancel(id).await.unwrap();
        within(
            Duration::from_secs(10),
            "the socket to be cancelled",
            h.wait_for(|s| matches!(s.state, State::Cancelled)),
        )
        .await
        .unwrap();
        session.remove_socket(id).await.unwrap();
        assert!(session.sockets().is_empty());
        assert!(session.engine().socket(id).is_none());
        assert!(session.remove_socket(id).await.is_err());
        session.stop().await.unwrap();
    })
    .await;
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sockscope-core-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
