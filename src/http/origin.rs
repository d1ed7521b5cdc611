//! Which browser origins may open a connection. Browsers always send
//! `Origin` on a WebSocket upgrade, and a page from any site could otherwise
//! connect to a user's chat with the user's cookies and network position.
//! The page's own origin (the `Origin` host equal to the request's `Host`,
//! or `X-Forwarded-Host` from a trusted proxy)
//! is always allowed, so are clients that send no `Origin` (non-browsers);
//! any other origin only when configured.

use actix_web::http::header::ORIGIN;
use actix_web::HttpRequest;

use crate::http::error::HttpError;

/// The configured policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl OriginPolicy {
    /// A policy from the `--allowed-origins` list (`*` allows any).
    pub(crate) fn new(list: &[String]) -> Self {
        OriginPolicy {
            any: list.iter().any(|o| o.trim() == "*"),
            allowed: list
                .iter()
                .map(|o| normalise(o))
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// Whether a request with this `Origin` and `Host` may connect.
    pub(crate) fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        if self.any {
            return true;
        }
        let origin = normalise(origin);
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        let same_origin =
            host.is_some_and(|h| !h.is_empty() && origin_host == h.to_ascii_lowercase());
        same_origin || self.allowed.contains(&origin)
    }

    /// Whether a page on `origin`, another origin than the server's, was
    /// explicitly allowed (listed, or `*`): it then gets CORS headers.
    pub(crate) fn allows_cross_origin(&self, origin: &str) -> bool {
        self.any || self.allowed.contains(&normalise(origin))
    }

    /// Checks a request whose client asked for `host`, answering 403
    /// `origin_not_allowed` when refused.
    pub(crate) fn check(&self, req: &HttpRequest, host: Option<&str>) -> Result<(), HttpError> {
        let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
        if self.allows(origin, host) {
            Ok(())
        } else {
            Err(HttpError::OriginNotAllowed(
                origin.unwrap_or_default().to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_and_listed_origins_pass() {
        let default = OriginPolicy::new(&[]);
        assert!(default.allows(None, Some("chat.example")));
        assert!(default.allows(Some("http://localhost:3000"), Some("localhost:3000")));
        assert!(default.allows(Some("https://Chat.Example"), Some("chat.example")));
        assert!(!default.allows(Some("https://evil.example"), Some("chat.example")));
        assert!(!default.allows(Some("http://localhost:3001"), Some("localhost:3000")));
        assert!(!default.allows(Some("null"), Some("chat.example")));
        let listed = OriginPolicy::new(&["https://app.example/".into()]);
        assert!(listed.allows(Some("https://app.example"), Some("chat.example")));
        assert!(OriginPolicy::new(&["*".into()]).allows(Some("https://evil.example"), None));
    }
}
