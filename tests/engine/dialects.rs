//! The dialects against their reference servers (npm `socket.io`,
//! `graphql-ws` over `ws`), started by each test (`tests/servers`): a clean
//! job to 100%, the protocol's not-ready window, a drop and its resume (or
//! resubscribe), a terminal failure, a heartbeat loss, and the token kept
//! out of every event.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sockscope_engine::event::{
    Cause, ClosedReason, Direction, EventKind, FailedReason, FindingClass, StateName,
};
use sockscope_engine::{
    AdapterKind, FinalCount, HeartbeatPolicy, ReconnectPolicy, SocketConfig, SocketHandle, State,
    StaticToken, dialect,
};
use sockscope_sim::{Faults, JobKind, WireEvent};
use sockscope_test_support::reference::ReferenceServer;
use sockscope_test_support::{Harness, bounded};

const TOKEN: &str = "dialect-token-Zq81";

fn config(adapter: AdapterKind, url: String) -> SocketConfig {
    let mut c = SocketConfig::job(url);
    c.adapter = adapter;
    c.name = Some(adapter.as_str().into());
    c.token = Some(Arc::new(StaticToken::new(TOKEN)));
    c.reconnect = ReconnectPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        ..ReconnectPolicy::default()
    };
    c.timeouts.ready = Duration::from_secs(3);
    c
}

fn socketio(server: &ReferenceServer) -> SocketConfig {
    config(AdapterKind::SocketIo, server.url("/"))
}

fn graphql(server: &ReferenceServer) -> SocketConfig {
    let mut c = config(AdapterKind::GraphqlWs, server.url("/"));
    c.job_id = Some("j-9".into());
    c.dialect.query =
        Some("subscription { progress(jobId: \"{job_id}\") { processed total } }".into());
    c
}

/// Waits for the socket's terminal state and its settled count.
async fn ended(h: &mut Harness, s: &SocketHandle) -> (State, FinalCount) {
    let e = h
        .next("a terminal transition", |e| {
            e.socket == s.id()
                && matches!(&e.kind, EventKind::Transition { to, .. } if to.is_terminal())
        })
        .await;
    let EventKind::Transition { to, .. } = &e.kind else {
        unreachable!()
    };
    (to.clone(), s.snapshot().final_count())
}

/// The socket ends with its job finished at `total` of `total`, known.
async fn finished(h: &mut Harness, s: &SocketHandle, total: u64) {
    let (state, count) = ended(h, s).await;
    assert_eq!(
        state,
        State::Closed {
            reason: ClosedReason::JobFinished
        }
    );
    assert!(
        matches!(&count, FinalCount::Known(Some(p)) if p.processed == total && p.total == total),
        "{count:?}"
    );
}

/// A job that fails ends the socket with the server's code; a wrong token
/// ends it as unauthorized.
async fn fails_then_refuses(
    h: &mut Harness,
    script: &str,
    config: fn(&ReferenceServer) -> SocketConfig,
) {
    let failing = ReferenceServer::start(
        script,
        json!({ "token": TOKEN, "total": 20, "intervalMs": 5, "failAfter": 4 }),
    )
    .await
    .expect("the reference server starts");
    let s = h.add(&config(&failing));
    let (state, _) = ended(h, &s).await;
    assert!(
        matches!(&state, State::Closed { reason: ClosedReason::JobFailed { code, .. } } if code == "E_IMPORT"),
        "{state:?}"
    );
    let mut cfg = config(&failing);
    cfg.token = Some(Arc::new(StaticToken::new("not-the-token")));
    let s = h.add(&cfg);
    let (state, _) = ended(h, &s).await;
    assert_eq!(
        state,
        State::Failed {
            reason: FailedReason::Unauthorized
        }
    );
}

/// A server stopped mid-job (SIGSTOP), like a half-open link: the socket's
/// heartbeat catches it.
async fn silent_server_is_caught(script: &str, config: fn(&ReferenceServer) -> SocketConfig) {
    let server = ReferenceServer::start(
        script,
        json!({ "token": TOKEN, "total": 1000, "intervalMs": 50 }),
    )
    .await
    .expect("the reference server starts");
    let mut h = Harness::new().await;
    let mut cfg = config(&server);
    cfg.heartbeat = HeartbeatPolicy {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
    };
    let s = h.add(&cfg);
    h.state(&s, StateName::Ready).await;
    server.freeze(true).expect("kill runs");
    h.finding(&s, FindingClass::HeartbeatLost).await;
    server.freeze(false).expect("kill runs");
    s.cancel().await.unwrap();
}

/// Past 5 items, the server drops every transport; the socket sees it.
async fn drop_mid_job(h: &mut Harness, server: &mut ReferenceServer, s: &SocketHandle) {
    h.next(
        "progress past 5",
        |e| matches!(&e.kind, EventKind::Progress(p) if p.processed >= 5),
    )
    .await;
    server
        .command("drop")
        .await
        .expect("the server takes commands");
    h.finding(s, FindingClass::AbnormalClose).await;
}

/// No event of the run holds the token; the in-band auth frame was
/// recorded with its slot.
fn assert_token_kept(h: &Harness) {
    for e in &h.log {
        let text = format!("{:?}", e.kind);
        assert!(!text.contains(TOKEN), "the token reached an event: {text}");
    }
    assert!(
        h.log.iter().any(|e| matches!(&e.kind, EventKind::Frame(f)
            if f.direction == Direction::Out
                && f.text.as_deref().is_some_and(|t| t.contains("[redacted token]")))),
        "no auth frame with the token slot was recorded"
    );
}

// ---- socketio ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_is_ready_at_the_namespace_ack_and_runs_a_job_to_100() {
    bounded(async {
        // The namespace middleware awaits before it lets the socket in: the
        // Engine.IO open packet comes at once, the CONNECT ack 300 ms later.
        let mut server = ReferenceServer::start(
            "socketio-job.mjs",
            json!({ "token": TOKEN, "total": 20, "intervalMs": 5, "ackDelayMs": 300 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&socketio(&server));
        h.state(&s, StateName::AwaitingReady).await;
        // A send in the window waits for the ack (seed 000).
        s.send(r#"42["hello",1]"#).await.unwrap();
        h.finding(&s, FindingClass::SendBeforeReadyQueued).await;
        let ready = h.state(&s, StateName::Ready).await;
        let open_at = h
            .log
            .iter()
            .find(|e| matches!(&e.kind, EventKind::Frame(f) if f.message_type.as_deref() == Some("eio_open")))
            .expect("the open packet was recorded")
            .mono;
        assert!(
            ready.mono.since(open_at) >= Duration::from_millis(250),
            "Ready came with the open packet, not the namespace ack"
        );
        server.line_starting("CONNECTED").await.expect("the server printed it");
        let hello = server.line_starting("EVENT").await.expect("the server printed it");
        assert_eq!(hello, "EVENT hello [1]");
        finished(&mut h, &s, 20).await;
        assert_token_kept(&h);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_resumes_a_dropped_session_with_its_recovery_offset() {
    bounded(async {
        let mut server = ReferenceServer::start(
            "socketio-job.mjs",
            json!({ "token": TOKEN, "total": 40, "intervalMs": 15 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&socketio(&server));
        drop_mid_job(&mut h, &mut server, &s).await;
        let ready = h.state(&s, StateName::Ready).await;
        assert!(
            matches!(
                &ready.kind,
                EventKind::Transition {
                    cause: Cause::ReadyAck { replayed: 1 },
                    ..
                }
            ),
            "the session was not recovered: {ready:?}"
        );
        server
            .line_starting("CONNECTED recovered=true")
            .await
            .expect("the server printed it");
        finished(&mut h, &s, 40).await;
        assert_eq!(h.findings(&s, FindingClass::ResyncRequired), 0);
        // Progress never went back across the drop.
        let mut last = 0;
        for e in h.log.iter().filter(|e| e.socket == s.id()) {
            if let EventKind::Progress(p) = &e.kind {
                assert!(p.processed >= last, "progress went back to {}", p.processed);
                last = p.processed;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_failures_end_the_socket_and_a_silent_server_is_caught() {
    bounded(async {
        // A failed job.
        let server = ReferenceServer::start(
            "socketio-job.mjs",
            json!({ "token": TOKEN, "total": 20, "intervalMs": 5, "failAfter": 4 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&socketio(&server));
        let (state, _) = ended(&mut h, &s).await;
        assert!(
            matches!(&state, State::Closed { reason: ClosedReason::JobFailed { code, .. } } if code == "E_IMPORT"),
            "{state:?}"
        );
        // A wrong token: CONNECT_ERROR from the auth middleware.
        let mut cfg = socketio(&server);
        cfg.token = Some(Arc::new(StaticToken::new("not-the-token")));
        let s = h.add(&cfg);
        let (state, _) = ended(&mut h, &s).await;
        assert_eq!(
            state,
            State::Failed {
                reason: FailedReason::Unauthorized
            }
        );
        // A server that stops pinging: its interval plus timeout (500 ms).
        let quiet = ReferenceServer::start(
            "socketio-job.mjs",
            json!({ "token": TOKEN, "total": 1000, "intervalMs": 50 }),
        )
        .await
        .expect("the reference server starts");
        let s = h.add(&socketio(&quiet));
        h.state(&s, StateName::Ready).await;
        quiet.freeze(true).expect("kill runs");
        let lost = h.finding(&s, FindingClass::HeartbeatLost).await;
        quiet.freeze(false).expect("kill runs");
        let EventKind::Finding(f) = &lost.kind else {
            unreachable!()
        };
        assert!(f.detail.contains("no ping"), "{}", f.detail);
        s.cancel().await.unwrap();
    })
    .await;
}

// ---- graphql-ws -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_subscribes_only_after_the_ack_and_runs_a_job_to_100() {
    bounded(async {
        let mut server = ReferenceServer::start(
            "graphql-ws-job.mjs",
            json!({ "token": TOKEN, "total": 20, "intervalMs": 5, "ackDelayMs": 300 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&graphql(&server));
        h.state(&s, StateName::AwaitingReady).await;
        s.send(r#"{"type":"ping"}"#).await.unwrap();
        h.finding(&s, FindingClass::SendBeforeReadyQueued).await;
        h.state(&s, StateName::Ready).await;
        // The server saw the connection before the subscription: no 4401.
        server
            .line_starting("CONNECTED")
            .await
            .expect("the server printed it");
        server
            .line_starting("SUBSCRIBED")
            .await
            .expect("the server printed it");
        finished(&mut h, &s, 20).await;
        assert_token_kept(&h);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_resubscribes_after_a_drop_and_ends_on_failure_or_4403() {
    bounded(async {
        let mut server = ReferenceServer::start(
            "graphql-ws-job.mjs",
            json!({ "token": TOKEN, "total": 40, "intervalMs": 15 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&graphql(&server));
        drop_mid_job(&mut h, &mut server, &s).await;
        h.state(&s, StateName::Ready).await;
        server
            .line_starting("SUBSCRIBED")
            .await
            .expect("the server printed it");
        server
            .line_starting("SUBSCRIBED")
            .await
            .expect("the server printed it");
        finished(&mut h, &s, 40).await;

        fails_then_refuses(&mut h, "graphql-ws-job.mjs", graphql).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_heartbeat_loss_is_caught_by_the_websocket_ping() {
    bounded(silent_server_is_caught("graphql-ws-job.mjs", graphql)).await;
}

// ---- json -------------------------------------------------------------------

/// The job protocol (PROTOCOL.md), described as a bespoke JSON dialect: a
/// table of options is all it takes to watch a socket the engine does not
/// know.
fn job_protocol_as_json(h: &Harness, job: &sockscope_sim::CreateJobResponse) -> SocketConfig {
    let mut c = h.config(job);
    c.adapter = AdapterKind::Json;
    c.dialect = dialect::DialectOptions {
        ready: Some(r#"{"v":1,"type":"ready","payload":{"resumeFrom":{resume_from}}}"#.into()),
        ready_ack: Some("ready_ack".into()),
        progress_event: "job_progress".into(),
        complete_event: "job_complete".into(),
        failed_event: "job_failed".into(),
        processed: Some("/payload/processedCount".into()),
        total: Some("/payload/totalCount".into()),
        failed_code: Some("/payload/code".into()),
        seq: Some("/seq".into()),
        close_codes: vec![
            (1000, dialect::CloseRule::Finished),
            (1011, dialect::CloseRule::Failed),
            (4004, dialect::CloseRule::JobUnknown),
        ],
        ..dialect::DialectOptions::default()
    };
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_dialect_table_watches_a_bespoke_socket_through_a_drop_and_a_failure() {
    bounded(async {
        let mut h = Harness::new().await;
        // Accepted but deaf: Ready only on the ack type.
        let deaf = h.job(
            JobKind::CsvImport,
            20,
            Faults {
                interval_ms: Some(5),
                ready_deaf_ms: Some(100),
                ..Faults::default()
            },
        );
        let mut cfg = job_protocol_as_json(&h, &deaf);
        cfg.ready_resends = 0;
        cfg.timeouts.ready = Duration::from_secs(2);
        let s = h.add(&cfg);
        h.state(&s, StateName::AwaitingReady).await;
        s.send(r#"{"v":1,"type":"ping","payload":{"nonce":"n"}}"#)
            .await
            .unwrap();
        h.finding(&s, FindingClass::SendBeforeReadyQueued).await;
        // A deaf server never answers a single ready: the attempt fails and
        // the next one is heard.
        h.finding(&s, FindingClass::ReadyTimeout).await;
        finished(&mut h, &s, 20).await;

        // A drop mid-job resumes from the last seq, through the template.
        let dropped = h.job(
            JobKind::Enrichment,
            30,
            Faults {
                interval_ms: Some(5),
                drop_after: Some(6),
                ..Faults::default()
            },
        );
        let s = h.add(&job_protocol_as_json(&h, &dropped));
        h.finding(&s, FindingClass::AbnormalClose).await;
        finished(&mut h, &s, 30).await;
        let resumed = h.sim.wire_log().iter().any(|e| {
            matches!(e, WireEvent::Ready { job_id, resume_from: Some(n), .. }
                if *job_id == dropped.job_id && *n >= 6)
        });
        assert!(resumed, "the reconnect did not resume from the last seq");

        // A failed job: job_failed, then 1011 by the table.
        let failing = h.job(
            JobKind::BookshelfScan,
            20,
            Faults {
                interval_ms: Some(5),
                fail_after: Some(3),
                fail_retryable: Some(false),
                ..Faults::default()
            },
        );
        let s = h.add(&job_protocol_as_json(&h, &failing));
        let (state, _) = ended(&mut h, &s).await;
        assert!(
            matches!(
                &state,
                State::Closed {
                    reason: ClosedReason::JobFailed { .. }
                }
            ),
            "{state:?}"
        );
    })
    .await;
}

// ---- phoenix ----------------------------------------------------------------

fn phoenix(server: &ReferenceServer) -> SocketConfig {
    let mut c = config(AdapterKind::Phoenix, server.url("/socket"));
    c.job_id = Some("j-5".into());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phoenix_is_ready_at_the_join_reply_and_its_heartbeat_keeps_the_channel() {
    bounded(async {
        // The server drops a client without a heartbeat for 600 ms; the job
        // runs 2 s, so only our heartbeats keep it.
        let mut server = ReferenceServer::start(
            "phoenix-job.mjs",
            json!({ "token": TOKEN, "total": 40, "intervalMs": 50, "joinDelayMs": 300,
                    "heartbeatTimeoutMs": 600 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let mut cfg = phoenix(&server);
        cfg.heartbeat = HeartbeatPolicy {
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(400),
        };
        let s = h.add(&cfg);
        h.state(&s, StateName::AwaitingReady).await;
        // A push before the join reply waits: the server would answer it
        // "unmatched topic".
        s.send(r#"["1","7","job:j-5","note",{"n":1}]"#)
            .await
            .unwrap();
        h.finding(&s, FindingClass::SendBeforeReadyQueued).await;
        h.state(&s, StateName::Ready).await;
        server
            .line_starting("JOINED job:j-5")
            .await
            .expect("the server printed it");
        let pushed = server
            .line_starting("PUSH")
            .await
            .expect("the server printed it");
        assert_eq!(pushed, r#"PUSH note {"n":1}"#);
        h.next("a heartbeat answered", |e| {
            matches!(e.kind, EventKind::HeartbeatAnswered { .. })
        })
        .await;
        finished(&mut h, &s, 40).await;
        assert!(
            !server
                .output
                .iter()
                .any(|l| l.starts_with("UNMATCHED") || l.starts_with("HEARTBEAT_TIMEOUT")),
            "{:?}",
            server.output
        );
        assert_eq!(h.findings(&s, FindingClass::AbnormalClose), 0);
        assert_token_kept(&h);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phoenix_rejoins_after_a_drop_and_ends_on_failure_or_a_refused_join() {
    bounded(async {
        let mut server = ReferenceServer::start(
            "phoenix-job.mjs",
            json!({ "token": TOKEN, "total": 40, "intervalMs": 15 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&phoenix(&server));
        drop_mid_job(&mut h, &mut server, &s).await;
        server
            .line_starting("JOINED")
            .await
            .expect("the server printed it");
        server
            .line_starting("JOINED")
            .await
            .expect("the server printed it");
        finished(&mut h, &s, 40).await;

        fails_then_refuses(&mut h, "phoenix-job.mjs", phoenix).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phoenix_heartbeat_loss_is_caught() {
    bounded(silent_server_is_caught("phoenix-job.mjs", phoenix)).await;
}

// ---- signalr ----------------------------------------------------------------

fn signalr(server: &ReferenceServer) -> SocketConfig {
    let mut c = config(AdapterKind::SignalR, server.url("/hub"));
    c.heartbeat = HeartbeatPolicy {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(300),
    };
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalr_negotiates_is_ready_at_the_handshake_response_and_keeps_alive() {
    bounded(async {
        // The server pings every 100 ms and drops a client silent for
        // 600 ms; the job runs 1.5 s, so our pings must keep it.
        let mut server = ReferenceServer::start(
            "signalr-job.mjs",
            json!({ "token": TOKEN, "total": 30, "intervalMs": 50, "handshakeDelayMs": 300,
                    "keepAliveMs": 100, "clientTimeoutMs": 600 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&signalr(&server));
        h.state(&s, StateName::AwaitingReady).await;
        // An invocation before the handshake response would be read as the
        // handshake: it waits.
        let invoke = format!(
            "{}{}",
            r#"{"type":1,"target":"Note","arguments":[1]}"#,
            dialect::SIGNALR_RS
        );
        s.send(invoke).await.unwrap();
        h.finding(&s, FindingClass::SendBeforeReadyQueued).await;
        h.state(&s, StateName::Ready).await;
        server
            .line_starting("HANDSHAKE")
            .await
            .expect("the server printed it");
        assert_eq!(
            server
                .line_starting("INVOKE")
                .await
                .expect("the server printed it"),
            "INVOKE Note [1]"
        );
        server
            .line_starting("PING")
            .await
            .expect("the server printed it");
        finished(&mut h, &s, 30).await;
        for bad in ["BAD_HANDSHAKE", "CLIENT_TIMEOUT"] {
            assert!(
                !server.output.iter().any(|l| l.starts_with(bad)),
                "{:?}",
                server.output
            );
        }
        for e in &h.log {
            assert!(!format!("{:?}", e.kind).contains(TOKEN), "{e:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalr_reconnects_after_a_drop_and_a_close_message_and_ends_on_failure_or_401() {
    bounded(async {
        let mut server = ReferenceServer::start(
            "signalr-job.mjs",
            json!({ "token": TOKEN, "total": 60, "intervalMs": 15, "keepAliveMs": 100 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&signalr(&server));
        drop_mid_job(&mut h, &mut server, &s).await;
        h.state(&s, StateName::Ready).await;
        // A close message that allows a reconnect: reconnect.
        server
            .command("close")
            .await
            .expect("the server takes commands");
        let found = h.finding(&s, FindingClass::ProtocolError).await;
        let EventKind::Finding(f) = &found.kind else {
            unreachable!()
        };
        assert!(f.detail.contains("server restarting"), "{}", f.detail);
        finished(&mut h, &s, 60).await;
        // Three connections, each negotiated and handshaken anew.
        for _ in 0..3 {
            server
                .line_starting("HANDSHAKE")
                .await
                .expect("the server printed it");
        }

        // Failures: the job's, and a 401 at negotiate.
        fails_then_refuses(&mut h, "signalr-job.mjs", signalr).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signalr_server_silence_is_caught() {
    bounded(async {
        let server = ReferenceServer::start(
            "signalr-job.mjs",
            json!({ "token": TOKEN, "total": 1000, "intervalMs": 50, "keepAliveMs": 100 }),
        )
        .await
        .expect("the reference server starts");
        let mut h = Harness::new().await;
        let s = h.add(&signalr(&server));
        h.state(&s, StateName::Ready).await;
        server.freeze(true).expect("kill runs");
        let lost = h.finding(&s, FindingClass::HeartbeatLost).await;
        server.freeze(false).expect("kill runs");
        let EventKind::Finding(f) = &lost.kind else {
            unreachable!()
        };
        assert!(f.detail.contains("no ping"), "{}", f.detail);
        s.cancel().await.unwrap();
    })
    .await;
}

/// A json dialect's app-level ping is answered while the server lives, and
/// its silence is caught once the server stalls (half-open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_dialect_ping_catches_a_stalled_server() {
    bounded(async {
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            1000,
            Faults {
                interval_ms: Some(20),
                stall_after_ms: Some(600),
                ..Faults::default()
            },
        );
        let mut cfg = job_protocol_as_json(&h, &job);
        cfg.dialect.ping = Some(r#"{"v":1,"type":"ping","payload":{"nonce":"n"}}"#.into());
        cfg.dialect.pong = Some("pong".into());
        cfg.heartbeat = HeartbeatPolicy {
            interval: Duration::from_millis(150),
            timeout: Duration::from_millis(300),
        };
        let s = h.add(&cfg);
        h.state(&s, StateName::Ready).await;
        h.next("the app-level ping answered", |e| {
            e.socket == s.id() && matches!(e.kind, EventKind::HeartbeatAnswered { .. })
        })
        .await;
        // The answer was to our app-level ping, not a WebSocket pong.
        let pinged = h
            .sim
            .wire_log()
            .iter()
            .any(|e| matches!(e, WireEvent::Received { kind: Some(k), .. } if k == "ping"));
        assert!(pinged, "no app-level ping reached the server");
        h.finding(&s, FindingClass::HeartbeatLost).await;
        s.cancel().await.unwrap();
    })
    .await;
}
