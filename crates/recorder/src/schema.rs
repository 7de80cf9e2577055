//! The schema, as migrations. docs/schema.md describes it table by table;
//! a change is a new migration appended here, never an edit of an old one.

use rusqlite_migration::{M, Migrations};

/// `PRAGMA application_id` of a sockscope recording ("SOCK").
pub const APPLICATION_ID: i64 = 0x534F_434B;

const V1: &str = r#"
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    started_ns    INTEGER NOT NULL,          -- wall, ns since the Unix epoch
    ended_ns      INTEGER,                   -- NULL while running or after a crash
    end_state     TEXT NOT NULL DEFAULT 'running', -- running | clean | crashed
    host          TEXT NOT NULL,
    app_version   TEXT NOT NULL,
    pid           INTEGER NOT NULL,          -- of the recording process
    event_count   INTEGER NOT NULL DEFAULT 0, -- events committed
    trace_salt    INTEGER NOT NULL           -- mixes into trace ids
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,          -- arrival order
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    socket_id  INTEGER NOT NULL,
    mono_ns    INTEGER NOT NULL,
    wall_ns    INTEGER NOT NULL,
    kind       TEXT NOT NULL
);
CREATE INDEX events_by_time   ON events(session_id, mono_ns);
CREATE INDEX events_by_socket ON events(session_id, socket_id, mono_ns);

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

CREATE TABLE transitions (
    event_id         INTEGER PRIMARY KEY REFERENCES events(id),
    from_state       TEXT NOT NULL,
    to_state         TEXT NOT NULL,
    attempt          INTEGER,
    backoff_until_ns INTEGER,
    close_code       INTEGER,
    close_initiator  TEXT,
    reason           TEXT,
    reason_detail    TEXT,
    cause            TEXT NOT NULL,
    cause_detail     TEXT,
    error_type       TEXT
);

CREATE TABLE connection_attempts (
    id                 INTEGER PRIMARY KEY,
    session_id         INTEGER NOT NULL REFERENCES sessions(id),
    socket_id          INTEGER NOT NULL,
    attempt            INTEGER NOT NULL,
    started_event_id   INTEGER NOT NULL,
    handshake_event_id INTEGER,
    ready_event_id     INTEGER,
    ended_event_id     INTEGER,
    end_cause          TEXT
);
CREATE INDEX attempts_by_socket ON connection_attempts(session_id, socket_id);

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

CREATE TABLE findings (
    event_id            INTEGER PRIMARY KEY REFERENCES events(id),
    class               TEXT NOT NULL,
    side                TEXT NOT NULL,
    severity            TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    detail              TEXT NOT NULL,   -- JSON object
    transition_event_id INTEGER,
    frame_event_id      INTEGER
);

CREATE TABLE messages (
    event_id    INTEGER PRIMARY KEY REFERENCES events(id),
    msg_id      INTEGER NOT NULL,
    stage       TEXT NOT NULL,
    depth       INTEGER,
    drop_reason TEXT
);

CREATE TABLE backoffs (
    event_id   INTEGER PRIMARY KEY REFERENCES events(id),
    attempt    INTEGER NOT NULL,
    delay_ns   INTEGER NOT NULL,
    ceiling_ns INTEGER NOT NULL
);

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

CREATE TABLE progress (
    event_id  INTEGER PRIMARY KEY REFERENCES events(id),
    processed INTEGER NOT NULL,
    total     INTEGER NOT NULL,
    status    TEXT,
    source    TEXT NOT NULL
);

CREATE TABLE heartbeats (
    event_id INTEGER PRIMARY KEY REFERENCES events(id),
    rtt_ns   INTEGER NOT NULL
);

-- Views for the sqlite3 CLI: each detail table with its event's columns.
CREATE VIEW v_transitions AS
    SELECT e.session_id, e.socket_id, e.mono_ns, e.wall_ns,
           datetime(e.wall_ns / 1000000000, 'unixepoch') AS wall_utc, t.*
    FROM transitions t JOIN events e ON e.id = t.event_id;
CREATE VIEW v_frames AS
    SELECT e.session_id, e.socket_id, e.mono_ns, e.wall_ns, f.*
    FROM frames f JOIN events e ON e.id = f.event_id;
CREATE VIEW v_findings AS
    SELECT e.session_id, e.socket_id, e.mono_ns, e.wall_ns, f.*
    FROM findings f JOIN events e ON e.id = f.event_id;
"#;

/// Engine-wide changes (network, wake), drawn on every lane.
const V2: &str = r#"
CREATE TABLE environment (
    event_id INTEGER PRIMARY KEY REFERENCES events(id),
    change   TEXT NOT NULL,   -- address_added | address_removed | wake
    detail   TEXT NOT NULL    -- 10.0.0.1/24, or 'suspended 3600.000 s'
);
"#;

/// What tells the recording process apart from a later one that got its
/// PID: its start time and the boot it started in. NULL in sessions
/// recorded before v3, which are then judged by the PID alone.
const V3: &str = r#"
ALTER TABLE sessions ADD COLUMN pid_start_ticks INTEGER; -- /proc/PID/stat starttime
ALTER TABLE sessions ADD COLUMN boot_id TEXT;            -- /proc/sys/kernel/random/boot_id
"#;

/// Every migration, oldest first. The schema version is SQLite's
/// `user_version`, which equals the number of migrations applied.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3)])
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 3;
