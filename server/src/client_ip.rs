//! The client's address: the TCP peer, unless the peer is one of our own proxies
//! (`ATRIUM_TRUSTED_PROXIES`), in which case the nearest untrusted hop of `X-Forwarded-For`.
//! A client can write anything into that header, so it is read only from proxies we trust,
//! and only as far back as the chain of trusted proxies goes.
use axum::http::HeaderMap;
use sqlx::types::ipnetwork::IpNetwork;
use std::net::IpAddr;

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<IpNetwork>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut hops: Vec<&str> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            // A header we cannot read at all leaves only the proxy we know.
            let Ok(value) = value.to_str() else { return Some(peer) };
            hops.extend(value.split(',').map(str::trim));
        }
        // From the hop nearest us outwards, past our own proxies. Only the proxies wrote the
        // entries on the right; anything further left is the client's to forge, so an entry we
        // cannot read ends the walk at the last address a trusted proxy vouched for.
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn trusted(cidrs: &[&str]) -> TrustedProxies {
        TrustedProxies(cidrs.iter().map(|c| c.parse().unwrap()).collect())
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let h = headers(&["198.51.100.1"]);
        assert_eq!(TrustedProxies::default().client_ip(Some(peer), &h), Some(peer));
        assert_eq!(trusted(&["10.0.0.0/8"]).client_ip(Some(peer), &h), Some(peer));
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.0/8", "127.0.0.1/32"]);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&["1.1.1.1, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(t.client_ip(Some(proxy), &h), Some("198.51.100.7".parse().unwrap()));
        // Only proxies in the chain: the farthest one is all we know.
        let h = headers(&["10.0.0.9"]);
        assert_eq!(t.client_ip(Some(proxy), &h), Some("10.0.0.9".parse().unwrap()));
        // No header: the proxy itself.
        assert_eq!(t.client_ip(Some(proxy), &HeaderMap::new()), Some(proxy));
        // Garbage ends the chain: where a proxy wrote it, at that proxy; where the client
        // wrote it (further left), it changes nothing.
        let h = headers(&["198.51.100.7, not-an-ip"]);
        assert_eq!(t.client_ip(Some(proxy), &h), Some(proxy));
        let h = headers(&["not-an-ip, 198.51.100.7"]);
        assert_eq!(t.client_ip(Some(proxy), &h), Some("198.51.100.7".parse().unwrap()));
        let h = headers(&["2001:db8::1"]);
        assert_eq!(t.client_ip(Some(proxy), &h), Some("2001:db8::1".parse().unwrap()));
    }
}
