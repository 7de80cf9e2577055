//! `sockscope proxy`: the chaos proxy of `sockscope-core`, with toxics set
//! by flags at start and switched by commands on stdin.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use sockscope_core::proxy::{Proxy, ProxyHandle, Toxics};

const COMMANDS: &str = "\
Commands on stdin, one per line, while it runs:
  latency MS [JITTER_MS]   hold every chunk MS (plus up to JITTER_MS) each way
  jitter MS                change the jitter only
  bandwidth BYTES|off      limit each direction to BYTES per second
  blackhole on|off         forward nothing either way, keep TCP open
  drop                     close every open connection (FIN, no close frame)
  reset                    abort every open connection (RST)
  clear                    no toxics
  status                   print the toxics and the open connections
  quit                     close everything and exit (so does Ctrl-C)

Example:
  sockscope sim --listen 127.0.0.1:8080 &
  sockscope proxy --listen 127.0.0.1:9000 --upstream 127.0.0.1:8080 --latency-ms 200
  (then type `blackhole on`, `reset`, `clear` ...)";

/// Options of `sockscope proxy`. Defaults: no toxics.
#[derive(Debug, clap::Args)]
#[command(after_help = COMMANDS)]
pub struct ProxyArgs {
    /// Address to listen on, e.g. 127.0.0.1:9000.
    #[arg(long)]
    listen: SocketAddr,
    /// Where to forward, HOST:PORT.
    #[arg(long)]
    upstream: String,
    /// Delay added to every chunk, each way, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Up to this many more milliseconds, drawn per chunk.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Bytes per second each way, per connection. Default: unlimited.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    bandwidth: Option<u64>,
    /// Start with the blackhole on.
    #[arg(long)]
    blackhole: bool,
}

/// Runs the proxy until `quit` or Ctrl-C.
pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let toxics = Toxics {
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        bandwidth: args.bandwidth,
        blackhole: args.blackhole,
    };
    let proxy = Proxy::start_with(args.listen, args.upstream.clone(), toxics).await?;
    println!(
        "sockscope proxy: {} -> {}  [{}]",
        proxy.local_addr(),
        proxy.upstream(),
        describe(&proxy.toxics())
    );
    println!("type `help` for the commands");
    // A plain thread: a blocked stdin read must not hold the runtime at exit.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin_open = true;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            line = lines.recv(), if stdin_open => match line {
                // Stdin closed (e.g. `< /dev/null`): keep proxying until Ctrl-C.
                None => stdin_open = false,
                Some(line) => match apply(&proxy, line.trim()) {
                    Ok(Some(text)) => println!("{text}"),
                    Ok(None) => break,
                    Err(e) => println!("error: {e:#}"),
                },
            },
        }
    }
    proxy.shutdown().await;
    println!("proxy stopped");
    Ok(ExitCode::SUCCESS)
}

/// Carries out one stdin command; `None` means quit.
fn apply(proxy: &ProxyHandle, line: &str) -> anyhow::Result<Option<String>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let ms = |w: &str| -> anyhow::Result<Duration> {
        Ok(Duration::from_millis(
            w.parse()
                .with_context(|| format!("`{w}` is not milliseconds"))?,
        ))
    };
    match words.as_slice() {
        [] => return Ok(Some(String::new())),
        ["quit"] | ["exit"] => return Ok(None),
        ["help"] => return Ok(Some(COMMANDS.to_owned())),
        ["status"] => {}
        ["latency", l] => proxy.set_latency(ms(l)?, proxy.toxics().jitter)?,
        ["latency", l, j] => proxy.set_latency(ms(l)?, ms(j)?)?,
        ["jitter", j] => proxy.set_latency(proxy.toxics().latency, ms(j)?)?,
        ["bandwidth", "off"] => proxy.set_bandwidth(None)?,
        ["bandwidth", b] => {
            let rate: u64 = b
                .parse()
                .with_context(|| format!("`{b}` is not bytes per second"))?;
            if rate == 0 {
                bail!("bandwidth must be at least 1 byte per second (or `off`)");
            }
            proxy.set_bandwidth(Some(rate))?;
        }
        ["blackhole", "on"] => proxy.set_blackhole(true)?,
        ["blackhole", "off"] => proxy.set_blackhole(false)?,
        ["drop"] => {
            let n = proxy.drop_connections()?;
            return Ok(Some(format!("dropped {n} connection(s)")));
        }
        ["reset"] => {
            let n = proxy.reset_connections()?;
            return Ok(Some(format!("reset {n} connection(s)")));
        }
        ["clear"] => proxy.clear()?,
        _ => bail!("unknown command `{line}`; type `help`"),
    }
    Ok(Some(format!(
        "[{}] {} open connection(s)",
        describe(&proxy.toxics()),
        proxy.open_connections()
    )))
}

fn describe(t: &Toxics) -> String {
    if *t == Toxics::default() {
        return "no toxics".to_owned();
    }
    let mut parts = Vec::new();
    if !t.latency.is_zero() || !t.jitter.is_zero() {
        parts.push(format!(
            "latency {} ms + jitter {} ms",
            t.latency.as_millis(),
            t.jitter.as_millis()
        ));
    }
    if let Some(b) = t.bandwidth {
        parts.push(format!("bandwidth {b} B/s"));
    }
    if t.blackhole {
        parts.push("blackhole".to_owned());
    }
    parts.join(", ")
}
