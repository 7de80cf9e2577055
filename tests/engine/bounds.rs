//! Memory and input bounds: what a server sends cannot make the engine hold
//! more than its limits.

use sockscope_engine::body::MAX_REST_BODY;
use sockscope_engine::event::{EventKind, FindingClass, StateSyncOutcome};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::huge_body::{Framing, HugeBodyServer};
use sockscope_test_support::{Harness, bounded};

/// Far more than any cap, and more than a socket buffer holds.
const HUGE: u64 = 256 << 20;

#[tokio::test]
async fn a_state_sync_refuses_a_huge_body_without_reading_it() {
    bounded(async {
        for framing in [Framing::ContentLength, Framing::Chunked] {
            let server = HugeBodyServer::start(HUGE, framing).await;
            let mut h = Harness::new().await;
            // The server cannot replay, so the socket syncs its state.
            let job = h.job(
                JobKind::BookshelfScan,
                40,
                Faults {
                    interval_ms: Some(5),
                    history: Some(0),
                    drop_after: Some(5),
                    ..Faults::default()
                },
            );
            let mut cfg = h.config(&job);
            cfg.state_url = Some(server.url("/api/job-state/x"));
            let s = h.add(&cfg);
            h.finding(&s, FindingClass::ResyncRequired).await;
            let failed = h
                .next("a failed state sync", |e| {
                    matches!(&e.kind, EventKind::StateSync(r) if matches!(r.outcome, StateSyncOutcome::Failed { .. }))
                })
                .await;
            let EventKind::StateSync(r) = &failed.kind else {
                unreachable!()
            };
            let StateSyncOutcome::Failed { error, .. } = &r.outcome else {
                unreachable!()
            };
            assert_eq!(error, "io_body_too_large", "{framing:?}");
            // At most the cap and what sockets buffer went out, not the body.
            let written = server.written();
            assert!(
                written < 32 << 20,
                "{framing:?}: the server wrote {written} bytes (cap {MAX_REST_BODY})"
            );
        }
    })
    .await;
}
