//! Recorded sessions, for reading: the one way the CLI and the app get at
//! history. [`History`] opens a database (a missing one is a clear error,
//! never an empty new file), lists sessions, names their sockets, pages
//! their events and exports them; [`CatchUp`] follows a running session
//! from its start into its live events.
//!
//! Every call here touches SQLite: from async code, run it with
//! `spawn_blocking`.

mod catch_up;

pub use catch_up::{CatchUp, Cutoff, Live, SYNC_TIMEOUT};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sockscope_recorder::export::{self, Format};
use sockscope_recorder::{
    EventPage, EventRecord, RecordReader, SessionSummary, SocketSummary, WindowQuery,
};

use crate::CoreError;

/// A database of recorded sessions, open for reading.
#[derive(Debug)]
pub struct History {
    reader: RecordReader,
    path: PathBuf,
}

impl History {
    /// Opens the database at `path` for reading.
    pub fn open(path: &Path) -> Result<History, CoreError> {
        if !path.exists() {
            return Err(CoreError::NoDatabase(path.to_owned()));
        }
        Ok(History {
            reader: RecordReader::open(path)?,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>, CoreError> {
        Ok(self.reader.sessions()?)
    }

    /// One session; an unknown id is an error naming it.
    pub fn session(&self, id: i64) -> Result<SessionSummary, CoreError> {
        Ok(self.reader.session(id)?)
    }

    /// A session's sockets.
    pub fn sockets(&self, session: i64) -> Result<Vec<SocketSummary>, CoreError> {
        Ok(self.reader.sockets(session)?)
    }

    /// A session's socket names by id.
    pub fn socket_names(&self, session: i64) -> Result<BTreeMap<u64, String>, CoreError> {
        Ok(self
            .sockets(session)?
            .into_iter()
            .map(|s| (s.socket_id, s.config.name))
            .collect())
    }

    /// The sockets `wanted` names (by name or id), or `None` for all; a
    /// name the session lacks is an error listing the ones it has.
    pub fn pick_sockets(
        &self,
        session: i64,
        wanted: &[String],
    ) -> Result<Option<Vec<u64>>, CoreError> {
        if wanted.is_empty() {
            return Ok(None);
        }
        let names = self.socket_names(session)?;
        let mut ids = Vec::new();
        for w in wanted {
            let id = names
                .iter()
                .find(|(id, name)| *name == w || id.to_string() == *w)
                .map(|(id, _)| *id)
                .ok_or_else(|| CoreError::UnknownSocketName {
                    name: w.clone(),
                    known: names.values().cloned().collect(),
                })?;
            ids.push(id);
        }
        Ok(Some(ids))
    }

    /// One page of events.
    pub fn page(&self, q: &WindowQuery) -> Result<EventPage, CoreError> {
        Ok(self.reader.events(q)?)
    }

    /// Calls `f` on every event `q` selects, in order, a page at a time.
    pub fn for_each(
        &self,
        q: WindowQuery,
        mut f: impl FnMut(EventRecord) -> Result<(), CoreError>,
    ) -> Result<(), CoreError> {
        let mut failed = None;
        self.reader.for_each_in(q, |e| {
            f(e).map_err(|e| {
                let text = e.to_string();
                failed = Some(e);
                sockscope_recorder::Error::Export(text)
            })
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The monotonic time of the session's first event (0 if it has none).
    pub fn first_mono(&self, session: i64) -> Result<u64, CoreError> {
        let page = self.page(&WindowQuery::whole_session(session, 1))?;
        Ok(page.events.first().map_or(0, |e| e.mono_ns))
    }

    /// Writes a session in `format` to `out`.
    pub fn export(&self, session: i64, format: Format, out: impl Write) -> Result<(), CoreError> {
        Ok(export::write_to(
            &self.reader,
            session,
            format,
            SERVICE,
            out,
        )?)
    }

    /// Writes a session in `format` to the file `path`, all or nothing.
    pub fn export_file(&self, session: i64, format: Format, path: &Path) -> Result<(), CoreError> {
        Ok(export::write_file(
            &self.reader,
            session,
            format,
            SERVICE,
            path,
        )?)
    }
}

/// The service name exports carry.
const SERVICE: &str = "sockscope";
