//! Fuzz entry points for the request headers Parley reads itself: `Host`,
//! `Origin`, `X-Forwarded-For`, `X-Forwarded-Host` and `Forwarded` (who
//! the client is, and whether its page may connect), and the subnet key
//! every per-client limit is kept by. Each panics when an invariant breaks.

use std::net::IpAddr;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::test::TestRequest;
use actix_web::HttpRequest;

use crate::config::PublicUrl;
use crate::core::client_key::SubnetBits;
use crate::http::client_addr::{client_addr, client_key, forwarded_ip, ClientAddr};
use crate::http::origin::{hosts_named, OriginPolicy};

/// The headers the fuzzer fills, in the order of its lines.
const HEADERS: [&str; 5] = [
    "host",
    "origin",
    "x-forwarded-for",
    "x-forwarded-host",
    "forwarded",
];

/// Peers a request may come from; the first is the trusted proxy.
const PEERS: [&str; 3] = ["127.0.0.1", "::1", "203.0.113.9"];

/// Header values, one per line after a first byte that picks the peer and
/// the subnet sizes; a sixth line is the `--allowed-origins` list. The
/// address is the peer's unless the peer is a trusted proxy, and then one
/// named in `X-Forwarded-For`; the origin policy lets through what it
/// lists, the public URL's origin, and a request without `Origin`.
pub fn headers(data: &[u8]) {
    let [pick, rest @ ..] = data else {
        return;
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let peer: IpAddr = PEERS[usize::from(pick % 3)]
        .parse()
        .expect("a literal address");
    let mut test = TestRequest::default().peer_addr((peer, 40000).into());
    for name in HEADERS {
        let Some(value) = lines.next() else { break };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            test = test.insert_header((HeaderName::from_static(name), value));
        }
    }
    let allowed: Vec<String> = lines
        .next()
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let req = test.to_http_request();
    let trusted: IpAddr = PEERS[0].parse().expect("a literal address");
    let client = check_client(&req, &[trusted]);
    let public = PublicUrl::parse("https://chat.example.com/chat/").expect("a literal URL");
    let policy = OriginPolicy::new(&allowed, Some(&public), "/chat");
    let hosts = hosts_named(&req, client.host.as_deref());
    let origin = header(&req, "origin");
    if let Some(origin) = origin {
        if policy.allows_cross_origin(origin) {
            assert!(policy.allows(Some(origin), &hosts));
        }
    }
    assert!(policy.allows(Some(&public.origin), &hosts));
    assert!(policy.allows(None, &hosts));
    check_origin(&req, client.host.as_deref());
    let bits = SubnetBits {
        v4: pick >> 2,
        v6: pick.wrapping_mul(3),
    };
    let key = client_key(client.ip, bits).to_string();
    let (net, prefix) = key.split_once('/').expect("a subnet");
    let net: IpAddr = net.parse().expect("the subnet's address");
    let prefix: u8 = prefix.parse().expect("the subnet's prefix");
    let most = if net.is_ipv4() { 32 } else { 128 };
    assert!(prefix <= most);
}

/// The client of `req` with these trusted proxies, checked: an untrusted
/// peer is believed, never its headers; a trusted one is replaced only by
/// an address its `X-Forwarded-For` names.
pub(crate) fn check_client(req: &HttpRequest, trusted: &[IpAddr]) -> ClientAddr {
    let client = client_addr(req, trusted);
    let peer = req.peer_addr().map(|a| a.ip().to_canonical());
    if !peer.is_some_and(|p| trusted.contains(&p)) {
        assert_eq!(Some(client.ip), peer);
        assert_eq!(client.host.as_deref(), header(req, "host"));
    } else if Some(client.ip) != peer {
        let named = header(req, "x-forwarded-for").unwrap_or_default();
        assert!(named
            .split(',')
            .filter_map(forwarded_ip)
            .any(|ip| ip == client.ip || ip.to_canonical() == client.ip));
    }
    client
}

/// The origin check on `req`: no panic, and a request with no `Origin`
/// passes.
pub(crate) fn check_origin(req: &HttpRequest, host: Option<&str>) {
    let passed = OriginPolicy::new(&[], None, "").check(req, host).is_ok();
    assert!(passed || header(req, "origin").is_some());
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
