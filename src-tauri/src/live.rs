//! Live events to the webview: a backfill of what the recorder already
//! holds, then the live subscription, coalesced to the display's frame rate
//! so a burst of events costs one IPC message per frame.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sockscope_core::Session;
use sockscope_engine::Event;
use sockscope_recorder::{RecordReader, WindowQuery};
use tauri::ipc::Channel;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::UiError;
use crate::transfer::{LiveBatch, SocketRow, UiEvent};

/// One batch per display frame at most.
pub const FRAME: Duration = Duration::from_millis(16);

const BACKFILL_PAGE: usize = 20_000;

/// Per socket: the last backfilled (mono, how many events at that mono), so
/// a live event already in the backfill is not sent twice.
#[derive(Debug, Default)]
pub struct Cutoff(HashMap<u64, (u64, usize)>);

impl Cutoff {
    fn note(&mut self, socket: u64, mono: u64) {
        let e = self.0.entry(socket).or_insert((mono, 0));
        if e.0 == mono {
            e.1 += 1;
        } else if mono > e.0 {
            *e = (mono, 1);
        }
    }

    /// Whether a live event is new, consuming one same-instant slot if not.
    fn admits(&mut self, socket: u64, mono: u64) -> bool {
        match self.0.get_mut(&socket) {
            None => true,
            Some((m, _)) if mono > *m => {
                self.0.remove(&socket);
                true
            }
            Some((m, n)) if mono == *m && *n > 0 => {
                *n -= 1;
                false
            }
            Some((m, _)) => mono >= *m,
        }
    }
}

/// Reads every committed event of the session, for the first batch.
pub fn backfill(session: &Session) -> Result<(Vec<UiEvent>, Cutoff), UiError> {
    let reader = RecordReader::open(session.db_path())?;
    let mut q = WindowQuery::whole_session(session.session_id(), BACKFILL_PAGE);
    let mut out = Vec::new();
    let mut cutoff = Cutoff::default();
    loop {
        let page = reader.events(&q)?;
        for r in page.events {
            cutoff.note(r.socket_id, r.mono_ns);
            out.push(UiEvent::from(r));
        }
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    Ok((out, cutoff))
}

/// Accumulates events between frames.
#[derive(Debug, Default)]
pub struct Pending {
    events: Vec<UiEvent>,
    missed: u64,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.missed == 0
    }

    fn take(&mut self, now: u64, sockets: Option<Vec<SocketRow>>) -> LiveBatch {
        LiveBatch {
            now,
            events: std::mem::take(&mut self.events),
            missed: std::mem::take(&mut self.missed),
            sockets,
        }
    }
}

/// The socket list as last sent, so a batch carries it only when it changed
/// (the first batch always does).
#[derive(Debug, Default)]
struct SentRows(Option<Vec<SocketRow>>);

impl SentRows {
    fn changed(&mut self, rows: Vec<SocketRow>) -> Option<Vec<SocketRow>> {
        if self.0.as_ref() == Some(&rows) {
            return None;
        }
        self.0 = Some(rows.clone());
        Some(rows)
    }
}

/// Forwards until the webview goes away (the channel refuses a send) or
/// the session ends.
pub async fn forward(
    session: Session,
    mut rx: broadcast::Receiver<Arc<Event>>,
    mut cutoff: Cutoff,
    first: Vec<UiEvent>,
    channel: Channel<LiveBatch>,
) {
    let now = |s: &Session| s.engine().now().0;
    let mut sent = SentRows::default();
    let mut pending = Pending {
        events: first,
        missed: 0,
    };
    let batch = pending.take(now(&session), sent.changed(SocketRow::all(&session)));
    if channel.send(batch).is_err() {
        return;
    }
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Without events, still a batch twice a second: the engine's "now"
    // (countdowns) and socket rows that changed without an event.
    let mut idle_frames = 0u32;
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    if cutoff.admits(ev.socket, ev.mono.0) {
                        pending.events.push(UiEvent::live(&ev));
                    }
                }
                Err(RecvError::Lagged(n)) => pending.missed += n,
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                idle_frames += 1;
                if pending.is_empty() && idle_frames < 30 {
                    continue;
                }
                idle_frames = 0;
                let batch = pending.take(now(&session), sent.changed(SocketRow::all(&session)));
                if channel.send(batch).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cutoff, SentRows};
    use crate::transfer::SocketRow;

    #[test]
    fn the_socket_list_goes_out_only_when_it_changed() {
        let row = |state| SocketRow {
            id: 1,
            name: "s1".into(),
            adapter: "job",
            job_id: None,
            state,
            attempt: 1,
            attempts: 1,
            backoff_until: None,
            processed: None,
            total: None,
            findings: 0,
            rtt_ms: None,
        };
        let mut sent = SentRows::default();
        assert_eq!(sent.changed(Vec::new()), Some(Vec::new()), "the first list");
        assert_eq!(sent.changed(Vec::new()), None);
        assert_eq!(sent.changed(vec![row("Ready")]), Some(vec![row("Ready")]));
        assert_eq!(sent.changed(vec![row("Ready")]), None);
        assert_eq!(sent.changed(vec![row("Closed")]), Some(vec![row("Closed")]));
        assert_eq!(sent.changed(Vec::new()), Some(Vec::new()));
    }

    #[test]
    fn cutoff_drops_backfilled_events_and_admits_later_ones() {
        let mut c = Cutoff::default();
        c.note(1, 10);
        c.note(1, 20);
        c.note(1, 20);
        assert!(!c.admits(1, 15), "older than the backfill");
        assert!(!c.admits(1, 20));
        assert!(!c.admits(1, 20));
        assert!(c.admits(1, 20), "a third event at the same instant is new");
        assert!(c.admits(1, 21));
        assert!(c.admits(2, 0), "a socket with no backfill");
    }
}
