//! `sockscope watch` against the simulator: JSON lines, the exit code, and
//! a token that never reaches the output.

use std::process::Stdio;
use std::time::Duration;

use sockscope_sim::{AuthVia, Faults, JobKind, Sim, SimConfig, WireEvent};
use sockscope_test_support::{bounded, within};

async fn watch(url: &str, token: &str, db: &std::path::Path) -> std::process::Output {
    let args = ["--url", url, "--token-env", "JOB_TOKEN", "--json", "--db"];
    run_watch(&args, Some(db), &[("JOB_TOKEN", token)]).await
}

/// Runs `sockscope watch ARGS [DB]` with `envs` set, to its exit.
async fn run_watch(
    args: &[&str],
    db: Option<&std::path::Path>,
    envs: &[(&str, &str)],
) -> std::process::Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("watch")
        .args(args)
        .args(db)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    within(
        Duration::from_secs(30),
        "watch to exit",
        child.wait_with_output(),
    )
    .await
    .expect("watch ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_json_lines_and_exits_zero_when_every_job_completes() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let faults = Faults {
            interval_ms: Some(5),
            drop_after: Some(3),
            ..Faults::default()
        };
        let job = sim.create_job(JobKind::CsvImport, 10, faults).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = watch(&job.ws_url, &job.token, &dir.path().join("w.db")).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let mut transitions = 0;
        for line in stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            if v["body"]["kind"] == "transition" {
                transitions += 1;
            }
        }
        assert!(transitions >= 6, "{stdout}");
        assert!(stdout.contains("abnormal_close"), "{stdout}");
        assert!(stderr.contains("0 did not complete"), "{stderr}");
        assert!(!stdout.contains(&job.token) && !stderr.contains(&job.token));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_non_zero_with_a_summary_when_a_job_does_not_complete() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let job = sim
            .create_job(JobKind::Enrichment, 10, Faults::default())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = watch(&job.ws_url, "not-the-token", &dir.path().join("w.db")).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("1 did not complete"), "{stderr}");
        assert!(stderr.contains("failed: unauthorized"), "{stderr}");
    })
    .await;
}

#[test]
fn watch_refuses_bad_input_clearly() {
    let db_dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .arg("watch")
            .args(args)
            .env("SOCKSCOPE_DB", db_dir.path().join("w.db"))
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(run(&[]).contains("--url"));
    assert!(run(&["--url", "http://h/x?jobId=j"]).contains("scheme must be ws or wss"));
    let secret = "tok-in-url-123";
    let msg = run(&["--url", &format!("ws://h:1/x?jobId=j&token={secret}")]);
    assert!(msg.contains("token") && !msg.contains(secret), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[socket]]\nurl = \"ws://h:1/x?jobId=j\"\nadapter = \"fast\"\n",
    )
    .unwrap();
    let msg = run(&["--config", cfg.to_str().unwrap()]);
    assert!(msg.contains("bad.toml:3"), "{msg}");
}

/// A fast job of 5 items on `sim`.
fn quick_job(sim: &Sim) -> sockscope_sim::CreateJobResponse {
    let faults = Faults {
        interval_ms: Some(5),
        ..Faults::default()
    };
    sim.create_job(JobKind::CsvImport, 5, faults).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_url_moves_into_memory_with_one_warning_and_still_connects() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (param, placement) in [("token", None), ("access_token", Some("header"))] {
            let job = quick_job(&sim);
            let db = dir.path().join(format!("{param}.db"));
            let url = format!("{}&{param}={}", job.ws_url, job.token);
            let mut args = vec![
                "watch",
                "--url",
                &url,
                "--json",
                "--db",
                db.to_str().unwrap(),
            ];
            if let Some(p) = placement {
                args.extend(["--token-placement", p]);
            }
            let out = crate::sockscope(&args, &[]).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{param}: {stderr}");
            let warning = format!("warning: the URL held a token in `{param}=`");
            assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
            assert_eq!(stderr.lines().filter(|l| l.contains("warning")).count(), 1);
            assert!(!stdout.contains(&job.token) && !stderr.contains(&job.token));
            let stored = std::fs::read(&db).unwrap();
            assert!(!String::from_utf8_lossy(&stored).contains(&job.token));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_placement_query_puts_an_env_token_on_the_url() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let job = quick_job(&sim);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("q.db");
        let args = [
            "watch",
            "--url",
            &job.ws_url,
            "--token-env",
            "JOB_TOKEN",
            "--token-placement",
            "query",
            "--db",
            db.to_str().unwrap(),
        ];
        let out = crate::sockscope(&args, &[("JOB_TOKEN", job.token.as_str())]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The simulator's wire log shows where the token travelled.
        let via: Vec<AuthVia> = sim
            .wire_log()
            .into_iter()
            .filter_map(|e| match e {
                WireEvent::Connection { auth, .. } => Some(auth),
                _ => None,
            })
            .collect();
        assert!(
            !via.is_empty() && via.iter().all(|a| *a == AuthVia::Query),
            "{via:?}"
        );
        let bad = crate::sockscope(
            &["watch", "--url", &job.ws_url, "--token-placement", "cookie"],
            &[],
        )
        .await;
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("header"));
    })
    .await;
}

/// Runs `watch --config` over `toml`, with `envs` set, to its exit.
async fn watch_config(toml: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sockets.toml");
    std::fs::write(&cfg, toml).unwrap();
    let db = dir.path().join("w.db");
    let args = ["--config", cfg.to_str().unwrap(), "--db"];
    run_watch(&args, Some(&db), envs).await
}

/// The summary line of socket `name`.
fn summary_line<'a>(stderr: &'a str, name: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with(name) && l.contains(';'))
        .unwrap_or_else(|| panic!("no summary line for {name} in:\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_non_zero_and_names_each_outcome_and_final_count() {
    bounded(async {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        let fast = |f: Faults| Faults {
            interval_ms: Some(5),
            ..f
        };
        // Fails on the server: job_failed, then 1011.
        let failed = sim
            .create_job(
                JobKind::CsvImport,
                20,
                fast(Faults {
                    fail_after: Some(3),
                    fail_retryable: Some(false),
                    ..Faults::default()
                }),
            )
            .unwrap();
        // Gone before the socket starts: 404 at the handshake.
        let gone = sim
            .create_job(JobKind::Enrichment, 20, Faults::default())
            .unwrap();
        sim.delete_job(&gone.job_id).unwrap();
        // Dropped at 5/20, finished on the server during a fixed 400 ms
        // backoff; the reconnect gets resync_required, the first state GET
        // a 503, then a 1000 close. The retry must still be sent, and the
        // summary must show the server's 20/20.
        let synced = sim
            .create_job(
                JobKind::BookshelfScan,
                20,
                fast(Faults {
                    drop_after: Some(5),
                    history: Some(0),
                    state_5xx: Some(1),
                    ..Faults::default()
                }),
            )
            .unwrap();
        // Nothing listens here: one retry, then it gives up.
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let toml = format!(
            r#"
[[socket]]
name = "failing"
url = "{}"
token = {{ env = "T_FAILED" }}

[[socket]]
name = "gone"
url = "{}"
token = {{ env = "T_GONE" }}

[[socket]]
name = "synced"
url = "{}"
token = {{ env = "T_SYNCED" }}
[socket.reconnect]
base_ms = 400
jitter = false

[[socket]]
name = "unreachable"
url = "ws://127.0.0.1:{closed_port}/ws/progress?jobId=j-none"
[socket.reconnect]
base_ms = 10
max_attempts = 1
"#,
            failed.ws_url, gone.ws_url, synced.ws_url
        );
        let out = watch_config(
            &toml,
            &[
                ("T_FAILED", failed.token.as_str()),
                ("T_GONE", gone.token.as_str()),
                ("T_SYNCED", synced.token.as_str()),
            ],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("4 sockets, 3 did not complete"), "{stderr}");
        let line = summary_line(&stderr, "failing");
        assert!(line.contains("job failed: "), "{line}");
        let line = summary_line(&stderr, "gone");
        assert!(line.contains("failed: job unknown"), "{line}");
        let line = summary_line(&stderr, "unreachable");
        assert!(line.contains("failed: gave up after 1 retries"), "{line}");
        let line = summary_line(&stderr, "synced");
        assert!(
            line.contains("job finished; 20/20 (from a state sync)"),
            "{line}\n{stderr}"
        );
        assert!(stderr.contains("findings: "), "{stderr}");
        assert!(!stderr.contains("TransportEnded {"), "debug text: {stderr}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_url_is_said_once_and_not_echoed() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        for (url, said) in [
            (
                "ws://admin:pw-not-shown-1@127.0.0.1:1/ws?jobId=j",
                "holds credentials",
            ),
            (
                "ws://127.0.0.1:1/ws?jobId=j&token=tok-not-shown-1&sig=sig-not-shown-1",
                "several secret parameters",
            ),
        ] {
            let out =
                crate::sockscope(&["watch", "--url", url, "--db", db.to_str().unwrap()], &[]).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success());
            assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
            assert!(!stderr.contains("not-shown"), "{stderr}");
        }
    })
    .await;
}

/// One flag watches a Socket.IO job: Ready at the namespace ack, progress
/// to 100%, exit 0, the token nowhere in the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_socketio_job_with_one_flag() {
    bounded(async {
        let token = "sio-cli-token-77";
        let server = sockscope_test_support::reference::ReferenceServer::start(
            "socketio-job.mjs",
            serde_json::json!({ "token": token, "total": 20, "intervalMs": 5, "ackDelayMs": 200 }),
        )
        .await
        .expect("the reference server starts");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let url = server.url("/");
        let args = [
            "--url",
            &url,
            "--dialect",
            "socketio",
            "--token-env",
            "T",
            "--json",
            "--db",
        ];
        let out = run_watch(&args, Some(&db), &[("T", token)]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("job finished; 20/20 (from a job event)"),
            "{stderr}"
        );
        assert!(stdout.contains("event:progress"), "{stdout}");
        assert!(!stdout.contains(token) && !stderr.contains(token));
        let db_bytes = std::fs::read(&db).unwrap();
        assert!(
            !db_bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in the database"
        );
    })
    .await;
}
