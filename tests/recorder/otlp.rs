//! Live traces into a real OTLP receiver (rotel-agent), over gRPC and
//! HTTP/protobuf: names, parent links, events, attributes, the 5 s promise,
//! and the app's own `tracing` spans on the same provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sockscope_recorder::otel::{OtlpProtocol, Telemetry, TelemetryConfig};
use sockscope_recorder::trace::{TraceBuilder, hex, trace_id};
use sockscope_recorder::{EventRecord, SessionTag};
use sockscope_test_support::otlp::{Rotel, SeenSpan, on_rotel, parse_spans, span_line};
use sockscope_test_support::within;
use tokio::sync::mpsc;
use tracing_subscriber::layer::SubscriberExt;

use crate::synthetic::socket_life;

pub fn config_for(rotel: &Rotel, protocol: OtlpProtocol, service: &str) -> TelemetryConfig {
    let mut c = TelemetryConfig::from_lookup(|_| None);
    c.protocol = protocol;
    c.service_name = service.into();
    c.endpoint = Some(match protocol {
        OtlpProtocol::Grpc => format!("http://{}", rotel.grpc),
        OtlpProtocol::HttpProtobuf => format!("http://{}/v1/traces", rotel.http),
    });
    c
}

/// Sends a sentinel span through a second provider and waits for it: the
/// collector prints in order, so everything sent before is printed whole.
pub async fn after_everything(rotel: Rotel, protocol: OtlpProtocol) -> Rotel {
    let sentinel = Telemetry::install(&config_for(&rotel, protocol, "sentinel")).unwrap();
    let subscriber = tracing_subscriber::registry().with(sentinel.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("sentinel").entered();
    });
    tokio::task::spawn_blocking(move || sentinel.shutdown())
        .await
        .unwrap()
        .unwrap();
    let (rotel, ()) = on_rotel(rotel, |r| {
        r.wait_for_line(
            "the sentinel span",
            Duration::from_secs(10),
            span_line("sentinel"),
        )
    })
    .await;
    rotel
}

async fn live_traces(protocol: OtlpProtocol) {
    let rotel = tokio::task::spawn_blocking(Rotel::start).await.unwrap();
    let service = format!("sockscope-test-{protocol:?}").to_lowercase();
    let telemetry = Telemetry::install(&config_for(&rotel, protocol, &service)).unwrap();
    let session = SessionTag {
        id: 7,
        trace_salt: 42,
    };
    let (tx, rx) = mpsc::channel(1024);
    let task = telemetry.spawn_live_traces(session, rx);
    let life = socket_life(1, 0, 5, None);
    let ready_at = life
        .iter()
        .position(|e| matches!(&e.kind, sockscope_engine::EventKind::Transition { to, .. } if to.name() == sockscope_engine::StateName::Ready))
        .unwrap();

    // Live: the socket is Ready and stays so; the intervals before it must
    // reach the collector within 5 s of the transition.
    for e in &life[..=ready_at] {
        tx.send(Arc::new(e.clone())).await.unwrap();
    }
    let sent = Instant::now();
    let (rotel, ()) = on_rotel(rotel, |r| {
        r.wait_for_line(
            "the AwaitingReady span, live",
            Duration::from_secs(5),
            span_line("AwaitingReady"),
        )
    })
    .await;
    let delay = sent.elapsed();
    assert!(delay < Duration::from_secs(5), "took {delay:?}");
    assert!(
        !rotel.text().contains("Name           : Ready"),
        "an unfinished span was exported"
    );

    // The app's own tracing spans go through the same provider.
    let subscriber = tracing_subscriber::registry().with(telemetry.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("app_startup", sockscope.phase = "init").entered();
    });

    for e in &life[ready_at + 1..] {
        tx.send(Arc::new(e.clone())).await.unwrap();
    }
    drop(tx);
    let made = within(Duration::from_secs(5), "live traces to end", task)
        .await
        .unwrap();
    let t = telemetry.clone();
    tokio::task::spawn_blocking(move || t.shutdown())
        .await
        .unwrap()
        .unwrap();
    let rotel = after_everything(rotel, protocol).await;

    let seen = parse_spans(&rotel.text());
    let app = seen
        .iter()
        .find(|s| s.name == "app_startup")
        .expect("app span");
    assert_eq!(app.service, service);
    assert_eq!(app.attr("sockscope.phase"), Some("Str(init)"));
    let socket: Vec<&SeenSpan> = seen
        .iter()
        .filter(|s| s.service == service && s.name != "app_startup")
        .collect();
    assert_eq!(socket.len() as u64, made);

    // The same spans, ids included, as the model builds from the events.
    let mut model = Vec::new();
    let mut b = TraceBuilder::new(session);
    for e in &life {
        b.push(&EventRecord::from_event(e, None), &mut model);
    }
    let names: Vec<&str> = socket.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "socket job socket 1",
            "Idle",
            "Connecting",
            "AwaitingReady",
            "Ready",
            "Backoff",
            "Connecting",
            "Backoff",
            "Connecting",
            "AwaitingReady",
            "Ready",
            "Closing",
            "Closed"
        ]
    );
    assert_eq!(model.len(), socket.len());
    for (m, s) in model.iter().zip(&socket) {
        assert_eq!(
            (hex(&m.span_id), m.name.as_str()),
            (s.id.clone(), s.name.as_str())
        );
    }

    // One trace per socket; a zero-length root; every interval its child.
    let trace = hex(&trace_id(session, 1));
    let root = socket[0];
    assert!(root.parent_id.is_empty());
    for s in &socket {
        assert_eq!(s.trace_id, trace);
        assert_eq!(s.service, service);
    }
    for s in &socket[1..] {
        assert_eq!(s.parent_id, root.id, "{} is a child of the root", s.name);
    }
    for (k, v) in [
        ("server.address", "Str(jobs.example.test)"),
        ("server.port", "Int(8443)"),
        ("url.scheme", "Str(wss)"),
        ("network.protocol.name", "Str(websocket)"),
        ("sockscope.job.id", "Str(j-1)"),
    ] {
        assert_eq!(root.attr(k), Some(v), "root {k}");
    }
    let awaiting = socket[3];
    assert_eq!(awaiting.attr("sockscope.attempt"), Some("Int(1)"));
    let event_names: Vec<&str> = awaiting.events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(event_names, ["frame", "finding"]);
    let finding = &awaiting.events[1].1;
    assert!(finding.contains(&(
        "sockscope.finding.class".into(),
        "Str(ready_timeout)".into()
    )));
    let ready = socket[4];
    assert_eq!(ready.events.iter().filter(|(n, _)| n == "frame").count(), 5);
    let failed_connect = socket[6];
    assert_eq!(failed_connect.attr("error.type"), Some("Str(io_refused)"));
    assert_eq!(failed_connect.status, "STATUS_CODE_ERROR");
    assert_eq!(failed_connect.attr("sockscope.attempt"), Some("Int(2)"));
    let closing = socket[11];
    assert_eq!(closing.attr("sockscope.close_code"), Some("Int(1000)"));
    assert_eq!(
        socket[12].attr("sockscope.reason"),
        Some("Str(job_finished)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_traces_reach_a_collector_over_grpc() {
    within(
        Duration::from_secs(40),
        "the gRPC test",
        live_traces(OtlpProtocol::Grpc),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_traces_reach_a_collector_over_http() {
    within(
        Duration::from_secs(40),
        "the HTTP test",
        live_traces(OtlpProtocol::HttpProtobuf),
    )
    .await
}
