//! Many sockets at once: one task each, every one gets the whole job.

use sockscope_protocol::ServerMessage;
use sockscope_sim::WireEvent;
use sockscope_test_support::bounded;

use crate::{connect, job, ready, start, until_ack, until_close};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sockets_on_fifty_jobs_all_complete() {
    bounded(async {
        let sim = start().await;
        let jobs: Vec<_> = (0..50).map(|_| job(&sim, 5, "interval_ms=20")).collect();
        let mut sockets = Vec::new();
        for created in &jobs {
            for _ in 0..20 {
                sockets.push(connect(created).await);
            }
        }
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    ready(&mut ws, None).await;
                    let (before, _, _) = until_ack(&mut ws).await;
                    let (after, code) = until_close(&mut ws).await;
                    let last = after.last().or(before.last()).map(|m| m.message.clone());
                    (last, code)
                })
            })
            .collect();
        for task in tasks {
            let (last, code) = task.await.unwrap();
            assert!(
                matches!(last, Some(ServerMessage::JobComplete { .. })),
                "{last:?}"
            );
            assert_eq!(code, Some(1000));
        }
        let accepted = sim
            .wire_log()
            .iter()
            .filter(|e| matches!(e, WireEvent::Connection { status: 101, .. }))
            .count();
        assert_eq!(accepted, 1000);
    })
    .await;
}

/// The brief's bar: 10,000 concurrent sockets. The simulator runs as its own
/// process so that each side stays under the per-process descriptor limit.
/// A slow suite, behind the `slow-tests` feature:
/// `cargo test -p sockscope-sim --release --features slow-tests --test sim ten_thousand`.
#[cfg(feature = "slow-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sockets_against_the_binary() {
    use std::time::Instant;

    use sockscope_protocol::CreateJobResponse;

    use crate::{http, spawn_binary};

    sockscope_test_support::within(std::time::Duration::from_secs(300), "10k sockets", async {
        let (mut child, base) = spawn_binary(&[]).await;
        let client = http();
        let mut jobs: Vec<CreateJobResponse> = Vec::new();
        for _ in 0..100 {
            let created = client
                .post(format!("{base}/api/jobs"))
                .json(&serde_json::json!({
                    "kind": "enrichment", "totalCount": 20, "faults": {"interval_ms": 500}
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            jobs.push(created);
        }
        let t0 = Instant::now();
        let mut sockets = Vec::new();
        for batch in 0..50 {
            let connecting: Vec<_> = (0..200)
                .map(|i| {
                    let created = jobs[(batch * 200 + i) % 100].clone();
                    tokio::spawn(async move { connect(&created).await })
                })
                .collect();
            for c in connecting {
                sockets.push(c.await.unwrap());
            }
        }
        eprintln!("10,000 sockets connected in {:?}", t0.elapsed());
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    ready(&mut ws, None).await;
                    until_ack(&mut ws).await;
                    until_close(&mut ws).await.1
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Some(1000));
        }
        eprintln!("all 10,000 completed after {:?}", t0.elapsed());
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    })
    .await;
}
