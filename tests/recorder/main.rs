//! Integration tests of sockscope-recorder: SQLite recording, zero loss,
//! crash safety, corrupt files, retention, OpenTelemetry, exports, secrecy.

mod synthetic;

mod corrupt;
mod crash;
mod disk_full;
mod engine_e2e;
mod export;
mod export_memory;
mod otlp;
mod resume;
mod retention;
mod secrecy;
mod sqlite;
mod support;
mod sync;
mod zero_loss;
