//! A session: the engine, the recorder and, when asked, telemetry and an
//! embedded simulator, wired together for one run of the CLI or the app.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use sockscope_engine::body::{BodyFailure, MAX_REST_BODY, read_capped};
use sockscope_engine::event::Progress;
use sockscope_engine::{
    AdapterKind, Engine, EngineConfig, Event, FinalCount, SocketHandle, SocketId, State,
    TokenSource,
};
use sockscope_environment::{EnvironmentTask, KeyringToken, NetworkWatcher, Sources, WakeDetector};
use sockscope_protocol::{CreateJobRequest, CreateJobResponse};
use sockscope_recorder::record::wall_ns;
use sockscope_recorder::trace::{RunningSocket, TraceBuilder};
use sockscope_recorder::{
    Delivery, OpenReport, Recorder, RecorderConfig, RecorderSync, SessionTag, SyncPoint, Telemetry,
    TelemetryConfig, WriterHealth,
};
use sockscope_sim::{Sim, SimConfig};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use url::Url;

use crate::CoreError;
use crate::config::{Config, ConfigWarning, SocketSpec, TokenSpec, default_db_path};
use crate::demo::{DEMO_ITEMS, DEMO_READY_TIMEOUT, DEMO_WIRE_LOG, EndlessDemo, demo_jobs};

mod endless;

/// How long creating a job may take, answer included. The answer is read
/// up to [`MAX_REST_BODY`] bytes.
pub const CREATE_JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Session::stop`] waits, in all, for the sockets to end and
/// their last events to be published: the sockets stop in parallel within
/// it, so one stuck socket costs this once, not once per socket.
pub const STOP_BUDGET: Duration = Duration::from_secs(5);

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// Events committed to the database.
    pub written: u64,
    /// Why the recording stopped early, if it did (scrubbed; it names the
    /// file). Events after that moment are not in the database.
    pub recording_failed: Option<String>,
    /// What live OTLP export did, if it was on at the end.
    pub export: Option<ExportEnd>,
    /// Sockets that did not end within [`STOP_BUDGET`], or whose task was
    /// already gone: their last events may be missing.
    pub unstopped: Vec<SocketId>,
}

/// What the live OTLP export delivered, at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEnd {
    /// Spans made from the session's events.
    pub spans: u64,
    /// Spans the collector accepted.
    pub delivered: u64,
    /// The first export failure, scrubbed.
    pub first_error: Option<String>,
}

impl ExportEnd {
    /// Spans the collector never got (refused, unreachable, or dropped
    /// from a full queue).
    pub fn undelivered(&self) -> u64 {
        self.spans.saturating_sub(self.delivered)
    }
}

/// How to start a session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// The database. Default: [`default_db_path`].
    pub db_path: Option<PathBuf>,
    /// Start the embedded simulator with the three demo jobs. Default off.
    pub demo: bool,
    /// Demo pace: milliseconds between items. Default 50.
    pub demo_interval_ms: Option<u64>,
    /// Demo size: items per job. Default [`DEMO_ITEMS`].
    pub demo_items: Option<u64>,
    /// Seeds the three demo sockets' reconnect jitter (the socket's index
    /// is added), so their backoff delays repeat from run to run. Default
    /// `None`: random.
    pub demo_seed: Option<u64>,
    /// With `demo`, keep the demo going until the session stops (the
    /// app's demo): after the three jobs, new ones play the catalog's
    /// races in turn, and ended ones leave the live set; see
    /// [`EndlessDemo`]. Default `None`: the three jobs, once (the CLI's
    /// `demo`).
    pub demo_endless: Option<EndlessDemo>,
    /// A TOML file of sockets to add at start. Default none.
    pub config_path: Option<PathBuf>,
    /// Live OTLP export. Default off; [`Session::set_telemetry`] changes it
    /// later.
    pub telemetry: Option<TelemetryConfig>,
    /// Watch the OS for network changes and wakes, and tell every socket.
    /// Default off (the CLI and the app turn it on).
    pub watch_environment: bool,
    /// Keep a live subscription from the start for
    /// [`Session::subscribe_from_start`]. Default off: until it is taken,
    /// that subscription holds the live ring's unread events (up to
    /// [`EngineConfig::live_bytes`] of payloads), so ask for it only if
    /// you take it (the CLI does; the app backfills from the recorder).
    pub live_from_start: bool,
    /// The most this session may add to the database, in bytes; recording
    /// stops there (see `RecorderConfig::max_session_bytes`). Default
    /// `None`: the recorder's default, 1 GiB.
    pub max_session_bytes: Option<u64>,
}

/// A socket at a glance.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketView {
    /// Engine id.
    pub id: SocketId,
    /// Display name.
    pub name: String,
    /// Adapter.
    pub adapter: AdapterKind,
    /// Job id.
    pub job_id: Option<String>,
    /// State now.
    pub state: State,
    /// Connection attempts so far.
    pub attempts: u32,
    /// Job progress.
    pub progress: Option<Progress>,
    /// Last heartbeat round trip.
    pub last_rtt: Option<Duration>,
    /// Findings so far.
    pub findings: u64,
    /// What the socket knows of its job's count: `Pending` until it has
    /// ended and no state sync is in flight or due.
    pub final_count: FinalCount,
}

/// One run: cheap to clone, every clone is the same session.
#[derive(Debug, Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    recorder: tokio::sync::Mutex<Option<Recorder>>,
    /// Sync points of the recorder, without its lock.
    recorder_sync: RecorderSync,
    /// One lock for both, so a switch is never seen half done.
    export: Mutex<Option<LiveExport>>,
    sim: tokio::sync::Mutex<Option<Sim>>,
    report: OpenReport,
    demo: bool,
    sockets: Mutex<BTreeMap<SocketId, SocketHandle>>,
    /// Why the recording stopped early, once it has.
    recording_failed: Arc<Mutex<Option<String>>>,
    http: reqwest::Client,
    warnings: Vec<ConfigWarning>,
    first_live: Mutex<Option<broadcast::Receiver<Arc<Event>>>>,
    /// Dropping it stops the watch.
    environment: Mutex<Option<EnvironmentTask>>,
    /// Sockets whose token lives in the OS keyring, by job: the entry goes
    /// when the socket does.
    keyring_jobs: Mutex<BTreeMap<SocketId, String>>,
    /// The endless demo's task and its stop signal, while it runs.
    endless: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl Session {
    /// Opens the database, starts recording, then adds the demo and config
    /// sockets.
    pub async fn start(opts: SessionOptions) -> Result<Session, CoreError> {
        let config = match &opts.config_path {
            Some(p) => Some(Config::load(p)?),
            None => None,
        };
        let engine = Engine::new(EngineConfig::default())?;
        let events = engine.subscribe_lossless(8192);
        let first_live = opts.live_from_start.then(|| engine.subscribe_live());
        let db = match opts.db_path.clone() {
            Some(p) => p,
            None => default_db_path()?,
        };
        let mut recorder_config = RecorderConfig::new(db);
        if let Some(cap) = opts.max_session_bytes {
            recorder_config.max_session_bytes = Some(cap);
        }
        let (recorder, report) =
            tokio::task::spawn_blocking(move || Recorder::start(recorder_config, events))
                .await
                .map_err(|e| CoreError::Task(e.to_string()))??;
        let recorder_sync = recorder.sync_handle();
        let recording_failed = Arc::new(Mutex::new(None));
        tokio::spawn(watch_recorder(
            recorder.watch_health(),
            engine.clone(),
            recording_failed.clone(),
        ));
        let export = match &opts.telemetry {
            Some(cfg) => Some(LiveExport::start(cfg, &engine, report.session)?),
            None => None,
        };
        let environment = if opts.watch_environment {
            // A machine without an address watch still gets wake detection.
            let network = NetworkWatcher::start().await.ok();
            Some(EnvironmentTask::spawn(
                engine.clone(),
                Sources {
                    network,
                    wake: Some(WakeDetector::system()),
                },
            ))
        } else {
            None
        };
        let session = Session {
            inner: Arc::new(Inner {
                engine,
                recorder: tokio::sync::Mutex::new(Some(recorder)),
                recorder_sync,
                export: Mutex::new(export),
                sim: tokio::sync::Mutex::new(None),
                report,
                demo: opts.demo,
                sockets: Mutex::new(BTreeMap::new()),
                recording_failed,
                http: reqwest::Client::new(),
                warnings: config
                    .as_ref()
                    .map(|c| c.warnings.clone())
                    .unwrap_or_default(),
                first_live: Mutex::new(first_live),
                environment: Mutex::new(environment),
                keyring_jobs: Mutex::new(BTreeMap::new()),
                endless: Mutex::new(None),
            }),
        };
        if opts.demo {
            let opening = session
                .start_demo(
                    opts.demo_items.unwrap_or(DEMO_ITEMS),
                    opts.demo_interval_ms.unwrap_or(50),
                    opts.demo_seed,
                )
                .await?;
            if let Some(pace) = opts.demo_endless.clone() {
                let (stop, stopped) = watch::channel(false);
                let task = tokio::spawn(endless::run(
                    Arc::downgrade(&session.inner),
                    pace,
                    opening,
                    stopped,
                ));
                *locked(&session.inner.endless) = Some((stop, task));
            }
        }
        if let Some(cfg) = config {
            for spec in cfg.sockets {
                session.add_socket(spec).await?;
            }
        }
        Ok(session)
    }

    /// Starts the simulator and the three demo jobs; returns their ids.
    async fn start_demo(
        &self,
        items: u64,
        interval_ms: u64,
        seed: Option<u64>,
    ) -> Result<Vec<SocketId>, CoreError> {
        // Nobody reads the demo's wire log: keep a little of it, so an
        // hour of the endless demo stays small.
        let sim = Sim::start(SimConfig {
            wire_log_capacity: DEMO_WIRE_LOG,
            ..SimConfig::default()
        })
        .await?;
        let base = sim.http_base();
        *self.inner.sim.lock().await = Some(sim);
        let mut ids = Vec::new();
        for (index, job) in (0u64..).zip(demo_jobs(items, interval_ms)) {
            let id = self
                .add_demo_job(
                    &base,
                    job.kind.as_str().to_owned(),
                    job.kind,
                    items,
                    &job.faults,
                    |c| {
                        c.timeouts.ready = DEMO_READY_TIMEOUT;
                        c.ready_resends = 4;
                        if let Some(seed) = seed {
                            c.jitter_seed = Some(seed.wrapping_add(index));
                        }
                    },
                )
                .await?;
            endless::send_early(&self.handle(id)?, job.early_sends).await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Creates a job on the embedded simulator at `base` and adds its socket.
    async fn add_demo_job(
        &self,
        base: &str,
        name: String,
        kind: sockscope_protocol::JobKind,
        items: u64,
        faults: &sockscope_sim::Faults,
        tweak: impl FnOnce(&mut sockscope_engine::SocketConfig),
    ) -> Result<SocketId, CoreError> {
        let mut spec = SocketSpec::job(format!("{}/ws/progress", base.replacen("http", "ws", 1)));
        spec.name = Some(name);
        spec.create = Some(crate::config::CreateJob {
            kind,
            total_count: items,
            faults: Some(serde_json::to_value(faults).map_err(|e| CoreError::Task(e.to_string()))?),
        });
        self.add_socket_with(spec, tweak).await
    }

    /// The session's row id in the database.
    pub fn session_id(&self) -> i64 {
        self.inner.report.session.id
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.inner.report.path
    }

    /// What opening the database found (a file moved aside, crashed
    /// sessions, pruned ones).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// Why the recording stopped early, once it has (scrubbed; it names
    /// the file). The same moment was published as an engine-wide
    /// [`sockscope_engine::EventKind::RecordingFailed`].
    pub fn recording_failed(&self) -> Option<String> {
        locked(&self.inner.recording_failed).clone()
    }

    /// What the live OTLP export has delivered so far, while it is on.
    pub fn watch_export(&self) -> Option<watch::Receiver<Delivery>> {
        self.export().as_ref().map(|e| e.telemetry.watch_delivery())
    }

    /// Warnings from the config file.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.inner.warnings
    }

    /// Whether the embedded simulator and demo jobs run.
    pub fn is_demo(&self) -> bool {
        self.inner.demo
    }

    /// The engine, for callers that need more than this API.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The embedded simulator's base URL, in demo mode.
    pub async fn sim_base(&self) -> Option<String> {
        self.inner.sim.lock().await.as_ref().map(Sim::http_base)
    }

    /// Every socket, by id.
    pub fn sockets(&self) -> Vec<SocketView> {
        self.lock()
            .values()
            .map(|h| {
                let s = h.snapshot();
                let final_count = s.final_count();
                let info = h.info();
                SocketView {
                    id: h.id(),
                    name: info.name.clone(),
                    adapter: info.adapter,
                    job_id: info.job_id.clone(),
                    state: s.state,
                    attempts: s.attempts,
                    progress: s.progress,
                    last_rtt: s.last_rtt,
                    findings: s.findings,
                    final_count,
                }
            })
            .collect()
    }

    /// Live events from now on; a slow reader skips ahead and is told how
    /// many it missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.engine.subscribe_live()
    }

    /// Live events from the session's start, including the demo and config
    /// sockets added by [`Session::start`], if the session was started with
    /// [`SessionOptions::live_from_start`]. The first call gets it; later
    /// calls, and every call without that option, get
    /// [`Session::subscribe`].
    pub fn subscribe_from_start(&self) -> broadcast::Receiver<Arc<Event>> {
        let first = locked(&self.inner.first_live).take();
        first.unwrap_or_else(|| self.subscribe())
    }

    /// Waits until the recorder has committed every event published before
    /// this call; see [`RecorderSync::sync`]. `None` once the recorder has
    /// stopped: it commits nothing more, so the database already holds all
    /// it ever will of this session.
    pub async fn sync_recorder(&self, within: Duration) -> Result<Option<SyncPoint>, CoreError> {
        match self.inner.recorder_sync.sync(within).await {
            Ok(point) => Ok(Some(point)),
            Err(sockscope_recorder::Error::WriterStopped) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds a socket; with `create`, the job is created first.
    pub async fn add_socket(&self, spec: SocketSpec) -> Result<SocketId, CoreError> {
        self.add_socket_with(spec, |_| {}).await
    }

    async fn add_socket_with(
        &self,
        mut spec: SocketSpec,
        tweak: impl FnOnce(&mut sockscope_engine::SocketConfig),
    ) -> Result<SocketId, CoreError> {
        if let Some(create) = spec.create.take() {
            let job = self.create_job(&spec.url, create).await?;
            spec.url = job.ws_url;
            spec.job_id = Some(job.job_id);
            spec.token = TokenSpec::Inline(sockscope_engine::Token::new(job.token));
        }
        let mut cfg = spec.socket_config(&keyring_source)?;
        tweak(&mut cfg);
        let handle = self.inner.engine.add_socket(&cfg)?;
        let id = handle.id();
        self.lock().insert(id, handle);
        if let TokenSpec::Keyring { job_id } = &spec.token {
            self.keyring_jobs().insert(id, job_id.clone());
        }
        Ok(id)
    }

    async fn create_job(
        &self,
        ws_url: &str,
        create: crate::config::CreateJob,
    ) -> Result<CreateJobResponse, CoreError> {
        let mut url =
            Url::parse(ws_url).map_err(|e| CoreError::CreateJob(format!("bad URL: {e}")))?;
        let scheme = if url.scheme() == "wss" {
            "https"
        } else {
            "http"
        };
        url.set_scheme(scheme)
            .map_err(|()| CoreError::CreateJob("cannot derive the jobs URL".into()))?;
        url.set_path("/api/jobs");
        url.set_query(None);
        let body = CreateJobRequest {
            kind: create.kind,
            total_count: create.total_count,
            faults: create.faults,
        };
        let resp = self
            .inner
            .http
            .post(url)
            .json(&body)
            .timeout(CREATE_JOB_TIMEOUT)
            .send()
            .await
            .map_err(|e| CoreError::CreateJob(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(CoreError::CreateJob(format!(
                "the backend answered {status}"
            )));
        }
        let body = read_capped(resp, MAX_REST_BODY).await.map_err(|f| {
            CoreError::CreateJob(match f {
                BodyFailure::TooLarge => {
                    format!("the answer is larger than {MAX_REST_BODY} bytes; not read")
                }
                other => format!("unreadable answer ({})", other.as_str()),
            })
        })?;
        // serde's message may quote a value of the answer, which holds a
        // token: say only where it went wrong.
        serde_json::from_slice(&body).map_err(|e| {
            CoreError::CreateJob(format!(
                "unreadable answer: not a create-job response (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }

    fn handle(&self, id: SocketId) -> Result<SocketHandle, CoreError> {
        self.lock().get(&id).cloned().ok_or(CoreError::Engine(
            sockscope_engine::Error::UnknownSocket(id),
        ))
    }

    /// Cancels a socket and forgets it.
    pub async fn remove_socket(&self, id: SocketId) -> Result<(), CoreError> {
        self.handle(id)?;
        self.lock().remove(&id);
        match self.inner.engine.remove_socket(id).await {
            // A socket whose task already ended (Cancelled, say) has nothing
            // left to cancel: it is forgotten all the same.
            Ok(()) | Err(sockscope_engine::Error::TaskEnded) => {}
            Err(e) => return Err(e.into()),
        }
        let keyring_job = self.keyring_jobs().remove(&id);
        if let Some(job) = keyring_job {
            KeyringToken::new(job).delete().await?;
        }
        Ok(())
    }

    fn keyring_jobs(&self) -> std::sync::MutexGuard<'_, BTreeMap<SocketId, String>> {
        locked(&self.inner.keyring_jobs)
    }

    /// Cancels a socket: no attempt is ever made again.
    pub async fn cancel(&self, id: SocketId) -> Result<(), CoreError> {
        Ok(self.handle(id)?.cancel().await?)
    }

    /// Reconnects now, from Backoff, Closed or Failed.
    pub async fn retry(&self, id: SocketId) -> Result<(), CoreError> {
        Ok(self.handle(id)?.retry().await?)
    }

    /// Waits until every socket has ended (Closed, Failed or Cancelled) and
    /// its job's final count is known or known to be unknown: a state sync
    /// still in flight or due is waited for, bounded by its own tries. On
    /// return every event of theirs is published (a snapshot goes out
    /// before its batch of events). Unbounded otherwise: wrap it in a
    /// timeout.
    pub async fn wait_all_ended(&self) -> Result<(), CoreError> {
        let handles: Vec<_> = self.lock().values().cloned().collect();
        for h in handles {
            h.wait_for(|s| s.settled()).await?;
            h.published().await?;
        }
        Ok(())
    }

    /// Ends the session: cancels live sockets, waits (within one
    /// [`STOP_BUDGET`] for all of them) until each has ended and published
    /// its last events, commits every event and marks the session ended,
    /// flushes telemetry, stops the simulator. A socket whose task is gone
    /// or that does not end in time does not keep the others from
    /// stopping: it is listed in [`SessionEnd::unstopped`]. A failed
    /// recording or export is reported in the [`SessionEnd`], not as an
    /// error.
    pub async fn stop(self) -> Result<SessionEnd, CoreError> {
        // No demo job arrives once the stop has begun.
        let endless = locked(&self.inner.endless).take();
        if let Some((stop, mut task)) = endless {
            let _ = stop.send(true);
            if tokio::time::timeout(STOP_BUDGET, &mut task).await.is_err() {
                task.abort();
            }
        }
        let watch = locked(&self.inner.environment).take();
        drop(watch);
        let handles: Vec<_> = self.lock().values().cloned().collect();
        let deadline = tokio::time::Instant::now() + STOP_BUDGET;
        let mut stopping = tokio::task::JoinSet::new();
        for h in handles {
            stopping.spawn(async move {
                let ended = tokio::time::timeout_at(deadline, stop_socket(&h)).await;
                (h.id(), matches!(ended, Ok(Ok(()))))
            });
        }
        let mut unstopped = Vec::new();
        while let Some(joined) = stopping.join_next().await {
            match joined {
                Ok((_, true)) => {}
                Ok((id, false)) => unstopped.push(id),
                Err(e) => return Err(CoreError::Task(e.to_string())),
            }
        }
        unstopped.sort_unstable();
        let recorder = self.inner.recorder.lock().await.take();
        let mut written = 0;
        if let Some(r) = recorder {
            let mut health = r.watch_health();
            match r.stop().await {
                Ok(summary) => written = summary.written,
                Err(e) => {
                    // The watch task has the reason unless it never ran.
                    let reason = match &*health.borrow_and_update() {
                        WriterHealth::Failed { reason } => reason.clone(),
                        _ => crate::error_line([&e as &(dyn std::error::Error + 'static)]),
                    };
                    let mut failed = locked(&self.inner.recording_failed);
                    failed.get_or_insert(reason);
                }
            }
        }
        let export = self.export().take();
        let export = match export {
            Some(export) => Some(export.end().await?),
            None => None,
        };
        if let Some(sim) = self.inner.sim.lock().await.take() {
            sim.shutdown().await;
        }
        Ok(SessionEnd {
            written,
            recording_failed: self.recording_failed(),
            export,
            unstopped,
        })
    }

    /// Switches live OTLP export on (`Some`), to another collector or
    /// service name, or off (`None`), while sockets run.
    ///
    /// The new export is built before the old one is touched, so a config
    /// the exporter refuses is an error and the current export goes on
    /// unchanged. Both then see the events around the switch: the old one
    /// ends its open intervals there (marked `sockscope.unfinished`) and is
    /// flushed, best effort: a collector that is down costs its own spans,
    /// not the switch, though it may hold this call for the exporter's
    /// timeout.
    ///
    /// The new export is seeded with the sockets already running: the
    /// interval open at the switch is named by the socket's state then
    /// (and starts there), and the socket's root span is sent again with
    /// its first span after the switch, both marked `sockscope.resumed`.
    /// Span ids other than the root's count from the switch, so they need
    /// not match an export from history.
    pub async fn set_telemetry(&self, config: Option<TelemetryConfig>) -> Result<(), CoreError> {
        let new = match &config {
            Some(cfg) => Some(LiveExport::start(
                cfg,
                &self.inner.engine,
                self.inner.report.session,
            )?),
            None => None,
        };
        let old = std::mem::replace(&mut *self.export(), new);
        if let Some(old) = old {
            // The switch has happened; a failed last export does not undo it.
            let _ = old.end().await;
        }
        Ok(())
    }

    fn export(&self) -> std::sync::MutexGuard<'_, Option<LiveExport>> {
        locked(&self.inner.export)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<SocketId, SocketHandle>> {
        locked(&self.inner.sockets)
    }
}

/// Live OTLP export: a provider and the task feeding it socket traces.
#[derive(Debug)]
struct LiveExport {
    telemetry: Telemetry,
    /// Ends the feed, so the traces end on their own and lose nothing.
    stop: oneshot::Sender<()>,
    traces: JoinHandle<u64>,
}

impl LiveExport {
    /// Subscribes only once the provider is built, so a refused config
    /// leaves no subscriber behind.
    fn start(
        config: &TelemetryConfig,
        engine: &Engine,
        session: SessionTag,
    ) -> Result<LiveExport, CoreError> {
        let telemetry = Telemetry::install(config)?;
        let events = engine.subscribe_lossless(8192);
        // Snapshots after subscribing: an event can then be in both (the
        // builder sorts that out), never in neither. None at session start.
        let since = wall_ns(SystemTime::now());
        let running: Vec<_> = engine
            .sockets()
            .iter()
            .map(RunningSocket::from_handle)
            .collect();
        let builder = TraceBuilder::resume(session, since, running);
        let (stop, stopped) = oneshot::channel::<()>();
        let traces = telemetry.spawn_live_traces_from(builder, events, async {
            // A dropped export stops its feed too.
            let _ = stopped.await;
        });
        Ok(LiveExport {
            telemetry,
            stop,
            traces,
        })
    }

    /// Turns every event published so far into spans, then flushes and
    /// shuts the provider down, best effort: what the collector did not
    /// take is counted, not an error.
    async fn end(self) -> Result<ExportEnd, CoreError> {
        let _ = self.stop.send(());
        let spans = self
            .traces
            .await
            .map_err(|e| CoreError::Task(e.to_string()))?;
        let telemetry = self.telemetry;
        let delivery = telemetry.watch_delivery();
        let ended = tokio::task::spawn_blocking(move || {
            telemetry.flush()?;
            telemetry.shutdown()
        })
        .await
        .map_err(|e| CoreError::Task(e.to_string()))?;
        let seen = delivery.borrow().clone();
        let first_error = seen.first_error.or_else(|| {
            ended
                .err()
                .map(|e| crate::error_line([&e as &(dyn std::error::Error + 'static)]))
        });
        Ok(ExportEnd {
            spans,
            delivered: seen.delivered,
            first_error,
        })
    }
}

/// Ends one socket for [`Session::stop`]: cancels it if it still runs,
/// waits for a terminal state, then for its last events to be published.
async fn stop_socket(h: &SocketHandle) -> Result<(), sockscope_engine::Error> {
    if !h.snapshot().state.is_terminal() {
        h.cancel().await?;
    }
    h.wait_for(|s| s.state.is_terminal()).await?;
    h.published().await
}

/// Tells everyone once when the writer stops for good: the session's
/// status, and an engine-wide event. A writer that vanishes without a word
/// (a panic) counts as failed; a clean stop ends the watch quietly.
async fn watch_recorder(
    mut health: watch::Receiver<WriterHealth>,
    engine: Engine,
    failed: Arc<Mutex<Option<String>>>,
) {
    let reason = loop {
        let closed = health.changed().await.is_err();
        match &*health.borrow_and_update() {
            WriterHealth::Stopped => return,
            WriterHealth::Failed { reason } => break reason.clone(),
            _ if closed => break "the recorder's writer thread ended abnormally".to_owned(),
            _ => {}
        }
    };
    let reason = sockscope_recorder::redact::free_text(&reason);
    *locked(&failed) = Some(reason.clone());
    engine.recording_failed(reason).await;
}

/// The OS keyring entry of a job. Whether a keyring answers shows at the
/// first connect, as a `TokenUnavailable` naming the source.
fn keyring_source(job_id: &str) -> Result<Arc<dyn TokenSource>, CoreError> {
    Ok(Arc::new(KeyringToken::new(job_id)))
}

/// Locks `m`. A holder that panicked left data that is still whole here
/// (each guarded value is replaced or taken in one step), so go on.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
