//! Exports stream: exporting a large session holds a page of events and
//! the open intervals, not every span. Measured in a process of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use sockscope_bench::{peak_rss_kib, rss_kib};
use sockscope_recorder::RecordReader;
use sockscope_recorder::export::{self, Format};
use sockscope_test_support::{in_own_process, within};

use crate::support::{config, record};
use crate::synthetic::burst;

/// Events in the session: 1M with the `slow-tests` feature, else 100k.
const EVENTS: u64 = if cfg!(feature = "slow-tests") {
    1_000_000
} else {
    100_000
};

/// Where the parent recorded the session, for the copy that exports it.
const DB_VAR: &str = "SOCKSCOPE_EXPORT_MEMORY_DB";

#[test]
fn exporting_a_large_session_keeps_memory_bounded() {
    let Ok(db) = std::env::var(DB_VAR) else {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("large.db");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let (summary, ..) = rt.block_on(within(
            Duration::from_secs(300),
            "recording the session",
            record(config(&db), burst(EVENTS, 64)),
        ));
        assert_eq!(summary.written, EVENTS);
        println!("recorded {EVENTS} events in {:?}", started.elapsed());
        let name = "export_memory::exporting_a_large_session_keeps_memory_bounded";
        in_own_process(name, &[(DB_VAR, db.to_str().unwrap())]).expect("the parent");
        return;
    };
    export_and_measure(Path::new(&db));
}

/// In its own process: every format, each file checked, and the peak
/// resident memory against where it started.
fn export_and_measure(db: &Path) {
    let reader = RecordReader::open(db).unwrap();
    let session = reader.sessions().unwrap()[0].tag.id;
    let out_dir = db.parent().unwrap();
    let before = rss_kib("self");
    let started = Instant::now();
    for format in [Format::Jaeger, Format::Otlp, Format::Csv] {
        let out = out_dir.join(format!("large.{}", format.file_suffix()));
        export::write_file(&reader, session, format, "sockscope", &out).unwrap();
        let size = std::fs::metadata(&out).unwrap().len();
        println!("{format:?}: {size} bytes");
        if format != Format::Csv {
            // Whole and well-formed, checked without loading it.
            let file = std::io::BufReader::new(std::fs::File::open(&out).unwrap());
            serde_json::from_reader::<_, serde::de::IgnoredAny>(file)
                .unwrap_or_else(|e| panic!("{format:?} export is not JSON: {e}"));
        }
        std::fs::remove_file(&out).unwrap();
    }
    let peak = peak_rss_kib("self");
    let growth = peak.saturating_sub(before);
    println!(
        "export of {EVENTS} events (jaeger, otlp, csv) in {:?}: VmRSS before {before} KiB, \
         VmHWM {peak} KiB, growth {growth} KiB",
        started.elapsed()
    );
    assert!(
        growth < 64 * 1024,
        "peak resident memory grew by {growth} KiB"
    );
}
