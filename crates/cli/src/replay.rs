//! `sockscope replay`: the server side of a recorded connection, served
//! again by `sockscope-core`'s replay. Each connection served prints a
//! line; it ends once every recorded attempt was served, or on Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use sockscope_core::capture::replay::{
    ReplayOptions, ReplayServer, Served, ServedEnd, Timing, load_script,
};

use crate::history::DbArg;

const HOW: &str = "\
Timing (--timing):
  client  a server frame that followed client frames in the recording waits
          until this client has sent as many data frames, then keeps its
          recorded gap; every frame keeps its gap after the one before (default)
  open    each frame at its recorded time from the upgrade, whatever the client does

Each connection gets the next recorded attempt (of all the --socket lanes, in the
order they started); the replay ends once each was served. --attempt N serves
attempt N on every connection until Ctrl-C.

Example:
  sockscope replay --session 3 --socket csv_import --speed 2 --listen 127.0.0.1:9001";

/// Options of `sockscope replay`.
#[derive(Debug, clap::Args)]
#[command(after_help = HOW)]
pub struct ReplayArgs {
    /// The session (see `sockscope sessions`).
    #[arg(long)]
    session: i64,
    /// The socket to replay, by name or id (repeatable: their attempts in
    /// the order they started, e.g. a recording proxy's reconnects).
    #[arg(long, required = true)]
    socket: Vec<String>,
    /// How much faster than recorded (2 halves every gap).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Address to listen on; port 0 picks one (printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// What a frame's time is measured from: client or open (see below).
    #[arg(long, default_value = "client", value_parser = parse_timing)]
    timing: Timing,
    /// Serve only this attempt (1-based), on every connection.
    #[arg(long)]
    attempt: Option<usize>,
    #[command(flatten)]
    db: DbArg,
}

fn parse_timing(name: &str) -> Result<Timing, String> {
    Timing::parse(name).ok_or_else(|| format!("unknown timing `{name}`; one of: client, open"))
}

fn error(e: sockscope_core::CoreError) -> anyhow::Error {
    anyhow::anyhow!(sockscope_core::error_line([&e as &dyn std::error::Error]))
}

/// Serves until every attempt was served, or Ctrl-C.
pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let path = args.db.path()?;
    let (session, sockets) = (args.session, args.socket.clone());
    let script = tokio::task::spawn_blocking(move || load_script(&path, session, &sockets))
        .await?
        .map_err(error)?;
    let options = ReplayOptions {
        speed: args.speed,
        timing: args.timing,
        attempt: match args.attempt {
            Some(0) => anyhow::bail!("--attempt counts from 1"),
            a => a.map(|a| a - 1),
        },
        ..ReplayOptions::default()
    };
    let attempts = script.attempts.len();
    let frames: usize = script.attempts.iter().map(|a| a.frames()).sum();
    let notes = script.notes;
    let mut server = ReplayServer::start(args.listen, script, options)
        .await
        .map_err(error)?;
    eprintln!(
        "sockscope replay: session {} socket {}: {attempts} attempts, {frames} server frames, on ws://{}  (Ctrl-C to stop)",
        args.session,
        args.socket.join(", "),
        server.local_addr()
    );
    if notes.cut_payloads + notes.missing_payloads > 0 {
        eprintln!(
            "as stored: {} payloads cut at the recorder's cap, {} not recorded (zeros or empty)",
            notes.cut_payloads, notes.missing_payloads
        );
    }
    let mut out = std::io::stdout().lock();
    loop {
        let served = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            s = server.next_served() => s,
        };
        let Some(s) = served else { break };
        writeln!(out, "{}", line(&s))?;
        out.flush()?;
    }
    drop(out);
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}

fn line(s: &Served) -> String {
    let end = match s.end {
        ServedEnd::Complete => "complete",
        ServedEnd::ClientLeft => "the client left first",
        ServedEnd::Refused => "refused, as recorded",
        ServedEnd::Stopped => "stopped",
    };
    format!(
        "connection {}: attempt {} (socket {} attempt {}): {}/{} steps, {} client frames, {end}",
        s.connection,
        s.attempt + 1,
        s.socket,
        s.number,
        s.steps.0,
        s.steps.1,
        s.client_frames
    )
}
