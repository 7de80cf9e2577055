//! Follows a session's live events until its sockets end, and prints them
//! as one line each, for `demo` and `watch`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sockscope_core::Session;
use sockscope_engine::event::{EventKind, Finding, MessageStage, StateSyncOutcome};
use sockscope_engine::{Event, FinalCount, Mono, SocketId};
use sockscope_protocol::JobStatus;
use sockscope_recorder::redact;
use tokio::sync::broadcast::{self, error::RecvError};

use sockscope_core::signal::{Signals, Stop};

/// How following a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// The signal that ended it before every socket ended and every final
    /// count was settled.
    pub stopped_by: Option<Stop>,
    /// Whether a failed OTLP export was already told.
    pub export_warned: bool,
}

/// Hands each live event to `each` until every socket's terminal
/// transition has been read and every job's final count is settled (a
/// state sync still in flight or due is waited for, bounded by its own
/// tries), so nothing before the end goes unhandled, or until a signal
/// comes. Skipped events are reported to `lagged`. A failed recording and
/// the first failed OTLP export are told on stderr once, when they happen.
///
/// `endless`: sockets come and go (the endless demo), so only a signal (or
/// the session's end) stops the following.
pub async fn until_all_ended(
    session: &Session,
    endless: bool,
    events: &mut broadcast::Receiver<Arc<Event>>,
    signals: &mut Signals,
    mut lagged: impl FnMut(u64),
    mut each: impl FnMut(&Event) -> anyhow::Result<()>,
) -> anyhow::Result<Followed> {
    // Read once: otherwise no socket is added or removed while the CLI follows.
    let sockets = if endless {
        usize::MAX
    } else {
        session.sockets().len()
    };
    let mut ended = HashSet::new();
    // The snapshot is updated before its events are published, so once the
    // last terminal transition or sync answer is read, the snapshots agree.
    let settled = || {
        session
            .sockets()
            .iter()
            .all(|s| s.final_count != FinalCount::Pending)
    };
    let export = session.watch_export();
    let export_failed = async move {
        match export {
            Some(mut d) => match d.wait_for(|d| d.first_error.is_some()).await {
                Ok(d) => d.first_error.clone().unwrap_or_default(),
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    tokio::pin!(export_failed);
    let mut warned = false;
    while ended.len() < sockets || !settled() {
        let received = tokio::select! {
            biased;
            stop = signals.recv() => {
                return Ok(Followed {
                    stopped_by: Some(stop),
                    export_warned: warned,
                });
            }
            error = &mut export_failed, if !warned => {
                warned = true;
                eprintln!(
                    "warning: OTLP export failed: {error}. The session is still recorded; \
                     the spans not delivered are counted at the end"
                );
                continue;
            }
            r = events.recv() => r,
        };
        match received {
            Ok(e) => {
                match &e.kind {
                    EventKind::Transition { to, .. } if to.is_terminal() => {
                        ended.insert(e.socket);
                    }
                    EventKind::RecordingFailed { reason } => eprintln!(
                        "sockscope: recording failed: {reason}. The sockets go on, \
                         but nothing from now on is saved"
                    ),
                    _ => {}
                }
                each(&e)?;
            }
            Err(RecvError::Lagged(n)) => {
                lagged(n);
                // A skipped event may have been an end: ask the snapshots.
                if !endless && settled() {
                    break;
                }
            }
            Err(RecvError::Closed) => break,
        }
    }
    Ok(Followed {
        stopped_by: None,
        export_warned: warned,
    })
}

/// Turns events into lines, with times relative to the first one.
#[derive(Debug, Default)]
pub struct EventPrinter {
    names: HashMap<SocketId, String>,
    start: Option<Mono>,
}

impl EventPrinter {
    /// The line for `event`, or `None` for events too fine to print.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        if let EventKind::SocketAdded(info) = &event.kind {
            self.names.insert(event.socket, info.name.clone());
        }
        let start = *self.start.get_or_insert(event.mono);
        let name = self.names.get(&event.socket).map_or("?", String::as_str);
        let t = event.mono.since(start).as_secs_f64();
        let what = match &event.kind {
            EventKind::Transition { from, to, cause } => {
                format!("{} -> {to}  ({cause})", from.as_str())
            }
            EventKind::Finding(Finding { class, detail, .. }) => {
                format!("! {}: {detail}", class.as_str())
            }
            EventKind::BackoffPlanned { attempt, delay, .. } => {
                format!("  backoff #{attempt} planned: {delay:.0?}")
            }
            EventKind::StateSync(r) => match &r.outcome {
                StateSyncOutcome::Requested => format!("  state sync try {}", r.try_no),
                StateSyncOutcome::Synced {
                    processed, total, ..
                } => format!("  state synced: {processed}/{total}"),
                StateSyncOutcome::Failed { error, .. } => format!("  state sync failed: {error}"),
            },
            EventKind::Message {
                id,
                stage: MessageStage::Written,
            } => format!("  message {id} written"),
            EventKind::Progress(p) if p.status == Some(JobStatus::Complete) => {
                format!("  progress {}/{}", p.processed, p.total)
            }
            _ => return None,
        };
        // Peer text (finding details, failure codes, sync errors) may quote
        // a secret: the line goes through the recorder's scrubber.
        Some(redact::free_text(&format!("{t:>8.3}s  {name:<15} {what}")))
    }
}
