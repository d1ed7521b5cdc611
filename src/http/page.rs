//! The chat page: `templates/index.html` rendered once at start-up by askama
//! (the values it needs are fixed for the life of the server), and the
//! page's JavaScript and CSS from `assets/`, compiled into the binary so that
//! a deployment is one file. Assets are addressed with a content hash in the
//! query string, so they can be cached for long and never go stale.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::http::error::HttpError;
use crate::http::state::AppState;

/// The page's assets: name, content type, content.
const ASSETS: [(&str, &str, &str); 2] = [
    (
        "chat.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/chat.js"),
    ),
    (
        "chat.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/chat.css"),
    ),
];

/// What the page template is given.
#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    /// Path prefix the server is mounted under ("" at the root).
    base: &'a str,
    /// Hash of the assets, to bust caches when they change.
    asset_version: &'a str,
    /// Enabled transports, comma-separated, in order of preference.
    transports: &'a str,
    /// The server's version.
    version: &'a str,
}

/// FNV-1a over every asset: changes whenever any asset does.
fn asset_version() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (_, _, body) in ASSETS {
        for byte in body.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Renders the page for a server mounted at `base`.
pub(crate) fn render(base: &str, transports: &str) -> String {
    let page = IndexPage {
        base,
        asset_version: &asset_version(),
        transports,
        version: env!("CARGO_PKG_VERSION"),
    };
    // unwrap: the template is checked at compile time and its values are
    // plain strings; rendering it cannot fail.
    page.render().unwrap()
}

/// The Content-Security-Policy of the page: nothing but its own origin.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'self'";

/// `GET /`: the chat page.
pub(crate) async fn index(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(state.page.clone())
}

/// `GET /assets/{name}`: one of the page's assets.
pub(crate) async fn asset(name: web::Path<String>) -> Result<HttpResponse, HttpError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name.as_str())
        .ok_or(HttpError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(*body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_assets_under_the_base_path() {
        let html = render("/chat", "websocket");
        let version = asset_version();
        assert!(
            html.contains(&format!("/chat/assets/chat.js?v={version}")),
            "{html}"
        );
        assert!(html.contains(&format!("/chat/assets/chat.css?v={version}")));
    }
}
