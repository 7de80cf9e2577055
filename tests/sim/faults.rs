//! One test per fault knob, each over real sockets.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use sockscope_protocol::{JobStatus, ServerMessage};
use sockscope_sim::{DropReason, WireEvent};
use sockscope_test_support::{bounded, within};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    Got, RawWs, STEP, connect, dropped, http, job, next, next_msg, ready, ready_socket,
    refused_status, seqs, start, state_status, try_connect, until_ack, until_close, until_cut,
    until_seq,
};

#[tokio::test]
async fn accept_delay_ms_delays_only_the_first_connection() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "accept_delay_ms=400");
        let t0 = Instant::now();
        let _first = connect(&created).await;
        let first = t0.elapsed();
        let t1 = Instant::now();
        let _second = connect(&created).await;
        let second = t1.elapsed();
        assert!(first >= Duration::from_millis(400), "first took {first:?}");
        assert!(
            second < Duration::from_millis(400),
            "second took {second:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn ready_deaf_ms_drops_data_frames_but_answers_pings() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "ready_deaf_ms=300");
        let mut ws = connect(&created).await;
        ready(&mut ws, None).await;
        ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
        match next(&mut ws).await {
            Got::Pong(p) => assert_eq!(p, b"p", "no ready_ack while deaf; the pong comes first"),
            other => panic!("expected a pong frame while deaf, got {other:?}"),
        }
        sim.wait_for(
            |e| matches!(e, WireEvent::Received { kind: Some(k), deaf: true, .. } if k == "ready"),
            STEP,
        )
        .await
        .unwrap();
        // The client's rule: re-send ready when no ack comes within its ready timeout.
        let acked = within(STEP, "a ready_ack after the deaf window", async {
            loop {
                ready(&mut ws, None).await;
                if let Ok(got) =
                    tokio::time::timeout(Duration::from_millis(100), next(&mut ws)).await
                {
                    match got {
                        Got::Msg(m) if matches!(m.message, ServerMessage::ReadyAck { .. }) => {
                            return m;
                        }
                        Got::Pong(_) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        })
        .await;
        assert_eq!(
            acked.message,
            ServerMessage::ReadyAck {
                last_seq: 0,
                replayed: 0
            }
        );
        let log = sim.wire_log();
        let deaf = log
            .iter()
            .filter(|e| matches!(e, WireEvent::Received { deaf: true, .. }))
            .count();
        assert!(deaf >= 1);
        assert_eq!(
            log.iter()
                .filter(|e| matches!(e, WireEvent::Ready { .. }))
                .count(),
            1,
            "only the ready after the deaf window counts"
        );
    })
    .await;
}

#[tokio::test]
async fn drop_after_cuts_without_close_frame_on_the_first_connection_only() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 6, "drop_after=3");
        let mut first = ready_socket(&created).await;
        let got = until_cut(&mut first).await;
        assert_eq!(seqs(&got), [1, 2, 3]);
        dropped(&sim, DropReason::DropAfter).await;
        let mut second = connect(&created).await;
        ready(&mut second, Some(3)).await;
        let (replay, last_seq, _) = until_ack(&mut second).await;
        let (rest, code) = until_close(&mut second).await;
        let mut all = seqs(&replay);
        all.extend(seqs(&rest));
        assert_eq!(all, (4..=8).collect::<Vec<_>>());
        assert!(last_seq >= 3);
        assert_eq!(code, Some(1000));
    })
    .await;
}

#[tokio::test]
async fn duplicate_seq_sends_that_event_twice() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 4, "duplicate_seq=2");
        let mut ws = ready_socket(&created).await;
        let (msgs, code) = until_close(&mut ws).await;
        // job_started is seq 1, then one progress per item, then job_complete.
        assert_eq!(seqs(&msgs), [1, 2, 2, 3, 4, 5, 6]);
        assert_eq!(code, Some(1000));
    })
    .await;
}

#[tokio::test]
async fn gap_after_withholds_the_next_events_from_the_connection_only() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 6, "gap_after=2,gap_len=3");
        let mut ws = ready_socket(&created).await;
        let (msgs, code) = until_close(&mut ws).await;
        assert_eq!(seqs(&msgs), [1, 2, 6, 7, 8]);
        assert_eq!(code, Some(1000));
        // The job itself went through every seq: a resume from 2 replays them.
        let mut again = connect(&created).await;
        ready(&mut again, Some(2)).await;
        let (replay, last_seq, _) = until_ack(&mut again).await;
        assert_eq!(seqs(&replay), [3, 4, 5, 6, 7, 8]);
        assert_eq!(last_seq, 8);
    })
    .await;
}

#[tokio::test]
async fn close_after_closes_1001_after_n_events() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 10, "close_after=2");
        let mut ws = ready_socket(&created).await;
        let (msgs, code) = until_close(&mut ws).await;
        assert_eq!(seqs(&msgs), [1, 2]);
        assert_eq!(code, Some(1001));
    })
    .await;
}

#[tokio::test]
async fn close_after_counts_replayed_events() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "close_after=2,fault_connections=2");
        let mut first = ready_socket(&created).await;
        let (_, code) = until_close(&mut first).await;
        assert_eq!(code, Some(1001));
        let mut second = connect(&created).await;
        ready(&mut second, Some(0)).await;
        let mut msgs = Vec::new();
        let code = loop {
            match next(&mut second).await {
                Got::Msg(m) => msgs.push(m),
                Got::Close(code, _) => break code,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            seqs(&msgs),
            [1, 2],
            "two replayed events, then the close, no ack"
        );
        assert_eq!(code, Some(1001));
    })
    .await;
}

#[tokio::test]
async fn send_after_close_sends_data_frames_after_the_close_frame() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 10, "close_after=1,send_after_close=2");
        let mut raw = RawWs::connect(&created).await;
        raw.send_text(r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#)
            .await;
        let mut frames = Vec::new();
        while let Some(frame) = raw.read_frame().await {
            frames.push(frame);
            if frames.iter().filter(|(op, _)| *op == 0x1).count() == 4 {
                break;
            }
        }
        let ops: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
        // ready_ack, job_started, close 1001, then two text frames.
        assert_eq!(ops, [0x1, 0x1, 0x8, 0x1, 0x1], "{frames:?}");
        assert_eq!(u16::from_be_bytes([frames[2].1[0], frames[2].1[1]]), 1001);
        let extra = String::from_utf8(frames[3].1.clone()).unwrap();
        assert!(extra.contains("after_close"), "{extra}");
        let sent_after = sim
            .wire_log()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    WireEvent::Sent {
                        after_close: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(sent_after, 2);
    })
    .await;
}

#[tokio::test]
async fn state_5xx_answers_503_for_the_first_n_requests() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "state_5xx=2");
        let client = http();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(state_status(&client, &created).await);
        }
        assert_eq!(statuses, [503, 503, 200]);
        // 401 comes before the 5xx knob and does not use it up.
        let fresh = job(&sim, 1, "state_5xx=1");
        let unauth = client.get(&fresh.state_url).send().await.unwrap().status();
        assert_eq!(unauth.as_u16(), 401);
        assert_eq!(state_status(&client, &fresh).await, 503);
    })
    .await;
}

#[tokio::test]
async fn token_ttl_ms_closes_4001_and_the_old_token_then_gets_401() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 100_000, "token_ttl_ms=300,interval_ms=1000");
        let mut ws = connect(&created).await;
        ready(&mut ws, None).await;
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(4001));
        assert_eq!(
            refused_status(try_connect(&created.ws_url, Some(&created.token)).await),
            401
        );
        assert_eq!(state_status(&http(), &created).await, 401);
        // A fresh token works and carries the TTL.
        let fresh = sim.fresh_token(&created.job_id).unwrap();
        assert_eq!(fresh.ttl_ms, Some(300));
        let _ws = try_connect(&created.ws_url, Some(&fresh.token))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn history_bounds_what_a_resume_can_replay() {
    bounded(async {
        let sim = start().await;
        // Events 1..=7: started, 5 items, complete. History holds 5, 6, 7.
        let created = job(&sim, 5, "history=3");
        let mut ws = connect(&created).await;
        ready(&mut ws, None).await;
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1000));

        let mut held = connect(&created).await;
        ready(&mut held, Some(4)).await;
        let (replay, last_seq, replayed) = until_ack(&mut held).await;
        assert_eq!(seqs(&replay), [5, 6, 7]);
        assert_eq!((last_seq, replayed), (7, 3));

        let mut expired = connect(&created).await;
        ready(&mut expired, Some(3)).await;
        let (before, _, replayed) = until_ack(&mut expired).await;
        assert_eq!(before.len(), 1);
        assert!(matches!(
            before[0].message,
            ServerMessage::ResyncRequired { .. }
        ));
        assert_eq!(replayed, 0);
    })
    .await;
}

#[tokio::test]
async fn history_zero_makes_every_resume_resync() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "history=0");
        let mut first = ready_socket(&created).await;
        until_seq(&mut first, 2).await;
        let mut second = connect(&created).await;
        ready(&mut second, Some(1)).await;
        let (before, _, replayed) = until_ack(&mut second).await;
        assert_eq!(
            before.iter().map(|m| m.message.clone()).collect::<Vec<_>>(),
            [ServerMessage::ResyncRequired {
                reason: "history_expired".into()
            }]
        );
        assert_eq!(replayed, 0);
    })
    .await;
}

#[tokio::test]
async fn stall_after_ms_goes_silent_even_to_pings_until_the_client_closes_tcp() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 100_000, "stall_after_ms=150,interval_ms=20");
        let mut ws = ready_socket(&created).await;
        sim.wait_for(|e| matches!(e, WireEvent::Stalled { .. }), STEP)
            .await
            .unwrap();
        // Drain whatever left before the stall, then probe.
        ws.send(Message::Ping(b"anyone".to_vec().into()))
            .await
            .unwrap();
        let heard = tokio::time::timeout(Duration::from_millis(400), async {
            loop {
                match next(&mut ws).await {
                    Got::Pong(p) => return p,
                    Got::Msg(_) => {}
                    other => panic!("stalled connection sent {other:?}"),
                }
            }
        })
        .await;
        assert!(heard.is_err(), "a stalled connection answered a ping");
        let sent_since = {
            let log = sim.wire_log();
            let at = log
                .iter()
                .position(|e| matches!(e, WireEvent::Stalled { .. }))
                .unwrap();
            log[at..]
                .iter()
                .filter(|e| matches!(e, WireEvent::Sent { .. }))
                .count()
        };
        assert_eq!(sent_since, 0, "nothing is written after the stall");
        drop(ws);
        sim.wait_for(|e| matches!(e, WireEvent::Ended { .. }), STEP)
            .await
            .unwrap();
        // The job ran on regardless.
        assert_eq!(
            sim.job_state(&created.job_id).unwrap().status,
            JobStatus::Running
        );
    })
    .await;
}

#[tokio::test]
async fn fault_connections_sets_how_many_connections_are_hit() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "close_after=1,fault_connections=2");
        for n in 1..=2 {
            let mut ws = connect(&created).await;
            ready(&mut ws, None).await;
            let (_, code) = until_close(&mut ws).await;
            assert_eq!(code, Some(1001), "connection {n} is hit");
        }
        let mut third = ready_socket(&created).await;
        let a = next_msg(&mut third).await;
        let b = next_msg(&mut third).await;
        assert_eq!(
            b.seq,
            a.seq.map(|s| s + 1),
            "the third connection is not hit"
        );

        let all = job(&sim, 1000, "close_after=1,fault_connections=-1");
        for _ in 0..3 {
            let mut ws = connect(&all).await;
            ready(&mut ws, None).await;
            let (_, code) = until_close(&mut ws).await;
            assert_eq!(code, Some(1001));
        }
        assert_eq!(sim.connections(&all.job_id), 3);
    })
    .await;
}

#[tokio::test]
async fn fail_after_sends_job_failed_then_closes_1011() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 10, "fail_after=2,fail_retryable=true");
        let mut ws = ready_socket(&created).await;
        let (msgs, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1011));
        let kinds: Vec<&str> = msgs.iter().map(|m| m.message.kind()).collect();
        assert_eq!(
            kinds,
            ["job_started", "job_progress", "job_progress", "job_failed"]
        );
        match &msgs[3].message {
            ServerMessage::JobFailed { retryable, .. } => assert!(*retryable),
            other => panic!("{other:?}"),
        }
        let state = sim.job_state(&created.job_id).unwrap();
        assert_eq!(
            (state.status, state.processed_count),
            (JobStatus::Failed, 2)
        );

        let not_retryable = job(&sim, 10, "fail_after=0");
        let mut ws = ready_socket(&not_retryable).await;
        let (msgs, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1011));
        assert!(matches!(
            msgs.last().unwrap().message,
            ServerMessage::JobFailed {
                retryable: false,
                ..
            }
        ));
    })
    .await;
}

#[tokio::test]
async fn keepalive_ms_sends_keep_alive_with_seq_when_quiet() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "interval_ms=60000,keepalive_ms=50");
        let mut ws = ready_socket(&created).await;
        let started = next_msg(&mut ws).await;
        assert_eq!(started.seq, Some(1));
        let first = next_msg(&mut ws).await;
        let second = next_msg(&mut ws).await;
        assert_eq!(first.message, ServerMessage::KeepAlive);
        assert_eq!((first.seq, second.seq), (Some(2), Some(3)));
        assert_eq!(second.message, ServerMessage::KeepAlive);
    })
    .await;
}

#[tokio::test]
async fn interval_ms_paces_the_items() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "interval_ms=100");
        let mut ws = ready_socket(&created).await;
        let started = next_msg(&mut ws).await;
        assert!(matches!(
            started.message,
            ServerMessage::JobStarted { total_count: 3 }
        ));
        let t0 = Instant::now();
        let (msgs, code) = until_close(&mut ws).await;
        let took = t0.elapsed();
        assert_eq!(code, Some(1000));
        assert_eq!(msgs.len(), 4);
        assert!(
            took >= Duration::from_millis(280),
            "3 items at 100 ms took {took:?}"
        );
    })
    .await;
}
