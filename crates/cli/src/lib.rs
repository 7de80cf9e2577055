//! The `sockscope` command line: `watch` (job sockets headless, with a
//! summary and an exit code per outcome), `demo` (the simulator plus three
//! job sockets whose faults set off the races of the seeds), `sim` (the
//! simulator alone), `scenario` (the race scenario catalog), `proxy` (the
//! chaos proxy), `record` (the recording proxy), `replay` (a recorded connection's server
//! side, served again), and the history of past sessions: `sessions`, `events`,
//! `timeline`, `export`. Parsing is here; the work is in `sockscope-core`.

mod demo;
mod history;
mod printer;
mod proxy;
mod record;
mod replay;
mod scenario;
mod summary;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Watch WebSocket job sockets and the races on them.
#[derive(Debug, Parser)]
#[command(name = "sockscope", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded simulator with three demo jobs and print what happens.
    ///
    /// Example: `sockscope demo`
    Demo(demo::DemoArgs),
    /// Run the fault-injecting simulator and print its address.
    ///
    /// Example: `sockscope sim --listen 127.0.0.1:8080 --fault interval_ms=200`
    Sim(sockscope_sim::cli::Args),
    /// List the race scenarios, or run one and check its findings.
    ///
    /// Examples: `sockscope scenario list`, `sockscope scenario run half-open-stall`
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
    /// Run the chaos proxy: a TCP proxy with toxics switchable at runtime.
    Proxy(proxy::ProxyArgs),
    /// Record an app's WebSockets through a proxy in front of the real
    /// backend: a lane per connection, both sides' frames, findings live,
    /// and conditional faults.
    ///
    /// Example: `sockscope record --listen 127.0.0.1:9000 --upstream wss://api.example.com`
    Record(Box<record::RecordArgs>),
    /// Serve the server side of a recorded connection again, with its
    /// timing (or faster): a capture becomes a scenario that runs against
    /// the engine or any client.
    ///
    /// Example: `sockscope replay --session 3 --socket csv_import --speed 2`
    Replay(Box<replay::ReplayArgs>),
    /// Watch job sockets headless: progress bars on a terminal, or JSON lines.
    ///
    /// Examples: `sockscope watch --config sockets.toml`,
    /// `JOB_TOKEN=… sockscope watch --url wss://api.example.com/ws/progress --job-id j-42 --token-env JOB_TOKEN --json`
    ///
    /// Exit codes: 0 when every job finished with a known count and the
    /// session is fully recorded; 1 when a job did not, or the recording
    /// failed; 130, 143, 129 after SIGINT, SIGTERM, SIGHUP (the session is
    /// still ended cleanly). A failed OTLP export does not change it.
    Watch(Box<watch::WatchArgs>),
    /// List recorded sessions.
    ///
    /// Example: `sockscope sessions`
    Sessions(history::DbArg),
    /// Print a session's events.
    ///
    /// Example: `sockscope events --session 3 --socket csv_import --json`
    Events {
        /// The session id (see `sockscope sessions`).
        #[arg(long)]
        session: i64,
        /// Only these sockets, by name or id (repeatable).
        #[arg(long)]
        socket: Vec<String>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: history::DbArg,
    },
    /// Export a session: Jaeger JSON, OTLP JSON, a CSV of transitions,
    /// Chrome trace-event JSON for Perfetto, or HAR for DevTools.
    ///
    /// Example: `sockscope export --session 3 --format perfetto -o trace.json`
    Export {
        /// The session id.
        #[arg(long)]
        session: i64,
        /// The format: jaeger, otlp, csv, perfetto or har.
        #[arg(long, value_parser = history::parse_format)]
        format: sockscope_recorder::export::Format,
        /// The file to write.
        #[arg(short, long, value_name = "FILE")]
        out: std::path::PathBuf,
        #[command(flatten)]
        db: history::DbArg,
    },
    /// Draw a session as text lanes: one row per socket, states along time.
    ///
    /// Example: `sockscope timeline --session 3`
    Timeline {
        /// The session id.
        #[arg(long)]
        session: i64,
        /// Columns of the time axis.
        #[arg(long, default_value_t = 100)]
        width: usize,
        #[command(flatten)]
        db: history::DbArg,
    },
    /// Import a HAR file's WebSocket connections as a new session: a lane
    /// per connection, its frames, and what an observer of the dialect's
    /// rules finds in them (it sends nothing).
    ///
    /// Example: `sockscope import app.har`, then `sockscope timeline --session N`
    Import {
        /// The HAR file (Chrome, Edge, Firefox, mitmproxy, Proxyman, HTTP Toolkit).
        file: std::path::PathBuf,
        /// The connections' dialect: job, raw, socketio, graphql-ws,
        /// phoenix, signalr. Default: told from each connection.
        #[arg(long, value_parser = history::parse_dialect)]
        dialect: Option<sockscope_engine::AdapterKind>,
        #[command(flatten)]
        db: history::DbArg,
    },
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            Command::Demo(a) => demo::run(a).await,
            Command::Sim(a) => Ok(sockscope_sim::cli::run(a).await?),
            Command::Scenario(c) => scenario::run(c).await,
            Command::Proxy(a) => proxy::run(a).await,
            Command::Record(a) => record::run(*a).await,
            Command::Replay(a) => replay::run(*a).await,
            Command::Watch(a) => watch::run(*a).await,
            Command::Sessions(db) => history::sessions(&db),
            Command::Events {
                session,
                socket,
                json,
                db,
            } => history::events(&db, session, &socket, json),
            Command::Export {
                session,
                format,
                out,
                db,
            } => history::export(&db, session, format, &out),
            Command::Timeline { session, width, db } => history::timeline(&db, session, width),
            Command::Import { file, dialect, db } => history::import(&db, &file, dialect).await,
        }
    })
}
