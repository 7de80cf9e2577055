//! `frame`: a frame in or out. Since v4 its columns are in its own
//! `events` row (one row per frame, no detail table; the writer puts runs
//! of frames in multi-row inserts); `frames` is a view of them.

use rusqlite::{Row, Statement};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::{Direction, FrameRecord};

use super::{Insert, Kind, SpanEventParts, TraceInstant, get_opt_u64, get_u64, opt_i64};
use crate::redact;
use crate::trace::{i, s};

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRow {
    /// `in` or `out`.
    pub direction: String,
    /// `text`, `binary`, `ping`, `pong` or `close`.
    pub opcode: String,
    /// Payload size in bytes.
    pub size: u64,
    /// Protocol `type`.
    pub message_type: Option<String>,
    /// Protocol `seq`.
    pub seq: Option<u64>,
    /// Application message id.
    pub msg_id: Option<u64>,
    /// Close code.
    pub close_code: Option<u16>,
    /// Payload, scrubbed and capped: the text of a text frame, or a binary
    /// frame's bytes as base64 (secrets masked byte for byte); absent when
    /// not captured.
    pub payload: Option<String>,
    /// Whether the payload was cut at the cap.
    pub payload_truncated: bool,
}

impl FrameRow {
    pub(crate) fn new(fr: &FrameRecord, payload_cap: Option<usize>) -> FrameRow {
        let scrubbed = match (&fr.text, &fr.binary, payload_cap) {
            (Some(t), _, Some(cap)) => Some(redact::payload(t, cap)),
            (None, Some(b), Some(cap)) => Some(redact::binary_payload(b, cap)),
            _ => None,
        };
        let (payload, payload_truncated) = match scrubbed {
            Some((p, cut)) => (Some(p), cut),
            None => (None, false),
        };
        FrameRow {
            direction: match fr.direction {
                Direction::In => "in",
                Direction::Out => "out",
            }
            .to_owned(),
            opcode: fr.opcode.as_str().to_owned(),
            size: fr.size as u64,
            message_type: fr.message_type.as_deref().map(redact::free_text),
            seq: fr.seq,
            msg_id: fr.msg,
            close_code: fr.close_code,
            payload,
            payload_truncated,
        }
    }
}

const FRAMES_V1: &str = r#"
CREATE TABLE frames (
    event_id          INTEGER PRIMARY KEY REFERENCES events(id),
    direction         TEXT NOT NULL,
    opcode            TEXT NOT NULL,
    size              INTEGER NOT NULL,
    message_type      TEXT,
    seq               INTEGER,
    msg_id            INTEGER,
    close_code        INTEGER,
    payload           TEXT,
    payload_truncated INTEGER NOT NULL DEFAULT 0
);
"#;

/// v4: frames move into their events rows (`schema.rs` copies them there
/// first); the view keeps the v1 table's name and columns for the CLI.
const FRAMES_V4: &str = r#"
DROP TABLE frames;
CREATE VIEW frames AS
    SELECT id AS event_id, direction, opcode, size, message_type, seq, msg_id,
           close_code, payload, payload_truncated
    FROM events WHERE kind = 'frame';
"#;

/// A frame's columns in `events`, in [`FrameRow::read_from`]'s order.
pub(crate) const COLUMNS: &str =
    "direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated";

impl Kind for FrameRow {
    fn line(&self) -> String {
        format!(
            "{} {} {}B{}{}",
            if self.direction == "out" { "->" } else { "<-" },
            self.opcode,
            self.size,
            self.message_type
                .as_ref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default(),
            self.seq.map(|s| format!(" seq={s}")).unwrap_or_default()
        )
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        let what = match (&self.message_type, self.close_code) {
            (Some(t), _) => t.clone(),
            (None, Some(code)) => format!("{} {code}", self.opcode),
            (None, None) => self.opcode.clone(),
        };
        let args = serde_json::json!({
            "opcode": self.opcode, "size": self.size, "type": self.message_type, "seq": self.seq,
            "msg_id": self.msg_id, "close_code": self.close_code,
        });
        Some(("frame", format!("{} {what}", self.direction), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        let mut a = vec![
            ("sockscope.frame.direction", s(&self.direction)),
            ("sockscope.frame.opcode", s(&self.opcode)),
            ("sockscope.frame.size", i(self.size)),
        ];
        if let Some(t) = &self.message_type {
            a.push(("sockscope.message.type", s(t)));
        }
        if let Some(q) = self.seq {
            a.push(("sockscope.seq", i(q)));
        }
        if let Some(m) = self.msg_id {
            a.push(("sockscope.message.id", i(m)));
        }
        if let Some(c) = self.close_code {
            a.push(("sockscope.close_code", i(c)));
        }
        Some(("frame", a))
    }

    const KIND: &'static str = "frame";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, FRAMES_V1), (4, FRAMES_V4)];
    /// The event's whole row, the frame's columns included.
    const INSERT: &'static str = "INSERT INTO events (session_id, mono_ns, id, socket_id, wall_ns, kind, direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated)
         VALUES (?1, ?2, ?3, ?4, ?5, 'frame', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    /// Through `events_by_id`; a page's frames come with its own rows
    /// instead ([`FrameRow::read_from`]).
    const SELECT: &'static str = "SELECT id, direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated
         FROM events INDEXED BY events_by_id WHERE id IN rarray(?1) AND kind = 'frame'";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        let head = EventHead {
            session: at.session,
            event_id: at.event_id,
            socket_id: at.socket_id,
            mono_ns: at.mono_ns,
            wall_ns: at.wall_ns,
        };
        self.bind(stmt, 0, &head)?;
        stmt.raw_execute()?;
        at.track.last_frame = Some(at.event_id);
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<FrameRow> {
        FrameRow::read_from(r, 1)
    }
}

/// The values [`FrameRow::bind`] binds per row: 5 of the event's, 9 of the frame's.
const VALUES_PER_ROW: usize = 14;

/// One row's placeholders in [`insert_rows_sql`], in [`Kind::INSERT`]'s order.
const ROW_PLACEHOLDERS: &str = "(?, ?, ?, ?, ?, 'frame', ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The insert of `rows` frames' `events` rows in one statement: SQLite's
/// cost per statement run (step, reset, program start) is then paid once
/// for them all. Row `n`'s values are bound by [`FrameRow::bind`].
pub(crate) fn insert_rows_sql(rows: usize) -> String {
    // SQLite's limit on bound values (SQLITE_MAX_VARIABLE_NUMBER) is 32766.
    assert!(
        rows * VALUES_PER_ROW <= 32766,
        "{rows} rows bind too many values"
    );
    let values = vec![ROW_PLACEHOLDERS; rows].join(", ");
    format!(
        "INSERT INTO events (session_id, mono_ns, id, socket_id, wall_ns, kind, {COLUMNS}) VALUES {values}"
    )
}

/// An event's own columns in `events`, the ones a frame's row shares with
/// every kind's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventHead {
    pub session: i64,
    pub event_id: i64,
    pub socket_id: u64,
    pub mono_ns: u64,
    pub wall_ns: i64,
}

impl FrameRow {
    /// Binds this frame's `events` row as row `row` (from 0) of
    /// [`Kind::INSERT`] (one row) or of [`insert_rows_sql`].
    pub(crate) fn bind(
        &self,
        stmt: &mut Statement<'_>,
        row: usize,
        head: &EventHead,
    ) -> rusqlite::Result<()> {
        let at = row * VALUES_PER_ROW;
        stmt.raw_bind_parameter(at + 1, head.session)?;
        stmt.raw_bind_parameter(at + 2, head.mono_ns as i64)?;
        stmt.raw_bind_parameter(at + 3, head.event_id)?;
        stmt.raw_bind_parameter(at + 4, head.socket_id as i64)?;
        stmt.raw_bind_parameter(at + 5, head.wall_ns)?;
        stmt.raw_bind_parameter(at + 6, &self.direction)?;
        stmt.raw_bind_parameter(at + 7, &self.opcode)?;
        stmt.raw_bind_parameter(at + 8, self.size as i64)?;
        stmt.raw_bind_parameter(at + 9, &self.message_type)?;
        stmt.raw_bind_parameter(at + 10, opt_i64(self.seq))?;
        stmt.raw_bind_parameter(at + 11, opt_i64(self.msg_id))?;
        stmt.raw_bind_parameter(at + 12, self.close_code)?;
        stmt.raw_bind_parameter(at + 13, &self.payload)?;
        stmt.raw_bind_parameter(at + 14, self.payload_truncated)
    }

    /// A frame from [`COLUMNS`], starting at column `first` of `r`.
    pub(crate) fn read_from(r: &Row<'_>, first: usize) -> rusqlite::Result<FrameRow> {
        Ok(FrameRow {
            direction: r.get(first)?,
            opcode: r.get(first + 1)?,
            size: get_u64(r, first + 2)?,
            message_type: r.get(first + 3)?,
            seq: get_opt_u64(r, first + 4)?,
            msg_id: get_opt_u64(r, first + 5)?,
            close_code: r.get(first + 6)?,
            payload: r.get(first + 7)?,
            payload_truncated: r.get(first + 8)?,
        })
    }
}
