use std::process::Command;

/// `scenario list` shows every scenario with its seed and expected findings.
#[test]
fn scenario_list_shows_the_catalog() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["scenario", "list"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}", out.status);
    for id in [
        "send-before-handshake",
        "half-open-stall",
        "reconnect-storm-1000",
        "duplicate-seq-and-gap",
    ] {
        assert!(stdout.contains(id), "no {id} in:\n{stdout}");
    }
    assert!(stdout.contains("heartbeat_lost"), "{stdout}");
}

/// `scenario run` prints the transitions, the findings, where the run is
/// in the database, and PASS.
#[test]
fn scenario_run_prints_what_happened_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["scenario", "run", "send-after-close", "--db"])
        .arg(&db)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}", out.status);
    assert!(stdout.contains("Ready -> Closing"), "{stdout}");
    assert!(stdout.contains("send_after_close_prevented"), "{stdout}");
    assert!(
        stdout.contains("recorded:") && stdout.contains("in session 1 of"),
        "{stdout}"
    );
    assert!(stdout.contains("result: PASS"), "{stdout}");
}

#[test]
fn an_unknown_scenario_fails_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["scenario", "run", "no-such-race"])
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-race"), "{stderr}");
}

/// `proxy` takes toxics as flags and commands on stdin, and quits on `quit`.
#[test]
fn proxy_takes_toxics_from_flags_and_stdin() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:1",
            "--latency-ms",
            "50",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"blackhole on\nbandwidth 100\nfly\nclear\nquit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("latency 50 ms + jitter 0 ms"), "{stdout}");
    assert!(
        stdout.contains("latency 50 ms + jitter 0 ms, blackhole"),
        "{stdout}"
    );
    assert!(stdout.contains("bandwidth 100 B/s, blackhole"), "{stdout}");
    assert!(stdout.contains("unknown command `fly`"), "{stdout}");
    assert!(stdout.contains("[no toxics]"), "{stdout}");
    assert!(stdout.contains("proxy stopped"), "{stdout}");
}
