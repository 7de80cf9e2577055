//! What a scenario run showed, and how it reads.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::Event;
use sockscope_engine::State;
use sockscope_engine::event::{Cause, FindingClass, StateName};

use super::ScenarioInfo;

/// What a scenario run showed.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The catalog entry.
    pub info: &'static ScenarioInfo,
    /// Each socket's transitions, in socket order.
    pub sockets: Vec<SocketTimeline>,
    /// Findings produced, by class.
    pub findings: BTreeMap<FindingClass, usize>,
    /// What the scenario measured or checked on the wire, in words.
    pub observations: Vec<String>,
    /// Wall time the scenario took.
    pub elapsed: Duration,
    /// Pass or fail, with the reason.
    pub verdict: Verdict,
    /// Where the run was recorded, when it was.
    pub recording: Option<Recording>,
    /// Every engine event of the run, in the order the lossless
    /// subscription delivered it (engine-monotonic times, real socket ids):
    /// what a timeline draws, findings included.
    pub events: Vec<Arc<Event>>,
}

/// Where a scenario run is in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The database file.
    pub db: std::path::PathBuf,
    /// The session holding the run.
    pub session_id: i64,
    /// Events written.
    pub events: u64,
}

impl ScenarioReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// A scenario's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held and every expected finding was produced.
    Pass,
    /// A check did not hold.
    Fail {
        /// Which, and what was seen instead.
        reason: String,
    },
}

/// One socket's life in a scenario.
#[derive(Debug, Clone)]
pub struct SocketTimeline {
    /// The socket's display name.
    pub name: String,
    /// Its transitions, in order.
    pub transitions: Vec<TransitionRecord>,
}

/// One transition, timed from the scenario's start.
#[derive(Debug, Clone)]
pub struct TransitionRecord {
    /// Time since the scenario started.
    pub at: Duration,
    /// State before.
    pub from: StateName,
    /// State after.
    pub to: State,
    /// Why.
    pub cause: Cause,
}

/// Sockets shown in full by `Display`; a storm shows a summary instead.
const SHOWN_SOCKETS: usize = 4;

impl fmt::Display for ScenarioReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.info;
        writeln!(f, "scenario {} (seed {}): {}", i.id, i.seed, i.race)?;
        writeln!(f, "what happened:")?;
        for s in self.sockets.iter().take(SHOWN_SOCKETS) {
            writeln!(f, "  socket {}", s.name)?;
            for t in &s.transitions {
                writeln!(
                    f,
                    "    {:>7.3}s  {} -> {}  ({})",
                    t.at.as_secs_f64(),
                    t.from.as_str(),
                    t.to,
                    t.cause
                )?;
            }
        }
        if self.sockets.len() > SHOWN_SOCKETS {
            let transitions: usize = self.sockets.iter().map(|s| s.transitions.len()).sum();
            writeln!(
                f,
                "  ... and {} more sockets ({transitions} transitions in all)",
                self.sockets.len() - SHOWN_SOCKETS
            )?;
        }
        for o in &self.observations {
            writeln!(f, "  - {o}")?;
        }
        writeln!(f, "findings:")?;
        if self.findings.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for (class, n) in &self.findings {
            let tag = if i.expected.contains(class) {
                "  (expected)"
            } else {
                ""
            };
            writeln!(f, "  {:<28} {n:>5}{tag}", class.as_str())?;
        }
        if let Some(r) = &self.recording {
            writeln!(
                f,
                "recorded: {} events in session {} of {} (sockscope timeline --session {} --db {})",
                r.events,
                r.session_id,
                r.db.display(),
                r.session_id,
                r.db.display()
            )?;
        }
        match &self.verdict {
            Verdict::Pass => write!(f, "result: PASS in {:.2}s", self.elapsed.as_secs_f64()),
            Verdict::Fail { reason } => write!(
                f,
                "result: FAIL in {:.2}s: {reason}",
                self.elapsed.as_secs_f64()
            ),
        }
    }
}
