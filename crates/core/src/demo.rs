//! The built-in demo: three job sockets whose simulator faults set off the
//! races of the seeds, so a new user sees a race within seconds.

use std::time::Duration;

use sockscope_protocol::JobKind;
use sockscope_sim::Faults;

/// One demo job.
#[derive(Debug, Clone)]
pub struct DemoJob {
    /// Its kind, also the socket's name.
    pub kind: JobKind,
    /// The race it shows, in plain words.
    pub story: &'static str,
    /// The simulator faults that set the race off.
    pub faults: Faults,
    /// Application messages sent before Ready.
    pub early_sends: usize,
}

/// Items per demo job. Default pace: one item every 50 ms.
pub const DEMO_ITEMS: u64 = 60;

/// How long a demo socket waits for `ready_ack` before sending `ready` again.
pub const DEMO_READY_TIMEOUT: Duration = Duration::from_millis(500);

/// The three demo jobs, `items` long, one item every `interval_ms`.
pub fn demo_jobs(items: u64, interval_ms: u64) -> Vec<DemoJob> {
    let items = items.max(3);
    let pace = |f: Faults| Faults {
        interval_ms: Some(interval_ms),
        ..f
    };
    vec![
        DemoJob {
            kind: JobKind::CsvImport,
            story: "slow handshake with sends before Ready (seed 000), then an abrupt drop and a resume (seed 002)",
            faults: pace(Faults {
                accept_delay_ms: Some(400),
                drop_after: Some(items / 3),
                ..Faults::default()
            }),
            early_sends: 2,
        },
        DemoJob {
            kind: JobKind::BookshelfScan,
            story: "accepted but deaf for a while (seeds 001, 004): ready times out and is sent again",
            faults: pace(Faults {
                ready_deaf_ms: Some(1_200),
                ..Faults::default()
            }),
            early_sends: 0,
        },
        DemoJob {
            kind: JobKind::Enrichment,
            story: "server restart mid-job with frames after its close (seed 003), no history, a 503 on state sync",
            faults: pace(Faults {
                close_after: Some(items / 2),
                send_after_close: Some(2),
                history: Some(0),
                state_5xx: Some(1),
                ..Faults::default()
            }),
            early_sends: 0,
        },
    ]
}
