//! A corrupt, foreign or newer file: moved aside (never deleted) or refused.

use std::fs;

use sockscope_recorder::{Error, RecordReader, Recorder, RecorderConfig};
use sockscope_test_support::bounded;

use crate::support::{config, file_of_version, raw, record};
use crate::synthetic::burst;

async fn assert_moved_aside(path: &std::path::Path, original: &[u8], reason_has: &str) {
    let (summary, report, sent) = record(config(path), burst(100, 2)).await;
    let moved = report.moved_aside.expect("the bad file was moved aside");
    assert!(
        moved.reason.contains(reason_has),
        "reason: {}",
        moved.reason
    );
    assert!(report.created);
    assert_eq!(fs::read(&moved.to).unwrap(), original, "moved, not changed");
    assert!(
        moved
            .to
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("rec.db.corrupt-")
    );
    assert_eq!(summary.written, sent);
    let reader = RecordReader::open(path).unwrap();
    assert_eq!(reader.sessions().unwrap().len(), 1, "a fresh database");
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_moved_aside() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        let junk = b"this is not a database, it is a shopping list\n".repeat(100);
        fs::write(&path, &junk).unwrap();
        assert_moved_aside(&path, &junk, "not an SQLite database").await;
    })
    .await
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_moved_aside() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        {
            let c = raw(&path);
            c.execute_batch(
                "CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');",
            )
            .unwrap();
        }
        let original = fs::read(&path).unwrap();
        assert_moved_aside(&path, &original, "foreign").await;
    })
    .await
}

#[tokio::test]
async fn a_corrupt_sockscope_database_is_moved_aside_with_its_wal() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        record(config(&path), burst(5_000, 4)).await;
        // Trash the schema page (page 1 past the 100-byte header).
        let mut bytes = fs::read(&path).unwrap();
        for b in bytes.iter_mut().skip(100).take(3000) {
            *b = 0xA5;
        }
        fs::write(&path, &bytes).unwrap();
        let wal = dir.path().join("rec.db-wal");
        fs::write(&wal, b"stale wal").unwrap();
        let (_, report, _) = record(config(&path), burst(10, 1)).await;
        let moved = report.moved_aside.expect("moved aside");
        assert!(moved.reason.contains("corrupt"), "{}", moved.reason);
        assert_eq!(fs::read(&moved.to).unwrap(), bytes);
        let moved_wal = format!("{}-wal", moved.to.display());
        assert_eq!(fs::read(moved_wal).unwrap(), b"stale wal");
    })
    .await
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        record(config(&path), burst(10, 1)).await;
        raw(&path).pragma_update(None, "user_version", 99).unwrap();
        let before = fs::read(&path).unwrap();
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        match Recorder::start(RecorderConfig::new(&path), rx) {
            Err(Error::SchemaTooNew { found: 99, .. }) => {}
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), before);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert!(leftovers.is_empty());
    })
    .await
}

/// A reader cannot migrate: a file of an older layout is a clear error
/// until a recorder has opened (and migrated) it, then it reads.
#[tokio::test]
async fn a_reader_refuses_an_older_schema_until_a_recorder_migrates_it() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");
        drop(file_of_version(&path, 3));
        match RecordReader::open(&path) {
            Err(e @ Error::SchemaTooOld { found: 3, .. }) => {
                assert!(e.to_string().contains("record into it once"), "{e}")
            }
            other => panic!("expected SchemaTooOld, got {other:?}"),
        }
        let (summary, report, _) = record(config(&path), burst(10, 1)).await;
        assert!(report.moved_aside.is_none(), "migrated in place");
        assert_eq!(report.schema_version, sockscope_recorder::SCHEMA_VERSION);
        let reader = RecordReader::open(&path).unwrap();
        let mut n = 0;
        reader
            .for_each_event(summary.session.id, |_| {
                n += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 10);
    })
    .await
}
