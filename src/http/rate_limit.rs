//! Request rate limits per client address and per user, enforced once, in one middleware.
//!
//! Each key may send `burst` requests at once and `per_s` a second after that (GCRA, from
//! `governor`); over it, the answer is 429 with `Retry-After`. The defaults are far above
//! what a phone sends and only stop floods and runaway clients.
//!
//! - The address is the client's as [`TrustedProxies::client_ip`] finds it, so behind a load
//!   balancer `MUSTER_TRUSTED_PROXIES` must be set, or every client shares the balancer's
//!   address. IPv6 addresses count by their /64: a subscriber usually holds a whole /64 and
//!   could otherwise step around the limit by changing addresses.
//! - The user is the `sub` of a bearer token whose signature and claims verify. No database
//!   is read here (a flood must not reach it); a token that does not verify counts only
//!   against its address, and the route answers it with 401 as usual.
//! - `/healthz`, `/readyz` and `/metrics` are never limited: probes and scrapers must not
//!   be refused because someone else is flooding.
//!
//! The limiter itself is `crate::limit`'s (per replica, swept); the middleware that applies
//! these limits to every request is `http::middleware::rate_limit`.

use std::net::IpAddr;
use uuid::Uuid;

use crate::config::Settings;
use crate::limit::KeyedLimiter;

/// The per-address and per-user limiters of one server.
pub struct RateLimits {
    by_ip: Option<KeyedLimiter<IpAddr>>,
    by_user: Option<KeyedLimiter<Uuid>>,
}

impl RateLimits {
    pub fn new(settings: &Settings) -> Self {
        RateLimits {
            by_ip: KeyedLimiter::per_second(settings.rate_limit_per_ip_per_s, settings.rate_limit_per_ip_burst),
            by_user: KeyedLimiter::per_second(settings.rate_limit_per_user_per_s, settings.rate_limit_per_user_burst),
        }
    }

    /// `Err((limit, seconds))` when a limit refuses the request. The address is checked
    /// first: it needs no token verification, so a flood is turned away at the least cost.
    /// `ip` is the client's address; `user` verifies the request's token, asked only when
    /// the address passed.
    pub fn check(&self, ip: Option<IpAddr>, user: impl FnOnce() -> Option<Uuid>) -> Result<(), (&'static str, u64)> {
        if let Some(by_ip) = &self.by_ip
            && let Some(ip) = ip
        {
            by_ip.check(&address_key(ip)).map_err(|s| ("ip", s))?;
        }
        if let Some(by_user) = &self.by_user
            && let Some(user) = user()
        {
            by_user.check(&user).map_err(|s| ("user", s))?;
        }
        Ok(())
    }
}

/// The key an address counts under: itself for IPv4, its /64 for IPv6 (an IPv4-mapped
/// IPv6 address is its IPv4 address).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !(u128::from(u64::MAX))).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
