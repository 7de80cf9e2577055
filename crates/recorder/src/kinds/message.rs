//! `message`: an application message's stage, in `messages`.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::{DropReason, MessageStage};

use super::{Insert, Kind, SpanEventParts, TraceInstant, get_opt_u64, get_u64, opt_i64};
use crate::trace::{i, s};

/// An application message's stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Message id.
    pub msg_id: u64,
    /// `queued`, `written` or `dropped`.
    pub stage: String,
    /// Outbox depth, for `queued`.
    pub depth: Option<u64>,
    /// Why, for `dropped`.
    pub drop_reason: Option<String>,
}

impl MessageRecord {
    pub(crate) fn new(id: u64, stage: &MessageStage) -> MessageRecord {
        let (stage, depth, drop_reason) = match stage {
            MessageStage::Queued { depth } => ("queued", Some(*depth as u64), None),
            MessageStage::Written => ("written", None, None),
            MessageStage::Dropped { reason } => (
                "dropped",
                None,
                Some(match reason {
                    DropReason::OutboxFull => "outbox_full",
                    DropReason::Closed => "closed",
                    DropReason::Cancelled => "cancelled",
                    DropReason::Failed => "failed",
                    DropReason::TooLarge => "too_large",
                }),
            ),
        };
        MessageRecord {
            msg_id: id,
            stage: stage.to_owned(),
            depth,
            drop_reason: drop_reason.map(str::to_owned),
        }
    }
}

const MESSAGES_V1: &str = r#"
CREATE TABLE messages (
    event_id    INTEGER PRIMARY KEY REFERENCES events(id),
    msg_id      INTEGER NOT NULL,
    stage       TEXT NOT NULL,
    depth       INTEGER,
    drop_reason TEXT
);
"#;

impl Kind for MessageRecord {
    fn line(&self) -> String {
        format!("message {} {}", self.msg_id, self.stage)
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        let args = serde_json::json!({
            "msg_id": self.msg_id, "depth": self.depth, "drop_reason": self.drop_reason,
        });
        Some(("message", format!("message {}", self.stage), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        let mut a = vec![
            ("sockscope.message.id", i(self.msg_id)),
            ("sockscope.message.stage", s(&self.stage)),
        ];
        if let Some(d) = self.depth {
            a.push(("sockscope.outbox.depth", i(d)));
        }
        if let Some(r) = &self.drop_reason {
            a.push(("sockscope.message.drop_reason", s(r)));
        }
        Some(("message", a))
    }

    const KIND: &'static str = "message";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, MESSAGES_V1)];
    const INSERT: &'static str = "INSERT INTO messages (event_id, msg_id, stage, depth, drop_reason) VALUES (?1, ?2, ?3, ?4, ?5)";
    const SELECT: &'static str = "SELECT event_id, msg_id, stage, depth, drop_reason FROM messages WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.msg_id as i64,
            self.stage,
            opt_i64(self.depth),
            self.drop_reason
        ])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<MessageRecord> {
        Ok(MessageRecord {
            msg_id: get_u64(r, 1)?,
            stage: r.get(2)?,
            depth: get_opt_u64(r, 3)?,
            drop_reason: r.get(4)?,
        })
    }
}
