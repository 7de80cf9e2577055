//! Shared helpers of the integration-test binaries: bounded waits, the
//! scenarios' harness of simulator plus engine with a lossless event log
//! (panicking where a scenario would fail), a real OTLP receiver
//! ([`otlp`]), an HTTP server of huge answers ([`huge_body`]) and a small
//! tmpfs to fill or make read-only ([`tmpfs`]). Nothing
//! here sleeps; every wait is for an event, bounded by a timeout.

pub mod huge_body;
pub mod otlp;
pub mod tmpfs;

/// The reference servers of other protocols (`tests/servers`).
pub use sockscope_sim::reference;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{FindingClass, StateName};
use sockscope_engine::{Event, SocketConfig, SocketHandle};
use sockscope_sim::{CreateJobResponse, Faults, JobKind, SimConfig};

/// A writer that keeps everything written to it, shared between clones
/// (for log output: `move || captured.clone()` is a log writer).
#[derive(Debug, Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bound every async test runs under unless it says otherwise.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one awaited event may take.
pub use sockscope_core::scenario::EVENT_TIMEOUT;

/// Runs `fut`, panicking with `what` if it does not finish within `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Wraps a whole async test body in [`TEST_TIMEOUT`].
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    within(TEST_TIMEOUT, "the test body", fut).await
}

/// The scenarios' harness ([`sockscope_core::scenario::Harness`]) for
/// tests: the same waits, but a failed one panics with what it awaited, and
/// [`Harness::config`] fixes the jitter seed so runs repeat.
#[derive(Debug)]
pub struct Harness(pub sockscope_core::scenario::Harness);

impl std::ops::Deref for Harness {
    type Target = sockscope_core::scenario::Harness;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Harness {
    /// A simulator with no server-wide faults.
    pub async fn new() -> Harness {
        Harness::with_sim(SimConfig::default()).await
    }

    /// A simulator with this configuration.
    pub async fn with_sim(config: SimConfig) -> Harness {
        Harness(
            sockscope_core::scenario::Harness::with_sim(config)
                .await
                .expect("simulator and engine start"),
        )
    }

    /// Creates a job on the simulator.
    pub fn job(&self, kind: JobKind, total: u64, faults: Faults) -> CreateJobResponse {
        self.0.job(kind, total, faults).expect("job created")
    }

    /// The harness's test-sized config, with jitter seed 7.
    pub fn config(&self, job: &CreateJobResponse) -> SocketConfig {
        let mut c = self.0.config(job);
        c.jitter_seed = Some(7);
        c
    }

    /// Adds a socket.
    pub fn add(&self, config: &SocketConfig) -> SocketHandle {
        self.0.add(config).expect("socket config is valid")
    }

    /// Waits for the next event `pred` accepts, keeping every event in the log.
    pub async fn next(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Arc<Event> {
        self.0
            .next(what, pred)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until `socket` enters the state named `name`.
    pub async fn state(&mut self, socket: &SocketHandle, name: StateName) -> Arc<Event> {
        self.0
            .state(socket, name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Harness::state`], but an entry already in the log counts.
    pub async fn entered(&mut self, socket: &SocketHandle, name: StateName) -> Arc<Event> {
        self.0
            .entered(socket, name)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits for a finding of `class` on `socket`.
    pub async fn finding(&mut self, socket: &SocketHandle, class: FindingClass) -> Arc<Event> {
        self.0
            .finding(socket, class)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A fresh self-signed certificate for 127.0.0.1: its PEM (what a client
/// must be told to trust) and its private key (DER).
pub fn self_signed_cert() -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().expect("a key pair");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    (cert.pem(), key.serialize_der())
}

/// A TLS acceptor (a `wss://` server's side) serving `cert_pem` with `key_der`.
pub fn tls_acceptor(cert_pem: &str, key_der: &[u8]) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("the certificate's PEM");
    let key = PrivateKeyDer::try_from(key_der.to_vec()).expect("the key's DER");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the certificate and key");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A TLS acceptor for 127.0.0.1 with a fresh self-signed certificate, and
/// that certificate as PEM.
pub fn self_signed_tls() -> (tokio_rustls::TlsAcceptor, String) {
    let (pem, key) = self_signed_cert();
    (tls_acceptor(&pem, &key), pem)
}

/// For a test that measures its own process (its resident memory): runs
/// the test `name` (its full path, e.g. `bounds::big_frames`) alone in a
/// fresh copy of this test binary, with `env` added, prints that copy's
/// output and panics unless it passed. Returns `None` inside that copy,
/// where the test does its work; `Some(stdout)` in the test that started it.
pub fn in_own_process(name: &str, env: &[(&str, &str)]) -> Option<String> {
    const MARK: &str = "SOCKSCOPE_OWN_PROCESS";
    if std::env::var(MARK).is_ok_and(|v| v == name) {
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(MARK, name)
        .envs(env.iter().copied())
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in its own process"
    );
    Some(stdout)
}
