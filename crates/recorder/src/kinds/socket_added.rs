//! `socket_added`: a socket's configuration, minus secrets, in `sockets`
//! (one row per socket of a session).

use rusqlite::{Row, Statement, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::SocketInfo;

use super::{Insert, Kind};
use crate::redact;

/// A socket's configuration, minus secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRecord {
    /// Display name.
    pub name: String,
    /// `ws` or `wss`.
    pub scheme: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path (scrubbed).
    pub path: String,
    /// `job` or `raw`.
    pub adapter: String,
    /// Job id, for the job adapter.
    pub job_id: Option<String>,
    /// Token source description, scrubbed (e.g. `env:JOB_TOKEN`).
    pub token_source: Option<String>,
}

impl SocketRecord {
    pub(crate) fn new(info: &SocketInfo) -> SocketRecord {
        SocketRecord {
            name: redact::free_text(&info.name),
            scheme: info.endpoint.scheme.clone(),
            host: info.endpoint.host.clone(),
            port: info.endpoint.port,
            path: redact::free_text(&info.endpoint.path),
            adapter: info.adapter.as_str().to_owned(),
            job_id: info.job_id.as_deref().map(redact::free_text),
            token_source: info.token_source.as_deref().map(redact::token_source),
        }
    }

    /// A record from `row`, whose columns from `at` on are [`COLUMNS`]'s.
    pub(crate) fn from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<SocketRecord> {
        Ok(SocketRecord {
            name: row.get(at)?,
            scheme: row.get(at + 1)?,
            host: row.get(at + 2)?,
            port: row.get(at + 3)?,
            path: row.get(at + 4)?,
            adapter: row.get(at + 5)?,
            job_id: row.get(at + 6)?,
            token_source: row.get(at + 7)?,
        })
    }
}

/// The record's columns, as [`SocketRecord::from_row`] reads them.
pub(crate) const COLUMNS: &str = "name, scheme, host, port, path, adapter, job_id, token_source";

const SOCKETS_V1: &str = r#"
CREATE TABLE sockets (
    session_id   INTEGER NOT NULL REFERENCES sessions(id),
    socket_id    INTEGER NOT NULL,
    event_id     INTEGER NOT NULL,
    name         TEXT NOT NULL,
    scheme       TEXT NOT NULL,
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    path         TEXT NOT NULL,
    adapter      TEXT NOT NULL,
    job_id       TEXT,
    token_source TEXT,
    PRIMARY KEY (session_id, socket_id)
) WITHOUT ROWID;
"#;

impl Kind for SocketRecord {
    fn line(&self) -> String {
        format!(
            "added {}://{}:{}{} ({})",
            self.scheme, self.host, self.port, self.path, self.adapter
        )
    }

    const KIND: &'static str = "socket_added";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, SOCKETS_V1)];
    const INSERT: &'static str = "INSERT OR REPLACE INTO sockets (session_id, socket_id, event_id, name, scheme, host, port, path, adapter, job_id, token_source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    // Through the event's session and socket: the table's key.
    const SELECT: &'static str = "SELECT e.id, s.name, s.scheme, s.host, s.port, s.path, s.adapter, s.job_id, s.token_source
         FROM events e JOIN sockets s ON s.session_id = e.session_id AND s.socket_id = e.socket_id AND s.event_id = e.id
         WHERE e.id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.session,
            at.socket_id as i64,
            at.event_id,
            self.name,
            self.scheme,
            self.host,
            self.port,
            self.path,
            self.adapter,
            self.job_id,
            self.token_source
        ])?;
        Ok(())
    }

    fn read(row: &Row<'_>) -> rusqlite::Result<SocketRecord> {
        SocketRecord::from_row(row, 1)
    }
}
