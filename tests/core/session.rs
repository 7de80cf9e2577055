//! A session wires the engine, the recorder and the simulator: the demo runs
//! to the end and every event lands in the database; OTLP export switches
//! between real receivers while sockets run.

use std::time::Duration;

use sockscope_core::{CoreError, Session, SessionOptions, SocketSpec};
use sockscope_engine::event::{ClosedReason, EventKind};
use sockscope_engine::{SocketId, State};
use sockscope_recorder::trace::{hex, trace_id};
use sockscope_recorder::{OtlpProtocol, RecordReader, TelemetryConfig};
use sockscope_sim::Sim;
use sockscope_test_support::otlp::{Rotel, SeenSpan, on_rotel, parse_spans, span_line};
use sockscope_test_support::{bounded, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_session_runs_to_the_end_and_is_recorded() {
    bounded(async {
        let dir = tempdir();
        let db = dir.join("s.db");
        let session = Session::start(SessionOptions {
            db_path: Some(db.clone()),
            demo: true,
            demo_items: Some(12),
            demo_interval_ms: Some(10),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        assert!(session.is_demo());
        assert_eq!(session.sockets().len(), 3);
        within(
            Duration::from_secs(20),
            "the demo jobs to end",
            session.wait_all_ended(),
        )
        .await
        .unwrap();
        for s in session.sockets() {
            assert!(
                matches!(s.state, State::Closed { .. }),
                "{}: {:?}",
                s.name,
                s.state
            );
            assert!(s.findings > 0, "{} showed no race", s.name);
            // A job that ended while its socket was away is learned from the
            // state sync, which may answer after the close.
            let h = session.engine().socket(s.id).unwrap();
            let done = h.wait_for(|snap| snap.progress.as_ref().is_some_and(|p| p.processed == 12));
            if tokio::time::timeout(Duration::from_secs(10), done)
                .await
                .is_err()
            {
                panic!(
                    "{} never showed the final progress: {:?}",
                    s.name,
                    h.snapshot()
                );
            }
        }
        let id = session.session_id();
        let written = session.stop().await.unwrap().written;
        assert!(written > 100);
        let reader = RecordReader::open(&db).unwrap();
        let sessions = reader.sessions().unwrap();
        let recorded = sessions
            .iter()
            .find(|s| s.tag.id == id)
            .expect("the session is listed");
        assert_eq!(recorded.event_count, written);
        assert_eq!(recorded.end_state, "clean");
        assert_eq!(reader.sockets(id).unwrap().len(), 3);
    })
    .await;
}

/// The app's demo goes on: jobs keep arriving and play the catalog's races
/// in turn, a long import runs beside them, ended sockets leave the live
/// set (which stays within its bound), and a stop ends it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endless_demo_keeps_racing_and_stays_small() {
    use sockscope_core::demo::{self, EndlessDemo};
    use sockscope_engine::event::FindingClass as F;
    use std::collections::{BTreeMap, BTreeSet};
    bounded(async {
        let dir = tempdir();
        let pace = EndlessDemo {
            arrival_every: Duration::from_millis(200),
            items: 12,
            interval_ms: 10,
            long_items: 400,
            long_interval_ms: 20,
            linger: Duration::from_millis(300),
            max_live: 6,
        };
        let session = Session::start(SessionOptions {
            db_path: Some(dir.join("e.db")),
            demo: true,
            demo_items: Some(12),
            demo_interval_ms: Some(10),
            demo_endless: Some(pace.clone()),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let mut rx = session.subscribe();
        // Every act's race, from its own socket (named after the act).
        let wanted = [
            ("send-before-handshake", F::SendBeforeReadyQueued),
            ("abrupt-drop-then-resume", F::AbnormalClose),
            ("accepted-but-deaf", F::ReadyTimeout),
            ("peer-frames-after-close", F::PeerFrameAfterClose),
            ("duplicate-seq-and-gap", F::SeqGap),
            ("send-after-close", F::SendAfterClosePrevented),
            ("resume-impossible-sync-5xx", F::ResyncRequired),
            ("half-open-stall", F::HeartbeatLost),
            ("queued-sends-vs-app-ready", F::SendBeforeReadyQueued),
            ("cancel-during-backoff", F::AbnormalClose),
        ];
        let mut names: BTreeMap<SocketId, String> = BTreeMap::new();
        let mut seen: BTreeSet<(String, F)> = BTreeSet::new();
        let mut cancelled_in_backoff = false;
        let mut failed_by_server = false;
        let mut most_live = 0;
        let mut long_beside_others = false;
        let all_seen = |seen: &BTreeSet<(String, F)>| {
            wanted.iter().all(|(act, class)| {
                seen.iter()
                    .any(|(name, c)| c == class && name.ends_with(&format!(" {act}")))
            })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
        while !(all_seen(&seen) && cancelled_in_backoff && failed_by_server) {
            let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(ev)) => ev,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => panic!(
                    "not every act within 25 s; seen {seen:?}, \
                     cancelled in backoff: {cancelled_in_backoff}, failed: {failed_by_server}"
                ),
            };
            let named = |suffix: &str| {
                names
                    .get(&ev.socket)
                    .is_some_and(|n| n.ends_with(&format!(" {suffix}")))
            };
            match &ev.kind {
                EventKind::SocketAdded(info) => {
                    names.insert(ev.socket, info.name.clone());
                }
                EventKind::Finding(f) => {
                    if let Some(n) = names.get(&ev.socket) {
                        seen.insert((n.clone(), f.class));
                    }
                }
                EventKind::Transition {
                    to:
                        State::Closed {
                            reason: ClosedReason::JobFailed { code, .. },
                        },
                    ..
                } => {
                    failed_by_server |= code == demo::JOB_FAILS_MESSAGE && named(demo::JOB_FAILS);
                }
                EventKind::Transition {
                    to: State::Cancelled,
                    ..
                } => {
                    cancelled_in_backoff |= named("cancel-during-backoff");
                }
                _ => {}
            }
            let live = session.sockets();
            most_live = most_live.max(live.len());
            long_beside_others |= live.len() > 2
                && live
                    .iter()
                    .any(|s| s.name.contains(" long ") && !s.state.is_terminal());
        }
        assert!(
            most_live <= pace.max_live,
            "{most_live} demo sockets live at once"
        );
        assert!(
            long_beside_others,
            "no long import ran beside the short jobs"
        );
        let live: BTreeSet<SocketId> = session.sockets().iter().map(|s| s.id).collect();
        let retired = names.keys().filter(|id| !live.contains(id)).count();
        assert!(
            retired >= 5,
            "only {retired} ended sockets left the live set"
        );
        let end = session.stop().await.unwrap();
        assert!(end.unstopped.is_empty(), "{end:?}");
    })
    .await;
}

#[tokio::test]
async fn a_socket_added_with_create_gets_its_job_and_token_from_the_backend() {
    bounded(async {
        let dir = tempdir();
        let sim = sockscope_sim::Sim::start(Default::default()).await.unwrap();
        let session = Session::start(SessionOptions {
            db_path: Some(dir.join("c.db")),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let id = session
            .add_socket(job_spec(&sim, "created", 5, 5))
            .await
            .unwrap();
        let h = session.engine().socket(id).unwrap();
        let snap = within(
            Duration::from_secs(10),
            "the job to end",
            h.wait_for(|s| s.state.is_terminal()),
        )
        .await
        .unwrap();
        assert!(
            matches!(snap.state, State::Closed { .. }),
            "{:?}",
            snap.state
        );
        session.stop().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_create_job_answer_larger_than_the_cap_is_refused_unread() {
    use sockscope_test_support::huge_body::{Framing, HugeBodyServer};
    bounded(async {
        let dir = tempdir();
        let session = Session::start(SessionOptions {
            db_path: Some(dir.join("c.db")),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        for framing in [Framing::ContentLength, Framing::Chunked] {
            let server = HugeBodyServer::start(256 << 20, framing).await;
            let mut spec = SocketSpec::job(server.url("/ws/progress").replacen("http", "ws", 1));
            spec.create = Some(sockscope_core::config::CreateJob {
                kind: sockscope_protocol::JobKind::CsvImport,
                total_count: 5,
                faults: None,
            });
            let err = session.add_socket(spec).await.unwrap_err();
            assert!(
                matches!(&err, CoreError::CreateJob(m) if m.contains("larger than 65536 bytes")),
                "{framing:?}: {err}"
            );
            let written = server.written();
            assert!(
                written < 32 << 20,
                "{framing:?}: the server wrote {written} bytes"
            );
        }
        assert!(session.sockets().is_empty());
        session.stop().await.unwrap();
    })
    .await;
}

/// Remove forgets a socket whatever its state, a cancelled one (whose task
/// may have ended) included; removing it twice is an unknown socket.
#[tokio::test]
async fn a_cancelled_socket_can_be_removed() {
    bounded(async {
        let dir = tempdir();
        let session = Session::start(SessionOptions {
            db_path: Some(dir.join("r.db")),
            ..SessionOptions::default()
        })
        .await
        .unwrap();
        let mut spec = SocketSpec::job("ws://127.0.0.1:9/nowhere");
        spec.adapter = sockscope_engine::AdapterKind::Raw;
        let id = session.add_socket(spec).await.unwrap();
        let h = session.engine().socket(id).unwrap();
        session.cancel(id).await.unwrap();
        within(
            Duration::from_secs(10),
            "the socket to be cancelled",
            h.wait_for(|s| matches!(s.state, State::Cancelled)),
        )
        .await
        .unwrap();
        session.remove_socket(id).await.unwrap();
        assert!(session.sockets().is_empty());
        assert!(session.engine().socket(id).is_none());
        assert!(session.remove_socket(id).await.is_err());
        session.stop().await.unwrap();
    })
    .await;
}

/// Switching from receiver A to B mid-session: A keeps what came before
/// (the interval open at the switch ended there, unfinished) and gets
/// nothing after; B takes over the running socket: it gets the socket's
/// root span again (same id, marked resumed) and an interval named by the
/// state at the switch, Ready, not Idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_telemetry_moves_export_from_one_receiver_to_another_while_sockets_run() {
    bounded(async {
        let (session, sim, a) = switched_on("switch.db", "switch-a", BATCH_DELAY).await;
        let first = run_job(&session, &sim, "first").await;
        let (a, ()) = on_rotel(a, |r| {
            r.wait_for_line("first's Closed span", WAIT, span_line("Closed"))
        })
        .await;

        // The second socket runs for minutes unless cancelled.
        let b = start_rotel().await;
        let second = session
            .add_socket(job_spec(&sim, "second", 100_000, 20))
            .await
            .unwrap();
        let h = session.engine().socket(second).unwrap();
        within(
            WAIT,
            "the second socket to be Ready",
            h.wait_for(|s| matches!(s.state, State::Ready { .. })),
        )
        .await
        .unwrap();
        session
            .set_telemetry(Some(otlp_to(&b, OtlpProtocol::HttpProtobuf, "switch-b")))
            .await
            .unwrap();
        session.cancel(second).await.unwrap();
        within(
            WAIT,
            "the second socket to be cancelled",
            h.wait_for(|s| matches!(s.state, State::Cancelled)),
        )
        .await
        .unwrap();
        let (b, ()) = on_rotel(b, |r| {
            r.wait_for_line("second's Cancelled span", WAIT, span_line("Cancelled"))
        })
        .await;
        let (a, ()) = on_rotel(a, Rotel::wait_for_everything).await;

        let in_a = spans_of(&a, "switch-a");
        let in_b = spans_of(&b, "switch-b");
        let first_in_a = of_socket(&in_a, &session, first);
        assert_eq!(first_in_a[0].name, "socket first");
        assert_eq!(first_in_a.last().unwrap().name, "Closed");
        assert!(of_socket(&in_b, &session, first).is_empty());

        let second_in_a = of_socket(&in_a, &session, second);
        assert_eq!(second_in_a[0].name, "socket second");
        let root = second_in_a[0].id.clone();
        let cut = second_in_a.last().unwrap();
        assert_eq!(
            cut.attr("sockscope.unfinished"),
            Some("Bool(true)"),
            "A's last interval of the second socket ends at the switch: {cut:?}"
        );
        assert!(second_in_a.iter().all(|s| s.name != "Cancelled"));

        let second_in_b = of_socket(&in_b, &session, second);
        let names: Vec<&str> = second_in_b.iter().map(|s| s.name.as_str()).collect();
        let (roots, intervals): (Vec<&SeenSpan>, Vec<&SeenSpan>) =
            second_in_b.iter().partition(|s| s.name == "socket second");
        assert_eq!(roots.len(), 1, "B gets the root span once: {names:?}");
        let root_in_b = roots[0];
        assert_eq!(root_in_b.id, root, "the same root as A's");
        assert!(root_in_b.parent_id.is_empty());
        assert_eq!(root_in_b.attr("sockscope.resumed"), Some("Bool(true)"));
        // What A's root carries (a token source's description, never a
        // token), and the mark.
        let mut attrs = root_in_b.attrs.clone();
        attrs.retain(|(k, _)| k != "sockscope.resumed");
        assert_eq!(attrs, second_in_a[0].attrs);
        assert_eq!(intervals[0].name, "Ready", "named by the state: {names:?}");
        assert_eq!(intervals[0].attr("sockscope.resumed"), Some("Bool(true)"));
        assert_eq!(intervals.last().unwrap().name, "Cancelled");
        assert!(!names.contains(&"Idle"), "{names:?}");
        for s in &intervals {
            assert_eq!(s.parent_id, root, "{} hangs under the root", s.name);
            assert_eq!(s.trace_id, root_in_b.trace_id);
        }
        session.stop().await.unwrap();
    })
    .await;
}

/// Bad input loses nothing: a config the exporter refuses is an error, and
/// the export set at start goes on to its receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telemetry_config_the_exporter_refuses_is_an_error_and_export_goes_on() {
    bounded(async {
        let a = start_rotel().await;
        let kept = otlp_to(&a, OtlpProtocol::HttpProtobuf, "kept");
        let (session, sim) = session_and_sim("refused.db", Some(kept)).await;
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            let mut bad = otlp_to(&a, protocol, "refused");
            bad.endpoint = Some("not a url".into());
            let err = session.set_telemetry(Some(bad)).await.unwrap_err();
            assert!(matches!(err, CoreError::Recorder(_)), "{protocol:?}: {err}");
        }
        let id = run_job(&session, &sim, "after-refusal").await;
        let (a, ()) = on_rotel(a, |r| {
            r.wait_for_line("the Closed span", WAIT, span_line("Closed"))
        })
        .await;
        let kept = spans_of(&a, "kept");
        let names: Vec<&str> = of_socket(&kept, &session, id)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names.first(), Some(&"socket after-refusal"));
        assert_eq!(names.last(), Some(&"Closed"));
        assert!(spans_of(&a, "refused").is_empty());
        session.stop().await.unwrap();
    })
    .await;
}

/// `set_telemetry(None)` flushes: with an hour between scheduled exports,
/// the spans can only have come from the switch. Nothing is sent after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_telemetry_off_flushes_what_is_queued_and_sends_nothing_after() {
    bounded(async {
        let hour = Duration::from_secs(3600);
        let (session, sim, a) = switched_on("off.db", "off", hour).await;
        let flushed = run_job(&session, &sim, "flushed").await;
        session.set_telemetry(None).await.unwrap();
        let (a, ()) = on_rotel(a, |r| {
            r.wait_for_line("the flushed Closed span", WAIT, span_line("Closed"))
        })
        .await;
        let unsent = run_job(&session, &sim, "unsent").await;
        let (a, ()) = on_rotel(a, Rotel::wait_for_everything).await;
        let seen = spans_of(&a, "off");
        assert_eq!(
            of_socket(&seen, &session, flushed).last().unwrap().name,
            "Closed"
        );
        assert!(of_socket(&seen, &session, unsent).is_empty());
        session.stop().await.unwrap();
    })
    .await;
}

const WAIT: Duration = Duration::from_secs(10);

/// A session on a fresh database, and a simulator for its jobs.
async fn session_and_sim(db: &str, telemetry: Option<TelemetryConfig>) -> (Session, Sim) {
    let sim = Sim::start(Default::default()).await.unwrap();
    let session = Session::start(SessionOptions {
        db_path: Some(tempdir().join(db)),
        telemetry,
        ..SessionOptions::default()
    })
    .await
    .unwrap();
    (session, sim)
}

/// A job socket named `name`; the session creates the job on `sim`.
fn job_spec(sim: &Sim, name: &str, total: u64, interval_ms: u64) -> SocketSpec {
    let mut spec = SocketSpec::job(format!(
        "{}/ws/progress",
        sim.http_base().replacen("http", "ws", 1)
    ));
    spec.name = Some(name.into());
    spec.create = Some(sockscope_core::config::CreateJob {
        kind: sockscope_protocol::JobKind::CsvImport,
        total_count: total,
        faults: Some(serde_json::json!({ "interval_ms": interval_ms })),
    });
    spec
}

/// Adds a short job socket and waits until its ending has been published
/// to every subscriber.
///
/// Waits on the live feed, not the snapshot: the snapshot leads the events
/// by design, while the live feed gets an event only after every lossless
/// subscriber (the export's among them) has it.
async fn run_job(session: &Session, sim: &Sim, name: &str) -> SocketId {
    let mut live = session.subscribe();
    let id = session.add_socket(job_spec(sim, name, 5, 5)).await.unwrap();
    within(WAIT, "the job's final transition", async {
        loop {
            match live.recv().await {
                Ok(e) if e.socket == id
                    && matches!(&e.kind, EventKind::Transition { to, .. } if to.is_terminal()) =>
                {
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("the live feed failed the test: {e}"),
            }
        }
    })
    .await;
    id
}

async fn start_rotel() -> Rotel {
    tokio::task::spawn_blocking(Rotel::start).await.unwrap()
}

/// A session started with export off, then switched on to a new receiver
/// over gRPC, exporting every `delay`.
async fn switched_on(db: &str, service: &str, delay: Duration) -> (Session, Sim, Rotel) {
    let (session, sim) = session_and_sim(db, None).await;
    let rotel = start_rotel().await;
    let mut cfg = otlp_to(&rotel, OtlpProtocol::Grpc, service);
    cfg.scheduled_delay = delay;
    session.set_telemetry(Some(cfg)).await.unwrap();
    (session, sim, rotel)
}

/// How often the tests' batch processors export.
const BATCH_DELAY: Duration = Duration::from_millis(50);

/// Export to `rotel`, batches sent every [`BATCH_DELAY`].
fn otlp_to(rotel: &Rotel, protocol: OtlpProtocol, service: &str) -> TelemetryConfig {
    let mut c = TelemetryConfig::from_lookup(|_| None);
    c.protocol = protocol;
    c.service_name = service.into();
    c.scheduled_delay = BATCH_DELAY;
    c.endpoint = Some(match protocol {
        OtlpProtocol::Grpc => format!("http://{}", rotel.grpc),
        OtlpProtocol::HttpProtobuf => format!("http://{}/v1/traces", rotel.http),
    });
    c
}

fn spans_of(rotel: &Rotel, service: &str) -> Vec<SeenSpan> {
    parse_spans(&rotel.text())
        .into_iter()
        .filter(|s| s.service == service)
        .collect()
}

/// The spans of one socket's trace, in the order received.
fn of_socket<'a>(spans: &'a [SeenSpan], session: &Session, id: SocketId) -> Vec<&'a SeenSpan> {
    let trace = hex(&trace_id(session.open_report().session, id));
    spans.iter().filter(|s| s.trace_id == trace).collect()
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sockscope-core-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
