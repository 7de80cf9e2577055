//! `progress`: the job's progress, in `progress`.

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::{Progress, ProgressSource};

use super::{Insert, Kind, SpanEventParts, get_u64, job_status};
use crate::trace::{i, s};

/// The job's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// Items processed.
    pub processed: u64,
    /// Items in all.
    pub total: u64,
    /// Job status, where known.
    pub status: Option<String>,
    /// `event` or `state_sync`.
    pub source: String,
}

impl ProgressRecord {
    pub(crate) fn new(p: &Progress) -> ProgressRecord {
        ProgressRecord {
            processed: p.processed,
            total: p.total,
            status: p.status.map(|s| job_status(s).to_owned()),
            source: match p.source {
                ProgressSource::Event => "event",
                ProgressSource::StateSync => "state_sync",
            }
            .to_owned(),
        }
    }
}

const PROGRESS_V1: &str = r#"
CREATE TABLE progress (
    event_id  INTEGER PRIMARY KEY REFERENCES events(id),
    processed INTEGER NOT NULL,
    total     INTEGER NOT NULL,
    status    TEXT,
    source    TEXT NOT NULL
);
"#;

impl Kind for ProgressRecord {
    fn line(&self) -> String {
        format!("progress {}/{}", self.processed, self.total)
    }

    fn span_event(&self) -> Option<SpanEventParts> {
        let mut a = vec![
            ("sockscope.job.processed", i(self.processed)),
            ("sockscope.job.total", i(self.total)),
            ("sockscope.progress.source", s(&self.source)),
        ];
        if let Some(v) = &self.status {
            a.push(("sockscope.job.status", s(v)));
        }
        Some(("progress", a))
    }

    const KIND: &'static str = "progress";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, PROGRESS_V1)];
    const INSERT: &'static str = "INSERT INTO progress (event_id, processed, total, status, source) VALUES (?1, ?2, ?3, ?4, ?5)";
    const SELECT: &'static str = "SELECT event_id, processed, total, status, source FROM progress WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.processed as i64,
            self.total as i64,
            self.status,
            self.source
        ])?;
        Ok(())
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<ProgressRecord> {
        Ok(ProgressRecord {
            processed: get_u64(r, 1)?,
            total: get_u64(r, 2)?,
            status: r.get(3)?,
            source: r.get(4)?,
        })
    }
}
