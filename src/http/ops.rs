//! Operations endpoints: `/healthz` for process managers (the process
//! serves), `/readyz` for load balancers (503 while the backplane, Redis
//! or the data directory, cannot be reached or written), `/metrics` for Prometheus. None
//! touches the chat state.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::state::AppState;

/// `GET /healthz`: 200 while the server serves.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 while the instance can keep messages, 503 while its
/// backplane (Redis, or the embedded store's disk) cannot be reached or
/// written, so a load balancer sends new users to instances that can.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.degraded.load(Ordering::SeqCst) {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Retry-After", "1"))
            .json(json!({
                "status": "degraded",
                "reason": "the store (Redis, or the data directory) cannot be reached or written"
            }))
    } else {
        HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({ "status": "ready" }))
    }
}

/// `GET /metrics`: every metric in the Prometheus text format.
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body({
            let queued = i64::try_from(state.queued.queued()).unwrap_or(i64::MAX);
            state.metrics.queued_bytes.set(queued);
            state.metrics.render()
        })
}
