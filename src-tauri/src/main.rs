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

/// WebKitGTK's DMA-BUF renderer takes ~1 s to the first frame where there is
/// no GPU to share buffers with (a VM, a remote X display, Xvfb): the start's
/// figure, docs/benchmarks.md. The app runs with the older renderer unless
/// the user chose (set the variable, to 0 for the DMA-BUF one). The variable
/// must be there before WebKit starts, so the process starts again with it.
#[cfg(target_os = "linux")]
fn with_webkit_renderer_chosen() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(VAR, "1")
        .exec();
    // Only on failure: go on with WebKit's default.
    eprintln!("sockscope-app: starting with {VAR}=1 failed ({err}); going on without it");
}

fn main() -> ExitCode {
    #[cfg(target_os = "linux")]
    with_webkit_renderer_chosen();
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
