//! `finding`: a race prevented or a contract broken, in `findings`, linked
//! to the transition that began its state and the frame just before it.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::{Finding, FindingSide, Severity};

use super::{Insert, Kind, SpanEventParts, TraceInstant};
use crate::redact;
use crate::trace::{i, s};

/// A finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// Stable class name.
    pub class: String,
    /// `prevented`, `peer`, `network` or `client`.
    pub side: String,
    /// `info`, `warning` or `error`.
    pub severity: String,
    /// Connection attempt.
    pub attempt: u32,
    /// JSON object: `{"detail": "...", ...}`.
    pub detail: String,
    /// The transition that began the state it happened in.
    pub transition_event_id: Option<i64>,
    /// The frame it is about: the socket's event just before it, if a frame.
    pub frame_event_id: Option<i64>,
}

impl FindingRecord {
    pub(crate) fn new(f: &Finding) -> FindingRecord {
        FindingRecord {
            class: f.class.as_str().to_owned(),
            side: match f.class.side() {
                FindingSide::Prevented => "prevented",
                FindingSide::Peer => "peer",
                FindingSide::Network => "network",
                FindingSide::Client => "client",
            }
            .to_owned(),
            severity: match f.class.severity() {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Error => "error",
            }
            .to_owned(),
            attempt: f.attempt,
            detail: serde_json::json!({ "detail": redact::free_text(&f.detail) }).to_string(),
            transition_event_id: None,
            frame_event_id: None,
        }
    }
}

const FINDINGS_V1: &str = r#"
CREATE TABLE findings (
    event_id            INTEGER PRIMARY KEY REFERENCES events(id),
    class               TEXT NOT NULL,
    side                TEXT NOT NULL,
    severity            TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    detail              TEXT NOT NULL,   -- JSON object
    transition_event_id INTEGER,
    frame_event_id      INTEGER
);
"#;

impl Kind for FindingRecord {
    fn line(&self) -> String {
        format!("! {} [{}]: {}", self.class, self.side, self.detail)
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        // The detail is a JSON object; kept as one where it parses.
        let detail = serde_json::from_str(&self.detail)
            .unwrap_or_else(|_| serde_json::Value::String(self.detail.clone()));
        let args = serde_json::json!({
            "side": self.side, "severity": self.severity, "attempt": self.attempt,
            "detail": detail,
        });
        Some(("finding", self.class.clone(), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        let detail = serde_json::from_str::<serde_json::Value>(&self.detail)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Some((
            "finding",
            vec![
                ("sockscope.finding.class", s(&self.class)),
                ("sockscope.finding.severity", s(&self.severity)),
                ("sockscope.finding.side", s(&self.side)),
                ("sockscope.finding.detail", s(&detail)),
                ("sockscope.attempt", i(self.attempt)),
            ],
        ))
    }

    const KIND: &'static str = "finding";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, FINDINGS_V1)];
    const INSERT: &'static str = "INSERT INTO findings (event_id, class, side, severity, attempt, detail, transition_event_id, frame_event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    const SELECT: &'static str = "SELECT event_id, class, side, severity, attempt, detail, transition_event_id, frame_event_id
         FROM findings WHERE event_id IN rarray(?1)";

    /// The links come from the socket's track, not the record: only the
    /// writer knows the rows' ids.
    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.class,
            self.side,
            self.severity,
            self.attempt,
            self.detail,
            at.track.transition,
            at.previous_frame
        ])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<FindingRecord> {
        Ok(FindingRecord {
            class: r.get(1)?,
            side: r.get(2)?,
            severity: r.get(3)?,
            attempt: r.get(4)?,
            detail: r.get(5)?,
            transition_event_id: r.get(6)?,
            frame_event_id: r.get(7)?,
        })
    }
}
