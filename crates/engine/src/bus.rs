//! Fan-out of events to any number of subscribers, of two kinds:
//!
//! - **lossless** ([`crate::Engine::subscribe_lossless`]): a bounded queue per
//!   subscriber. When it is full, publishing waits, so back-pressure falls on
//!   event production and nothing is dropped. The recorder uses this.
//! - **live** ([`crate::Engine::subscribe_live`]): a broadcast ring. A slow
//!   reader skips ahead and is told how many events it missed
//!   (`RecvError::Lagged`); producers never wait. A UI uses this and
//!   coalesces.

use std::sync::{Arc, RwLock};

use tokio::sync::{broadcast, mpsc};

use crate::event::Event;

#[derive(Debug)]
pub(crate) struct Bus {
    lossless: RwLock<Arc<[mpsc::Sender<Arc<Event>>]>>,
    live: broadcast::Sender<Arc<Event>>,
}

impl Bus {
    pub fn new(live_capacity: usize) -> Bus {
        Bus {
            lossless: RwLock::new(Arc::from(Vec::new())),
            live: broadcast::channel(live_capacity.max(1)).0,
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
        for event in events {
            let _ = self.live.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::event::{EventKind, Mono};

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
        let bus = Bus::new(256);
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
