//! Wake detection: the pure decision on injected samples, the detector on
//! tokio's paused clock, and a wake ending a backoff against the simulator.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockscope_engine::event::{Cause, StateName};
use sockscope_environment::wake::{BootClock, Sample, Wake, WakeDetector, detect};
use sockscope_environment::{Change, EnvironmentTask, Sources};
use sockscope_test_support::{Harness, bounded, within};

use crate::support::{
    LONG_BACKOFF, dropping_job, into_long_backoff, long_backoff, reconnect_cause, report,
};

const S: fn(u64) -> Duration = Duration::from_secs;
const T: Duration = Duration::from_secs(3);

fn at(mono: u64, boot: u64) -> Sample {
    Sample {
        mono: S(mono),
        boot: S(boot),
    }
}

#[test]
fn clocks_moving_together_are_no_wake_even_across_a_long_stall() {
    // A ten-second stall of the process moves both clocks alike.
    assert_eq!(detect(at(100, 5_000), at(110, 5_010), T), None);
    assert_eq!(detect(at(100, 5_000), at(101, 5_001), T), None);
}

#[test]
fn the_boot_clock_running_ahead_is_a_wake_of_that_length() {
    // One second of monotonic time, an hour and a second of boot time.
    assert_eq!(
        detect(at(100, 5_000), at(101, 8_601), T),
        Some(Wake {
            suspended: S(3_600)
        })
    );
}

#[test]
fn a_gap_at_or_under_the_threshold_is_not_a_wake() {
    assert_eq!(detect(at(100, 5_000), at(101, 5_004), T), None);
    assert!(detect(at(100, 5_000), at(101, 5_005), T).is_some());
}

#[test]
fn a_clock_stepped_back_is_never_a_wake() {
    assert_eq!(detect(at(100, 5_000), at(101, 4_000), T), None);
    assert_eq!(detect(at(100, 5_000), at(150, 5_010), T), None);
}

/// A boot clock that follows a monotonic origin plus whatever suspend the
/// test injects.
#[derive(Debug)]
struct FakeBoot {
    origin: tokio::time::Instant,
    slept: Mutex<Duration>,
}

impl FakeBoot {
    fn new() -> Arc<FakeBoot> {
        Arc::new(FakeBoot {
            origin: tokio::time::Instant::now(),
            slept: Mutex::new(Duration::ZERO),
        })
    }

    fn suspend(&self, d: Duration) {
        *self.slept.lock().unwrap() += d;
    }
}

impl BootClock for FakeBoot {
    fn now(&self) -> Duration {
        self.origin.elapsed() + *self.slept.lock().unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn the_detector_reports_an_injected_suspend_on_the_next_sample_and_nothing_before() {
    bounded(async {
        let clock = FakeBoot::new();
        let mut det = WakeDetector::new(clock.clone(), Duration::from_millis(100), T);
        // Twenty seconds of virtual time, two hundred samples: no wake.
        let quiet = tokio::time::timeout(S(20), det.next()).await;
        assert!(quiet.is_err(), "no suspend, yet {quiet:?}");
        clock.suspend(S(3_600));
        let started = tokio::time::Instant::now();
        let wake = within(S(1), "the wake", det.next()).await;
        assert_eq!(wake.suspended, S(3_600));
        assert!(
            started.elapsed() <= Duration::from_millis(100),
            "found on the next sample"
        );
    })
    .await;
}

#[tokio::test]
async fn a_wake_ends_a_backoff_at_once() {
    bounded(async {
        let mut h = Harness::new().await;
        let clock = FakeBoot::new();
        let det = WakeDetector::new(clock.clone(), Duration::from_millis(20), T);
        let env = EnvironmentTask::spawn(
            h.engine.clone(),
            Sources {
                network: None,
                wake: Some(det),
            },
        );
        let mut reports = env.subscribe();
        let job = dropping_job(&h);
        let s = h.add(&long_backoff(&h, &job));
        let planned = into_long_backoff(&mut h, &s).await;

        clock.suspend(S(8 * 3_600));
        let seen = report(&mut reports, "the wake to be reported", |o| {
            o.changes.iter().any(|c| matches!(c, Change::Wake(_)))
        })
        .await;
        // Real time here: the two clocks are read a few ns apart.
        let [Change::Wake(Wake { suspended })] = seen.changes[..] else {
            panic!("one wake expected: {:?}", seen.changes);
        };
        assert!(suspended.abs_diff(S(8 * 3_600)) < S(1), "{suspended:?}");
        assert_eq!(seen.notified, [s.id()]);

        let (connecting, cause) = reconnect_cause(&mut h, &s).await;
        assert_eq!(cause, Cause::NetworkChanged);
        assert!(connecting.mono.since(planned.mono) < LONG_BACKOFF / 10);
        h.state(&s, StateName::Ready).await;
    })
    .await;
}
