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

fn main() -> ExitCode {
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
