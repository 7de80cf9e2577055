//! One scenario's run: the [`Harness`], plus what its report needs (the
//! observations, servers it started, the recording), and the way a
//! scenario stops early.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sockscope_engine::event::EventKind;
use sockscope_recorder::{Recorder, RecorderConfig};
use tokio::task::JoinHandle;

use super::ScenarioInfo;
use super::harness::Harness;
use super::report::{Recording, ScenarioReport, SocketTimeline, TransitionRecord, Verdict};
use crate::CoreError;

/// Room in the recorder's lossless queue.
const RECORDER_QUEUE: usize = 8192;

/// Why a scenario stopped early.
pub(super) enum Stop {
    /// A check failed: the report says why.
    Check(String),
    /// The scenario could not go on.
    Error(CoreError),
}

impl From<CoreError> for Stop {
    fn from(e: CoreError) -> Stop {
        match e {
            // What the scenario waited for never came: its check failed.
            CoreError::WaitFailed(what) => Stop::Check(what),
            e => Stop::Error(e),
        }
    }
}

impl From<sockscope_sim::SimError> for Stop {
    fn from(e: sockscope_sim::SimError) -> Stop {
        Stop::Error(e.into())
    }
}

impl From<sockscope_engine::Error> for Stop {
    fn from(e: sockscope_engine::Error) -> Stop {
        Stop::Error(e.into())
    }
}

pub(super) type Step<T = ()> = Result<T, Stop>;

/// A check: `Ok` if it held, else a failing step with `reason`.
pub(super) fn check(ok: bool, reason: impl FnOnce() -> String) -> Step {
    if ok {
        Ok(())
    } else {
        Err(Stop::Check(reason()))
    }
}

/// A harness, with what the scenario's report needs.
pub(super) struct Run {
    harness: Harness,
    started: std::time::Instant,
    observations: Vec<String>,
    /// Servers a scenario started besides the simulator.
    pub tasks: Vec<JoinHandle<()>>,
    recorder: Option<(Recorder, PathBuf)>,
}

impl Deref for Run {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.harness
    }
}

impl DerefMut for Run {
    fn deref_mut(&mut self) -> &mut Harness {
        &mut self.harness
    }
}

impl Run {
    pub async fn new(db: Option<&Path>) -> Result<Run, CoreError> {
        let harness = Harness::new().await?;
        let recorder = match db {
            Some(path) => {
                let feed = harness.engine.subscribe_lossless(RECORDER_QUEUE);
                let (recorder, _) = Recorder::start(RecorderConfig::new(path), feed)?;
                Some((recorder, path.to_owned()))
            }
            None => None,
        };
        Ok(Run {
            harness,
            started: std::time::Instant::now(),
            observations: Vec::new(),
            tasks: Vec::new(),
            recorder,
        })
    }

    pub fn observe(&mut self, text: impl Into<String>) {
        self.observations.push(text.into());
    }

    /// Ends every socket, then builds the report.
    pub async fn finish(
        mut self,
        info: &'static ScenarioInfo,
        outcome: Step,
    ) -> Result<ScenarioReport, CoreError> {
        for s in self.engine.sockets() {
            if !s.snapshot().state.is_terminal() {
                // A socket whose task already ended has nothing to cancel.
                let _ = s.cancel().await;
            }
        }
        self.harness.drain();
        for t in &self.tasks {
            t.abort();
        }
        let mut findings = BTreeMap::new();
        let mut sockets: BTreeMap<u64, SocketTimeline> = BTreeMap::new();
        for e in &self.log {
            match &e.kind {
                EventKind::SocketAdded(i) => {
                    sockets.entry(e.socket).or_insert(SocketTimeline {
                        name: i.name.clone(),
                        transitions: Vec::new(),
                    });
                }
                EventKind::Transition { from, to, cause } => {
                    if let Some(s) = sockets.get_mut(&e.socket) {
                        s.transitions.push(TransitionRecord {
                            at: e.mono.since(self.start),
                            from: *from,
                            to: to.clone(),
                            cause: cause.clone(),
                        });
                    }
                }
                EventKind::Finding(f) => *findings.entry(f.class).or_insert(0) += 1,
                _ => {}
            }
        }
        let verdict = match outcome {
            Err(Stop::Error(e)) => return Err(e),
            Err(Stop::Check(reason)) => Verdict::Fail { reason },
            Ok(()) => match info.expected.iter().find(|c| !findings.contains_key(*c)) {
                Some(missing) => Verdict::Fail {
                    reason: format!("the expected {} finding never came", missing.as_str()),
                },
                None => Verdict::Pass,
            },
        };
        let Run {
            harness,
            started,
            observations,
            recorder,
            ..
        } = self;
        let Harness {
            sim, engine, log, ..
        } = harness;
        let mut report = ScenarioReport {
            info,
            sockets: sockets.into_values().collect(),
            findings,
            observations,
            elapsed: started.elapsed(),
            verdict,
            recording: None,
            events: log,
        };
        drop(engine);
        if let Some((recorder, db)) = recorder {
            // With the engine gone its tasks end and the feed closes; a task
            // still ending gets a moment, then the queue is committed as is.
            let session_id = recorder.session().id;
            let summary = recorder.finish();
            let summary = match tokio::time::timeout(Duration::from_secs(5), summary).await {
                Ok(s) => s?,
                Err(_) => return Err(CoreError::Task("the recorder did not finish".into())),
            };
            report.recording = Some(Recording {
                db,
                session_id,
                events: summary.written,
            });
        }
        // Token sources may still hold the simulator; dropping it stops it too.
        if let Ok(sim) = std::sync::Arc::try_unwrap(sim) {
            sim.shutdown().await;
        }
        Ok(report)
    }
}
