//! The endless demo's run: a job of the next act every few seconds, the
//! next long import when one ends, each act's race provoked, and ended
//! sockets retired from the live set, until the session stops.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use sockscope_engine::event::StateName;
use sockscope_engine::{SocketHandle, SocketId};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Inner, Session};
use crate::demo::{DemoAct, DemoMove, EndlessDemo, demo_acts, long_import_acts};

/// How long a move waits for the state it acts in; a socket that never
/// gets there is left alone.
const MOVE_WITHIN: Duration = Duration::from_secs(60);

/// The job protocol's `ping`, the demo's application message.
fn ping(nonce: &str) -> String {
    format!(r#"{{"v":1,"type":"ping","payload":{{"nonce":"{nonce}"}}}}"#)
}

/// Sends `n` application messages now, before Ready: they wait in the
/// outbox (seed 000's race, prevented).
pub(super) async fn send_early(h: &SocketHandle, n: usize) -> Result<(), crate::CoreError> {
    for i in 0..n {
        h.send(ping(&format!("early-{i}"))).await?;
    }
    Ok(())
}

/// The demo's sockets, by id, with the moment each settled.
#[derive(Default)]
struct Cast {
    live: BTreeMap<SocketId, Option<Instant>>,
    long: Option<SocketId>,
}

/// Runs until `stop` turns true (or its sender goes) or the session is
/// gone. `opening`: the three demo jobs already added, retired like the rest.
pub(super) async fn run(
    inner: Weak<Inner>,
    pace: EndlessDemo,
    opening: Vec<SocketId>,
    mut stop: watch::Receiver<bool>,
) {
    let acts = demo_acts(pace.items, pace.interval_ms);
    let longs = long_import_acts(pace.long_items);
    let mut cast = Cast {
        live: opening.into_iter().map(|id| (id, None)).collect(),
        long: None,
    };
    let mut tick = tokio::time::interval(pace.arrival_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (mut next_act, mut next_long, mut job_no) = (0usize, 0usize, 3u64);
    // The first tick is at once: the long import starts beside the three
    // opening jobs, and the first short one comes a tick later, when they
    // have told their story.
    let mut first = true;
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = tick.tick() => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        let session = Session { inner };
        let Some(base) = session.sim_base().await else {
            return;
        };
        retire(&session, &mut cast, pace.linger).await;
        let long_done = match cast.long {
            None => true,
            Some(id) => session.handle(id).map_or(true, |h| h.snapshot().settled()),
        };
        if long_done && cast.live.len() < pace.max_live {
            let act = &longs[next_long % longs.len()];
            next_long += 1;
            job_no += 1;
            let name = format!("#{job_no} long {}", act.kind.as_str());
            match start(
                &session,
                &base,
                act,
                name,
                pace.long_items,
                pace.long_interval_ms,
            )
            .await
            {
                Ok(id) => {
                    cast.live.insert(id, None);
                    cast.long = Some(id);
                }
                Err(e) => tracing::warn!("the demo's long import did not start: {e}"),
            }
        }
        if std::mem::take(&mut first) {
            continue;
        }
        if cast.live.len() < pace.max_live {
            let act = &acts[next_act % acts.len()];
            next_act += 1;
            job_no += 1;
            let name = format!("#{job_no} {}", act.scenario);
            match start(&session, &base, act, name, pace.items, pace.interval_ms).await {
                Ok(id) => {
                    cast.live.insert(id, None);
                }
                Err(e) => tracing::warn!("the demo's next job did not start: {e}"),
            }
        }
    }
}

/// Removes the sockets that settled at least `linger` ago (their history
/// stays recorded), and their jobs from the simulator.
async fn retire(session: &Session, cast: &mut Cast, linger: Duration) {
    let now = Instant::now();
    let mut gone = Vec::new();
    for (id, settled) in cast.live.iter_mut() {
        let Ok(h) = session.handle(*id) else {
            // Removed by the user.
            gone.push((*id, None));
            continue;
        };
        if !h.snapshot().settled() {
            continue;
        }
        let since = *settled.get_or_insert(now);
        if now.duration_since(since) >= linger {
            gone.push((*id, h.info().job_id.clone()));
        }
    }
    for (id, job) in gone {
        cast.live.remove(&id);
        if session.handle(id).is_ok()
            && let Err(e) = session.remove_socket(id).await
        {
            tracing::warn!("the demo could not retire socket {id}: {e}");
        }
        if let (Some(job), Some(sim)) = (job, session.inner.sim.lock().await.as_ref()) {
            // Its events and wire log go with it; the job had ended.
            let _ = sim.delete_job(&job);
        }
    }
}

/// Adds the act's job and socket, and sets off its moves.
async fn start(
    session: &Session,
    base: &str,
    act: &DemoAct,
    name: String,
    items: u64,
    interval_ms: u64,
) -> Result<SocketId, crate::CoreError> {
    let faults = sockscope_sim::Faults {
        interval_ms: Some(interval_ms),
        ..act.faults.clone()
    };
    let id = session
        .add_demo_job(base, name, act.kind, items, &faults, act.tune)
        .await?;
    let handle = session.handle(id)?;
    match act.moves {
        DemoMove::None => {}
        DemoMove::SendEarly(n) => send_early(&handle, n).await?,
        moves => {
            tokio::spawn(play(handle, moves));
        }
    }
    Ok(id)
}

/// A move that waits for its moment; bounded, and harmless once the
/// socket is gone.
async fn play(h: SocketHandle, moves: DemoMove) {
    let at = |name: StateName| move |s: &sockscope_engine::Snapshot| s.state.name() == name;
    let played = tokio::time::timeout(MOVE_WITHIN, async {
        match moves {
            DemoMove::SendAwaitingReady(n) => {
                h.wait_for(at(StateName::AwaitingReady)).await?;
                for i in 0..n {
                    h.send(ping(&format!("waiting-{i}"))).await?;
                }
            }
            DemoMove::SendAfterEnd => {
                h.wait_for(|s| s.state.is_terminal()).await?;
                // Refused (Closed), with a finding: the race shown.
                let _ = h.send(ping("late")).await;
            }
            DemoMove::CancelInBackoff => {
                h.wait_for(at(StateName::Backoff)).await?;
                h.cancel().await?;
            }
            DemoMove::None | DemoMove::SendEarly(_) => {}
        }
        Ok::<(), sockscope_engine::Error>(())
    })
    .await;
    if let Ok(Err(e)) = played {
        tracing::debug!("a demo move did not play: {e}");
    }
}
