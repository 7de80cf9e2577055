//! The sockscope desktop app: a Tauri shell over the app core. This is the
//! only crate that knows Tauri; it owns the serde transfer types of the
//! webview boundary and nothing of the domain.

#[macro_use]
mod command_names;
mod commands;
mod error;
mod live;
mod recording;
mod scenario_view;
mod settings;
mod token_guard;
mod transfer;
mod tray;
#[cfg(test)]
mod typescript;
mod ui_event;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sockscope_core::signal::Signals;
use sockscope_core::{Session, SessionOptions};
use tauri::Manager;

pub use error::UiError;

/// Command-line options of the app.
#[derive(Debug, Default, Clone)]
pub struct AppArgs {
    /// Force demo mode (simulator plus the three demo jobs).
    pub demo: bool,
    /// A TOML file of sockets; default: the config dir's sockets.toml.
    pub config: Option<PathBuf>,
    /// The database; default: the platform data dir.
    pub db: Option<PathBuf>,
    /// Open only a window with an empty page: no session, no plugins, no
    /// tray. The memory floor the app is measured against; default off.
    pub bare: bool,
}

/// How the session starts: a config file if there is one, else the
/// endless demo, so a first start shows a race within seconds and goes on
/// showing them.
fn session_options(
    args: &AppArgs,
    otlp: Option<sockscope_recorder::TelemetryConfig>,
) -> SessionOptions {
    let config = args
        .config
        .clone()
        .or_else(|| Some(settings::sockets_file(&settings::config_dir())).filter(|p| p.exists()));
    let demo = args.demo || config.is_none();
    SessionOptions {
        db_path: args.db.clone(),
        demo,
        // The window's demo goes on until it is closed, so some race is
        // always happening or has just happened.
        demo_endless: demo.then(sockscope_core::demo::EndlessDemo::default),
        config_path: config,
        telemetry: otlp,
        // Address changes and wake-ups reach every socket, and the timeline
        // draws them as lines across all lanes.
        watch_environment: true,
        ..SessionOptions::default()
    }
}

/// Starts the session, opens the window, and runs until it closes.
pub fn run(args: AppArgs) -> anyhow::Result<ExitCode> {
    if args.bare {
        return run_bare();
    }
    let config_dir = settings::config_dir();
    let otlp_path = config_dir.join("otlp.json");
    let otlp = settings::load_otlp(&otlp_path)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .telemetry();
    let opts = session_options(&args, otlp);
    // The sockets file is read again for the sources it allows; a file the
    // session refuses fails the start below anyway.
    let config = opts
        .config_path
        .as_deref()
        .and_then(|p| sockscope_core::Config::load(p).ok());
    let guard = token_guard::TokenGuard::load(
        config.as_ref(),
        &config_dir.join(token_guard::ALLOWLIST_FILE),
    );
    // Before the session starts: a signal during the start is then kept,
    // not fatal half-way.
    let mut signals = tauri::async_runtime::block_on(async { Signals::install() })
        .context("installing the signal handlers")?;
    let session =
        tauri::async_runtime::block_on(Session::start(opts)).context("starting the session")?;
    let state = commands::AppState {
        session: session.clone(),
        export_dir: settings::export_dir(),
        otlp_path,
        guard,
        recording: recording::Recording::default(),
    };
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        // Its picker is opened from Rust (`pick_har_file`): the webview gets
        // no dialog permission.
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .invoke_handler(commands::handler())
        .on_page_load(log_page_loaded)
        .setup(move |app| {
            let handle = app.handle().clone();
            let tray = tray::build(&handle);
            tauri::async_runtime::spawn(tray::watch(handle.clone(), session.clone(), tray));
            // Ctrl-C, SIGTERM, SIGHUP (a logout): the same clean stop as
            // Quit, through the Exit event below; a second one exits at once.
            tauri::async_runtime::spawn(async move {
                let stop = signals.recv().await;
                tracing::info!("{}: stopping the session", stop.name());
                signals.exit_on_next();
                handle.exit(i32::from(stop.code()));
            });
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"))
        .context("building the window")?;
    let code = app.run_return(|handle, ev| {
        if let tauri::RunEvent::Exit = ev {
            // Commit every event and mark the sessions clean: a recording's
            // and the app's own.
            let state = handle.state::<commands::AppState>();
            tauri::async_runtime::block_on(state.recording.stop_if_running());
            let session = state.session.clone();
            match tauri::async_runtime::block_on(session.stop()) {
                Ok(end) => {
                    if let Some(reason) = &end.recording_failed {
                        tracing::error!("the recording failed: {reason}");
                    }
                }
                Err(e) => tracing::warn!("stopping the session: {e}"),
            }
        }
    });
    // 0 from the window or the tray; 128 + the signal's number after one.
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The floor of the start and memory figures: the same Tauri and WebKit,
/// one window with an empty page (ui/public/bare.html) that reports its
/// first frame, nothing else.
fn run_bare() -> anyhow::Result<ExitCode> {
    let mut context = tauri::generate_context!("../tauri.conf.json");
    for w in &mut context.config_mut().app.windows {
        w.url = tauri::WebviewUrl::App("bare.html".into());
    }
    let app = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![commands::first_paint])
        .on_page_load(log_page_loaded)
        .build(context)
        .context("building the window")?;
    let code = app.run_return(|_, _| {});
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Logs when the window's page has loaded, with the wall clock: the start
/// figure's middle mark, and the whole start of the bare window
/// (scripts/desktop-figures.sh).
fn log_page_loaded<R: tauri::Runtime>(
    _: &tauri::Webview<R>,
    page: &tauri::webview::PageLoadPayload<'_>,
) {
    if page.event() == tauri::webview::PageLoadEvent::Finished {
        tracing::info!("page loaded at unix_ms={}", unix_ms());
    }
}

/// The wall clock in ms since the Unix epoch, for the start figure's log lines.
pub(crate) fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
