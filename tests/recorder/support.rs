//! Helpers shared by the recorder tests.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use sockscope_engine::Event;
use sockscope_recorder::{OpenReport, Recorder, RecorderConfig, WriterSummary};
use tokio::sync::mpsc;

/// Records `events` into the database at `path` as one session, through a
/// channel of the engine's lossless type, and returns what the writer says.
pub async fn record(
    config: RecorderConfig,
    events: impl IntoIterator<Item = Event, IntoIter: Send> + Send + 'static,
) -> (WriterSummary, OpenReport, u64) {
    let (tx, rx) = mpsc::channel::<Arc<Event>>(8192);
    let (recorder, report) = Recorder::start(config, rx).expect("recorder starts");
    let events = events.into_iter();
    let producer = tokio::spawn(async move {
        let mut sent = 0u64;
        for e in events {
            tx.send(Arc::new(e)).await.expect("writer alive");
            sent += 1;
        }
        sent
    });
    let sent = producer.await.expect("producer");
    let summary = recorder.finish().await.expect("writer finishes cleanly");
    (summary, report, sent)
}

/// A config for `path` with defaults.
pub fn config(path: &Path) -> RecorderConfig {
    RecorderConfig::new(path)
}

/// A read-write connection for checks the read API does not cover.
pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open raw")
}

/// A new file at `path` of schema `version`, as a build of it made one.
pub fn file_of_version(path: &Path, version: usize) -> rusqlite::Connection {
    let mut conn = raw(path);
    sockscope_recorder::migrations()
        .to_version(&mut conn, version)
        .expect("migrate");
    conn.pragma_update(None, "application_id", sockscope_recorder::APPLICATION_ID)
        .expect("application id");
    conn
}
