//! The schema, as migrations. docs/schema.md describes it table by table.
//! The tables of an event kind are defined in its module (`kinds/`); this
//! file holds the rest and runs each version's steps as one migration. A
//! change is a new step at a new version, never an edit of an old one.

use std::sync::LazyLock;

use rusqlite::OptionalExtension;
use rusqlite_migration::{M, Migrations};

use crate::kinds;

/// `PRAGMA application_id` of a sockscope recording ("SOCK").
pub const APPLICATION_ID: i64 = 0x534F_434B;

/// The tables every kind refers to: sessions and the events' common row.
const CORE_V1: &str = r#"
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
"#;

/// Views for the sqlite3 CLI, after the kinds' tables of version 1.
const VIEWS_V1: &str = r#"
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

/// What tells the recording process apart from a later one that got its
/// PID: its start time and the boot it started in. NULL in sessions
/// recorded before v3, which are then judged by the PID alone.
const CORE_V3: &str = r#"
ALTER TABLE sessions ADD COLUMN pid_start_ticks INTEGER; -- /proc/PID/stat starttime
ALTER TABLE sessions ADD COLUMN boot_id TEXT;            -- /proc/sys/kernel/random/boot_id
"#;

/// The events' clustered layout: one WITHOUT ROWID table in page order,
/// (session, time, id), a frame's columns in its own row, so an event is
/// one B-tree insert near the table's end. Its one index, by id, is also
/// appended to at its end (ids grow): it keeps `events.id` a key, which the
/// detail tables' foreign keys need, and finds events by id. Runs before
/// the kinds' steps of v4 (the frame kind then drops `frames`, whose rows
/// are copied here).
const CORE_V4: &str = r#"
DROP VIEW v_transitions;
DROP VIEW v_frames;
DROP VIEW v_findings;
CREATE TABLE events_v4 (
    session_id        INTEGER NOT NULL REFERENCES sessions(id),
    mono_ns           INTEGER NOT NULL,
    id                INTEGER NOT NULL, -- unique in the file, commit order
    socket_id         INTEGER NOT NULL,
    wall_ns           INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    -- kind 'frame' only (NULL for the other kinds): the frame
    direction         TEXT,
    opcode            TEXT,
    size              INTEGER,
    message_type      TEXT,
    seq               INTEGER,
    msg_id            INTEGER,
    close_code        INTEGER,
    payload           TEXT,
    payload_truncated INTEGER,
    PRIMARY KEY (session_id, mono_ns, id)
) WITHOUT ROWID;
INSERT INTO events_v4
    SELECT e.session_id, e.mono_ns, e.id, e.socket_id, e.wall_ns, e.kind,
           f.direction, f.opcode, f.size, f.message_type, f.seq, f.msg_id,
           f.close_code, f.payload, f.payload_truncated
    FROM events e LEFT JOIN frames f ON f.event_id = e.id;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
CREATE UNIQUE INDEX events_by_id ON events(id);
"#;

/// The CLI's views again, on the v4 layout.
const VIEWS_V4: &str = r#"
CREATE VIEW v_transitions AS
    SELECT e.session_id, e.socket_id, e.mono_ns, e.wall_ns,
           datetime(e.wall_ns / 1000000000, 'unixepoch') AS wall_utc, t.*
    FROM transitions t JOIN events e ON e.id = t.event_id;
CREATE VIEW v_frames AS
    SELECT session_id, socket_id, mono_ns, wall_ns, id AS event_id, direction,
           opcode, size, message_type, seq, msg_id, close_code, payload,
           payload_truncated
    FROM events WHERE kind = 'frame';
CREATE VIEW v_findings AS
    SELECT e.session_id, e.socket_id, e.mono_ns, e.wall_ns, f.*
    FROM findings f JOIN events e ON e.id = f.event_id;
"#;

/// Migration `version`'s script: the core's part, then every kind's steps
/// of that version in the kinds' order.
fn script(version: i64) -> String {
    let (before, after) = match version {
        1 => (CORE_V1, VIEWS_V1),
        3 => ("", CORE_V3),
        4 => (CORE_V4, VIEWS_V4),
        _ => ("", ""),
    };
    let kinds = kinds::SCHEMA
        .iter()
        .flat_map(|steps| steps.iter())
        .filter(|(v, _)| *v == version)
        .map(|(_, sql)| *sql);
    std::iter::once(before)
        .chain(kinds)
        .chain(std::iter::once(after))
        .collect()
}

static SCRIPTS: LazyLock<Vec<String>> =
    LazyLock::new(|| (1..=SCHEMA_VERSION).map(script).collect());

/// Every migration, oldest first. The schema version is SQLite's
/// `user_version`, which equals the number of migrations applied.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(SCRIPTS.iter().map(|s| M::up(s)).collect())
}

/// Brings `conn`'s file to [`SCHEMA_VERSION`]. Foreign keys are off
/// meanwhile, as SQLite asks of a table rebuilt under its children (v4's
/// `events`; the pragma does nothing inside a transaction), and checked
/// after: a violation fails the migration.
pub(crate) fn migrate(conn: &mut rusqlite::Connection) -> Result<(), crate::Error> {
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = migrations().to_latest(conn);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    migrated?;
    let broken: Option<String> = conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()?;
    match broken {
        None => Ok(()),
        Some(table) => Err(crate::Error::Malformed(format!(
            "after the migration, {table} has a row whose parent is gone"
        ))),
    }
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;

#[cfg(test)]
mod tests {
    /// A released migration never changes: files made by it would differ
    /// from files made by the new text. Each version's script is pinned by
    /// its FNV-1a hash; a layout change is a step at a new version.
    #[test]
    fn released_migrations_are_unchanged() {
        let fnv = |s: &str| {
            s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        };
        let pinned = [
            (1, 0xbdc0_1bbb_1d71_b4ed_u64),
            (2, 0xc0c3_0491_9367_b5ac),
            (3, 0xb475_bf1a_a207_baaa),
            (4, 0x2a85_9a03_08d1_839c),
            (5, 0x918b_d010_6c29_04a1),
        ];
        for (version, hash) in pinned {
            assert_eq!(
                fnv(&super::script(version)),
                hash,
                "migration {version} was edited"
            );
        }
    }

    /// A v3 file's events (a frame, a transition, a finding linked to both,
    /// over two sessions) read back the same after v4's migration, with
    /// their ids, and new ids continue after the largest.
    #[test]
    fn v4_keeps_every_event_of_a_v3_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        super::migrations().to_version(&mut conn, 3).unwrap();
        conn.execute_batch(
            r#"
            INSERT INTO sessions (id, started_ns, host, app_version, pid, trace_salt, event_count, end_state)
                VALUES (1, 0, 'h', 'v', 1, 0, 3, 'clean'), (2, 0, 'h', 'v', 1, 0, 1, 'clean');
            INSERT INTO events (id, session_id, socket_id, mono_ns, wall_ns, kind) VALUES
                (10, 1, 1, 100, 1100, 'transition'),
                (11, 1, 1, 200, 1200, 'frame'),
                (12, 1, 1, 200, 1300, 'finding'),
                (13, 2, 4, 5, 2000, 'frame');
            INSERT INTO transitions (event_id, from_state, to_state, attempt, cause)
                VALUES (10, 'AwaitingReady', 'Ready', 1, 'ready_ack');
            INSERT INTO frames (event_id, direction, opcode, size, message_type, seq, payload, payload_truncated)
                VALUES (11, 'in', 'text', 9, 'progress', 7, '{"seq":7}', 1),
                       (13, 'out', 'ping', 0, NULL, NULL, NULL, 0);
            INSERT INTO findings (event_id, class, side, severity, attempt, detail, transition_event_id, frame_event_id)
                VALUES (12, 'duplicate_seq', 'peer', 'warning', 1, '{"detail":"d"}', 10, 11);
            "#,
        )
        .unwrap();
        super::migrate(&mut conn).unwrap();
        let frames: i64 = conn
            .query_row(
                "SELECT count(*) FROM v_frames WHERE payload_truncated",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(frames, 1);
        drop(conn);
        let reader = crate::RecordReader::open(&path).unwrap();
        let mut got = Vec::new();
        for session in [1, 2] {
            reader
                .for_each_event(session, |e| {
                    got.push(serde_json::to_value(&e).unwrap());
                    Ok(())
                })
                .unwrap();
        }
        let ids: Vec<_> = got
            .iter()
            .map(|e| e["event_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [10, 11, 12, 13]);
        assert_eq!(got[1]["body"]["payload"], r#"{"seq":7}"#);
        assert_eq!(got[1]["body"]["seq"], 7);
        assert_eq!(got[1]["body"]["payload_truncated"], true);
        assert_eq!(got[2]["body"]["transition_event_id"], 10);
        assert_eq!(got[2]["body"]["frame_event_id"], 11);
        assert_eq!(got[3]["body"]["opcode"], "ping");
        assert_eq!(got[3]["wall_ns"], 2000);
    }
}
