//! The end of `watch` and `demo`: each job's outcome, its final count and
//! where that count came from, and its findings. The exit code follows from
//! it: only a job that finished, with a count it knows, is a success.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use std::path::Path;
use std::process::ExitCode;

use sockscope_core::{Session, SessionEnd, SocketView};
use sockscope_engine::event::{ClosedReason, EventKind, Finding};
use sockscope_engine::{Event, FinalCount, SocketId, State};

use sockscope_recorder::redact;

use crate::printer::Followed;
use sockscope_core::signal::{Signals, Stop};

/// Findings kept per socket for the job's line and the summary: a count per
/// class (bounded by the number of classes) and the latest one.
#[derive(Debug, Default)]
pub struct FindingTally {
    per_socket: HashMap<SocketId, SocketFindings>,
}

#[derive(Debug, Default)]
struct SocketFindings {
    total: u64,
    by_class: BTreeMap<&'static str, u64>,
    latest: Option<&'static str>,
}

impl FindingTally {
    /// Counts `event` if it is a finding; true when it was.
    pub fn record(&mut self, event: &Event) -> bool {
        let EventKind::Finding(Finding { class, .. }) = &event.kind else {
            return false;
        };
        let f = self.per_socket.entry(event.socket).or_default();
        f.total += 1;
        *f.by_class.entry(class.as_str()).or_default() += 1;
        f.latest = Some(class.as_str());
        true
    }

    /// "2 findings, latest seq_gap", or "" when there are none.
    pub fn brief(&self, socket: SocketId) -> String {
        match self.per_socket.get(&socket) {
            Some(f) if f.total > 0 => {
                let s = if f.total == 1 { "" } else { "s" };
                format!("{} finding{s}, latest {}", f.total, f.latest.unwrap_or("?"))
            }
            _ => String::new(),
        }
    }

    /// "abnormal_close ×1, seq_gap ×2", or "none".
    fn by_class(&self, socket: SocketId) -> String {
        match self.per_socket.get(&socket) {
            Some(f) if f.total > 0 => f
                .by_class
                .iter()
                .map(|(class, n)| format!("{class} ×{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".into(),
        }
    }
}

/// How a socket's job ended, in words, and whether that is a success: the
/// job finished and its final count is known.
pub fn outcome(view: &SocketView) -> (bool, String) {
    let words = match &view.state {
        State::Closed { reason } => reason.to_string(),
        State::Failed { reason } => format!("failed: {reason}"),
        State::Cancelled => "cancelled".into(),
        other => format!("did not end ({other})"),
    };
    let finished = matches!(
        view.state,
        State::Closed {
            reason: ClosedReason::JobFinished
        }
    );
    let known = matches!(view.final_count, FinalCount::Known(_));
    (finished && known, words)
}

/// Writes the summary; true when every job finished with a known count.
fn write_summary(
    out: &mut String,
    session: i64,
    sockets: &[SocketView],
    findings: &FindingTally,
) -> bool {
    let failed = sockets.iter().filter(|s| !outcome(s).0).count();
    let noun = if sockets.len() == 1 {
        "socket"
    } else {
        "sockets"
    };
    let _ = writeln!(
        out,
        "session {session}: {} {noun}, {failed} did not complete",
        sockets.len()
    );
    let width = sockets.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in sockets {
        let (_, words) = outcome(s);
        let _ = writeln!(out, "  {:<width$}  {words}; {}", s.name, s.final_count);
        let _ = writeln!(
            out,
            "  {:<width$}    findings: {}",
            "",
            findings.by_class(s.id)
        );
    }
    failed == 0
}

/// How `watch` and `demo` end.
#[derive(Debug)]
pub struct Ending {
    /// Each job's outcome, then what became of the recording and the
    /// export; scrubbed.
    pub summary: String,
    /// See [`exit_code`].
    pub code: ExitCode,
    /// The sockets as they ended, by id.
    pub sockets: Vec<SocketView>,
    /// What the stop did.
    pub end: SessionEnd,
}

/// Stops the session (after a signal, a second one exits at once) and
/// sums it up.
pub async fn end_session(
    session: Session,
    followed: Followed,
    signals: Signals,
    findings: &FindingTally,
) -> anyhow::Result<Ending> {
    let id = session.session_id();
    let db = session.db_path().to_owned();
    let stopped_by = followed.stopped_by;
    if stopped_by.is_some() {
        signals.exit_on_next();
    }
    // Read after the stop: a socket a signal cancelled says so.
    let ended = session.clone();
    let end = session.stop().await?;
    let mut sockets = ended.sockets();
    sockets.sort_by_key(|s| s.id);
    let mut summary = String::new();
    let all_completed = write_summary(&mut summary, id, &sockets, findings);
    let recorded = write_ending(&mut summary, id, &db, &end, followed);
    Ok(Ending {
        // Final states quote the server (a failure code): scrubbed.
        summary: redact::free_text(&summary),
        code: exit_code(stopped_by, all_completed, recorded),
        sockets,
        end,
    })
}

/// The exit code: a signal's own (see [`sockscope_core::signal`]) when one ended
/// the run, else 0 only if every job completed and the recording is whole.
fn exit_code(stopped_by: Option<Stop>, all_completed: bool, recorded: bool) -> ExitCode {
    match stopped_by {
        Some(stop) => stop.exit_code(),
        None if all_completed && recorded => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

/// Writes what the end of the session did to the recording and the
/// export; true when the recording is whole. A failed export does not
/// count against it: the session is in SQLite and can be exported again.
fn write_ending(
    out: &mut String,
    session: i64,
    db: &Path,
    end: &SessionEnd,
    followed: Followed,
) -> bool {
    let db = db.display();
    if let Some(stop) = followed.stopped_by {
        let _ = writeln!(
            out,
            "stopped by {}: sockets cancelled, session {session} ended cleanly in {db}",
            stop.name()
        );
    }
    if let Some(reason) = &end.recording_failed {
        let _ = writeln!(
            out,
            "RECORDING FAILED: {reason}\n  the events before it are in session {session} of {db}; later ones were not saved"
        );
    }
    if !end.unstopped.is_empty() {
        let ids: Vec<String> = end.unstopped.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "sockets {} did not stop in time; their last events may be missing",
            ids.join(", ")
        );
    }
    if let Some(export) = &end.export {
        let missing = export.undelivered();
        if missing > 0 {
            // Said once: here only if it was not told while it ran.
            let why = match (&export.first_error, followed.export_warned) {
                (Some(e), false) => format!(" (the export failed: {e})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "OTLP: {missing} of {} spans were not delivered{why}\n  the session is safe in {db}; export it later: sockscope export --session {session} --format otlp -o FILE --db {db}",
                export.spans
            );
        }
    }
    end.recording_failed.is_none()
}

#[cfg(test)]
mod tests {
    use sockscope_engine::event::{FailedReason, Progress, ProgressSource};
    use sockscope_engine::{AdapterKind, FinalCount};

    use super::*;

    fn view(state: State, final_count: FinalCount) -> SocketView {
        SocketView {
            id: 1,
            name: "csv_import".into(),
            adapter: AdapterKind::Job,
            job_id: Some("j-1".into()),
            state,
            attempts: 2,
            progress: None,
            last_rtt: None,
            findings: 0,
            final_count,
        }
    }

    fn count(processed: u64, source: ProgressSource) -> Option<Progress> {
        Some(Progress {
            processed,
            total: 20,
            status: None,
            source,
        })
    }

    #[test]
    fn only_a_finished_job_with_a_known_count_is_a_success() {
        let finished = State::Closed {
            reason: ClosedReason::JobFinished,
        };
        let cases = [
            (
                view(
                    finished.clone(),
                    FinalCount::Known(count(20, ProgressSource::StateSync)),
                ),
                true,
                "job finished; 20/20 (from a state sync)",
            ),
            (
                view(
                    finished,
                    FinalCount::Unknown {
                        tries: 3,
                        last_seen: count(5, ProgressSource::Event),
                    },
                ),
                false,
                "job finished; final count unknown: the state sync failed 3 times (last seen 5/20)",
            ),
            (
                view(
                    State::Closed {
                        reason: ClosedReason::JobFailed {
                            code: "E_PARSE".into(),
                            retryable: false,
                        },
                    },
                    FinalCount::Known(count(7, ProgressSource::Event)),
                ),
                false,
                "job failed: E_PARSE, not retryable; 7/20 (from a job event)",
            ),
            (
                view(
                    State::Failed {
                        reason: FailedReason::Unauthorized,
                    },
                    FinalCount::Known(None),
                ),
                false,
                "failed: unauthorized; no count reported",
            ),
            (
                view(
                    State::Failed {
                        reason: FailedReason::ReconnectExhausted { attempts: 5 },
                    },
                    FinalCount::Known(None),
                ),
                false,
                "failed: gave up after 5 retries",
            ),
            (
                view(
                    State::Failed {
                        reason: FailedReason::JobUnknown,
                    },
                    FinalCount::Known(None),
                ),
                false,
                "failed: job unknown",
            ),
            (
                view(State::Cancelled, FinalCount::Known(None)),
                false,
                "cancelled",
            ),
        ];
        for (v, ok, words) in cases {
            let mut out = String::new();
            let all_ok = write_summary(
                &mut out,
                7,
                std::slice::from_ref(&v),
                &FindingTally::default(),
            );
            assert_eq!(all_ok, ok, "{out}");
            assert!(out.contains(words), "{words:?} not in:\n{out}");
            let failed = if ok { 0 } else { 1 };
            assert!(out.contains(&format!("{failed} did not complete")), "{out}");
        }
    }
}
