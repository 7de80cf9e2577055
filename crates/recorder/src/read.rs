//! The read API for the UI and the CLI: sessions, sockets, and the events
//! of a session in a time window, paged by a keyset cursor.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::record::{
    BackoffRecord, EventBody, EventRecord, FindingRecord, FrameRow, MessageRecord, ProgressRecord,
    SocketRecord, StateSyncRow, TransitionRecord,
};
use crate::store::SessionTag;

/// One recording session (one app or CLI run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Id and trace salt.
    pub tag: SessionTag,
    /// Start, wall ns since the Unix epoch.
    pub started_ns: i64,
    /// End, wall ns; for a crashed session, its last event.
    pub ended_ns: Option<i64>,
    /// `running`, `clean`, `crashed` or `capped` (recording stopped at the
    /// session's cap).
    pub end_state: String,
    /// Machine name.
    pub host: String,
    /// sockscope version that recorded it.
    pub app_version: String,
    /// Events committed.
    pub event_count: u64,
}

/// A socket of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketSummary {
    /// Engine socket id.
    pub socket_id: u64,
    /// Its configuration, minus secrets.
    pub config: SocketRecord,
}

/// Where a page ends; pass it back to get the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCursor {
    /// Monotonic ns of the last event returned.
    pub mono_ns: u64,
    /// Its event id.
    pub event_id: i64,
}

/// Which events to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowQuery {
    /// The session.
    pub session_id: i64,
    /// Sockets to include; `None` for all.
    pub sockets: Option<Vec<u64>>,
    /// Window start, monotonic ns, inclusive.
    pub from_mono_ns: u64,
    /// Window end, monotonic ns, exclusive.
    pub to_mono_ns: u64,
    /// Events per page (at least 1).
    pub page_size: usize,
    /// Continue after this event; `None` for the first page.
    pub after: Option<PageCursor>,
    /// Only events whose id is in this range, e.g. what was committed up to
    /// a [`crate::SyncPoint`], so that pages read while the writer goes on
    /// are all of one prefix. `None` for every event.
    #[serde(default)]
    pub ids: Option<IdRange>,
}

/// Event ids `after < id <= through`. Ids grow in commit order, so this
/// is what the writer committed between two sync points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    /// Exclusive; 0 from the first event.
    pub after: i64,
    /// Inclusive.
    pub through: i64,
}

impl WindowQuery {
    /// The whole of a session, all sockets, in pages of `page_size`.
    pub fn whole_session(session_id: i64, page_size: usize) -> WindowQuery {
        WindowQuery {
            session_id,
            sockets: None,
            from_mono_ns: 0,
            to_mono_ns: i64::MAX as u64,
            page_size,
            after: None,
            ids: None,
        }
    }
}

/// A page of events, in (mono_ns, event_id) order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<EventRecord>,
    /// The cursor of the next page; `None` at the end of the window.
    pub next: Option<PageCursor>,
}

/// Up to this many sockets are fetched one index range each and merged;
/// more are filtered from a scan of the session's time index.
const MERGE_MAX_SOCKETS: usize = 32;

/// A read-only view of a recording database. Safe to use while a
/// [`crate::Recorder`] writes (WAL readers never block the writer).
#[derive(Debug)]
pub struct RecordReader {
    conn: Connection,
}

struct Head {
    id: i64,
    socket_id: u64,
    mono_ns: u64,
    wall_ns: i64,
    kind: String,
}

impl RecordReader {
    /// Opens `path` read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<RecordReader, Error> {
        let conn = Connection::open_with_flags(
            path.as_ref(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(RecordReader { conn })
    }

    /// The underlying connection, for ad-hoc queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every session, newest first.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, trace_salt, started_ns, ended_ns, end_state, host, app_version, event_count
             FROM sessions ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One session.
    pub fn session(&self, id: i64) -> Result<SessionSummary, Error> {
        self.conn
            .query_row(
                "SELECT id, trace_salt, started_ns, ended_ns, end_state, host, app_version, event_count
                 FROM sessions WHERE id = ?1",
                [id],
                session_row,
            )
            .optional()?
            .ok_or(Error::UnknownSession(id))
    }

    /// The sockets of a session, by id.
    pub fn sockets(&self, session_id: i64) -> Result<Vec<SocketSummary>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT socket_id, name, scheme, host, port, path, adapter, job_id, token_source
             FROM sockets WHERE session_id = ?1 ORDER BY socket_id",
        )?;
        let rows = stmt.query_map([session_id], |r| {
            Ok(SocketSummary {
                socket_id: r.get::<_, i64>(0)? as u64,
                config: SocketRecord {
                    name: r.get(1)?,
                    scheme: r.get(2)?,
                    host: r.get(3)?,
                    port: r.get(4)?,
                    path: r.get(5)?,
                    adapter: r.get(6)?,
                    job_id: r.get(7)?,
                    token_source: r.get(8)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The ids of every socket with an event in a session (engine-wide
    /// events' 0 included), ascending.
    pub fn event_socket_ids(&self, session_id: i64) -> Result<Vec<u64>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT socket_id FROM events INDEXED BY events_by_socket
             WHERE session_id = ?1 ORDER BY socket_id",
        )?;
        let rows = stmt.query_map([session_id], |r| Ok(r.get::<_, i64>(0)? as u64))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The wall time of a session's last event, if it has one.
    pub fn last_event_wall_ns(&self, session_id: i64) -> Result<Option<i64>, Error> {
        Ok(self.conn.query_row(
            "SELECT max(wall_ns) FROM events WHERE session_id = ?1",
            [session_id],
            |r| r.get(0),
        )?)
    }

    /// A page of the events in a window. Few sockets: one index range per
    /// socket, merged; many or all: one scan of the time index.
    pub fn events(&self, q: &WindowQuery) -> Result<EventPage, Error> {
        let limit = q.page_size.max(1);
        let (after_mono, after_id) = match q.after {
            Some(c) => (c.mono_ns as i64, c.event_id),
            None => (q.from_mono_ns as i64, i64::MIN),
        };
        let to = i64::try_from(q.to_mono_ns).unwrap_or(i64::MAX);
        let range = q.ids.unwrap_or(IdRange {
            after: 0,
            through: i64::MAX,
        });
        let mut heads = match &q.sockets {
            Some(ids) if ids.len() <= MERGE_MAX_SOCKETS => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT id, socket_id, mono_ns, wall_ns, kind FROM events INDEXED BY events_by_socket
                     WHERE session_id = ?1 AND socket_id = ?2 AND mono_ns >= ?3 AND mono_ns < ?4
                       AND (mono_ns > ?3 OR id > ?5) AND id > ?7 AND id <= ?8
                     ORDER BY mono_ns, id LIMIT ?6",
                )?;
                let mut all = Vec::new();
                for id in ids {
                    let rows = stmt.query_map(
                        params![
                            q.session_id,
                            *id as i64,
                            after_mono,
                            to,
                            after_id,
                            limit as i64,
                            range.after,
                            range.through
                        ],
                        head_row,
                    )?;
                    for r in rows {
                        all.push(r?);
                    }
                }
                all.sort_by_key(|h| (h.mono_ns, h.id));
                all.truncate(limit);
                all
            }
            sockets => {
                let wanted: Option<std::collections::HashSet<u64>> =
                    sockets.as_ref().map(|s| s.iter().copied().collect());
                let mut stmt = self.conn.prepare_cached(
                    "SELECT id, socket_id, mono_ns, wall_ns, kind FROM events INDEXED BY events_by_time
                     WHERE session_id = ?1 AND mono_ns >= ?2 AND mono_ns < ?3
                       AND (mono_ns > ?2 OR id > ?4) AND id > ?5 AND id <= ?6
                     ORDER BY mono_ns, id",
                )?;
                let rows = stmt.query_map(
                    params![
                        q.session_id,
                        after_mono,
                        to,
                        after_id,
                        range.after,
                        range.through
                    ],
                    head_row,
                )?;
                let mut out = Vec::with_capacity(limit.min(4096));
                for r in rows {
                    let h = r?;
                    if wanted.as_ref().is_none_or(|s| s.contains(&h.socket_id)) {
                        out.push(h);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
                out
            }
        };
        let next = if heads.len() == limit {
            heads.last().map(|h| PageCursor {
                mono_ns: h.mono_ns,
                event_id: h.id,
            })
        } else {
            None
        };
        let mut events = Vec::with_capacity(heads.len());
        for h in heads.drain(..) {
            let body = self.body(h.id, &h.kind)?;
            events.push(EventRecord {
                event_id: h.id,
                socket_id: h.socket_id,
                mono_ns: h.mono_ns,
                wall_ns: h.wall_ns,
                body,
            });
        }
        Ok(EventPage { events, next })
    }

    /// Calls `f` on every event of a session, in order, a page at a time.
    pub fn for_each_event(
        &self,
        session_id: i64,
        f: impl FnMut(EventRecord) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.for_each_in(WindowQuery::whole_session(session_id, 4096), f)
    }

    /// Calls `f` on every event `q` selects, in order, a page at a time
    /// (`q.page_size` events are held at once).
    pub fn for_each_in(
        &self,
        mut q: WindowQuery,
        mut f: impl FnMut(EventRecord) -> Result<(), Error>,
    ) -> Result<(), Error> {
        loop {
            let page = self.events(&q)?;
            for e in page.events {
                f(e)?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(()),
            }
        }
    }

    fn body(&self, id: i64, kind: &str) -> Result<EventBody, Error> {
        let one = |sql: &str,
                   f: &dyn Fn(&Row<'_>) -> rusqlite::Result<EventBody>|
         -> Result<EventBody, Error> {
            Ok(self.conn.prepare_cached(sql)?.query_row([id], |r| f(r))?)
        };
        let u = |r: &Row<'_>, i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)? as u64) };
        let ou = |r: &Row<'_>, i: usize| -> rusqlite::Result<Option<u64>> {
            Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
        };
        match kind {
            "socket_added" => one(
                "SELECT name, scheme, host, port, path, adapter, job_id, token_source FROM sockets WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::SocketAdded(SocketRecord {
                        name: r.get(0)?,
                        scheme: r.get(1)?,
                        host: r.get(2)?,
                        port: r.get(3)?,
                        path: r.get(4)?,
                        adapter: r.get(5)?,
                        job_id: r.get(6)?,
                        token_source: r.get(7)?,
                    }))
                },
            ),
            "transition" => one(
                "SELECT from_state, to_state, attempt, backoff_until_ns, close_code, close_initiator, reason, reason_detail, cause, cause_detail, error_type
                 FROM transitions WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::Transition(TransitionRecord {
                        from: r.get(0)?,
                        to: r.get(1)?,
                        attempt: r.get(2)?,
                        backoff_until_ns: ou(r, 3)?,
                        close_code: r.get(4)?,
                        close_initiator: r.get(5)?,
                        reason: r.get(6)?,
                        reason_detail: r.get(7)?,
                        cause: r.get(8)?,
                        cause_detail: r.get(9)?,
                        error_type: r.get(10)?,
                    }))
                },
            ),
            "finding" => one(
                "SELECT class, side, severity, attempt, detail, transition_event_id, frame_event_id FROM findings WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::Finding(FindingRecord {
                        class: r.get(0)?,
                        side: r.get(1)?,
                        severity: r.get(2)?,
                        attempt: r.get(3)?,
                        detail: r.get(4)?,
                        transition_event_id: r.get(5)?,
                        frame_event_id: r.get(6)?,
                    }))
                },
            ),
            "frame" => one(
                "SELECT direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated FROM frames WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::Frame(FrameRow {
                        direction: r.get(0)?,
                        opcode: r.get(1)?,
                        size: u(r, 2)?,
                        message_type: r.get(3)?,
                        seq: ou(r, 4)?,
                        msg_id: ou(r, 5)?,
                        close_code: r.get(6)?,
                        payload: r.get(7)?,
                        payload_truncated: r.get(8)?,
                    }))
                },
            ),
            "message" => one(
                "SELECT msg_id, stage, depth, drop_reason FROM messages WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::Message(MessageRecord {
                        msg_id: u(r, 0)?,
                        stage: r.get(1)?,
                        depth: ou(r, 2)?,
                        drop_reason: r.get(3)?,
                    }))
                },
            ),
            "backoff_planned" => one(
                "SELECT attempt, delay_ns, ceiling_ns FROM backoffs WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::BackoffPlanned(BackoffRecord {
                        attempt: r.get(0)?,
                        delay_ns: u(r, 1)?,
                        ceiling_ns: u(r, 2)?,
                    }))
                },
            ),
            "state_sync" => one(
                "SELECT try_no, outcome, job_status, processed, total, last_seq, http_status, error, will_retry FROM state_syncs WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::StateSync(StateSyncRow {
                        try_no: r.get(0)?,
                        outcome: r.get(1)?,
                        job_status: r.get(2)?,
                        processed: ou(r, 3)?,
                        total: ou(r, 4)?,
                        last_seq: ou(r, 5)?,
                        http_status: r.get(6)?,
                        error: r.get(7)?,
                        will_retry: r.get(8)?,
                    }))
                },
            ),
            "progress" => one(
                "SELECT processed, total, status, source FROM progress WHERE event_id = ?1",
                &|r| {
                    Ok(EventBody::Progress(ProgressRecord {
                        processed: u(r, 0)?,
                        total: u(r, 1)?,
                        status: r.get(2)?,
                        source: r.get(3)?,
                    }))
                },
            ),
            "heartbeat_answered" => one("SELECT rtt_ns FROM heartbeats WHERE event_id = ?1", &|r| {
                Ok(EventBody::HeartbeatAnswered { rtt_ns: u(r, 0)? })
            }),
            "environment" => one("SELECT change, detail FROM environment WHERE event_id = ?1", &|r| {
                Ok(EventBody::Environment(crate::record::EnvironmentRecord {
                    change: r.get(0)?,
                    detail: r.get(1)?,
                }))
            }),
            other => Err(Error::Malformed(format!("event {id} has unknown kind {other:?}"))),
        }
    }
}

fn head_row(r: &Row<'_>) -> rusqlite::Result<Head> {
    Ok(Head {
        id: r.get(0)?,
        socket_id: r.get::<_, i64>(1)? as u64,
        mono_ns: r.get::<_, i64>(2)? as u64,
        wall_ns: r.get(3)?,
        kind: r.get(4)?,
    })
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionSummary> {
    Ok(SessionSummary {
        tag: SessionTag {
            id: r.get(0)?,
            trace_salt: r.get::<_, i64>(1)? as u64,
        },
        started_ns: r.get(2)?,
        ended_ns: r.get(3)?,
        end_state: r.get(4)?,
        host: r.get(5)?,
        app_version: r.get(6)?,
        event_count: r.get::<_, i64>(7)? as u64,
    })
}
