//! One engine, many sockets, any number of subscribers.

use std::time::Duration;

use sockscope_engine::event::{EventKind, StateName};
use sockscope_engine::{Engine, EngineConfig, SocketConfig, State};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::{Harness, bounded, within};

fn fast() -> Faults {
    Faults {
        interval_ms: Some(5),
        ..Faults::default()
    }
}

#[tokio::test]
async fn a_failing_socket_never_stalls_the_others() {
    bounded(async {
        let h = Harness::new().await;
        let dead_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut dead = SocketConfig::job(format!("ws://127.0.0.1:{dead_port}/ws/progress?jobId=x"));
        dead.reconnect.base = Duration::from_millis(5);
        dead.reconnect.max_attempts = u32::MAX;
        let dead = h.add(&dead);
        let mut live = Vec::new();
        for _ in 0..20 {
            let job = h.job(JobKind::CsvImport, 10, fast());
            live.push(h.add(&h.config(&job)));
        }
        for s in &live {
            let snap = within(
                Duration::from_secs(20),
                "every live job to finish",
                s.wait_for(|s| s.state.is_terminal()),
            )
            .await
            .unwrap();
            assert!(
                matches!(snap.state, State::Closed { .. }),
                "{:?}",
                snap.state
            );
            assert_eq!(snap.progress.unwrap().processed, 10);
        }
        assert!(!dead.snapshot().state.is_terminal());
        assert!(dead.snapshot().attempts > 1);
    })
    .await;
}

#[tokio::test]
async fn lossless_subscribers_see_every_event_and_a_lagging_live_one_slows_nobody() {
    bounded(async {
        let sim = sockscope_sim::Sim::start(Default::default()).await.unwrap();
        let engine = Engine::new(EngineConfig {
            live_capacity: 4,
            ..EngineConfig::default()
        })
        .unwrap();
        let mut a = engine.subscribe_lossless(16);
        let mut b = engine.subscribe_lossless(100_000);
        let mut never_read = engine.subscribe_live();
        let mut live = engine.subscribe_live();
        let job = sim.create_job(JobKind::Enrichment, 200, fast()).unwrap();
        let mut cfg = SocketConfig::job(job.ws_url.clone());
        cfg.token = Some(std::sync::Arc::new(sockscope_engine::StaticToken::new(
            job.token.clone(),
        )));
        let s = engine.add_socket(&cfg).unwrap();
        // `a` is read as we go; its small buffer makes the engine wait for us.
        let mut count_a = 0usize;
        loop {
            let e = within(Duration::from_secs(10), "events on a", a.recv())
                .await
                .unwrap();
            count_a += 1;
            if matches!(&e.kind, EventKind::Transition { to, .. } if to.name() == StateName::Closed)
            {
                break;
            }
        }
        let mut count_b = 0usize;
        while b.try_recv().is_ok() {
            count_b += 1;
        }
        assert_eq!(count_a, count_b, "two lossless subscribers disagree");
        assert!(
            count_a > 400,
            "expected every frame and progress event, got {count_a}"
        );
        assert!(s.snapshot().state.is_terminal());
        // The unread live subscriber lagged instead of holding anyone up.
        assert!(matches!(
            never_read.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_))
        ));
        let mut lagged = false;
        loop {
            match live.try_recv() {
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                Err(_) => break,
            }
        }
        assert!(lagged);
    })
    .await;
}
