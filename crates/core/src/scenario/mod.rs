//! The race scenario catalog: one scenario per race class. Each reproduces
//! its race on demand against an embedded simulator (for another protocol's
//! own not-ready window, that protocol's reference server, which needs
//! Node.js and `tests/servers`), checks what the engine and the wire did, and
//! returns a [`ScenarioReport`]. Timers are test-sized, so each runs in
//! seconds.
//!
//! - `catalog`: the entries (id, race, seed, expected findings);
//! - `harness`: the [`Harness`] the scenarios and the integration tests share;
//! - `run`: one scenario's run around it, and its report;
//! - `job`, `storm`, `dialect`: the scenarios themselves.

mod catalog;
mod dialect;
mod harness;
mod job;
mod report;
mod run;
mod storm;

pub use catalog::{STORM_SOCKETS, ScenarioInfo, catalog, info};
pub use harness::{EVENT_TIMEOUT, Harness, SimTokens};
pub use report::{Recording, ScenarioReport, SocketTimeline, TransitionRecord, Verdict};

use std::path::Path;

use run::Run;

use crate::CoreError;

/// Runs the scenario `id` to its end. A failed check is a report with a
/// failing [`Verdict`]; `Err` means the scenario could not run at all.
pub async fn run(id: &str) -> Result<ScenarioReport, CoreError> {
    run_with(id, None).await
}

/// Like [`run`], recording every event of the run as a new session of the
/// database at `db`; the report says where.
pub async fn run_recorded(id: &str, db: &Path) -> Result<ScenarioReport, CoreError> {
    run_with(id, Some(db)).await
}

async fn run_with(id: &str, db: Option<&Path>) -> Result<ScenarioReport, CoreError> {
    let info = info(id).ok_or_else(|| CoreError::UnknownScenario(id.to_owned()))?;
    let mut run = Run::new(db).await?;
    let outcome = match info.id {
        "send-before-handshake" => job::send_before_handshake(&mut run).await,
        "accepted-but-deaf" => job::accepted_but_deaf(&mut run).await,
        "send-after-close" => job::send_after_close(&mut run).await,
        "broadcast-to-closing" => job::broadcast_to_closing(&mut run).await,
        "peer-frames-after-close" => job::peer_frames_after_close(&mut run).await,
        "abrupt-drop-then-resume" => job::abrupt_drop_then_resume(&mut run).await,
        "resume-impossible-sync-5xx" => job::resume_impossible_sync_5xx(&mut run).await,
        "half-open-stall" => job::half_open_stall(&mut run).await,
        "expired-token-on-reconnect" => job::expired_token_on_reconnect(&mut run).await,
        "queued-sends-vs-app-ready" => job::queued_sends_vs_app_ready(&mut run).await,
        "cancel-during-backoff" => job::cancel_during_backoff(&mut run).await,
        "reconnect-storm-1000" => storm::reconnect_storm(&mut run).await,
        "duplicate-seq-and-gap" => job::duplicate_seq_and_gap(&mut run).await,
        "socketio-namespace-ack-late" => dialect::window(&mut run, &dialect::SOCKETIO).await,
        "graphql-ws-ack-late" => dialect::window(&mut run, &dialect::GRAPHQL).await,
        "phoenix-push-before-join" => dialect::window(&mut run, &dialect::PHOENIX).await,
        "signalr-invoke-before-handshake" => dialect::window(&mut run, &dialect::SIGNALR).await,
        other => return Err(CoreError::UnknownScenario(other.to_owned())),
    };
    run.finish(info, outcome).await
}
