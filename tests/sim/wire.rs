//! The wire log: after-close frames, subscriptions, waits.

use std::time::Duration;

use sockscope_sim::{Opcode, Side, SimError, WireEvent};
use sockscope_test_support::bounded;

use crate::{RawWs, STEP, accepted, close_by, connect, job, ready, ready_socket, start};

#[tokio::test]
async fn a_data_frame_after_the_clients_close_is_recorded_after_close() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let mut raw = RawWs::connect(&created).await;
        raw.send_text(r#"{"v":1,"type":"ping","payload":{"nonce":"before"}}"#)
            .await;
        raw.send_close(1000).await;
        raw.send_text(r#"{"v":1,"type":"ping","payload":{"nonce":"after"}}"#)
            .await;
        // The server answers the ping, echoes the close, then ends TCP.
        let mut ops = Vec::new();
        while let Some((op, _)) = raw.read_frame().await {
            ops.push(op);
        }
        assert_eq!(ops, [0x1, 0x8]);
        sim.wait_for(|e| matches!(e, WireEvent::Ended { .. }), STEP)
            .await
            .unwrap();
        let received: Vec<(Opcode, bool)> = sim
            .wire_log()
            .into_iter()
            .filter_map(|e| match e {
                WireEvent::Received {
                    opcode,
                    after_close,
                    ..
                } => Some((opcode, after_close)),
                _ => None,
            })
            .collect();
        assert_eq!(received, [(Opcode::Text, false), (Opcode::Text, true)]);
        let pongs = sim
            .wire_log()
            .iter()
            .filter(|e| matches!(e, WireEvent::Sent { kind: Some(k), .. } if k == "pong"))
            .count();
        assert_eq!(pongs, 1, "the after-close ping is not answered");
    })
    .await;
}

#[tokio::test]
async fn a_data_frame_after_the_servers_close_is_recorded_after_close() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut raw = RawWs::connect(&created).await;
        accepted(&sim).await;
        // Registration happens right after the 101; a ping round trip proves it.
        raw.send_text(r#"{"v":1,"type":"ping","payload":{"nonce":"x"}}"#)
            .await;
        assert_eq!(raw.read_frame().await.map(|f| f.0), Some(0x1));
        sim.close_job(&created.job_id, 1001, "").unwrap();
        let (op, payload) = raw.read_frame().await.unwrap();
        assert_eq!((op, &payload[..2]), (0x8, &1001u16.to_be_bytes()[..]));
        // A careless client writes before answering the close.
        raw.send_text(r#"{"v":1,"type":"cancel","payload":{}}"#)
            .await;
        raw.send_close(1001).await;
        let late = sim
            .wait_for(
                |e| matches!(e, WireEvent::Received { kind: Some(k), .. } if k == "cancel"),
                STEP,
            )
            .await
            .unwrap();
        assert!(matches!(
            late,
            WireEvent::Received {
                after_close: true,
                ..
            }
        ));
        let reply = close_by(&sim, Side::Client).await;
        assert!(matches!(
            reply,
            WireEvent::Close {
                reply: true,
                code: Some(1001),
                ..
            }
        ));
        assert_eq!(
            sim.job_state(&created.job_id).unwrap().status,
            sockscope_protocol::JobStatus::Queued,
            "an after-close cancel is not acted on"
        );
    })
    .await;
}

#[tokio::test]
async fn subscribe_wire_sees_live_events_in_order() {
    bounded(async {
        let sim = start().await;
        let mut live = sim.subscribe_wire();
        let created = job(&sim, 2, "");
        let _ws = ready_socket(&created).await;
        let mut kinds = Vec::new();
        while kinds.len() < 3 {
            let event = tokio::time::timeout(STEP, live.recv())
                .await
                .unwrap()
                .unwrap();
            match event {
                WireEvent::Connection { .. } => kinds.push("connection"),
                WireEvent::Ready { .. } => kinds.push("ready"),
                WireEvent::ReadyAck { .. } => kinds.push("ready_ack"),
                _ => {}
            }
        }
        assert_eq!(kinds, ["connection", "ready", "ready_ack"]);
    })
    .await;
}

#[tokio::test]
async fn wait_for_times_out_with_a_typed_error() {
    bounded(async {
        let sim = start().await;
        let err = sim
            .wait_for(
                |e| matches!(e, WireEvent::Stalled { .. }),
                Duration::from_millis(50),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, SimError::Timeout(d) if d == Duration::from_millis(50)));
    })
    .await;
}

#[tokio::test]
async fn sent_events_carry_type_and_seq() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let mut ws = connect(&created).await;
        ready(&mut ws, None).await;
        crate::until_close(&mut ws).await;
        let sent: Vec<(Option<String>, Option<u64>)> = sim
            .wire_log()
            .into_iter()
            .filter_map(|e| match e {
                WireEvent::Sent {
                    opcode: Opcode::Text,
                    kind,
                    seq,
                    ..
                } => Some((kind, seq)),
                _ => None,
            })
            .collect();
        let expect = [
            (Some("ready_ack".to_string()), None),
            (Some("job_started".to_string()), Some(1)),
            (Some("job_progress".to_string()), Some(2)),
            (Some("job_complete".to_string()), Some(3)),
        ];
        assert_eq!(sent, expect);
        let close = close_by(&sim, Side::Server).await;
        assert!(matches!(
            close,
            WireEvent::Close {
                code: Some(1000),
                reply: false,
                ..
            }
        ));
    })
    .await;
}

#[tokio::test]
async fn the_wire_log_keeps_its_capacity_newest_first_out_last() {
    bounded(async {
        let sim = sockscope_sim::Sim::start(sockscope_sim::SimConfig {
            wire_log_capacity: 3,
            ..Default::default()
        })
        .await
        .unwrap();
        let http = crate::http();
        for n in 0..5 {
            let url = format!("{}/api/job-state/nope-{n}", sim.http_base());
            let status = http.get(url).send().await.unwrap().status();
            assert_eq!(status.as_u16(), 404);
        }
        sim.wait_for(
            |e| matches!(e, WireEvent::Http { path, .. } if path.ends_with("nope-4")),
            STEP,
        )
        .await
        .unwrap();
        let paths: Vec<String> = sim
            .wire_log()
            .into_iter()
            .filter_map(|e| match e {
                WireEvent::Http { path, .. } => Some(path),
                _ => None,
            })
            .collect();
        assert_eq!(
            paths,
            [
                "/api/job-state/nope-2",
                "/api/job-state/nope-3",
                "/api/job-state/nope-4"
            ]
        );
    })
    .await;
}
