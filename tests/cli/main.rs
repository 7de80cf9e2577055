//! Integration tests of the `sockscope` binary.

mod demo;
mod scenario;
