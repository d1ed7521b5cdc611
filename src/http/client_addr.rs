//! Who the client is, seen through reverse proxies. `X-Forwarded-For` and
//! `X-Forwarded-Host` are believed only when the request comes straight from
//! an address listed in `--trusted-proxies`; otherwise anyone could claim any
//! address (and dodge per-address limits) by sending the header. The
//! address, reduced to its subnet, is the [`ClientKey`] every per-client
//! limit is keyed by.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;

use crate::core::client_key::{ClientKey, SubnetBits};

/// The client an address belongs to: an IPv4-mapped IPv6 address counts as
/// IPv4.
pub(crate) fn client_key(ip: IpAddr, bits: SubnetBits) -> ClientKey {
    match ip.to_canonical() {
        IpAddr::V4(v4) => ClientKey::v4(u32::from(v4), bits.v4),
        IpAddr::V6(v6) => ClientKey::v6(u128::from(v6), bits.v6),
    }
}

/// Printed as a subnet, `203.0.113.9/32` or `2001:db8:1:2::/64`, for logs.
/// Here rather than in the core, which names no `std::net`.
impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (net, prefix, v6) = self.parts();
        if v6 {
            write!(f, "{}/{prefix}", Ipv6Addr::from(net))
        } else {
            // The low 32 bits hold an IPv4 key's address.
            write!(f, "{}/{prefix}", Ipv4Addr::from(net as u32))
        }
    }
}

/// The client's address and the host it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientAddr {
    /// The client's IP address.
    pub(crate) ip: IpAddr,
    /// The `Host` the client used (the proxy's `X-Forwarded-Host` if trusted).
    pub(crate) host: Option<String>,
}

/// Parses one `X-Forwarded-For` entry: a bare address, or one with a port
/// as IIS and Azure write it (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
pub(crate) fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|ip| ip.parse().ok())
}

/// Works out the client of `req` given the trusted proxies.
pub(crate) fn client_addr(req: &HttpRequest, trusted: &[IpAddr]) -> ClientAddr {
    // A proxy on 127.0.0.1 reaches a server bound to `::` as ::ffff:127.0.0.1.
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip().to_canonical());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = header("host").map(str::to_owned);
    if !trusted.contains(&peer) {
        return ClientAddr { ip: peer, host };
    }
    // Walk from the right (the entry our own proxy added) past our proxies;
    // the first other address is the client. An entry that does not parse
    // ends the walk: whatever stands left of it is the client's own claim.
    let mut ip = peer;
    for entry in header("x-forwarded-for").unwrap_or_default().rsplit(',') {
        match forwarded_ip(entry) {
            Some(hop) if trusted.contains(&hop.to_canonical()) => ip = hop,
            Some(hop) => {
                ip = hop.to_canonical();
                break;
            }
            None => break,
        }
    }
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

    fn key(ip: &str, bits: SubnetBits) -> String {
        client_key(ip.parse().unwrap(), bits).to_string()
    }

    #[test]
    fn an_address_is_reduced_to_its_subnet() {
        let default = SubnetBits { v4: 32, v6: 64 };
        assert_eq!(key("2001:db8:1:2:aaaa::1", default), "2001:db8:1:2::/64");
        assert_eq!(key("203.0.113.9", default), "203.0.113.9/32");
        assert_eq!(key("::ffff:127.0.0.1", default), "127.0.0.1/32");
        let wide = SubnetBits { v4: 24, v6: 48 };
        assert_eq!(key("203.0.113.9", wide), "203.0.113.0/24");
        assert_eq!(key("2001:db8:1:2::1", wide), "2001:db8:1::/48");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_key(ip("2001:db8:1:2::1"), default),
            client_key(ip("2001:db8:1:2:ffff::9"), default)
        );
    }

    #[test]
    fn forwarded_entries_with_ports_are_understood() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            addr("127.0.0.1", Some("203.0.113.9:5555"), &["127.0.0.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            addr(
                "127.0.0.1",
                Some("6.6.6.6, 203.0.113.9:5555"),
                &["127.0.0.1"]
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            addr("127.0.0.1", Some("[2001:db8::1]:443"), &["127.0.0.1"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            addr("127.0.0.1", Some("2001:db8::2"), &["127.0.0.1"]),
            ip("2001:db8::2")
        );
        assert_eq!(
            addr("127.0.0.1", Some("1.2.3.4, garbage"), &["127.0.0.1"]),
            ip("127.0.0.1"),
            "an unparsable hop stops the walk"
        );
    }
}
