//! Integration tests of the engine: the machine alone (transcripts, property
//! tests) and the whole engine against the simulator over real loopback
//! sockets.

mod properties;
mod rules;
mod transcript;
