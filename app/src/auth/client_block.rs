//! The block of addresses one client controls, which is what per-address limits count.
//! An IPv4 address is one block. An IPv6 host is routinely given a whole /64 (SLAAC, privacy
//! addresses), so counting single IPv6 addresses would hand every attacker 2^64 fresh
//! allowances; the /64 is the unit instead.
use sqlx::types::ipnetwork::IpNetwork;
use std::net::{IpAddr, Ipv6Addr};

pub const IPV6_PREFIX: u8 = 64;

/// The block `ip` belongs to: itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6.
pub fn client_block(ip: IpAddr) -> IpNetwork {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpNetwork::from(IpAddr::V4(v4)),
            None => {
                let masked = u128::from(v6) & (u128::MAX << (128 - u32::from(IPV6_PREFIX)));
                IpNetwork::new(IpAddr::V6(Ipv6Addr::from(masked)), IPV6_PREFIX).expect("a valid prefix")
            }
        },
        v4 => IpNetwork::from(v4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &str) -> String {
        client_block(s.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_address() {
        assert_eq!(block("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(block("2001:db8:1:2::1"), block("2001:db8:1:2:ffff::9"));
        assert_ne!(block("2001:db8:1:2::1"), block("2001:db8:1:3::1"));
        assert_eq!(block("203.0.113.7"), "203.0.113.7/32");
        assert_ne!(block("203.0.113.7"), block("203.0.113.8"));
        assert_eq!(block("::ffff:203.0.113.7"), "203.0.113.7/32");
    }
}
