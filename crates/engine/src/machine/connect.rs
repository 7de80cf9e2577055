//! Connecting: an attempt, its handshake, the readiness request and ack,
//! and what a failed attempt costs (backoff, the retry budget, a fresh token).

use std::time::Duration;

use sockscope_protocol::{ClientMessage, encode_client};

use crate::dialect;
use crate::event::{
    AdapterKind, Cause, ErrorClass, EventKind, FailedReason, FindingClass, MessageStage, Mono,
    State, TimerKind,
};

use super::connection::Connection;
use super::{Effect, Machine, OutFrame};

impl Machine {
    pub(super) fn on_start(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        if self.state == State::Idle {
            self.connect(Cause::Start, now, fx);
        }
    }

    pub(super) fn connect(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.attempts += 1;
        self.conn = Connection {
            network_attempt: cause == Cause::NetworkChanged,
            ..Connection::default()
        };
        if self.conn.network_attempt {
            self.last_network_attempt_at = Some(now);
        }
        let refresh_token = std::mem::take(&mut self.refresh_next);
        if refresh_token {
            self.refreshed_since_ready = true;
        }
        self.go(
            State::Connecting {
                attempt: self.attempts,
            },
            cause,
            fx,
        );
        self.arm(TimerKind::Handshake, now.plus(self.cfg.timeouts.handshake));
        let resume_from = self
            .cfg
            .dialect
            .resume_query
            .as_ref()
            .filter(|_| self.cfg.adapter == AdapterKind::Json)
            .and(self.last_seq);
        fx.push(Effect::Connect {
            attempt: self.attempts,
            refresh_token,
            resume_from,
        });
    }

    pub(super) fn on_handshake_done(
        &mut self,
        token_refreshed: bool,
        now: Mono,
        fx: &mut Vec<Effect>,
    ) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        self.disarm(TimerKind::Handshake);
        self.conn.connected = true;
        if token_refreshed {
            self.find(
                fx,
                FindingClass::TokenRefreshed,
                "a fresh token was fetched for this attempt".into(),
            );
        }
        self.arm(TimerKind::Ping, now.plus(self.cfg.heartbeat.interval));
        let json_ready = (self.cfg.adapter == AdapterKind::Json)
            .then(|| {
                dialect::json_ready(&self.cfg.dialect, self.cfg.job_id.as_deref(), self.last_seq)
            })
            .flatten();
        match self.cfg.adapter {
            AdapterKind::Raw => self.become_ready(Cause::HandshakeDone, now, fx),
            AdapterKind::Json if json_ready.is_none() => {
                self.become_ready(Cause::HandshakeDone, now, fx);
            }
            AdapterKind::SocketIo
            | AdapterKind::GraphqlWs
            | AdapterKind::Phoenix
            | AdapterKind::SignalR
            | AdapterKind::Json => {
                self.go(
                    State::AwaitingReady {
                        attempt: self.attempts,
                    },
                    Cause::HandshakeDone,
                    fx,
                );
                // Socket.IO waits for the Engine.IO open packet first. Neither
                // protocol allows its readiness request twice (graphql-ws
                // closes with 4429), so the whole wait is one timer.
                if self.cfg.adapter == AdapterKind::GraphqlWs {
                    let init = dialect::graphql_init(self.cfg.has_token);
                    let frame = self.auth_frame(init);
                    self.write_typed(frame, None, Some("connection_init"), fx);
                }
                if let Some(ready) = json_ready {
                    self.write_typed(OutFrame::Text(ready), None, Some("ready"), fx);
                }
                if self.cfg.adapter == AdapterKind::SignalR {
                    let hello = dialect::signalr_handshake();
                    self.write_typed(OutFrame::Text(hello), None, Some("handshake"), fx);
                }
                if self.cfg.adapter == AdapterKind::Phoenix {
                    let join = dialect::phoenix_join(
                        &self.cfg.dialect,
                        self.cfg.job_id.as_deref(),
                        self.cfg.has_token,
                    );
                    let frame = self.auth_frame(join);
                    self.write_typed(frame, None, Some("phx_join"), fx);
                }
                let budget = self.cfg.timeouts.ready * (self.cfg.ready_resends + 1);
                self.conn.ready_wait = budget;
                self.arm(TimerKind::Ready, now.plus(budget));
            }
            AdapterKind::Job => {
                self.go(
                    State::AwaitingReady {
                        attempt: self.attempts,
                    },
                    Cause::HandshakeDone,
                    fx,
                );
                self.conn.ready_first_at = now;
                self.conn.ready_wait = self.cfg.timeouts.ready_first.min(self.cfg.timeouts.ready);
                self.send_ready(fx);
                self.arm(TimerKind::Ready, now.plus(self.conn.ready_wait));
            }
        }
    }

    pub(super) fn on_handshake_failed(
        &mut self,
        class: ErrorClass,
        now: Mono,
        fx: &mut Vec<Effect>,
    ) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        self.disarm(TimerKind::Handshake);
        let cause = Cause::HandshakeFailed(class.clone());
        match class {
            ErrorClass::HttpStatus(404) => self.fail(FailedReason::JobUnknown, cause, fx),
            ErrorClass::HttpStatus(401) => {
                if self.cfg.can_refresh_token && !self.refreshed_since_ready {
                    self.refresh_next = true;
                    self.failures += 1;
                    self.connect(cause, now, fx);
                } else {
                    self.fail(FailedReason::Unauthorized, cause, fx);
                }
            }
            ErrorClass::Token => self.fail(FailedReason::TokenUnavailable, cause, fx),
            _ => self.attempt_failed(cause, now, fx),
        }
    }

    pub(super) fn become_ready(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        // The budget comes back only once the link proves healthy (see
        // `unproven`), not at the ack itself.
        self.conn.unproven = true;
        self.conn.network_attempt = false;
        self.disarm(TimerKind::Ready);
        self.go(
            State::Ready {
                attempt: self.attempts,
            },
            cause,
            fx,
        );
        if self.cfg.adapter == AdapterKind::GraphqlWs {
            // The subscription goes out only now: before the ack it is the
            // seed-000 race, and the server answers it with 4401.
            let sub = dialect::graphql_subscribe(&self.cfg.dialect, self.cfg.job_id.as_deref());
            self.write_typed(OutFrame::Text(sub), None, Some("subscribe"), fx);
        }
        // The adapter's own `ready` went out at the handshake; queued
        // application messages follow it, in order (socket.io issue 305).
        while let Some((id, text)) = self.outbox.pop_front() {
            self.write(OutFrame::Text(text), Some(id), fx);
            fx.push(Effect::Emit(EventKind::Message {
                id,
                stage: MessageStage::Written,
            }));
        }
        if !self.armed(TimerKind::Ping) {
            self.arm(TimerKind::Ping, now.plus(self.cfg.heartbeat.interval));
        }
    }

    pub(super) fn send_ready(&mut self, fx: &mut Vec<Effect>) {
        self.conn.ready_sends += 1;
        let ready = ClientMessage::Ready {
            resume_from: self.last_seq,
        };
        let text = encode_client(&ready);
        self.write_typed(OutFrame::Text(text), None, Some(ready.kind()), fx);
    }

    /// The attempt failed: back off, or give up when the budget is spent.
    pub(super) fn attempt_failed(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.conn.connected = false;
        self.disarm_connection_timers();
        // An attempt a network change brought forward does not use up a
        // retry: the backoff it cut short is planned again at the same step.
        if !std::mem::take(&mut self.conn.network_attempt) || self.failures == 0 {
            self.failures += 1;
        }
        let policy = &self.cfg.reconnect;
        if self.failures > policy.max_attempts {
            self.find(
                fx,
                FindingClass::ReconnectExhausted,
                format!("{} retries failed; giving up", policy.max_attempts),
            );
            let attempts = policy.max_attempts;
            self.fail(FailedReason::ReconnectExhausted { attempts }, cause, fx);
            return;
        }
        let ceiling = policy.ceiling(self.failures);
        let delay = if policy.jitter {
            let max = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(self.rng.u64(0..=max))
        } else {
            ceiling
        };
        fx.push(Effect::Emit(EventKind::BackoffPlanned {
            attempt: self.failures,
            delay,
            ceiling,
        }));
        let until = now.plus(delay);
        self.arm(TimerKind::Backoff, until);
        self.go(
            State::Backoff {
                attempt: self.failures,
                until,
            },
            cause,
            fx,
        );
    }

    /// The token expired (4001): reconnect at once with a fresh one; when a
    /// fresh token did not cure it (the server acks, then closes again),
    /// back off like any failure, still fetching a fresh token each time.
    pub(super) fn refresh_after_close(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.refresh_next = true;
        if self.refreshed_since_ready {
            self.attempt_failed(cause, now, fx);
        } else {
            self.failures += 1;
            if self.failures > self.cfg.reconnect.max_attempts {
                self.attempt_failed(cause, now, fx);
            } else {
                self.connect(cause, now, fx);
            }
        }
    }
}
