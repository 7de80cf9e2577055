//! connect→Ready for each dialect, side by side with a bare
//! tokio-tungstenite client that does the same protocol steps against the
//! same server (`tests/servers`: npm socket.io and graphql-ws, and the
//! Phoenix and SignalR fixtures). A benchmark, not a timed test: nothing
//! fails on a slow run.
//!
//! `cargo bench -p sockscope-engine --bench dialects` runs 300 measured
//! connects per variant after 30 warm-ups, interleaved engine, bare, engine,
//! bare…; `SOCKSCOPE_BENCH_N` sets the count. Needs the servers' packages
//! (`npm ci --prefix tests/servers`; scripts/test.sh installs them). The
//! bare steps, each until its Ready:
//! - socketio: read the Engine.IO open packet, send `40{"token":…}`, read
//!   the CONNECT ack;
//! - graphql-ws: the subprotocol header, `connection_init` with the token,
//!   read `connection_ack`;
//! - phoenix: `phx_join` with the token, read its `phx_reply`;
//! - signalr: the negotiate POST, connect with `id=`, the handshake request,
//!   read `{}`.
//!
//! Each socket is torn down (close frame, transport dropped) outside the
//! timed span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use sockscope_engine::{AdapterKind, Engine, EngineConfig, SocketConfig, State, StaticToken};
use sockscope_test_support::reference::ReferenceServer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const WARMUP: usize = 30;
const LIMIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "bench-token";
const RS: char = '\u{1e}';

fn main() {
    let n = std::env::var("SOCKSCOPE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300usize)
        .max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows = rt.block_on(async {
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let http = reqwest::Client::new();
        let mut rows = Vec::new();
        for (adapter, script, path) in [
            (AdapterKind::SocketIo, "socketio-job.mjs", "/"),
            (AdapterKind::GraphqlWs, "graphql-ws-job.mjs", "/"),
            (AdapterKind::Phoenix, "phoenix-job.mjs", "/socket"),
            (AdapterKind::SignalR, "signalr-job.mjs", "/hub"),
        ] {
            // A job that never moves during the bench.
            let server = ReferenceServer::start(
                script,
                json!({ "token": TOKEN, "total": 1_000_000, "intervalMs": 3_600_000 }),
            )
            .await;
            let url = server.url(path);
            let (mut e, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for i in 0..WARMUP + n {
                let te = engine_connect(&engine, adapter, &url).await;
                let tb = bare_connect(&http, adapter, &url).await;
                if i >= WARMUP {
                    e.push(te);
                    b.push(tb);
                }
            }
            rows.push((adapter, e, b));
        }
        rows
    });
    println!();
    println!(
        "connect→Ready per dialect, {n} connects per variant after {WARMUP} warm-ups, interleaved"
    );
    println!();
    println!("| dialect | engine median | bare median | ratio | engine p99 | bare p99 |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (adapter, mut e, mut b) in rows {
        e.sort();
        b.sort();
        let (em, bm) = (pct(&e, 50.0), pct(&b, 50.0));
        println!(
            "| {} | {} | {} | {:.2}× | {} | {} |",
            adapter.as_str(),
            us(em),
            us(bm),
            em.as_secs_f64() / bm.as_secs_f64(),
            us(pct(&e, 99.0)),
            us(pct(&b, 99.0)),
        );
    }
}

fn config(adapter: AdapterKind, url: &str) -> SocketConfig {
    let mut c = SocketConfig::job(url);
    c.adapter = adapter;
    c.job_id = Some("j-b".into());
    c.token = Some(Arc::new(StaticToken::new(TOKEN)));
    if adapter == AdapterKind::GraphqlWs {
        c.dialect.query =
            Some("subscription { progress(jobId: \"{job_id}\") { processed total } }".into());
    }
    c
}

async fn engine_connect(engine: &Engine, adapter: AdapterKind, url: &str) -> Duration {
    let cfg = config(adapter, url);
    let started = Instant::now();
    let handle = engine.add_socket(&cfg).expect("valid config");
    tokio::time::timeout(
        LIMIT,
        handle.wait_for(|s| matches!(s.state, State::Ready { .. })),
    )
    .await
    .expect("engine Ready in time")
    .expect("socket task alive");
    let took = started.elapsed();
    engine
        .remove_socket(handle.id())
        .await
        .expect("socket known");
    tokio::time::timeout(LIMIT, handle.wait_for(|s| s.state == State::Cancelled))
        .await
        .expect("cancelled in time")
        .expect("socket task alive");
    took
}

async fn bare_connect(http: &reqwest::Client, adapter: AdapterKind, url: &str) -> Duration {
    let started = Instant::now();
    let mut ws = tokio::time::timeout(LIMIT, async {
        let mut target = url.to_owned();
        match adapter {
            AdapterKind::SocketIo => target.push_str("socket.io/?EIO=4&transport=websocket"),
            AdapterKind::Phoenix => target.push_str("/websocket?vsn=2.0.0"),
            AdapterKind::SignalR => {
                let negotiate = format!(
                    "{}/negotiate?negotiateVersion=1",
                    url.replacen("ws://", "http://", 1)
                );
                let body: serde_json::Value = http
                    .post(negotiate)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("negotiated")
                    .json()
                    .await
                    .expect("negotiate JSON");
                let id = body["connectionToken"].as_str().expect("a token");
                target = format!("{url}?id={id}");
            }
            _ => {}
        }
        let mut request = target.as_str().into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("header"),
        );
        if adapter == AdapterKind::GraphqlWs {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("graphql-transport-ws"),
            );
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("bare handshake");
        let (first, ack): (Option<String>, fn(&str) -> bool) = match adapter {
            AdapterKind::SocketIo => (None, |t| t.starts_with("40")),
            AdapterKind::GraphqlWs => (
                Some(json!({"type":"connection_init","payload":{"token":TOKEN}}).to_string()),
                |t| t.contains("connection_ack"),
            ),
            AdapterKind::Phoenix => (
                Some(json!(["1","1","job:j-b","phx_join",{"token":TOKEN}]).to_string()),
                |t| t.contains("phx_reply"),
            ),
            _ => (
                Some(format!(r#"{{"protocol":"json","version":1}}{RS}"#)),
                |t| t.starts_with("{}"),
            ),
        };
        if let Some(f) = first {
            ws.send(Message::text(f)).await.expect("sent");
        }
        loop {
            let Message::Text(t) = ws.next().await.expect("open").expect("read") else {
                continue;
            };
            if adapter == AdapterKind::SocketIo && t.starts_with('0') {
                let connect = json!({ "token": TOKEN }).to_string();
                ws.send(Message::text(format!("40{connect}")))
                    .await
                    .expect("sent");
                continue;
            }
            if ack(t.as_str()) {
                break;
            }
        }
        ws
    })
    .await
    .expect("bare Ready in time");
    let took = started.elapsed();
    let _ = tokio::time::timeout(LIMIT, ws.close(None)).await;
    took
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
