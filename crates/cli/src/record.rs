//! `sockscope record`: the recording proxy of `sockscope-core`. Each
//! connection of the app under test is recorded as a lane of a new
//! session; its states and the observer's findings print live, as in
//! `watch`, until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use sockscope_core::capture::ImportOptions;
use sockscope_core::capture::fault::Fault;
use sockscope_core::capture::recording_proxy::{RecordOptions, RecordingProxy};
use sockscope_engine::AdapterKind;
use sockscope_recorder::EventRecord;
use tokio::sync::broadcast::error::RecvError;

use crate::history::{self, DbArg};
use crate::printer::EventPrinter;

const FAULTS: &str = "\
Conditional faults (--fault, repeatable; the first that matches a frame acts):
  DIRECTION:MATCH:ACTION[:nth=N]
  DIRECTION  in (server to app) | out (app to server)
  MATCH      * (every data frame) | /pointer (a JSON frame that has it)
             | /pointer=VALUE (VALUE as JSON if it parses, else a string)
  ACTION     drop | delay=MS (or 2s) | duplicate | close=CODE | cut | silent
  nth=N      only the Nth matching frame of each connection

Examples:
  sockscope record --listen 127.0.0.1:9000 --upstream wss://api.example.com
  sockscope record --listen 127.0.0.1:9000 --upstream ws://127.0.0.1:8080 \\
      --fault 'in:/type=job_progress:drop:nth=3' --fault 'in:/type=job_complete:cut'";

/// Options of `sockscope record`.
#[derive(Debug, clap::Args)]
#[command(after_help = FAULTS)]
pub struct RecordArgs {
    /// Address to listen on, e.g. 127.0.0.1:9000: point the app under test here.
    #[arg(long)]
    listen: SocketAddr,
    /// The real backend, `ws://host:port` or `wss://host[/prefix]`; the
    /// app's path and query are appended.
    #[arg(long)]
    upstream: String,
    /// A PEM file of CA certificates a wss:// upstream may chain to, besides
    /// the OS roots (an own CA, or a self-signed server certificate).
    #[arg(long, value_name = "FILE")]
    upstream_ca: Option<std::path::PathBuf>,
    /// The connections' dialect: job, raw, socketio, graphql-ws, phoenix,
    /// signalr. Default: told from each connection.
    #[arg(long, value_parser = history::parse_dialect)]
    dialect: Option<AdapterKind>,
    /// A conditional fault (repeatable); see below.
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    faults: Vec<Fault>,
    /// The largest message either way, in bytes; a larger one closes both
    /// sides with 1009.
    #[arg(long, default_value_t = 16 << 20)]
    max_message_bytes: usize,
    /// JSON lines of every event instead of text lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArg,
}

fn parse_fault(spec: &str) -> Result<Fault, String> {
    Fault::parse(spec).map_err(|e| e.to_string())
}

/// Records until Ctrl-C.
pub async fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let path = args.db.path()?;
    let options = RecordOptions {
        dialect: ImportOptions {
            dialect: args.dialect,
            ..ImportOptions::default()
        },
        faults: args.faults,
        max_message_bytes: args.max_message_bytes,
        upstream_ca: args.upstream_ca,
        ..RecordOptions::default()
    };
    let proxy = RecordingProxy::start(args.listen, &args.upstream, &path, options)
        .await
        .map_err(|e| anyhow::anyhow!(sockscope_core::error_line([&e as &dyn std::error::Error])))?;
    let mut live = proxy.subscribe_live();
    eprintln!(
        "sockscope record: {} -> {}  session {} in {}  (Ctrl-C to stop)",
        proxy.local_addr(),
        proxy.upstream(),
        proxy.session_id(),
        path.display()
    );
    let mut printer = EventPrinter::default();
    let mut out = std::io::stdout().lock();
    loop {
        let event = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            e = live.recv() => e,
        };
        match event {
            Ok(e) if args.json => {
                serde_json::to_writer(&mut out, &EventRecord::from_event(&e, Some(4096)))?;
                writeln!(out)?;
            }
            Ok(e) => {
                if let Some(line) = printer.line(&e) {
                    writeln!(out, "{line}")?;
                }
            }
            Err(RecvError::Lagged(n)) => {
                eprintln!("({n} live events skipped; all are recorded)");
            }
            Err(RecvError::Closed) => break,
        }
    }
    drop(out);
    let r = proxy.finish().await?;
    eprintln!(
        "recorded session {}: {} connections, {} frames, {} findings",
        r.session_id, r.connections, r.frames, r.findings
    );
    eprintln!(
        "see it: sockscope timeline --session {} --db {}",
        r.session_id,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
