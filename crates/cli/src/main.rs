//! `sockscope`: thin binary; parsing here, work in [`sockscope_cli::run`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    sockscope_recorder::logging::init_stderr("warn");
    let args = sockscope_cli::Args::parse();
    match sockscope_cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockscope: {}", sockscope_core::error_line(e.chain()));
            ExitCode::FAILURE
        }
    }
}
