//! The recorder: every engine event to SQLite and to OpenTelemetry, with
//! nothing lost and no secret kept.
//!
//! [`Recorder`] drains a lossless engine subscription on one writer thread
//! into a WAL-mode SQLite file, in batched transactions. [`RecordReader`]
//! reads sessions and event windows back for the UI and the CLI, and
//! [`export`] writes a past session as Jaeger JSON, OTLP JSON or CSV.
//! [`Telemetry`] sends live per-socket traces over OTLP. Free text is
//! scrubbed by [`redact`] before it is stored or sent; [`logging`] is the
//! scrubbed log subscriber the binaries install. Only this crate
//! touches SQLite and OpenTelemetry; the schema is in docs/schema.md.

mod error;
pub mod export;
mod kinds;
pub mod logging;
pub mod otel;
pub mod read;
pub mod record;
pub mod redact;
mod schema;
mod store;
pub mod trace;
mod writer;

pub use error::Error;
pub use otel::{Delivery, OtlpProtocol, Telemetry, TelemetryConfig};
pub use read::{
    EventPage, IdRange, PageCursor, RecordReader, SessionSummary, SocketSummary, WindowQuery,
};
pub use record::{EventBody, EventRecord};
/// The migrations, for tests that make a file of an older version.
#[doc(hidden)]
pub use schema::migrations;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::{MovedAside, OpenReport, Retention, SessionTag};
pub use writer::{
    CommitRetry, Recorder, RecorderConfig, RecorderSync, SyncPoint, WriterHealth, WriterSummary,
};
