//! `sockscope record`: bad fault specs are refused with what is wrong, and
//! a recording prints a connection's findings live, then its session.

use std::time::Duration;

use futures_util::SinkExt;
use sockscope_test_support::{bounded, within};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{sockscope, spawn_with_banner};

#[tokio::test]
async fn a_bad_fault_spec_is_refused_with_what_is_wrong() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        for (spec, says) in [
            ("sideways:/type=x:drop", "direction `sideways`"),
            ("in:/type=x:explode", "unknown action `explode`"),
            ("in:/type=x:close=1006", "a close code is"),
        ] {
            let o = sockscope(
                &[
                    "record",
                    "--listen",
                    "127.0.0.1:0",
                    "--upstream",
                    "ws://127.0.0.1:9",
                    "--db",
                    db.to_str().unwrap(),
                    "--fault",
                    spec,
                ],
                &[],
            )
            .await;
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert!(err.contains(says), "{spec}: {err}");
        }
        assert!(!db.exists(), "nothing was recorded");
    })
    .await;
}

#[tokio::test]
async fn a_recording_prints_findings_live_and_ends_on_ctrl_c() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("rec.db");
        // An upstream that accepts and stays quiet.
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                        use futures_util::StreamExt;
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                });
            }
        });
        let upstream = format!("ws://{upstream_addr}");
        let (mut child, mut err, banner) = spawn_with_banner(&[
            "record",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--db",
            db.to_str().unwrap(),
        ])
        .await;
        // `sockscope record: ADDR -> UPSTREAM ...`: the port it got.
        let listen = banner
            .strip_prefix("sockscope record: ")
            .and_then(|b| b.split_whitespace().next())
            .unwrap_or_else(|| panic!("{banner}"))
            .to_owned();
        let url = format!("ws://{listen}/ws/progress?jobId=j1&token=cli-secret-9a8b7c6d");
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#.into())
            .await
            .unwrap();
        ws.send(r#"{"v":1,"type":"ping","payload":{}}"#.into())
            .await
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        within(Duration::from_secs(20), "the live finding", async {
            while let Some(line) = out.next_line().await.unwrap() {
                let done = line.contains("client_send_before_ready");
                seen.push(line);
                if done {
                    break;
                }
            }
        })
        .await;
        assert!(seen.iter().any(|l| l.contains("token_in_url")), "{seen:#?}");
        assert!(
            seen.iter().all(|l| !l.contains("cli-secret-9a8b7c6d")),
            "{seen:#?}"
        );
        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = within(Duration::from_secs(20), "the exit", child.wait())
            .await
            .unwrap();
        assert!(status.success(), "{status:?}");
        let mut rest = Vec::new();
        while let Some(line) = err.next_line().await.unwrap() {
            rest.push(line);
        }
        assert!(
            rest.iter()
                .any(|l| l.contains("recorded session") && l.contains("1 connections")),
            "{rest:#?}"
        );
    })
    .await;
}
