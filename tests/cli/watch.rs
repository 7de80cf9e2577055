//! `sockscope watch` against the simulator: JSON lines, the exit code, and
//! a token that never reaches the output.

use std::process::Stdio;
use std::time::Duration;

use sockscope_sim::{AuthVia, Faults, JobKind, Sim, SimConfig, WireEvent};
use sockscope_test_support::{bounded, within};

async fn watch(url: &str, token: &str, db: &std::path::Path) -> std::process::Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args([
            "watch",
            "--url",
            url,
            "--token-env",
            "JOB_TOKEN",
            "--json",
            "--db",
        ])
        .arg(db)
        .env("JOB_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    within(
        Duration::from_secs(20),
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
        assert!(stderr.contains("Failed (Unauthorized)"), "{stderr}");
    })
    .await;
}

#[test]
fn watch_refuses_bad_input_clearly() {
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .arg("watch")
            .args(args)
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
