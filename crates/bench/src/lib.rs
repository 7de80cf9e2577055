//! Helpers shared by the load benchmarks in `benches/` (`throughput`, and
//! `scale` for 10,000 sockets and the reconnect storm) and the memory-bound
//! tests: the process's file-descriptor limit, its resident memory (now and
//! peak) and CPU time from `/proc`, the machine line printed with every
//! run, and percentiles. Linux only; the benchmarks and their figures are
//! in `docs/benchmarks.md`.

use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns (soft before,
/// hard); "unlimited" is `u64::MAX`.
pub fn raise_nofile() -> std::io::Result<(u64, u64)> {
    let before = getrlimit(Resource::Nofile);
    let soft = before.current.unwrap_or(u64::MAX);
    let hard = before.maximum.unwrap_or(u64::MAX);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        },
    )?;
    Ok((soft, hard))
}

/// The current soft `RLIMIT_NOFILE`.
pub fn nofile() -> u64 {
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Resident set size of `pid` (`self` for this process), in KiB, from
/// `/proc/PID/status`.
pub fn rss_kib(pid: &str) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// The peak resident set size of `pid` (`self` for this process) so far,
/// in KiB (`VmHWM` in `/proc/PID/status`).
pub fn peak_rss_kib(pid: &str) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of `pid` (`self` for this process) so far,
/// from `/proc/PID/stat` (USER_HZ is 100 on Linux: 10 ms resolution).
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after it do not.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, utime 14 and stime 15 (1-based, man proc).
    let tick = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    let ticks = tick(14).unwrap_or(0) + tick(15).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// `nproc`, `uname -r`, rustc and the load average, on one line.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cores} cores, Linux {}, {rustc}, load average {}",
        kernel.trim(),
        load_average()
    )
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    avg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The `p`th percentile of sorted values (nearest rank).
pub fn pct<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// An environment knob, or its default.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kernel's count of connections dropped because a listener's accept
/// queue was full (`ListenOverflows` in `/proc/net/netstat`; machine-wide).
/// A dropped SYN is retried by the client after a second.
pub fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let at = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows");
        return at
            .and_then(|i| values.split_whitespace().nth(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    0
}
