//! Memory and input bounds: what a server sends cannot make the engine hold
//! more than its limits.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope_bench::{peak_rss_kib, rss_kib};
use sockscope_engine::body::MAX_REST_BODY;
use sockscope_engine::event::{EventKind, FindingClass, StateSyncOutcome};
use sockscope_engine::{Engine, EngineConfig, SocketConfig};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::huge_body::{Framing, HugeBodyServer};
use sockscope_test_support::{Harness, bounded, in_own_process, within};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

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

/// Frames of this many bytes, each just under the default message limit.
const BIG_FRAME: usize = (1 << 20) - 64;
/// How many: far more payload than the live ring's byte budget.
const BIG_FRAMES: usize = 256;

/// A peer that sends `BIG_FRAMES` text frames of `BIG_FRAME` bytes, then
/// closes.
async fn big_frame_peer(listener: TcpListener) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let text: tokio_tungstenite::tungstenite::Utf8Bytes = "x".repeat(BIG_FRAME).into();
    for _ in 0..BIG_FRAMES {
        if ws.send(Message::Text(text.clone())).await.is_err() {
            return;
        }
    }
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
}

/// Frames of 1 MiB through the engine while a live subscription is never
/// read (as the app's unused first one was): the ring keeps at most its
/// byte budget of payloads, not its 8192 events' worth. Runs in its own
/// process, so the peak resident memory is this test's alone.
#[test]
fn large_frames_with_an_unread_live_subscription_keep_memory_bounded() {
    let name = "bounds::large_frames_with_an_unread_live_subscription_keep_memory_bounded";
    if in_own_process(name, &[]).is_some() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(within(Duration::from_secs(120), "the big frames", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = tokio::spawn(big_frame_peer(listener));
        let config = EngineConfig::default();
        let budget_kib = (config.live_bytes / 1024) as u64;
        let engine = Engine::new(config).unwrap();
        let mut lossless = engine.subscribe_lossless(16);
        let _never_read = engine.subscribe_live();
        let before = rss_kib("self");
        engine
            .add_socket(&SocketConfig::raw(format!("ws://127.0.0.1:{port}/feed")))
            .unwrap();
        let (mut frames, mut bytes) = (0, 0);
        while frames < BIG_FRAMES {
            let e = lossless.recv().await.expect("the engine runs");
            if let EventKind::Frame(f) = &e.kind
                && f.size == BIG_FRAME
            {
                frames += 1;
                bytes += f.text.as_ref().map_or(0, |t| t.len());
            }
        }
        assert_eq!(
            bytes,
            BIG_FRAMES * BIG_FRAME,
            "the lossless feed gets every payload"
        );
        peer.await.unwrap();
        let peak = peak_rss_kib("self");
        let growth = peak.saturating_sub(before);
        println!(
            "big frames: {BIG_FRAMES} x {BIG_FRAME} B, live budget {budget_kib} KiB: \
             VmRSS before {before} KiB, VmHWM {peak} KiB, growth {growth} KiB"
        );
        // The default budget (16 MiB), plus a few frames in flight (read
        // buffer, the frame, the lossless queue of 16); not 256 MiB.
        assert!(
            growth < 64 * 1024,
            "peak resident memory grew by {growth} KiB"
        );
    }));
}
