//! Helpers shared by the modules.

use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{Cause, EventKind, StateName};
use sockscope_engine::{Event, ReconnectPolicy, SocketConfig, SocketHandle};
use sockscope_environment::Observed;
use sockscope_sim::{CreateJobResponse, Faults, JobKind};
use sockscope_test_support::{EVENT_TIMEOUT, Harness, within};
use tokio::sync::broadcast;

/// The backoff a socket is put in: far longer than any test may take.
pub const LONG_BACKOFF: Duration = Duration::from_secs(30);

/// A job whose first connection is cut (no close frame) after two events.
pub fn dropping_job(h: &Harness) -> CreateJobResponse {
    h.job(
        JobKind::CsvImport,
        40,
        Faults {
            drop_after: Some(2),
            interval_ms: Some(20),
            ..Faults::default()
        },
    )
}

/// A job that stays open for the whole test.
pub fn long_job(h: &Harness) -> CreateJobResponse {
    h.job(
        JobKind::Enrichment,
        100_000,
        Faults {
            interval_ms: Some(1_000),
            ..Faults::default()
        },
    )
}

/// `job`'s config with a 30 s backoff and no jitter.
pub fn long_backoff(h: &Harness, job: &CreateJobResponse) -> SocketConfig {
    let mut c = h.config(job);
    c.reconnect = ReconnectPolicy {
        base: LONG_BACKOFF,
        cap: LONG_BACKOFF,
        jitter: false,
        ..ReconnectPolicy::default()
    };
    c
}

/// Waits for `s` to plan its 30 s backoff and enter Backoff.
pub async fn into_long_backoff(h: &mut Harness, s: &SocketHandle) -> Arc<Event> {
    let id = s.id();
    let planned = h
        .next("a 30 s backoff planned", |e| {
            e.socket == id && matches!(e.kind, EventKind::BackoffPlanned { .. })
        })
        .await;
    let EventKind::BackoffPlanned { delay, .. } = planned.kind else {
        unreachable!()
    };
    assert_eq!(
        delay, LONG_BACKOFF,
        "jitter is off: the delay is the ceiling"
    );
    h.state(s, StateName::Backoff).await;
    planned
}

/// Waits for `s` to leave Backoff for Connecting, and checks the cause.
pub async fn reconnect_cause(h: &mut Harness, s: &SocketHandle) -> (Arc<Event>, Cause) {
    let e = h.state(s, StateName::Connecting).await;
    let EventKind::Transition { from, cause, .. } = &e.kind else {
        unreachable!()
    };
    assert_eq!(*from, StateName::Backoff);
    let cause = cause.clone();
    (e, cause)
}

/// Waits for a report `pred` accepts.
pub async fn report(
    rx: &mut broadcast::Receiver<Observed>,
    what: &str,
    pred: impl Fn(&Observed) -> bool,
) -> Observed {
    within(EVENT_TIMEOUT, what, async {
        loop {
            match rx.recv().await {
                Ok(o) if pred(&o) => return o,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("environment task ended"),
            }
        }
    })
    .await
}

/// The timeline of `sockets` from `from` on, one line per event, as the
/// closing note shows it.
pub fn timeline(h: &Harness, from: sockscope_engine::Mono, sockets: &[u64]) -> Vec<String> {
    h.log
        .iter()
        .filter(|e| e.mono >= from && sockets.contains(&e.socket))
        .map(|e| {
            let what = match &e.kind {
                EventKind::Transition { from, to, cause } => {
                    format!("{} -> {to} cause={cause:?}", from.as_str())
                }
                EventKind::Frame(f) => format!(
                    "frame {:?} {}{}",
                    f.direction,
                    f.opcode.as_str(),
                    f.message_type
                        .as_deref()
                        .map(|t| format!(" {t}"))
                        .unwrap_or_default()
                ),
                other => format!("{other:?}"),
            };
            format!("{:>10.3} ms  socket {}  {what}", ms(e.mono), e.socket)
        })
        .collect()
}

/// A mono stamp in milliseconds.
pub fn ms(m: sockscope_engine::Mono) -> f64 {
    m.0 as f64 / 1e6
}

/// The first logged event `pred` accepts, or the next one to come.
pub async fn seen_or_next(
    h: &mut Harness,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Arc<Event> {
    if let Some(e) = h.log.iter().find(|e| pred(e)) {
        return e.clone();
    }
    h.next(what, pred).await
}
