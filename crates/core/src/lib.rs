//! The app core: one library crate shared by the `sockscope` CLI and the
//! desktop app, so both do the same work the same way.
//!
//! [`scenario`] is the race scenario catalog: one scenario per race class,
//! each reproduced on demand against the simulator and checked against the
//! findings it must produce. [`proxy`] is the chaos proxy: a TCP proxy whose
//! toxics (latency, bandwidth, blackhole, drop, reset) switch at runtime, for
//! races on the network between the engine and a real backend.

pub mod config;
pub mod demo;
mod error;
pub mod proxy;
pub mod scenario;
pub mod session;
pub mod signal;

pub use config::{Config, SocketSpec, TokenSpec};
pub use error::{CoreError, error_line};
pub use session::{ExportEnd, STOP_BUDGET, Session, SessionEnd, SessionOptions, SocketView};
