//! Who a client is, for the limits that must follow it across connections:
//! its address reduced to a subnet (an IPv6 /64 by default, since one
//! subscriber usually holds a whole /64; an IPv4 /32). Computed at the HTTP
//! edge from the real client address (after trusted proxies) and handed to
//! the core with the connection; pure, so the reduction is unit-tested here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A client address with the bits past its subnet prefix cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    net: IpAddr,
    bits: u8,
}

/// How many leading bits of an address name its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubnetBits {
    /// Prefix length for IPv4 addresses (0 to 32).
    pub(crate) v4: u8,
    /// Prefix length for IPv6 addresses (0 to 128).
    pub(crate) v6: u8,
}

impl ClientKey {
    /// The key of `ip`: an IPv4-mapped IPv6 address counts as IPv4.
    pub(crate) fn of(ip: IpAddr, bits: SubnetBits) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = bits.v4.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                let net = Ipv4Addr::from(u32::from(v4) & mask);
                ClientKey {
                    net: IpAddr::V4(net),
                    bits,
                }
            }
            IpAddr::V6(v6) => {
                let bits = bits.v6.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                let net = Ipv6Addr::from(u128::from(v6) & mask);
                ClientKey {
                    net: IpAddr::V6(net),
                    bits,
                }
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: SubnetBits = SubnetBits { v4: 32, v6: 64 };

    fn key(ip: &str, bits: SubnetBits) -> String {
        ClientKey::of(ip.parse().unwrap(), bits).to_string()
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_one_client() {
        assert_eq!(key("2001:db8:1:2:aaaa::1", DEFAULT), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of("2001:db8:1:2::1".parse().unwrap(), DEFAULT),
            ClientKey::of("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap(), DEFAULT)
        );
        assert_ne!(
            ClientKey::of("2001:db8:1:2::1".parse().unwrap(), DEFAULT),
            ClientKey::of("2001:db8:1:3::1".parse().unwrap(), DEFAULT)
        );
    }

    #[test]
    fn ipv4_is_per_address_by_default_and_can_be_widened() {
        assert_eq!(key("203.0.113.9", DEFAULT), "203.0.113.9/32");
        let wide = SubnetBits { v4: 24, v6: 48 };
        assert_eq!(key("203.0.113.9", wide), "203.0.113.0/24");
        assert_eq!(key("2001:db8:1:2::1", wide), "2001:db8:1::/48");
    }

    #[test]
    fn mapped_addresses_count_as_ipv4_and_extremes_hold() {
        assert_eq!(key("::ffff:127.0.0.1", DEFAULT), "127.0.0.1/32");
        let none = SubnetBits { v4: 0, v6: 0 };
        assert_eq!(key("203.0.113.9", none), "0.0.0.0/0");
        assert_eq!(key("2001:db8::1", none), "::/0");
        let over = SubnetBits { v4: 99, v6: 200 };
        assert_eq!(key("203.0.113.9", over), "203.0.113.9/32");
        assert_eq!(key("2001:db8::1", over), "2001:db8::1/128");
    }
}
