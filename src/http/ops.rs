//! Operations endpoints: `/healthz` for process managers (the process
//! serves), `/readyz` for load balancers (it serves as part of the cluster:
//! 503 while the backplane is unreachable), `/metrics` for Prometheus. None
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

/// `GET /readyz`: 200 while the instance is one with the cluster, 503 while
/// its backplane (Redis) is unreachable, so a load balancer sends new users
/// to instances that are.
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.degraded.load(Ordering::SeqCst) {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Retry-After", "1"))
            .json(json!({
                "status": "degraded",
                "reason": "the backplane (Redis) is unreachable"
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
