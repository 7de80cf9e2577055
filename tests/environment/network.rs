//! A real address change, made on a veth pair the test creates, ends a 30 s
//! backoff at once and probes a live link at once.
//!
//! Needs `ip` (iproute2) and the right to create interfaces (root, or
//! CAP_NET_ADMIN). CI runs as root. Where `ip` exists but the kernel refuses
//! (EPERM in an unprivileged container), the test prints why and returns:
//! that is the one skip. A missing `ip` fails it (scripts/test.sh installs
//! iproute2).

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use sockscope_engine::event::{
    Cause, Direction, ENGINE_WIDE, EnvironmentChange, EventKind, Opcode, StateName,
};
use sockscope_environment::{AddressChange, Change, EnvironmentTask, NetworkWatcher, Sources};
use sockscope_test_support::{Harness, bounded, within};

use crate::support::{
    LONG_BACKOFF, dropping_job, into_long_backoff, long_backoff, long_job, ms, reconnect_cause,
    report, seen_or_next, timeline,
};

/// A veth pair this test made; deleted on drop, pass or fail.
struct Veth {
    name: String,
}

impl Veth {
    /// Creates `ssc<pid>` with its peer, or says why it cannot.
    fn create() -> Result<Veth, String> {
        let name = format!("ssc{}", std::process::id() % 1_000_000);
        let peer = format!("{name}p");
        // A leftover from a killed run.
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        let out = ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
        match out {
            Ok(()) => Ok(Veth { name }),
            Err(e) if e.contains("Operation not permitted") => Err(e),
            Err(e) => panic!("ip link add failed: {e}"),
        }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair, and their addresses.
        if let Err(e) = ip(&["link", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `ip` ({e}); install iproute2 (scripts/test.sh does)")
    });
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[tokio::test]
async fn an_address_change_ends_a_backoff_at_once_and_probes_a_live_link() {
    bounded(async {
        let mut h = Harness::new().await;
        let watcher = within(Duration::from_secs(5), "the watcher to start", NetworkWatcher::start())
            .await
            .expect("the network watcher starts");
        let env = EnvironmentTask::spawn(
            h.engine.clone(),
            Sources {
                network: Some(watcher),
                wake: None,
            },
        );
        let mut reports = env.subscribe();

        // Socket A: its link is cut; it backs off for 30 s.
        let job_a = dropping_job(&h);
        let a = h.add(&long_backoff(&h, &job_a));
        let planned = into_long_backoff(&mut h, &a).await;
        // Socket B: Ready, and stays so.
        let job_b = long_job(&h);
        let b = h.add(&long_backoff(&h, &job_b));
        h.state(&b, StateName::Ready).await;

        // The change: a new interface gets an address.
        let veth = match Veth::create() {
            Ok(v) => v,
            Err(why) => {
                eprintln!("SKIPPED: this machine may not create interfaces ({why}); CI runs as root");
                return;
            }
        };
        let octet = std::process::id() % 250 + 1;
        let addr = format!("10.213.{octet}.1");
        ip(&["addr", "add", &format!("{addr}/30"), "dev", &veth.name]).expect("address added");
        ip(&["link", "set", &veth.name, "up"]).expect("link up");

        let want: IpAddr = addr.parse().unwrap();
        let seen = report(&mut reports, "the address change to be reported", |o| {
            o.changes.iter().any(|c| {
                matches!(c, Change::Network(n) if n.addr == want && n.kind == AddressChange::Added)
            })
        })
        .await;
        assert!(seen.notified.contains(&a.id()) && seen.notified.contains(&b.id()));

        // The change is one engine-wide event, before either socket reacts.
        let recorded = seen_or_next(&mut h, "the engine-wide environment event", |e| {
            e.socket == ENGINE_WIDE
                && matches!(&e.kind, EventKind::Environment(EnvironmentChange::Address { added: true, addr, .. }) if *addr == want)
        })
        .await;

        // A reconnects now, not when its 30 s are up.
        let (connecting, cause) = reconnect_cause(&mut h, &a).await;
        assert_eq!(cause, Cause::NetworkChanged);
        assert!(recorded.mono <= connecting.mono, "the change is logged before the reaction");
        let waited = connecting.mono.since(planned.mono);
        assert!(
            waited < LONG_BACKOFF / 10,
            "reconnected {waited:?} after the backoff was planned; the plan was {LONG_BACKOFF:?}"
        );
        h.state(&a, StateName::Ready).await;

        // B is probed now: a ping goes out and is answered.
        let bid = b.id();
        let since = seen.mono;
        let ping = seen_or_next(&mut h, "a probe ping on the live socket", |e| {
                e.socket == bid
                    && e.mono >= since
                    && matches!(&e.kind, EventKind::Frame(f) if f.opcode == Opcode::Ping && f.direction == Direction::Out)
            })
            .await;
        assert!(ping.mono >= seen.mono, "the ping is the probe, not an earlier one");
        seen_or_next(&mut h, "the probe's pong", |e| {
            e.socket == bid && e.mono >= since && matches!(e.kind, EventKind::HeartbeatAnswered { .. })
        })
        .await;

        eprintln!("--- timeline (ms on the engine clock) ---");
        eprintln!("{:>10.3} ms  socket {}  BackoffPlanned delay={LONG_BACKOFF:?}", ms(planned.mono), a.id());
        for c in &seen.changes {
            eprintln!("{:>10.3} ms  all lanes  environment {c}", ms(seen.mono));
        }
        for line in timeline(&h, seen.mono, &[a.id(), b.id()]).iter().take(12) {
            eprintln!("{line}");
        }
        drop(veth);
    })
    .await;
}
