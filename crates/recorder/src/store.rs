//! Opening the database file: pragmas, migrations, a corrupt or foreign
//! file moved aside, crashed sessions marked, retention applied, and a new
//! session begun.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::record::wall_ns;
use crate::schema::{self, APPLICATION_ID, SCHEMA_VERSION};

/// How long recordings are kept. Applied when a recorder opens the file
/// and every 4096 batches while it writes: whole sessions go, oldest
/// first; a running session never does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Sessions that started longer ago than this are deleted. Default 30
    /// days; `None` keeps them regardless of age.
    pub max_age: Option<Duration>,
    /// While the live data exceeds this many bytes, the oldest session is
    /// deleted. Default 1 GiB; `None` sets no limit.
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            max_bytes: Some(1 << 30),
        }
    }
}

/// Where a file that could not be used went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedAside {
    /// Its new path. The `-wal` and `-shm` files, if any, were moved
    /// beside it with the same suffixes.
    pub to: PathBuf,
    /// Why it was moved.
    pub reason: String,
}

/// What opening the database found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReport {
    /// The database file.
    pub path: PathBuf,
    /// The session this run records into.
    pub session: SessionTag,
    /// Schema version of the file.
    pub schema_version: i64,
    /// Whether the file was created (or re-created) by this open.
    pub created: bool,
    /// A corrupt or foreign file found at `path`, moved aside (never
    /// deleted) before a fresh database was created.
    pub moved_aside: Option<MovedAside>,
    /// Sessions left running by a process that is gone, now marked
    /// `crashed`.
    pub crashed_sessions: Vec<i64>,
    /// Sessions deleted by retention.
    pub pruned_sessions: Vec<i64>,
}

/// Identifies a recording session; the trace ids of its sockets derive
/// from it, so live traces and exports from history agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionTag {
    /// `sessions.id`.
    pub id: i64,
    /// Random salt mixed into trace ids (`sessions.trace_salt`).
    pub trace_salt: u64,
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Opens `path` for writing and applies pragmas and migrations. A file
/// that is not a sockscope database is moved aside and replaced.
pub(crate) fn open_for_write(
    path: &Path,
    busy_timeout: Duration,
) -> Result<(Connection, bool, Option<MovedAside>), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io("creating directory", parent, e))?;
    }
    check_writable(path)?;
    let mut moved = None;
    if let Some(reason) = header_problem(path)? {
        moved = Some(move_aside(path, reason)?);
    }
    let fresh = fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
    let probe = if fresh {
        Probe::Empty
    } else {
        probe(path, busy_timeout)?
    };
    let created = match probe {
        Probe::Ours => false,
        Probe::Empty => true,
        Probe::Unusable(reason) => {
            moved = Some(move_aside(path, reason)?);
            true
        }
    };
    finish_open(connect(path, busy_timeout)?, created, moved)
}

/// Refuses a file that cannot be written, naming it, before SQLite would
/// open it read-only and fail at the first write with a vaguer message.
fn check_writable(path: &Path) -> Result<(), Error> {
    use std::io::ErrorKind;
    match fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Err(Error::ReadOnly {
                path: path.to_owned(),
                source: e,
            })
        }
        Err(e) => Err(Error::io("opening for writing", path, e)),
    }
}

enum Probe {
    Ours,
    Empty,
    Unusable(String),
}

fn header_problem(path: &Path) -> Result<Option<String>, Error> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("opening", path, e)),
    };
    let mut head = Vec::with_capacity(16);
    (&mut f)
        .take(16)
        .read_to_end(&mut head)
        .map_err(|e| Error::io("reading", path, e))?;
    if head.is_empty() || head.as_slice() == SQLITE_MAGIC {
        Ok(None)
    } else {
        Ok(Some("not an SQLite database (bad header)".into()))
    }
}

fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// Looks at an existing file through a read-only connection, which never
/// checkpoints or deletes a WAL file, so a bad file is moved aside whole.
fn probe(path: &Path, busy_timeout: Duration) -> Result<Probe, Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(busy_timeout)?;
    let looked = (|| -> rusqlite::Result<(i64, i64, i64)> {
        let app: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let objects: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        Ok((app, version, objects))
    })();
    let (app, version, objects) = match looked {
        Ok(v) => v,
        Err(e) if is_corruption(&e) => return Ok(Probe::Unusable(format!("corrupt: {e}"))),
        Err(e) => return Err(e.into()),
    };
    if app == 0 && objects == 0 {
        return Ok(Probe::Empty);
    }
    if app != APPLICATION_ID {
        return Ok(Probe::Unusable(format!(
            "foreign SQLite database (application_id {app:#x}, {objects} schema objects)"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    // After a crash, check the pages before trusting them.
    let crashed: rusqlite::Result<i64> = conn.query_row(
        "SELECT count(*) FROM sessions WHERE end_state = 'running'",
        [],
        |r| r.get(0),
    );
    match crashed {
        Ok(0) => {}
        Ok(_) => match conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)) {
            Ok(s) if s == "ok" => {}
            Ok(s) => return Ok(Probe::Unusable(format!("corrupt: quick_check says {s}"))),
            Err(e) if is_corruption(&e) => return Ok(Probe::Unusable(format!("corrupt: {e}"))),
            Err(e) => return Err(e.into()),
        },
        Err(e) if is_corruption(&e) => return Ok(Probe::Unusable(format!("corrupt: {e}"))),
        // A version-0 file of ours has no sessions table yet.
        Err(_) if version == 0 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Probe::Ours)
}

fn finish_open(
    mut conn: Connection,
    created: bool,
    moved: Option<MovedAside>,
) -> Result<(Connection, bool, Option<MovedAside>), Error> {
    if created {
        // Must precede the first table to take effect.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // 2 MiB of page cache (SQLite's default): the writer inserts at the
    // right edge of two B-trees (schema v4), so a larger cache only held
    // every page it ever wrote, up to 64 MiB in a long desktop session
    // (issue 16).
    conn.pragma_update(None, "cache_size", -2_048)?;
    // Checkpoint every 16 MiB of WAL rather than 4: hot index pages are
    // copied back less often.
    conn.pragma_update(None, "wal_autocheckpoint", 4096)?;
    schema::migrate(&mut conn)?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok((conn, created, moved))
}

/// Renames `path` (and its `-wal`, `-shm`) to `<path>.corrupt-<unix secs>`,
/// adding `-N` if that name is taken. Never deletes.
fn move_aside(path: &Path, reason: String) -> Result<MovedAside, Error> {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("{}.corrupt-{secs}", path.display());
    let mut to = PathBuf::from(&base);
    let mut n = 1;
    while to.exists() {
        to = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    fs::rename(path, &to).map_err(|e| Error::io("moving aside", path, e))?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            let side_to = PathBuf::from(format!("{}{suffix}", to.display()));
            fs::rename(&side, &side_to).map_err(|e| Error::io("moving aside", &side, e))?;
        }
    }
    tracing::warn!(from = %path.display(), to = %to.display(), %reason, "recording database moved aside");
    Ok(MovedAside { to, reason })
}

/// Marks sessions left `running` by a dead process on this host as
/// crashed, ending them at their last event. A process counts as the
/// recorder only if its PID, start time and boot all match: a PID the OS
/// has since given to another process does not keep a session running.
pub(crate) fn mark_crashed(conn: &Connection, host: &str) -> Result<Vec<i64>, Error> {
    let mut stmt = conn.prepare(
        "SELECT id, pid, host, pid_start_ticks, boot_id FROM sessions WHERE end_state = 'running'",
    )?;
    let running: Vec<(i64, ProcessTag)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                ProcessTag {
                    host: r.get(2)?,
                    pid: r.get(1)?,
                    start_ticks: r.get(3)?,
                    boot_id: r.get(4)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut crashed = Vec::new();
    for (id, recorder) in running {
        if recorder.is_alive(host) {
            continue;
        }
        conn.execute(
            &format!("UPDATE sessions SET end_state = 'crashed', ended_ns = ({LAST_EVENT_WALL}) WHERE id = ?1"),
            [id],
        )?;
        crashed.push(id);
    }
    Ok(crashed)
}

/// The wall time of session `?1`'s last event (by monotonic time): the
/// end of the table's range for the session, not a scan of it.
pub(crate) const LAST_EVENT_WALL: &str =
    "SELECT wall_ns FROM events WHERE session_id = ?1 ORDER BY mono_ns DESC, id DESC LIMIT 1";

/// What identifies a recording process across PID reuse and reboots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessTag {
    pub host: String,
    pub pid: i64,
    /// Field 22 of `/proc/PID/stat`: when the process started, in clock
    /// ticks since boot. `None` where there is no `/proc`, or in a session
    /// recorded before schema v3.
    pub start_ticks: Option<i64>,
    /// `/proc/sys/kernel/random/boot_id`, new at every boot.
    pub boot_id: Option<String>,
}

impl ProcessTag {
    /// This process.
    pub fn current(host: &str) -> ProcessTag {
        let pid = i64::from(std::process::id());
        ProcessTag {
            host: host.to_owned(),
            pid,
            start_ticks: start_ticks(pid),
            boot_id: boot_id(),
        }
    }

    /// Whether the process is still running, seen from `host`. Linux only;
    /// elsewhere a session left running by another process is taken as
    /// crashed.
    fn is_alive(&self, host: &str) -> bool {
        if self.host != host {
            return false;
        }
        let now = ProcessTag::current(host);
        if self.pid == now.pid && self.start_ticks == now.start_ticks {
            return true;
        }
        if matches!((&self.boot_id, &now.boot_id), (Some(then), Some(now)) if then != now) {
            return false;
        }
        match self.start_ticks {
            Some(then) => start_ticks(self.pid) == Some(then),
            // Recorded before v3: the PID is all there is.
            None => Path::new(&format!("/proc/{}", self.pid)).exists(),
        }
    }
}

/// Field 22 (`starttime`) of `/proc/PID/stat`, read after the command name,
/// which may itself hold spaces and parentheses.
pub(crate) fn start_ticks(pid: i64) -> Option<i64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields 3.. follow the name; starttime is the 20th of them.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Applies `retention`, never touching `keep`. Returns the deleted ids.
pub(crate) fn prune(
    conn: &Connection,
    retention: &Retention,
    keep: Option<i64>,
) -> Result<Vec<i64>, Error> {
    let mut pruned = Vec::new();
    let keep = keep.unwrap_or(-1);
    if let Some(age) = retention.max_age {
        let cutoff = wall_ns(SystemTime::now()) - i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare("SELECT id FROM sessions WHERE started_ns < ?1 AND id != ?2 AND end_state != 'running' ORDER BY id")?;
        let old: Vec<i64> = stmt
            .query_map(params![cutoff, keep], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in old {
            delete_session(conn, id)?;
            pruned.push(id);
        }
    }
    if let Some(max) = retention.max_bytes {
        while live_bytes(conn)? > max {
            let oldest: Option<i64> = conn
                .query_row(
                    "SELECT id FROM sessions WHERE id != ?1 AND end_state != 'running' ORDER BY id LIMIT 1",
                    [keep],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = oldest else { break };
            delete_session(conn, id)?;
            pruned.push(id);
        }
    }
    if !pruned.is_empty() {
        conn.execute_batch("PRAGMA incremental_vacuum")?;
        tracing::info!(sessions = pruned.len(), "retention pruned old sessions");
    }
    Ok(pruned)
}

/// Bytes in use: pages minus free pages.
pub(crate) fn live_bytes(conn: &Connection) -> Result<u64, Error> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(u64::try_from((pages - free) * size).unwrap_or(0))
}

/// Deletes a session and every row that belongs to it. The tables come
/// from the schema's own foreign keys, so a table added by a later
/// migration goes too: rows that reference `events` first, then those that
/// reference `sessions`, then the session.
fn delete_session(conn: &Connection, id: i64) -> Result<(), Error> {
    let tx = conn.unchecked_transaction()?;
    for (table, column) in children_of(&tx, "events")? {
        tx.execute(
            &format!("DELETE FROM \"{table}\" WHERE \"{column}\" IN (SELECT id FROM events WHERE session_id = ?1)"),
            [id],
        )?;
    }
    for (table, column) in children_of(&tx, "sessions")? {
        tx.execute(
            &format!("DELETE FROM \"{table}\" WHERE \"{column}\" = ?1"),
            [id],
        )?;
    }
    tx.execute("DELETE FROM sessions WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(())
}

/// `(table, column)` of every foreign key that references `parent`.
fn children_of(conn: &Connection, parent: &str) -> Result<Vec<(String, String)>, Error> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.name, f.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f
         WHERE m.type = 'table' AND f.\"table\" = ?1 ORDER BY m.name",
    )?;
    let rows = stmt.query_map([parent], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// This machine's name, best effort.
pub(crate) fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Begins a session.
pub(crate) fn begin_session(
    conn: &Connection,
    host: &str,
    app_version: &str,
) -> Result<SessionTag, Error> {
    let salt = random_u64();
    let me = ProcessTag::current(host);
    conn.execute(
        "INSERT INTO sessions (started_ns, host, app_version, pid, pid_start_ticks, boot_id, trace_salt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            wall_ns(SystemTime::now()),
            me.host,
            app_version,
            me.pid,
            me.start_ticks,
            me.boot_id,
            salt as i64
        ],
    )?;
    Ok(SessionTag {
        id: conn.last_insert_rowid(),
        trace_salt: salt,
    })
}

/// A random u64 from the std hasher's per-process keys plus the clock.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
