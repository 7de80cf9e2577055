//! Integration tests of the `sockscope` binary.

mod demo;
mod history;
mod scenario;
mod watch;
