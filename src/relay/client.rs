//! Who a request comes from, for the per-client limits (`/media`, failed admin attempts): the
//! TCP peer, or, when the peer is a proxy the operator trusts (`--trusted-proxies`), the
//! client that proxy names in `X-Forwarded-For`. The header is believed only from those
//! proxies, since anyone else can write it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::Request;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated CIDRs or addresses (`10.0.0.0/8, 127.0.0.1`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not a CIDR (10.0.0.0/8) or an address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of `request`: its peer, or, walking `X-Forwarded-For` from the right (the
    /// entry the nearest proxy added), the first address that is not a trusted proxy.
    pub fn client_of<B>(&self, request: &Request<B>) -> IpAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for value in request.headers().get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return client;
            };
            for hop in value.rsplit(',').map(str::trim) {
                let Ok(ip) = hop.parse::<IpAddr>() else {
                    return client;
                };
                client = ip;
                if !self.trusts(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> Request<()> {
        let mut request = Request::new(());
        for value in forwarded {
            request
                .headers_mut()
                .append("x-forwarded-for", value.parse().unwrap());
        }
        request.extensions_mut().insert(ConnectInfo(
            format!("{peer}:4000").parse::<SocketAddr>().unwrap(),
        ));
        request
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            proxies.client_of(&request("203.0.113.9", &["1.2.3.4"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client_of(&request("10.1.1.1", &["1.2.3.4"])),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.client_of(&request("10.1.1.1", &["6.6.6.6, 1.2.3.4, 10.2.2.2"])),
            ip("1.2.3.4"),
            "a client cannot prepend its own choice"
        );
        assert_eq!(
            proxies.client_of(&request("127.0.0.1", &["garbage"])),
            ip("127.0.0.1")
        );
        assert_eq!(proxies.client_of(&request("10.1.1.1", &[])), ip("10.1.1.1"));
        assert_eq!(
            TrustedProxies::default().client_of(&request("10.1.1.1", &["1.2.3.4"])),
            ip("10.1.1.1")
        );
        assert!(
            TrustedProxies::parse("10.0.0.0/33")
                .unwrap_err()
                .contains("10.0.0.0/33")
        );
    }
}
