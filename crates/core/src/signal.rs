//! The signals that ask a process to end: Ctrl-C (SIGINT), SIGTERM and
//! SIGHUP (a closed terminal, a desktop logout). The CLI's `watch` and
//! `demo` and the desktop app catch them and end the way a normal end does
//! ([`crate::Session::stop`]: sockets cancelled, the last batch committed,
//! the session marked ended, OTLP flushed), then exit with 128 + the
//! signal's number, as a shell reports a process the signal killed: 130
//! (SIGINT), 143 (SIGTERM), 129 (SIGHUP). A second signal while stopping
//! exits at once.

use std::process::ExitCode;

/// A signal that asks the process to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP (the terminal went away).
    HangUp,
}

impl Stop {
    /// 128 + the signal's number.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }

    /// 128 + the signal's number, as a number.
    pub fn code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
            Stop::HangUp => 129,
        }
    }

    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
            Stop::HangUp => "SIGHUP",
        }
    }
}

/// The handlers, installed before the session starts so that a signal
/// during the start is not lost (nor kills the process half-way).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Call inside the runtime.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => Stop::Interrupt,
                _ = self.term.recv() => Stop::Terminate,
                _ = self.hup.recv() => Stop::HangUp,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }

    /// After the first signal: a second one exits at once, without the
    /// clean stop (the session is then marked crashed at the next start).
    pub fn exit_on_next(mut self) {
        tokio::spawn(async move {
            let again = self.recv().await;
            eprintln!(
                "sockscope: {} again; exiting without a clean stop",
                again.name()
            );
            std::process::exit(i32::from(again.code()));
        });
    }
}
