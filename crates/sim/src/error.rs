//! The crate's one error type. Messages never carry a token.

/// What can go wrong in the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound. Fatal: the simulator does not start.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A fault knob is unknown or its value does not parse. Fatal: fix the input.
    #[error("bad fault `{key}`: {reason}")]
    BadFault {
        /// The knob as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request body is not valid JSON or not the expected shape. Fatal: fix the input.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No job with this id (never created, or deleted). Fatal for that job.
    #[error("unknown job `{0}`")]
    UnknownJob(String),
    /// A wait in [`crate::Sim::wait_for`] ran out of time. Retryable: wait again.
    #[error("timed out after {0:?} waiting for a wire event")]
    Timeout(std::time::Duration),
    /// Writing to the terminal or waiting for Ctrl-C failed. Fatal for the
    /// command line run.
    #[error("terminal I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// A reference server of another protocol (Node.js, `tests/servers`)
    /// could not start or stopped answering. Fatal for the run: install
    /// Node.js and the servers' packages.
    #[error("reference server: {0}")]
    Reference(String),
    /// The simulator was shut down. Fatal.
    #[error("the simulator has shut down")]
    ShutDown,
}
