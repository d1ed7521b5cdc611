//! Who the client is, seen through reverse proxies. `X-Forwarded-For` and
//! `X-Forwarded-Host` are believed only when the request comes straight from
//! an address listed in `--trusted-proxies`; otherwise anyone could claim any
//! address (and dodge per-address limits) by sending the header.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;

/// The client's address and the host it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's IP address.
    pub ip: IpAddr,
    /// The `Host` the client used (the proxy's `X-Forwarded-Host` if trusted).
    pub host: Option<String>,
}

/// Works out the client of `req` given the trusted proxies.
pub fn client_addr(req: &HttpRequest, trusted: &[IpAddr]) -> ClientAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header("host").map(str::to_owned);
    if !trusted.contains(&peer) {
        return ClientAddr { ip: peer, host };
    }
    // The rightmost address that is not one of our proxies is the client.
    let ip = header("x-forwarded-for")
        .into_iter()
        .flat_map(|v| v.rsplit(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer);
    let host = header("x-forwarded-host").map(str::to_owned).or(host);
    ClientAddr { ip, host }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn addr(peer: &str, forwarded: Option<&str>, trusted: &[&str]) -> IpAddr {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:5000").parse().unwrap());
        if let Some(value) = forwarded {
            req = req.insert_header(("X-Forwarded-For", value));
        }
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_addr(&req.to_http_request(), &trusted).ip
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(addr("203.0.113.9", Some("1.2.3.4"), &[]), ip("203.0.113.9"));
        assert_eq!(
            addr("127.0.0.1", Some("1.2.3.4"), &["127.0.0.1"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            addr(
                "127.0.0.1",
                Some("6.6.6.6, 1.2.3.4, 10.0.0.2"),
                &["127.0.0.1", "10.0.0.2"]
            ),
            ip("1.2.3.4")
        );
        assert_eq!(addr("127.0.0.1", None, &["127.0.0.1"]), ip("127.0.0.1"));
    }
}
