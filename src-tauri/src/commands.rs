//! The commands the webview may call (each has one `allow-*` permission in
//! capabilities/main.json). They are thin: the app core does the work.

use std::path::PathBuf;

use sockscope_core::history::History;
use sockscope_core::{Session, scenario};
use sockscope_recorder::{WindowQuery, export};
use tauri::State;
use tauri::ipc::Channel;

use crate::error::UiError;
use crate::live;
use crate::recording::Recording;
use crate::token_guard::TokenGuard;
use crate::transfer::{
    AddSocketRequest, AppInfo, CursorIo, EventPageOut, ImportedSession, LiveBatch, OtlpSettings,
    RecordRequest, RecordingEnded, RecordingStarted, ScenarioRow, SessionRow, SocketRow,
};
use crate::ui_event::UiEvent;

/// What every command may reach.
#[derive(Debug)]
pub struct AppState {
    /// The running session.
    pub session: Session,
    /// Where exports go.
    pub export_dir: PathBuf,
    /// The OTLP settings file.
    pub otlp_path: PathBuf,
    /// The token sources `add_socket` may name, and their hosts.
    pub guard: TokenGuard,
    /// The recording proxy of "record…", while one runs.
    pub recording: Recording,
}

type Res<T> = Result<T, UiError>;

/// Runs blocking work (SQLite, files) off the async runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Res<T> + Send + 'static) -> Res<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| UiError::new("task", e.to_string()))?
}

macro_rules! register {
    ($($command:ident),+ $(,)?) => {
        tauri::generate_handler![$($command),+]
    };
}

/// Registers every command of `command_names.rs`.
pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    with_app_commands!(register)
}

#[tauri::command]
fn app_info(state: State<'_, AppState>) -> AppInfo {
    let s = &state.session;
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        demo: s.is_demo(),
        session_id: s.session_id(),
        db_path: s.db_path().to_path_buf(),
        now: s.engine().now().0,
        warnings: s.warnings().iter().map(|w| w.message.clone()).collect(),
        recording_failed: s.recording_failed(),
    }
}

/// Starts the live stream on `channel`: first what the recorder already
/// holds for this session, then live events, one batch per frame.
#[tauri::command]
async fn subscribe(state: State<'_, AppState>, channel: Channel<LiveBatch>) -> Res<()> {
    let session = state.session.clone();
    let (history, first) = live::start(&session).await?;
    tauri::async_runtime::spawn(live::forward(session, history, first, channel));
    Ok(())
}

#[tauri::command]
fn sockets(state: State<'_, AppState>) -> Vec<SocketRow> {
    SocketRow::all(&state.session)
}

#[tauri::command]
async fn add_socket(state: State<'_, AppState>, request: AddSocketRequest) -> Res<u64> {
    state.guard.check(&request.token, &request.url)?;
    Ok(state.session.add_socket(request.into_spec()?).await?)
}

#[tauri::command]
async fn remove_socket(state: State<'_, AppState>, id: u64) -> Res<()> {
    Ok(state.session.remove_socket(id).await?)
}

#[tauri::command]
async fn cancel_socket(state: State<'_, AppState>, id: u64) -> Res<()> {
    Ok(state.session.cancel(id).await?)
}

#[tauri::command]
async fn retry_socket(state: State<'_, AppState>, id: u64) -> Res<()> {
    Ok(state.session.retry(id).await?)
}

/// Runs `f` on the session's database, off the async threads.
async fn with_history<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&History) -> Res<T> + Send + 'static,
) -> Res<T> {
    let db = state.session.db_path().to_path_buf();
    blocking(move || f(&History::open(&db)?)).await
}

#[tauri::command]
async fn sessions(state: State<'_, AppState>) -> Res<Vec<SessionRow>> {
    with_history(&state, |h| {
        let mut out: Vec<SessionRow> = h.sessions()?.into_iter().map(SessionRow::from).collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.id));
        Ok(out)
    })
    .await
}

#[tauri::command]
async fn session_events(
    state: State<'_, AppState>,
    session_id: i64,
    after: Option<CursorIo>,
    page_size: usize,
) -> Res<EventPageOut> {
    let mut q = WindowQuery::whole_session(session_id, page_size.clamp(1, 100_000));
    q.after = after.map(Into::into);
    with_history(&state, move |h| {
        let page = h.page(&q)?;
        Ok(EventPageOut {
            events: UiEvent::from_records(page.events)?,
            next: page.next.map(Into::into),
        })
    })
    .await
}

#[tauri::command]
fn scenarios() -> Vec<ScenarioRow> {
    scenario::catalog()
        .iter()
        .map(|s| ScenarioRow {
            id: s.id,
            race: s.race,
            seed: s.seed,
            expected: s.expected.iter().map(|c| c.as_str()).collect(),
        })
        .collect()
}

#[tauri::command]
async fn run_scenario(id: String) -> Res<crate::scenario_view::ScenarioResult> {
    let report = scenario::run(&id).await?;
    crate::scenario_view::ScenarioResult::try_from(&report)
}

/// Writes a session in `format` (an [`export::Format`] name) to the export
/// directory and returns the file's path.
#[tauri::command]
async fn export_session(
    state: State<'_, AppState>,
    session_id: i64,
    format: String,
) -> Res<PathBuf> {
    let Some(format) = export::Format::from_name(&format) else {
        return Err(UiError::new(
            "bad_request",
            format!(
                "unknown export format `{format}` (one of: {})",
                export::Format::names()
            ),
        ));
    };
    std::fs::create_dir_all(&state.export_dir)?;
    let path = state.export_dir.join(format!(
        "sockscope-session-{session_id}.{}",
        format.file_suffix()
    ));
    let out = path.clone();
    // All or nothing: a failed export leaves no file and an old one intact.
    with_history(
        &state,
        move |h| Ok(h.export_file(session_id, format, &out)?),
    )
    .await?;
    Ok(path)
}

/// Imports a HAR file as a new session of the app's database; "import
/// HAR…" and a file dropped on the window both end here. The file is read
/// and recorded on blocking threads (the importer's own); a bad file's
/// error names the entry, and what came before it is kept.
#[tauri::command]
async fn import_har(state: State<'_, AppState>, path: PathBuf) -> Res<ImportedSession> {
    let db = state.session.db_path().to_path_buf();
    let options = sockscope_core::capture::ImportOptions::default();
    let report = sockscope_core::capture::import_har(&path, &db, options).await?;
    Ok(report.into())
}

/// Starts a recording proxy (as `sockscope record`) into a new session of
/// the app's database; its live events go to `channel` until it stops.
#[tauri::command]
async fn start_recording(
    state: State<'_, AppState>,
    request: RecordRequest,
    channel: Channel<LiveBatch>,
) -> Res<RecordingStarted> {
    let db = state.session.db_path().to_path_buf();
    state.recording.start(&db, request, channel).await
}

/// Stops the recording and waits for its session to be written.
#[tauri::command]
async fn stop_recording(state: State<'_, AppState>) -> Res<RecordingEnded> {
    state.recording.stop().await
}

/// The system's file picker, showing HAR files; `None` when cancelled.
#[tauri::command]
async fn pick_har_file(app: tauri::AppHandle) -> Option<PathBuf> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Import a HAR file")
        .add_filter("HAR", &["har"])
        .pick_file(move |file| {
            let _ = tx.send(file);
        });
    rx.await.ok().flatten().and_then(|f| f.into_path().ok())
}

#[tauri::command]
fn otlp_settings(state: State<'_, AppState>) -> Res<OtlpSettings> {
    crate::settings::load_otlp(&state.otlp_path)
}

/// Saves the OTLP settings and applies them to the running session at once.
#[tauri::command]
async fn set_otlp_settings(state: State<'_, AppState>, settings: OtlpSettings) -> Res<()> {
    if !matches!(settings.protocol.as_str(), "grpc" | "http_protobuf") {
        return Err(UiError::new(
            "bad_request",
            "protocol is grpc or http_protobuf",
        ));
    }
    // Switch the running session first: settings it cannot take are not
    // saved, and the export that was running keeps running.
    state.session.set_telemetry(settings.telemetry()).await?;
    crate::settings::save_otlp(&state.otlp_path, &settings)
}

/// The window's first frame with data is on screen. Logged with the wall
/// clock, so that a script that started the process can tell how long the
/// start took (scripts/desktop-figures.sh; docs/benchmarks.md).
#[tauri::command]
pub(crate) fn first_paint() {
    tracing::info!("first paint at unix_ms={}", crate::unix_ms());
}

#[cfg(test)]
mod tests {
    use crate::command_names as names;

    /// The capability allows every command, and beyond them only the event
    /// listening that the window's file drop needs.
    #[test]
    fn the_capability_allows_every_command_and_nothing_else() {
        let cap: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/main.json")).unwrap();
        let mut got: Vec<&str> = cap["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        got.sort_unstable();
        let mut want: Vec<String> = names::ALL
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        want.extend(["core:event:allow-listen", "core:event:allow-unlisten"].map(String::from));
        want.sort_unstable();
        assert_eq!(got, want);
    }
}
