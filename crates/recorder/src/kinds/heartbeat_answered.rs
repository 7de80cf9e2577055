//! `heartbeat_answered`: a pong's round trip, in `heartbeats`.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};

use super::{Insert, Kind, SpanEventParts, TraceInstant, get_u64};
use crate::trace::i;

/// A pong answered a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRecord {
    /// Round trip in ns.
    pub rtt_ns: u64,
}

const HEARTBEATS_V1: &str = r#"
CREATE TABLE heartbeats (
    event_id INTEGER PRIMARY KEY REFERENCES events(id),
    rtt_ns   INTEGER NOT NULL
);
"#;

impl Kind for HeartbeatRecord {
    fn line(&self) -> String {
        format!("pong after {:.1} ms", self.rtt_ns as f64 / 1e6)
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        let args = serde_json::json!({ "rtt_ms": self.rtt_ns as f64 / 1e6 });
        Some(("heartbeat", "pong".into(), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        Some((
            "heartbeat",
            vec![("sockscope.rtt_us", i(self.rtt_ns / 1000))],
        ))
    }

    const KIND: &'static str = "heartbeat_answered";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, HEARTBEATS_V1)];
    const INSERT: &'static str = "INSERT INTO heartbeats (event_id, rtt_ns) VALUES (?1, ?2)";
    const SELECT: &'static str =
        "SELECT event_id, rtt_ns FROM heartbeats WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![at.event_id, self.rtt_ns as i64])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<HeartbeatRecord> {
        Ok(HeartbeatRecord {
            rtt_ns: get_u64(r, 1)?,
        })
    }
}
