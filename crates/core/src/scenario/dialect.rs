//! Each dialect's own not-ready window, against its reference server.

use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{ClosedReason, EventKind, FindingClass as F, StateName};
use sockscope_engine::{AdapterKind, SocketConfig, State};
use sockscope_sim::reference::ReferenceServer;

use super::run::{Run, Step, check};

/// A dialect's not-ready window against its reference server: the server
/// holds its readiness ack back; the app sends in the window. The engine must
/// hold the send until Ready, and the server must see it only after it is
/// ready, where it is harmless.
pub(super) struct DialectWindow {
    adapter: AdapterKind,
    script: &'static str,
    path: &'static str,
    /// The option naming the server's delay.
    delay_option: &'static str,
    /// What the app sends in the window.
    early: &'static str,
    /// The server's line once it is ready, then its line for what it got.
    ready_line: &'static str,
    got_line: &'static str,
    /// Lines that would show the race lost.
    bad_lines: &'static [&'static str],
}

/// How long each reference server holds its ack back.
const WINDOW_MS: u64 = 400;
const DIALECT_TOKEN: &str = "scenario-token";

pub(super) const SOCKETIO: DialectWindow = DialectWindow {
    adapter: AdapterKind::SocketIo,
    script: "socketio-job.mjs",
    path: "/",
    delay_option: "ackDelayMs",
    early: r#"42["hello",1]"#,
    ready_line: "CONNECTED",
    got_line: "EVENT hello [1]",
    bad_lines: &[],
};

pub(super) const GRAPHQL: DialectWindow = DialectWindow {
    adapter: AdapterKind::GraphqlWs,
    script: "graphql-ws-job.mjs",
    path: "/",
    delay_option: "ackDelayMs",
    early: r#"{"type":"ping"}"#,
    ready_line: "CONNECTED",
    got_line: "SUBSCRIBED",
    bad_lines: &[],
};

pub(super) const PHOENIX: DialectWindow = DialectWindow {
    adapter: AdapterKind::Phoenix,
    script: "phoenix-job.mjs",
    path: "/socket",
    delay_option: "joinDelayMs",
    early: r#"["1","7","job:scenario","note",{"n":1}]"#,
    ready_line: "JOINED",
    got_line: r#"PUSH note {"n":1}"#,
    bad_lines: &["UNMATCHED"],
};

pub(super) const SIGNALR: DialectWindow = DialectWindow {
    adapter: AdapterKind::SignalR,
    script: "signalr-job.mjs",
    path: "/hub",
    delay_option: "handshakeDelayMs",
    early: "{\"type\":1,\"target\":\"Note\",\"arguments\":[1]}\u{1e}",
    ready_line: "HANDSHAKE",
    got_line: "INVOKE Note [1]",
    bad_lines: &["BAD_HANDSHAKE"],
};

pub(super) async fn window(run: &mut Run, w: &DialectWindow) -> Step {
    let mut options = serde_json::json!({
        "token": DIALECT_TOKEN, "total": 20, "intervalMs": 10,
    });
    options[w.delay_option] = WINDOW_MS.into();
    let mut server = ReferenceServer::start(w.script, options).await?;
    let mut cfg = SocketConfig::job(server.url(w.path));
    cfg.adapter = w.adapter;
    cfg.name = Some(w.adapter.as_str().into());
    cfg.job_id = Some("scenario".into());
    cfg.token = Some(Arc::new(sockscope_engine::StaticToken::new(DIALECT_TOKEN)));
    cfg.dialect.query =
        Some("subscription { progress(jobId: \"{job_id}\") { processed total } }".into());
    let s = run.add(&cfg)?;
    let accepted = run.state(&s, StateName::AwaitingReady).await?;
    s.send(w.early).await?;
    run.finding(&s, F::SendBeforeReadyQueued).await?;
    let ready = run.state(&s, StateName::Ready).await?;
    let window = ready.mono.since(accepted.mono);
    run.observe(format!(
        "{}: accepted at the handshake, Ready {:.0} ms later (the server held its ack {WINDOW_MS} ms)",
        w.adapter.as_str(),
        window.as_secs_f64() * 1000.0
    ));
    check(window >= Duration::from_millis(WINDOW_MS * 3 / 4), || {
        format!("Ready {window:?} after the handshake: the window was not held open")
    })?;
    server.line_starting(w.ready_line).await?;
    let got = server.line_starting(w.got_line).await?;
    run.observe(format!(
        "the server was ready, then got the app's early message: `{got}`"
    ));
    let ended = run.state(&s, StateName::Closed).await?;
    check(
        matches!(
            &ended.kind,
            EventKind::Transition {
                to: State::Closed {
                    reason: ClosedReason::JobFinished
                },
                ..
            }
        ),
        || format!("the job did not finish: {:?}", ended.kind),
    )?;
    let bad: Vec<&String> = server
        .output
        .iter()
        .filter(|l| w.bad_lines.iter().any(|b| l.starts_with(b)))
        .collect();
    check(bad.is_empty(), || {
        format!("the server saw the race: {bad:?}")
    })
}
