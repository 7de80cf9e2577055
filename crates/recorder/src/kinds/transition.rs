//! `transition`: a state change, in `transitions`; and the connection
//! attempts it opens and closes, in `connection_attempts`.

use rusqlite::{Row, Statement, Transaction, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::StateName;
use sockscope_engine::event::{Cause, ClosedReason, ErrorClass, FailedReason, Side, State};

use super::{Insert, Kind, get_opt_u64, opt_i64};
use crate::redact;

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// Connection attempt (Connecting, AwaitingReady, Ready) or retry
    /// number (Backoff) of the new state.
    pub attempt: Option<u32>,
    /// Backoff end, monotonic ns.
    pub backoff_until_ns: Option<u64>,
    /// Close code: of the Closing state, or of the cause.
    pub close_code: Option<u16>,
    /// Who closed first, for Closing: `us` or `peer`.
    pub close_initiator: Option<String>,
    /// Why a terminal state was reached, e.g. `job_failed`, `unauthorized`.
    pub reason: Option<String>,
    /// Reason data as JSON, e.g. `{"code":"E1","retryable":false}`.
    pub reason_detail: Option<String>,
    /// Cause name, e.g. `peer_close`, `timeout`, `user`.
    pub cause: String,
    /// Cause data: timer, user action, replayed count or error text.
    pub cause_detail: Option<String>,
    /// OTel `error.type` for error causes, e.g. `http_503`, `io_refused`.
    pub error_type: Option<String>,
}

const TRANSITIONS_V1: &str = r#"
CREATE TABLE transitions (
    event_id         INTEGER PRIMARY KEY REFERENCES events(id),
    from_state       TEXT NOT NULL,
    to_state         TEXT NOT NULL,
    attempt          INTEGER,
    backoff_until_ns INTEGER,
    close_code       INTEGER,
    close_initiator  TEXT,
    reason           TEXT,
    reason_detail    TEXT,
    cause            TEXT NOT NULL,
    cause_detail     TEXT,
    error_type       TEXT
);
"#;

const ATTEMPTS_V1: &str = r#"
CREATE TABLE connection_attempts (
    id                 INTEGER PRIMARY KEY,
    session_id         INTEGER NOT NULL REFERENCES sessions(id),
    socket_id          INTEGER NOT NULL,
    attempt            INTEGER NOT NULL,
    started_event_id   INTEGER NOT NULL,
    handshake_event_id INTEGER,
    ready_event_id     INTEGER,
    ended_event_id     INTEGER,
    end_cause          TEXT
);
CREATE INDEX attempts_by_socket ON connection_attempts(session_id, socket_id);
"#;

impl Kind for TransitionRecord {
    fn line(&self) -> String {
        format!("{} -> {}  ({})", self.from, self.to, self.cause)
    }

    const KIND: &'static str = "transition";
    const SCHEMA: &'static [(i64, &'static str)] = &[(1, TRANSITIONS_V1), (1, ATTEMPTS_V1)];
    const INSERT: &'static str = "INSERT INTO transitions (event_id, from_state, to_state, attempt, backoff_until_ns, close_code, close_initiator, reason, reason_detail, cause, cause_detail, error_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    const SELECT: &'static str = "SELECT event_id, from_state, to_state, attempt, backoff_until_ns, close_code, close_initiator, reason, reason_detail, cause, cause_detail, error_type
         FROM transitions WHERE event_id IN rarray(?1)";

    fn insert(&self, stmt: &mut Statement<'_>, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        stmt.execute(params![
            at.event_id,
            self.from,
            self.to,
            self.attempt,
            opt_i64(self.backoff_until_ns),
            self.close_code,
            self.close_initiator,
            self.reason,
            self.reason_detail,
            self.cause,
            self.cause_detail,
            self.error_type
        ])?;
        at.track.transition = Some(at.event_id);
        self.track_attempt(at)
    }

    fn read(r: &Row<'_>) -> rusqlite::Result<TransitionRecord> {
        Ok(TransitionRecord {
            from: r.get(1)?,
            to: r.get(2)?,
            attempt: r.get(3)?,
            backoff_until_ns: get_opt_u64(r, 4)?,
            close_code: r.get(5)?,
            close_initiator: r.get(6)?,
            reason: r.get(7)?,
            reason_detail: r.get(8)?,
            cause: r.get(9)?,
            cause_detail: r.get(10)?,
            error_type: r.get(11)?,
        })
    }
}

impl TransitionRecord {
    /// Keeps `connection_attempts`: a row opens on Connecting, gets its
    /// handshake and ready marks, and closes when the socket leaves the
    /// connect-to-Ready path.
    fn track_attempt(&self, at: &mut Insert<'_, '_>) -> rusqlite::Result<()> {
        let (tx, id) = (at.tx, at.event_id);
        let mark = |column_sql: &str, row: i64| -> rusqlite::Result<()> {
            tx.prepare_cached(column_sql)?.execute(params![id, row])?;
            Ok(())
        };
        match self.to.as_str() {
            "Connecting" => {
                if let Some(row) = at.track.attempt_row.take() {
                    close_attempt(tx, row, id, &self.cause)?;
                }
                tx.prepare_cached(
                    "INSERT INTO connection_attempts (session_id, socket_id, attempt, started_event_id) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![at.session, at.socket_id as i64, self.attempt.unwrap_or(0), id])?;
                at.track.attempt_row = Some(tx.last_insert_rowid());
            }
            "AwaitingReady" => {
                if let Some(row) = at.track.attempt_row {
                    mark(
                        "UPDATE connection_attempts SET handshake_event_id = ?1 WHERE id = ?2",
                        row,
                    )?;
                }
            }
            "Ready" => {
                if let Some(row) = at.track.attempt_row {
                    mark(
                        "UPDATE connection_attempts SET ready_event_id = ?1 WHERE id = ?2",
                        row,
                    )?;
                }
            }
            _ => {
                if let Some(row) = at.track.attempt_row.take() {
                    close_attempt(tx, row, id, &self.cause)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn new(from: StateName, to: &State, cause: &Cause) -> TransitionRecord {
        let mut t = TransitionRecord {
            from: from.as_str().to_owned(),
            to: to.name().as_str().to_owned(),
            attempt: None,
            backoff_until_ns: None,
            close_code: None,
            close_initiator: None,
            reason: None,
            reason_detail: None,
            cause: String::new(),
            cause_detail: None,
            error_type: None,
        };
        t.set_state(to);
        t.set_cause(cause);
        t
    }

    fn set_state(&mut self, to: &State) {
        let t = self;
        match to {
            State::Idle | State::Cancelled => {}
            State::Connecting { attempt }
            | State::AwaitingReady { attempt }
            | State::Ready { attempt } => t.attempt = Some(*attempt),
            State::Backoff { attempt, until } => {
                t.attempt = Some(*attempt);
                t.backoff_until_ns = Some(until.0);
            }
            State::Closing { initiator, code } => {
                t.close_code = Some(*code);
                t.close_initiator = Some(side(*initiator).into());
            }
            State::Closed { reason } => match reason {
                ClosedReason::JobFinished => t.reason = Some("job_finished".into()),
                ClosedReason::UserClosed => t.reason = Some("user_closed".into()),
                ClosedReason::CaptureEnded => t.reason = Some("capture_ended".into()),
                ClosedReason::ConnectionLost { by } => {
                    t.reason = Some("connection_lost".into());
                    t.reason_detail = Some(serde_json::json!({ "by": side(*by) }).to_string());
                }
                ClosedReason::PeerClosed { code } => {
                    t.reason = Some("peer_closed".into());
                    t.reason_detail = Some(serde_json::json!({ "code": code }).to_string());
                }
                ClosedReason::JobFailed { code, retryable } => {
                    t.reason = Some("job_failed".into());
                    t.reason_detail = Some(
                        serde_json::json!({"code": redact::free_text(code), "retryable": retryable})
                            .to_string(),
                    );
                }
            },
            State::Failed { reason } => match reason {
                FailedReason::ReconnectExhausted { attempts } => {
                    t.reason = Some("reconnect_exhausted".into());
                    t.reason_detail = Some(serde_json::json!({ "attempts": attempts }).to_string());
                }
                FailedReason::Unauthorized => t.reason = Some("unauthorized".into()),
                FailedReason::JobUnknown => t.reason = Some("job_unknown".into()),
                FailedReason::TokenUnavailable => t.reason = Some("token_unavailable".into()),
            },
        }
    }

    fn set_cause(&mut self, cause: &Cause) {
        let t = self;
        let error_text = |e: &ErrorClass| match e {
            ErrorClass::HttpStatus(s) => Some(s.to_string()),
            ErrorClass::Io(m) | ErrorClass::Tls(m) | ErrorClass::Protocol(m) => {
                Some(redact::free_text(m))
            }
            ErrorClass::Token => None,
        };
        let (name, detail): (&str, Option<String>) = match cause {
            Cause::Start => ("start", None),
            Cause::HandshakeDone => ("handshake_done", None),
            Cause::ReadyAck { replayed } => ("ready_ack", Some(replayed.to_string())),
            Cause::HandshakeFailed(e) => {
                t.error_type = Some(redact::free_text(&e.type_name()));
                ("handshake_failed", error_text(e))
            }
            Cause::Timeout(k) => ("timeout", Some(k.as_str().to_owned())),
            Cause::PeerClose { code } => {
                t.close_code.get_or_insert(*code);
                ("peer_close", Some(code.to_string()))
            }
            Cause::TransportEnded { code } => {
                t.close_code.get_or_insert(*code);
                ("transport_ended", Some(code.to_string()))
            }
            Cause::TransportError(e) => {
                t.error_type = Some(redact::free_text(&e.type_name()));
                ("transport_error", error_text(e))
            }
            Cause::HeartbeatLost => ("heartbeat_lost", None),
            Cause::BackoffElapsed => ("backoff_elapsed", None),
            Cause::NetworkChanged => ("network_changed", None),
            Cause::User(a) => ("user", Some(a.as_str().to_owned())),
            Cause::StateSyncNotFound => ("state_sync_not_found", None),
            Cause::JobEnded => ("job_ended", None),
            Cause::TokenUnavailable => ("token_unavailable", None),
            Cause::RetriesExhausted => ("retries_exhausted", None),
            Cause::NotCaptured => ("not_captured", None),
        };
        if matches!(
            cause,
            Cause::HeartbeatLost
                | Cause::StateSyncNotFound
                | Cause::TokenUnavailable
                | Cause::RetriesExhausted
        ) {
            t.error_type = Some(name.to_owned());
        }
        if let Cause::Timeout(k) = cause {
            t.error_type = Some(format!("{}_timeout", k.as_str()));
        }
        t.cause = name.to_owned();
        t.cause_detail = detail;
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Us => "us",
        Side::Peer => "peer",
    }
}

fn close_attempt(tx: &Transaction<'_>, row: i64, id: i64, cause: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE connection_attempts SET ended_event_id = ?1, end_cause = ?2 WHERE id = ?3",
    )?
    .execute(params![id, cause, row])?;
    Ok(())
}
