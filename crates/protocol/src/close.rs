//! Close codes and what a client does after each (PROTOCOL.md, "Close codes").

/// A WebSocket close code as seen by the client. `1006` is never on the wire:
/// it stands for "the transport ended without a close frame".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// Job finished.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// Server going away (restart, deploy).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// No close frame: an abrupt drop.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// Policy violation (auth).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// Server error.
    pub const SERVER_ERROR: CloseCode = CloseCode(1011);
    /// Token expired.
    pub const TOKEN_EXPIRED: CloseCode = CloseCode(4001);
    /// Job unknown.
    pub const JOB_UNKNOWN: CloseCode = CloseCode(4004);

    /// What the client does after the connection ended with this code.
    /// `after_job_failed` is true when a `job_failed` arrived on the connection.
    pub fn action(self, after_job_failed: bool) -> CloseAction {
        match self.0 {
            1000 => CloseAction::Finished,
            1011 if after_job_failed => CloseAction::Finished,
            1008 => CloseAction::NeedsNewToken,
            4001 => CloseAction::RefreshToken,
            4004 => CloseAction::JobUnknown,
            // 1001, 1006, 1011 and any code the contract does not name: the
            // attempt failed, the job may still be running.
            _ => CloseAction::Reconnect,
        }
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The client's next step after a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Terminal: the job's outcome is known.
    Finished,
    /// Reconnect with backoff.
    Reconnect,
    /// Ask the token source for a fresh token, then reconnect.
    RefreshToken,
    /// Terminal until the user supplies a new token.
    NeedsNewToken,
    /// Terminal: the server does not know the job.
    JobUnknown,
}
