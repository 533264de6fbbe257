//! How the WIT (`wit/sluice-plugin-0.1.0`) carries the values it gives no byte order of its
//! own. The host and the SDK each convert their own generated WIT types, but both encode
//! through these functions, so the two sides cannot disagree:
//! - `uuid` is `tuple<u64, u64>`: the first 8 bytes big-endian, then the last 8 big-endian;
//! - `macaddr` is a `u64` holding the 6 bytes big-endian in its low 48 bits;
//! - an `inet` address is its 4 (IPv4) or 16 (IPv6) octets in network order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A uuid's 16 bytes as the WIT's `(first 8, last 8)`, each big-endian.
#[inline]
pub fn uuid_to_pair(u: [u8; 16]) -> (u64, u64) {
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&u[..8]);
    lo.copy_from_slice(&u[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// The inverse of [`uuid_to_pair`].
#[inline]
pub fn uuid_from_pair((hi, lo): (u64, u64)) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&lo.to_be_bytes());
    out
}

/// A MAC address's six bytes, big-endian, in the low 48 bits.
#[inline]
pub fn mac_to_u64(m: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// The six bytes in the low 48 bits of `v`; the high 16 bits are ignored (a caller that must
/// refuse them checks `v >> 48` itself).
#[inline]
pub fn mac_from_u64(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// An address's octets: 4 for IPv4, 16 for IPv6.
#[inline]
pub fn ip_to_octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The address of 4 or 16 octets; `None` for any other length.
#[inline]
pub fn ip_from_octets(octets: &[u8]) -> Option<IpAddr> {
    if let Ok(o) = <[u8; 4]>::try_from(octets) {
        Some(IpAddr::V4(Ipv4Addr::from(o)))
    } else if let Ok(o) = <[u8; 16]>::try_from(octets) {
        Some(IpAddr::V6(Ipv6Addr::from(o)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_mac_encodings() {
        let b: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(uuid_to_pair(b), (0x0001020304050607, 0x08090a0b0c0d0e0f));
        assert_eq!(uuid_from_pair(uuid_to_pair(b)), b);
        assert_eq!(mac_to_u64([1, 2, 3, 4, 5, 6]), 0x0102_0304_0506);
        assert_eq!(mac_from_u64(0x0102_0304_0506), [1, 2, 3, 4, 5, 6]);
        assert_eq!(mac_from_u64(0xffff_0102_0304_0506), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn ip_octets() {
        for addr in [
            IpAddr::from([192, 168, 0, 1]),
            IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]),
        ] {
            assert_eq!(ip_from_octets(&ip_to_octets(addr)), Some(addr));
        }
        assert_eq!(ip_to_octets(IpAddr::from([10, 0, 0, 1])), vec![10, 0, 0, 1]);
        assert_eq!(ip_from_octets(&[1, 2, 3]), None);
        assert_eq!(ip_from_octets(&[]), None);
    }
}
