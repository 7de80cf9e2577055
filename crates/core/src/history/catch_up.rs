//! A running session's events from its start, each exactly once: what the
//! recorder has committed, a page at a time, then the live subscription.
//!
//! The engine hands each event to the recorder's lossless queue before the
//! live ring. So [`CatchUp::start`] subscribes to live events first, then
//! asks the recorder for a sync point: every event the live subscription
//! missed was in the queue by then, and the sync point's commit holds it.
//! The history is read up to that point only (`WindowQuery::ids`), so its
//! pages are one prefix of the session even while the writer goes on. The
//! events committed between the subscription and the sync point are in
//! both; [`Cutoff`] drops them from the live side.
//!
//! A reader that takes its time over the pages may see the live ring pass
//! it by. Nothing is lost then either: [`CatchUp::next_round`] notices,
//! subscribes again and reads the rest from the recorder, and the caller
//! pages on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::Event;
use sockscope_recorder::{EventRecord, IdRange, RecordReader, SyncPoint, WindowQuery};
use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::{CoreError, Session};

/// How long a sync point may take: the writer commits what the lossless
/// queue holds (at most 8192 events) before it answers.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The history of a running session up to a sync point, in pages, and the
/// live subscription that goes on from there.
#[derive(Debug)]
pub struct CatchUp {
    session: Session,
    live: broadcast::Receiver<Arc<Event>>,
    reader: Option<RecordReader>,
    /// The pages still to read; `None` once read.
    query: Option<WindowQuery>,
    /// Where the next round starts: the last event id of the last round.
    read_through: i64,
    /// The last event id of the round being read.
    round_through: i64,
    page_size: usize,
    cutoff: Cutoff,
    rounds: u32,
    /// A live event taken to check for a lag.
    first: Option<Arc<Event>>,
    /// Live events missed when the rounds ran out.
    lagged: u64,
}

/// Rounds before a reader that cannot keep up with the live events is
/// left to lag like any live reader (its batches then say how many events
/// it missed).
const MAX_ROUNDS: u32 = 8;

/// The live side, once the history is read: every event `cutoff` admits
/// is new.
#[derive(Debug)]
pub struct Live {
    /// The live subscription.
    pub events: broadcast::Receiver<Arc<Event>>,
    /// Drops the live events the history already held.
    pub cutoff: Cutoff,
    /// A live event taken to check for a lag; it comes before `events`.
    pub first: Option<Arc<Event>>,
    /// Live events missed after the last round, if the reader could not
    /// keep up; they are in the database.
    pub missed: u64,
}

impl CatchUp {
    /// Subscribes to live events, then syncs the recorder. Pages of at
    /// most `page_size` events follow from [`CatchUp::next_page`].
    pub async fn start(session: &Session, page_size: usize) -> Result<CatchUp, CoreError> {
        let mut up = CatchUp {
            session: session.clone(),
            live: session.subscribe(),
            reader: None,
            query: None,
            read_through: 0,
            round_through: 0,
            page_size: page_size.max(1),
            cutoff: Cutoff::default(),
            rounds: 0,
            first: None,
            lagged: 0,
        };
        up.sync().await?;
        Ok(up)
    }

    /// Syncs the recorder and sets the next pages to what it committed
    /// since the last round.
    async fn sync(&mut self) -> Result<(), CoreError> {
        let point = self.session.sync_recorder(SYNC_TIMEOUT).await?;
        let through = match point {
            Some(SyncPoint {
                last_event_id: Some(id),
                ..
            }) => id,
            Some(SyncPoint {
                last_event_id: None,
                ..
            }) => self.read_through,
            // The recorder has stopped: all it will ever hold is there.
            None => i64::MAX,
        };
        self.rounds += 1;
        self.round_through = through;
        self.query = (through > self.read_through).then(|| WindowQuery {
            ids: Some(IdRange {
                after: self.read_through,
                through,
            }),
            ..WindowQuery::whole_session(self.session.session_id(), self.page_size)
        });
        Ok(())
    }

    /// The next page of the history, in `(mono, id)` order; `None` once the
    /// history up to the sync point is read. Blocks on SQLite: call it off
    /// the async threads.
    pub fn next_page(&mut self) -> Result<Option<Vec<EventRecord>>, CoreError> {
        let Some(q) = self.query.as_mut() else {
            return Ok(None);
        };
        let reader = match &mut self.reader {
            Some(r) => r,
            None => self
                .reader
                .insert(RecordReader::open(self.session.db_path())?),
        };
        let page = reader.events(q)?;
        match page.next {
            Some(next) => q.after = Some(next),
            None => self.query = None,
        }
        for r in &page.events {
            self.cutoff.note(r);
        }
        if self.query.is_none() {
            self.read_through = self.round_through;
        }
        Ok(Some(page.events))
    }

    /// Once the pages are read: if the live ring passed the subscription by
    /// meanwhile, subscribes again and syncs for another round of pages
    /// (true); otherwise the history is done (false).
    pub async fn next_round(&mut self) -> Result<bool, CoreError> {
        if self.query.is_some() {
            return Ok(true);
        }
        match self.live.try_recv() {
            Err(TryRecvError::Lagged(_)) if self.rounds < MAX_ROUNDS => {
                self.live = self.session.subscribe();
                self.sync().await?;
                Ok(true)
            }
            Ok(first) => {
                self.first = Some(first);
                Ok(false)
            }
            Err(TryRecvError::Lagged(n)) => {
                self.lagged = n;
                Ok(false)
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => Ok(false),
        }
    }

    /// How many sync rounds it took (1 unless the live ring passed the
    /// reader by).
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The live side. Call it once [`CatchUp::next_round`] says false.
    pub fn into_live(self) -> Live {
        Live {
            events: self.live,
            cutoff: self.cutoff,
            first: self.first,
            missed: self.lagged,
        }
    }
}

/// Per socket, the history's last instant and its events there, so a live
/// event the history already holds is not counted twice.
///
/// A socket's events are published in the order of their instants (one
/// driver task per socket), and the history holds a prefix of them. So a
/// live event before a socket's last instant is in the history, and one
/// after it is new. At the last instant itself, several events may share
/// it (one step's events); the live side starts somewhere among them, so
/// each is compared with the history's, in order, up to the first that
/// differs. Two events of one socket at one instant that are identical in
/// every recorded field cannot be told apart: then the live copy is dropped.
#[derive(Debug, Default)]
pub struct Cutoff(HashMap<u64, Tail>);

#[derive(Debug)]
struct Tail {
    mono: u64,
    /// The history's events at `mono`, in order, as compared.
    events: Vec<EventRecord>,
    /// Where the live side's next copy would be, once one has matched.
    next: Option<usize>,
}

impl Cutoff {
    /// Notes an event of the history, in order.
    pub fn note(&mut self, r: &EventRecord) {
        let same = r.clone().content();
        match self.0.get_mut(&r.socket_id) {
            Some(t) if t.mono == r.mono_ns => t.events.push(same),
            Some(t) if t.mono > r.mono_ns => {}
            _ => {
                self.0.insert(
                    r.socket_id,
                    Tail {
                        mono: r.mono_ns,
                        events: vec![same],
                        next: None,
                    },
                );
            }
        }
    }

    /// Whether a live event is new, not one the history holds.
    pub fn admits(&mut self, ev: &Event) -> bool {
        let Some(t) = self.0.get_mut(&ev.socket) else {
            return true;
        };
        if ev.mono.0 < t.mono {
            return false;
        }
        if ev.mono.0 == t.mono {
            let live = EventRecord::from_event(ev, None).content();
            let from = t.next.unwrap_or(0);
            let found = match t.next {
                // Once matched, the copies come in order.
                Some(k) => (t.events.get(k) == Some(&live)).then_some(k),
                None => t.events[from..].iter().position(|e| *e == live),
            };
            if let Some(k) = found {
                t.next = Some(k + 1);
                return false;
            }
        }
        // Past the history: nothing more of this socket is in it.
        self.0.remove(&ev.socket);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use sockscope_engine::Event;
    use sockscope_engine::event::{EventKind, Mono};
    use sockscope_recorder::EventRecord;

    use super::Cutoff;

    /// An event of `socket` at `mono`, told apart by `tag`.
    fn ev(socket: u64, mono: u64, tag: u64) -> Event {
        Event {
            socket,
            mono: Mono(mono),
            wall: SystemTime::UNIX_EPOCH + Duration::from_nanos(mono),
            kind: EventKind::HeartbeatAnswered {
                rtt: Duration::from_nanos(tag),
            },
        }
    }

    fn history(events: &[Event]) -> Cutoff {
        let mut c = Cutoff::default();
        for e in events {
            c.note(&EventRecord::from_event(e, None));
        }
        c
    }

    #[test]
    fn live_events_before_or_after_the_history_are_dropped_or_kept() {
        let mut c = history(&[ev(1, 10, 1), ev(1, 20, 2)]);
        assert!(
            !c.admits(&ev(1, 15, 9)),
            "older than the history's last instant"
        );
        assert!(!c.admits(&ev(1, 20, 2)), "the history's last event");
        assert!(c.admits(&ev(1, 21, 3)));
        assert!(
            c.admits(&ev(1, 20, 4)),
            "past the history, an instant is no cutoff"
        );
        assert!(c.admits(&ev(2, 0, 5)), "a socket with no history");
    }

    /// One step's events share an instant; the live subscription may begin
    /// among them. Counting them would drop a new event at that instant.
    #[test]
    fn at_the_last_instant_live_copies_are_matched_one_by_one() {
        let mut c = history(&[ev(1, 20, 1), ev(1, 20, 2)]);
        assert!(
            !c.admits(&ev(1, 20, 2)),
            "the subscription began between 1 and 2"
        );
        assert!(c.admits(&ev(1, 20, 3)), "new, at the same instant");
        assert!(c.admits(&ev(1, 20, 4)));

        let mut c = history(&[ev(1, 20, 1), ev(1, 20, 2)]);
        assert!(!c.admits(&ev(1, 20, 1)));
        assert!(!c.admits(&ev(1, 20, 2)));
        assert!(c.admits(&ev(1, 20, 3)));

        let mut c = history(&[ev(1, 20, 1)]);
        assert!(
            c.admits(&ev(1, 20, 2)),
            "the subscription began after the history"
        );
        assert!(
            c.admits(&ev(1, 20, 1)),
            "an identical event, but after a new one: new"
        );
    }
}
