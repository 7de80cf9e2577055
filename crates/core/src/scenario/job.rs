//! The job protocol's races, against the simulator.

use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{
    ClosedReason, Direction, EventKind, FindingClass as F, StateName, StateSyncOutcome,
};
use sockscope_engine::{SocketHandle, State};
use sockscope_sim::{Faults, JobKind, JobStatus, Opcode, WireEvent};

use super::run::{Run, Step, Stop, check};

pub(super) fn paced(interval_ms: u64) -> Faults {
    Faults {
        interval_ms: Some(interval_ms),
        ..Faults::default()
    }
}

fn ping(nonce: &str) -> String {
    format!(r#"{{"v":1,"type":"ping","payload":{{"nonce":"{nonce}"}}}}"#)
}

fn is_client_data(e: &WireEvent) -> bool {
    matches!(
        e,
        WireEvent::Received {
            opcode: Opcode::Text | Opcode::Binary,
            ..
        }
    )
}

fn received_kind(e: &WireEvent) -> Option<&str> {
    match e {
        WireEvent::Received { kind: Some(k), .. } => Some(k),
        _ => None,
    }
}

fn position(log: &[WireEvent], pred: impl Fn(&WireEvent) -> bool) -> Option<usize> {
    log.iter().position(pred)
}

fn final_progress_matches(run: &Run, s: &SocketHandle, job_id: &str) -> Step {
    let server = run
        .sim
        .job_state(job_id)
        .ok_or_else(|| Stop::Check(format!("the simulator forgot {job_id}")))?;
    let ours = s.snapshot().progress.map(|p| p.processed);
    check(ours == Some(server.processed_count), || {
        format!(
            "the socket ended at {ours:?} items, the server at {}",
            server.processed_count
        )
    })
}

pub(super) async fn send_before_handshake(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::CsvImport,
        5,
        Faults {
            accept_delay_ms: Some(300),
            ..paced(5)
        },
    )?;
    let s = run.add(&run.config(&job))?;
    run.state(&s, StateName::Connecting).await?;
    for n in ["n1", "n2", "n3"] {
        s.send(ping(n)).await?;
    }
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    check(run.findings(&s, F::SendBeforeReadyQueued) == 3, || {
        format!(
            "{} of 3 early sends were queued",
            run.findings(&s, F::SendBeforeReadyQueued)
        )
    })?;
    let wire = run.wire(&job.job_id);
    let accepted = position(&wire, |e| {
        matches!(e, WireEvent::Connection { status: 101, .. })
    });
    let first_data = position(&wire, is_client_data);
    let ack = position(&wire, |e| matches!(e, WireEvent::ReadyAck { .. }));
    let first_ping = position(&wire, |e| received_kind(e) == Some("ping"));
    check(accepted < first_data, || {
        "a client frame reached the server before the 101".into()
    })?;
    check(ack.is_some() && ack < first_ping, || {
        format!(
            "a ping reached the server before ready_ack (ack at {ack:?}, ping at {first_ping:?})"
        )
    })?;
    let kinds: Vec<&str> = wire.iter().filter_map(received_kind).collect();
    check(
        kinds.starts_with(&["ready", "ping", "ping", "ping"]),
        || format!("the server received {kinds:?}"),
    )?;
    run.observe(format!(
        "3 pings sent during the handshake; the server received {kinds:?} after the 101"
    ));
    Ok(())
}

pub(super) async fn accepted_but_deaf(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::BookshelfScan,
        5,
        Faults {
            ready_deaf_ms: Some(600),
            ..paced(5)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.timeouts.ready = Duration::from_millis(250);
    cfg.ready_resends = 5;
    let s = run.add(&cfg)?;
    run.state(&s, StateName::AwaitingReady).await?;
    run.finding(&s, F::ReadyTimeout).await?;
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    let wire = run.wire(&job.job_id);
    let deaf = wire
        .iter()
        .filter(
            |e| matches!(e, WireEvent::Received { deaf: true, kind: Some(k), .. } if k == "ready"),
        )
        .count();
    check(deaf >= 1, || "no ready fell on deaf ears".into())?;
    check(
        wire.iter().any(|e| matches!(e, WireEvent::Ready { .. })),
        || "the server never heard a ready".into(),
    )?;
    let states = run.states(&s);
    use StateName::*;
    check(
        states == [Connecting, AwaitingReady, Ready, Closing, Closed],
        || format!("the socket went through {states:?}"),
    )?;
    run.observe(format!(
        "{deaf} ready(s) dropped by the deaf server; Ready only after the ready_ack"
    ));
    Ok(())
}

pub(super) async fn send_after_close(run: &mut Run) -> Step {
    let job = run.job(JobKind::BookshelfScan, 3, paced(5))?;
    let s = run.add(&run.config(&job))?;
    run.state(&s, StateName::Closed).await?;
    let sent = s.send(ping("late")).await;
    check(sent == Err(sockscope_engine::Error::Closed), || {
        format!("a send after close returned {sent:?}")
    })?;
    run.finding(&s, F::SendAfterClosePrevented).await?;
    run.wait_wire(
        "the connection's end",
        |e| matches!(e, WireEvent::Ended { job_id, .. } if *job_id == job.job_id),
    )
    .await?;
    let late = run
        .wire(&job.job_id)
        .iter()
        .filter(|e| {
            matches!(e, WireEvent::Received { after_close: true, opcode, .. } if *opcode != Opcode::Close)
        })
        .count();
    check(late == 0, || {
        format!("the client wrote {late} frame(s) after close")
    })?;
    run.observe("the send returned Closed at once; the wire saw no client frame after close");
    Ok(())
}

pub(super) async fn broadcast_to_closing(run: &mut Run) -> Step {
    // The stalled server never answers our close, so `a` stays Closing.
    let stalled = run.job(
        JobKind::CsvImport,
        100,
        Faults {
            stall_after_ms: Some(100),
            ..paced(20)
        },
    )?;
    let live = run.job(JobKind::Enrichment, 100, paced(20))?;
    let mut cfg = run.config(&stalled);
    cfg.name = Some("closing".into());
    cfg.timeouts.close = Duration::from_secs(5);
    let a = run.add(&cfg)?;
    let mut cfg = run.config(&live);
    cfg.name = Some("live".into());
    let b = run.add(&cfg)?;
    run.in_state(&a, StateName::Ready).await?;
    run.in_state(&b, StateName::Ready).await?;
    run.wait_wire(
        "the stall",
        |e| matches!(e, WireEvent::Stalled { job_id, .. } if *job_id == stalled.job_id),
    )
    .await?;
    a.close().await?;
    run.state(&a, StateName::Closing).await?;
    let results = run.engine.broadcast(&[a.id(), b.id()], &ping("all")).await;
    check(results[0].1 == Err(sockscope_engine::Error::Closed), || {
        format!("the closing socket got {:?}", results[0].1)
    })?;
    check(results[1].1.is_ok(), || {
        format!("the live socket got {:?}", results[1].1)
    })?;
    run.finding(&a, F::BroadcastSkippedClosing).await?;
    run.wait_wire("the live socket's pong", |e| {
        matches!(e, WireEvent::Sent { job_id, kind: Some(k), .. } if *job_id == live.job_id && k == "pong")
    })
    .await?;
    check(run.findings(&b, F::BroadcastSkippedClosing) == 0, || {
        "the live socket was skipped".into()
    })?;
    let late = run
        .wire(&stalled.job_id)
        .iter()
        .filter(|e| matches!(e, WireEvent::Received { kind: Some(k), .. } if k == "ping"))
        .count();
    check(late == 0, || {
        "the broadcast reached the closing socket".into()
    })?;
    run.observe("the broadcast skipped the closing socket and reached the live one");
    Ok(())
}

pub(super) async fn peer_frames_after_close(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::BookshelfScan,
        20,
        Faults {
            close_after: Some(3),
            send_after_close: Some(2),
            ..paced(5)
        },
    )?;
    let s = run.add(&run.config(&job))?;
    run.finding(&s, F::PeerFrameAfterClose).await?;
    run.state(&s, StateName::Closed).await?;
    let late = run
        .wire(&job.job_id)
        .iter()
        .filter(|e| {
            matches!(
                e,
                WireEvent::Sent {
                    after_close: true,
                    ..
                }
            )
        })
        .count();
    check(late == 2, || {
        format!("the server sent {late} frames after close, not 2")
    })?;
    check(run.sim.connections(&job.job_id) == 2, || {
        format!(
            "{} connections, not 2 (one closed, one finishing)",
            run.sim.connections(&job.job_id)
        )
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(format!(
        "the server sent {late} frames after its 1001; the reconnect finished the job"
    ));
    Ok(())
}

pub(super) async fn abrupt_drop_then_resume(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::CsvImport,
        30,
        Faults {
            drop_after: Some(6),
            ..paced(5)
        },
    )?;
    let s = run.add(&run.config(&job))?;
    run.finding(&s, F::AbnormalClose).await?;
    run.state(&s, StateName::Backoff).await?;
    run.state(&s, StateName::Closed).await?;
    let readies: Vec<Option<u64>> = run
        .wire(&job.job_id)
        .iter()
        .filter_map(|e| match e {
            WireEvent::Ready { resume_from, .. } => Some(*resume_from),
            _ => None,
        })
        .collect();
    check(
        readies.len() == 2 && readies[0].is_none() && readies[1].is_some_and(|r| r >= 6),
        || format!("the readies carried resumeFrom {readies:?}"),
    )?;
    check(run.findings(&s, F::SeqGap) == 0, || {
        "the resume left a seq gap".into()
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(format!(
        "dropped after 6 events; the reconnect resumed from seq {}",
        readies[1].unwrap_or(0)
    ));
    Ok(())
}

pub(super) async fn resume_impossible_sync_5xx(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::BookshelfScan,
        40,
        Faults {
            history: Some(0),
            drop_after: Some(5),
            state_5xx: Some(1),
            ..paced(5)
        },
    )?;
    let mut cfg = run.config(&job);
    // Events must go by while the socket is away, or there is nothing to replay.
    cfg.reconnect.base = Duration::from_millis(50);
    cfg.reconnect.jitter = false;
    let s = run.add(&cfg)?;
    run.finding(&s, F::ResyncRequired).await?;
    run.finding(&s, F::StateSyncRetry).await?;
    let synced = run
        .next("a successful state sync", |e| {
            matches!(&e.kind, EventKind::StateSync(r) if matches!(r.outcome, StateSyncOutcome::Synced { .. }))
        })
        .await?;
    let EventKind::StateSync(r) = &synced.kind else {
        return Err(Stop::Check("not a state sync".into()));
    };
    let try_no = r.try_no;
    check(try_no == 2, || {
        format!("the sync succeeded on try {try_no}, not 2")
    })?;
    run.state(&s, StateName::Closed).await?;
    final_progress_matches(run, &s, &job.job_id)?;
    let status = run.sim.job_state(&job.job_id).map(|j| j.status);
    check(status == Some(JobStatus::Complete), || {
        format!("the job ended {status:?}")
    })?;
    run.observe(
        "resync_required, a 503, then the state on try 2; the socket ends at the server's count",
    );
    Ok(())
}

pub(super) async fn half_open_stall(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::Enrichment,
        30,
        Faults {
            stall_after_ms: Some(100),
            ..paced(10)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.heartbeat.interval = Duration::from_millis(100);
    cfg.heartbeat.timeout = Duration::from_millis(300);
    let s = run.add(&cfg)?;
    run.finding(&s, F::HeartbeatLost).await?;
    run.state(&s, StateName::Backoff).await?;
    run.state(&s, StateName::Closed).await?;
    check(run.sim.connections(&job.job_id) == 2, || {
        format!("{} connections, not 2", run.sim.connections(&job.job_id))
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe("no pong within 300 ms on the stalled link; it was replaced and the job finished");
    Ok(())
}

pub(super) async fn expired_token_on_reconnect(run: &mut Run) -> Step {
    // The token lives 400 ms; the drop comes tens of ms in, and the fixed
    // 700 ms backoff outlives the token, so the reconnect meets a 401.
    let job = run.job(
        JobKind::CsvImport,
        30,
        Faults {
            token_ttl_ms: Some(400),
            drop_after: Some(2),
            ..paced(10)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.token = Some(Arc::new(run.tokens(&job)));
    cfg.reconnect.base = Duration::from_millis(700);
    cfg.reconnect.cap = Duration::from_millis(700);
    cfg.reconnect.jitter = false;
    let s = run.add(&cfg)?;
    run.finding(&s, F::AbnormalClose).await?;
    run.finding(&s, F::TokenRefreshed).await?;
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    let statuses: Vec<u16> = run
        .wire(&job.job_id)
        .iter()
        .filter_map(|e| match e {
            WireEvent::Connection { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    check(statuses == [101, 401, 101], || {
        format!("the handshakes answered {statuses:?}, not [101, 401, 101]")
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(format!(
        "handshakes answered {statuses:?}: the expired token got a 401, a fresh one a 101"
    ));
    Ok(())
}

pub(super) async fn queued_sends_vs_app_ready(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::CsvImport,
        5,
        Faults {
            ready_deaf_ms: Some(400),
            ..paced(5)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.timeouts.ready = Duration::from_millis(150);
    cfg.ready_resends = 6;
    let s = run.add(&cfg)?;
    run.state(&s, StateName::AwaitingReady).await?;
    for n in ["n1", "n2", "n3"] {
        s.send(ping(n)).await?;
    }
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    let wire = run.wire(&job.job_id);
    let heard = position(&wire, |e| matches!(e, WireEvent::Ready { .. }));
    let ack = position(&wire, |e| matches!(e, WireEvent::ReadyAck { .. }));
    let first_ping = position(&wire, |e| received_kind(e) == Some("ping"));
    check(heard.is_some() && heard < ack && ack < first_ping, || {
        format!(
            "wire order: ready heard at {heard:?}, ready_ack at {ack:?}, first ping at {first_ping:?}"
        )
    })?;
    let kinds: Vec<&str> = wire.iter().filter_map(received_kind).collect();
    let readies = kinds.iter().take_while(|k| **k == "ready").count();
    check(
        readies >= 1 && kinds[readies..] == ["ping", "ping", "ping"],
        || format!("the server received {kinds:?}"),
    )?;
    let nonces: Vec<String> = run
        .log
        .iter()
        .filter(|e| e.socket == s.id())
        .filter_map(|e| match &e.kind {
            EventKind::Frame(f)
                if f.direction == Direction::In && f.message_type.as_deref() == Some("pong") =>
            {
                f.text.as_deref().and_then(|t| {
                    serde_json::from_str::<serde_json::Value>(t)
                        .ok()
                        .and_then(|v| v["payload"]["nonce"].as_str().map(str::to_owned))
                })
            }
            _ => None,
        })
        .collect();
    check(nonces == ["n1", "n2", "n3"], || {
        format!("pongs came back for {nonces:?}")
    })?;
    run.observe(format!(
        "the server received {kinds:?}: the app's pings only after the adapter's ready was acked, in order"
    ));
    Ok(())
}

pub(super) async fn cancel_during_backoff(run: &mut Run) -> Step {
    // `cancelled` drops and is cancelled in its 300 ms backoff. `witness`
    // is dropped after the cancel with a 600 ms backoff: once it has
    // reconnected, the cancelled socket's retry is long overdue.
    let a_job = run.job(
        JobKind::CsvImport,
        1000,
        Faults {
            drop_after: Some(2),
            ..paced(10)
        },
    )?;
    let b_job = run.job(JobKind::Enrichment, 1000, paced(10))?;
    let mut cfg = run.config(&a_job);
    cfg.name = Some("cancelled".into());
    cfg.reconnect.base = Duration::from_millis(300);
    cfg.reconnect.cap = Duration::from_millis(300);
    cfg.reconnect.jitter = false;
    let a = run.add(&cfg)?;
    let mut cfg = run.config(&b_job);
    cfg.name = Some("witness".into());
    cfg.reconnect.base = Duration::from_millis(600);
    cfg.reconnect.cap = Duration::from_millis(600);
    cfg.reconnect.jitter = false;
    let b = run.add(&cfg)?;
    run.in_state(&b, StateName::Ready).await?;
    run.in_state(&a, StateName::Backoff).await?;
    let at_cancel = run.sim.connections(&a_job.job_id);
    let attempts = a.snapshot().attempts;
    a.cancel().await?;
    run.state(&a, StateName::Cancelled).await?;
    run.sim.drop_job(&b_job.job_id)?;
    run.state(&b, StateName::Backoff).await?;
    run.state(&b, StateName::Ready).await?;
    let after = run.sim.connections(&a_job.job_id);
    check(after == at_cancel, || {
        format!("{at_cancel} connections at the cancel, {after} after")
    })?;
    check(a.snapshot().attempts == attempts, || {
        "the cancelled socket made another attempt".into()
    })?;
    let later = run
        .log
        .iter()
        .skip_while(|e| {
            !(e.socket == a.id()
                && matches!(
                    &e.kind,
                    EventKind::Transition {
                        to: State::Cancelled,
                        ..
                    }
                ))
        })
        .skip(1)
        .filter(|e| e.socket == a.id() && matches!(e.kind, EventKind::Transition { .. }))
        .count();
    check(later == 0, || {
        format!("{later} transitions after Cancelled")
    })?;
    run.observe(format!(
        "the sim counted {at_cancel} connection(s) at the cancel and {after} after the witness's \
         600 ms backoff (the cancelled retry was due at 300 ms)"
    ));
    Ok(())
}

pub(super) async fn duplicate_seq_and_gap(run: &mut Run) -> Step {
    // job_started is seq 1 and item n is seq n + 1: seq 2 goes out twice,
    // 3 and 4 not at all, so the socket sees 1, 2, 2, 5, 6, ...
    let job = run.job(
        JobKind::CsvImport,
        8,
        Faults {
            duplicate_seq: Some(2),
            gap_after: Some(2),
            gap_len: Some(2),
            ..paced(40)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.reconnect.max_attempts = 0;
    let s = run.add(&cfg)?;
    run.finding(&s, F::DuplicateSeq).await?;
    run.finding(&s, F::SeqGap).await?;
    run.next("a successful state sync", |e| {
        e.socket == s.id()
            && matches!(&e.kind, EventKind::StateSync(r) if matches!(r.outcome, StateSyncOutcome::Synced { .. }))
    })
    .await?;
    let end = run.state(&s, StateName::Closed).await?;
    check(
        matches!(
            &end.kind,
            EventKind::Transition {
                to: State::Closed {
                    reason: ClosedReason::JobFinished
                },
                ..
            }
        ),
        || format!("the socket ended {:?}", end.kind),
    )?;
    let (dups, gaps) = (
        run.findings(&s, F::DuplicateSeq),
        run.findings(&s, F::SeqGap),
    );
    check(dups == 1 && gaps == 1, || {
        format!("{dups} duplicate and {gaps} gap findings, not 1 and 1")
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(
        "the simulator sent seq 1, 2, 2, 5, 6, ... (duplicate_seq=2, gap_after=2, gap_len=2): \
         the second 2 was dropped, the gap 3-4 synced from the state endpoint",
    );
    Ok(())
}
