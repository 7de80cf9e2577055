//! A dialect's text frames: read by the dialect, acted on by the machine's
//! rules.

use sockscope_protocol::JobStatus;

use crate::dialect::{self, Heard};
use crate::event::{
    AdapterKind, Cause, ClosedReason, Direction, ErrorClass, EventKind, FailedReason, FindingClass,
    FrameRecord, FrameText, Mono, Opcode, ProgressSource, State, TimerKind,
};

use super::{Effect, Machine, OutFrame, frame_record};

impl Machine {
    /// A text frame of a dialect: read by the dialect (SignalR may pack
    /// several records in one), acted on by the machine's rules.
    pub(super) fn on_dialect_text(&mut self, text: FrameText, now: Mono, fx: &mut Vec<Effect>) {
        let size = text.len();
        let d = &self.cfg.dialect;
        let readings = match self.cfg.adapter {
            AdapterKind::SocketIo => vec![dialect::socketio_read(d, &text)],
            AdapterKind::Json => vec![dialect::json_read(d, &text)],
            AdapterKind::Phoenix => {
                vec![dialect::phoenix_read(d, self.cfg.job_id.as_deref(), &text)]
            }
            AdapterKind::SignalR => {
                let handshake_done = !matches!(self.state, State::AwaitingReady { .. });
                dialect::signalr_read(d, &text, handshake_done)
            }
            _ => vec![dialect::graphql_read(d, &text)],
        };
        let kinds: Vec<&str> = readings.iter().map(|r| r.kind.as_str()).collect();
        fx.push(Effect::Emit(EventKind::Frame(FrameRecord {
            message_type: Some(kinds.join(",").into()),
            seq: readings.iter().find_map(|r| r.seq),
            text: Some(text),
            ..frame_record(Direction::In, Opcode::Text, size)
        })));
        if self.cfg.adapter == AdapterKind::SignalR
            && let Some(silence) = self.server_silence
        {
            // Any message from a SignalR server proves it alive.
            self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
        }
        for reading in readings {
            if !self.conn.connected || self.conn.we_closed {
                break;
            }
            self.on_reading(reading, now, fx);
        }
    }

    /// One message a dialect read.
    fn on_reading(&mut self, reading: dialect::Reading, now: Mono, fx: &mut Vec<Effect>) {
        if let Some(offset) = reading.offset {
            self.sio_offset = Some(offset);
        }
        if let Some(seq) = reading.seq
            && !self.take_seq(seq, fx)
        {
            return;
        }
        let awaiting = matches!(self.state, State::AwaitingReady { .. });
        match reading.heard {
            Heard::Open { interval, timeout } => {
                let silence = interval + timeout;
                self.server_silence = Some(silence);
                self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
                if awaiting {
                    let resume = match (&self.sio_session, &self.sio_offset) {
                        (Some((sid, Some(pid))), Some(offset)) => {
                            self.sio_resuming = Some(sid.clone());
                            Some((pid.clone(), offset.clone()))
                        }
                        _ => None,
                    };
                    let connect = dialect::socketio_connect(
                        &self.cfg.dialect,
                        self.cfg.has_token,
                        resume.as_ref().map(|(p, o)| (p.as_str(), o.as_str())),
                    );
                    let frame = self.auth_frame(connect);
                    self.write_typed(frame, None, Some("connect"), fx);
                }
            }
            Heard::ServerPing { answer } => {
                if let Some(silence) = self.server_silence {
                    self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
                }
                if !self.conn.we_closed {
                    let kind = if answer.starts_with('3') {
                        "eio_pong"
                    } else {
                        "pong"
                    };
                    self.write_typed(OutFrame::Text(answer), None, Some(kind), fx);
                }
            }
            Heard::ReadyAck { sid, pid } => {
                if !awaiting {
                    if self.cfg.adapter == AdapterKind::GraphqlWs {
                        self.find(
                            fx,
                            FindingClass::ProtocolError,
                            "a second connection_ack".into(),
                        );
                    }
                    return;
                }
                let mut replayed = 0;
                if let Some(asked) = self.sio_resuming.take() {
                    if sid.as_deref() == Some(asked.as_str()) {
                        replayed = 1;
                    } else {
                        self.find(
                            fx,
                            FindingClass::ResyncRequired,
                            "the server could not recover the Socket.IO session: events sent \
                             while away are lost; counts resume from the next event"
                                .into(),
                        );
                        self.sio_offset = None;
                    }
                }
                if let Some(sid) = sid {
                    self.sio_session = Some((sid, pid));
                }
                if self.cfg.adapter == AdapterKind::SignalR {
                    let silence = self.cfg.heartbeat.interval + self.cfg.heartbeat.timeout;
                    self.server_silence = Some(silence);
                    self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
                }
                self.become_ready(Cause::ReadyAck { replayed }, now, fx);
            }
            Heard::Refused { message } => {
                let message = message.chars().take(200).collect::<String>();
                let lower = message.to_ascii_lowercase();
                let auth = ["auth", "token", "forbidden", "denied", "credential"]
                    .iter()
                    .any(|w| lower.contains(w));
                self.find(
                    fx,
                    FindingClass::ProtocolError,
                    format!("the server refused the namespace: {message}"),
                );
                self.abandon_connection(1000, "connect_error", fx);
                let cause = Cause::HandshakeFailed(ErrorClass::Protocol("connect_error".into()));
                if auth {
                    self.fail(FailedReason::Unauthorized, cause, fx);
                } else {
                    self.attempt_failed(cause, now, fx);
                }
            }
            Heard::Progress { processed, total } => self.set_progress(
                processed,
                total,
                Some(JobStatus::Running),
                ProgressSource::Event,
                fx,
            ),
            // The first word on the job stands: graphql-ws follows an error
            // `next` with `complete`.
            Heard::Complete { .. } | Heard::Failed { .. } if self.job_outcome.is_some() => {}
            Heard::Complete { processed, total } => {
                self.job_outcome = Some(ClosedReason::JobFinished);
                self.sync_gave_up = None;
                let last = self.progress.clone();
                let total = total.or(last.as_ref().map(|p| p.total)).unwrap_or(0);
                let processed = processed.unwrap_or(total);
                self.set_progress(
                    processed,
                    total,
                    Some(JobStatus::Complete),
                    ProgressSource::Event,
                    fx,
                );
                self.end_by_us(now, fx);
            }
            Heard::Failed { code } => {
                self.job_failed(code.chars().take(200).collect(), false, fx);
                self.end_by_us(now, fx);
            }
            Heard::Disconnect => {
                // The server ended the session in-band: no reconnect.
                self.abandon_connection(1000, "server disconnect", fx);
                let reason = self
                    .job_outcome
                    .clone()
                    .unwrap_or(ClosedReason::PeerClosed { code: 1000 });
                self.close_terminal(reason, Cause::PeerClose { code: 1000 }, fx);
            }
            Heard::HeartbeatReply { reference } => {
                self.heartbeat_answered(reference.as_bytes(), now, fx);
            }
            Heard::ServerClose { error, reconnect } => {
                if let Some(error) = &error {
                    self.find(
                        fx,
                        FindingClass::ProtocolError,
                        format!("the server closed the connection: {error}"),
                    );
                }
                self.abandon_connection(1000, "server close", fx);
                if reconnect && self.job_outcome.is_none() {
                    let cause = Cause::PeerClose { code: 1000 };
                    self.attempt_failed(cause, now, fx);
                } else {
                    let reason = self
                        .job_outcome
                        .clone()
                        .unwrap_or(ClosedReason::PeerClosed { code: 1000 });
                    self.close_terminal(reason, Cause::PeerClose { code: 1000 }, fx);
                }
            }
            Heard::ChannelError => {
                // The channel crashed on the server: rejoin, on a new
                // connection, as a drop.
                self.find(
                    fx,
                    FindingClass::ProtocolError,
                    "the channel crashed on the server (phx_error); rejoining".into(),
                );
                self.abandon_connection(1000, "rejoin", fx);
                let cause = Cause::TransportError(ErrorClass::Protocol("phx_error".into()));
                self.attempt_failed(cause, now, fx);
            }
            Heard::Other => {}
            Heard::Violation(what) => {
                self.find(
                    fx,
                    FindingClass::ProtocolError,
                    format!("{}: {what}", self.cfg.adapter.as_str()),
                );
            }
        }
    }
}
