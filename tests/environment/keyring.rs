//! Tokens in a real Secret Service, and the fallback where there is none.
//!
//! Each test re-runs itself (this test binary, filtered to the one test) in
//! a child process whose environment points at the bus under test: a
//! private `dbus-run-session` with an unlocked gnome-keyring, a bus with no
//! Secret Service on it, or no bus at all. The child does the work; the
//! parent checks that it ran to the end. Nothing touches the desktop
//! keyring of whoever runs the tests. Needs `dbus-run-session` (dbus) and
//! `gnome-keyring-daemon` (gnome-keyring); scripts/test.sh installs both.

use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{EventKind, StateName};
use sockscope_engine::{StaticToken, Token, TokenSource};
use sockscope_environment::secrets::{self, KeyringToken, TokenChoice};
use sockscope_environment::{Error, KeyringUnavailable};
use sockscope_sim::{Faults, JobKind};
use sockscope_test_support::{Harness, bounded, within};

/// Set in the child: which role it plays.
const CHILD: &str = "SOCKSCOPE_KEYRING_CHILD";
/// The child prints this last; the parent looks for it.
const DONE: &str = "keyring child finished: ";

/// Starts an unlocked login keyring with the Secret Service component, then
/// runs the test binary ($0) filtered to one test ($1).
const WITH_KEYRING: &str = r#"printf %s sockscope-test | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null || exit 97
exec "$0" "$1" --exact --nocapture --test-threads=1"#;
const WITHOUT_KEYRING: &str = r#"exec "$0" "$1" --exact --nocapture --test-threads=1"#;

enum Bus {
    /// `dbus-run-session` with an unlocked gnome-keyring.
    WithKeyring,
    /// `dbus-run-session` with no keyring started or unlocked.
    Bare,
    /// No bus at all.
    None,
}

/// Runs test `name` in a child process on `bus`, and checks it finished.
async fn run_child(name: &str, role: &str, bus: Bus) {
    let home = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = match bus {
        Bus::WithKeyring | Bus::Bare => {
            for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
                assert!(
                    which(tool),
                    "`{tool}` is missing: install dbus and gnome-keyring (scripts/test.sh does)"
                );
            }
            let script = if matches!(bus, Bus::WithKeyring) {
                WITH_KEYRING
            } else {
                WITHOUT_KEYRING
            };
            let mut c = tokio::process::Command::new("dbus-run-session");
            c.args(["--", "sh", "-c", script]).arg(&exe).arg(name);
            c.env_remove("DBUS_SESSION_BUS_ADDRESS");
            c
        }
        Bus::None => {
            let mut c = tokio::process::Command::new(&exe);
            c.args([name, "--exact", "--nocapture", "--test-threads=1"]);
            c.env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", home.path().join("no-bus").display()),
            );
            c
        }
    };
    cmd.env(CHILD, role)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .kill_on_drop(true);
    let out = within(Duration::from_secs(25), "the keyring child", cmd.output())
        .await
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("{DONE}{role}")),
        "child `{role}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// In the parent: runs test `name` as the child `role` on `bus`, checks that
/// it finished, and returns false. In that child: returns true, to do the work.
async fn in_child(name: &str, role: &str, bus: Bus) -> bool {
    if std::env::var(CHILD).ok().as_deref() == Some(role) {
        return true;
    }
    run_child(name, role, bus).await;
    false
}

/// Why the probe finds no usable keyring, and its detail.
async fn unavailable() -> (KeyringUnavailable, String) {
    match secrets::probe().await {
        Err(Error::KeyringUnavailable { reason, detail }) => (reason, detail),
        other => panic!("expected an unavailable keyring, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_in_a_real_secret_service_authenticates_a_socket_and_goes_with_it() {
    const NAME: &str =
        "keyring::a_token_in_a_real_secret_service_authenticates_a_socket_and_goes_with_it";
    bounded(async {
        if !in_child(NAME, "secret_service", Bus::WithKeyring).await {
            return;
        }
        secrets::probe().await.expect("the private keyring answers");
        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            3,
            Faults {
                interval_ms: Some(5),
                ..Faults::default()
            },
        );
        let entry = KeyringToken::new(job.job_id.clone());
        entry
            .store(&Token::new(job.token.clone()))
            .await
            .expect("stored");
        assert_eq!(
            entry.read().await.expect("read back"),
            Token::new(job.token.clone())
        );

        // The socket's token comes from the keyring: a wrong fallback would
        // be refused by the simulator.
        let choice = secrets::choose(&job.job_id, Arc::new(StaticToken::new("wrong"))).await;
        assert!(matches!(choice, TokenChoice::Keyring(_)), "{choice:?}");
        let mut cfg = h.config(&job);
        cfg.token = Some(choice.source());
        let s = h.add(&cfg);
        let added = h
            .next("SocketAdded", |e| {
                e.socket == s.id() && matches!(e.kind, EventKind::SocketAdded(_))
            })
            .await;
        let EventKind::SocketAdded(info) = &added.kind else {
            unreachable!()
        };
        assert_eq!(
            info.token_source.as_deref(),
            Some(format!("keyring:sockscope/{}", job.job_id).as_str())
        );
        h.state(&s, StateName::Ready).await;

        // Removing the socket deletes the job's entry.
        assert!(
            secrets::remove_socket(&h.engine, s.id())
                .await
                .expect("removed")
        );
        assert!(h.engine.socket(s.id()).is_none());
        match entry.read().await {
            Err(Error::NoToken { job: missing }) => assert_eq!(missing, job.job_id),
            other => panic!("the entry should be gone: {other:?}"),
        }
        assert!(!entry.delete().await.expect("a second delete is a no-op"));
        println!("{DONE}secret_service");
    })
    .await;
}

#[tokio::test]
async fn with_no_session_bus_the_keyring_says_why_and_the_callers_fallback_is_used() {
    const NAME: &str =
        "keyring::with_no_session_bus_the_keyring_says_why_and_the_callers_fallback_is_used";
    bounded(async {
        if !in_child(NAME, "no_bus", Bus::None).await {
            return;
        }
        let (reason, detail) = unavailable().await;
        assert_eq!(reason, KeyringUnavailable::NoSessionBus, "{detail}");
        // A KeyringToken used anyway fails clearly, naming the source and why.
        let err = KeyringToken::new("job-x")
            .token()
            .await
            .expect_err("no keyring");
        let text = err.to_string();
        assert!(
            text.contains("keyring:sockscope/job-x") && text.contains("no D-Bus session bus"),
            "{text}"
        );

        let mut h = Harness::new().await;
        let job = h.job(
            JobKind::CsvImport,
            3,
            Faults {
                interval_ms: Some(5),
                ..Faults::default()
            },
        );
        let choice =
            secrets::choose(&job.job_id, Arc::new(StaticToken::new(job.token.clone()))).await;
        let TokenChoice::Fallback {
            reason, ref source, ..
        } = choice
        else {
            panic!("expected the fallback, got {choice:?}");
        };
        assert_eq!(reason, KeyringUnavailable::NoSessionBus);
        assert_eq!(source.describe(), "static");
        let mut cfg = h.config(&job);
        cfg.token = Some(choice.source());
        let s = h.add(&cfg);
        h.state(&s, StateName::Ready).await;
        // Nothing to delete: the fallback is not the keyring's.
        assert!(
            !secrets::remove_socket(&h.engine, s.id())
                .await
                .expect("removed")
        );
        println!("{DONE}no_bus");
    })
    .await;
}

#[tokio::test]
async fn with_a_secret_service_but_no_unlocked_keyring_the_keyring_says_locked() {
    const NAME: &str =
        "keyring::with_a_secret_service_but_no_unlocked_keyring_the_keyring_says_locked";
    bounded(async {
        if !in_child(NAME, "locked", Bus::Bare).await {
            return;
        }
        // The bare bus starts gnome-keyring on demand (its D-Bus activation
        // file), but no login keyring was created or unlocked.
        let (reason, detail) = unavailable().await;
        assert_eq!(reason, KeyringUnavailable::Locked, "{detail}");
        println!("{DONE}locked");
    })
    .await;
}
