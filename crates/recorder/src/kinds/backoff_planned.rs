//! `backoff_planned`: a planned reconnect delay, in `backoffs`.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};

use super::{Insert, Kind, SpanEventParts, TraceInstant, get_u64};
use crate::trace::i;

/// A planned reconnect delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffRecord {
    /// Retry number (1-based).
    pub attempt: u32,
    /// Delay drawn, ns.
    pub delay_ns: u64,
    /// Ceiling, ns.
    pub ceiling_ns: u64,
}

const BACKOFFS_V1: &str = r#"
CREATE TABLE backoffs (
    event_id   INTEGER PRIMARY KEY REFERENCES events(id),
    attempt    INTEGER NOT NULL,
    delay_ns   INTEGER NOT NULL,
    ceiling_ns INTEGER NOT NULL
);
"#;

impl Kind for BackoffRecord {
    fn line(&self) -> String {
        format!(
            "backoff #{} planned {:.0} ms (ceiling {:.0} ms)",
            self.attempt,
            self.delay_ns as f64 / 1e6,
            self.ceiling_ns as f64 / 1e6
        )
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        let args = serde_json::json!({
            "attempt": self.attempt, "delay_ms": self.delay_ns as f64 / 1e6,
            "ceiling_ms": self.ceiling_ns as f64 / 1e6,
        });
        Some(("backoff", "backoff planned".into(), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        Some((
            "backoff_planned",
            vec![
                ("sockscope.backoff.attempt", i(self.attempt)),
                ("sockscope.backoff.delay_ms", i(self.delay_ns / 1_000_000)),
                (
                    "sockscope.backoff.ceiling_ms",
                    i(self.ceiling_ns / 1_000_000),
                ),
            ],
        ))
    }

    const KIND: &'static str = "backoff_planned";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, BACKOFFS_V1)];
    const INSERT: &'static str =
        "INSERT INTO backoffs (event_id, attempt, delay_ns, ceiling_ns) VALUES (?1, ?2, ?3, ?4)";
    const SELECT: &'static str =
        "SELECT event_id, attempt, delay_ns, ceiling_ns FROM backoffs WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.attempt,
            self.delay_ns as i64,
            self.ceiling_ns as i64
        ])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<BackoffRecord> {
        Ok(BackoffRecord {
            attempt: r.get(1)?,
            delay_ns: get_u64(r, 2)?,
            ceiling_ns: get_u64(r, 3)?,
        })
    }
}
