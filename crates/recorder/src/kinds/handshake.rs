//! `handshake`: an observed connection's WebSocket upgrade (the recording
//! proxy's, an imported capture's), in `handshakes` (schema version 5).
//! Header values are redacted before they are kept.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::Handshake;

use super::{Insert, Kind, SpanEventParts, TraceInstant};
use crate::redact;
use crate::trace::i;

/// Headers kept per side of one upgrade; more are counted in the line.
pub const MAX_HEADERS: usize = 128;
/// Bytes kept of one header value (after redaction).
pub const MAX_HEADER_VALUE: usize = 1024;

/// An upgrade request and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeRecord {
    /// The answer's HTTP status: 101, or the refusal's.
    pub status: u16,
    /// The request's headers as (name, value), values redacted.
    pub request_headers: Vec<(String, String)>,
    /// The answer's headers as (name, value), values redacted.
    pub response_headers: Vec<(String, String)>,
}

impl HandshakeRecord {
    pub(crate) fn new(h: &Handshake) -> HandshakeRecord {
        HandshakeRecord {
            status: h.status,
            request_headers: headers(&h.request),
            response_headers: headers(&h.response),
        }
    }
}

/// Headers as kept: at most [`MAX_HEADERS`], each value redacted and cut.
fn headers(all: &[(String, String)]) -> Vec<(String, String)> {
    all.iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| {
            let mut v = redact::header_value(name, value);
            redact::cut_to(&mut v, MAX_HEADER_VALUE);
            (redact::free_text(name), v)
        })
        .collect()
}

const HANDSHAKES_V5: &str = r#"
CREATE TABLE handshakes (
    event_id         INTEGER PRIMARY KEY REFERENCES events(id),
    status           INTEGER NOT NULL,  -- 101, or the refusal's status
    request_headers  TEXT NOT NULL,     -- JSON [[name, value], ...], values redacted
    response_headers TEXT NOT NULL
);
"#;

impl Kind for HandshakeRecord {
    fn line(&self) -> String {
        let names = |h: &[(String, String)]| {
            h.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "upgrade answered {}; request headers: {}; answer headers: {}",
            self.status,
            names(&self.request_headers),
            names(&self.response_headers)
        )
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        let args = serde_json::json!({
            "status": self.status,
            "request_headers": self.request_headers,
            "response_headers": self.response_headers,
        });
        Some(("handshake", format!("upgrade {}", self.status), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        Some((
            "websocket.upgrade",
            vec![("http.response.status_code", i(self.status))],
        ))
    }

    const KIND: &'static str = "handshake";
    const SCHEMA: &'static [(i64, &'static str)] = &[(5, HANDSHAKES_V5)];
    const INSERT: &'static str = "INSERT INTO handshakes (event_id, status, request_headers, response_headers) VALUES (?1, ?2, ?3, ?4)";
    const SELECT: &'static str = "SELECT event_id, status, request_headers, response_headers FROM handshakes WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        let json =
            |h: &[(String, String)]| serde_json::to_string(h).unwrap_or_else(|_| "[]".into());
        stmt.execute(params![
            at.event_id,
            self.status,
            json(&self.request_headers),
            json(&self.response_headers)
        ])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<HandshakeRecord> {
        let parse = |i: usize| -> rusqlite::Result<Vec<(String, String)>> {
            let text: String = r.get(i)?;
            serde_json::from_str(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
            })
        };
        Ok(HandshakeRecord {
            status: r.get(1)?,
            request_headers: parse(2)?,
            response_headers: parse(3)?,
        })
    }
}
