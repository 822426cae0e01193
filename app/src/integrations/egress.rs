//! Where deliveries may go. A tenant types the endpoint, so it must never reach the inside:
//! every address a host resolves to is checked (loopback, private, CGNAT, link-local,
//! unique-local, multicast, unspecified and the like are refused), and the sender connects
//! only to the addresses checked here, so a DNS answer that changes between the check and
//! the connection (rebinding) gets nowhere. Operators allow on-premises receivers by CIDR.
use futures::future::BoxFuture;
use sqlx::types::ipnetwork::IpNetwork;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address is no place for a delivery, or None for an ordinary public address.
pub fn inside(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => inside_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => inside_v4(v4),
            None => inside_v6(v6),
        },
    }
}

fn inside_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if a == 100 && (64..128).contains(&b) => "a shared (CGNAT) address",
        _ if ip.is_link_local() => "a link-local address",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_broadcast() || a >= 240 => "a reserved address",
        _ if a == 192 && b == 0 && ip.octets()[2] == 0 => "a protocol-assignment address",
        _ if a == 198 && (18..20).contains(&b) => "a benchmarking address",
        _ => return None,
    })
}

fn inside_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match () {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if first & 0xfe00 == 0xfc00 => "a unique-local address",
        _ if first & 0xffc0 == 0xfe80 => "a link-local address",
        _ if first & 0xffc0 == 0xfec0 => "a site-local address",
        _ if ip.is_multicast() => "a multicast address",
        // NAT64 and IPv4-compatible forms carry an IPv4 address inside; judge that one.
        _ if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || ip.segments()[..6] == [0; 6] => {
            let o = ip.octets();
            return inside_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
        }
        _ => return None,
    })
}

/// Turns a host name into addresses. The system's resolver in production; tests give a fixed
/// table, so no query ever leaves the machine.
pub trait Resolve: Send + Sync {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>>;
}

pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// A fixed table of names; any other name does not resolve.
pub struct StaticResolver(pub HashMap<String, Vec<IpAddr>>);

impl Resolve for StaticResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host in the test table"))
        })
    }
}

/// The delivery network policy.
#[derive(Clone)]
pub struct Egress {
    /// Loopback receivers, for development and tests only (`ATRIUM_ENV=development`).
    pub allow_loopback: bool,
    /// Operator-approved networks (`ATRIUM_WEBHOOK_ALLOW_CIDRS`), e.g. an on-premises receiver.
    pub allow: Vec<IpNetwork>,
    pub resolver: Arc<dyn Resolve>,
}

impl Egress {
    pub fn production() -> Egress {
        Egress { allow_loopback: false, allow: Vec::new(), resolver: Arc::new(SystemResolver) }
    }

    /// May a delivery connect to `ip`?
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        match inside(ip) {
            Some("a loopback address") if self.allow_loopback => Ok(()),
            Some(kind) => Err(format!(
                "{ip} is {kind}; deliveries cannot go inside the network (an operator can allow it with ATRIUM_WEBHOOK_ALLOW_CIDRS)"
            )),
            None => Ok(()),
        }
    }

    /// Resolves `host` and checks every address it has: one refused address refuses the host,
    /// so a name that answers both public and private addresses cannot be used to reach in.
    pub async fn resolve_checked(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ips = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self.resolver.resolve(host).await.map_err(|e| format!("{host} does not resolve: {e}"))?,
        };
        if ips.is_empty() {
            return Err(format!("{host} has no addresses"));
        }
        for ip in &ips {
            self.check(*ip).map_err(|why| {
                if host.parse::<IpAddr>().is_ok() {
                    why
                } else {
                    format!("{host} resolves to {why}")
                }
            })?;
        }
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    /// The save-time check of an endpoint URL: a literal address is judged as it is; a name is
    /// judged by what it resolves to now. A name that does not resolve yet is accepted (the
    /// sender checks again before every connection).
    pub async fn check_endpoint(&self, url: &str) -> Result<(), String> {
        match endpoint_host(url)? {
            EndpointHost::Address(ip) => self.check(ip),
            EndpointHost::Name(host, port) => match self.resolve_checked(&host, port).await {
                Err(e) if e.contains("does not resolve") || e.contains("no addresses") => Ok(()),
                other => other.map(|_| ()),
            },
        }
    }
}

/// An endpoint's host as the sender will see it.
pub enum EndpointHost {
    /// The URL names an address: the connection goes there without any resolver.
    Address(IpAddr),
    Name(String, u16),
}

/// Reads the host with the URL parser the sender itself uses (WHATWG rules), so every form
/// that ends up as an address (`127.1`, `2130706433`, `0x7f.1`, `169.254.169.254.`) is judged
/// as that address and never mistaken for a name.
pub fn endpoint_host(endpoint: &str) -> Result<EndpointHost, String> {
    let url =
        url::Url::parse(endpoint.trim()).map_err(|e| format!("\u{201c}{endpoint}\u{201d} is not a URL ({e})."))?;
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(v4)) => Ok(EndpointHost::Address(IpAddr::V4(v4))),
        Some(url::Host::Ipv6(v6)) => Ok(EndpointHost::Address(IpAddr::V6(v6))),
        Some(url::Host::Domain(name)) => Ok(EndpointHost::Name(name.trim_end_matches('.').to_string(), port)),
        None => Err("The URL needs a host.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_inside_is_recognised_on_literals() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.254", "CGNAT"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("255.255.255.255", "reserved"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            let why = inside(ip(addr)).unwrap_or_else(|| panic!("{addr} passed"));
            assert!(why.contains(kind), "{addr}: {why}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "8.8.8.8"] {
            assert_eq!(inside(ip(public)), None, "{public}");
        }
    }

    fn egress(allow_loopback: bool, allow: &[&str], table: &[(&str, &[&str])]) -> Egress {
        Egress {
            allow_loopback,
            allow: allow.iter().map(|c| c.parse().unwrap()).collect(),
            resolver: Arc::new(StaticResolver(
                table.iter().map(|(h, ips)| (h.to_string(), ips.iter().map(|i| ip(i)).collect())).collect(),
            )),
        }
    }

    #[tokio::test]
    async fn every_resolved_address_is_checked() {
        let e =
            egress(false, &[], &[("hooks.test", &["93.184.216.34"]), ("mixed.test", &["93.184.216.34", "10.0.0.7"])]);
        assert!(e.resolve_checked("hooks.test", 443).await.is_ok());
        let err = e.resolve_checked("mixed.test", 443).await.unwrap_err();
        assert!(err.contains("mixed.test resolves to 10.0.0.7 is a private address"), "{err}");
        assert!(e.resolve_checked("127.0.0.1", 80).await.unwrap_err().contains("loopback"));
        assert!(e.resolve_checked("[::1]", 80).await.unwrap_err().contains("loopback"));
        // Unknown at save time is accepted; the sender checks again.
        assert!(e.check_endpoint("https://unknown.test/x").await.is_ok());
        assert!(e.check_endpoint("https://mixed.test/x").await.is_err());
        assert!(e.check_endpoint("https://169.254.169.254/latest/meta-data").await.is_err());
        // Every spelling the sender would read as an inside address is one.
        for sneaky in [
            "https://169.254.169.254./latest",
            "https://127.0.0.1./x",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://017700000001/",
            "https://[::ffff:7f00:1]/",
            "https://[0:0:0:0:0:ffff:a9fe:a9fe]/",
        ] {
            assert!(e.check_endpoint(sneaky).await.is_err(), "{sneaky}");
        }
    }

    #[tokio::test]
    async fn operators_allow_networks_and_development_allows_loopback() {
        let e = egress(true, &["10.20.0.0/16"], &[("onprem.test", &["10.20.1.5"]), ("other.test", &["10.30.1.5"])]);
        assert!(e.resolve_checked("onprem.test", 443).await.is_ok());
        assert!(e.resolve_checked("other.test", 443).await.is_err());
        assert!(e.resolve_checked("127.0.0.1", 80).await.is_ok());
        assert!(e.resolve_checked("192.168.0.1", 80).await.is_err(), "development opens loopback only");
    }
}
