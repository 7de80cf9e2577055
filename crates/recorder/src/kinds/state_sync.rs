//! `state_sync`: a job-state call, in `state_syncs`.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::{StateSyncOutcome, StateSyncRecord};

use super::{Insert, Kind, SpanEventParts, TraceInstant, get_opt_u64, job_status, opt_i64};
use crate::redact;
use crate::trace::{i, s};

/// A job-state call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSyncRow {
    /// Try number (1-based).
    pub try_no: u32,
    /// `requested`, `synced` or `failed`.
    pub outcome: String,
    /// Job status, when synced.
    pub job_status: Option<String>,
    /// Items processed, when synced.
    pub processed: Option<u64>,
    /// Items in all, when synced.
    pub total: Option<u64>,
    /// Server's last seq, when synced.
    pub last_seq: Option<u64>,
    /// HTTP status, when failed with one.
    pub http_status: Option<u16>,
    /// Error class, when failed (scrubbed).
    pub error: Option<String>,
    /// Whether another try follows, when failed.
    pub will_retry: Option<bool>,
}

impl StateSyncRow {
    pub(crate) fn new(s: &StateSyncRecord) -> StateSyncRow {
        let mut row = StateSyncRow {
            try_no: s.try_no,
            outcome: String::new(),
            job_status: None,
            processed: None,
            total: None,
            last_seq: None,
            http_status: None,
            error: None,
            will_retry: None,
        };
        match &s.outcome {
            StateSyncOutcome::Requested => row.outcome = "requested".into(),
            StateSyncOutcome::Synced {
                status,
                processed,
                total,
                last_seq,
            } => {
                row.outcome = "synced".into();
                row.job_status = Some(job_status(*status).into());
                row.processed = Some(*processed);
                row.total = Some(*total);
                row.last_seq = Some(*last_seq);
            }
            StateSyncOutcome::Failed {
                status,
                error,
                will_retry,
            } => {
                row.outcome = "failed".into();
                row.http_status = *status;
                row.error = Some(redact::free_text(error));
                row.will_retry = Some(*will_retry);
            }
        }
        row
    }
}

const STATE_SYNCS_V1: &str = r#"
CREATE TABLE state_syncs (
    event_id    INTEGER PRIMARY KEY REFERENCES events(id),
    try_no      INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    job_status  TEXT,
    processed   INTEGER,
    total       INTEGER,
    last_seq    INTEGER,
    http_status INTEGER,
    error       TEXT,
    will_retry  INTEGER
);
"#;

impl Kind for StateSyncRow {
    fn line(&self) -> String {
        format!("state sync try {} {}", self.try_no, self.outcome)
    }

    fn trace_instant(&self) -> Option<TraceInstant> {
        let args = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        Some(("state_sync", format!("state sync {}", self.outcome), args))
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        let mut a = vec![
            ("sockscope.state_sync.try", i(self.try_no)),
            ("sockscope.state_sync.outcome", s(&self.outcome)),
        ];
        if let Some(v) = &self.job_status {
            a.push(("sockscope.job.status", s(v)));
        }
        if let Some(v) = self.processed {
            a.push(("sockscope.job.processed", i(v)));
        }
        if let Some(v) = self.total {
            a.push(("sockscope.job.total", i(v)));
        }
        if let Some(v) = self.http_status {
            a.push(("http.response.status_code", i(v)));
        }
        if let Some(v) = &self.error {
            a.push(("error.type", s(v)));
        }
        Some(("state_sync", a))
    }

    const KIND: &'static str = "state_sync";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, STATE_SYNCS_V1)];
    const INSERT: &'static str = "INSERT INTO state_syncs (event_id, try_no, outcome, job_status, processed, total, last_seq, http_status, error, will_retry)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    const SELECT: &'static str = "SELECT event_id, try_no, outcome, job_status, processed, total, last_seq, http_status, error, will_retry
         FROM state_syncs WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.try_no,
            self.outcome,
            self.job_status,
            opt_i64(self.processed),
            opt_i64(self.total),
            opt_i64(self.last_seq),
            self.http_status,
            self.error,
            self.will_retry
        ])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<StateSyncRow> {
        Ok(StateSyncRow {
            try_no: r.get(1)?,
            outcome: r.get(2)?,
            job_status: r.get(3)?,
            processed: get_opt_u64(r, 4)?,
            total: get_opt_u64(r, 5)?,
            last_seq: get_opt_u64(r, 6)?,
            http_status: r.get(7)?,
            error: r.get(8)?,
            will_retry: r.get(9)?,
        })
    }
}
