//! REST, control plane and the WebSocket upgrade, on one port.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::serve::ListenerExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sockscope_protocol::CreateJobRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::conn::{self, Accepted};
use crate::faults::Faults;
use crate::wire::{AuthVia, WireEvent};
use crate::{Shared, SimError};

type SharedState = State<Arc<Shared>>;

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let router = Router::new()
        .route("/api/jobs", post(create_job))
        .route("/api/job-state/{job_id}", get(job_state))
        .route("/ws/progress", get(ws_progress))
        .route("/admin/jobs/{job_id}/token", post(fresh_token))
        .route("/admin/jobs/{job_id}/revoke", post(revoke))
        .route("/admin/jobs/{job_id}", delete(delete_job))
        .route("/admin/jobs/{job_id}/close", post(close_job))
        .route("/admin/jobs/{job_id}/drop", post(drop_job))
        .route("/admin/faults", put(set_faults).get(get_faults))
        .route("/admin/close-all", post(close_all))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            record_http,
        ))
        .with_state(shared);
    // Small frames must not wait for Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "server stopped");
    }
}

async fn record_http(State(shared): SharedState, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    shared.wire.record(WireEvent::Http {
        method,
        path,
        status: response.status().as_u16(),
    });
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match &self {
            SimError::UnknownJob(_) => StatusCode::NOT_FOUND,
            SimError::BadFault { .. } | SimError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SimError::ShutDown => StatusCode::SERVICE_UNAVAILABLE,
            SimError::Bind { .. }
            | SimError::Timeout(_)
            | SimError::Io(_)
            | SimError::Reference(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, SimError> {
    serde_json::from_slice(body)
        .map_err(|e| SimError::BadRequest(format!("invalid JSON body: {e}")))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn create_job(State(shared): SharedState, body: Bytes) -> Result<Response, SimError> {
    let req: CreateJobRequest = parse_body(&body)?;
    let faults: Faults = match req.faults {
        None | Some(serde_json::Value::Null) => Faults::default(),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| SimError::BadRequest(format!("invalid faults: {e}")))?,
    };
    let created = shared.create_job(req.kind, req.total_count, faults)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn job_state(
    State(shared): SharedState,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(job) = shared.find_job(&job_id) else {
        return error(StatusCode::NOT_FOUND, "unknown job");
    };
    match job.answer_state(bearer(&headers)) {
        crate::job::StateAnswer::Unauthorized => {
            error(StatusCode::UNAUTHORIZED, "missing or invalid token")
        }
        crate::job::StateAnswer::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "simulated transient failure",
        ),
        crate::job::StateAnswer::Ok(state) => Json(state).into_response(),
    }
}

/// The upgrade by hand: 404 and 401 are plain HTTP, checked in PROTOCOL.md's
/// order, and the WebSocket side is tokio-tungstenite with our own reader.
async fn ws_progress(State(shared): SharedState, mut req: Request) -> Response {
    let query: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|Query(q)| q)
        .unwrap_or_default();
    let job_id = query.get("jobId").cloned().unwrap_or_default();
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
    // The header wins over the query parameter.
    let (auth, token) = match bearer(req.headers()) {
        Some(t) => (AuthVia::Header, Some(t.to_owned())),
        None if req.headers().contains_key(header::AUTHORIZATION) => (AuthVia::Header, None),
        None => match query.get("token") {
            Some(t) => (AuthVia::Query, Some(t.clone())),
            None => (AuthVia::None, None),
        },
    };
    let reject = |status: StatusCode, message: &str| {
        shared.wire.record(WireEvent::Connection {
            conn,
            job_id: job_id.clone(),
            auth,
            status: status.as_u16(),
        });
        error(status, message)
    };
    let Some(job) = shared.find_job(&job_id) else {
        return reject(StatusCode::NOT_FOUND, "unknown job");
    };
    let Some(token_expiry) = token.as_deref().and_then(|t| job.check_token(t)) else {
        return reject(StatusCode::UNAUTHORIZED, "missing or invalid token");
    };
    let headers = req.headers();
    let is_upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return reject(StatusCode::BAD_REQUEST, "not a WebSocket upgrade");
    };
    if !is_upgrade || !version_ok {
        return reject(StatusCode::BAD_REQUEST, "not a WebSocket upgrade");
    }
    let index = {
        let mut inner = job.lock();
        inner.accepted += 1;
        inner.accepted
    };
    if job.faults.hits_connection(index) {
        if let Some(ms) = job.faults.accept_delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    shared.wire.record(WireEvent::Connection {
        conn,
        job_id: job_id.clone(),
        auth,
        status: 101,
    });
    shared.count_connection(&job_id);
    let accepted = Accepted {
        conn,
        job,
        index,
        token_expiry,
    };
    let task_shared = Arc::clone(&shared);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => conn::run(task_shared, accepted, TokioIo::new(upgraded)).await,
            Err(e) => tracing::debug!(conn, error = %e, "upgrade failed"),
        }
    });
    let accept = derive_accept_key(key.as_bytes());
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

async fn fresh_token(
    State(shared): SharedState,
    Path(job_id): Path<String>,
) -> Result<Response, SimError> {
    let token = shared.fresh_token(&job_id)?;
    Ok((StatusCode::CREATED, Json(token)).into_response())
}

async fn revoke(
    State(shared): SharedState,
    Path(job_id): Path<String>,
) -> Result<Response, SimError> {
    shared.revoke(&job_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_job(
    State(shared): SharedState,
    Path(job_id): Path<String>,
) -> Result<Response, SimError> {
    shared.delete_job(&job_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Body of the close endpoints. `reason` defaults to empty.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    code: u16,
    #[serde(default)]
    reason: String,
}

async fn close_job(
    State(shared): SharedState,
    Path(job_id): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let close: CloseBody = parse_body(&body)?;
    shared.close_job(&job_id, close.code, &close.reason)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn drop_job(
    State(shared): SharedState,
    Path(job_id): Path<String>,
) -> Result<Response, SimError> {
    shared.drop_job(&job_id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_faults(State(shared): SharedState, body: Bytes) -> Result<Response, SimError> {
    let faults: Faults = parse_body(&body)?;
    shared.set_faults(faults.clone());
    Ok(Json(faults).into_response())
}

async fn get_faults(State(shared): SharedState) -> Response {
    Json(shared.defaults.lock().expect("faults lock").clone()).into_response()
}

async fn close_all(State(shared): SharedState, body: Bytes) -> Result<Response, SimError> {
    let close: CloseBody = parse_body(&body)?;
    shared.close_all(close.code, &close.reason)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
