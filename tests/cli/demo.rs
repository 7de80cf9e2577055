use std::process::Command;

/// The demo runs its three sockets to the end and shows the seeds' races.
#[test]
fn demo_runs_every_job_to_the_end_and_shows_the_races() {
    // Its own database: a shared default one may hold another build's schema.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["demo", "--items", "30", "--interval-ms", "20", "--db"])
        .arg(dir.path().join("demo.db"))
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}", out.status);
    for class in [
        "send_before_ready_queued",
        "ready_timeout",
        "ready_resent",
        "abnormal_close",
        "peer_frame_after_close",
    ] {
        assert!(stdout.contains(class), "no {class} in:\n{stdout}");
    }
    assert_eq!(
        stdout.matches("-> Closed (job finished)").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("demo done: 3 sockets"), "{stdout}");
}

#[test]
fn a_bad_flag_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["demo", "--items", "many"])
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--items"), "{stderr}");
}
