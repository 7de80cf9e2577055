//! The schema, as migrations. docs/schema.md describes it table by table.
//! The tables of an event kind are defined in its module (`kinds/`); this
//! file holds the rest and runs each version's steps as one migration. A
//! change is a new step at a new version, never an edit of an old one.

use std::sync::LazyLock;

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

/// Migration `version`'s script: the core's part, then every kind's steps
/// of that version in the kinds' order.
fn script(version: i64) -> String {
    let (before, after) = match version {
        1 => (CORE_V1, VIEWS_V1),
        3 => ("", CORE_V3),
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

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 3;

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
        ];
        for (version, hash) in pinned {
            assert_eq!(
                fnv(&super::script(version)),
                hash,
                "migration {version} was edited"
            );
        }
    }
}
