//! The client's address: the socket peer, or, only when that peer is a configured trusted
//! proxy, the first address in `Forwarded` / `X-Forwarded-For` (read from the right) that is
//! not itself a trusted proxy. A client cannot spoof its address past an untrusted hop.

use actix_web::HttpRequest;
use std::net::IpAddr;

/// A list of proxy addresses and CIDR blocks.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let mut nets = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| anyhow::anyhow!("trusted proxy {entry:?} is not an address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| anyhow::anyhow!("bad prefix in {entry:?}"))?,
                None => max,
            };
            nets.push((addr, bits));
        }
        Ok(TrustedProxies(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => prefix_eq(&n.octets(), &i.octets(), *bits),
            (IpAddr::V6(n), IpAddr::V6(i)) => prefix_eq(&n.octets(), &i.octets(), *bits),
            _ => false,
        })
    }

    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.contains(peer) {
            return Some(peer);
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in req.headers().get_all("forwarded") {
            let Ok(value) = value.to_str() else { continue };
            for element in value.split(',') {
                for pair in element.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=')
                        && k.trim().eq_ignore_ascii_case("for")
                        && let Some(ip) = parse_hop(v)
                    {
                        hops.push(ip);
                    }
                }
            }
        }
        if hops.is_empty() {
            for value in req.headers().get_all("x-forwarded-for") {
                let Ok(value) = value.to_str() else { continue };
                hops.extend(value.split(',').filter_map(parse_hop));
            }
        }
        Some(hops.into_iter().rev().find(|ip| !self.contains(*ip)).unwrap_or(peer))
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
}

/// `1.2.3.4`, `"[2001:db8::1]:443"`, `1.2.3.4:5678`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(inner) = s.strip_prefix('[') {
        return inner.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':').and_then(|(host, _)| host.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn forwarded_headers_count_only_behind_trusted_proxies() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let direct = TestRequest::default()
            .peer_addr("203.0.113.9:1000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.1.1.1"))
            .to_http_request();
        assert_eq!(trusted.client_ip(&direct), Some("203.0.113.9".parse().unwrap()));
        let proxied = TestRequest::default()
            .peer_addr("10.1.2.3:1000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5"))
            .to_http_request();
        assert_eq!(trusted.client_ip(&proxied), Some("198.51.100.7".parse().unwrap()));
        let forwarded = TestRequest::default()
            .peer_addr("10.1.2.3:1000".parse().unwrap())
            .insert_header(("forwarded", "for=\"[2001:db8::1]:443\";proto=https"))
            .to_http_request();
        assert_eq!(trusted.client_ip(&forwarded), Some("2001:db8::1".parse().unwrap()));
    }
}
