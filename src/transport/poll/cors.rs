//! Cross-origin use of the long-polling endpoints, for pages on origins
//! listed in `--allowed-origins` (a chat embedded in another site). A
//! WebSocket needs no CORS, but `fetch` from another origin does: listed
//! origins get the `Access-Control-*` headers and their preflight answered;
//! any other origin's preflight is refused. Same-origin pages need none of
//! this and are untouched.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, ORIGIN, VARY};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};

use crate::http::error::{HttpError, RefusalCode};
use crate::http::state::AppState;
use crate::transport::poll::routes::SESSION_HEADER;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Middleware for the `/poll` scope.
pub(crate) async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origin = req.headers().get(ORIGIN).cloned();
    let allowed = match (&origin, req.app_data::<web::Data<AppState>>()) {
        (Some(origin), Some(state)) => origin
            .to_str()
            .is_ok_and(|o| state.origins.allows_cross_origin(o)),
        _ => false,
    };
    if req.method() == Method::OPTIONS {
        let response = match (&origin, allowed) {
            (Some(origin), true) => HttpResponse::NoContent()
                .insert_header(("Access-Control-Allow-Origin", origin.clone()))
                .insert_header(("Access-Control-Allow-Methods", "GET, POST"))
                .insert_header((
                    "Access-Control-Allow-Headers",
                    format!("{SESSION_HEADER}, Content-Type"),
                ))
                .insert_header(("Access-Control-Max-Age", PREFLIGHT_MAX_AGE))
                .insert_header((VARY, "Origin"))
                .finish(),
            (origin, _) => {
                let shown = origin
                    .as_ref()
                    .and_then(|o| o.to_str().ok())
                    .unwrap_or_default();
                HttpError::OriginNotAllowed {
                    origin: shown.to_owned(),
                    hint: format!(
                        "{shown} is not in --allowed-origins, so its pages may not poll here"
                    ),
                }
                .error_response()
            }
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    // An origin's own refusal is readable by it, so that a page embedded
    // where it may not poll can show why (the hint names the fix) instead
    // of a bare network error. Only the refusal: nothing else of the chat
    // reaches an origin that is not listed.
    let refused_origin = response.status() == actix_web::http::StatusCode::FORBIDDEN
        && response
            .response()
            .extensions()
            .get::<RefusalCode>()
            .is_some_and(|code| code.0 == "origin_not_allowed");
    if let (Some(origin), true) = (origin, allowed || refused_origin) {
        let headers = response.headers_mut();
        headers.insert(actix_web::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            actix_web::http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
        headers.insert(VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response.map_into_left_body())
}
