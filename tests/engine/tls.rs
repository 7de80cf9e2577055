//! `wss://` sockets, against a real TLS server on 127.0.0.1: one whose
//! certificate the process trusts (its own process, with `SSL_CERT_FILE`
//! naming that certificate, as a user would) reaches Ready; one no root
//! trusts fails in the TLS handshake, and the server hears the refusal.

use std::time::Duration;

use futures_util::StreamExt;
use sockscope_engine::event::{Cause, EventKind, StateName};
use sockscope_engine::{Engine, EngineConfig, SocketConfig, State};
use sockscope_test_support::{
    bounded, in_own_process, self_signed_cert, self_signed_tls, tls_acceptor, within,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Where the parent left the certificate and key for its child.
const DIR: &str = "SOCKSCOPE_TEST_TLS_DIR";

/// A `wss://` server for one connection: the TLS accept's outcome (its
/// error as text), and the WebSocket served until the client goes.
async fn one_wss_connection(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    accepted: oneshot::Sender<Result<(), String>>,
) {
    let (tcp, _) = listener.accept().await.expect("a connection");
    let tls = match acceptor.accept(tcp).await {
        Ok(tls) => tls,
        Err(e) => {
            let _ = accepted.send(Err(e.to_string()));
            return;
        }
    };
    let _ = accepted.send(Ok(()));
    if let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await {
        while let Some(Ok(_)) = ws.next().await {}
    }
}

#[tokio::test]
async fn a_wss_socket_reaches_ready_over_tls_when_its_server_is_trusted() {
    let name = "tls::a_wss_socket_reaches_ready_over_tls_when_its_server_is_trusted";
    let Ok(dir) = std::env::var(DIR) else {
        // The parent: a certificate and key on disk, and the roots of the
        // child's process limited to that certificate.
        let dir = tempfile::tempdir().expect("temp dir");
        let (pem, key) = self_signed_cert();
        let roots = dir.path().join("roots");
        std::fs::create_dir(&roots).expect("roots dir");
        std::fs::write(roots.join("cert.pem"), &pem).expect("cert written");
        std::fs::write(dir.path().join("key.der"), key).expect("key written");
        let file = roots.join("cert.pem");
        let env = [
            (DIR, dir.path().to_str().expect("UTF-8 path")),
            ("SSL_CERT_FILE", file.to_str().expect("UTF-8 path")),
            ("SSL_CERT_DIR", roots.to_str().expect("UTF-8 path")),
        ];
        in_own_process(name, &env).expect("the parent");
        return;
    };
    bounded(async {
        let dir = std::path::Path::new(&dir);
        let pem = std::fs::read_to_string(dir.join("roots/cert.pem")).expect("cert");
        let key = std::fs::read(dir.join("key.der")).expect("key");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
        let port = listener.local_addr().expect("addr").port();
        let (accepted_tx, accepted) = oneshot::channel();
        let server = tokio::spawn(one_wss_connection(
            listener,
            tls_acceptor(&pem, &key),
            accepted_tx,
        ));

        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let socket = engine
            .add_socket(&SocketConfig::raw(format!("wss://127.0.0.1:{port}/")))
            .expect("valid config");
        let ready = within(
            Duration::from_secs(10),
            "Ready over TLS",
            socket.wait_for(|s| matches!(s.state, State::Ready { .. } | State::Failed { .. })),
        )
        .await
        .expect("socket task alive");
        assert!(
            matches!(ready.state, State::Ready { attempt: 1 }),
            "Ready on the first attempt, got {:?}",
            ready.state
        );
        let tls = within(Duration::from_secs(5), "the TLS accept", accepted)
            .await
            .expect("the server answered");
        assert_eq!(tls, Ok(()), "the server completed a TLS handshake");

        // The close goes over TLS too: the server sees the client go.
        engine.remove_socket(socket.id()).await.expect("known");
        within(Duration::from_secs(10), "the server's end", server)
            .await
            .expect("server task");
    })
    .await;
}

#[tokio::test]
async fn a_wss_socket_refuses_a_server_no_root_trusts() {
    bounded(async {
        let (acceptor, _pem) = self_signed_tls();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
        let port = listener.local_addr().expect("addr").port();
        let (accepted_tx, accepted) = oneshot::channel();
        tokio::spawn(one_wss_connection(listener, acceptor, accepted_tx));

        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let mut events = engine.subscribe_lossless(256);
        let mut cfg = SocketConfig::raw(format!("wss://127.0.0.1:{port}/"));
        cfg.jitter_seed = Some(1);
        let socket = engine.add_socket(&cfg).expect("valid config");
        // The first attempt fails in its handshake, and a retry is planned.
        let cause = within(Duration::from_secs(10), "the failed attempt", async {
            loop {
                let e = events.recv().await.expect("events");
                if let EventKind::Transition { from, to, cause } = &e.kind
                    && *from == StateName::Connecting
                {
                    assert!(
                        matches!(to, State::Backoff { .. }),
                        "a retry is planned, got {to:?}"
                    );
                    return cause.clone();
                }
            }
        })
        .await;
        assert!(
            matches!(cause, Cause::HandshakeFailed(_)),
            "the handshake failed, got {cause:?}"
        );
        // The client spoke TLS and refused the certificate with an alert;
        // bytes of plain HTTP would have been a malformed record instead.
        let refused = within(Duration::from_secs(5), "the TLS accept", accepted)
            .await
            .expect("the server answered")
            .expect_err("the client refuses an untrusted certificate");
        assert!(refused.contains("alert"), "the server heard: {refused}");
        engine.remove_socket(socket.id()).await.expect("known");
    })
    .await;
}
