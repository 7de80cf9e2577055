//! Frames that come in, and the job protocol's text messages (seqs,
//! `ready_ack`, job events).

use std::borrow::Cow;

use sockscope_protocol::{JobStatus, ProtocolError, ServerMessage, parse_server_message};

use crate::event::{
    AdapterKind, Cause, ClosedReason, Direction, ErrorClass, EventKind, FindingClass, FrameRecord,
    FrameText, Mono, Opcode, ProgressSource, State, TimerKind,
};

use super::{Effect, InFrame, Machine, frame_record};

impl Machine {
    pub(super) fn on_frame(&mut self, frame: InFrame, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected {
            return;
        }
        if self.conn.unproven
            && self.conn.peer_close.is_none()
            && matches!(self.state, State::Ready { .. })
            && matches!(frame, InFrame::Text(_) | InFrame::Pong(_))
        {
            // The link carries traffic after Ready: it is healthy, so the
            // retry budget and the token refresh are given back.
            self.conn.unproven = false;
            self.failures = 0;
            self.refreshed_since_ready = false;
        }
        let (opcode, size) = match &frame {
            InFrame::Text(t) => (Opcode::Text, t.len()),
            InFrame::InvalidUtf8(n) => (Opcode::Text, *n),
            InFrame::Binary(n) | InFrame::Oversized(n) => (Opcode::Binary, *n),
            InFrame::Ping(n) => (Opcode::Ping, *n),
            InFrame::Pong(p) => (Opcode::Pong, p.len()),
        };
        // A text frame is recorded with what parsing found; any other frame,
        // and any frame after the peer's close, by its opcode and size.
        let frame = match frame {
            InFrame::Text(text) if self.conn.peer_close.is_none() => {
                return self.on_text(text, now, fx);
            }
            other => other,
        };
        fx.push(Effect::Emit(EventKind::Frame(frame_record(
            Direction::In,
            opcode,
            size,
        ))));
        if self.conn.peer_close.is_some() {
            self.find(
                fx,
                FindingClass::PeerFrameAfterClose,
                format!(
                    "a {} frame of {size} bytes came after the peer's close frame",
                    opcode.as_str()
                ),
            );
            return;
        }
        match frame {
            InFrame::Pong(payload) => self.heartbeat_answered(&payload, now, fx),
            InFrame::Binary(_) => {
                if self.cfg.adapter == AdapterKind::Job {
                    self.protocol_error(&ProtocolError::InvalidUtf8, fx);
                }
            }
            InFrame::InvalidUtf8(_) => {
                self.protocol_error(&ProtocolError::InvalidUtf8, fx);
                // RFC 6455 fails the connection here (and the WebSocket layer
                // stops reading); the resume on reconnect loses nothing.
                self.abandon_connection(1007, "invalid UTF-8", fx);
                let cause = Cause::TransportError(ErrorClass::Protocol("invalid_utf8".into()));
                self.attempt_failed(cause, now, fx);
            }
            InFrame::Oversized(n) => {
                let limit = self.cfg.max_message_size;
                self.protocol_error(&ProtocolError::Oversized { size: n, limit }, fx);
            }
            InFrame::Text(_) | InFrame::Ping(_) => {}
        }
    }

    fn on_text(&mut self, text: FrameText, now: Mono, fx: &mut Vec<Effect>) {
        let size = text.len();
        if matches!(
            self.cfg.adapter,
            AdapterKind::SocketIo
                | AdapterKind::GraphqlWs
                | AdapterKind::Phoenix
                | AdapterKind::SignalR
                | AdapterKind::Json
        ) && size <= self.cfg.max_message_size
        {
            return self.on_dialect_text(text, now, fx);
        }
        if self.cfg.adapter != AdapterKind::Job {
            if size > self.cfg.max_message_size {
                fx.push(Effect::Emit(EventKind::Frame(frame_record(
                    Direction::In,
                    Opcode::Text,
                    size,
                ))));
                let limit = self.cfg.max_message_size;
                self.protocol_error(&ProtocolError::Oversized { size, limit }, fx);
                return;
            }
            fx.push(Effect::Emit(EventKind::Frame(FrameRecord {
                text: Some(text),
                ..frame_record(Direction::In, Opcode::Text, size)
            })));
            return;
        }
        let parsed = parse_server_message(&text, self.cfg.max_message_size);
        let mut record = frame_record(Direction::In, Opcode::Text, size);
        if let Ok((seq, message)) = &parsed {
            record.message_type = Some(
                message
                    .known_kind()
                    .map_or_else(|| Cow::Owned(message.kind().to_owned()), Cow::Borrowed),
            );
            record.seq = *seq;
        }
        if !matches!(parsed, Err(ProtocolError::Oversized { .. })) {
            record.text = Some(text);
        }
        fx.push(Effect::Emit(EventKind::Frame(record)));
        let (seq, message) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return self.protocol_error(&e, fx),
        };
        if let Some(seq) = seq
            && !self.take_seq(seq, fx)
        {
            return;
        }
        match message {
            ServerMessage::ReadyAck { last_seq, replayed } => {
                if !matches!(self.state, State::AwaitingReady { .. }) {
                    return;
                }
                let seen = self.last_seq.unwrap_or(0);
                if last_seq > seen {
                    self.find(
                        fx,
                        FindingClass::SeqGap,
                        format!(
                            "server is at seq {last_seq} but replay ended at {seen}; syncing state"
                        ),
                    );
                    self.start_sync(fx);
                    // The sync covers the missing events; live ones follow on.
                    self.last_seq = Some(last_seq);
                }
                self.become_ready(Cause::ReadyAck { replayed }, now, fx);
            }
            ServerMessage::ResyncRequired { reason } => {
                self.find(
                    fx,
                    FindingClass::ResyncRequired,
                    format!("server cannot replay ({reason}); fetching job state"),
                );
                self.start_sync(fx);
            }
            ServerMessage::JobStarted { total_count } => self.set_progress(
                0,
                total_count,
                Some(JobStatus::Running),
                ProgressSource::Event,
                fx,
            ),
            ServerMessage::JobProgress {
                processed_count,
                total_count,
                ..
            } => self.set_progress(
                processed_count,
                total_count,
                Some(JobStatus::Running),
                ProgressSource::Event,
                fx,
            ),
            ServerMessage::JobComplete {
                processed_count,
                total_count,
                ..
            } => {
                self.job_outcome = Some(ClosedReason::JobFinished);
                self.sync_gave_up = None;
                self.set_progress(
                    processed_count,
                    total_count,
                    Some(JobStatus::Complete),
                    ProgressSource::Event,
                    fx,
                );
            }
            ServerMessage::JobFailed {
                code, retryable, ..
            } => self.job_failed(code, retryable, fx),
            ServerMessage::KeepAlive
            | ServerMessage::Pong { .. }
            | ServerMessage::Unknown { .. } => {}
        }
    }

    /// A message's seq: false for a duplicate, to be dropped. A gap is a
    /// finding, and with the job adapter a state sync covers it.
    pub(super) fn take_seq(&mut self, seq: u64, fx: &mut Vec<Effect>) -> bool {
        let last = self.last_seq.unwrap_or(0);
        if self.last_seq.is_some() && seq <= last {
            self.find(
                fx,
                FindingClass::DuplicateSeq,
                format!("seq {seq} at or below last seen {last}; dropped"),
            );
            return false;
        }
        if seq > last + 1 {
            let then = if self.cfg.adapter == AdapterKind::Job {
                "syncing state"
            } else {
                "events were missing"
            };
            self.find(
                fx,
                FindingClass::SeqGap,
                format!("expected seq {}, got {seq}; {then}", last + 1),
            );
            self.start_sync(fx);
        }
        self.last_seq = Some(seq);
        true
    }

    /// The answer to our heartbeat (a pong, or Phoenix's reply) with this
    /// payload: the link is alive.
    pub(super) fn heartbeat_answered(&mut self, payload: &[u8], now: Mono, fx: &mut Vec<Effect>) {
        if let Some((sent, expected)) = &self.conn.ping_sent
            && expected.as_slice() == payload
        {
            let rtt = now.since(*sent);
            self.conn.ping_sent = None;
            self.disarm(TimerKind::Pong);
            fx.push(Effect::Emit(EventKind::HeartbeatAnswered { rtt }));
        }
    }

    fn protocol_error(&self, e: &ProtocolError, fx: &mut Vec<Effect>) {
        self.find(
            fx,
            FindingClass::ProtocolError,
            format!("{}: {e}", e.class()),
        );
    }
}
