//! `Session::stop`: a socket whose task is gone does not keep the others
//! from stopping, and the sockets stop in parallel within one budget.

use std::time::Duration;

use sockscope_core::{STOP_BUDGET, Session, SessionOptions, SocketSpec, TokenSpec};
use sockscope_engine::{State, Token};
use sockscope_recorder::{EventBody, RecordReader, WindowQuery};
use sockscope_sim::{Faults, JobKind, Sim, SimConfig};
use sockscope_test_support::{bounded, within};

fn spec_for(job: &sockscope_sim::CreateJobResponse, name: &str) -> SocketSpec {
    let mut spec = SocketSpec::job(job.ws_url.clone());
    spec.name = Some(name.into());
    spec.token = TokenSpec::Inline(Token::new(job.token.clone()));
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_with_a_dead_socket_task_still_stops_and_records_the_others() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("stop.db");
        let session = Session::start(SessionOptions {
            db_path: Some(db.clone()),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let slow = Faults {
            interval_ms: Some(50),
            ..Faults::default()
        };
        // The first socket's task runs on a runtime that is then dropped:
        // its task is gone, as after a panic, and it comes first in the
        // order stop walks.
        let job = sim
            .create_job(JobKind::CsvImport, 1000, slow.clone())
            .unwrap();
        let (s, spec) = (session.clone(), spec_for(&job, "dead"));
        let dead = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(s.add_socket(spec)).unwrap()
        })
        .join()
        .unwrap();
        let mut live = Vec::new();
        for name in ["a", "b"] {
            let job = sim
                .create_job(JobKind::CsvImport, 1000, slow.clone())
                .unwrap();
            let id = session.add_socket(spec_for(&job, name)).await.unwrap();
            let h = session.engine().socket(id).unwrap();
            within(
                Duration::from_secs(10),
                "the socket to be Ready",
                h.wait_for(|s| matches!(s.state, State::Ready { .. })),
            )
            .await
            .unwrap();
            live.push(h);
        }
        let id = session.session_id();
        let end = within(Duration::from_secs(15), "stop", session.stop())
            .await
            .expect("stop goes on past a dead task");
        assert_eq!(end.unstopped, vec![dead]);
        assert_eq!(end.recording_failed, None);
        let reader = RecordReader::open(&db).unwrap();
        assert_eq!(reader.session(id).unwrap().end_state, "clean");
        let mut cancelled = Vec::new();
        for e in reader
            .events(&WindowQuery::whole_session(id, 100_000))
            .unwrap()
            .events
        {
            if let EventBody::Transition(t) = &e.body
                && t.to == "Cancelled"
            {
                cancelled.push(e.socket_id);
            }
        }
        // The sockets stop in parallel: their last events come in any order.
        cancelled.sort_unstable();
        let want: Vec<u64> = live.iter().map(|h| h.id()).collect();
        assert_eq!(cancelled, want, "each live socket's last event is recorded");
        for h in &live {
            assert_eq!(h.snapshot().state, State::Cancelled);
        }
    })
    .await;
}

/// Sockets whose events cannot be published (a lossless subscriber that
/// never reads holds every driver) never end; stop gives them all one
/// budget together. The stop runs on tokio's paused clock, so the figure
/// is exact; the test is bounded in real time from outside, since a paused
/// clock would jump to a timeout of its own while the recorder's thread
/// works.
#[test]
fn stuck_sockets_stop_in_parallel_within_one_budget() {
    let (done, finished) = std::sync::mpsc::channel();
    let body = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(stuck_sockets());
        let _ = done.send(());
    });
    match finished.recv_timeout(sockscope_test_support::TEST_TIMEOUT) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test body did not end within the test timeout")
        }
        // Ended, or panicked (the sender dropped): join says which.
        _ => {
            if let Err(e) = body.join() {
                std::panic::resume_unwind(e);
            }
        }
    }
}

async fn stuck_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::start(SessionOptions {
        db_path: Some(dir.path().join("stuck.db")),
        ..SessionOptions::default()
    })
    .await
    .unwrap();
    let stuck = session.engine().subscribe_lossless(1);
    const SOCKETS: usize = 8;
    for n in 0..SOCKETS {
        let mut spec = SocketSpec::job(format!("ws://127.0.0.1:9/ws/progress?jobId=j-{n}"));
        spec.name = Some(format!("s{n}"));
        session.add_socket(spec).await.unwrap();
    }
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let end = session.stop().await.unwrap();
    let took = started.elapsed();
    assert_eq!(end.unstopped.len(), SOCKETS, "{end:?}");
    assert!(
        took >= STOP_BUDGET && took < STOP_BUDGET * 2,
        "{SOCKETS} stuck sockets took {took:?}, not one budget of {STOP_BUDGET:?}"
    );
    drop(stuck);
}
