//! Errors answered at the HTTP edge (before any protocol frame can be sent),
//! each with a status and a stable code, rendered as
//! `{"error": {"code": "...", "message": "..."}}`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// A refusal at the HTTP level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// A browser page from another origin tried to open a WebSocket.
    OriginNotAllowed(String),
    /// No such route or asset.
    NotFound,
}

impl HttpError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::OriginNotAllowed(_) => "origin_not_allowed",
            HttpError::NotFound => "not_found",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::OriginNotAllowed(origin) => {
                write!(f, "origin {origin} may not open a connection here")
            }
            HttpError::NotFound => f.write_str("no such resource"),
        }
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(json!({ "error": { "code": self.code(), "message": self.to_string() } }))
    }
}
