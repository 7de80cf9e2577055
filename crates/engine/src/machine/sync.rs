//! State syncs (PROTOCOL.md rule 5) and what the socket knows of its job:
//! progress and outcome.

use sockscope_protocol::{JobState, JobStatus};

use crate::event::{
    AdapterKind, Cause, ClosedReason, EventKind, FailedReason, FindingClass, Mono, Progress,
    ProgressSource, State, StateName, StateSyncOutcome, StateSyncRecord, TimerKind,
};

use super::{Effect, Machine, STATE_SYNC_TRIES, SyncFailure};

impl Machine {
    pub(super) fn start_sync(&mut self, fx: &mut Vec<Effect>) {
        if self.cfg.adapter != AdapterKind::Job || self.sync_try.is_some() {
            return;
        }
        self.request_sync(1, fx);
    }

    pub(super) fn request_sync(&mut self, try_no: u32, fx: &mut Vec<Effect>) {
        self.sync_try = Some(try_no);
        fx.push(Effect::StateSync { try_no });
        fx.push(Effect::Emit(EventKind::StateSync(StateSyncRecord {
            try_no,
            outcome: StateSyncOutcome::Requested,
        })));
    }

    pub(super) fn on_sync_done(
        &mut self,
        result: Result<JobState, SyncFailure>,
        now: Mono,
        fx: &mut Vec<Effect>,
    ) {
        let Some(try_no) = self.sync_try else {
            return;
        };
        match result {
            Ok(state) => {
                self.sync_try = None;
                self.sync_gave_up = None;
                fx.push(Effect::Emit(EventKind::StateSync(StateSyncRecord {
                    try_no,
                    outcome: StateSyncOutcome::Synced {
                        status: state.status,
                        processed: state.processed_count,
                        total: state.total_count,
                        last_seq: state.last_seq,
                    },
                })));
                // The state covers every event up to its seq; an answer older
                // than the events already seen must not turn progress back.
                let seen = self.last_seq.unwrap_or(0);
                self.last_seq = Some(seen.max(state.last_seq));
                // A job the server has ended has nothing left to reconnect
                // for, even when the replay that said so was lost.
                if state.status.is_terminal() && self.job_outcome.is_none() {
                    self.job_outcome = Some(match state.status {
                        JobStatus::Failed => ClosedReason::JobFailed {
                            code: "job_failed".into(),
                            retryable: false,
                        },
                        _ => ClosedReason::JobFinished,
                    });
                }
                if state.last_seq >= seen {
                    self.set_progress(
                        state.processed_count,
                        state.total_count,
                        Some(state.status),
                        ProgressSource::StateSync,
                        fx,
                    );
                }
                if let (Some(reason), State::Backoff { .. }) = (&self.job_outcome, &self.state) {
                    let reason = reason.clone();
                    self.close_terminal(reason, Cause::JobEnded, fx);
                }
            }
            Err(failure) => {
                let (status, error, retryable) = match &failure {
                    SyncFailure::Status(s) => (Some(*s), format!("http_{s}"), *s >= 500),
                    SyncFailure::Io(kind) => (None, format!("io_{kind}"), true),
                };
                // A closed socket still wants the job's final state; a
                // cancelled one does not.
                let will_retry = retryable
                    && try_no < STATE_SYNC_TRIES
                    && self.state.name() != StateName::Cancelled;
                fx.push(Effect::Emit(EventKind::StateSync(StateSyncRecord {
                    try_no,
                    outcome: StateSyncOutcome::Failed {
                        status,
                        error: error.clone(),
                        will_retry,
                    },
                })));
                if will_retry {
                    self.find(
                        fx,
                        FindingClass::StateSyncRetry,
                        format!("state sync try {try_no} failed ({error}); trying again"),
                    );
                    let delay = self.cfg.timeouts.state_sync_retry * 2u32.pow(try_no - 1);
                    self.arm(TimerKind::StateSyncRetry, now.plus(delay));
                    return;
                }
                self.sync_try = None;
                self.sync_gave_up = Some(try_no);
                let detail = if self.state.is_terminal() {
                    format!("final count unknown: the state sync failed {try_no} times ({error})")
                } else {
                    format!("state sync gave up after try {try_no} ({error})")
                };
                self.find(fx, FindingClass::StateSyncFailed, detail);
                if status == Some(404) && !self.state.is_terminal() {
                    if matches!(self.state, State::Connecting { .. }) {
                        fx.push(Effect::AbortConnect);
                    }
                    self.abandon_connection(1000, "job unknown", fx);
                    self.fail(FailedReason::JobUnknown, Cause::StateSyncNotFound, fx);
                }
            }
        }
    }

    /// A cancelled socket wants nothing more: a retry due is dropped; one in
    /// flight is let answer and is not tried again.
    pub(super) fn drop_sync(&mut self) {
        if self.armed(TimerKind::StateSyncRetry) {
            self.disarm(TimerKind::StateSyncRetry);
            self.sync_try = None;
        }
    }

    pub(super) fn set_progress(
        &mut self,
        processed: u64,
        total: u64,
        status: Option<JobStatus>,
        source: ProgressSource,
        fx: &mut Vec<Effect>,
    ) {
        let p = Progress {
            processed,
            total,
            status,
            source,
        };
        fx.push(Effect::Emit(EventKind::Progress(p.clone())));
        self.progress = Some(p);
    }

    /// A job event said the job failed: that is the outcome, and the count
    /// it stopped at is final.
    pub(super) fn job_failed(&mut self, code: String, retryable: bool, fx: &mut Vec<Effect>) {
        self.job_outcome = Some(ClosedReason::JobFailed { code, retryable });
        self.sync_gave_up = None;
        if let Some(p) = self.progress.clone() {
            self.set_progress(
                p.processed,
                p.total,
                Some(JobStatus::Failed),
                ProgressSource::Event,
                fx,
            );
        }
    }
}
