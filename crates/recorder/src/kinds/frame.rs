//! `frame`: a frame in or out, in `frames`.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::{Direction, FrameRecord};

use super::{Insert, Kind, get_opt_u64, get_u64, opt_i64};
use crate::redact;

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
    /// Payload text, scrubbed and capped; absent when not captured.
    pub payload: Option<String>,
    /// Whether the payload was cut at the cap.
    pub payload_truncated: bool,
}

impl FrameRow {
    pub(crate) fn new(fr: &FrameRecord, payload_cap: Option<usize>) -> FrameRow {
        let (payload, payload_truncated) = match (&fr.text, payload_cap) {
            (Some(t), Some(cap)) => {
                let (p, cut) = redact::payload(t, cap);
                (Some(p), cut)
            }
            _ => (None, false),
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

impl Kind for FrameRow {
    const KIND: &'static str = "frame";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, FRAMES_V1)];
    const INSERT: &'static str = "INSERT INTO frames (event_id, direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    const SELECT: &'static str = "SELECT event_id, direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated
         FROM frames WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.direction,
            self.opcode,
            self.size as i64,
            self.message_type,
            opt_i64(self.seq),
            opt_i64(self.msg_id),
            self.close_code,
            self.payload,
            self.payload_truncated
        ])?;
        at.track.last_frame = Some(at.event_id);
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<FrameRow> {
        Ok(FrameRow {
            direction: r.get(1)?,
            opcode: r.get(2)?,
            size: get_u64(r, 3)?,
            message_type: r.get(4)?,
            seq: get_opt_u64(r, 5)?,
            msg_id: get_opt_u64(r, 6)?,
            close_code: r.get(7)?,
            payload: r.get(8)?,
            payload_truncated: r.get(9)?,
        })
    }
}
