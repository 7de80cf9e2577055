//! The HTTP endpoints: create, job state, and the plain answers of the WebSocket endpoint.

use serde_json::{Value, json};
use sockscope_protocol::{CreateJobResponse, JobKind, JobState, JobStatus};
use sockscope_sim::{AuthVia, WireEvent};
use sockscope_test_support::bounded;

use crate::{
    STEP, accepted, connect, faults, http, job, refused_status, start, state_status, try_connect,
};

#[tokio::test]
async fn create_job_answers_201_with_urls() {
    bounded(async {
        let sim = start().await;
        let response = http()
            .post(format!("{}/api/jobs", sim.http_base()))
            .json(&json!({"kind": "bookshelf_scan", "totalCount": 7}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let created: CreateJobResponse = response.json().await.unwrap();
        let addr = sim.addr();
        assert_eq!(
            created.ws_url,
            format!("ws://{addr}/ws/progress?jobId={}", created.job_id)
        );
        assert_eq!(
            created.state_url,
            format!("http://{addr}/api/job-state/{}", created.job_id)
        );
        assert_eq!(created.token.len(), 32);
        let state = sim.job_state(&created.job_id).expect("job exists");
        assert_eq!(state.kind, JobKind::BookshelfScan);
        assert_eq!(state.total_count, 7);
        assert_eq!(state.status, JobStatus::Queued);
    })
    .await;
}

#[tokio::test]
async fn create_job_takes_per_job_faults() {
    bounded(async {
        let sim = start().await;
        let response = http()
            .post(format!("{}/api/jobs", sim.http_base()))
            .json(&json!({"kind": "csv_import", "totalCount": 1, "faults": {"state_5xx": 1}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let created: CreateJobResponse = response.json().await.unwrap();
        assert_eq!(state_status(&http(), &created).await, 503);
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_message() {
    bounded(async {
        let sim = start().await;
        let client = http();
        let url = format!("{}/api/jobs", sim.http_base());
        for (body, needle) in [
            ("{not json", "invalid JSON body"),
            (
                r#"{"kind": "teleport", "totalCount": 1}"#,
                "invalid JSON body",
            ),
            (
                r#"{"kind": "csv_import", "totalCount": 1, "faults": {"warp": 1}}"#,
                "warp",
            ),
        ] {
            let response = client.post(&url).body(body).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 400, "body {body}");
            let answer: Value = response.json().await.unwrap();
            let message = answer["error"].as_str().expect("error message");
            assert!(
                message.contains(needle),
                "{message} should mention {needle}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn job_state_answers_200_with_the_state() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "");
        let response = http()
            .get(&created.state_url)
            .bearer_auth(&created.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let raw: Value = response.json().await.unwrap();
        for key in [
            "jobId",
            "kind",
            "status",
            "processedCount",
            "totalCount",
            "lastSeq",
            "updatedAt",
        ] {
            assert!(raw.get(key).is_some(), "missing {key} in {raw}");
        }
        let state: JobState = serde_json::from_value(raw).unwrap();
        assert_eq!(state.job_id, created.job_id);
        assert_eq!(state.status, JobStatus::Queued);
        assert_eq!(
            (state.processed_count, state.total_count, state.last_seq),
            (0, 3, 0)
        );
        assert!(state.updated_at.ends_with('Z'), "{}", state.updated_at);
    })
    .await;
}

#[tokio::test]
async fn job_state_checks_404_then_401_header_only() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "");
        let client = http();
        let unknown = format!("{}/api/job-state/nope", sim.http_base());
        // Unknown job: 404 even with no token at all.
        let status = client.get(&unknown).send().await.unwrap().status();
        assert_eq!(status.as_u16(), 404);
        let status = client
            .get(&created.state_url)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 401, "no token");
        let status = client
            .get(&created.state_url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 401, "wrong token");
        let status = client
            .get(format!("{}?token={}", created.state_url, created.token))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 401, "query token is not accepted here");
    })
    .await;
}

#[tokio::test]
async fn ws_answers_plain_404_before_401() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "");
        let unknown = created.ws_url.replace(&created.job_id, "nope");
        assert_eq!(refused_status(try_connect(&unknown, None).await), 404);
        assert_eq!(
            refused_status(try_connect(&unknown, Some(&created.token)).await),
            404
        );
        assert_eq!(
            refused_status(try_connect(&created.ws_url, None).await),
            401
        );
        assert_eq!(
            refused_status(try_connect(&created.ws_url, Some("wrong")).await),
            401
        );
        let rejected = sim
            .wait_for(
                |e| {
                    matches!(
                        e,
                        WireEvent::Connection {
                            status: 401,
                            auth: AuthVia::None,
                            ..
                        }
                    )
                },
                STEP,
            )
            .await
            .unwrap();
        assert_eq!(rejected.job_id(), Some(created.job_id.as_str()));
        assert_eq!(sim.connections(&created.job_id), 0);
    })
    .await;
}

#[tokio::test]
async fn ws_header_wins_over_query() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 3, "");
        let with_query = format!("{}&token={}", created.ws_url, created.token);
        // Wrong header, right query: the header decides.
        assert_eq!(
            refused_status(try_connect(&with_query, Some("wrong")).await),
            401
        );
        // Right header, wrong query: accepted, recorded as header auth.
        let wrong_query = format!("{}&token=wrong", created.ws_url);
        let _ws = try_connect(&wrong_query, Some(&created.token))
            .await
            .unwrap();
        match accepted(&sim).await {
            WireEvent::Connection { auth, .. } => assert_eq!(auth, AuthVia::Header),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn ws_accepts_query_token_and_never_logs_it() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let url = format!("{}&token={}", created.ws_url, created.token);
        let mut ws = try_connect(&url, None).await.unwrap();
        crate::ready(&mut ws, None).await;
        let (_, code) = crate::until_close(&mut ws).await;
        assert_eq!(code, Some(1000));
        assert!(matches!(
            accepted(&sim).await,
            WireEvent::Connection {
                auth: AuthVia::Query,
                ..
            }
        ));
        let log = serde_json::to_string(&sim.wire_log()).unwrap();
        assert!(
            !log.contains(&created.token),
            "token leaked into the wire log"
        );
        assert!(!format!("{created:?}").contains(&created.token));
    })
    .await;
}

#[tokio::test]
async fn http_requests_are_recorded_without_query() {
    bounded(async {
        let sim = start().await;
        let created = job(&sim, 1, "");
        let _ws = connect(&created).await;
        let http_event = sim
            .wait_for(|e| matches!(e, WireEvent::Http { status: 101, .. }), STEP)
            .await
            .unwrap();
        assert_eq!(
            http_event,
            WireEvent::Http {
                method: "GET".into(),
                path: "/ws/progress".into(),
                status: 101
            }
        );
        let status = http()
            .get(format!("{}/no/such/thing", sim.http_base()))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 404);
        sim.wait_for(
            |e| matches!(e, WireEvent::Http { path, status: 404, .. } if path == "/no/such/thing"),
            STEP,
        )
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn server_wide_faults_apply_to_later_jobs_and_yield_to_per_job_ones() {
    bounded(async {
        let sim = start().await;
        let client = http();
        let before = job(&sim, 1, "");
        let response = client
            .put(format!("{}/admin/faults", sim.http_base()))
            .json(&json!({"state_5xx": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(sim.faults(), faults("state_5xx=1"));
        let after = job(&sim, 1, "");
        let overridden = job(&sim, 1, "state_5xx=0");
        assert_eq!(state_status(&client, &before).await, 200);
        assert_eq!(state_status(&client, &after).await, 503);
        assert_eq!(state_status(&client, &after).await, 200);
        assert_eq!(state_status(&client, &overridden).await, 200);
        let bad = client
            .put(format!("{}/admin/faults", sim.http_base()))
            .json(&json!({"nonsense": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status().as_u16(), 400);
    })
    .await;
}
