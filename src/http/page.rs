//! The chat page: `templates/index.html` rendered once at start-up by askama
//! (the values it needs are fixed for the life of the server), the page's
//! JavaScript modules and CSS from `assets/`, and the client library from
//! `clients/js/` (served under `client/`), compiled into the binary so that
//! a deployment is one file.
//!
//! The library's files are served from where the npm package keeps them,
//! not copied: `clients/js/` is the one source of both. The page imports
//! it as `../client/parley-client.js`, which resolves under the version
//! like its own modules. Other sites load it too (docs/CLIENT.md), so its
//! files, and only its, may be read from any origin (`Access-Control-
//! Allow-Origin: *`): they are public code, the same for everyone, and
//! fetched without credentials.
//!
//! Assets live under `{base}/assets/{version}/{path}`, where the version is a
//! hash of them all, so they can be cached for good and never go stale. The
//! version is a path segment rather than a query string so that the modules'
//! relative imports (`import './view.js'`) resolve under it and are
//! versioned too, with no build step and under `script-src 'self'`.

use std::sync::OnceLock;

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::http::error::HttpError;
use crate::http::state::AppState;

/// The route of the assets, relative to the base path.
pub(crate) const ASSET_ROUTE: &str = "/assets/{version}/{path:.*}";

/// One of the page's files.
pub(crate) struct Asset {
    /// Its URL under the version: its path under `assets/`, or `client/`
    /// and its path under `clients/js/`.
    pub(crate) path: &'static str,
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Its content.
    pub(crate) body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// An asset from its path under `assets/`, compiled in.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../../assets/", $path)),
        }
    };
}

/// A module of the client library from its path under `clients/js/`,
/// compiled in and served under `client/`.
macro_rules! client {
    ($path:literal) => {
        Asset {
            path: concat!("client/", $path),
            content_type: JS,
            body: include_str!(concat!("../../clients/js/", $path)),
        }
    };
}

/// Where the client library's files are served, under the version.
pub(crate) const CLIENT_PREFIX: &str = "client/";

/// Every file the page loads. A module missing here is a 404 that stops
/// the whole page: a test below checks that each file under `assets/` and
/// each `.js` file under `clients/js/` is listed and that each relative
/// import names a listed file.
pub(crate) const ASSETS: &[Asset] = &[
    asset!("chat.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/address.js", JS),
    asset!("js/chat.js", JS),
    asset!("js/message-box.js", JS),
    asset!("js/commands.js", JS),
    asset!("js/day-turn.js", JS),
    asset!("js/sentence.js", JS),
    asset!("js/chat-messages.js", JS),
    asset!("js/chat-presence.js", JS),
    asset!("js/chat-lines.js", JS),
    asset!("js/format.js", JS),
    asset!("js/input.js", JS),
    asset!("js/message-parts.js", JS),
    asset!("js/older.js", JS),
    asset!("js/roster.js", JS),
    asset!("js/roster-pager.js", JS),
    asset!("js/returning.js", JS),
    asset!("js/storage.js", JS),
    asset!("js/timeline.js", JS),
    asset!("js/typing.js", JS),
    asset!("js/clock.js", JS),
    asset!("js/unread.js", JS),
    asset!("js/view.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/message-items.js", JS),
    asset!("js/list-placement.js", JS),
    asset!("js/message-list.js", JS),
    asset!("js/new-messages.js", JS),
    asset!("js/roster-panel.js", JS),
    asset!("js/nickname-screen.js", JS),
    asset!("js/room-title.js", JS),
    asset!("js/link-status.js", JS),
    asset!("js/wording.js", JS),
    asset!("js/check.js", JS),
    client!("parley-client.js"),
    client!("backoff.js"),
    client!("client-events.js"),
    client!("client-link.js"),
    client!("connection.js"),
    client!("emitter.js"),
    client!("history-requests.js"),
    client!("requests.js"),
    client!("roster-requests.js"),
    client!("endpoints.js"),
    client!("heartbeat.js"),
    client!("hub.js"),
    client!("membership.js"),
    client!("memory.js"),
    client!("outbox.js"),
    client!("protocol.js"),
    client!("session.js"),
    client!("tab-link.js"),
    client!("leadership.js"),
    client!("shared-transport.js"),
    client!("leader-watch.js"),
    client!("transport-choice.js"),
    client!("upstream.js"),
    client!("answer-routes.js"),
    client!("join-turns.js"),
    client!("transport-fallback.js"),
    client!("waiters.js"),
    client!("transport/poll-http.js"),
    client!("transport/polling.js"),
    client!("transport/websocket.js"),
];

/// How long browsers and proxies may keep an asset of the current version:
/// a year, without revalidating, since its URL changes with its content.
const CACHE_CURRENT: &str = "public, max-age=31536000, immutable";

/// An asset asked for under another version is served, but must be asked
/// again before each reuse. Such a request comes from a page rendered by a
/// server with other assets: a stale page, or, in a cluster during a rolling
/// upgrade, a page from an instance of the other version. The content sent
/// is this server's, not the one that version names, so caching it under
/// that URL for long could pin the wrong file there for a year. A redirect
/// to the current version was the other choice; it was not taken because
/// two instances of different versions behind one balancer would redirect a
/// browser back and forth between them.
const CACHE_OTHER_VERSION: &str = "no-cache";

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

/// FNV-1a over every asset's path and content (the client library's
/// included): changes whenever any asset does. Computed once.
pub(crate) fn asset_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for asset in ASSETS {
            for byte in asset.path.bytes().chain([0]).chain(asset.body.bytes()) {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    })
}

/// Renders the page for a server mounted at `base`.
pub(crate) fn render(base: &str, transports: &str) -> String {
    let page = IndexPage {
        base,
        asset_version: asset_version(),
        transports,
        version: env!("CARGO_PKG_VERSION"),
    };
    // unwrap: the template is checked at compile time and its values are
    // plain strings; rendering it cannot fail.
    page.render().unwrap()
}

/// The Content-Security-Policy of the page: nothing but its own origin.
pub(crate) const CSP: &str =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
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

/// The asset `path` names under `version`, and whether `version` is the
/// current one; `None` for a path that is not an asset. Only the exact
/// paths of the table match; one with a `..` segment is refused outright,
/// so that no later change to the lookup could walk out of `assets/`.
fn lookup(version: &str, path: &str) -> Option<(&'static Asset, bool)> {
    if path.split('/').any(|segment| segment == "..") {
        return None;
    }
    let asset = ASSETS.iter().find(|asset| asset.path == path)?;
    Some((asset, version == asset_version()))
}

/// `GET /assets/{version}/{path}` ([`ASSET_ROUTE`]): one of the page's
/// assets; cached for good when `version` is current, revalidated when it is
/// not (see [`CACHE_OTHER_VERSION`]). Any other path is the JSON 404.
pub(crate) async fn asset(request: web::Path<(String, String)>) -> Result<HttpResponse, HttpError> {
    let (version, path) = request.into_inner();
    let (asset, current) = lookup(&version, &path).ok_or(HttpError::NotFound)?;
    let cache = if current {
        CACHE_CURRENT
    } else {
        CACHE_OTHER_VERSION
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(asset.content_type)
        .insert_header(("Cache-Control", cache))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if asset.path.starts_with(CLIENT_PREFIX) {
        // A module script from another origin is fetched in CORS mode.
        response.insert_header(("Access-Control-Allow-Origin", "*"));
    }
    Ok(response.body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_assets_under_the_base_path() {
        let html = render("/chat", "websocket");
        let version = asset_version();
        assert!(
            html.contains(&format!(
                r#"<script type="module" src="/chat/assets/{version}/js/main.js">"#
            )),
            "{html}"
        );
        assert!(html.contains(&format!(r#"href="/chat/assets/{version}/chat.css""#)));
    }

    #[test]
    fn a_versioned_path_finds_its_asset_and_says_whether_the_version_is_current() {
        let version = asset_version();
        let (asset, current) = lookup(version, "client/transport/polling.js").expect("nested path");
        assert_eq!(asset.path, "client/transport/polling.js");
        assert!(asset.content_type.starts_with("text/javascript"));
        assert!(current);
        let (asset, current) = lookup("0123456789abcdef", "chat.css").expect("another version");
        assert_eq!(asset.path, "chat.css");
        assert!(!current);
        for path in [
            "",
            "nope.js",
            "main.js",
            "js/",
            "/js/main.js",
            "js/../chat.css",
            "../src/page.rs",
            "client/transport/../../js/main.js",
        ] {
            assert!(lookup(version, path).is_none(), "{path:?}");
        }
    }

    #[actix_web::test]
    async fn the_asset_route_caches_the_current_version_for_good_and_others_briefly() {
        use actix_web::{http::StatusCode, test, App};

        let app = test::init_service(App::new().route(ASSET_ROUTE, web::get().to(asset))).await;
        let get = |uri: String| test::TestRequest::get().uri(&uri).to_request();
        let header = |response: &actix_web::dev::ServiceResponse, name: &str| {
            let value = response.headers().get(name);
            value.map(|v| v.to_str().expect("ASCII").to_owned())
        };
        let version = asset_version();

        let response = test::call_service(&app, get(format!("/assets/{version}/js/main.js"))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some(CACHE_CURRENT)
        );
        assert_eq!(header(&response, "content-type").as_deref(), Some(JS));
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        // The page's own files are for the page alone...
        assert_eq!(header(&response, "access-control-allow-origin"), None);
        let body = test::read_body(response).await;
        assert!(body.starts_with(b"/*"), "{body:?}");

        // ...while the client library may be loaded by other sites' pages.
        let response = test::call_service(
            &app,
            get(format!("/assets/{version}/client/parley-client.js")),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert_eq!(header(&response, "content-type").as_deref(), Some(JS));

        let response = test::call_service(&app, get("/assets/stale/chat.css".into())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-cache")
        );
        assert_eq!(header(&response, "content-type").as_deref(), Some(CSS));

        for uri in [
            format!("/assets/{version}/nope.js"),
            format!("/assets/{version}/js/../chat.css"),
            format!("/assets/{version}/js/%2E%2E/chat.css"),
        ] {
            let response = test::call_service(&app, get(uri.clone())).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
            let body: serde_json::Value = test::read_body_json(response).await;
            assert_eq!(body["error"]["code"], "not_found", "{uri}");
        }
    }

    /// Every file under `assets/`, as its path there.
    fn files_under(dir: &std::path::Path, prefix: &str, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read assets/") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().into_string().expect("UTF-8 name");
            let path = format!("{prefix}{name}");
            if entry.file_type().expect("file type").is_dir() {
                files_under(&entry.path(), &format!("{path}/"), found);
            } else {
                found.push(path);
            }
        }
    }

    /// `import` targets relative to `from` (a path under `assets/`), resolved.
    fn relative_imports(from: &str, source: &str) -> Vec<String> {
        let mut targets = Vec::new();
        for line in source.lines().map(str::trim_start) {
            if !(line.starts_with("import ") || line.starts_with('}')) {
                continue;
            }
            let Some(quoted) = line.split(['\'', '"']).nth(1) else {
                continue;
            };
            if !quoted.starts_with('.') {
                continue;
            }
            let mut parts: Vec<&str> = from.split('/').collect();
            parts.pop();
            for part in quoted.split('/') {
                match part {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    _ => parts.push(part),
                }
            }
            targets.push(parts.join("/"));
        }
        targets
    }

    #[test]
    fn every_file_under_assets_is_served_and_every_import_resolves() {
        let mut files = Vec::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        files_under(&root.join("assets"), "", &mut files);
        // The package's other files (package.json, README.md, the typings)
        // are for npm, not for browsers.
        let mut library = Vec::new();
        files_under(&root.join("clients/js"), CLIENT_PREFIX, &mut library);
        files.extend(library.into_iter().filter(|file| file.ends_with(".js")));
        let listed: Vec<&str> = ASSETS.iter().map(|asset| asset.path).collect();
        for file in &files {
            assert!(listed.contains(&file.as_str()), "{file} is not in ASSETS");
        }
        assert_eq!(files.len(), listed.len(), "{listed:?}");
        let mut imports = 0;
        for asset in ASSETS.iter().filter(|asset| asset.content_type == JS) {
            for target in relative_imports(asset.path, asset.body) {
                assert!(
                    listed.contains(&target.as_str()),
                    "{} imports {target}, which is not served",
                    asset.path
                );
                imports += 1;
            }
        }
        assert!(
            imports > 10,
            "only {imports} imports found: is the scan broken?"
        );
    }
}
