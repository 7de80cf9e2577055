//! What the user and the environment ask: cancel, close, retry, and a
//! network change.

use crate::event::{
    Cause, ClosedReason, DropReason, Mono, State, StateName, TimerKind, UserAction,
};

use super::{Effect, Machine};

impl Machine {
    pub(super) fn on_user(&mut self, action: UserAction, now: Mono, fx: &mut Vec<Effect>) {
        let cause = Cause::User(action);
        match action {
            UserAction::Cancel => {
                if self.state.is_terminal() {
                    return;
                }
                if matches!(self.state, State::Connecting { .. }) {
                    fx.push(Effect::AbortConnect);
                }
                self.abandon_connection(1000, "cancelled", fx);
                self.end_all_timers();
                self.drop_sync();
                self.drain_outbox(DropReason::Cancelled, fx);
                self.go(State::Cancelled, cause, fx);
            }
            UserAction::Close => match self.state.name() {
                StateName::AwaitingReady | StateName::Ready => {
                    self.begin_close("closed by user", cause, now, fx);
                }
                StateName::Idle | StateName::Connecting | StateName::Backoff => {
                    if matches!(self.state, State::Connecting { .. }) {
                        fx.push(Effect::AbortConnect);
                    }
                    self.conn.connected = false;
                    self.close_terminal(ClosedReason::UserClosed, cause, fx);
                }
                _ => {}
            },
            UserAction::Retry => match self.state.name() {
                StateName::Backoff => {
                    self.disarm(TimerKind::Backoff);
                    self.connect(cause, now, fx);
                }
                StateName::Failed | StateName::Closed => {
                    self.failures = 0;
                    self.refreshed_since_ready = false;
                    self.job_outcome = None;
                    self.connect(cause, now, fx);
                }
                _ => {}
            },
        }
    }

    pub(super) fn on_network_changed(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        match self.state.name() {
            StateName::Backoff => {
                // A flapping network brings an attempt forward at most once
                // per base delay; the backoff runs on otherwise.
                if self
                    .last_network_attempt_at
                    .is_some_and(|at| now.since(at) < self.cfg.reconnect.base)
                {
                    return;
                }
                self.disarm(TimerKind::Backoff);
                self.connect(Cause::NetworkChanged, now, fx);
            }
            // A ping still waiting is stale (sent on the old path, or before
            // a suspend that its deadline knows nothing of): probe afresh.
            StateName::Ready | StateName::AwaitingReady if self.conn.connected => {
                self.send_ping(now, fx);
            }
            _ => {}
        }
    }
}
