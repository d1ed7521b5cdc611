//! The transport check: `{base}/check`, a page that runs in the user's own
//! browser, through the user's own proxy, the checks that tell why Parley
//! cannot connect (`assets/js/check.js` runs them), and the two endpoints it
//! asks: `{base}/check/seen`, what the server saw of the page's request
//! (the headers a proxy sets or drops, and the origin check's verdict), and
//! `{base}/check/wait`, an answer held as long as a long-poll's, to find a
//! proxy's idle timeout. It touches no chat state; the polling and
//! WebSocket checks use the real endpoints.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::ORIGIN;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::http::client_addr::client_addr;
use crate::http::page::{asset_version, CSP};
use crate::http::state::AppState;

/// What the check page's template is given.
#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage<'a> {
    /// Path prefix the server is mounted under ("" at the root).
    base: &'a str,
    /// Hash of the assets.
    asset_version: &'a str,
    /// Enabled transports, comma-separated.
    transports: &'a str,
    /// The server's version.
    version: &'a str,
}

/// Renders the check page for a server mounted at `base`.
pub(crate) fn render(base: &str, transports: &str) -> String {
    let page = CheckPage {
        base,
        asset_version: asset_version(),
        transports,
        version: env!("CARGO_PKG_VERSION"),
    };
    // unwrap: checked at compile time, plain strings; cannot fail.
    page.render().unwrap()
}

/// `GET /check`: the check page.
pub(crate) async fn page(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(state.check_page.clone())
}

/// `POST /check/seen`: what the server saw of this request.
pub(crate) async fn seen(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let client = client_addr(&req, &state.trusted_proxies);
    let verdict = state.origins.check(&req, client.host.as_deref());
    let hint = match &verdict {
        Err(crate::http::error::HttpError::OriginNotAllowed { hint, .. }) => Some(hint.clone()),
        _ => None,
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "origin": header(ORIGIN.as_str()),
            "host": header("host"),
            "x_forwarded_host": header("x-forwarded-host"),
            "x_forwarded_proto": header("x-forwarded-proto"),
            "x_forwarded_for": header("x-forwarded-for"),
            "forwarded": header("forwarded"),
            "peer": req.peer_addr().map(|a| a.ip().to_canonical().to_string()),
            "client": client.ip.to_string(),
            "origin_allowed": verdict.is_ok(),
            "hint": hint,
            "base_path": state.base_path,
            "public_url": state.public_url,
            "server_time_ms": now_ms,
            "poll_wait_secs": state.limits.poll_wait.as_secs(),
            "transports": state.transports.names(),
        }))
}

/// The query of `GET /check/wait`.
#[derive(Deserialize)]
pub(crate) struct Wait {
    /// Seconds to hold the answer; at most the long-poll wait plus 5.
    secs: Option<u64>,
}

/// `GET /check/wait?secs=N`: answers after N seconds (the long-poll wait
/// by default), as a long-poll with nothing to say does.
pub(crate) async fn wait(query: web::Query<Wait>, state: web::Data<AppState>) -> HttpResponse {
    let longest = state.limits.poll_wait.as_secs() + 5;
    let secs = query
        .secs
        .unwrap_or(state.limits.poll_wait.as_secs())
        .min(longest);
    actix_web::rt::time::sleep(Duration::from_secs(secs)).await;
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .json(json!({ "waited_secs": secs }))
}
