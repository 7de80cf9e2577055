use std::path::PathBuf;

/// Everything that can go wrong in the recorder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed. Retryable when the database was busy or locked past
    /// the busy timeout; fatal otherwise.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A schema migration failed. Fatal: the file is left as it was.
    #[error("schema migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The file was written by a newer sockscope (schema version `found`,
    /// this build knows up to `known`). Fatal: the file is left untouched.
    #[error("database schema version {found} is newer than this build's {known}")]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// A reader found a file of an older layout (schema version `found`);
    /// a recorder migrates it when it opens the file.
    #[error(
        "database schema version {found} is older than this build's {known}; record into it once to migrate it"
    )]
    SchemaTooOld {
        /// Version in the file.
        found: i64,
        /// The version this build reads.
        known: i64,
    },
    /// A file could not be read, written or moved. Fatal for the call.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The running session outgrew `RecorderConfig::max_session_bytes`
    /// (`cap`) after `written` events: recording stopped there and the
    /// session ended as `capped`. Fatal for the recording; the engine and
    /// its sockets go on, unrecorded.
    #[error(
        "the session reached its recording cap of {cap} bytes after {written} events; recording stopped, the sockets go on unrecorded"
    )]
    SessionFull {
        /// The cap, in bytes.
        cap: u64,
        /// Events committed before it.
        written: u64,
    },
    /// The database file, or the file system it is on, cannot be written.
    /// Fatal: nothing is recorded; give a writable file.
    #[error("the database {path} is read-only; cannot record into it ({source})")]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The writer thread ended abnormally (it panicked). Fatal.
    #[error("the writer thread ended abnormally")]
    WriterGone,
    /// The writer has stopped (finished, failed or capped) and takes no
    /// more requests: it will commit nothing more. Fatal for the call.
    #[error("the recorder's writer has stopped")]
    WriterStopped,
    /// A sync request was not answered in time (the writer is behind: a
    /// slow or busy disk). Retryable.
    #[error("the recorder did not commit what it held within {0:?}")]
    SyncTimedOut(std::time::Duration),
    /// A session id that the database does not hold. Fatal for the call.
    #[error("no session {0}")]
    UnknownSession(i64),
    /// The database holds a row this build cannot read (e.g. an unknown
    /// event kind). Fatal for the call.
    #[error("malformed recording: {0}")]
    Malformed(String),
    /// Encoding an export failed (usually the output writer failed).
    /// Retryable with another output.
    #[error("export: {0}")]
    Export(String),
    /// OpenTelemetry could not be set up or flushed. Retryable: the
    /// collector may come back; recording to SQLite goes on regardless.
    #[error("opentelemetry: {0}")]
    Telemetry(String),
}

impl Error {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
