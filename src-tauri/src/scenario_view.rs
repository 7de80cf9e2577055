//! A scenario report as the webview shows it: verdict, findings, and the
//! sockets' transitions as timeline events.

use serde::Serialize;
use sockscope_core::scenario::{ScenarioReport, Verdict};
use sockscope_engine::event::{Endpoint, Event, EventKind, SocketInfo};
use sockscope_engine::{AdapterKind, Mono};
use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::transfer::UiEvent;

/// `run_scenario`'s answer.
#[derive(Debug, Clone, Serialize)]
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
    /// The sockets' transitions, one lane per socket.
    pub events: Vec<UiEvent>,
}

impl From<&ScenarioReport> for ScenarioResult {
    fn from(r: &ScenarioReport) -> ScenarioResult {
        let wall = SystemTime::now() - r.elapsed;
        let mut events = Vec::new();
        for (i, s) in r.sockets.iter().enumerate() {
            let socket = i as u64;
            let added = Event {
                socket,
                mono: Mono(0),
                wall,
                kind: EventKind::SocketAdded(SocketInfo {
                    name: s.name.clone(),
                    endpoint: Endpoint {
                        scheme: "ws".into(),
                        host: "scenario".into(),
                        port: 0,
                        path: String::new(),
                    },
                    adapter: AdapterKind::Job,
                    job_id: None,
                    token_source: None,
                }),
            };
            events.push(UiEvent::live(&added));
            for t in &s.transitions {
                let ev = Event {
                    socket,
                    mono: Mono(u64::try_from(t.at.as_nanos()).unwrap_or(u64::MAX)),
                    wall: wall + t.at,
                    kind: EventKind::Transition {
                        from: t.from,
                        to: t.to.clone(),
                        cause: t.cause.clone(),
                    },
                };
                events.push(UiEvent::live(&ev));
            }
        }
        events.sort_by_key(|e| e.t);
        ScenarioResult {
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
        }
    }
}
