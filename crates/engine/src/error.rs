//! The crate's one error type.

/// Everything that can go wrong in the engine, as seen by its callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A socket's configuration was refused when the socket was created.
    /// Fatal for that socket: fix the configuration.
    #[error("invalid socket config: `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it. Never holds a secret.
        reason: String,
    },
    /// A send after a close was started by either side. Fatal for that
    /// message: no frame was written.
    #[error("socket is closed or closing; nothing was sent")]
    Closed,
    /// The outbox already holds `capacity` messages waiting for Ready.
    /// Retryable once the socket is Ready and the outbox drains.
    #[error("outbox full ({capacity} messages waiting for Ready)")]
    OutboxFull {
        /// The configured capacity.
        capacity: usize,
    },
    /// The message is larger than the socket's maximum message size. Fatal
    /// for that message.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Message size in bytes.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The token source could not produce a token. Retryable if the source
    /// can recover (a keyring that unlocks, an env var that gets set).
    #[error("token source `{source_name}` has no token: {reason}")]
    TokenUnavailable {
        /// The source's description, e.g. `env:JOB_TOKEN`. Never the token.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// No socket with that id in this engine. Fatal.
    #[error("no socket {0}")]
    UnknownSocket(u64),
    /// The socket's task has ended (the engine is shutting down). Fatal.
    #[error("socket task has ended")]
    TaskEnded,
    /// TLS could not be set up (no usable crypto provider or root store).
    /// Fatal for the engine.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}
