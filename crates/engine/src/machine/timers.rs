//! Timers: the deadlines the machine keeps, a connection's and the socket's,
//! and what each does when it is due.

use crate::event::{AdapterKind, Cause, FindingClass, Mono, State, TimerKind};

use super::{Effect, GOING_AWAY, Machine};

impl Machine {
    pub(super) fn timer(&self, kind: TimerKind) -> Option<Mono> {
        if lasts_one_connection(kind) {
            self.conn.timers[kind as usize]
        } else {
            self.timers[kind as usize]
        }
    }

    fn timer_slot(&mut self, kind: TimerKind) -> &mut Option<Mono> {
        if lasts_one_connection(kind) {
            &mut self.conn.timers[kind as usize]
        } else {
            &mut self.timers[kind as usize]
        }
    }

    pub(super) fn arm(&mut self, kind: TimerKind, at: Mono) {
        *self.timer_slot(kind) = Some(at);
    }

    pub(super) fn disarm(&mut self, kind: TimerKind) {
        *self.timer_slot(kind) = None;
    }

    pub(super) fn armed(&self, kind: TimerKind) -> bool {
        self.timer(kind).is_some()
    }

    /// The connection is over: none of its timers may fire.
    pub(super) fn disarm_connection_timers(&mut self) {
        self.conn.timers = [None; TimerKind::ALL.len()];
        self.conn.ping_sent = None;
    }

    /// Every timer but a state-sync retry: a sync in flight or due is let
    /// finish, since after a terminal state its answer is the only word on
    /// how far the job got (a cancel drops it, see [`Machine::drop_sync`]).
    pub(super) fn end_all_timers(&mut self) {
        self.disarm_connection_timers();
        self.disarm(TimerKind::Backoff);
    }

    pub(super) fn on_timer(&mut self, kind: TimerKind, now: Mono, fx: &mut Vec<Effect>) {
        match self.timer(kind) {
            Some(at) if at <= now => self.disarm(kind),
            _ => return,
        }
        match kind {
            TimerKind::Handshake => {
                if matches!(self.state, State::Connecting { .. }) {
                    self.find(
                        fx,
                        FindingClass::HandshakeTimeout,
                        format!("no handshake within {:?}", self.cfg.timeouts.handshake),
                    );
                    fx.push(Effect::AbortConnect);
                    self.attempt_failed(Cause::Timeout(TimerKind::Handshake), now, fx);
                }
            }
            TimerKind::Ready => {
                if !matches!(self.state, State::AwaitingReady { .. }) {
                    return;
                }
                self.find(
                    fx,
                    FindingClass::ReadyTimeout,
                    format!(
                        "no ready_ack within {:?} of ready #{}",
                        self.conn.ready_wait, self.conn.ready_sends
                    ),
                );
                // The attempt may wait `ready_resends + 1` ready timeouts in
                // all; within that, `ready` goes again after a wait that
                // starts short and doubles, so a short deaf window costs
                // little.
                let budget = self.cfg.timeouts.ready * (self.cfg.ready_resends + 1);
                let spent = now.since(self.conn.ready_first_at);
                if spent < budget && self.cfg.adapter == AdapterKind::Job {
                    self.find(
                        fx,
                        FindingClass::ReadyResent,
                        format!("ready sent again (#{})", self.conn.ready_sends + 1),
                    );
                    self.send_ready(fx);
                    self.conn.ready_wait = (self.conn.ready_wait * 2)
                        .min(self.cfg.timeouts.ready)
                        .min(budget - spent);
                    self.arm(TimerKind::Ready, now.plus(self.conn.ready_wait));
                } else {
                    self.abandon_connection(GOING_AWAY, "ready timeout", fx);
                    self.attempt_failed(Cause::Timeout(TimerKind::Ready), now, fx);
                }
            }
            TimerKind::Backoff => {
                if matches!(self.state, State::Backoff { .. }) {
                    self.connect(Cause::BackoffElapsed, now, fx);
                }
            }
            TimerKind::Ping => {
                if !self.conn.connected || self.conn.peer_close.is_some() || self.conn.we_closed {
                    return;
                }
                if self.conn.ping_sent.is_none() {
                    self.send_ping(now, fx);
                }
                self.arm(TimerKind::Ping, now.plus(self.cfg.heartbeat.interval));
            }
            TimerKind::Pong => {
                if !self.conn.connected || self.conn.ping_sent.is_none() {
                    return;
                }
                self.find(
                    fx,
                    FindingClass::HeartbeatLost,
                    format!("no pong within {:?}", self.cfg.heartbeat.timeout),
                );
                // A half-open link will not answer a close frame either.
                fx.push(Effect::DropTransport);
                self.conn.connected = false;
                self.attempt_failed(Cause::HeartbeatLost, now, fx);
            }
            TimerKind::Close => {
                if !self.conn.connected {
                    return;
                }
                fx.push(Effect::DropTransport);
                self.on_transport_end(None, now, fx);
            }
            TimerKind::StateSyncRetry => {
                if let Some(n) = self.sync_try {
                    self.request_sync(n + 1, fx);
                }
            }
            TimerKind::ServerHeartbeat => {
                if !self.conn.connected {
                    return;
                }
                self.find(
                    fx,
                    FindingClass::HeartbeatLost,
                    format!(
                        "the server sent no ping within {:?} (its interval plus timeout)",
                        self.server_silence.unwrap_or_default()
                    ),
                );
                fx.push(Effect::DropTransport);
                self.conn.connected = false;
                self.attempt_failed(Cause::HeartbeatLost, now, fx);
            }
        }
    }
}

/// Whether a timer belongs to one connection or to the socket: a backoff runs
/// between connections, and a state-sync retry outlives the connection that
/// asked for it.
fn lasts_one_connection(kind: TimerKind) -> bool {
    match kind {
        TimerKind::Handshake
        | TimerKind::Ready
        | TimerKind::Ping
        | TimerKind::Pong
        | TimerKind::Close
        | TimerKind::ServerHeartbeat => true,
        TimerKind::Backoff | TimerKind::StateSyncRetry => false,
    }
}
