//! A thousand sockets reconnecting at once.

use std::time::Duration;

use sockscope_engine::State;
use sockscope_engine::event::EventKind;
use sockscope_sim::{JobKind, WireEvent};

use super::job::paced;
use super::run::{Run, Step, Stop, check};
use super::{EVENT_TIMEOUT, STORM_SOCKETS};

pub(super) async fn reconnect_storm(run: &mut Run) -> Step {
    let n = STORM_SOCKETS;
    let ceiling = Duration::from_millis(1000);
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        // A job that stays quiet: one item a minute.
        let job = run.job(JobKind::Enrichment, 10, paced(60_000))?;
        let mut cfg = run.config(&job);
        cfg.reconnect.base = ceiling;
        cfg.reconnect.cap = ceiling;
        cfg.timeouts.handshake = Duration::from_secs(10);
        cfg.timeouts.ready = Duration::from_secs(5);
        sockets.push(run.add(&cfg)?);
    }
    let mut ready = 0;
    while ready < n {
        run.next("every socket Ready", |e| {
            matches!(
                &e.kind,
                EventKind::Transition {
                    to: State::Ready { .. },
                    ..
                }
            )
        })
        .await?;
        ready += 1;
    }
    // Arrival times of the 101s, taken as the wire log publishes them, on a
    // thread of their own so that 1,000 busy sockets cannot delay the stamps.
    let mut wire = run.sim.subscribe_wire();
    let collector = tokio::task::spawn_blocking(move || {
        use tokio::sync::broadcast::error::RecvError;
        let mut at = Vec::with_capacity(n);
        let mut lagged = 0u64;
        while at.len() < n {
            match wire.blocking_recv() {
                Ok(WireEvent::Connection { status: 101, .. }) => {
                    at.push(std::time::Instant::now());
                }
                Ok(_) => {}
                Err(RecvError::Lagged(k)) => lagged += k,
                // The simulator is gone: the scenario is over.
                Err(RecvError::Closed) => break,
            }
        }
        (at, lagged)
    });
    let restart = std::time::Instant::now();
    run.sim.close_all(1001, "restart")?;
    let mut again = 0;
    while again < n {
        run.next("every socket Ready again after the restart", |e| {
            matches!(
                &e.kind,
                EventKind::Transition {
                    to: State::Ready { .. },
                    ..
                }
            )
        })
        .await?;
        again += 1;
    }
    let (at, lagged) = match tokio::time::timeout(EVENT_TIMEOUT, collector).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(Stop::Check(format!("the wire collector failed: {e}"))),
        Err(_) => {
            return Err(Stop::Check(
                "the wire never showed every reconnect's 101".into(),
            ));
        }
    };
    check(lagged == 0, || {
        format!("the wire subscription lagged by {lagged} events; the measurement is incomplete")
    })?;
    check(at.len() == n, || {
        format!("the wire showed {} reconnects, not {n}", at.len())
    })?;
    let mut buckets: Vec<usize> = Vec::new();
    for t in &at {
        let b = (t.duration_since(restart).as_millis() / 100) as usize;
        if buckets.len() <= b {
            buckets.resize(b + 1, 0);
        }
        buckets[b] += 1;
    }
    // The mean runs from the first busy 100 ms to the last: the close
    // handshakes before the first retry are not part of the spread.
    let first = buckets.iter().position(|&b| b > 0).unwrap_or(0);
    let peak = buckets.iter().copied().max().unwrap_or(0);
    let mean = n as f64 / (buckets.len() - first).max(1) as f64;
    let ratio = peak as f64 / mean;
    let span = at
        .iter()
        .map(|t| t.duration_since(restart))
        .max()
        .unwrap_or_default();
    let delays: Vec<Duration> = run
        .log
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::BackoffPlanned { delay, .. } => Some(delay),
            _ => None,
        })
        .collect();
    let (lo, hi) = (
        delays.iter().min().copied().unwrap_or_default(),
        delays.iter().max().copied().unwrap_or_default(),
    );
    run.observe(format!(
        "{n} sockets closed with 1001 at once; {} reconnects over {:.2}s",
        at.len(),
        span.as_secs_f64()
    ));
    run.observe(format!(
        "connects per 100 ms: peak {peak}, mean {mean:.1}, peak/mean {ratio:.2} (without jitter all {n} would retry at the same instant)"
    ));
    run.observe(format!(
        "backoff delays drawn: {} from {lo:.0?} to {hi:.0?} under a {ceiling:?} ceiling",
        delays.len()
    ));
    run.observe(format!("buckets: {buckets:?}"));
    check(delays.len() == n, || {
        format!("{} backoffs planned, not {n}", delays.len())
    })?;
    // Full jitter draws uniformly under the ceiling: every tenth of it gets
    // about n/10 sockets. A busy server can smear a storm on the wire, so
    // the spread is checked where it is decided too.
    let mut tenths = [0usize; 10];
    for d in &delays {
        let i = (d.as_nanos() * 10 / ceiling.as_nanos()).min(9) as usize;
        tenths[i] += 1;
    }
    run.observe(format!("delays per tenth of the ceiling: {tenths:?}"));
    check(tenths.iter().all(|&t| t >= n / 20), || {
        format!("the backoff delays are not spread: {tenths:?} per tenth of the ceiling")
    })?;
    // The engine's planned connect times hold the goal (peak/mean ≤ 3× per
    // 100 ms): CPU load on a 2-core machine can bunch the wire times, not
    // the plan. On the wire, no herd: at most a quarter in one 100 ms.
    let slots = (ceiling.as_millis() / 100).max(1) as usize;
    let mut planned = vec![0usize; slots];
    for d in &delays {
        planned[((d.as_millis() / 100) as usize).min(slots - 1)] += 1;
    }
    let planned_peak = planned.iter().copied().max().unwrap_or(0);
    let planned_ratio = planned_peak as f64 / (n as f64 / planned.len() as f64);
    run.observe(format!(
        "planned connects per 100 ms: peak {planned_peak}, peak/mean {planned_ratio:.2}; on the wire {ratio:.2}"
    ));
    check(planned_ratio <= 3.0, || {
        format!("the planned reconnects were not spread: {planned:?} per 100 ms")
    })?;
    check(peak <= n / 4, || {
        format!(
            "the reconnects were not spread on the wire: peak {peak} per 100 ms against a mean of {mean:.1}"
        )
    })?;
    drop(sockets);
    Ok(())
}
