//! Which browser origins may open a connection. Browsers always send
//! `Origin` on a WebSocket upgrade, and a page from any site could otherwise
//! connect to a user's chat with the user's cookies and network position.
//! The page's own origin is always allowed: the `Origin` equal to
//! `--public-url`'s origin, or naming the host the request was sent to
//! (`Host`, or a proxy's `X-Forwarded-Host` or `Forwarded: host=`; see
//! docs/DECISIONS.md, "First contact", for why those are safe to believe
//! here). So are clients that send no `Origin` (non-browsers); any other
//! origin only when configured. A refusal carries a hint naming what was
//! seen and the two fixes, and is logged once a minute per (origin, host).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::header::ORIGIN;
use actix_web::HttpRequest;

use crate::config::PublicUrl;
use crate::http::error::HttpError;

/// How often one (origin, host) refusal is logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Distinct refusals remembered for [`WARN_EVERY`]; past it, the oldest
/// are forgotten, so a flood of made-up origins cannot grow the map.
const WARNED_MAX: usize = 256;

/// The configured policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    any: bool,
    allowed: Vec<String>,
    /// `--public-url`'s origin.
    public: Option<String>,
    /// The base path, for the check page the hint points to.
    base: String,
    warned: Arc<Mutex<HashMap<(String, String), Instant>>>,
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The `host[:port]` of a normalised origin, without the scheme's default
/// port, and its scheme.
fn authority(origin: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = origin.split_once("://")?;
    let default = if scheme == "https" { ":443" } else { ":80" };
    Some((scheme, rest.strip_suffix(default).unwrap_or(rest)))
}

/// The hosts a request was sent to, as far as it says: `Host` (or what a
/// trusted proxy forwarded), then any `X-Forwarded-Host` and `Forwarded:
/// host=` (their first entries: the client's side).
fn hosts_named(req: &HttpRequest, host: Option<&str>) -> Vec<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut hosts: Vec<String> = host.into_iter().map(str::to_owned).collect();
    if let Some(forwarded) = header("x-forwarded-host") {
        hosts.extend(forwarded.split(',').next().map(|h| h.trim().to_owned()));
    }
    if let Some(forwarded) = header("forwarded") {
        let first = forwarded.split(',').next().unwrap_or_default();
        let named = first.split(';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("host")
                .then(|| value.trim().trim_matches('"').to_owned())
        });
        hosts.extend(named);
    }
    hosts.retain(|h| !h.is_empty());
    hosts
}

impl OriginPolicy {
    /// A policy from the `--allowed-origins` list (`*` allows any) and the
    /// `--public-url`, if any, for a server under `base`.
    pub(crate) fn new(list: &[String], public: Option<&PublicUrl>, base: &str) -> Self {
        OriginPolicy {
            any: list.iter().any(|o| o.trim() == "*"),
            allowed: list
                .iter()
                .map(|o| normalise(o))
                .filter(|o| !o.is_empty())
                .collect(),
            public: public.map(|p| p.origin.clone()),
            base: base.to_owned(),
            warned: Arc::default(),
        }
    }

    /// Whether a request with this `Origin`, sent to these hosts, may
    /// connect.
    pub(crate) fn allows(&self, origin: Option<&str>, hosts: &[String]) -> bool {
        let Some(origin) = origin else { return true };
        if self.any {
            return true;
        }
        let origin = normalise(origin);
        if self.public.as_ref() == Some(&origin) || self.allowed.contains(&origin) {
            return true;
        }
        let Some((scheme, own)) = authority(&origin) else {
            return false;
        };
        let default = if scheme == "https" { ":443" } else { ":80" };
        hosts.iter().any(|host| {
            let host = host.to_ascii_lowercase();
            host.strip_suffix(default).unwrap_or(&host) == own
        })
    }

    /// Whether a page on `origin`, another origin than the server's, was
    /// explicitly allowed (listed, or `*`): it then gets CORS headers.
    pub(crate) fn allows_cross_origin(&self, origin: &str) -> bool {
        self.any || self.allowed.contains(&normalise(origin))
    }

    /// Checks a request whose client asked for `host`, answering 403
    /// `origin_not_allowed` with a hint when refused.
    pub(crate) fn check(&self, req: &HttpRequest, host: Option<&str>) -> Result<(), HttpError> {
        let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
        let hosts = hosts_named(req, host);
        if self.allows(origin, &hosts) {
            return Ok(());
        }
        let origin = origin.unwrap_or_default();
        let seen = hosts.first().map_or("(none)", String::as_str);
        let hint = hint(origin, seen, &self.base);
        if self.first_in_a_while(origin, seen) {
            log::warn!("refused a connection: {hint}");
        }
        Err(HttpError::OriginNotAllowed {
            origin: origin.to_owned(),
            hint,
        })
    }

    /// Whether this (origin, host) was not logged in the last minute.
    fn first_in_a_while(&self, origin: &str, host: &str) -> bool {
        let now = Instant::now();
        let mut warned = self
            .warned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        warned.retain(|_, at| now.duration_since(*at) < WARN_EVERY);
        let key = (origin.to_owned(), host.to_owned());
        if warned.contains_key(&key) || warned.len() >= WARNED_MAX {
            return false;
        }
        warned.insert(key, now);
        true
    }
}

/// What a refused origin is told, and the log says.
fn hint(origin: &str, host: &str, base: &str) -> String {
    let origin = normalise(origin);
    format!(
        "the page's origin is {origin} but the request reached Parley for host {host}. \
         If users open Parley at {origin}, a proxy in front of it changed Host: either start \
         Parley with --public-url {origin}/ (or --allowed-origins {origin}), or make the proxy \
         pass the original Host (nginx: proxy_set_header Host $http_host; Apache: \
         ProxyPreserveHost On; IIS ARR: preserveHostHeader true). If {origin} is another site, \
         list it in --allowed-origins to let its pages connect. To test the whole set-up from a \
         browser, open {base}/check at the address users use."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|h| (*h).to_owned()).collect()
    }

    #[test]
    fn same_origin_and_listed_origins_pass() {
        let default = OriginPolicy::new(&[], None, "");
        let chat = hosts(&["chat.example"]);
        assert!(default.allows(None, &chat));
        assert!(default.allows(Some("http://localhost:3000"), &hosts(&["localhost:3000"])));
        assert!(default.allows(Some("https://Chat.Example"), &chat));
        assert!(default.allows(Some("https://chat.example"), &hosts(&["chat.example:443"])));
        assert!(!default.allows(Some("https://evil.example"), &chat));
        assert!(!default.allows(Some("http://localhost:3001"), &hosts(&["localhost:3000"])));
        assert!(!default.allows(Some("null"), &chat));
        assert!(!default.allows(Some("https://chat.example"), &[]));
        let listed = OriginPolicy::new(&["https://app.example/".into()], None, "");
        assert!(listed.allows(Some("https://app.example"), &chat));
        assert!(
            OriginPolicy::new(&["*".into()], None, "").allows(Some("https://evil.example"), &[])
        );
    }

    #[test]
    fn the_public_url_or_a_forwarded_host_makes_a_rewritten_host_harmless() {
        let public = PublicUrl::parse("http://127.0.0.1:8080/chat/").unwrap();
        let policy = OriginPolicy::new(&[], Some(&public), "");
        let upstream = hosts(&["127.0.0.1:3000"]);
        assert!(policy.allows(Some("http://127.0.0.1:8080"), &upstream));
        assert!(!policy.allows(Some("http://127.0.0.1:8081"), &upstream));
        let default = OriginPolicy::new(&[], None, "");
        assert!(!default.allows(Some("http://127.0.0.1:8080"), &upstream));
        let forwarded = hosts(&["127.0.0.1:3000", "127.0.0.1:8080"]);
        assert!(default.allows(Some("http://127.0.0.1:8080"), &forwarded));
    }

    #[test]
    fn forwarded_hosts_are_read_from_both_headers() {
        let req = actix_web::test::TestRequest::default()
            .insert_header(("X-Forwarded-Host", "a.example, proxy.internal"))
            .insert_header((
                "Forwarded",
                "for=1.2.3.4;Host=\"b.example:8443\";proto=https, for=5.6.7.8",
            ))
            .to_http_request();
        assert_eq!(
            hosts_named(&req, Some("upstream:3000")),
            ["upstream:3000", "a.example", "b.example:8443"]
        );
    }

    #[test]
    fn a_refusal_names_what_was_seen_and_both_fixes_and_is_logged_once_a_minute() {
        let policy = OriginPolicy::new(&[], None, "");
        let req = actix_web::test::TestRequest::default()
            .insert_header(("Origin", "http://127.0.0.1:8080"))
            .to_http_request();
        let Err(HttpError::OriginNotAllowed { origin, hint }) =
            policy.check(&req, Some("127.0.0.1:3000"))
        else {
            panic!("refused");
        };
        assert_eq!(origin, "http://127.0.0.1:8080");
        for part in [
            "127.0.0.1:3000",
            "--public-url http://127.0.0.1:8080/",
            "proxy_set_header Host $http_host",
        ] {
            assert!(hint.contains(part), "{hint}");
        }
        assert!(!policy.first_in_a_while("http://127.0.0.1:8080", "127.0.0.1:3000"));
        assert!(policy.first_in_a_while("http://127.0.0.1:8080", "other:3000"));
    }
}
