//! What goes out: every frame the machine writes (`write_typed`, which
//! `write` wraps, is the only producer of [`Effect::Write`]), the
//! application's sends and the outbox, heartbeats.

use crate::Error;
use crate::dialect;
use crate::event::{
    AdapterKind, Direction, DropReason, EventKind, FindingClass, FrameRecord, MessageStage, Mono,
    MsgId, Opcode, State, StateName, TimerKind,
};

use super::{Effect, Machine, OutFrame, frame_record};

impl Machine {
    pub(super) fn on_send(&mut self, text: String, broadcast: bool, fx: &mut Vec<Effect>) {
        let id = self.next_msg;
        self.next_msg += 1;
        let dropped = |reason| {
            Effect::Emit(EventKind::Message {
                id,
                stage: MessageStage::Dropped { reason },
            })
        };
        if text.len() > self.cfg.max_message_size {
            fx.push(dropped(DropReason::TooLarge));
            fx.push(Effect::SendResult(Err(Error::MessageTooLarge {
                size: text.len(),
                limit: self.cfg.max_message_size,
            })));
            return;
        }
        match self.state.name() {
            StateName::Ready
                if self.conn.connected
                    && !self.conn.we_closed
                    && self.conn.peer_close.is_none() =>
            {
                self.write(OutFrame::Text(text), Some(id), fx);
                fx.push(Effect::Emit(EventKind::Message {
                    id,
                    stage: MessageStage::Written,
                }));
                fx.push(Effect::SendResult(Ok(id)));
            }
            StateName::Idle
            | StateName::Connecting
            | StateName::AwaitingReady
            | StateName::Backoff => {
                let capacity = self.cfg.outbox_capacity;
                if self.outbox.len() >= capacity {
                    self.find(
                        fx,
                        FindingClass::OutboxOverflow,
                        format!("message {id} refused: {capacity} already wait for Ready"),
                    );
                    fx.push(dropped(DropReason::OutboxFull));
                    fx.push(Effect::SendResult(Err(Error::OutboxFull { capacity })));
                    return;
                }
                self.outbox.push_back((id, text));
                self.find(
                    fx,
                    FindingClass::SendBeforeReadyQueued,
                    format!(
                        "message {id} sent in {}; queued until Ready",
                        self.state.name().as_str()
                    ),
                );
                fx.push(Effect::Emit(EventKind::Message {
                    id,
                    stage: MessageStage::Queued {
                        depth: self.outbox.len(),
                    },
                }));
                fx.push(Effect::SendResult(Ok(id)));
            }
            _ => {
                let (class, what) = if broadcast && self.state.name() == StateName::Closing {
                    (FindingClass::BroadcastSkippedClosing, "broadcast skipped")
                } else {
                    (FindingClass::SendAfterClosePrevented, "send refused")
                };
                self.find(
                    fx,
                    class,
                    format!(
                        "message {id}: {what} in {}; no frame written",
                        self.state.name().as_str()
                    ),
                );
                fx.push(dropped(DropReason::Closed));
                fx.push(Effect::SendResult(Err(Error::Closed)));
            }
        }
    }

    pub(super) fn write(&mut self, frame: OutFrame, msg: Option<MsgId>, fx: &mut Vec<Effect>) {
        self.write_typed(frame, msg, None, fx);
    }

    /// `known_type` spares parsing a frame the adapter wrote itself.
    pub(super) fn write_typed(
        &mut self,
        frame: OutFrame,
        msg: Option<MsgId>,
        known_type: Option<&str>,
        fx: &mut Vec<Effect>,
    ) {
        debug_assert!(
            self.conn.connected && !self.conn.we_closed && self.conn.peer_close.is_none()
        );
        let record = match &frame {
            OutFrame::Text(text) | OutFrame::Auth(text) => FrameRecord {
                direction: Direction::Out,
                opcode: Opcode::Text,
                size: text.len(),
                message_type: match known_type {
                    Some(t) => Some(t.to_owned().into()),
                    None => self.out_type(text).map(Into::into),
                },
                seq: None,
                msg,
                close_code: None,
                text: Some(text.as_str().into()),
                binary: None,
            },
            OutFrame::Ping(p) => frame_record(Direction::Out, Opcode::Ping, p.len()),
            OutFrame::Close { code, reason } => {
                self.conn.we_closed = true;
                FrameRecord {
                    close_code: Some(*code),
                    ..frame_record(Direction::Out, Opcode::Close, reason.len() + 2)
                }
            }
        };
        fx.push(Effect::Write(frame));
        fx.push(Effect::Emit(EventKind::Frame(record)));
    }

    fn out_type(&self, text: &str) -> Option<String> {
        if self.cfg.adapter != AdapterKind::Job {
            return None;
        }
        sockscope_protocol::parse_client(text, self.cfg.max_message_size)
            .ok()
            .map(|m| m.kind().to_owned())
    }

    /// A dialect's first frame: with the token slot only when there is a
    /// token.
    pub(super) fn auth_frame(&self, text: String) -> OutFrame {
        if self.cfg.has_token {
            OutFrame::Auth(text)
        } else {
            OutFrame::Text(text)
        }
    }

    pub(super) fn send_ping(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        self.ping_no += 1;
        if self.cfg.adapter == AdapterKind::SignalR {
            // One-way: it keeps the server from timing us out; the server's
            // own messages prove it alive (`ServerHeartbeat`). Nothing but
            // the handshake may precede the handshake response.
            if matches!(self.state, State::Ready { .. }) {
                let ping = dialect::signalr_ping();
                self.write_typed(OutFrame::Text(ping), None, Some("ping"), fx);
            }
            return;
        }
        if self.cfg.adapter == AdapterKind::Json
            && let Some(ping) = &self.cfg.dialect.ping
        {
            let ping = ping.replace("{job_id}", self.cfg.job_id.as_deref().unwrap_or_default());
            self.conn.ping_sent = Some((now, dialect::JSON_PING_REF.as_bytes().to_vec()));
            self.write_typed(OutFrame::Text(ping), None, Some("ping"), fx);
            self.arm(TimerKind::Pong, now.plus(self.cfg.heartbeat.timeout));
            return;
        }
        if self.cfg.adapter == AdapterKind::Phoenix {
            // Phoenix times out a client that sends no heartbeat of its own.
            let reference = format!("hb{}", self.ping_no);
            self.conn.ping_sent = Some((now, reference.clone().into_bytes()));
            let beat = dialect::phoenix_heartbeat(&reference);
            self.write_typed(OutFrame::Text(beat), None, Some("heartbeat"), fx);
            self.arm(TimerKind::Pong, now.plus(self.cfg.heartbeat.timeout));
            return;
        }
        let payload = self.ping_no.to_be_bytes().to_vec();
        self.conn.ping_sent = Some((now, payload.clone()));
        self.write(OutFrame::Ping(payload), None, fx);
        self.arm(TimerKind::Pong, now.plus(self.cfg.heartbeat.timeout));
    }

    pub(super) fn drain_outbox(&mut self, reason: DropReason, fx: &mut Vec<Effect>) {
        for (id, _) in self.outbox.drain(..) {
            fx.push(Effect::Emit(EventKind::Message {
                id,
                stage: MessageStage::Dropped { reason },
            }));
        }
    }
}
