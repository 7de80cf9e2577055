//! `sockscope watch` against the simulator: JSON lines, the exit code, and
//! a token that never reaches the output.

use std::process::Stdio;
use std::time::Duration;

use sockscope_sim::{Faults, JobKind, Sim, SimConfig};
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
