//! Integration tests of the engine: the machine alone (transcripts, property
//! tests) and the whole engine against the simulator, or a hand-written
//! misbehaving peer, over real loopback sockets.

mod bounds;
mod config;
mod dialects;
mod many;
mod properties;
mod rules;
mod secrets;
mod tls;
mod transcript;
mod wire;
