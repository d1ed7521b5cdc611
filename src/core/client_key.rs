//! Who a client is, for the limits that must follow it across connections:
//! its address reduced to a subnet (an IPv6 /64 by default, since one
//! subscriber usually holds a whole /64; an IPv4 /32). The HTTP edge reads
//! the real client address (after trusted proxies) and builds the key with
//! [`ClientKey::v4`] or [`ClientKey::v6`] (`http/client_addr.rs`); the core
//! only compares keys. Pure arithmetic on the address's bits: no sockets,
//! no `std::net`.

/// A client address with the bits past its subnet prefix cleared. 24 bytes:
/// the address is two `u64`s rather than a `u128`, whose 16-byte alignment
/// would make it 32, and every WebSocket carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    /// The subnet's address bits, high half first (an IPv4 address in the
    /// low 32 bits).
    net: [u64; 2],
    /// The prefix length kept.
    prefix: u8,
    /// IPv6, else IPv4.
    v6: bool,
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
    /// The key of an IPv4 address, keeping its first `bits` bits.
    pub(crate) fn v4(addr: u32, bits: u8) -> Self {
        let prefix = bits.min(32);
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        ClientKey {
            net: [0, u64::from(addr & mask)],
            prefix,
            v6: false,
        }
    }

    /// The key of an IPv6 address, keeping its first `bits` bits.
    pub(crate) fn v6(addr: u128, bits: u8) -> Self {
        let prefix = bits.min(128);
        let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
        let net = addr & mask;
        ClientKey {
            net: [(net >> 64) as u64, net as u64],
            prefix,
            v6: true,
        }
    }

    /// The subnet's address bits, its prefix length and whether it is IPv6,
    /// for the edge to print.
    pub(crate) fn parts(&self) -> (u128, u8, bool) {
        let net = (u128::from(self.net[0]) << 64) | u128::from(self.net[1]);
        (net, self.prefix, self.v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bits_past_the_prefix_are_cleared() {
        assert_eq!(
            ClientKey::v4(0xcb00_7109, 32).parts(),
            (0xcb00_7109, 32, false)
        );
        assert_eq!(
            ClientKey::v4(0xcb00_7109, 24).parts(),
            (0xcb00_7100, 24, false)
        );
        assert_eq!(ClientKey::v4(0xcb00_7109, 0).parts(), (0, 0, false));
        assert_eq!(
            ClientKey::v4(0xcb00_7109, 99).parts(),
            (0xcb00_7109, 32, false)
        );
        let a = 0x2001_0db8_0001_0002_aaaa_0000_0000_0001_u128;
        assert_eq!(
            ClientKey::v6(a, 64).parts().0,
            0x2001_0db8_0001_0002_u128 << 64
        );
        assert_eq!(ClientKey::v6(a, 128).parts(), (a, 128, true));
        assert_eq!(ClientKey::v6(a, 0).parts(), (0, 0, true));
    }

    #[test]
    fn a_key_is_small() {
        assert_eq!(std::mem::size_of::<ClientKey>(), 24);
    }

    #[test]
    fn one_slash_64_is_one_client_and_families_stay_apart() {
        let base = 0x2001_0db8_0001_0002_u128 << 64;
        assert_eq!(
            ClientKey::v6(base | 1, 64),
            ClientKey::v6(base | u128::from(u64::MAX), 64)
        );
        assert_ne!(ClientKey::v6(base, 64), ClientKey::v6(base + (1 << 64), 64));
        assert_ne!(ClientKey::v4(1, 32), ClientKey::v6(1, 32));
    }
}
