//! The read API for the UI and the CLI: sessions, sockets, and the events
//! of a session in a time window, paged by a keyset cursor.

use std::path::Path;
use std::time::Duration;

use std::rc::Rc;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::kinds::{self, FrameRow, SocketRecord};
use crate::record::{EventBody, EventRecord};
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<EventRecord>,
    /// The cursor of the next page; `None` at the end of the window.
    pub next: Option<PageCursor>,
}

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
    /// A frame's body, read with its row.
    frame: Option<FrameRow>,
}

/// A page's rows: the events' columns, then a frame's. The table's key is
/// (session, mono_ns, id), the page order, so a page is one range of it.
fn page_sql(socket_filter: &str) -> String {
    format!(
        "SELECT id, socket_id, mono_ns, wall_ns, kind, {} FROM events
         WHERE session_id = ?1 AND (mono_ns, id) > (?2, ?3) AND mono_ns < ?4
           AND id > ?5 AND id <= ?6 {socket_filter}
         ORDER BY mono_ns, id LIMIT ?7",
        kinds::frame::COLUMNS
    )
}

impl RecordReader {
    /// Opens `path` read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<RecordReader, Error> {
        let conn = Connection::open_with_flags(
            path.as_ref(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Read-only, it cannot migrate: an older layout's columns differ.
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if (1..crate::SCHEMA_VERSION).contains(&found) {
            return Err(Error::SchemaTooOld {
                found,
                known: crate::SCHEMA_VERSION,
            });
        }
        // `rarray`: a page's detail rows are read one query per kind.
        rusqlite::vtab::array::load_module(&conn)?;
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
        let sql = format!(
            "SELECT socket_id, {} FROM sockets WHERE session_id = ?1 ORDER BY socket_id",
            kinds::socket_added::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([session_id], |r| {
            Ok(SocketSummary {
                socket_id: r.get::<_, i64>(0)? as u64,
                config: SocketRecord::from_row(r, 1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The ids of every socket with an event in a session (engine-wide
    /// events' 0 included), ascending.
    pub fn event_socket_ids(&self, session_id: i64) -> Result<Vec<u64>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT socket_id FROM events WHERE session_id = ?1 ORDER BY socket_id",
        )?;
        let rows = stmt.query_map([session_id], |r| Ok(r.get::<_, i64>(0)? as u64))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The wall time of a session's last event, if it has one.
    pub fn last_event_wall_ns(&self, session_id: i64) -> Result<Option<i64>, Error> {
        Ok(self
            .conn
            .query_row(crate::store::LAST_EVENT_WALL, [session_id], |r| r.get(0))
            .optional()?)
    }

    /// A page of the events in a window: one range of the table, the
    /// chosen sockets (if any) filtered from it.
    pub fn events(&self, q: &WindowQuery) -> Result<EventPage, Error> {
        let limit = q.page_size.max(1);
        let mut start = match q.after {
            Some(c) => (c.mono_ns as i64, c.event_id),
            None => (q.from_mono_ns as i64, i64::MIN),
        };
        let to = i64::try_from(q.to_mono_ns).unwrap_or(i64::MAX);
        let range = q.ids.unwrap_or(IdRange {
            after: 0,
            through: i64::MAX,
        });
        if range.after > 0 && q.after.is_none() {
            // The ids past `after` were committed later: the first page
            // starts at their earliest time (from `events_by_id`, which
            // holds the key), not at the session's start.
            let earliest: Option<i64> = self
                .conn
                .prepare_cached(
                    "SELECT min(mono_ns) FROM events INDEXED BY events_by_id
                     WHERE id > ?1 AND id <= ?2 AND session_id = ?3",
                )?
                .query_row(params![range.after, range.through, q.session_id], |r| {
                    r.get(0)
                })?;
            match earliest {
                Some(mono) => start = start.max((mono, i64::MIN)),
                None => return Ok(EventPage::default()),
            }
        }
        let (after_mono, after_id) = start;
        let head = params![
            q.session_id,
            after_mono,
            after_id,
            to,
            range.after,
            range.through,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ];
        let heads: Vec<Head> = match &q.sockets {
            Some(ids) => {
                let ids: Rc<Vec<Value>> =
                    Rc::new(ids.iter().map(|&s| Value::Integer(s as i64)).collect());
                let mut stmt = self
                    .conn
                    .prepare_cached(&page_sql("AND socket_id IN rarray(?8)"))?;
                let mut all = head.to_vec();
                all.push(&ids);
                stmt.query_map(&*all, head_row)?.collect::<Result<_, _>>()?
            }
            None => {
                let mut stmt = self.conn.prepare_cached(&page_sql(""))?;
                stmt.query_map(head, head_row)?.collect::<Result<_, _>>()?
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
        // Frames came with their rows; the other kinds' detail rows are
        // read one query per kind.
        let details: Vec<(i64, &str)> = heads
            .iter()
            .filter(|h| h.frame.is_none())
            .map(|h| (h.id, h.kind.as_str()))
            .collect();
        let mut bodies = kinds::read_bodies(&self.conn, &details)?.into_iter();
        let events = heads
            .into_iter()
            .map(|h| {
                let body = match h.frame {
                    Some(f) => EventBody::Frame(f),
                    None => bodies
                        .next()
                        .ok_or_else(|| Error::Malformed(format!("event {} has no body", h.id)))?,
                };
                Ok(EventRecord {
                    event_id: h.id,
                    socket_id: h.socket_id,
                    mono_ns: h.mono_ns,
                    wall_ns: h.wall_ns,
                    body,
                })
            })
            .collect::<Result<_, Error>>()?;
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
}

fn head_row(r: &Row<'_>) -> rusqlite::Result<Head> {
    let kind: String = r.get(4)?;
    let frame = if kind == <FrameRow as kinds::Kind>::KIND {
        Some(FrameRow::read_from(r, 5)?)
    } else {
        None
    };
    Ok(Head {
        id: r.get(0)?,
        socket_id: r.get::<_, i64>(1)? as u64,
        mono_ns: r.get::<_, i64>(2)? as u64,
        wall_ns: r.get(3)?,
        kind,
        frame,
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
