//! The state of one connection, apart from the socket's.

use std::time::Duration;

use crate::event::{Mono, TimerKind};

/// One connection's state, from the attempt that opens it until the next
/// attempt: `Machine::connect` replaces it whole, so nothing of an old
/// connection survives into a new one.
#[derive(Debug, Default)]
pub(super) struct Connection {
    /// This attempt was started by a network change: if it fails, it does
    /// not use up a retry.
    pub(super) network_attempt: bool,
    /// The handshake is done and the transport not yet gone.
    pub(super) connected: bool,
    /// Close frames on this connection.
    pub(super) peer_close: Option<u16>,
    pub(super) we_closed: bool,
    /// This link is Ready but has not yet proved healthy (a frame after
    /// `ready_ack`, or a pong): until it does, the socket's retry budget and
    /// token refresh are not given back, so a server that acks and then
    /// closes at once cannot set off a tight loop.
    pub(super) unproven: bool,
    pub(super) ready_sends: u32,
    /// When this connection's first `ready` went out, and the wait after
    /// the latest one (it doubles up to the ready timeout).
    pub(super) ready_first_at: Mono,
    pub(super) ready_wait: Duration,
    pub(super) ping_sent: Option<(Mono, Vec<u8>)>,
    /// This connection's timers (see `lasts_one_connection`). Indexed by
    /// `TimerKind`.
    pub(super) timers: [Option<Mono>; TimerKind::ALL.len()],
}
