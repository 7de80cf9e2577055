//! Sleep and wake, seen as two clocks drifting apart.
//!
//! Which clocks: the *monotonic* clock (`CLOCK_MONOTONIC` on Linux, which is
//! what `std::time::Instant`, tokio's clock and so the engine's [`Mono`] run
//! on) does not advance while the machine is suspended. `CLOCK_BOOTTIME`
//! does: it is the monotonic clock plus the time spent suspended, and unlike
//! the wall clock (`CLOCK_REALTIME`) it is never stepped by NTP or by hand.
//! So between two samples, `Δboot − Δmono` is the time the machine slept.
//! A stalled process (a long GC pause, a debugger, a starved runtime) moves
//! both clocks alike and is not mistaken for a suspend.
//!
//! Elsewhere there is no boot-time clock in std, so [`SystemBootClock`]
//! falls back to the wall clock: macOS's `Instant` (`mach_absolute_time`)
//! also stops during sleep, so a wall-clock jump past the threshold is a
//! wake, but a wall clock stepped forward by hand looks like one too (a
//! spurious probe, which is harmless). On Windows `Instant` may keep
//! counting through sleep, in which case a wake goes unseen here and the
//! heartbeat finds the dead link instead.
//!
//! The decision is [`detect`], a pure function of two samples and a
//! threshold; [`WakeDetector`] only takes the samples.
//!
//! [`Mono`]: sockscope_engine::Mono

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// One reading of both clocks, each as time since some fixed origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The monotonic clock: stops while suspended.
    pub mono: Duration,
    /// The boot-time (or wall) clock: keeps counting while suspended.
    pub boot: Duration,
}

/// A suspend found between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// How long the machine slept, as far as the clocks tell:
    /// `Δboot − Δmono`.
    pub suspended: Duration,
}

impl fmt::Display for Wake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "woke after {:?} suspended", self.suspended)
    }
}

/// Whether the machine was suspended between `prev` and `now`: the boot
/// clock ran ahead of the monotonic one by more than `threshold`. A boot
/// (or wall) clock that ran *behind* (stepped back) is never a wake.
pub fn detect(prev: Sample, now: Sample, threshold: Duration) -> Option<Wake> {
    let d_mono = now.mono.saturating_sub(prev.mono);
    let d_boot = now.boot.checked_sub(prev.boot)?;
    let gap = d_boot.checked_sub(d_mono)?;
    (gap > threshold).then_some(Wake { suspended: gap })
}

/// A clock that keeps counting while the machine is suspended.
pub trait BootClock: Send + Sync + fmt::Debug {
    /// Time since a fixed origin.
    fn now(&self) -> Duration;
}

/// `CLOCK_BOOTTIME` on Linux and Android; the wall clock elsewhere (see
/// the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemBootClock;

impl BootClock for SystemBootClock {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now(&self) -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn now(&self) -> Duration {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// Samples both clocks every `period` and reports wakes.
///
/// The monotonic side is tokio's clock, so under a paused test clock the
/// detector runs on virtual time; the boot side is any [`BootClock`].
#[derive(Debug)]
pub struct WakeDetector {
    clock: Arc<dyn BootClock>,
    threshold: Duration,
    origin: Instant,
    ticks: Interval,
    last: Option<Sample>,
}

impl WakeDetector {
    /// Default time between samples: 1 s.
    pub const PERIOD: Duration = Duration::from_secs(1);
    /// Default gap that counts as a suspend: 3 s. Far above scheduling
    /// jitter, far below any suspend worth reacting to.
    pub const THRESHOLD: Duration = Duration::from_secs(3);

    /// A detector on the system clocks with the default period and threshold.
    pub fn system() -> WakeDetector {
        WakeDetector::new(Arc::new(SystemBootClock), Self::PERIOD, Self::THRESHOLD)
    }

    /// A detector on `clock`, sampling every `period`. Call inside a runtime.
    pub fn new(clock: Arc<dyn BootClock>, period: Duration, threshold: Duration) -> WakeDetector {
        let mut ticks = tokio::time::interval(period);
        // After a suspend, one tick, not a burst of catch-up ticks.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        WakeDetector {
            clock,
            threshold,
            origin: Instant::now(),
            ticks,
            last: None,
        }
    }

    /// Both clocks, now.
    pub fn sample(&self) -> Sample {
        Sample {
            mono: self.origin.elapsed(),
            boot: self.clock.now(),
        }
    }

    /// Waits for the next wake. Cancel-safe.
    pub async fn next(&mut self) -> Wake {
        loop {
            self.ticks.tick().await;
            let now = self.sample();
            let prev = self.last.replace(now);
            if let Some(wake) = prev.and_then(|p| detect(p, now, self.threshold)) {
                return wake;
            }
        }
    }
}
