//! A job: its clock, its held events, its tokens and its open connections.
//!
//! All state sits behind one short-held `std::sync::Mutex` per job; nothing
//! awaits while holding it. Work per event is O(connections of that job).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::json;
use sockscope_protocol::{Envelope, JobKind, JobState, JobStatus, ServerMessage, encode_server};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::faults::Faults;
use crate::time::rfc3339;
use crate::wire::DropReason;

/// Bound of each connection's queue of pending frames; a peer that falls this
/// far behind is cut rather than buffered without limit.
pub(crate) const CONN_QUEUE: usize = 1_024;

/// A job event as sent, held for replay.
#[derive(Debug, Clone)]
pub(crate) struct HeldEvent {
    pub seq: u64,
    pub kind: &'static str,
    pub text: Utf8Bytes,
}

/// What a job or the control plane asks a connection to do.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    Event(HeldEvent),
    Close { code: u16, reason: String },
    Drop(DropReason),
}

/// The job's side of a connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub tx: mpsc::Sender<ConnCmd>,
    /// Woken when the queue overflowed: the connection cuts itself.
    pub kill: Arc<Notify>,
    pub ready: bool,
}

impl ConnHandle {
    /// Queues `cmd`; a full queue kills the connection. Returns false when the
    /// connection is gone or killed.
    fn push(&self, cmd: ConnCmd) -> bool {
        match self.tx.try_send(cmd) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kill.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Token {
    value: String,
    expires_at: Option<Instant>,
    revoked: bool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("revoked", &self.revoked)
            .finish()
    }
}

#[derive(Debug)]
pub(crate) struct JobInner {
    pub status: JobStatus,
    pub processed: u64,
    pub last_seq: u64,
    updated_at: SystemTime,
    last_event_at: Instant,
    history: VecDeque<HeldEvent>,
    tokens: Vec<Token>,
    state_requests: u64,
    pub conns: HashMap<u64, ConnHandle>,
    /// WebSocket connections accepted so far; gives each its 1-based index.
    pub accepted: u64,
    task: Option<AbortHandle>,
    /// Deleted through the control plane.
    pub forgotten: bool,
}

/// One simulated job.
#[derive(Debug)]
pub(crate) struct Job {
    pub id: String,
    pub kind: JobKind,
    pub total: u64,
    /// Effective knobs: per-job over server-wide.
    pub faults: Faults,
    inner: Mutex<JobInner>,
}

/// What a connection does in answer to its first `ready`.
#[derive(Debug)]
pub(crate) struct ReadyPlan {
    pub resync: bool,
    pub replay: Vec<HeldEvent>,
    pub last_seq: u64,
    /// The job has ended: close with this code after the ack.
    pub terminal_close: Option<u16>,
}

/// Outcome of checking a job-state request.
#[derive(Debug)]
pub(crate) enum StateAnswer {
    Unauthorized,
    Unavailable,
    Ok(JobState),
}

pub(crate) fn new_token() -> String {
    let mut s = String::with_capacity(32);
    for _ in 0..32 {
        s.push(char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'));
    }
    s
}

fn terminal_code(status: JobStatus) -> Option<u16> {
    match status {
        JobStatus::Complete | JobStatus::Canceled => Some(1000),
        JobStatus::Failed => Some(1011),
        JobStatus::Queued | JobStatus::Running => None,
    }
}

impl Job {
    pub(crate) fn new(id: String, kind: JobKind, total: u64, faults: Faults) -> (Job, String) {
        let token = new_token();
        let now = Instant::now();
        let job = Job {
            id,
            kind,
            total,
            inner: Mutex::new(JobInner {
                status: JobStatus::Queued,
                processed: 0,
                last_seq: 0,
                updated_at: SystemTime::now(),
                last_event_at: now,
                history: VecDeque::new(),
                tokens: vec![Token {
                    value: token.clone(),
                    expires_at: faults
                        .token_ttl_ms
                        .map(|ms| now + Duration::from_millis(ms)),
                    revoked: false,
                }],
                state_requests: 0,
                conns: HashMap::new(),
                accepted: 0,
                task: None,
                forgotten: false,
            }),
            faults,
        };
        (job, token)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, JobInner> {
        self.inner.lock().expect("job lock")
    }

    /// `Some(expiry)` when `token` is valid now.
    pub(crate) fn check_token(&self, token: &str) -> Option<Option<Instant>> {
        let inner = self.lock();
        let now = Instant::now();
        inner
            .tokens
            .iter()
            .find(|t| t.value == token && !t.revoked && t.expires_at.is_none_or(|e| now < e))
            .map(|t| t.expires_at)
    }

    /// Issues a fresh token, with the job's TTL.
    pub(crate) fn fresh_token(&self) -> (String, Option<u64>) {
        let token = new_token();
        let ttl = self.faults.token_ttl_ms;
        self.lock().tokens.push(Token {
            value: token.clone(),
            expires_at: ttl.map(|ms| Instant::now() + Duration::from_millis(ms)),
            revoked: false,
        });
        (token, ttl)
    }

    pub(crate) fn state(&self) -> JobState {
        let inner = self.lock();
        self.state_of(&inner)
    }

    fn state_of(&self, inner: &JobInner) -> JobState {
        JobState {
            job_id: self.id.clone(),
            kind: self.kind,
            status: inner.status,
            processed_count: inner.processed,
            total_count: self.total,
            last_seq: inner.last_seq,
            updated_at: rfc3339(inner.updated_at),
        }
    }

    /// A job-state request past the 404 check: 401, then `state_5xx`, then 200.
    pub(crate) fn answer_state(&self, token: Option<&str>) -> StateAnswer {
        if token.and_then(|t| self.check_token(t)).is_none() {
            return StateAnswer::Unauthorized;
        }
        let mut inner = self.lock();
        inner.state_requests += 1;
        if inner.state_requests <= self.faults.state_5xx.unwrap_or(0) {
            return StateAnswer::Unavailable;
        }
        StateAnswer::Ok(self.state_of(&inner))
    }

    /// Revokes every token and closes open sockets with 1008.
    pub(crate) fn revoke(&self) {
        let mut inner = self.lock();
        for t in &mut inner.tokens {
            t.revoked = true;
        }
        close_all_conns(&mut inner, 1008, "token revoked");
    }

    /// Forgets the job: its clock stops and open sockets close with 4004.
    pub(crate) fn forget(&self) {
        let mut inner = self.lock();
        inner.forgotten = true;
        if let Some(task) = inner.task.take() {
            task.abort();
        }
        close_all_conns(&mut inner, 4004, "job unknown");
    }

    /// Stops the clock only; the connections see the shutdown themselves.
    pub(crate) fn stop_clock(&self) {
        let mut inner = self.lock();
        inner.forgotten = true;
        if let Some(task) = inner.task.take() {
            task.abort();
        }
    }

    pub(crate) fn close_conns(&self, code: u16, reason: &str) {
        close_all_conns(&mut self.lock(), code, reason);
    }

    pub(crate) fn drop_conns(&self) {
        let mut inner = self.lock();
        for (_, handle) in inner.conns.drain() {
            handle.push(ConnCmd::Drop(DropReason::Admin));
        }
    }

    /// Registers a connection; `false` when the job was deleted meanwhile.
    pub(crate) fn register(&self, conn: u64, handle: ConnHandle) -> bool {
        let mut inner = self.lock();
        if inner.forgotten {
            return false;
        }
        inner.conns.insert(conn, handle);
        true
    }

    /// Stops sending to a connection (it closes, drops, stalls or ended).
    pub(crate) fn deregister(&self, conn: u64) {
        self.lock().conns.remove(&conn);
    }

    /// Marks `conn` ready and plans its replay. The first `ready` of the job
    /// starts its clock.
    pub(crate) fn first_ready(self: &Arc<Self>, conn: u64, resume_from: Option<u64>) -> ReadyPlan {
        let mut inner = self.lock();
        if let Some(handle) = inner.conns.get_mut(&conn) {
            handle.ready = true;
        }
        let from = resume_from.unwrap_or(0);
        let last_seq = inner.last_seq;
        let mut plan = ReadyPlan {
            resync: false,
            replay: Vec::new(),
            last_seq,
            terminal_close: terminal_code(inner.status),
        };
        if from > last_seq {
            plan.resync = true;
        } else if from < last_seq {
            let oldest = inner.history.front().map(|e| e.seq);
            if oldest.is_some_and(|o| o <= from + 1) {
                plan.replay = inner
                    .history
                    .iter()
                    .filter(|e| e.seq > from)
                    .cloned()
                    .collect();
            } else {
                plan.resync = true;
            }
        }
        if inner.status == JobStatus::Queued && !inner.forgotten {
            inner.status = JobStatus::Running;
            inner.updated_at = SystemTime::now();
            let task = tokio::spawn(run_job(Arc::clone(self)));
            inner.task = Some(task.abort_handle());
        }
        plan
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// A client's `cancel`: the job becomes `canceled`, its sockets close with 1000.
    pub(crate) fn cancel(&self) {
        let mut inner = self.lock();
        if inner.status.is_terminal() {
            return;
        }
        inner.status = JobStatus::Canceled;
        inner.updated_at = SystemTime::now();
        if let Some(task) = inner.task.take() {
            task.abort();
        }
        close_all_conns(&mut inner, 1000, "job canceled");
    }

    /// Appends a job event and sends it to every ready connection.
    fn emit(&self, inner: &mut JobInner, message: ServerMessage) {
        inner.last_seq += 1;
        let now = SystemTime::now();
        let envelope = Envelope {
            job_id: Some(self.id.clone()),
            seq: Some(inner.last_seq),
            ts: Some(rfc3339(now)),
            message,
        };
        let event = HeldEvent {
            seq: inner.last_seq,
            // A job only emits the job events it builds itself.
            kind: envelope.message.known_kind().unwrap_or("unknown"),
            text: Utf8Bytes::from(encode_server(&envelope)),
        };
        inner.updated_at = now;
        inner.last_event_at = Instant::now();
        let cap = self.faults.history_len();
        if cap > 0 {
            if inner.history.len() >= cap {
                inner.history.pop_front();
            }
            inner.history.push_back(event.clone());
        }
        inner
            .conns
            .retain(|_, h| !h.ready || h.push(ConnCmd::Event(event.clone())));
    }

    /// After item `processed` (0: just started), ends the job if it is due.
    /// Returns true when the job ended.
    fn maybe_end(&self, inner: &mut JobInner) -> bool {
        let processed = inner.processed;
        let (status, message) = if self.faults.fail_after == Some(processed) {
            (
                JobStatus::Failed,
                match &self.faults.fail_message {
                    // A careless server: the text is its code and message.
                    Some(text) => {
                        let token = inner.tokens.first().map_or("", |t| t.value.as_str());
                        let text = text.replace("{token}", token);
                        ServerMessage::JobFailed {
                            code: text.clone(),
                            message: text,
                            retryable: self.faults.fail_retryable.unwrap_or(false),
                        }
                    }
                    None => ServerMessage::JobFailed {
                        code: "simulated_failure".into(),
                        message: format!("failed after {processed} items"),
                        retryable: self.faults.fail_retryable.unwrap_or(false),
                    },
                },
            )
        } else if processed >= self.total {
            (
                JobStatus::Complete,
                ServerMessage::JobComplete {
                    processed_count: processed,
                    total_count: self.total,
                    result: json!({ "kind": self.kind.as_str(), "processed": processed }),
                },
            )
        } else {
            return false;
        };
        self.emit(inner, message);
        inner.status = status;
        inner.task = None;
        let code = terminal_code(status).unwrap_or(1000);
        // Connections not ready yet get the terminal close after their ready.
        let reason = format!("job {}", status_name(status));
        inner.conns.retain(|_, h| {
            !h.ready
                || !h.push(ConnCmd::Close {
                    code,
                    reason: reason.clone(),
                })
        });
        true
    }
}

fn close_all_conns(inner: &mut JobInner, code: u16, reason: &str) {
    for (_, handle) in inner.conns.drain() {
        handle.push(ConnCmd::Close {
            code,
            reason: reason.to_owned(),
        });
    }
}

fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Complete => "complete",
        JobStatus::Failed => "failed",
        JobStatus::Canceled => "canceled",
    }
}

fn item_name(kind: JobKind, n: u64) -> String {
    match kind {
        JobKind::CsvImport => format!("row-{n}"),
        JobKind::BookshelfScan => format!("shelf-photo-{n}"),
        JobKind::Enrichment => format!("book-{n}"),
    }
}

/// The job's own clock: `job_started`, one item per interval, a `keep_alive`
/// when quiet, then the terminal event. Runs connected or not.
async fn run_job(job: Arc<Job>) {
    let interval = job.faults.interval();
    let keepalive = job.faults.keepalive();
    {
        let mut inner = job.lock();
        job.emit(
            &mut inner,
            ServerMessage::JobStarted {
                total_count: job.total,
            },
        );
        if job.maybe_end(&mut inner) {
            return;
        }
    }
    let mut next_item = Instant::now() + interval;
    loop {
        let keepalive_at = job.lock().last_event_at + keepalive;
        if keepalive_at < next_item {
            tokio::time::sleep_until(keepalive_at).await;
            let mut inner = job.lock();
            if inner.last_event_at + keepalive <= Instant::now() {
                job.emit(&mut inner, ServerMessage::KeepAlive);
            }
            continue;
        }
        tokio::time::sleep_until(next_item).await;
        // Pace from the schedule, not from wake-up time, so jobs do not drift.
        next_item += interval;
        let mut inner = job.lock();
        inner.processed += 1;
        let processed = inner.processed;
        job.emit(
            &mut inner,
            ServerMessage::JobProgress {
                processed_count: processed,
                total_count: job.total,
                item: Some(item_name(job.kind, processed)),
            },
        );
        if job.maybe_end(&mut inner) {
            return;
        }
    }
}
