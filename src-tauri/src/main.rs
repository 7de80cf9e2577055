// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;

use sockscope_app::AppArgs;

const USAGE: &str = "usage: sockscope-app [--demo] [--config FILE.toml] [--db FILE.db] [--bare]";

fn parse(mut it: impl Iterator<Item = String>) -> Result<AppArgs, String> {
    let mut a = AppArgs::default();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--demo" => a.demo = true,
            "--bare" => a.bare = true,
            "--config" => a.config = Some(PathBuf::from(it.next().ok_or("--config needs a file")?)),
            "--db" => a.db = Some(PathBuf::from(it.next().ok_or("--db needs a file")?)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(a)
}

/// Settings WebKitGTK reads from the environment once, at its start, so the
/// process starts again with those the user did not set (a user's own value
/// wins; set one to WebKit's default to undo it):
/// - `WEBKIT_DISABLE_DMABUF_RENDERER=1`: the DMA-BUF renderer takes ~1 s to
///   the first frame where there is no GPU to share buffers with (a VM, a
///   remote X display, Xvfb): the start's figure.
/// - `JSC_useGenerationalGC=0`: every collection of the page's script heap
///   is a full one. With young-generation collections only, the script
///   wrappers of DOM nodes and responses the window let go of were kept
///   until a rare full collection, and the web process grew ~4 MiB a minute
///   in the demo; the heap is ~10 MB, so a full collection costs little.
///
/// Both figures are in docs/benchmarks.md (issue 16).
#[cfg(target_os = "linux")]
const WEBKIT_ENV: [(&str, &str); 2] = [
    ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
    ("JSC_useGenerationalGC", "0"),
];

#[cfg(target_os = "linux")]
fn with_webkit_settings_chosen() {
    use std::os::unix::process::CommandExt;
    let unset: Vec<_> = WEBKIT_ENV
        .iter()
        .filter(|(var, _)| std::env::var_os(var).is_none())
        .collect();
    if unset.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .envs(unset.iter().map(|(var, value)| (var, value)))
        .exec();
    // Only on failure: go on with WebKit's defaults.
    eprintln!(
        "sockscope-app: starting with WebKit's settings failed ({err}); going on without them"
    );
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    with_webkit_settings_chosen();
    sockscope_recorder::logging::init_stderr("info,tao=warn,wry=warn");
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match sockscope_app::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockscope-app: {}", sockscope_core::error_line(e.chain()));
            ExitCode::FAILURE
        }
    }
}
