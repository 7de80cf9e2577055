//! A scenario report as the webview shows it: verdict, findings, and the
//! run's sockets, transitions and finding markers as timeline events.

use serde::Serialize;
use sockscope_core::scenario::{ScenarioReport, Verdict};
use sockscope_engine::event::EventKind;
use std::collections::BTreeMap;
use ts_rs::TS;

use crate::UiError;
use crate::ui_event::UiEvent;

/// `run_scenario`'s answer.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ScenarioResult {
    /// Scenario id.
    pub id: &'static str,
    /// Whether every check held.
    pub passed: bool,
    /// `pass`, or the failure in words.
    pub verdict: String,
    /// What was measured or checked.
    pub observations: Vec<String>,
    /// Wall time taken.
    pub elapsed_ms: f64,
    /// Findings by class.
    pub findings: BTreeMap<&'static str, usize>,
    /// The run's sockets, transitions, findings and engine-wide changes:
    /// one lane per socket, finding markers on them.
    pub events: Vec<UiEvent>,
}

/// What the scenario view draws.
fn shown(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::SocketAdded(_)
            | EventKind::Transition { .. }
            | EventKind::Finding(_)
            | EventKind::Environment(_)
    )
}

impl TryFrom<&ScenarioReport> for ScenarioResult {
    type Error = UiError;

    fn try_from(r: &ScenarioReport) -> Result<ScenarioResult, UiError> {
        // The run's own engine events, with their real socket ids (from 1;
        // 0 is engine-wide) and engine times. Frames, messages and the rest
        // stay out: the scenario view shows lanes, states, findings and
        // machine-wide changes, which keeps the reconnect storm small.
        let mut events: Vec<UiEvent> = r
            .events
            .iter()
            .filter(|e| shown(&e.kind))
            .map(|e| UiEvent::live(e))
            .collect::<Result<_, _>>()?;
        events.sort_by_key(|e| e.t);
        Ok(ScenarioResult {
            id: r.info.id,
            passed: r.passed(),
            verdict: match &r.verdict {
                Verdict::Pass => "pass".into(),
                Verdict::Fail { reason } => reason.clone(),
            },
            observations: r.observations.clone(),
            elapsed_ms: r.elapsed.as_secs_f64() * 1e3,
            findings: r.findings.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            events,
        })
    }
}
