//! Fan-out of events to any number of subscribers, of two kinds:
//!
//! - **lossless** ([`crate::Engine::subscribe_lossless`]): a bounded queue per
//!   subscriber. When it is full, publishing waits, so back-pressure falls on
//!   event production and nothing is dropped. The recorder uses this.
//! - **live** ([`crate::Engine::subscribe_live`]): a broadcast ring. A slow
//!   reader skips ahead and is told how many events it missed
//!   (`RecvError::Lagged`); producers never wait. A UI uses this and
//!   coalesces.
//!
//! The live ring is bounded twice: by events (`live_capacity`) and by the
//! frame payload bytes its unread events hold (`live_bytes`). An event the
//! slowest live reader has not yet seen stays in the ring; once a frame's
//! payload would take the unread ones past `live_bytes`, the frame goes to
//! the live ring without its payload (`text: None`, `size` kept; the
//! lossless subscribers, and so the recorder, still get it whole). With no
//! live subscriber, nothing is kept at all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{broadcast, mpsc};

use crate::event::{Event, EventKind, FrameRecord};

#[derive(Debug)]
pub(crate) struct Bus {
    lossless: RwLock<Arc<[mpsc::Sender<Arc<Event>>]>>,
    live: broadcast::Sender<Arc<Event>>,
    /// The ring's slots (its capacity, rounded up to a power of two).
    live_slots: usize,
    live_bytes: usize,
    /// Payload bytes of the events in the live ring, oldest first. Also
    /// orders live sends, so the ledger matches the ring.
    ledger: Mutex<Ledger>,
}

/// Payload sizes of the newest events sent to the live ring. The ring
/// holds at most the last `capacity` of them, and of those only the ones
/// its slowest reader has not seen ([`broadcast::Sender::len`]).
#[derive(Debug, Default)]
struct Ledger {
    sizes: VecDeque<usize>,
    total: usize,
}

impl Ledger {
    /// Forgets all but the newest `n`: the ring holds no older ones.
    fn keep_newest(&mut self, n: usize) {
        while self.sizes.len() > n {
            self.total -= self.sizes.pop_front().unwrap_or(0);
        }
    }

    fn push(&mut self, size: usize) {
        self.sizes.push_back(size);
        self.total += size;
    }

    fn clear(&mut self) {
        self.sizes.clear();
        self.total = 0;
    }
}

/// The payload bytes an event holds.
fn payload_len(event: &Event) -> usize {
    match &event.kind {
        EventKind::Frame(f) => f.text.as_ref().map_or(0, |t| t.len()),
        _ => 0,
    }
}

/// A frame event without its payload.
fn without_payload(event: &Event) -> Event {
    let kind = match &event.kind {
        EventKind::Frame(f) => EventKind::Frame(FrameRecord {
            direction: f.direction,
            opcode: f.opcode,
            size: f.size,
            message_type: f.message_type.clone(),
            seq: f.seq,
            msg: f.msg,
            close_code: f.close_code,
            text: None,
            binary: None,
        }),
        other => other.clone(),
    };
    Event {
        socket: event.socket,
        mono: event.mono,
        wall: event.wall,
        kind,
    }
}

impl Bus {
    pub fn new(live_capacity: usize, live_bytes: usize) -> Bus {
        let live_slots = live_capacity.max(1).next_power_of_two();
        Bus {
            lossless: RwLock::new(Arc::from(Vec::new())),
            live: broadcast::channel(live_slots).0,
            live_slots,
            live_bytes,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    pub fn subscribe_lossless(&self, capacity: usize) -> mpsc::Receiver<Arc<Event>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let mut guard = self.lossless.write().unwrap_or_else(|p| p.into_inner());
        let mut senders: Vec<_> = guard.iter().filter(|s| !s.is_closed()).cloned().collect();
        senders.push(tx);
        *guard = Arc::from(senders);
        rx
    }

    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    /// Publishes one event, as [`Bus::publish_all`] does.
    pub async fn publish(&self, event: Event) {
        self.publish_all(&mut vec![event]).await;
    }

    /// Publishes `events` in order, leaving the vector empty. Each lossless
    /// subscriber gets all of them before the next one gets any, in runs of
    /// as many as its queue has room for; when it is full, this waits for
    /// one free slot at a time, so back-pressure is what it would be if
    /// they were published one by one. The live ring then gets them all.
    pub async fn publish_all(&self, events: &mut Vec<Event>) {
        let events: Vec<Arc<Event>> = events.drain(..).map(Arc::new).collect();
        let senders = self
            .lossless
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for sender in senders.iter() {
            let mut rest = &events[..];
            while let Some((first, tail)) = rest.split_first() {
                let room = sender.capacity().clamp(1, rest.len());
                match sender.try_reserve_many(room) {
                    Ok(permits) => {
                        for (permit, event) in permits.zip(rest) {
                            permit.send(event.clone());
                        }
                        rest = &rest[room..];
                    }
                    Err(mpsc::error::TrySendError::Full(())) => {
                        if sender.send(first.clone()).await.is_err() {
                            break;
                        }
                        rest = tail;
                    }
                    // A subscriber that went away has nothing left to lose.
                    Err(mpsc::error::TrySendError::Closed(())) => break,
                }
            }
        }
        self.publish_live(events);
    }

    /// Sends to the live ring, each frame's payload only while the unread
    /// events' payloads stay within `live_bytes`.
    fn publish_live(&self, events: Vec<Arc<Event>>) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        for event in events {
            let mut size = payload_len(&event);
            if ledger.total + size > self.live_bytes {
                // Only the events the slowest reader has not seen still
                // hold memory; count just those before deciding.
                ledger.keep_newest(self.live.len());
            }
            let event = if size > 0 && ledger.total + size > self.live_bytes {
                size = 0;
                Arc::new(without_payload(&event))
            } else {
                event
            };
            match self.live.send(event) {
                Ok(_) => {
                    ledger.push(size);
                    // The ring has overwritten anything older.
                    ledger.keep_newest(self.live_slots);
                }
                // No live subscriber: the ring keeps nothing.
                Err(_) => ledger.clear(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::event::{Direction, EventKind, Mono, Opcode};

    fn frame(i: u64, len: usize) -> Event {
        Event {
            socket: 1,
            mono: Mono(i),
            wall: SystemTime::UNIX_EPOCH,
            kind: EventKind::Frame(FrameRecord {
                direction: Direction::In,
                opcode: Opcode::Text,
                size: len,
                message_type: None,
                seq: None,
                msg: None,
                close_code: None,
                text: Some("x".repeat(len).into()),
                binary: None,
            }),
        }
    }

    fn text_len(e: &Event) -> Option<usize> {
        match &e.kind {
            EventKind::Frame(f) => f.text.as_ref().map(|t| t.len()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn unread_live_payloads_stay_within_the_byte_budget() {
        let bus = Bus::new(64, 10 * 1024);
        let mut lossless = bus.subscribe_lossless(1000);
        let mut idle = bus.subscribe_live();
        for i in 0..40 {
            bus.publish(frame(i, 1024)).await;
        }
        // The reader that never read holds 10 payloads; the rest came
        // without, their size kept. The lossless subscriber got them all.
        for i in 0..40 {
            let e = idle.try_recv().expect("live event");
            assert_eq!(e.mono.0, i);
            let EventKind::Frame(f) = &e.kind else {
                unreachable!()
            };
            assert_eq!(f.size, 1024);
            let want = (i < 10).then_some(1024);
            assert_eq!(text_len(&e), want, "frame {i}");
            assert_eq!(text_len(&lossless.recv().await.unwrap()), Some(1024));
        }
        // A reader that keeps up holds nothing back: every payload comes.
        for i in 40..100 {
            bus.publish(frame(i, 1024)).await;
            let e = idle.try_recv().expect("live event");
            assert_eq!(text_len(&e), Some(1024), "frame {i}");
        }
        // Without a live subscriber nothing is kept: a new one starts with
        // the whole budget.
        drop(idle);
        for i in 100..200 {
            bus.publish(frame(i, 1024)).await;
        }
        let mut late = bus.subscribe_live();
        for i in 200..210 {
            bus.publish(frame(i, 1024)).await;
        }
        for i in 200..210 {
            assert_eq!(text_len(&late.try_recv().unwrap()), Some(1024), "frame {i}");
        }
    }

    fn events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                socket: 1,
                mono: Mono(i),
                wall: SystemTime::UNIX_EPOCH,
                kind: EventKind::HeartbeatAnswered {
                    rtt: Duration::ZERO,
                },
            })
            .collect()
    }

    #[tokio::test]
    async fn publish_all_hands_every_event_in_order_through_a_full_queue() {
        let bus = Bus::new(256, usize::MAX);
        let mut small = bus.subscribe_lossless(3);
        let gone = bus.subscribe_lossless(1);
        drop(gone);
        let mut roomy = bus.subscribe_lossless(1000);
        let mut live = bus.subscribe_live();
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(e) = small.recv().await {
                seen.push(e.mono.0);
            }
            seen
        });
        // Two batches into a queue of 3 whose reader runs alongside: the
        // publisher waits for room, and the dropped subscriber holds nothing up.
        let mut batch = events(100);
        bus.publish_all(&mut batch).await;
        assert!(batch.is_empty());
        let mut batch: Vec<Event> = events(200).split_off(100);
        bus.publish_all(&mut batch).await;
        drop(bus);
        let want: Vec<u64> = (0..200).collect();
        assert_eq!(reader.await.expect("reader"), want);
        let mut got = Vec::new();
        while let Some(e) = roomy.recv().await {
            got.push(e.mono.0);
        }
        assert_eq!(got, want);
        let mut got = Vec::new();
        while let Ok(e) = live.recv().await {
            got.push(e.mono.0);
        }
        assert_eq!(got, want);
    }
}
