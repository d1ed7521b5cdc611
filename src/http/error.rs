//! Errors answered at the HTTP edge (before any protocol frame can be sent),
//! each with a status and a stable code, rendered as
//! `{"error": {"code": "...", "message": "..."}}`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// A refusal at the HTTP level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpError {
    /// A browser page from another origin tried to open a WebSocket.
    OriginNotAllowed {
        /// The `Origin` it sent.
        origin: String,
        /// What was seen and how to fix it, for the operator.
        hint: String,
    },
    /// No such route or asset.
    NotFound,
    /// The server runs with this transport switched off.
    TransportDisabled(&'static str),
    /// No polling session has this token (never had, expired, or closed).
    UnknownSession,
    /// A request body over the frame limit.
    BodyTooLarge(usize),
    /// A request body that is not what the endpoint takes.
    BadRequest(String),
    /// This address, or the server, holds as many sessions as it may.
    TooManySessions,
    /// Polling too fast; retry after this many milliseconds.
    RateLimited(u64),
    /// This client (its subnet) opens connections too often or holds as
    /// many WebSockets as it may; retry after this many milliseconds.
    TooManyConnections(u64),
    /// The server holds as many WebSockets as it may
    /// (`--max-websockets`); retry after this many milliseconds.
    ServerFull(u64),
    /// The request body did not arrive within this many seconds.
    BodyTimeout(u64),
    /// The backplane (Redis) is unreachable, so a session opened on another
    /// instance cannot be looked up; retry shortly.
    Degraded,
}

/// The code of a refusal, left in its response's extensions so that
/// `/metrics` can count refusals by code whatever refused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusalCode(pub(crate) &'static str);

impl HttpError {
    /// Every code a refusal can carry.
    pub(crate) const CODES: [&'static str; 12] = [
        "origin_not_allowed",
        "not_found",
        "transport_disabled",
        "unknown_session",
        "body_too_large",
        "bad_frame",
        "too_many_sessions",
        "rate_limited",
        "too_many_connections",
        "server_full",
        "body_timeout",
        "degraded",
    ];

    /// The stable machine-readable code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            HttpError::OriginNotAllowed { .. } => "origin_not_allowed",
            HttpError::NotFound => "not_found",
            HttpError::TransportDisabled(_) => "transport_disabled",
            HttpError::UnknownSession => "unknown_session",
            HttpError::BodyTooLarge(_) => "body_too_large",
            HttpError::BadRequest(_) => "bad_frame",
            HttpError::TooManySessions => "too_many_sessions",
            HttpError::RateLimited(_) => "rate_limited",
            HttpError::TooManyConnections(_) => "too_many_connections",
            HttpError::ServerFull(_) => "server_full",
            HttpError::BodyTimeout(_) => "body_timeout",
            HttpError::Degraded => "degraded",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::OriginNotAllowed { origin, .. } => {
                write!(f, "origin {origin} may not open a connection here")
            }
            HttpError::NotFound => f.write_str("no such resource"),
            HttpError::TransportDisabled(name) => {
                write!(f, "the {name} transport is switched off on this server")
            }
            HttpError::UnknownSession => f.write_str("no such session; open a new one"),
            HttpError::BodyTooLarge(limit) => {
                write!(f, "request bodies are limited to {limit} bytes")
            }
            HttpError::BadRequest(why) => f.write_str(why),
            HttpError::TooManySessions => {
                f.write_str("too many polling sessions; close one or use WebSocket")
            }
            HttpError::RateLimited(ms) => write!(f, "polling too fast; retry in {ms} ms"),
            HttpError::TooManyConnections(ms) => {
                write!(
                    f,
                    "too many connections from your address; retry in {ms} ms"
                )
            }
            HttpError::ServerFull(ms) => {
                write!(
                    f,
                    "the server holds as many connections as it may; retry in {ms} ms"
                )
            }
            HttpError::BodyTimeout(secs) => {
                write!(f, "the request body did not arrive within {secs} s")
            }
            HttpError::Degraded => {
                f.write_str("the chat's store cannot be reached or written; retry shortly")
            }
        }
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
            HttpError::NotFound | HttpError::UnknownSession => StatusCode::NOT_FOUND,
            HttpError::TransportDisabled(_) => StatusCode::FORBIDDEN,
            HttpError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::TooManySessions
            | HttpError::RateLimited(_)
            | HttpError::TooManyConnections(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            HttpError::Degraded | HttpError::ServerFull(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(("Cache-Control", "no-store"));
        match self {
            HttpError::RateLimited(ms)
            | HttpError::TooManyConnections(ms)
            | HttpError::ServerFull(ms) => {
                response.insert_header(("Retry-After", ms.div_ceil(1000).to_string()));
            }
            HttpError::Degraded => {
                response.insert_header(("Retry-After", "1"));
            }
            _ => {}
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let HttpError::OriginNotAllowed { hint, .. } = self {
            error["hint"] = json!(hint);
        }
        let mut response = response.json(json!({ "error": error }));
        response.extensions_mut().insert(RefusalCode(self.code()));
        response
    }
}
