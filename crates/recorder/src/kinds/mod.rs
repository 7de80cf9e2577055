//! Event kinds as stored. Each kind's module holds all of its storage: the
//! record (what the recorder keeps of the engine's event, scrubbed), its
//! detail table's definition, its insert and its select. The list below
//! names every kind once; adding a kind is a module and a line here.
//!
//! A table's layout changes by a new step in its module's `SCHEMA` at the
//! next schema version (`schema.rs` runs every kind's steps of a version as
//! that version's migration), never by editing a step already released.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, Row, Statement, Transaction, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::event::EventKind;
use sockscope_protocol::JobStatus;

use crate::Error;
use crate::trace::Attr;

pub mod backoff_planned;
pub mod environment;
pub mod finding;
pub mod frame;
pub mod handshake;
pub mod heartbeat_answered;
pub mod message;
pub mod progress;
pub mod socket_added;
pub mod state_sync;
pub mod transition;

pub use backoff_planned::BackoffRecord;
pub use environment::EnvironmentRecord;
pub use finding::FindingRecord;
pub use frame::FrameRow;
pub use handshake::HandshakeRecord;
pub use heartbeat_answered::HeartbeatRecord;
pub use message::MessageRecord;
pub use progress::ProgressRecord;
pub use socket_added::SocketRecord;
pub use state_sync::StateSyncRow;
pub use transition::TransitionRecord;

/// One event kind's storage.
pub(crate) trait Kind: Sized {
    /// The `events.kind` value (also the serde tag of [`EventBody`]).
    const KIND: &'static str;
    /// The statements that create or change its tables, each with the
    /// schema version whose migration runs it.
    const SCHEMA: &'static [(i64, &'static str)];
    /// The insert of one detail row, bound by [`Kind::insert`].
    const INSERT: &'static str;
    /// The select of the detail rows of the event ids in `rarray(?1)`: the
    /// event id first, then what [`Kind::read`] takes.
    const SELECT: &'static str;
    /// Binds this record's row to [`Kind::INSERT`] and runs it; keeps the
    /// socket's links.
    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()>;
    /// A record from a row of [`Kind::SELECT`] (column 0 is the event id).
    fn read(row: &Row<'_>) -> rusqlite::Result<Self>;
    /// This kind as an event on its socket's span: a name and attributes.
    /// `None` for a kind the span tells otherwise (its attributes, its
    /// attempt spans).
    fn span_event(&self) -> Option<SpanEventParts> {
        None
    }
    /// One line of text for a person (`sockscope history`).
    fn line(&self) -> String;
    /// This kind as an instant on its socket's track in a Chrome trace
    /// (the Perfetto export). `None` for a kind the track shows otherwise
    /// (state slices, the progress counter, the track's name, a global
    /// instant).
    fn trace_instant(&self) -> Option<TraceInstant> {
        None
    }
}

/// A trace-event instant's category, name and `args`.
pub(crate) type TraceInstant = (&'static str, String, serde_json::Value);

/// A span event's name and attributes: OTel semantic conventions where they
/// exist, `sockscope.*` else.
pub(crate) type SpanEventParts = (&'static str, Vec<Attr>);

/// Where a detail row goes: its event and the socket's links.
pub(crate) struct Insert<'t, 'c> {
    /// The open transaction, for rows beyond the detail row.
    pub tx: &'t Transaction<'c>,
    /// The recording session.
    pub session: i64,
    /// The event's socket.
    pub socket_id: u64,
    /// The event's id.
    pub event_id: i64,
    /// The event's monotonic time.
    pub mono_ns: u64,
    /// The event's wall time.
    pub wall_ns: i64,
    /// The socket's links, as of this event.
    pub track: &'t mut SocketTrack,
    /// The socket's event just before this one, when it was a frame.
    pub previous_frame: Option<i64>,
}

/// What the writer keeps per socket to link rows to each other.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SocketTrack {
    /// The transition that began the current state.
    pub transition: Option<i64>,
    /// The socket's last event, when it was a frame.
    pub last_frame: Option<i64>,
    /// The open `connection_attempts` row.
    pub attempt_row: Option<i64>,
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident($record:ty), )+) => {
        /// What happened, by kind. The tag is the `events.kind` column.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum EventBody {
            $( $(#[$doc])* $variant($record), )+
        }

        impl EventBody {
            /// The `events.kind` value.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( EventBody::$variant(_) => <$record as Kind>::KIND, )+
                }
            }

            /// One line of text for a person (`sockscope history`).
            pub fn line(&self) -> String {
                match self {
                    $( EventBody::$variant(r) => r.line(), )+
                }
            }

            /// This event as an instant on its socket's track, if its kind is one.
            pub(crate) fn trace_instant(&self) -> Option<TraceInstant> {
                match self {
                    $( EventBody::$variant(r) => r.trace_instant(), )+
                }
            }

            /// This event as an event on its socket's span, if its kind is one.
            pub(crate) fn span_event(&self) -> Option<SpanEventParts> {
                match self {
                    $( EventBody::$variant(r) => r.span_event(), )+
                }
            }

            /// Inserts the detail row of an event already in `events`;
            /// only [`EventBody::insert`] calls it (a frame has none).
            fn insert_detail(&self, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
                match self {
                    $( EventBody::$variant(r) => {
                        let mut stmt = at.tx.prepare_cached(<$record as Kind>::INSERT)?;
                        r.insert(&mut stmt, at)
                    } )+
                }
            }
        }

        /// Every kind's schema steps, in the order the tables were created.
        pub(crate) const SCHEMA: &[&[(i64, &str)]] = &[ $( <$record as Kind>::SCHEMA, )+ ];

        /// Reads the detail rows of `ids`, all of kind `kind`, into `out`.
        fn read_kind(
            conn: &Connection,
            kind: &str,
            ids: Vec<i64>,
            out: &mut HashMap<i64, EventBody>,
        ) -> Result<(), Error> {
            $( if kind == <$record as Kind>::KIND {
                return read_rows::<$record>(conn, ids, out, EventBody::$variant);
            } )+
            let first = ids.first().copied().unwrap_or_default();
            Err(Error::Malformed(format!("event {first} has unknown kind {kind:?}")))
        }
    };
}

// In the order their tables were created (schema version 1, then 2, then 5).
kinds! {
    /// The socket was added.
    SocketAdded(SocketRecord),
    /// The state changed.
    Transition(TransitionRecord),
    /// A frame in or out.
    Frame(FrameRow),
    /// A race prevented or a contract broken.
    Finding(FindingRecord),
    /// An application message moved.
    Message(MessageRecord),
    /// A reconnect delay was planned.
    BackoffPlanned(BackoffRecord),
    /// A job-state call.
    StateSync(StateSyncRow),
    /// The job's progress.
    Progress(ProgressRecord),
    /// A pong answered a ping.
    HeartbeatAnswered(HeartbeatRecord),
    /// An engine-wide change (socket id 0), drawn on every lane.
    Environment(EnvironmentRecord),
    /// An observed connection's upgrade (schema version 5).
    Handshake(HandshakeRecord),
}

/// An event's row in `events`, for every kind but `frame` (whose columns
/// the frame kind's insert adds).
pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (session_id, mono_ns, id, socket_id, wall_ns, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

impl EventBody {
    /// Inserts the event: its `events` row (`event`, prepared from
    /// [`INSERT_EVENT`]; `frame`, from the frame kind's insert) and its
    /// detail rows; keeps the socket's links.
    pub(crate) fn insert(
        &self,
        at: &mut Insert<'_, '_>,
        event: &mut Statement<'_>,
        frame: &mut Statement<'_>,
    ) -> rusqlite::Result<()> {
        if let EventBody::Frame(f) = self {
            return f.insert(frame, at);
        }
        event.execute(params![
            at.session,
            at.mono_ns as i64,
            at.event_id,
            at.socket_id as i64,
            at.wall_ns,
            self.kind()
        ])?;
        self.insert_detail(at)
    }

    /// An engine event's body as stored: free text scrubbed, a frame's
    /// payload capped at `payload_cap` bytes (`None`: not kept).
    pub(crate) fn from_engine(kind: &EventKind, payload_cap: Option<usize>) -> EventBody {
        match kind {
            EventKind::SocketAdded(info) => EventBody::SocketAdded(SocketRecord::new(info)),
            EventKind::Transition { from, to, cause } => {
                EventBody::Transition(TransitionRecord::new(*from, to, cause))
            }
            EventKind::Finding(f) => EventBody::Finding(FindingRecord::new(f)),
            EventKind::Frame(fr) => EventBody::Frame(FrameRow::new(fr, payload_cap)),
            EventKind::Message { id, stage } => EventBody::Message(MessageRecord::new(*id, stage)),
            EventKind::BackoffPlanned {
                attempt,
                delay,
                ceiling,
            } => EventBody::BackoffPlanned(BackoffRecord {
                attempt: *attempt,
                delay_ns: ns(*delay),
                ceiling_ns: ns(*ceiling),
            }),
            EventKind::StateSync(s) => EventBody::StateSync(StateSyncRow::new(s)),
            EventKind::Progress(p) => EventBody::Progress(ProgressRecord::new(p)),
            EventKind::HeartbeatAnswered { rtt } => {
                EventBody::HeartbeatAnswered(HeartbeatRecord { rtt_ns: ns(*rtt) })
            }
            EventKind::Environment(change) => {
                EventBody::Environment(EnvironmentRecord::new(change))
            }
            EventKind::Handshake(h) => EventBody::Handshake(HandshakeRecord::new(h)),
            // Engine-wide like the others: a line across every lane where
            // the recording stopped.
            EventKind::RecordingFailed { reason } => {
                EventBody::Environment(EnvironmentRecord::recording_failed(reason))
            }
        }
    }
}

/// The bodies of a page of events, given as (event id, kind) in page
/// order: one query per kind present, not one per event. An event without
/// its detail row is [`Error::Malformed`].
pub(crate) fn read_bodies(
    conn: &Connection,
    heads: &[(i64, &str)],
) -> Result<Vec<EventBody>, Error> {
    let mut by_kind: HashMap<&str, Vec<i64>> = HashMap::new();
    for &(id, kind) in heads {
        by_kind.entry(kind).or_default().push(id);
    }
    let mut found = HashMap::with_capacity(heads.len());
    for (kind, ids) in by_kind {
        read_kind(conn, kind, ids, &mut found)?;
    }
    heads
        .iter()
        .map(|&(id, kind)| {
            found.remove(&id).ok_or_else(|| {
                Error::Malformed(format!("event {id} ({kind}) has no row in its table"))
            })
        })
        .collect()
}

fn read_rows<K: Kind>(
    conn: &Connection,
    ids: Vec<i64>,
    out: &mut HashMap<i64, EventBody>,
    wrap: fn(K) -> EventBody,
) -> Result<(), Error> {
    let ids: Rc<Vec<Value>> = Rc::new(ids.into_iter().map(Value::Integer).collect());
    let mut stmt = conn.prepare_cached(K::SELECT)?;
    let mut rows = stmt.query([ids])?;
    while let Some(row) = rows.next()? {
        out.insert(row.get(0)?, wrap(K::read(row)?));
    }
    Ok(())
}

/// Column `i` of an INTEGER that holds a `u64`.
pub(crate) fn get_u64(r: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)? as u64)
}

/// Column `i` of a nullable INTEGER that holds a `u64`.
pub(crate) fn get_opt_u64(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
}

/// A `u64` as SQLite's INTEGER.
pub(crate) fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

pub(crate) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) fn job_status(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Complete => "complete",
        JobStatus::Failed => "failed",
        JobStatus::Canceled => "canceled",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Each kind's serde tag is its `events.kind` value, and what its
    /// insert writes its select reads back, field for field, in one page.
    #[test]
    fn every_kind_agrees_with_its_table_and_tag() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        rusqlite::vtab::array::load_module(&conn).unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO sessions (id, started_ns, host, app_version, pid, trace_salt) VALUES (1, 0, 'h', 'v', 1, 0)",
            [],
        )
        .unwrap();
        let bodies = samples();
        assert_eq!(bodies.len(), SCHEMA.len(), "a sample of every kind");
        let mut event = tx.prepare(INSERT_EVENT).unwrap();
        let mut frame = tx.prepare(<FrameRow as Kind>::INSERT).unwrap();
        for (n, body) in bodies.iter().enumerate() {
            let json = serde_json::to_value(body).unwrap();
            assert_eq!(json["kind"], body.kind());
            let id = n as i64 + 1;
            let mut track = SocketTrack::default();
            let mut at = Insert {
                tx: &tx,
                session: 1,
                socket_id: 1,
                event_id: id,
                mono_ns: id as u64,
                wall_ns: 0,
                track: &mut track,
                previous_frame: None,
            };
            body.insert(&mut at, &mut event, &mut frame).unwrap();
        }
        drop((event, frame));
        let heads: Vec<(i64, &str)> = bodies
            .iter()
            .enumerate()
            .map(|(n, b)| (n as i64 + 1, b.kind()))
            .collect();
        let got = read_bodies(&tx, &heads).unwrap();
        assert_eq!(got, bodies);
    }

    /// Every kind reads as one line of its own words, not its Debug form.
    #[test]
    fn every_kind_has_a_line_of_its_own() {
        let samples = samples();
        let kinds: std::collections::HashSet<_> = samples.iter().map(EventBody::kind).collect();
        assert_eq!(kinds.len(), SCHEMA.len(), "a sample of every kind");
        for body in samples {
            let line = body.line();
            assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
            assert!(
                !line.contains("Record") && !line.contains(" { "),
                "{line:?}"
            );
        }
    }

    /// A record of every kind.
    pub(crate) fn samples() -> Vec<EventBody> {
        vec![
            EventBody::SocketAdded(SocketRecord {
                name: "n".into(),
                scheme: "wss".into(),
                host: "h".into(),
                port: 8443,
                path: "/p".into(),
                adapter: "job".into(),
                job_id: Some("j".into()),
                token_source: Some("env:T".into()),
            }),
            EventBody::Transition(TransitionRecord {
                from: "Backoff".into(),
                to: "Connecting".into(),
                attempt: Some(2),
                backoff_until_ns: Some(u64::MAX >> 1),
                close_code: Some(1006),
                close_initiator: Some("peer".into()),
                reason: Some("r".into()),
                reason_detail: Some("{}".into()),
                cause: "backoff_elapsed".into(),
                cause_detail: Some("d".into()),
                error_type: Some("e".into()),
            }),
            EventBody::Frame(FrameRow {
                direction: "in".into(),
                opcode: "text".into(),
                size: 12,
                message_type: Some("progress".into()),
                seq: Some(7),
                msg_id: Some(3),
                close_code: None,
                payload: Some("{}".into()),
                payload_truncated: true,
            }),
            EventBody::Finding(FindingRecord {
                class: "duplicate_seq".into(),
                side: "peer".into(),
                severity: "warning".into(),
                attempt: 1,
                detail: "{\"detail\":\"x\"}".into(),
                transition_event_id: None,
                frame_event_id: None,
            }),
            EventBody::Message(MessageRecord {
                msg_id: 9,
                stage: "dropped".into(),
                depth: None,
                drop_reason: Some("closed".into()),
            }),
            EventBody::BackoffPlanned(BackoffRecord {
                attempt: 1,
                delay_ns: 5,
                ceiling_ns: 10,
            }),
            EventBody::StateSync(StateSyncRow {
                try_no: 2,
                outcome: "synced".into(),
                job_status: Some("running".into()),
                processed: Some(4),
                total: Some(8),
                last_seq: Some(4),
                http_status: Some(200),
                error: None,
                will_retry: Some(false),
            }),
            EventBody::Progress(ProgressRecord {
                processed: 4,
                total: 8,
                status: None,
                source: "event".into(),
            }),
            EventBody::HeartbeatAnswered(HeartbeatRecord { rtt_ns: 1234 }),
            EventBody::Environment(EnvironmentRecord {
                change: "wake".into(),
                detail: "suspended 1.000 s".into(),
            }),
            EventBody::Handshake(HandshakeRecord {
                status: 101,
                request_headers: vec![("Upgrade".into(), "websocket".into())],
                response_headers: vec![("Sec-WebSocket-Accept".into(), "x=".into())],
            }),
        ]
    }
}
