//! The crate's one error type.

/// Everything the app core can fail at. A scenario whose checks fail is not
/// an error: it is a report with a failing verdict.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No scenario has this id. Fatal: `scenario::catalog()` lists the ids.
    #[error("no scenario named `{0}` (`sockscope scenario list` shows them)")]
    UnknownScenario(String),
    /// The simulator failed to start or refused a call. Retryable when it
    /// could not bind; fatal otherwise (a bug in the scenario).
    #[error("simulator: {0}")]
    Sim(#[from] sockscope_sim::SimError),
    /// The engine refused a socket or has shut down. Fatal: the scenario or
    /// the configuration is wrong.
    #[error("engine: {0}")]
    Engine(#[from] sockscope_engine::Error),
    /// A listener could not bind, or an upstream address did not resolve.
    /// Retryable: the port may be free or the name resolvable later.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `binding 127.0.0.1:9000`.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy has shut down; its handle can no longer change anything.
    /// Fatal for that handle: start a new proxy.
    #[error("the proxy has shut down")]
    ProxyStopped,
    /// The config file is wrong at this line. Fatal: fix the file.
    #[error("{path}:{line}: {message}")]
    Config {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong. Never holds a token.
        message: String,
    },
    /// There is no database at this path to read. Fatal: record a session
    /// first, or pass the right file.
    #[error("no database at {} (run `sockscope demo` or `sockscope watch` first)", .0.display())]
    NoDatabase(std::path::PathBuf),
    /// A session has no socket of this name or id. Fatal: pick one it has.
    #[error("no socket `{name}` in this session; it has: {}", .known.join(", "))]
    UnknownSocketName {
        /// What was asked for.
        name: String,
        /// The sockets it has.
        known: Vec<String>,
    },
    /// The platform has no data directory for the default database. Fatal:
    /// pass a database path.
    #[error("no data directory on this platform; pass a database path")]
    NoDataDir,
    /// The recorder failed (database or telemetry). Fatal for the session;
    /// a corrupt file was already moved aside by then.
    #[error("recorder: {0}")]
    Recorder(#[from] sockscope_recorder::Error),
    /// A job could not be created through `POST /api/jobs`. Retryable if
    /// the backend was down.
    #[error("creating the job: {0}")]
    CreateJob(String),
    /// The OS keyring refused (say, deleting a removed socket's token).
    /// Retryable once the keyring is unlocked.
    #[error("keyring: {0}")]
    Keyring(#[from] sockscope_environment::Error),
    /// A capture file could not be read: not the format, malformed at an
    /// entry, or oversized. Fatal for the import; what came before the bad
    /// entry was recorded, and the error says in which session.
    #[error("{}: {message}; {kept}", .file.display())]
    Capture {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong, naming the entry.
        message: String,
        /// The session holding the entries before the bad one, if any.
        kept: crate::capture::Kept,
    },
    /// A conditional fault of the recording proxy is not a valid spec.
    /// Fatal: fix the spec (docs/captures.md shows the syntax).
    #[error("fault `{spec}`: {message}")]
    FaultSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// The recording proxy's upstream is not a `ws://` or `wss://` URL.
    /// Fatal: fix the URL.
    #[error("upstream: {0}")]
    Upstream(String),
    /// A recorded connection cannot be replayed as asked: the session is
    /// still being recorded, the socket never connected or has no server
    /// frames, or an option is out of range. Fatal: pick another socket or
    /// fix the option.
    #[error("replay: {0}")]
    Replay(String),
    /// A harness wait ended without its event: it timed out, or the engine
    /// stopped first. Fatal for the scenario or test that waited: what it
    /// expected did not happen.
    #[error("{0}")]
    WaitFailed(String),
    /// A background task failed. Fatal.
    #[error("background task: {0}")]
    Task(String),
}

impl CoreError {
    /// A stable, machine-readable name of the error's kind: what crosses
    /// to a UI as `{code, message}`. Matched exhaustively, so a new variant
    /// gets its own code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::UnknownScenario(_) => "unknown_scenario",
            CoreError::Sim(_) => "simulator",
            CoreError::Engine(sockscope_engine::Error::UnknownSocket(_)) => "unknown_socket",
            CoreError::Engine(_) => "engine",
            CoreError::Io { .. } => "io",
            CoreError::ProxyStopped => "proxy_stopped",
            CoreError::Config { .. } => "config",
            CoreError::NoDataDir => "no_data_dir",
            CoreError::NoDatabase(_) => "no_database",
            CoreError::UnknownSocketName { .. } => "unknown_socket",
            CoreError::Recorder(_) => "recorder",
            CoreError::CreateJob(_) => "create_job",
            CoreError::Keyring(_) => "keyring",
            CoreError::WaitFailed(_) => "wait_failed",
            CoreError::Capture { .. } => "capture",
            CoreError::FaultSpec { .. } => "fault_spec",
            CoreError::Upstream(_) => "upstream",
            CoreError::Replay(_) => "replay",
            CoreError::Task(_) => "task",
        }
    }
}

/// One line for an error and its causes, for a person: each cause is added
/// unless the line already holds it (a variant that shows its source would
/// otherwise print it twice), and the line is scrubbed of secrets.
pub fn error_line<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut line = String::new();
    for cause in chain {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    sockscope_recorder::redact::free_text(&line)
}
