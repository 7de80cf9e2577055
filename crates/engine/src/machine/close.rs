//! Closing: close frames either way, the transport's end, and what the
//! socket does next (reconnect, or a terminal state).

use sockscope_protocol::{CloseAction, CloseCode};

use crate::dialect::{self, CloseRule};
use crate::event::{
    AdapterKind, Cause, ClosedReason, Direction, DropReason, ErrorClass, EventKind, FailedReason,
    FindingClass, FrameRecord, Mono, Opcode, Side, State, TimerKind,
};

use super::{Effect, Machine, OutFrame, frame_record};

impl Machine {
    pub(super) fn on_peer_close(&mut self, code: u16, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected || self.conn.peer_close.is_some() {
            return;
        }
        self.conn.peer_close = Some(code);
        fx.push(Effect::Emit(EventKind::Frame(FrameRecord {
            close_code: Some(code),
            ..frame_record(Direction::In, Opcode::Close, 2)
        })));
        for k in [TimerKind::Ready, TimerKind::Ping, TimerKind::Pong] {
            self.disarm(k);
        }
        self.conn.ping_sent = None;
        if self.conn.we_closed {
            // Our close was answered; the transport end will follow.
            return;
        }
        self.arm(TimerKind::Close, now.plus(self.cfg.timeouts.close));
        self.go(
            State::Closing {
                initiator: Side::Peer,
                code,
            },
            Cause::PeerClose { code },
            fx,
        );
    }

    pub(super) fn on_transport_end(
        &mut self,
        error: Option<ErrorClass>,
        now: Mono,
        fx: &mut Vec<Effect>,
    ) {
        if !self.conn.connected {
            return;
        }
        self.conn.connected = false;
        self.disarm_connection_timers();
        if let State::Closing {
            initiator: Side::Us,
            ..
        } = self.state
        {
            // A dialect closes itself once the job has ended.
            let reason = self.job_outcome.clone().unwrap_or(ClosedReason::UserClosed);
            self.close_terminal(
                reason,
                Cause::TransportEnded {
                    code: self.conn.peer_close.unwrap_or(1000),
                },
                fx,
            );
            return;
        }
        let code = match self.conn.peer_close {
            Some(code) => code,
            None => {
                self.find(
                    fx,
                    FindingClass::AbnormalClose,
                    match &error {
                        Some(e) => {
                            format!("transport lost with no close frame ({})", e.type_name())
                        }
                        None => "transport ended with no close frame".into(),
                    },
                );
                CloseCode::ABNORMAL.0
            }
        };
        let cause = match error {
            Some(e) if self.conn.peer_close.is_none() => Cause::TransportError(e),
            _ => Cause::TransportEnded { code },
        };
        self.after_close(code, cause, now, fx);
    }

    fn after_close(&mut self, code: u16, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        // The job's outcome is known: whatever the code, there is nothing
        // left to reconnect for. That covers the 1011 after a `job_failed`
        // too, so without an outcome the code alone decides.
        if let Some(reason) = self.job_outcome.clone() {
            return self.close_terminal(reason, cause, fx);
        }
        match self.cfg.adapter {
            AdapterKind::Job => {}
            // A close is only a close: a normal one ends the socket without a
            // word on any job; anything else is a drop to reconnect from.
            AdapterKind::Raw => {
                return if matches!(code, 1000 | 1005) {
                    self.close_terminal(ClosedReason::PeerClosed { code }, cause, fx)
                } else {
                    self.attempt_failed(cause, now, fx)
                };
            }
            // Socket.IO and Phoenix end a session in-band (DISCONNECT,
            // phx_close); a transport close is a drop, as their own clients
            // treat it.
            AdapterKind::SocketIo | AdapterKind::Phoenix | AdapterKind::SignalR => {
                return self.attempt_failed(cause, now, fx);
            }
            AdapterKind::Json => {
                return match self.cfg.dialect.close_rule(code) {
                    CloseRule::Finished => {
                        self.close_terminal(ClosedReason::JobFinished, cause, fx)
                    }
                    CloseRule::Failed => self.close_terminal(
                        ClosedReason::JobFailed {
                            code: format!("close_{code}"),
                            retryable: false,
                        },
                        cause,
                        fx,
                    ),
                    CloseRule::Closed => {
                        self.close_terminal(ClosedReason::PeerClosed { code }, cause, fx)
                    }
                    CloseRule::Unauthorized => self.fail(FailedReason::Unauthorized, cause, fx),
                    CloseRule::JobUnknown => self.fail(FailedReason::JobUnknown, cause, fx),
                    CloseRule::Reconnect => self.attempt_failed(cause, now, fx),
                    CloseRule::RefreshToken => self.refresh_after_close(cause, now, fx),
                };
            }
            AdapterKind::GraphqlWs => {
                return match dialect::graphql_close_is_fatal(code) {
                    Some(what) => {
                        self.find(
                            fx,
                            FindingClass::ProtocolError,
                            format!("the server closed with {what}"),
                        );
                        let reason = if matches!(code, 4401 | 4403) {
                            FailedReason::Unauthorized
                        } else {
                            FailedReason::JobUnknown
                        };
                        self.fail(reason, cause, fx)
                    }
                    None => self.attempt_failed(cause, now, fx),
                };
            }
        }
        match CloseCode(code).action(false) {
            CloseAction::Finished => self.close_terminal(ClosedReason::JobFinished, cause, fx),
            CloseAction::Reconnect => self.attempt_failed(cause, now, fx),
            CloseAction::RefreshToken => self.refresh_after_close(cause, now, fx),
            CloseAction::NeedsNewToken => self.fail(FailedReason::Unauthorized, cause, fx),
            CloseAction::JobUnknown => self.fail(FailedReason::JobUnknown, cause, fx),
        }
    }

    /// Ends a live connection from our side without a close handshake.
    pub(super) fn abandon_connection(&mut self, code: u16, reason: &str, fx: &mut Vec<Effect>) {
        if self.conn.connected && !self.conn.we_closed && self.conn.peer_close.is_none() {
            self.write(
                OutFrame::Close {
                    code,
                    reason: reason.into(),
                },
                None,
                fx,
            );
        }
        if self.conn.connected {
            fx.push(Effect::DropTransport);
        }
        self.conn.connected = false;
    }

    /// The job ended over a dialect: close from our side, as its own client
    /// does, and end with the job's outcome once the transport has ended.
    pub(super) fn end_by_us(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected || self.conn.we_closed || self.conn.peer_close.is_some() {
            return;
        }
        self.begin_close("job ended", Cause::JobEnded, now, fx);
    }

    /// Our close frame (1000) goes out; Closing until the peer's answer or
    /// the close timeout.
    pub(super) fn begin_close(
        &mut self,
        reason: &str,
        cause: Cause,
        now: Mono,
        fx: &mut Vec<Effect>,
    ) {
        self.write(
            OutFrame::Close {
                code: 1000,
                reason: reason.into(),
            },
            None,
            fx,
        );
        for k in [
            TimerKind::Ready,
            TimerKind::Ping,
            TimerKind::Pong,
            TimerKind::ServerHeartbeat,
        ] {
            self.disarm(k);
        }
        self.arm(TimerKind::Close, now.plus(self.cfg.timeouts.close));
        self.drain_outbox(DropReason::Closed, fx);
        self.go(
            State::Closing {
                initiator: Side::Us,
                code: 1000,
            },
            cause,
            fx,
        );
    }

    pub(super) fn fail(&mut self, reason: FailedReason, cause: Cause, fx: &mut Vec<Effect>) {
        self.end_all_timers();
        self.drain_outbox(DropReason::Failed, fx);
        self.go(State::Failed { reason }, cause, fx);
    }

    pub(super) fn close_terminal(
        &mut self,
        reason: ClosedReason,
        cause: Cause,
        fx: &mut Vec<Effect>,
    ) {
        self.end_all_timers();
        self.drain_outbox(DropReason::Closed, fx);
        self.go(State::Closed { reason }, cause, fx);
    }
}
