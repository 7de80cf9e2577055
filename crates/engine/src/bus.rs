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

    pub async fn publish(&self, event: Event) {
        let event = Arc::new(event);
        let senders = self
            .lossless
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for sender in senders.iter() {
            // A subscriber that went away has nothing left to lose.
            let _ = sender.send(event.clone()).await;
        }
        // No live subscriber is not an error.
        let _ = self.live.send(event);
    }
}
