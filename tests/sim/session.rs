//! The message flow of a job socket: ready, replay, events, close.

use futures_util::SinkExt;
use sockscope_protocol::{ClientMessage, JobStatus, ServerMessage};
use sockscope_sim::{Opcode, Side, WireEvent};
use sockscope_test_support::bounded;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    Got, STEP, close_by, connect, job, next, next_msg, ready, ready_socket, send, seqs, start,
    until_ack, until_close, until_seq,
};

#[tokio::test]
async fn job_runs_from_ready_to_complete_then_closes_1000() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "");
        let mut ws = connect(&created).await;
        ready(&mut ws, None).await;
        let (before, last_seq, replayed) = until_ack(&mut ws).await;
        assert!(before.is_empty());
        assert_eq!((last_seq, replayed), (0, 0));
        let (msgs, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1000));
        let kinds: Vec<&str> = msgs.iter().map(|m| m.message.kind()).collect();
        assert_eq!(
            kinds,
            [
                "job_started",
                "job_progress",
                "job_progress",
                "job_progress",
                "job_complete"
            ]
        );
        assert_eq!(seqs(&msgs), [1, 2, 3, 4, 5]);
        assert!(
            msgs.iter()
                .all(|m| m.job_id.as_deref() == Some(created.job_id.as_str()))
        );
        match &msgs[2].message {
            ServerMessage::JobProgress {
                processed_count,
                total_count,
                item,
            } => {
                assert_eq!((*processed_count, *total_count), (2, 3));
                assert_eq!(item.as_deref(), Some("row-2"));
            }
            other => panic!("{other:?}"),
        }
        let state = sim.job_state(&created.job_id).unwrap();
        assert_eq!(state.status, JobStatus::Complete);
        assert_eq!((state.processed_count, state.last_seq), (3, 5));
    })
    .await;
}

#[tokio::test]
async fn no_job_event_before_ready_and_no_start_before_first_ready() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut idle = connect(&created).await;
        // A round trip proves the server has read this connection: still queued.
        send(&mut idle, ClientMessage::Ping { nonce: "a".into() }).await;
        assert!(matches!(
            next_msg(&mut idle).await.message,
            ServerMessage::Pong { .. }
        ));
        let state = sim.job_state(&created.job_id).unwrap();
        assert_eq!((state.status, state.last_seq), (JobStatus::Queued, 0));

        let mut listening = ready_socket(&created).await;
        // Wait until several events went out to the ready connection.
        until_seq(&mut listening, 3).await;
        // The idle connection got none of them: its next frame is the pong.
        send(&mut idle, ClientMessage::Ping { nonce: "b".into() }).await;
        match next_msg(&mut idle).await.message {
            ServerMessage::Pong { nonce } => assert_eq!(nonce, "b"),
            other => panic!("expected the pong first, got {other:?}"),
        }
        let idle_conn = 1;
        assert!(
            !sim.wire_log().iter().any(
                |e| matches!(e, WireEvent::Sent { conn, seq: Some(_), .. } if *conn == idle_conn)
            ),
            "a job event went to a connection before its ready"
        );
    })
    .await;
}

#[tokio::test]
async fn every_ready_connection_gets_every_event() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 4, "");
        let mut a = connect(&created).await;
        let mut b = connect(&created).await;
        ready(&mut a, None).await;
        ready(&mut b, Some(0)).await;
        let (_, _, _) = until_ack(&mut a).await;
        let (b_before, _, _) = until_ack(&mut b).await;
        let (a_msgs, a_code) = until_close(&mut a).await;
        let (b_msgs, b_code) = until_close(&mut b).await;
        let mut b_all = seqs(&b_before);
        b_all.extend(seqs(&b_msgs));
        assert_eq!(seqs(&a_msgs), (1..=6).collect::<Vec<_>>());
        assert_eq!(b_all, (1..=6).collect::<Vec<_>>());
        assert_eq!((a_code, b_code), (Some(1000), Some(1000)));
    })
    .await;
}

#[tokio::test]
async fn resume_replays_held_events_in_order_then_acks() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "interval_ms=20");
        let mut first = ready_socket(&created).await;
        until_seq(&mut first, 5).await;
        drop(first);
        let mut second = connect(&created).await;
        ready(&mut second, Some(2)).await;
        let (replay, last_seq, replayed) = until_ack(&mut second).await;
        assert!(last_seq >= 5, "lastSeq {last_seq}");
        assert_eq!(replayed, last_seq - 2);
        assert_eq!(seqs(&replay), (3..=last_seq).collect::<Vec<_>>());
        // Live events continue right after the ack.
        assert_eq!(next_msg(&mut second).await.seq, Some(last_seq + 1));
        sim.wait_for(
            |e| {
                matches!(
                    e,
                    WireEvent::Ready {
                        resume_from: Some(2),
                        ..
                    }
                )
            },
            STEP,
        )
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn resume_ahead_of_the_server_gets_resync() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = connect(&created).await;
        ready(&mut ws, Some(999_999)).await;
        let (before, _, replayed) = until_ack(&mut ws).await;
        assert_eq!(before.len(), 1);
        assert_eq!(
            before[0].message,
            ServerMessage::ResyncRequired {
                reason: "history_expired".into()
            }
        );
        assert_eq!(before[0].seq, None);
        assert_eq!(replayed, 0);
    })
    .await;
}

#[tokio::test]
async fn repeated_ready_gets_a_bare_ack() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "interval_ms=20");
        let mut ws = ready_socket(&created).await;
        until_seq(&mut ws, 3).await;
        ready(&mut ws, Some(0)).await;
        // Live events may come before the ack, but no replay (no seq <= 3 again).
        let (before, last_seq, replayed) = until_ack(&mut ws).await;
        assert_eq!(replayed, 0);
        assert!(seqs(&before).iter().all(|s| *s > 3), "replayed {before:?}");
        assert!(last_seq >= 3);
        let acks = sim
            .wire_log()
            .iter()
            .filter(|e| matches!(e, WireEvent::ReadyAck { .. }))
            .count();
        assert_eq!(acks, 2);
    })
    .await;
}

#[tokio::test]
async fn ready_for_an_ended_job_gets_replay_ack_then_terminal_close() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 2, "");
        let mut first = connect(&created).await;
        ready(&mut first, None).await;
        let (_, code) = until_close(&mut first).await;
        assert_eq!(code, Some(1000));
        let mut late = connect(&created).await;
        ready(&mut late, Some(0)).await;
        let (replay, last_seq, replayed) = until_ack(&mut late).await;
        assert_eq!(seqs(&replay), [1, 2, 3, 4]);
        assert_eq!((last_seq, replayed), (4, 4));
        assert!(matches!(
            replay[3].message,
            ServerMessage::JobComplete { .. }
        ));
        match next(&mut late).await {
            Got::Close(code, _) => assert_eq!(code, Some(1000)),
            other => panic!("expected the terminal close, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn app_ping_gets_pong_and_ws_ping_gets_pong_frame() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let mut ws = connect(&created).await;
        send(
            &mut ws,
            ClientMessage::Ping {
                nonce: "n-42".into(),
            },
        )
        .await;
        let pong = next_msg(&mut ws).await;
        assert_eq!(
            pong.message,
            ServerMessage::Pong {
                nonce: "n-42".into()
            }
        );
        assert_eq!(pong.seq, None);
        ws.send(Message::Ping(b"hb-7".to_vec().into()))
            .await
            .unwrap();
        match next(&mut ws).await {
            Got::Pong(payload) => assert_eq!(payload, b"hb-7"),
            other => panic!("expected a pong frame, got {other:?}"),
        }
        sim.wait_for(
            |e| {
                matches!(
                    e,
                    WireEvent::Sent {
                        opcode: Opcode::Pong,
                        ..
                    }
                )
            },
            STEP,
        )
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn cancel_makes_the_job_canceled_and_closes_1000() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = connect(&created).await;
        let mut other = connect(&created).await;
        ready(&mut ws, None).await;
        ready(&mut other, None).await;
        until_ack(&mut ws).await;
        until_ack(&mut other).await;
        send(&mut ws, ClientMessage::Cancel).await;
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1000));
        let (_, other_code) = until_close(&mut other).await;
        assert_eq!(other_code, Some(1000));
        let state = sim.job_state(&created.job_id).unwrap();
        assert_eq!(state.status, JobStatus::Canceled);
        assert!(state.processed_count < 1000);
    })
    .await;
}

#[tokio::test]
async fn bad_json_is_recorded_and_the_connection_kept() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let mut ws = connect(&created).await;
        ws.send(Message::text("this is not json")).await.unwrap();
        ws.send(Message::text(r#"{"type": "ready"}"#))
            .await
            .unwrap();
        send(
            &mut ws,
            ClientMessage::Ping {
                nonce: "still-here".into(),
            },
        )
        .await;
        assert_eq!(
            next_msg(&mut ws).await.message,
            ServerMessage::Pong {
                nonce: "still-here".into()
            }
        );
        let classes: Vec<String> = sim
            .wire_log()
            .into_iter()
            .filter_map(|e| match e {
                WireEvent::ProtocolError { class, .. } => Some(class),
                _ => None,
            })
            .collect();
        assert_eq!(classes, ["invalid_json", "missing_field"]);
    })
    .await;
}

#[tokio::test]
async fn unknown_client_types_are_recorded_and_ignored() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let mut ws = connect(&created).await;
        ws.send(Message::text(r#"{"v":1,"type":"teleport","payload":{}}"#))
            .await
            .unwrap();
        send(&mut ws, ClientMessage::Ping { nonce: "x".into() }).await;
        assert_eq!(
            next_msg(&mut ws).await.message,
            ServerMessage::Pong { nonce: "x".into() }
        );
        let received = sim
            .wait_for(
                |e| matches!(e, WireEvent::Received { kind: Some(k), .. } if k == "teleport"),
                STEP,
            )
            .await
            .unwrap();
        assert!(matches!(
            received,
            WireEvent::Received {
                after_close: false,
                ..
            }
        ));
        assert_eq!(
            sim.job_state(&created.job_id).unwrap().status,
            JobStatus::Queued
        );
    })
    .await;
}

#[tokio::test]
async fn client_close_is_answered_and_recorded() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let mut ws = connect(&created).await;
        ws.close(None).await.unwrap();
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1000), "server echoes a normal close");
        let client_close = close_by(&sim, Side::Client).await;
        assert!(matches!(
            client_close,
            WireEvent::Close { reply: false, .. }
        ));
        let server_close = close_by(&sim, Side::Server).await;
        assert!(matches!(
            server_close,
            WireEvent::Close {
                reply: true,
                code: Some(1000),
                ..
            }
        ));
        sim.wait_for(|e| matches!(e, WireEvent::Ended { .. }), STEP)
            .await
            .unwrap();
    })
    .await;
}
