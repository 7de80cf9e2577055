//! History commands: `sessions`, `events`, `export`, `timeline` read the
//! database through the recorder's read API; `import` adds a session from
//! a capture.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sockscope_core::history::History;
use sockscope_recorder::export::{self, rfc3339};
use sockscope_recorder::{EventBody, EventRecord, WindowQuery};

/// Where the database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// The database file. Default: the platform data dir
    /// (`~/.local/share/sockscope/sockscope.db` on Linux).
    #[arg(long, env = "SOCKSCOPE_DB", value_name = "FILE")]
    pub db: Option<PathBuf>,
}

impl DbArg {
    /// The path to use.
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.db {
            Some(p) => Ok(p.clone()),
            None => Ok(sockscope_core::config::default_db_path()?),
        }
    }

    fn open(&self) -> anyhow::Result<History> {
        let path = self.path()?;
        History::open(&path).with_context(|| format!("opening {}", path.display()))
    }
}

/// `sockscope sessions`.
pub fn sessions(db: &DbArg) -> anyhow::Result<ExitCode> {
    let history = db.open()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>5}  {:<24} {:<8} {:>9}  host",
        "id", "started", "end", "events"
    )?;
    for s in history.sessions()? {
        writeln!(
            out,
            "{:>5}  {:<24} {:<8} {:>9}  {}",
            s.tag.id,
            rfc3339(s.started_ns),
            s.end_state,
            s.event_count,
            s.host
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `sockscope events`.
pub fn events(
    db: &DbArg,
    session: i64,
    sockets: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let history = db.open()?;
    history.session(session)?;
    let names = history.socket_names(session)?;
    let mut q = WindowQuery::whole_session(session, 4096);
    q.sockets = history.pick_sockets(session, sockets)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let start = history.first_mono(session)?;
    loop {
        let page = history.page(&q)?;
        for e in &page.events {
            if json {
                serde_json::to_writer(&mut out, e)?;
                writeln!(out)?;
            } else {
                let name = names.get(&e.socket_id).map_or("?", String::as_str);
                let t = e.mono_ns.saturating_sub(start) as f64 / 1e9;
                writeln!(out, "{t:>10.6}s  {name:<16} {}", describe(e))?;
            }
        }
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One line for an event.
pub fn describe(e: &EventRecord) -> String {
    e.body.line()
}

/// `sockscope export`.
pub fn export(
    db: &DbArg,
    session: i64,
    format: export::Format,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let history = db.open()?;
    // All or nothing: a failed export leaves no file and an old one intact.
    history
        .export_file(session, format, out)
        .with_context(|| format!("exporting to {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `--dialect` of `import`.
pub fn parse_dialect(name: &str) -> Result<sockscope_engine::AdapterKind, String> {
    sockscope_engine::AdapterKind::parse(name).ok_or_else(|| {
        let names: Vec<&str> = sockscope_engine::AdapterKind::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        format!("unknown dialect `{name}`; one of: {}", names.join(", "))
    })
}

/// `sockscope import`.
pub async fn import(
    db: &DbArg,
    file: &Path,
    dialect: Option<sockscope_engine::AdapterKind>,
) -> anyhow::Result<ExitCode> {
    let path = db.path()?;
    let options = sockscope_core::capture::ImportOptions {
        dialect,
        ..Default::default()
    };
    let r = sockscope_core::capture::import_har(file, &path, options)
        .await
        .map_err(|e| anyhow::anyhow!(sockscope_core::error_line([&e as &dyn std::error::Error])))?;
    println!(
        "imported {}: session {} ({} WebSocket entries of {}, {} lanes, {} frames, {} findings)",
        file.display(),
        r.session_id,
        r.attempts,
        r.entries,
        r.lanes,
        r.frames,
        r.findings
    );
    println!(
        "see it: sockscope timeline --session {} --db {}",
        r.session_id,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--format`: one of the recorder's export formats, by name.
pub fn parse_format(name: &str) -> Result<export::Format, String> {
    export::Format::from_name(name).ok_or_else(|| {
        format!(
            "unknown format `{name}`; one of: {}",
            export::Format::names()
        )
    })
}

/// The glyph a state is drawn with in the text timeline.
fn glyph(state: &str) -> char {
    match state {
        "Connecting" => '~',
        "AwaitingReady" => '?',
        "Ready" => '=',
        "Backoff" => '.',
        "Closing" => '-',
        "Closed" => ' ',
        "Failed" => 'x',
        "Cancelled" => '/',
        _ => ' ',
    }
}

/// `sockscope timeline`: one row per socket, state glyphs along a time axis,
/// `!` where a finding happened.
pub fn timeline(db: &DbArg, session: i64, width: usize) -> anyhow::Result<ExitCode> {
    let history = db.open()?;
    history.session(session)?;
    let names = history.socket_names(session)?;
    let mut transitions: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    let mut findings: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut environment: Vec<u64> = Vec::new();
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    history.for_each(WindowQuery::whole_session(session, 4096), |e| {
        lo = lo.min(e.mono_ns);
        hi = hi.max(e.mono_ns);
        match &e.body {
            EventBody::Transition(t) => transitions
                .entry(e.socket_id)
                .or_default()
                .push((e.mono_ns, t.to.clone())),
            EventBody::Finding(_) => findings.entry(e.socket_id).or_default().push(e.mono_ns),
            EventBody::Environment(_) => environment.push(e.mono_ns),
            _ => {}
        }
        Ok(())
    })?;
    if lo > hi {
        bail!("session {session} has no events");
    }
    let width = width.clamp(20, 400);
    let span = (hi - lo).max(1);
    let col = |t: u64| (((t - lo) as u128 * (width as u128 - 1)) / span as u128) as usize;
    let mut out = std::io::stdout().lock();
    let label = names.values().map(String::len).max().unwrap_or(6).max(6);
    writeln!(
        out,
        "{:label$}  0s{:>w$}",
        "",
        format!("{:.3}s", span as f64 / 1e9),
        w = width - 2
    )?;
    for (id, name) in &names {
        let mut row = vec![' '; width];
        let ts = transitions.get(id).map_or(&[][..], Vec::as_slice);
        for (i, (t, state)) in ts.iter().enumerate() {
            let end = ts.get(i + 1).map_or(hi, |n| n.0);
            let g = glyph(state);
            for c in row.iter_mut().take(col(end) + 1).skip(col(*t)) {
                *c = g;
            }
        }
        // Engine-wide changes cross every lane.
        for t in &environment {
            row[col(*t)] = '|';
        }
        for t in findings.get(id).map_or(&[][..], Vec::as_slice) {
            row[col(*t)] = '!';
        }
        writeln!(
            out,
            "{name:label$}  {}",
            row.into_iter().collect::<String>()
        )?;
    }
    writeln!(
        out,
        "{:label$}  ~ connecting  ? awaiting ready  = ready  . backoff  - closing  x failed  / cancelled  ! finding  | network/wake",
        ""
    )?;
    Ok(ExitCode::SUCCESS)
}
