//! The one writer thread: it drains the lossless subscription in batches
//! and commits each batch in one transaction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sockscope_engine::Event;
use tokio::sync::{mpsc, oneshot, watch};

use crate::Error;
use crate::kinds::frame::{self, EventHead};
use crate::kinds::{EventBody, FrameRow, INSERT_EVENT, Insert, Kind, SocketTrack};
use crate::record::{EventRecord, wall_ns};
use crate::store::{self, OpenReport, Retention, SessionTag};

/// Recorder settings.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// The database file. Created, with its directory, if missing.
    pub path: PathBuf,
    /// A batch is committed once it holds this many events. Default 2048.
    pub batch_events: usize,
    /// ...or once its first event has waited this long. Default 50 ms: the
    /// most a crash can lose is the last 50 ms or 2048 events.
    pub flush_interval: Duration,
    /// Frame payloads are kept up to this many bytes (after scrubbing; a
    /// binary payload's bytes, before base64); `None` keeps none. Default
    /// `Some(4096)`.
    pub payload_cap: Option<usize>,
    /// How long recordings are kept. Default: see [`Retention`].
    pub retention: Retention,
    /// How long a statement waits for another connection's lock. Default 5 s.
    pub busy_timeout: Duration,
    /// Recorded in the session row. Default: this crate's version.
    pub app_version: String,
    /// The most the running session may add to the file, in bytes (its
    /// rows and their index entries, measured by the file's pages in use).
    /// Once a commit takes it past this, recording stops: the session ends
    /// as `capped`, the writer lets go of the channel (the engine is never
    /// held back) and reports [`Error::SessionFull`]. Retention never prunes
    /// a running session, so this is what keeps one long run from filling
    /// the disk. Default `Some(1 GiB)`, as [`Retention::max_bytes`]; `None`
    /// sets no cap.
    pub max_session_bytes: Option<u64>,
    /// How a commit that failed for a reason that may pass (disk full,
    /// busy, locked) is tried again before the writer gives up. Default:
    /// see [`CommitRetry`].
    pub commit_retry: CommitRetry,
}

/// Tries of a failed commit: the waits between them start at
/// `first_wait` and double up to `max_wait`. The defaults (6 tries,
/// 100 ms doubling to 2 s) give up after about 5 s, so a disk that frees
/// up in that time loses nothing, and a full one is declared dead soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRetry {
    /// Tries after the first failure. Default 6.
    pub tries: u32,
    /// Wait before the first retry. Default 100 ms.
    pub first_wait: Duration,
    /// Longest wait. Default 2 s.
    pub max_wait: Duration,
}

impl Default for CommitRetry {
    fn default() -> Self {
        CommitRetry {
            tries: 6,
            first_wait: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
        }
    }
}

impl CommitRetry {
    /// The wait before retry `n` (1-based).
    fn wait(&self, n: u32) -> Duration {
        let doubled = self
            .first_wait
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
        doubled.min(self.max_wait)
    }
}

/// How the writer is doing, for whoever must tell a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterHealth {
    /// Committing as events come.
    Writing,
    /// A commit failed for a reason that may pass; it is being tried again
    /// (events wait, and so, once the channel is full, does the engine).
    Retrying {
        /// Retries so far.
        tries: u32,
        /// The last failure, scrubbed.
        error: String,
    },
    /// The writer stopped for good: nothing after this is recorded.
    Failed {
        /// Why, scrubbed, naming the file.
        reason: String,
    },
    /// The writer stopped cleanly.
    Stopped,
}

impl RecorderConfig {
    /// Defaults, recording to `path`.
    pub fn new(path: impl Into<PathBuf>) -> RecorderConfig {
        RecorderConfig {
            path: path.into(),
            batch_events: 2048,
            flush_interval: Duration::from_millis(50),
            payload_cap: Some(4096),
            retention: Retention::default(),
            busy_timeout: Duration::from_secs(5),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_session_bytes: Some(1 << 30),
            commit_retry: CommitRetry::default(),
        }
    }
}

/// What the writer did, once it has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterSummary {
    /// The session written.
    pub session: SessionTag,
    /// Events taken from the channel.
    pub received: u64,
    /// Events committed. Equals `received` unless the writer failed.
    pub written: u64,
    /// Transactions committed.
    pub batches: u64,
}

/// Where the writer stood when it answered a sync request
/// ([`Recorder::sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPoint {
    /// Events of the session committed.
    pub written: u64,
    /// `events.id` of the last of them; `None` while there is none.
    pub last_event_id: Option<i64>,
}

/// Asks the writer for sync points without holding the [`Recorder`]:
/// cheap to clone.
#[derive(Debug, Clone)]
pub struct RecorderSync(mpsc::Sender<oneshot::Sender<SyncPoint>>);

impl RecorderSync {
    /// Waits until every event the channel held when asked is committed,
    /// and says where the writer then stood. Events sent after this call
    /// may or may not be in it. [`Error::WriterStopped`] once the writer has
    /// stopped, for whatever reason: it will commit nothing more;
    /// [`Error::SyncTimedOut`] if that takes longer than `within`.
    pub async fn sync(&self, within: Duration) -> Result<SyncPoint, Error> {
        let ask = async {
            let (tx, rx) = oneshot::channel();
            self.0.send(tx).await.map_err(|_| Error::WriterStopped)?;
            rx.await.map_err(|_| Error::WriterStopped)
        };
        tokio::time::timeout(within, ask)
            .await
            .map_err(|_| Error::SyncTimedOut(within))?
    }
}

/// Sync requests the writer holds at once; more wait to be taken.
const SYNC_QUEUE: usize = 64;

/// Records a lossless event subscription into SQLite on its own thread.
/// Dropping it detaches the thread, which records until every sender of
/// the channel is gone; [`Recorder::finish`] or [`Recorder::stop`] also
/// wait for the last commit and report.
#[derive(Debug)]
pub struct Recorder {
    session: SessionTag,
    written: watch::Receiver<u64>,
    syncs: RecorderSync,
    health: watch::Receiver<WriterHealth>,
    stop: Option<oneshot::Sender<()>>,
    done: oneshot::Receiver<Result<WriterSummary, Error>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Opens the database (moving a corrupt or foreign file aside, marking
    /// crashed sessions, applying retention), begins a session and starts
    /// the writer thread on `events`. Blocks on disk while opening: call it
    /// before the engine runs, or from `spawn_blocking`.
    pub fn start(
        config: RecorderConfig,
        events: mpsc::Receiver<Arc<Event>>,
    ) -> Result<(Recorder, OpenReport), Error> {
        let (conn, created, moved_aside) =
            store::open_for_write(&config.path, config.busy_timeout)?;
        let host = store::host_name();
        let crashed_sessions = store::mark_crashed(&conn, &host)?;
        let pruned_sessions = store::prune(&conn, &config.retention, None)?;
        let session = store::begin_session(&conn, &host, &config.app_version)?;
        let report = OpenReport {
            path: config.path.clone(),
            session,
            schema_version: crate::schema::SCHEMA_VERSION,
            created,
            moved_aside,
            crashed_sessions,
            pruned_sessions,
        };
        let size = SessionSize {
            cap: config.max_session_bytes,
            live_seen: store::live_bytes(&conn)?,
            used: 0,
        };
        let (written_tx, written) = watch::channel(0u64);
        let (sync_tx, sync_rx) = mpsc::channel(SYNC_QUEUE);
        let (health_tx, health) = watch::channel(WriterHealth::Writing);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let mut writer = Writer {
            conn,
            session,
            payload_cap: config.payload_cap,
            batch: config.batch_events.max(1),
            interval: config.flush_interval,
            retention: config.retention.clone(),
            written: written_tx,
            health: health_tx,
            path: config.path.clone(),
            retry: config.commit_retry.clone(),
            sockets: HashMap::new(),
            received: 0,
            batches: 0,
            last_event_id: None,
            size,
            frame_run: FrameRunSql::new(FRAME_ROWS_PER_INSERT),
        };
        let thread = std::thread::Builder::new()
            .name("sockscope-recorder".into())
            .spawn(move || {
                let result = writer.run(events, sync_rx, stop_rx);
                writer.health.send_replace(match &result {
                    Ok(_) => WriterHealth::Stopped,
                    Err(e) => WriterHealth::Failed {
                        reason: failure_reason(&writer.path, e),
                    },
                });
                let _ = done_tx.send(result);
            })
            .map_err(|e| Error::io("spawning the writer thread for", &config.path, e))?;
        Ok((
            Recorder {
                session,
                written,
                syncs: RecorderSync(sync_tx),
                health,
                stop: Some(stop_tx),
                done: done_rx,
                thread: Some(thread),
            },
            report,
        ))
    }

    /// The session being recorded.
    pub fn session(&self) -> SessionTag {
        self.session
    }

    /// Events committed so far.
    pub fn written(&self) -> u64 {
        *self.written.borrow()
    }

    /// Watches the count of events committed; it changes once per batch.
    pub fn watch_written(&self) -> watch::Receiver<u64> {
        self.written.clone()
    }

    /// Waits until every event the channel held when asked is committed;
    /// see [`RecorderSync::sync`].
    pub async fn sync(&self, within: Duration) -> Result<SyncPoint, Error> {
        self.syncs.sync(within).await
    }

    /// A handle for [`Recorder::sync`] that outlives a borrow of this.
    pub fn sync_handle(&self) -> RecorderSync {
        self.syncs.clone()
    }

    /// Watches the writer's health. A writer thread that dies without
    /// saying so (a panic) closes the channel while it still reads
    /// `Writing` or `Retrying`: take that as failed too.
    pub fn watch_health(&self) -> watch::Receiver<WriterHealth> {
        self.health.clone()
    }

    /// Waits until every sender of the channel is gone and every event is
    /// committed, then ends the session cleanly.
    pub async fn finish(mut self) -> Result<WriterSummary, Error> {
        self.wait().await
    }

    /// Stops taking events now: what the channel already holds is
    /// committed, later sends fail. Ends the session cleanly.
    pub async fn stop(mut self) -> Result<WriterSummary, Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }

    async fn wait(&mut self) -> Result<WriterSummary, Error> {
        let result = (&mut self.done).await.map_err(|_| Error::WriterGone)?;
        if let Some(t) = self.thread.take() {
            // It has sent its result; joining is immediate.
            t.join().map_err(|_| Error::WriterGone)?;
        }
        result
    }
}

struct Writer {
    conn: Connection,
    session: SessionTag,
    payload_cap: Option<usize>,
    batch: usize,
    interval: Duration,
    retention: Retention,
    written: watch::Sender<u64>,
    health: watch::Sender<WriterHealth>,
    path: PathBuf,
    retry: CommitRetry,
    sockets: HashMap<u64, SocketTrack>,
    received: u64,
    batches: u64,
    /// `events.id` of the last event committed.
    last_event_id: Option<i64>,
    size: SessionSize,
    frame_run: FrameRunSql,
}

/// What the running session has added to the file, against its cap.
#[derive(Debug)]
struct SessionSize {
    cap: Option<u64>,
    /// The file's bytes in use when last looked at.
    live_seen: u64,
    /// The session's share of them: every growth since it began.
    used: u64,
}

impl SessionSize {
    /// Counts the growth since the last look as the session's.
    fn grew_to(&mut self, live: u64) {
        self.used += live.saturating_sub(self.live_seen);
        self.live_seen = live;
    }

    /// Takes space freed by retention (other sessions') as the new base.
    fn shrank_to(&mut self, live: u64) {
        self.live_seen = live;
    }

    fn over(&self) -> Option<u64> {
        self.cap.filter(|&cap| self.used > cap)
    }
}

/// Sync requests taken, each with the count of events taken from the
/// channel it waits for.
#[derive(Debug, Default)]
struct SyncWaits(Vec<(u64, oneshot::Sender<SyncPoint>)>);

impl SyncWaits {
    /// Takes a request that waits until `target` events have been taken
    /// from the channel: those taken so far plus those it holds now.
    /// Returns false once every requester is gone.
    fn take(&mut self, asked: Option<oneshot::Sender<SyncPoint>>, target: u64) -> bool {
        match asked {
            Some(reply) => {
                self.0.push((target, reply));
                true
            }
            None => false,
        }
    }

    /// Whether a request waits for no more than `taken` events.
    fn due(&self, taken: u64) -> bool {
        self.0.iter().any(|(target, _)| *target <= taken)
    }

    /// Answers every request that `point` satisfies.
    fn answer(&mut self, point: SyncPoint) {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(target, _)| *target <= point.written);
        self.0 = waiting;
        for (_, reply) in done {
            // The asker may have given up; nothing to do then.
            let _ = reply.send(point);
        }
    }
}

/// Retention is applied again after this many batches.
const PRUNE_EVERY_BATCHES: u64 = 4096;

impl Writer {
    fn run(
        &mut self,
        mut rx: mpsc::Receiver<Arc<Event>>,
        mut syncs: mpsc::Receiver<oneshot::Sender<SyncPoint>>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<WriterSummary, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| Error::io("starting the writer runtime for", "sqlite", e))?;
        let mut waits = SyncWaits::default();
        let result = rt.block_on(async {
            let mut buf: Vec<Arc<Event>> = Vec::with_capacity(self.batch);
            let mut stopping = false;
            let mut closed = false;
            let mut syncs_open = true;
            while !closed {
                if buf.is_empty() {
                    tokio::select! {
                        n = rx.recv_many(&mut buf, self.batch) => if n == 0 { break },
                        asked = syncs.recv(), if syncs_open => {
                            syncs_open = waits.take(asked, self.received + rx.len() as u64);
                            waits.answer(self.point());
                            continue
                        }
                        asked = &mut stop, if !stopping => { stopping = true; close_if_asked(&mut rx, asked); continue }
                    }
                }
                let deadline = tokio::time::Instant::now() + self.interval;
                // A batch ends when full, when its first event has waited
                // long enough, or as soon as it completes a sync request.
                while buf.len() < self.batch && !waits.due(self.received + buf.len() as u64) {
                    let room = self.batch - buf.len();
                    tokio::select! {
                        biased;
                        asked = syncs.recv(), if syncs_open => {
                            let queued = (buf.len() + rx.len()) as u64;
                            syncs_open = waits.take(asked, self.received + queued);
                        }
                        n = rx.recv_many(&mut buf, room) => if n == 0 { closed = true; break },
                        asked = &mut stop, if !stopping => { stopping = true; close_if_asked(&mut rx, asked) }
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
                self.commit(&buf)?;
                buf.clear();
                waits.answer(self.point());
                self.check_size()?;
                if self.batches % PRUNE_EVERY_BATCHES == 0 {
                    store::prune(&self.conn, &self.retention, Some(self.session.id))?;
                    self.size.shrank_to(store::live_bytes(&self.conn)?);
                }
            }
            Ok::<_, Error>(())
        });
        // Everything taken is committed: whoever still waits is answered.
        // After a failure they are not; they learn the writer is gone.
        if result.is_ok() {
            let point = self.point();
            for (_, reply) in waits.0.drain(..) {
                let _ = reply.send(point);
            }
        }
        let end_state = match &result {
            Ok(()) => "clean",
            Err(Error::SessionFull { .. }) => "capped",
            Err(_) => "crashed",
        };
        let ended = self.conn.execute(
            "UPDATE sessions SET ended_ns = ?1, end_state = ?2 WHERE id = ?3",
            params![wall_ns(SystemTime::now()), end_state, self.session.id],
        );
        result?;
        ended?;
        let written = *self.written.borrow();
        Ok(WriterSummary {
            session: self.session,
            received: self.received,
            written,
            batches: self.batches,
        })
    }

    fn point(&self) -> SyncPoint {
        SyncPoint {
            written: *self.written.borrow(),
            last_event_id: self.last_event_id,
        }
    }

    /// Stops recording once the session has outgrown its cap.
    fn check_size(&mut self) -> Result<(), Error> {
        if self.size.cap.is_none() {
            return Ok(());
        }
        self.size.grew_to(store::live_bytes(&self.conn)?);
        match self.size.over() {
            None => Ok(()),
            Some(cap) => {
                let written = *self.written.borrow();
                tracing::error!(
                    cap,
                    written,
                    "the session reached its recording cap; recording stopped"
                );
                Err(Error::SessionFull { cap, written })
            }
        }
    }

    fn commit(&mut self, batch: &[Arc<Event>]) -> Result<(), Error> {
        self.received += batch.len() as u64;
        let records: Vec<EventRecord> = batch
            .iter()
            .map(|e| EventRecord::from_event(e, self.payload_cap))
            .collect();
        let mut tries = 0;
        loop {
            match self.try_commit(&records) {
                Ok(()) => {
                    if tries > 0 {
                        self.health.send_replace(WriterHealth::Writing);
                    }
                    break;
                }
                Err(e) if retryable(&e) && tries < self.retry.tries => {
                    tries += 1;
                    let error = crate::redact::free_text(&e.to_string());
                    tracing::warn!(%error, tries, "recorder commit failed; retrying");
                    self.health
                        .send_replace(WriterHealth::Retrying { tries, error });
                    // A backoff on the writer's own thread: the engine
                    // waits on the full channel meanwhile, by design.
                    std::thread::sleep(self.retry.wait(tries));
                }
                Err(e) => {
                    tracing::error!(error = %e, "recorder commit failed; giving up");
                    return Err(e.into());
                }
            }
        }
        self.batches += 1;
        self.written.send_modify(|n| *n += batch.len() as u64);
        Ok(())
    }

    fn try_commit(&mut self, records: &[EventRecord]) -> rusqlite::Result<()> {
        // The links of the sockets this batch touches, kept apart until the
        // commit: a rolled-back try must not leave links to rows that are gone.
        let mut touched: HashMap<u64, SocketTrack> = HashMap::new();
        // The write lock from the start: the batch's ids, taken at once,
        // stay unique in the file and in commit order with another writer
        // on it.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let first: i64 = tx.prepare_cached(NEXT_ID)?.query_row([], |r| r.get(0))?;
        let batch = Batch {
            session: self.session.id,
            first_id: first,
            records,
        };
        batch.insert(&tx, &self.sockets, &mut touched, &self.frame_run)?;
        tx.execute(
            "UPDATE sessions SET event_count = event_count + ?1 WHERE id = ?2",
            params![records.len() as i64, self.session.id],
        )?;
        tx.commit()?;
        self.sockets.extend(touched);
        let last = records.len().checked_sub(1).map(|n| first + n as i64);
        self.last_event_id = last.or(self.last_event_id);
        Ok(())
    }
}

/// `Recorder::stop` closes the channel; a dropped `Recorder` does not (the
/// writer then runs until the senders are gone).
fn close_if_asked(
    rx: &mut mpsc::Receiver<Arc<Event>>,
    asked: Result<(), oneshot::error::RecvError>,
) {
    if asked.is_ok() {
        rx.close();
    }
}

/// What a person needs of a writer's failure: what failed, and the file.
fn failure_reason(path: &std::path::Path, e: &Error) -> String {
    crate::redact::free_text(&format!("{e} (recording to {})", path.display()))
}

fn retryable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull)
    )
}

/// The next event id: past the largest (the end of `events_by_id`).
const NEXT_ID: &str = "SELECT coalesce(max(id), 0) + 1 FROM events";

/// Frames go in this many rows to a statement (the rest of a run of
/// consecutive frames one row each).
const FRAME_ROWS_PER_INSERT: usize = 32;

/// A multi-row frame insert: its rows and its SQL, made once.
struct FrameRunSql {
    rows: usize,
    sql: String,
}

impl FrameRunSql {
    fn new(rows: usize) -> FrameRunSql {
        FrameRunSql {
            rows,
            sql: frame::insert_rows_sql(rows),
        }
    }
}

/// The statements almost every event runs, looked up once a batch.
struct Hot<'c> {
    event: rusqlite::CachedStatement<'c>,
    frame: rusqlite::CachedStatement<'c>,
    /// [`FrameRunSql`]'s statement, of `frame_rows` rows.
    frames: rusqlite::CachedStatement<'c>,
    frame_rows: usize,
}

/// A batch's events, numbered from `first_id`.
struct Batch<'r> {
    session: i64,
    first_id: i64,
    records: &'r [EventRecord],
}

impl Batch<'_> {
    /// Inserts the events and their detail rows, keeping the links of the
    /// sockets they touch in `touched` (the others' from `sockets`). Runs
    /// of consecutive frames go `frame_run.rows` to a statement.
    fn insert(
        &self,
        tx: &Transaction<'_>,
        sockets: &HashMap<u64, SocketTrack>,
        touched: &mut HashMap<u64, SocketTrack>,
        frame_run: &FrameRunSql,
    ) -> rusqlite::Result<()> {
        let mut hot = Hot {
            event: tx.prepare_cached(INSERT_EVENT)?,
            frame: tx.prepare_cached(<FrameRow as Kind>::INSERT)?,
            frames: tx.prepare_cached(&frame_run.sql)?,
            frame_rows: frame_run.rows,
        };
        let mut run: Vec<(EventHead, &FrameRow)> = Vec::with_capacity(frame_run.rows);
        for (r, id) in self.records.iter().zip(self.first_id..) {
            let known = || sockets.get(&r.socket_id).copied().unwrap_or_default();
            let track = touched.entry(r.socket_id).or_insert_with(known);
            if let EventBody::Frame(f) = &r.body {
                // Its row waits for the run's statement; its link does not.
                track.last_frame = Some(id);
                run.push((self.head(id, r), f));
                if run.len() == hot.frame_rows {
                    insert_frames(&mut hot, &run)?;
                    run.clear();
                }
                continue;
            }
            // This event's detail rows may refer to the frames before it.
            insert_frames(&mut hot, &run)?;
            run.clear();
            insert(tx, &mut hot, self.session, id, r, track)?;
        }
        insert_frames(&mut hot, &run)
    }

    fn head(&self, event_id: i64, r: &EventRecord) -> EventHead {
        EventHead {
            session: self.session,
            event_id,
            socket_id: r.socket_id,
            mono_ns: r.mono_ns,
            wall_ns: r.wall_ns,
        }
    }
}

/// Inserts the `events` rows of a run of frames: a full run in one
/// statement, a shorter one row by row.
fn insert_frames(hot: &mut Hot<'_>, run: &[(EventHead, &FrameRow)]) -> rusqlite::Result<()> {
    if run.len() == hot.frame_rows {
        for (n, (head, f)) in run.iter().enumerate() {
            f.bind(&mut hot.frames, n, head)?;
        }
        hot.frames.raw_execute()?;
        return Ok(());
    }
    for (head, f) in run {
        f.bind(&mut hot.frame, 0, head)?;
        hot.frame.raw_execute()?;
    }
    Ok(())
}

/// Inserts event `event_id` and its detail rows; keeps the socket's links.
fn insert(
    tx: &Transaction<'_>,
    hot: &mut Hot<'_>,
    session: i64,
    event_id: i64,
    r: &EventRecord,
    track: &mut SocketTrack,
) -> rusqlite::Result<()> {
    let previous_frame = track.last_frame.take();
    let mut at = Insert {
        tx,
        session,
        socket_id: r.socket_id,
        event_id,
        mono_ns: r.mono_ns,
        wall_ns: r.wall_ns,
        track,
        previous_frame,
    };
    r.body.insert(&mut at, &mut hot.event, &mut hot.frame)
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use super::*;
    use crate::kinds::tests::samples;

    /// Frames in multi-row statements store what one statement per frame
    /// does: the same rows, ids and links, over a run of two full
    /// statements and a remainder, runs broken by kinds whose detail rows
    /// link to the frame before them, and a run of one at the end.
    #[test]
    fn multi_row_frames_store_what_single_rows_do() {
        let rows = 4;
        let mut records = vec![
            record(1, sample("socket_added")),
            record(2, sample("socket_added")),
        ];
        // Ids 3..=13, the two sockets in turn: socket 1's last is 13.
        records.extend((0..2 * rows as u64 + 3).map(|n| record(1 + n % 2, frame(n))));
        records.push(record(1, sample("finding")));
        // Ids 15..=19 on socket 2, then its finding (20) and one frame (21).
        records.extend((0..rows as u64 + 1).map(|n| record(2, frame(100 + n))));
        records.push(record(2, sample("finding")));
        records.push(record(2, frame(200)));
        // Distinct times: an event's place in `events` is (session, time, id).
        for (n, r) in records.iter_mut().enumerate() {
            r.mono_ns = n as u64 + 1;
            r.wall_ns = n as i64 * 10;
        }

        let (multi, findings) = written(&records, FrameRunSql::new(rows));
        let (single, _) = written(&records, FrameRunSql::new(1));
        assert_eq!(multi, single);
        assert_eq!(findings, vec![(14, Some(13)), (20, Some(19))]);
        let events = multi.iter().find(|(table, _)| table == "events").unwrap();
        assert_eq!(events.1.len(), records.len());
    }

    /// Each table's name and rows, as text, sorted.
    type Tables = Vec<(String, Vec<String>)>;

    /// Every table's rows (as text, sorted) and the socket links after
    /// inserting `records` as one batch, plus each finding's frame link.
    fn written(
        records: &[EventRecord],
        frame_run: FrameRunSql,
    ) -> (Tables, Vec<(i64, Option<i64>)>) {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn.execute(
            "INSERT INTO sessions (id, started_ns, host, app_version, pid, trace_salt) VALUES (1, 0, 'h', 'v', 1, 0)",
            [],
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        let batch = Batch {
            session: 1,
            first_id: 1,
            records,
        };
        let mut touched = HashMap::new();
        batch
            .insert(&tx, &HashMap::new(), &mut touched, &frame_run)
            .unwrap();
        tx.commit().unwrap();

        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut dump: Tables = tables
            .into_iter()
            .map(|table| {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
                let columns = stmt.column_count();
                let mut rows: Vec<String> = stmt
                    .query_map([], |r| {
                        let row: Vec<Value> =
                            (0..columns).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                        Ok(format!("{row:?}"))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                rows.sort();
                (table, rows)
            })
            .collect();
        let mut links: Vec<String> = touched
            .iter()
            .map(|(socket, track)| format!("{socket}: {track:?}"))
            .collect();
        links.sort();
        dump.push(("socket links".into(), links));
        let findings = conn
            .prepare("SELECT event_id, frame_event_id FROM findings ORDER BY event_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (dump, findings)
    }

    fn record(socket_id: u64, body: EventBody) -> EventRecord {
        EventRecord {
            event_id: 0,
            socket_id,
            mono_ns: 0,
            wall_ns: 0,
            body,
        }
    }

    fn frame(n: u64) -> EventBody {
        EventBody::Frame(FrameRow {
            direction: if n % 3 == 0 { "out" } else { "in" }.into(),
            opcode: "text".into(),
            size: 10 + n,
            message_type: (n % 2 == 0).then(|| "progress".into()),
            seq: Some(n),
            msg_id: (n % 4 == 1).then_some(n * 7),
            close_code: None,
            payload: (n % 5 == 0).then(|| format!("{{\"seq\":{n}}}")),
            payload_truncated: n % 10 == 0,
        })
    }

    /// The kinds' own sample of `kind`.
    fn sample(kind: &str) -> EventBody {
        samples().into_iter().find(|b| b.kind() == kind).unwrap()
    }
}
