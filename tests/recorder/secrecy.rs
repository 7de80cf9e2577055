//! No secret leaks: a known token, planted in a frame payload, an
//! Authorization-like string, an error text, a finding and a token-source
//! description, appears in none of the database files, the OTLP payloads
//! the collector received, the exports, or the logs.

use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::Handshake;
use sockscope_engine::{Event, EventKind};
use sockscope_recorder::otel::{OtlpProtocol, Telemetry};
use sockscope_recorder::{RecordReader, Recorder, RecorderConfig, export};
use sockscope_test_support::otlp::Rotel;
use sockscope_test_support::{Captured, within};
use tokio::sync::mpsc;

use crate::otlp::{after_everything, config_for};
use crate::synthetic::{binary_in, ev, socket_life};

const SECRET: &str = "tok_S3cr3t-9f8e7d6c5b4a";

fn assert_clean(place: &str, bytes: &[u8]) {
    let hay = String::from_utf8_lossy(bytes);
    assert!(!hay.contains(SECRET), "the secret leaked into {place}");
    // Also not in a JSON-escaped or partial form.
    assert!(
        !hay.contains(&SECRET[4..16]),
        "part of the secret leaked into {place}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_token_reaches_no_file_trace_export_or_log() {
    within(Duration::from_secs(40), "the secrecy test", async {
        // Every log line of the process, at every level.
        let logs = Captured::default();
        let writer = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();

        let events: Vec<Event> = socket_life(1, 0, 30, Some(SECRET));
        // The secret really is in the input, in each planted place.
        let planted = events
            .iter()
            .filter(|e| format!("{:?}", e.kind).contains(SECRET))
            .count();
        assert!(planted >= 4, "secret planted in {planted} events");
        assert!(events.iter().any(|e| matches!(&e.kind, EventKind::SocketAdded(i) if i.token_source.as_deref().unwrap().contains(SECRET))));
        // And in a captured binary frame: a MessagePack map's `token`, and
        // a bare `Bearer` line between binary bytes.
        let mut events = events;
        let mut packed = vec![0x82, 0xa5];
        packed.extend(b"token");
        packed.push(0xa0 | SECRET.len() as u8);
        packed.extend(SECRET.bytes());
        packed.extend([0xa1, b'n', 0x07, 0x00, 0xff]);
        packed.extend(format!("Authorization: Bearer {SECRET}").bytes());
        packed.push(0x00);
        let mid = events.len() / 2;
        let mono = events[mid - 1].mono.0;
        events.insert(mid, ev(1, mono, binary_in(packed)));
        // And in an observed upgrade's headers.
        let handshake = Handshake {
            status: 101,
            request: vec![
                ("Authorization".into(), format!("Bearer {SECRET}")),
                ("Cookie".into(), format!("sid={SECRET}")),
                ("Sec-WebSocket-Protocol".into(), format!("graphql-ws, base64url.bearer.authorization.k8s.io.{SECRET}")),
                ("Referer".into(), format!("https://app.example/?access_token={SECRET}")),
                ("User-Agent".into(), "secrecy-test".into()),
            ],
            response: vec![("Set-Cookie".into(), format!("sid={SECRET}"))],
        };
        events.insert(3, ev(1, events[2].mono.0, EventKind::Handshake(Box::new(handshake))));

        let rotel = tokio::task::spawn_blocking(Rotel::start).await.unwrap();
        let telemetry = Telemetry::install(&config_for(&rotel, OtlpProtocol::HttpProtobuf, "sockscope")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.db");

        // Two lossless subscriptions, as the app has: SQLite and OTel.
        let (db_tx, db_rx) = mpsc::channel(1024);
        let (otel_tx, otel_rx) = mpsc::channel(1024);
        let (recorder, report) = Recorder::start(RecorderConfig::new(&path), db_rx).unwrap();
        let live = telemetry.spawn_live_traces(report.session, otel_rx);
        let n = events.len() as u64;
        for e in events {
            let e = Arc::new(e);
            db_tx.send(e.clone()).await.unwrap();
            otel_tx.send(e).await.unwrap();
        }
        drop(otel_tx);
        live.await.unwrap();
        let mut written = recorder.watch_written();
        written.wait_for(|w| *w == n).await.unwrap();

        // The files while the writer is open: the WAL holds the rows.
        let wal = std::fs::read(dir.path().join("rec.db-wal")).unwrap();
        assert!(!wal.is_empty());
        assert_clean("the -wal file", &wal);
        assert_clean("the database file", &std::fs::read(&path).unwrap());
        drop(db_tx);
        recorder.finish().await.unwrap();
        let db = std::fs::read(&path).unwrap();
        assert_clean("the database file", &db);
        // The payload and the token source were kept, scrubbed.
        assert!(String::from_utf8_lossy(&db).contains("[REDACTED]"));
        let reader = RecordReader::open(&path).unwrap();
        let sockets = reader.sockets(report.session.id).unwrap();
        assert_eq!(sockets[0].config.token_source.as_deref(), Some("static:[REDACTED]"));

        // What the collector received.
        let t = telemetry.clone();
        tokio::task::spawn_blocking(move || t.shutdown()).await.unwrap().unwrap();
        let rotel = after_everything(rotel, OtlpProtocol::HttpProtobuf).await;
        let received = rotel.text();
        assert!(received.contains("Name           : Closed"), "the trace arrived");
        assert!(received.contains("sockscope.finding.detail"), "finding details were exported");
        assert_clean("the OTLP payloads", received.as_bytes());

        // Every export format.
        let mut jaeger = Vec::new();
        export::write_jaeger(&reader, report.session.id, "sockscope", &mut jaeger).unwrap();
        assert_clean("the Jaeger export", &jaeger);
        let mut otlp = Vec::new();
        export::write_otlp_json(&reader, report.session.id, "sockscope", &mut otlp).unwrap();
        assert_clean("the OTLP JSON export", &otlp);
        let mut csv = Vec::new();
        export::write_transitions_csv(&reader, report.session.id, &mut csv).unwrap();
        assert_clean("the CSV export", &csv);
        let mut perfetto = Vec::new();
        export::write_perfetto(&reader, report.session.id, &mut perfetto).unwrap();
        assert_clean("the Perfetto export", &perfetto);
        // HAR carries the stored payloads.
        let mut har = Vec::new();
        export::write_har(&reader, report.session.id, &mut har).unwrap();
        assert!(String::from_utf8_lossy(&har).contains("_webSocketMessages"));
        assert_clean("the HAR export", &har);
        // And the read API's own serialisation, as the UI would get it.
        let page = reader.events(&sockscope_recorder::WindowQuery::whole_session(report.session.id, 10_000)).unwrap();
        assert_clean("the read API's JSON", serde_json::to_string(&page).unwrap().as_bytes());

        // A binary payload is stored and exported as base64: decoded, it is
        // clean too, and kept (masked, not dropped).
        let binaries: Vec<String> = page
            .events
            .iter()
            .filter_map(|e| match &e.body {
                sockscope_recorder::EventBody::Frame(f) if f.opcode == "binary" => f.payload.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(binaries.len(), 1, "the binary payload was kept");
        let har: serde_json::Value = serde_json::from_slice(&har).unwrap();
        let har_binaries: Vec<String> = har["log"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["_webSocketMessages"].as_array().unwrap().clone())
            .filter(|m| m["opcode"] == 2)
            .map(|m| m["data"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(har_binaries, binaries, "HAR carries the binary payload");
        // The upgrade's headers are there, their secret values redacted.
        let request = &har["log"]["entries"][0]["request"]["headers"];
        assert!(request.as_array().unwrap().contains(&serde_json::json!({"name": "User-Agent", "value": "secrecy-test"})), "{request}");
        assert!(request.as_array().unwrap().contains(&serde_json::json!({"name": "Authorization", "value": "[REDACTED]"})), "{request}");
        for b64 in &binaries {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            assert_clean("a binary payload, decoded", &bytes);
            assert!(bytes.starts_with(&[0x82, 0xa5, b't', b'o', b'k', b'e', b'n']), "{bytes:?}");
        }

        assert_clean("the logs", &logs.0.lock().unwrap());
    })
    .await
}
