//! `sockscope watch`: runs job sockets headless, recording everything; live
//! progress bars on a terminal, or JSON lines of events with `--json`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sockscope_core::{Session, SessionOptions, SocketSpec, TokenSpec};
use sockscope_engine::AdapterKind;
use sockscope_engine::TokenPlacement;
use sockscope_engine::event::EventKind;
use sockscope_recorder::{EventRecord, TelemetryConfig, redact};

use crate::printer::{EventPrinter, until_all_ended};
use crate::summary::{FindingTally, end_session};
use sockscope_core::signal::Signals;

/// Options of `sockscope watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// A TOML file of sockets (see docs/config.example.toml).
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    config: Option<PathBuf>,
    /// One socket's ws:// or wss:// URL. A token in its query (`token=`,
    /// `access_token=`, `jwt=`, `apikey=`…) is moved into memory with a
    /// warning and never stored or printed.
    #[arg(long, required_unless_present = "config")]
    url: Option<String>,
    /// The job id, if the URL has no `jobId=`.
    #[arg(long)]
    job_id: Option<String>,
    /// The environment variable that holds the token.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// Where the token travels: `header` (`Authorization: Bearer`, the
    /// default) or `query` (`token=` on the URL, for legacy backends). A
    /// token found in --url goes back to its query parameter unless
    /// `header` is given. A config file sets it per socket instead.
    #[arg(long, value_enum, conflicts_with = "config")]
    token_placement: Option<Placement>,
    /// The protocol the socket speaks: `job` (PROTOCOL.md), `raw` (any
    /// WebSocket), `socketio`, `graphql-ws`, `phoenix`, `signalr`, or `json` (a bespoke JSON
    /// socket; its options in a config file's `[socket.dialect]` table; see
    /// docs/dialects.md).
    #[arg(long, alias = "protocol", default_value = "job", value_parser = ["job", "raw", "socketio", "graphql-ws", "phoenix", "signalr", "json"])]
    dialect: String,
    /// The Socket.IO event that carries progress. Default `progress`.
    #[arg(long, value_name = "NAME")]
    progress_event: Option<String>,
    /// The Socket.IO event that says the job completed. Default `complete`.
    #[arg(long, value_name = "NAME")]
    complete_event: Option<String>,
    /// The Socket.IO event that says the job failed. Default `failed`.
    #[arg(long, value_name = "NAME")]
    failed_event: Option<String>,
    /// JSON Pointer to the processed count in a progress message.
    /// Default `/0/processed` (Socket.IO), `/data/progress/processed` (graphql-ws).
    #[arg(long, value_name = "POINTER")]
    processed: Option<String>,
    /// JSON Pointer to the total count. Default `/0/total` (Socket.IO),
    /// `/data/progress/total` (graphql-ws).
    #[arg(long, value_name = "POINTER")]
    total: Option<String>,
    /// graphql-ws: the subscription document (`{job_id}` is filled in).
    #[arg(long, value_name = "DOCUMENT")]
    query: Option<String>,
    /// graphql-ws: the subscription's variables, a JSON object.
    #[arg(long, value_name = "JSON")]
    variables: Option<String>,
    /// Print every event as a JSON line instead of progress bars.
    #[arg(long)]
    json: bool,
    /// Export live traces over OTLP (configured by the OTEL_* variables).
    #[arg(long)]
    otlp: bool,
    /// The database to record into. Default: the platform data dir.
    #[arg(long, env = "SOCKSCOPE_DB", value_name = "FILE")]
    db: Option<PathBuf>,
}

/// `--token-placement`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Placement {
    Header,
    Query,
}

/// The `--url` socket, with a token in its query moved into memory; the
/// warning is printed here, once.
fn url_socket(args: &mut WatchArgs) -> anyhow::Result<Option<SocketSpec>> {
    let Some(url) = args.url.take() else {
        return Ok(None);
    };
    let mut spec = SocketSpec::job(url);
    spec.adapter = AdapterKind::parse(&args.dialect).unwrap_or(AdapterKind::Job);
    let d = &mut spec.dialect;
    let set = |slot: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            *slot = v.clone();
        }
    };
    set(&mut d.progress_event, &args.progress_event);
    set(&mut d.complete_event, &args.complete_event);
    set(&mut d.failed_event, &args.failed_event);
    d.processed.clone_from(&args.processed);
    d.total.clone_from(&args.total);
    d.query.clone_from(&args.query);
    d.variables.clone_from(&args.variables);
    spec.job_id = args.job_id.clone();
    if let Some(var) = &args.token_env {
        spec.token = TokenSpec::Env(var.clone());
    }
    let placement = args.token_placement.map(|p| match p {
        Placement::Header => TokenPlacement::Header,
        Placement::Query => TokenPlacement::Query,
    });
    if let Some(warning) = spec.take_url_token(placement)? {
        eprintln!("warning: {warning}");
    } else if let Some(p) = placement {
        spec.token_placement = p;
    }
    Ok(Some(spec))
}

/// Runs until every socket has ended and its final count is settled, or
/// a signal comes; exit 0 only if every job finished with a known count
/// and the recording is whole (codes: [`crate::summary::exit_code`]).
pub async fn run(mut args: WatchArgs) -> anyhow::Result<ExitCode> {
    let url_spec = url_socket(&mut args)?;
    let mut signals = Signals::install()?;
    let session = Session::start(SessionOptions {
        db_path: args.db.clone(),
        config_path: args.config.clone(),
        telemetry: args.otlp.then(TelemetryConfig::from_env),
        watch_environment: true,
        live_from_start: true,
        ..SessionOptions::default()
    })
    .await?;
    for w in session.warnings() {
        eprintln!("warning: line {}: {}", w.line, w.message);
    }
    let mut events = session.subscribe_from_start();
    if let Some(spec) = url_spec {
        session.add_socket(spec).await?;
    }
    if session.sockets().is_empty() {
        bail!("no sockets to watch: the config has none");
    }
    eprintln!(
        "sockscope watch: {} sockets running, recording session {} to {} (Ctrl-C stops cleanly)",
        session.sockets().len(),
        session.session_id(),
        session.db_path().display()
    );
    let bars = (!args.json && std::io::stderr().is_terminal()).then(MultiProgress::new);
    let mut bar_of: HashMap<u64, ProgressBar> = HashMap::new();
    let style = ProgressStyle::with_template("{prefix:<16} {bar:30} {pos}/{len} {msg} (eta {eta})")
        .expect("the template is valid");
    let mut printer = EventPrinter::default();
    let mut findings = FindingTally::default();
    let mut state_of: HashMap<u64, String> = HashMap::new();
    let mut out = std::io::stdout().lock();
    let followed = until_all_ended(
        &session,
        false,
        &mut events,
        &mut signals,
        |n| eprintln!("({n} live events skipped; all are recorded)"),
        |e| {
            let found = findings.record(e);
            if args.json {
                serde_json::to_writer(&mut out, &EventRecord::from_event(e, Some(4096)))?;
                writeln!(out)?;
                return Ok(());
            }
            match &bars {
                Some(m) => {
                    let bar = bar_of.entry(e.socket).or_insert_with(|| {
                        let b = m.add(ProgressBar::new(0));
                        b.set_style(style.clone());
                        b
                    });
                    match &e.kind {
                        EventKind::SocketAdded(info) => bar.set_prefix(info.name.clone()),
                        EventKind::Progress(p) => {
                            bar.set_length(p.total);
                            bar.set_position(p.processed);
                        }
                        EventKind::Transition { to, .. } => {
                            state_of.insert(e.socket, redact::free_text(&to.to_string()));
                        }
                        _ if found => {}
                        _ => return Ok(()),
                    }
                    // The state, then the findings: a job that was dropped
                    // and resumed must not end looking like a clean one.
                    let state = state_of.get(&e.socket).map_or("", String::as_str);
                    let brief = findings.brief(e.socket);
                    bar.set_message(if brief.is_empty() {
                        state.to_owned()
                    } else {
                        format!("{state}  ! {brief}")
                    });
                }
                None => {
                    if let Some(line) = printer.line(e) {
                        writeln!(out, "{line}")?;
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    for b in bar_of.values() {
        b.finish();
    }
    let ending = end_session(session, followed, signals, &findings).await?;
    eprint!("{}", ending.summary);
    Ok(ending.code)
}
