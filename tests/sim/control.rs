//! The control plane: tokens, revoke, delete, close, drop, close-all.

use serde_json::{Value, json};
use sockscope_protocol::{CreateJobResponse, TokenResponse};
use sockscope_sim::{DropReason, Sim, WireEvent};
use sockscope_test_support::bounded;

use crate::{
    Got, connect, dropped, http, job, next, ready, ready_socket, refused_status, start,
    state_status, try_connect, until_ack, until_close, until_cut,
};

/// The admin endpoint `action` of `job`.
fn admin(sim: &Sim, job: &CreateJobResponse, action: &str) -> String {
    format!("{}/admin/jobs/{}/{action}", sim.http_base(), job.job_id)
}

#[tokio::test]
async fn admin_token_answers_201_with_a_working_token() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "token_ttl_ms=60000");
        let client = http();
        let response = client
            .post(admin(&sim, &created, "token"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let fresh: TokenResponse = response.json().await.unwrap();
        assert_ne!(fresh.token, created.token);
        assert_eq!(fresh.ttl_ms, Some(60_000));
        assert!(!format!("{fresh:?}").contains(&fresh.token));
        let _ws = try_connect(&created.ws_url, Some(&fresh.token))
            .await
            .unwrap();
        let unknown = client
            .post(format!("{}/admin/jobs/nope/token", sim.http_base()))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 404);
    })
    .await;
}

#[tokio::test]
async fn revoke_closes_1008_and_later_requests_get_401() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = ready_socket(&created).await;
        let client = http();
        let response = client
            .post(admin(&sim, &created, "revoke"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1008));
        assert_eq!(
            refused_status(try_connect(&created.ws_url, Some(&created.token)).await),
            401
        );
        assert_eq!(state_status(&client, &created).await, 401);
    })
    .await;
}

#[tokio::test]
async fn delete_closes_4004_and_later_requests_get_404() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = ready_socket(&created).await;
        let client = http();
        let response = client
            .delete(format!("{}/admin/jobs/{}", sim.http_base(), created.job_id))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(4004));
        assert_eq!(
            refused_status(try_connect(&created.ws_url, Some(&created.token)).await),
            404
        );
        assert_eq!(state_status(&client, &created).await, 404);
        assert!(sim.job_state(&created.job_id).is_none());
        assert_eq!(
            sim.connections(&created.job_id),
            1,
            "the count outlives the job"
        );
        assert!(sim.delete_job(&created.job_id).is_err());
    })
    .await;
}

#[tokio::test]
async fn admin_close_uses_the_given_code_and_reason() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = ready_socket(&created).await;
        let client = http();
        let url = admin(&sim, &created, "close");
        let response = client
            .post(&url)
            .json(&json!({"code": 4321, "reason": "maintenance"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        loop {
            match next(&mut ws).await {
                Got::Close(code, reason) => {
                    assert_eq!((code, reason.as_str()), (Some(4321), "maintenance"));
                    break;
                }
                Got::Msg(_) => {}
                other => panic!("{other:?}"),
            }
        }
        for (body, what) in [("{", "bad JSON"), (r#"{"code": 1006}"#, "unsendable code")] {
            let response = client.post(&url).body(body).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 400, "{what}");
            let answer: Value = response.json().await.unwrap();
            assert!(answer["error"].is_string());
        }
    })
    .await;
}

#[tokio::test]
async fn admin_drop_cuts_tcp_without_a_close_frame() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = ready_socket(&created).await;
        let response = http()
            .post(admin(&sim, &created, "drop"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        until_cut(&mut ws).await;
        dropped(&sim, DropReason::Admin).await;
        assert!(
            !sim.wire_log()
                .iter()
                .any(|e| matches!(e, WireEvent::Close { .. })),
            "no close frame either way"
        );
    })
    .await;
}

#[tokio::test]
async fn close_all_closes_every_socket_of_every_job() {
    bounded(async {
        let sim = start().await;
        let a = job(&sim, 1000, "");
        let b = job(&sim, 1000, "");
        let mut ws_a = ready_socket(&a).await;
        let mut ws_b = ready_socket(&b).await;
        let mut idle_b = connect(&b).await;
        let response = http()
            .post(format!("{}/admin/close-all", sim.http_base()))
            .json(&json!({"code": 1001, "reason": "restart"}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        for ws in [&mut ws_a, &mut ws_b, &mut idle_b] {
            let (_, code) = until_close(ws).await;
            assert_eq!(code, Some(1001));
        }
        // The jobs live on: a reconnect resumes.
        let mut again = connect(&a).await;
        ready(&mut again, Some(1)).await;
        let (_, last_seq, replayed) = until_ack(&mut again).await;
        assert_eq!(replayed, last_seq - 1);
    })
    .await;
}

#[tokio::test]
async fn library_control_calls_match_the_endpoints() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1000, "");
        let mut ws = ready_socket(&created).await;
        sim.close_job(&created.job_id, 1001, "bye").unwrap();
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1001));
        assert!(sim.close_job(&created.job_id, 1005, "").is_err());
        assert!(sim.close_job("nope", 1000, "").is_err());
        let mut ws = ready_socket(&created).await;
        sim.drop_job(&created.job_id).unwrap();
        until_cut(&mut ws).await;
        let mut ws = ready_socket(&created).await;
        sim.close_all(1012, "").unwrap();
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1012));
        let mut ws = ready_socket(&created).await;
        sim.revoke(&created.job_id).unwrap();
        let (_, code) = until_close(&mut ws).await;
        assert_eq!(code, Some(1008));
        assert_eq!(sim.connections(&created.job_id), 4);
        sim.shutdown().await;
    })
    .await;
}
