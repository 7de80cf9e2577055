//! Live events to the webview: the session's history from the recorder, a
//! page per frame, then the live subscription, coalesced to the display's
//! frame rate so a burst of events costs one IPC message per frame. The
//! history and live events meet without a gap or a repeat
//! (`sockscope_core::history`).

use std::sync::Arc;
use std::time::Duration;

use sockscope_core::Session;
use sockscope_core::history::{CatchUp, Live};
use sockscope_engine::Event;
use sockscope_recorder::EventRecord;
use tauri::ipc::Channel;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::error::UiError;
use crate::transfer::{LiveBatch, SocketRow};
use crate::ui_event::UiEvent;

/// One batch per display frame at most.
pub const FRAME: Duration = Duration::from_millis(16);

/// Events of the history per batch (and so per frame): a long session
/// reaches the window in steps the UI takes in stride, never in one batch.
/// 1M events take 200 frames, about 3.3 s.
pub const BACKFILL_PAGE: usize = 5_000;

/// Subscribes, syncs the recorder and reads the first page of the history,
/// so that a database it cannot read is the caller's error.
pub async fn start(session: &Session) -> Result<(CatchUp, Vec<EventRecord>), UiError> {
    let history = CatchUp::start(session, BACKFILL_PAGE).await?;
    let (history, page) = next_page(history).await?;
    Ok((history, page?.unwrap_or_default()))
}

/// The next page, read off the async threads. Fails only if the reading
/// task panicked.
async fn next_page(
    mut history: CatchUp,
) -> Result<(CatchUp, Result<Option<Vec<EventRecord>>, UiError>), UiError> {
    tauri::async_runtime::spawn_blocking(move || {
        let page = history.next_page().map_err(UiError::from);
        (history, page)
    })
    .await
    .map_err(|e| UiError::new("task", e.to_string()))
}

/// Accumulates events between frames.
#[derive(Debug, Default)]
pub struct Pending {
    events: Vec<UiEvent>,
    missed: u64,
}

impl Pending {
    fn push(&mut self, ev: &Event) {
        match UiEvent::live(ev) {
            Ok(e) => self.events.push(e),
            // Made from the engine's own values: a bug, not bad input.
            Err(e) => tracing::warn!(error = %e, "a live event the window cannot take"),
        }
    }

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

/// Sends the history a page per frame (`first` is its first page; the
/// first batch carries the socket list even when empty), then forwards
/// live events until the webview goes away (the channel refuses a send) or
/// the session ends.
pub async fn forward(
    session: Session,
    mut history: CatchUp,
    first: Vec<EventRecord>,
    channel: Channel<LiveBatch>,
) {
    let now = |s: &Session| s.engine().now().0;
    let mut sent = SentRows::default();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut page = Some(first);
    let mut first_batch = true;
    loop {
        if let Some(records) = page.take().filter(|e| first_batch || !e.is_empty()) {
            first_batch = false;
            let events = match UiEvent::from_records(records) {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the history failed; live events from here");
                    break;
                }
            };
            tick.tick().await;
            let batch = LiveBatch {
                now: now(&session),
                events,
                missed: 0,
                sockets: sent.changed(SocketRow::all(&session)),
            };
            if channel.send(batch).is_err() {
                return;
            }
        }
        let Ok((h, read)) = next_page(history).await else {
            return;
        };
        history = h;
        match read {
            Ok(Some(events)) => page = Some(events),
            Ok(None) => match history.next_round().await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "syncing the recorder failed; live events from here");
                    break;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "reading the history failed; live events from here");
                break;
            }
        }
    }
    let Live {
        events,
        mut cutoff,
        first,
        missed,
    } = history.into_live();
    let first = first.filter(|ev| cutoff.admits(ev));
    let feed = Feed {
        events,
        first,
        missed,
    };
    stream(
        feed,
        |ev| cutoff.admits(ev),
        || (now(&session), sent.changed(SocketRow::all(&session))),
        channel,
    )
    .await;
}

/// A live subscription to forward: `first` goes before `events`, and
/// `missed` events were already lost.
#[derive(Debug)]
pub struct Feed {
    pub events: broadcast::Receiver<Arc<Event>>,
    pub first: Option<Arc<Event>>,
    pub missed: u64,
}

/// Forwards `feed`'s events that `admit` takes, at most one batch per
/// frame, with `tick`'s "now" and socket list, until the webview goes away
/// (the channel refuses a send) or the feed ends (its last batch sent).
/// The session's stream and a recording's both run here.
pub async fn stream(
    feed: Feed,
    mut admit: impl FnMut(&Event) -> bool,
    mut tick_info: impl FnMut() -> (u64, Option<Vec<SocketRow>>),
    channel: Channel<LiveBatch>,
) {
    let Feed {
        events: mut rx,
        first,
        missed,
    } = feed;
    let mut pending = Pending {
        events: Vec::new(),
        missed,
    };
    if let Some(ev) = first {
        pending.push(&ev);
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
                    if admit(&ev) {
                        pending.push(&ev);
                    }
                }
                Err(RecvError::Lagged(n)) => pending.missed += n,
                Err(RecvError::Closed) => {
                    let (now, sockets) = tick_info();
                    let _ = channel.send(pending.take(now, sockets));
                    break;
                }
            },
            _ = tick.tick() => {
                idle_frames += 1;
                if pending.is_empty() && idle_frames < 30 {
                    continue;
                }
                idle_frames = 0;
                let (now, sockets) = tick_info();
                if channel.send(pending.take(now, sockets)).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SentRows;
    use crate::transfer::SocketRow;
    use crate::ui_event::StateName;

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
        assert_eq!(
            sent.changed(vec![row(StateName::Ready)]),
            Some(vec![row(StateName::Ready)])
        );
        assert_eq!(sent.changed(vec![row(StateName::Ready)]), None);
        assert_eq!(
            sent.changed(vec![row(StateName::Closed)]),
            Some(vec![row(StateName::Closed)])
        );
        assert_eq!(sent.changed(Vec::new()), Some(Vec::new()));
    }
}
