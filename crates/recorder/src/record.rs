//! Serde transfer types: what the recorder stores, reads back and exports.
//! They mirror the engine's events, flattened to strings and numbers, with
//! secrets already scrubbed. The engine's domain types stay serde-free.
//! Each kind's record, and its table, is in its module under `kinds/`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sockscope_engine::event::Event;

pub use crate::kinds::{
    BackoffRecord, EnvironmentRecord, EventBody, FindingRecord, FrameRow, HeartbeatRecord,
    MessageRecord, ProgressRecord, SocketRecord, StateSyncRow, TransitionRecord,
};

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// `events.id`: unique in the file, in commit order; 0 before it is written.
    pub event_id: i64,
    /// Engine socket id.
    pub socket_id: u64,
    /// Monotonic ns since the engine started.
    pub mono_ns: u64,
    /// Wall clock, ns since the Unix epoch.
    pub wall_ns: i64,
    /// What happened.
    pub body: EventBody,
}

/// Wall time as ns since the Unix epoch (negative before it).
pub fn wall_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

impl EventRecord {
    /// What the event says, whoever read it: without its row id, the
    /// finding's links to other rows and the frame's payload (which the
    /// live ring and the payload cap may leave out). Two reads of one event,
    /// from the database and from a live subscription, are equal this way.
    pub fn content(mut self) -> EventRecord {
        self.event_id = 0;
        match &mut self.body {
            EventBody::Frame(f) => {
                f.payload = None;
                f.payload_truncated = false;
            }
            EventBody::Finding(f) => {
                f.transition_event_id = None;
                f.frame_event_id = None;
            }
            _ => {}
        }
        self
    }

    /// Converts an engine event, scrubbing free text and capping a frame
    /// payload at `payload_cap` bytes (`None`: payloads are not kept).
    pub fn from_event(ev: &Event, payload_cap: Option<usize>) -> EventRecord {
        EventRecord {
            event_id: 0,
            socket_id: ev.socket,
            mono_ns: ev.mono.0,
            wall_ns: wall_ns(ev.wall),
            body: EventBody::from_engine(&ev.kind, payload_cap),
        }
    }
}
