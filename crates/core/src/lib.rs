//! The app core: one library crate shared by the `sockscope` CLI and the
//! desktop app, so both do the same work the same way.
//!
//! [`history`] gives a running session's events from its start, each
//! exactly once: the recorder's pages, then the live subscription.
//! [`scenario`] is the race scenario catalog: one scenario per race class,
//! each reproduced on demand against the simulator and checked against the
//! findings it must produce. [`proxy`] is the chaos proxy: a TCP proxy whose
//! toxics (latency, bandwidth, blackhole, drop, reset) switch at runtime, for
//! races on the network between the engine and a real backend.
//! [`capture`] imports connections sockscope did not open (HAR files) as
//! sessions, with the observer's findings.

pub mod capture;
pub mod config;
pub mod demo;
mod error;
pub mod history;
pub mod proxy;
pub mod scenario;
pub mod session;
pub mod signal;

pub use config::{Config, SocketSpec, TokenSpec};
pub use error::{CoreError, error_line};
pub use session::{ExportEnd, STOP_BUDGET, Session, SessionEnd, SessionOptions, SocketView};
