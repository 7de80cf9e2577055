//! Fault-injecting job simulator: the server side of the job socket protocol
//! (`shared/PROTOCOL.md`). REST and WebSocket on one port, every fault knob of
//! the contract, a control plane, and a wire log that tests query instead of
//! sleeping. Tokens are secrets: they never reach a log, the wire log, a
//! `Debug` output or an error message.

pub mod cli;
mod conn;
mod error;
mod faults;
mod http;
mod job;
pub mod reference;
mod time;
mod wire;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::SimError;
pub use faults::{
    DEFAULT_FAULT_CONNECTIONS, DEFAULT_HISTORY, DEFAULT_INTERVAL_MS, DEFAULT_KEEPALIVE_MS, Faults,
    KNOBS,
};
pub use sockscope_protocol::{CreateJobResponse, JobKind, JobState, JobStatus, TokenResponse};
pub use wire::{AuthVia, DropReason, Opcode, Side, WIRE_LOG_CAPACITY, WireEvent};

use job::Job;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// How long [`Sim::shutdown`] lets in-flight HTTP requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Simulator configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen. Default: `127.0.0.1:0` (a free port).
    pub listen: SocketAddr,
    /// Server-wide fault defaults; per-job faults override them. Default: none.
    pub faults: Faults,
    /// Events the wire log keeps; older ones are forgotten first. Default
    /// [`WIRE_LOG_CAPACITY`] (500,000); a long-running embedded simulator
    /// nobody queries (the app's demo) keeps fewer.
    pub wire_log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            faults: Faults::default(),
            wire_log_capacity: WIRE_LOG_CAPACITY,
        }
    }
}

/// State shared by the HTTP handlers, the jobs and the connections.
pub(crate) struct Shared {
    /// The bound address, as put in URLs.
    addr: SocketAddr,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    defaults: Mutex<Faults>,
    wire: wire::WireLog,
    next_job: AtomicU64,
    next_conn: AtomicU64,
    /// WebSocket connections each job ever got (kept after deletion).
    conn_counts: Mutex<HashMap<String, usize>>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("addr", &self.addr).finish()
    }
}

impl Shared {
    fn job(&self, job_id: &str) -> Result<Arc<Job>, SimError> {
        self.find_job(job_id)
            .ok_or_else(|| SimError::UnknownJob(job_id.to_owned()))
    }

    fn find_job(&self, job_id: &str) -> Option<Arc<Job>> {
        self.jobs.lock().expect("jobs lock").get(job_id).cloned()
    }

    fn create_job(
        &self,
        kind: JobKind,
        total_count: u64,
        faults: Faults,
    ) -> Result<CreateJobResponse, SimError> {
        if *self.shutdown.borrow() {
            return Err(SimError::ShutDown);
        }
        let effective = faults.merged_over(&self.defaults.lock().expect("faults lock"));
        let id = format!("j-{}", self.next_job.fetch_add(1, Ordering::Relaxed) + 1);
        let (job, token) = Job::new(id.clone(), kind, total_count, effective);
        self.jobs
            .lock()
            .expect("jobs lock")
            .insert(id.clone(), Arc::new(job));
        tracing::debug!(job_id = %id, kind = kind.as_str(), total_count, "job created");
        Ok(CreateJobResponse {
            ws_url: format!("ws://{}/ws/progress?jobId={id}", self.addr),
            state_url: format!("http://{}/api/job-state/{id}", self.addr),
            job_id: id,
            token,
        })
    }

    fn fresh_token(&self, job_id: &str) -> Result<TokenResponse, SimError> {
        let (token, ttl_ms) = self.job(job_id)?.fresh_token();
        Ok(TokenResponse { token, ttl_ms })
    }

    fn revoke(&self, job_id: &str) -> Result<(), SimError> {
        self.job(job_id)?.revoke();
        Ok(())
    }

    fn delete_job(&self, job_id: &str) -> Result<(), SimError> {
        let job = self
            .jobs
            .lock()
            .expect("jobs lock")
            .remove(job_id)
            .ok_or_else(|| SimError::UnknownJob(job_id.to_owned()))?;
        job.forget();
        Ok(())
    }

    fn close_job(&self, job_id: &str, code: u16, reason: &str) -> Result<(), SimError> {
        check_close(code, reason)?;
        self.job(job_id)?.close_conns(code, reason);
        Ok(())
    }

    fn drop_job(&self, job_id: &str) -> Result<(), SimError> {
        self.job(job_id)?.drop_conns();
        Ok(())
    }

    fn close_all(&self, code: u16, reason: &str) -> Result<(), SimError> {
        check_close(code, reason)?;
        let jobs: Vec<Arc<Job>> = self
            .jobs
            .lock()
            .expect("jobs lock")
            .values()
            .cloned()
            .collect();
        for job in jobs {
            job.close_conns(code, reason);
        }
        Ok(())
    }

    fn set_faults(&self, faults: Faults) {
        *self.defaults.lock().expect("faults lock") = faults;
    }

    fn count_connection(&self, job_id: &str) {
        *self
            .conn_counts
            .lock()
            .expect("counts lock")
            .entry(job_id.to_owned())
            .or_default() += 1;
    }
}

/// A close the server may send: a code RFC 6455 allows on the wire and a
/// reason that fits in a control frame.
fn check_close(code: u16, reason: &str) -> Result<(), SimError> {
    let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !allowed {
        return Err(SimError::BadRequest(format!(
            "close code {code} cannot be sent on the wire"
        )));
    }
    if reason.len() > 123 {
        return Err(SimError::BadRequest(
            "close reason is longer than 123 bytes".into(),
        ));
    }
    Ok(())
}

/// A running simulator. Dropping it stops it too; [`Sim::shutdown`] also
/// waits for the listener to go.
#[derive(Debug)]
pub struct Sim {
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl Sim {
    /// Binds `config.listen` and serves; returns once listening.
    pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let mut addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        // URLs need an address a client can dial.
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let shared = Arc::new(Shared {
            addr,
            jobs: Mutex::new(HashMap::new()),
            defaults: Mutex::new(config.faults),
            wire: wire::WireLog::new(config.wire_log_capacity),
            next_job: AtomicU64::new(0),
            next_conn: AtomicU64::new(0),
            conn_counts: Mutex::new(HashMap::new()),
            shutdown: watch::Sender::new(false),
        });
        let server = tokio::spawn(http::serve(listener, Arc::clone(&shared)));
        tracing::info!(%addr, "simulator listening");
        Ok(Sim {
            shared,
            server: Some(server),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Creates a job, as `POST /api/jobs` does. `faults` override the server-wide ones.
    pub fn create_job(
        &self,
        kind: JobKind,
        total_count: u64,
        faults: Faults,
    ) -> Result<CreateJobResponse, SimError> {
        self.shared.create_job(kind, total_count, faults)
    }

    /// The job's state (no auth, no `state_5xx`), or `None` for an unknown job.
    pub fn job_state(&self, job_id: &str) -> Option<JobState> {
        self.shared.find_job(job_id).map(|job| job.state())
    }

    /// A fresh token for the job, as `POST /admin/jobs/{jobId}/token`.
    pub fn fresh_token(&self, job_id: &str) -> Result<TokenResponse, SimError> {
        self.shared.fresh_token(job_id)
    }

    /// Revokes every token of the job; open sockets close with 1008.
    pub fn revoke(&self, job_id: &str) -> Result<(), SimError> {
        self.shared.revoke(job_id)
    }

    /// Forgets the job; open sockets close with 4004, later requests get 404.
    pub fn delete_job(&self, job_id: &str) -> Result<(), SimError> {
        self.shared.delete_job(job_id)
    }

    /// Closes the job's open sockets with `code`.
    pub fn close_job(&self, job_id: &str, code: u16, reason: &str) -> Result<(), SimError> {
        self.shared.close_job(job_id, code, reason)
    }

    /// Cuts the job's open sockets with no close frame.
    pub fn drop_job(&self, job_id: &str) -> Result<(), SimError> {
        self.shared.drop_job(job_id)
    }

    /// Closes every open socket of every job with `code` (a restart looks like 1001).
    pub fn close_all(&self, code: u16, reason: &str) -> Result<(), SimError> {
        self.shared.close_all(code, reason)
    }

    /// Replaces the server-wide fault defaults for jobs created from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// The server-wide fault defaults.
    pub fn faults(&self) -> Faults {
        self.shared.defaults.lock().expect("faults lock").clone()
    }

    /// Everything the wire log holds, oldest first.
    pub fn wire_log(&self) -> Vec<WireEvent> {
        self.shared.wire.snapshot()
    }

    /// Wire events from now on.
    pub fn subscribe_wire(&self) -> broadcast::Receiver<WireEvent> {
        self.shared.wire.subscribe()
    }

    /// The oldest wire event `pred` accepts, already logged or yet to come,
    /// waiting at most `timeout`.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&WireEvent) -> bool,
        timeout: Duration,
    ) -> Result<WireEvent, SimError> {
        self.shared.wire.wait_for(pred, timeout).await
    }

    /// How many WebSocket connections (101s) the job ever got.
    pub fn connections(&self, job_id: &str) -> usize {
        self.shared
            .conn_counts
            .lock()
            .expect("counts lock")
            .get(job_id)
            .copied()
            .unwrap_or(0)
    }

    /// Stops listening, cuts every socket and stops every job.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }

    fn signal_stop(&self) {
        self.shared.shutdown.send_replace(true);
        let jobs: Vec<Arc<Job>> = self
            .shared
            .jobs
            .lock()
            .expect("jobs lock")
            .drain()
            .map(|(_, job)| job)
            .collect();
        for job in jobs {
            job.stop_clock();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.signal_stop();
            server.abort();
        }
    }
}
