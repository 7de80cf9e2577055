//! `sockscope replay`: an imported capture served to a client, a line per
//! connection, the exit once every attempt was served; bad input refused.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockscope_test_support::{bounded, within};
use tokio_tungstenite::tungstenite::Message;

use crate::{sockscope, spawn_with_banner};

/// A capture of one connection: the client's hello, two server frames.
const CAPTURE: &str = r#"{"log":{"version":"1.2","entries":[{
  "startedDateTime":"2027-01-15T08:00:00.000Z","time":50,
  "request":{"method":"GET","url":"ws://feed.example/live","headers":[]},
  "response":{"status":101,"headers":[]},
  "_resourceType":"websocket",
  "_webSocketMessages":[
    {"type":"send","time":1800000000.010,"opcode":1,"data":"hello"},
    {"type":"receive","time":1800000000.020,"opcode":1,"data":"first"},
    {"type":"receive","time":1800000000.040,"opcode":1,"data":"second"}]}]}}"#;

#[tokio::test]
async fn a_replay_serves_the_capture_prints_the_connection_and_exits() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("feed.har");
        std::fs::write(&file, CAPTURE).unwrap();
        let db = dir.path().join("rec.db");
        let db = db.to_str().unwrap();
        let o = sockscope(&["import", file.to_str().unwrap(), "--db", db], &[]).await;
        assert!(o.status.success(), "{o:?}");

        for (args, says) in [
            (vec!["--session", "9", "--socket", "1"], "no session 9"),
            (vec!["--session", "1", "--socket", "x"], "no socket `x`"),
            (
                vec!["--session", "1", "--socket", "1", "--speed", "0"],
                "speed 0 is not above 0",
            ),
            (
                vec!["--session", "1", "--socket", "1", "--attempt", "2"],
                "no attempt 2",
            ),
        ] {
            let mut all = vec!["replay", "--db", db];
            all.extend(args);
            let o = sockscope(&all, &[]).await;
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{all:?}: {err}");
            assert!(err.contains(says), "{all:?}: {err}");
        }

        let (child, _err, banner) = spawn_with_banner(&[
            "replay",
            "--session",
            "1",
            "--socket",
            "1",
            "--speed",
            "4",
            "--db",
            db,
        ])
        .await;
        // `sockscope replay: session 1 socket 1: … on ws://ADDR  (Ctrl-C …)`
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("{banner}"))
            .to_owned();
        assert!(banner.contains("1 attempts, 2 server frames"), "{banner}");
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            match within(Duration::from_secs(10), "a replayed frame", ws.next()).await {
                Some(Ok(Message::Text(t))) => got.push(t.to_string()),
                Some(Ok(_)) => {}
                other => panic!("{other:?} after {got:?}"),
            }
        }
        assert_eq!(got, ["first", "second"]);
        ws.close(None).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}

        let output = within(
            Duration::from_secs(20),
            "the exit",
            child.wait_with_output(),
        )
        .await
        .unwrap();
        assert!(output.status.success(), "{output:?}");
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            out.contains(
                "connection 1: attempt 1 (socket 1 attempt 1): 2/2 steps, 1 client frames, complete"
            ),
            "{out}"
        );
    })
    .await;
}
