//! PROTOCOL.md's six client rules, each against the simulator over real
//! loopback sockets, plus the terminal close codes and token handling.

use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{ClosedReason, EventKind, FailedReason, FindingClass, StateName};
use sockscope_engine::{AdapterKind, Error, SocketConfig, SocketHandle, State};
use sockscope_sim::{AuthVia, Faults, JobKind, JobStatus, WireEvent};
use sockscope_test_support::{EVENT_TIMEOUT, Harness, bounded};

fn fast(interval_ms: u64) -> Faults {
    Faults {
        interval_ms: Some(interval_ms),
        ..Faults::default()
    }
}

fn completed(state: &State) -> bool {
    matches!(state, State::Closed { .. })
}

/// Waits for the simulator to log a wire event `pred` accepts.
async fn on_wire(h: &Harness, pred: impl Fn(&WireEvent) -> bool) -> WireEvent {
    h.sim.wait_for(pred, EVENT_TIMEOUT).await.unwrap()
}

fn pong_sent(e: &WireEvent) -> bool {
    matches!(e, WireEvent::Sent { kind: Some(k), .. } if k == "pong")
}

/// Whether a `ready` ever reached the simulator.
fn ready_on_wire(h: &Harness) -> bool {
    h.sim
        .wire_log()
        .iter()
        .any(|e| matches!(e, WireEvent::Ready { .. }))
}

/// Waits for `s` to fail and returns why.
async fn failure(h: &mut Harness, s: &SocketHandle) -> FailedReason {
    let e = h.state(s, StateName::Failed).await;
    let EventKind::Transition {
        to: State::Failed { reason },
        ..
    } = &e.kind
    else {
        unreachable!("{e:?}")
    };
    reason.clone()
}

// ---- rule 1: ready is earned ---------------------------------------------

/// With the default ready timeout (5 s), a short deaf window costs a
/// few short waits, not a whole timeout: `ready` goes again after 250 ms,
/// then 500 ms, and the third one is heard.
#[tokio::test]
async fn a_short_deaf_window_costs_short_waits_with_the_default_ready_timeout() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            5,
            Faults {
                ready_deaf_ms: Some(400),
                ..fast(5)
            },
        );
        let mut cfg = h.config(&job);
        cfg.timeouts = sockscope_engine::Timeouts::default();
        let s = h.add(&cfg);
        h.state(&s, StateName::Ready).await;
        let waits: Vec<String> = h
            .log
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Finding(f) if f.class == FindingClass::ReadyTimeout => {
                    Some(f.detail.clone())
                }
                _ => None,
            })
            .collect();
        assert!(!waits.is_empty(), "the deaf window cost no wait");
        for w in &waits {
            assert!(
                w.contains("within 250ms") || w.contains("within 500ms"),
                "a wait longer than the first two: {waits:?}"
            );
        }
        s.cancel().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn job_adapter_is_ready_only_after_ready_ack_and_resends_ready_to_a_deaf_server() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            5,
            Faults {
                ready_deaf_ms: Some(600),
                ..fast(5)
            },
        );
        let mut cfg = h.config(&job);
        cfg.timeouts.ready = Duration::from_millis(250);
        cfg.ready_resends = 5;
        let s = h.add(&cfg);
        h.state(&s, StateName::AwaitingReady).await;
        h.finding(&s, FindingClass::ReadyTimeout).await;
        h.finding(&s, FindingClass::ReadyResent).await;
        h.state(&s, StateName::Ready).await;
        h.state(&s, StateName::Closed).await;
        // The wire saw the deaf-dropped readies, then one that was heard.
        let log = h.sim.wire_log();
        let deaf = log
            .iter()
            .filter(|e| matches!(e, WireEvent::Received { kind: Some(k), deaf: true, .. } if k == "ready"))
            .count();
        assert!(deaf >= 1, "at least one ready fell on deaf ears: {log:?}");
        assert!(log.iter().any(|e| matches!(e, WireEvent::Ready { .. })));
        assert_eq!(
            h.states(&s),
            [
                StateName::Connecting,
                StateName::AwaitingReady,
                StateName::Ready,
                StateName::Closing,
                StateName::Closed
            ]
        );
        assert_eq!(h.sim.job_state(&job.job_id).unwrap().status, JobStatus::Complete);
    })
    .await;
}

#[tokio::test]
async fn raw_adapter_is_ready_when_the_handshake_is_done_and_sends_nothing_itself() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(JobKind::Enrichment, 3, fast(5));
        let mut cfg = h.config(&job);
        cfg.adapter = AdapterKind::Raw;
        let s = h.add(&cfg);
        h.state(&s, StateName::Ready).await;
        assert_eq!(h.states(&s), [StateName::Connecting, StateName::Ready]);
        s.send(r#"{"v":1,"type":"ping","payload":{"nonce":"n1"}}"#)
            .await
            .unwrap();
        on_wire(&h, pong_sent).await;
        // The raw adapter never said `ready`: the job has not started.
        assert!(!ready_on_wire(&h));
        assert_eq!(
            h.sim.job_state(&job.job_id).unwrap().status,
            JobStatus::Queued
        );
    })
    .await;
}

// ---- rule 2: nothing is sent before Ready ----------------------------------

#[tokio::test]
async fn sends_before_ready_wait_and_follow_the_adapters_ready_in_order() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            3,
            Faults {
                accept_delay_ms: Some(300),
                ..fast(5)
            },
        );
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Connecting).await;
        for n in 1..=3 {
            let text = format!(r#"{{"v":1,"type":"ping","payload":{{"nonce":"n{n}"}}}}"#);
            s.send(text).await.expect("queued");
        }
        assert_eq!(h.findings(&s, FindingClass::SendBeforeReadyQueued), 0);
        h.state(&s, StateName::Ready).await;
        assert_eq!(h.findings(&s, FindingClass::SendBeforeReadyQueued), 3);
        on_wire(&h, pong_sent).await;
        let kinds: Vec<String> = h
            .sim
            .wire_log()
            .iter()
            .filter_map(|e| match e {
                WireEvent::Received { kind: Some(k), .. } => Some(k.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds[..4],
            ["ready", "ping", "ping", "ping"],
            "wire order: {kinds:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_full_outbox_is_a_typed_error_to_the_caller() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            3,
            Faults {
                accept_delay_ms: Some(2_000),
                ..fast(5)
            },
        );
        let mut cfg = h.config(&job);
        cfg.outbox_capacity = 2;
        let s = h.add(&cfg);
        h.state(&s, StateName::Connecting).await;
        assert!(s.send("a").await.is_ok());
        assert!(s.send("b").await.is_ok());
        assert_eq!(s.send("c").await, Err(Error::OutboxFull { capacity: 2 }));
        h.finding(&s, FindingClass::OutboxOverflow).await;
        s.cancel().await.unwrap();
    })
    .await;
}

// ---- rule 3: nothing is sent after close ------------------------------------

#[tokio::test]
async fn after_the_job_closes_sends_fail_at_once_and_nothing_reaches_the_wire() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(JobKind::BookshelfScan, 3, fast(5));
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Closed).await;
        assert_eq!(s.send("late").await, Err(Error::Closed));
        h.finding(&s, FindingClass::SendAfterClosePrevented).await;
        on_wire(&h, |e| matches!(e, WireEvent::Ended { .. })).await;
        let data_after_close = h
            .sim
            .wire_log()
            .into_iter()
            .filter(|e| {
                matches!(e, WireEvent::Received { after_close: true, opcode, .. }
                    if *opcode != sockscope_sim::Opcode::Close)
            })
            .count();
        assert_eq!(data_after_close, 0, "the client wrote after a close");
    })
    .await;
}

#[tokio::test]
async fn frames_the_peer_sends_after_its_close_are_findings() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::BookshelfScan,
            20,
            Faults {
                close_after: Some(3),
                send_after_close: Some(2),
                ..fast(5)
            },
        );
        let s = h.add(&h.config(&job));
        h.finding(&s, FindingClass::PeerFrameAfterClose).await;
        // The knobs hit the first connection only: the reconnect finishes the job.
        h.state(&s, StateName::Closed).await;
        assert_eq!(h.sim.connections(&job.job_id), 2);
        assert_eq!(s.snapshot().progress.unwrap().processed, 20);
    })
    .await;
}

#[tokio::test]
async fn a_broadcast_skips_a_closing_socket_and_records_the_skip() {
    bounded(async {
        let mut h = Harness::new().await;
        // The stalled server never answers our close frame, so the socket
        // stays in Closing for the close timeout.
        let stalled = h.job(
            JobKind::CsvImport,
            100,
            Faults {
                stall_after_ms: Some(100),
                ..fast(20)
            },
        );
        let live = h.job(JobKind::Enrichment, 100, fast(20));
        let mut cfg = h.config(&stalled);
        cfg.timeouts.close = Duration::from_secs(5);
        let a = h.add(&cfg);
        let b = h.add(&h.config(&live));
        h.entered(&a, StateName::Ready).await;
        h.entered(&b, StateName::Ready).await;
        on_wire(&h, |e| matches!(e, WireEvent::Stalled { .. })).await;
        a.close().await.unwrap();
        h.state(&a, StateName::Closing).await;
        assert_eq!(a.send("direct").await, Err(Error::Closed));
        h.finding(&a, FindingClass::SendAfterClosePrevented).await;
        let msg = r#"{"v":1,"type":"ping","payload":{"nonce":"all"}}"#;
        let results = h.engine.broadcast(&[a.id(), b.id()], msg).await;
        assert_eq!(results[0].1, Err(Error::Closed));
        assert!(results[1].1.is_ok());
        h.finding(&a, FindingClass::BroadcastSkippedClosing).await;
        assert_eq!(h.findings(&b, FindingClass::BroadcastSkippedClosing), 0);
    })
    .await;
}

// ---- rule 4: reconnect -------------------------------------------------------

#[tokio::test]
async fn an_abrupt_drop_reconnects_with_backoff_and_resets_the_count_once_ready_carries_traffic() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(JobKind::CsvImport, 1000, fast(20));
        let s = h.add(&h.config(&job));
        for round in 1..=2 {
            h.state(&s, StateName::Ready).await;
            // An ack alone gives nothing back (a server may ack and close
            // at once); a job event after it proves the link.
            h.next("a job event after Ready", |e| {
                matches!(e.kind, EventKind::Progress(_))
            })
            .await;
            h.sim.drop_job(&job.job_id).unwrap();
            h.finding(&s, FindingClass::AbnormalClose).await;
            let planned = h
                .next("a planned backoff", |e| {
                    matches!(e.kind, EventKind::BackoffPlanned { .. })
                })
                .await;
            let EventKind::BackoffPlanned {
                attempt,
                ceiling,
                delay,
            } = planned.kind.clone()
            else {
                unreachable!()
            };
            // The count restarted at 1 after each healthy Ready.
            assert_eq!(
                (attempt, ceiling),
                (1, Duration::from_millis(20)),
                "round {round}"
            );
            assert!(delay <= ceiling);
        }
        h.state(&s, StateName::Ready).await;
        assert_eq!(h.sim.connections(&job.job_id), 3);
        s.cancel().await.unwrap();
    })
    .await;
}

/// Paused clock: every retry's ceiling doubles from 1 s, the budget is 5,
/// and the virtual time spent is exactly the sum of the planned delays.
#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_one_second_and_gives_up_after_five_retries() {
    bounded(async {
        let h = Harness::new().await;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cfg = SocketConfig::job(format!("ws://127.0.0.1:{port}/ws/progress?jobId=j1"));
        cfg.timeouts.handshake = Duration::from_secs(1);
        let mut events = h.engine.subscribe_lossless(1024);
        let start = tokio::time::Instant::now();
        let s = h.add(&cfg);
        let mut ceilings = Vec::new();
        let mut delays = Duration::ZERO;
        let mut handshakes = Duration::ZERO;
        loop {
            let e = events.recv().await.unwrap();
            match &e.kind {
                EventKind::BackoffPlanned { ceiling, delay, .. } => {
                    assert!(delay <= ceiling);
                    ceilings.push(ceiling.as_secs());
                    delays += *delay;
                }
                EventKind::Finding(f) if f.class == FindingClass::HandshakeTimeout => {
                    handshakes += Duration::from_secs(1);
                }
                EventKind::Transition { to, .. } if to.is_terminal() => {
                    assert!(matches!(to, State::Failed { .. }), "{to:?}");
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16]);
        let elapsed = start.elapsed();
        assert!(elapsed >= delays + handshakes, "{elapsed:?} < {delays:?}");
        assert!(elapsed <= delays + handshakes + Duration::from_millis(50));
        assert_eq!(s.snapshot().attempts, 6);
    })
    .await;
}

// ---- cancel -------------------------------------------------------------------

/// Paused clock: after a cancel during backoff, twice the planned delay
/// passes and the simulator's connection log shows no further attempt.
#[tokio::test(start_paused = true)]
async fn cancel_during_backoff_means_no_attempt_ever_again() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            100,
            Faults {
                drop_after: Some(2),
                ..fast(10)
            },
        );
        let mut cfg = h.config(&job);
        cfg.reconnect.base = Duration::from_secs(10);
        cfg.reconnect.cap = Duration::from_secs(10);
        cfg.reconnect.jitter = false;
        let s = h.add(&cfg);
        h.state(&s, StateName::Backoff).await;
        s.cancel().await.unwrap();
        h.state(&s, StateName::Cancelled).await;
        // Virtual time: the cancelled attempt was due 10 s after the drop.
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(h.sim.connections(&job.job_id), 1);
        assert_eq!(s.snapshot().state, State::Cancelled);
    })
    .await;
}

/// Paused clock: the slow handshake is abandoned; long after the delayed
/// `101` would have come, no `ready` ever reached the server.
#[tokio::test(start_paused = true)]
async fn cancel_while_connecting_aborts_the_handshake_for_good() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            5,
            Faults {
                accept_delay_ms: Some(3_000),
                fault_connections: Some(-1),
                ..fast(5)
            },
        );
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Connecting).await;
        s.cancel().await.unwrap();
        h.state(&s, StateName::Cancelled).await;
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert!(!ready_on_wire(&h));
        assert!(h.sim.connections(&job.job_id) <= 1);
        assert_eq!(s.snapshot().attempts, 1);
    })
    .await;
}

#[tokio::test]
async fn cancel_while_ready_closes_and_never_reconnects() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(JobKind::Enrichment, 1000, fast(20));
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Ready).await;
        s.cancel().await.unwrap();
        h.state(&s, StateName::Cancelled).await;
        on_wire(&h, |e| matches!(e, WireEvent::Ended { .. })).await;
        assert!(h.sim.wire_log().iter().any(|e| matches!(
            e,
            WireEvent::Close {
                by: sockscope_sim::Side::Client,
                code: Some(1000),
                ..
            }
        )));
        assert_eq!(h.sim.connections(&job.job_id), 1);
        assert_eq!(s.send("x").await, Err(Error::Closed));
    })
    .await;
}

// ---- rule 5: resume, then sync ---------------------------------------------------

#[tokio::test]
async fn a_reconnect_resumes_from_the_last_seq_and_ends_at_the_servers_count() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            30,
            Faults {
                drop_after: Some(6),
                ..fast(5)
            },
        );
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Closed).await;
        let readies: Vec<Option<u64>> = h
            .sim
            .wire_log()
            .iter()
            .filter_map(|e| match e {
                WireEvent::Ready { resume_from, .. } => Some(*resume_from),
                _ => None,
            })
            .collect();
        assert_eq!(readies.len(), 2, "{readies:?}");
        assert_eq!(readies[0], None);
        let resumed = readies[1].expect("second ready resumes");
        assert!(resumed >= 6, "resumed from {resumed}");
        let server = h.sim.job_state(&job.job_id).unwrap();
        let snap = s.snapshot();
        assert_eq!(snap.progress.unwrap().processed, server.processed_count);
        assert_eq!(snap.last_seq, Some(server.last_seq));
        assert_eq!(h.findings(&s, FindingClass::SeqGap), 0);
    })
    .await;
}

#[tokio::test]
async fn resync_required_fetches_the_state_retrying_a_5xx() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::BookshelfScan,
            40,
            Faults {
                history: Some(0),
                drop_after: Some(5),
                state_5xx: Some(1),
                ..fast(5)
            },
        );
        let s = h.add(&h.config(&job));
        h.finding(&s, FindingClass::ResyncRequired).await;
        h.finding(&s, FindingClass::StateSyncRetry).await;
        let synced = h
            .next("a successful state sync", |e| {
                matches!(&e.kind, EventKind::StateSync(r) if matches!(r.outcome, sockscope_engine::event::StateSyncOutcome::Synced { .. }))
            })
            .await;
        let EventKind::StateSync(r) = &synced.kind else { unreachable!() };
        assert_eq!(r.try_no, 2);
        h.state(&s, StateName::Closed).await;
        let server = h.sim.job_state(&job.job_id).unwrap();
        assert_eq!(s.snapshot().progress.unwrap().processed, server.processed_count);
        assert_eq!(server.status, JobStatus::Complete);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_job_is_terminal() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(JobKind::CsvImport, 1000, fast(20));
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Ready).await;
        h.sim.delete_job(&job.job_id).unwrap();
        assert_eq!(failure(&mut h, &s).await, FailedReason::JobUnknown);
        assert_eq!(h.sim.connections(&job.job_id), 1);
    })
    .await;
}

// ---- rule 6: liveness --------------------------------------------------------------

#[tokio::test]
async fn a_half_open_link_is_caught_by_the_heartbeat_and_replaced() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::Enrichment,
            30,
            Faults {
                stall_after_ms: Some(100),
                ..fast(10)
            },
        );
        let mut cfg = h.config(&job);
        cfg.heartbeat.interval = Duration::from_millis(100);
        cfg.heartbeat.timeout = Duration::from_millis(300);
        let s = h.add(&cfg);
        h.finding(&s, FindingClass::HeartbeatLost).await;
        h.state(&s, StateName::Backoff).await;
        h.state(&s, StateName::Closed).await;
        assert_eq!(h.sim.connections(&job.job_id), 2);
        assert_eq!(
            h.sim.job_state(&job.job_id).unwrap().status,
            JobStatus::Complete
        );
    })
    .await;
}

// ---- tokens and terminal codes -----------------------------------------------------

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_socket_reconnects_at_once() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            40,
            Faults {
                token_ttl_ms: Some(150),
                ..fast(10)
            },
        );
        let mut cfg = h.config(&job);
        cfg.token = Some(Arc::new(h.tokens(&job)));
        let s = h.add(&cfg);
        // Wait for the token to lapse while the socket is up (the 4001
        // close), not for the first refresh: on a loaded machine the token
        // can lapse during a handshake first, and that 401 is refreshed too.
        h.state(&s, StateName::Closing).await;
        h.state(&s, StateName::Ready).await;
        assert!(h.findings(&s, FindingClass::TokenRefreshed) > 0);
        // 4001 goes straight to Connecting: no backoff in between.
        let states = h.states(&s);
        let i = states
            .iter()
            .position(|x| *x == StateName::Closing)
            .unwrap();
        assert_eq!(states[i + 1], StateName::Connecting, "{states:?}");
        assert!(!states.contains(&StateName::Backoff), "{states:?}");
    })
    .await;
}

#[tokio::test]
async fn the_token_travels_in_the_header_or_on_request_the_query() {
    bounded(async {
        let mut h = Harness::new().await;
        let a = h.job(JobKind::CsvImport, 2, fast(5));
        let b = h.job(JobKind::CsvImport, 2, fast(5));
        let sa = h.add(&h.config(&a));
        let mut cfg = h.config(&b);
        cfg.token_placement = sockscope_engine::TokenPlacement::Query;
        let sb = h.add(&cfg);
        h.entered(&sa, StateName::Ready).await;
        h.entered(&sb, StateName::Ready).await;
        let auth = |job: &str| {
            h.sim.wire_log().into_iter().find_map(|e| match e {
                WireEvent::Connection {
                    job_id,
                    auth,
                    status: 101,
                    ..
                } if job_id == job => Some(auth),
                _ => None,
            })
        };
        assert_eq!(auth(&a.job_id), Some(AuthVia::Header));
        assert_eq!(auth(&b.job_id), Some(AuthVia::Query));
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_is_terminal_until_a_new_one_is_supplied() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(JobKind::CsvImport, 1000, fast(20));
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Ready).await;
        h.sim.revoke(&job.job_id).unwrap();
        assert_eq!(failure(&mut h, &s).await, FailedReason::Unauthorized);
    })
    .await;
}

#[tokio::test]
async fn a_failed_job_is_terminal_after_job_failed_and_1011() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::Enrichment,
            10,
            Faults {
                fail_after: Some(3),
                ..fast(5)
            },
        );
        let s = h.add(&h.config(&job));
        let e = h.state(&s, StateName::Closed).await;
        assert!(
            matches!(&e.kind, EventKind::Transition { to: State::Closed { reason }, .. } if matches!(reason, ClosedReason::JobFailed { .. })),
            "{e:?}"
        );
        assert_eq!(h.sim.connections(&job.job_id), 1);
        assert!(completed(&s.snapshot().state));
    })
    .await;
}

#[tokio::test]
async fn keep_alives_carry_seqs_that_the_engine_counts_without_gaps() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::Enrichment,
            3,
            Faults {
                keepalive_ms: Some(40),
                ..fast(150)
            },
        );
        let s = h.add(&h.config(&job));
        h.state(&s, StateName::Closed).await;
        let keep_alives = h
            .log
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Frame(f) if f.message_type.as_deref() == Some("keep_alive")))
            .count();
        assert!(keep_alives >= 2, "saw {keep_alives} keep_alives");
        assert_eq!(h.findings(&s, FindingClass::SeqGap), 0);
        assert_eq!(h.findings(&s, FindingClass::DuplicateSeq), 0);
        assert_eq!(
            s.snapshot().last_seq,
            Some(h.sim.job_state(&job.job_id).unwrap().last_seq)
        );
    })
    .await;
}
