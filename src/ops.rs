//! Operations endpoints: `/healthz` for load balancers and process managers,
//! `/metrics` for Prometheus. Neither touches the chat state.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::server::AppState;

/// `GET /healthz`: 200 while the server serves.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "status": "ok" }))
}

/// `GET /metrics`: every metric in the Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(state.metrics.render())
}
