//! The chaos proxy over real loopback sockets: each toxic observably
//! changes what goes through. Timings are checked on tokio's paused clock
//! (a lower bound the toxic guarantees), never against the wall clock.

use std::net::SocketAddr;
use std::time::Duration;

use sockscope_core::CoreError;
use sockscope_core::proxy::{Proxy, ProxyHandle, Toxics};
use sockscope_engine::SocketHandle;
use sockscope_engine::event::{Cause, ErrorClass, EventKind, FindingClass, StateName};
use sockscope_sim::{CreateJobResponse, Faults, JobKind};
use sockscope_test_support::{EVENT_TIMEOUT, Harness, bounded, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The bound of paused-clock tests, in virtual time.
const VIRTUAL_BOUND: Duration = Duration::from_secs(4 * 3600);

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(any_port()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn round_trip(s: &mut TcpStream, payload: &[u8]) -> Duration {
    let start = Instant::now();
    s.write_all(payload).await.unwrap();
    let mut back = vec![0u8; payload.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, payload, "bytes came back changed or out of order");
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn latency_holds_every_chunk_each_way_and_switches_off_at_runtime() {
    within(VIRTUAL_BOUND, "the latency test", async {
        let echo = echo_server().await;
        let latency = Duration::from_secs(600);
        let proxy = Proxy::start_with(
            any_port(),
            echo.to_string(),
            Toxics {
                latency,
                jitter: Duration::from_secs(60),
                ..Toxics::default()
            },
        )
        .await
        .unwrap();
        let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
        let took = round_trip(&mut s, b"hello").await;
        assert!(
            took >= latency * 2,
            "round trip {took:?} under twice {latency:?}"
        );
        assert!(
            took <= (latency + Duration::from_secs(60)) * 2 + Duration::from_secs(1),
            "{took:?}"
        );
        // Many chunks with jitter still arrive in order.
        let start = Instant::now();
        for part in [&b"a"[..], b"b", b"c", b"d"] {
            s.write_all(part).await.unwrap();
        }
        let mut back = [0u8; 4];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"abcd");
        assert!(start.elapsed() >= latency * 2);
        proxy.clear().unwrap();
        let took = round_trip(&mut s, b"again").await;
        assert!(
            took < latency,
            "with no toxics the round trip took {took:?}"
        );
        proxy.shutdown().await;
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn bandwidth_paces_the_bytes_and_lifts_at_runtime() {
    within(VIRTUAL_BOUND, "the bandwidth test", async {
        let echo = echo_server().await;
        let proxy = Proxy::start(any_port(), echo.to_string()).await.unwrap();
        proxy.set_bandwidth(Some(1_000)).unwrap();
        let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
        let payload = vec![7u8; 3_000];
        let took = round_trip(&mut s, &payload).await;
        // 3,000 bytes at 1,000 B/s, in slices of 100: the last leaves at 2.9 s.
        assert!(took >= Duration::from_millis(2_900), "{took:?}");
        proxy.set_bandwidth(None).unwrap();
        let took = round_trip(&mut s, &payload).await;
        assert!(took < Duration::from_millis(100), "{took:?}");
        proxy.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn no_toxics_by_default_and_a_bad_upstream_is_an_io_error() {
    bounded(async {
        let echo = echo_server().await;
        let proxy = Proxy::start(any_port(), echo.to_string()).await.unwrap();
        assert_eq!(proxy.toxics(), Toxics::default());
        assert_eq!(proxy.upstream(), echo.to_string());
        let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
        round_trip(&mut s, b"plain").await;
        one_open(&proxy).await;
        let addr = proxy.local_addr();
        proxy.shutdown().await;
        // Shut down: the connection ended and the port no longer accepts.
        let mut buf = [0u8; 1];
        let n = within(EVENT_TIMEOUT, "the end of the connection", s.read(&mut buf)).await;
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert!(TcpStream::connect(addr).await.is_err());
        let err = Proxy::start(any_port(), "127.0.0.1:notaport")
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::Io { .. }), "{err:?}");
    })
    .await;
}

/// Waits until the proxy holds exactly one open connection.
async fn one_open(proxy: &ProxyHandle) {
    within(
        EVENT_TIMEOUT,
        "one open connection",
        proxy.wait_open(|n| n == 1),
    )
    .await;
}

/// A job socket that reaches the simulator through the proxy, once Ready.
async fn ready_through_proxy() -> (Harness, ProxyHandle, CreateJobResponse, SocketHandle) {
    let mut h = Harness::new().await;
    let proxy = Proxy::start(any_port(), h.sim.addr().to_string())
        .await
        .unwrap();
    let paced = Faults {
        interval_ms: Some(10),
        ..Faults::default()
    };
    let job = h.job(JobKind::Enrichment, 400, paced);
    let mut cfg = h.config(&job);
    cfg.url = job
        .ws_url
        .replace(&h.sim.addr().to_string(), &proxy.local_addr().to_string());
    cfg.heartbeat.interval = Duration::from_millis(100);
    cfg.heartbeat.timeout = Duration::from_millis(300);
    cfg.timeouts.handshake = Duration::from_secs(1);
    let s = h.add(&cfg);
    h.state(&s, StateName::Ready).await;
    (h, proxy, job, s)
}

#[tokio::test]
async fn a_blackhole_is_caught_as_heartbeat_lost_and_the_socket_recovers_when_it_lifts() {
    bounded(async {
        let (mut h, proxy, job, s) = ready_through_proxy().await;
        proxy.set_blackhole(true).unwrap();
        h.finding(&s, FindingClass::HeartbeatLost).await;
        h.state(&s, StateName::Backoff).await;
        // The server never saw that connection end: the link was half-open.
        assert!(!h.sim.wire_log().iter().any(|e| matches!(
            e,
            sockscope_sim::WireEvent::Close {
                by: sockscope_sim::Side::Client,
                ..
            }
        )));
        proxy.set_blackhole(false).unwrap();
        h.state(&s, StateName::Ready).await;
        assert!(h.sim.connections(&job.job_id) >= 2);
        s.cancel().await.unwrap();
        proxy.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_reset_reaches_the_engine_as_an_io_reset() {
    bounded(async {
        let (mut h, proxy, _job, s) = ready_through_proxy().await;
        one_open(&proxy).await;
        assert_eq!(proxy.reset_connections().unwrap(), 1);
        let id = s.id();
        let e = h
            .next("the transition the reset causes", |e| {
                e.socket == id && matches!(e.kind, EventKind::Transition { .. })
            })
            .await;
        let EventKind::Transition { cause, .. } = &e.kind else {
            unreachable!()
        };
        assert!(
            matches!(cause, Cause::TransportError(ErrorClass::Io(k)) if k.contains("reset")),
            "{cause:?}"
        );
        assert_eq!(h.findings(&s, FindingClass::AbnormalClose), 1);
        h.state(&s, StateName::Ready).await;
        s.cancel().await.unwrap();
        proxy.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_drop_is_an_abnormal_close_and_the_socket_reconnects() {
    bounded(async {
        let (mut h, proxy, job, s) = ready_through_proxy().await;
        one_open(&proxy).await;
        assert_eq!(proxy.drop_connections().unwrap(), 1);
        h.finding(&s, FindingClass::AbnormalClose).await;
        h.state(&s, StateName::Ready).await;
        assert_eq!(h.sim.connections(&job.job_id), 2);
        s.cancel().await.unwrap();
        proxy.shutdown().await;
    })
    .await;
}
