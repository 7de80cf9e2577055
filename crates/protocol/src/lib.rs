//! Wire types of the job socket protocol, version 1 (`shared/PROTOCOL.md`),
//! and the [`dialect`]s: how other protocols' frames read (Socket.IO,
//! graphql-ws).
//!
//! Both ends use this crate: the engine's `job` adapter (client side) and the
//! simulator (server side). Parsing is pure and total: any input yields either a
//! typed message or a [`ProtocolError`], never a panic, which is what the fuzz
//! target checks.

mod close;
pub mod dialect;
mod message;
mod rest;

pub use close::{CloseAction, CloseCode};
pub use message::{
    ClientMessage, Envelope, ServerMessage, encode_client, encode_server, parse_client,
    parse_server, parse_server_message,
};
pub use rest::{CreateJobRequest, CreateJobResponse, JobKind, JobState, JobStatus, TokenResponse};

/// Protocol version this crate speaks.
pub const VERSION: u32 = 1;

/// Why a frame could not be understood. Every variant is recorded and counted by
/// the receiver; none of them closes the connection (PROTOCOL.md, "Messages").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is larger than the configured maximum. Retryable: the
    /// connection is kept, the frame dropped.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    Oversized {
        /// Size of the frame in bytes.
        size: usize,
        /// Configured limit in bytes.
        limit: usize,
    },
    /// A binary frame, or a text frame whose bytes are not UTF-8. Retryable.
    #[error("frame is not valid UTF-8 text")]
    InvalidUtf8,
    /// The text is not JSON, or not a JSON object. Retryable.
    #[error("frame is not a JSON object: {0}")]
    InvalidJson(String),
    /// A required field (`v`, `type`, or a payload field) is absent or has the
    /// wrong type. Retryable.
    #[error("field `{field}` is missing or malformed")]
    MissingField {
        /// Dotted path of the field, e.g. `payload.processedCount`.
        field: &'static str,
    },
    /// `v` names a version this crate does not speak. Retryable.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u64),
}

impl ProtocolError {
    /// A short stable name, used as `error.type` in records.
    pub fn class(&self) -> &'static str {
        match self {
            ProtocolError::Oversized { .. } => "oversized_frame",
            ProtocolError::InvalidUtf8 => "invalid_utf8",
            ProtocolError::InvalidJson(_) => "invalid_json",
            ProtocolError::MissingField { .. } => "missing_field",
            ProtocolError::UnsupportedVersion(_) => "unsupported_version",
        }
    }
}
