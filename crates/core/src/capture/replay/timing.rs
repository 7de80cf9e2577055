//! When each step of a replayed attempt is due. Sans-IO: times are
//! [`Duration`]s since the replay answered the upgrade, given by the
//! driver; [`AttemptRun`] says what is due and when to look again.

use std::collections::VecDeque;
use std::time::Duration;

use super::script::{Act, AttemptScript, Step};

/// What a step's time is measured from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Timing {
    /// From what it followed in the recording: the previous step and, when
    /// the recorded client sent data frames in between, the last of them.
    /// A step waits for the replay's client to send as many data frames,
    /// then keeps the recorded gaps. So an answer never comes before its
    /// request, whatever the client's pace. The default.
    #[default]
    Client,
    /// From the upgrade's answer alone, as recorded: the client's frames
    /// do not move anything.
    Open,
}

impl Timing {
    /// `client` or `open`.
    pub fn parse(name: &str) -> Option<Timing> {
        match name {
            "client" => Some(Timing::Client),
            "open" => Some(Timing::Open),
            _ => None,
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The next step is due at this time (it may have passed).
    At(Duration),
    /// The next step waits for a data frame from the client.
    Client,
    /// Every step is done.
    Done,
}

/// One attempt being replayed: its steps, the client's data frames so far,
/// and what is due next.
#[derive(Debug)]
pub struct AttemptRun<'s> {
    steps: &'s [Step],
    timing: Timing,
    speed: f64,
    next: usize,
    /// When the previous step was due.
    last: Duration,
    /// Data frames the client has sent.
    clients: usize,
    /// Arrival times of the client frames that steps still to come wait
    /// for: never more than there are such steps.
    arrivals: VecDeque<(usize, Duration)>,
}

impl<'s> AttemptRun<'s> {
    /// A run of `attempt` at `speed` (2.0 is twice as fast; it must be
    /// finite and above 0, as [`super::ReplayOptions::check`] makes sure).
    pub fn new(attempt: &'s AttemptScript, timing: Timing, speed: f64) -> AttemptRun<'s> {
        AttemptRun {
            steps: &attempt.steps,
            timing,
            speed,
            next: 0,
            last: Duration::ZERO,
            clients: 0,
            arrivals: VecDeque::new(),
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }

    /// The client sent a data frame at `now`.
    pub fn client_frame(&mut self, now: Duration) {
        let index = self.clients;
        self.clients += 1;
        let wanted = self.steps[self.next.min(self.steps.len())..]
            .iter()
            .filter_map(|s| s.after_client.map(|(k, _)| k))
            .take_while(|k| *k <= index)
            .any(|k| k == index);
        if wanted {
            self.arrivals.push_back((index, now));
        }
    }

    /// Data frames the client has sent.
    pub fn client_frames(&self) -> usize {
        self.clients
    }

    /// When the next step is due.
    pub fn due(&self) -> Due {
        let Some(step) = self.steps.get(self.next) else {
            return Due::Done;
        };
        if self.timing == Timing::Open {
            return Due::At(self.scaled(step.at));
        }
        let after_previous = self.last + self.scaled(step.after_previous);
        match step.after_client {
            None => Due::At(after_previous),
            Some((k, gap)) => match self.arrivals.iter().find(|(i, _)| *i == k) {
                Some((_, arrived)) => Due::At(after_previous.max(*arrived + self.scaled(gap))),
                None => Due::Client,
            },
        }
    }

    /// The next step if it is due at `now`; it counts as done.
    pub fn take_due(&mut self, now: Duration) -> Option<&'s Act> {
        let Due::At(at) = self.due() else {
            return None;
        };
        if at > now {
            return None;
        }
        let step = &self.steps[self.next];
        self.next += 1;
        self.last = at;
        if let Some((k, _)) = step.after_client {
            self.arrivals.retain(|(i, _)| *i > k);
        }
        Some(&step.act)
    }

    /// Steps done so far.
    pub fn done(&self) -> usize {
        self.next
    }
}
