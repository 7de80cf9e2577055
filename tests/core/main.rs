//! Integration tests of `sockscope-core`: every catalog scenario, the chaos
//! proxy over real loopback sockets, and the randomized fault matrix.

mod config;
mod matrix;
mod proxy;
mod scenarios;
mod session;
mod stop;
