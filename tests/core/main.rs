//! Integration tests of `sockscope-core`: every catalog scenario, the chaos
//! proxy over real loopback sockets, and the randomized fault matrix.

mod browser;
mod capture;
mod config;
mod har_fuzz;
mod history;
mod matrix;
mod proxy;
mod record;
mod replay;
mod scenarios;
mod session;
mod stop;
