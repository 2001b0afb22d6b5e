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
//! The counts live in each replica's memory: behind N replicas a client gets up to N times
//! the rate, and a restart forgets them. Keys that have fully recovered are swept once the
//! maps grow large, so a spray of addresses cannot grow them without bound.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, ResponseError, web};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

use crate::config::Settings;
use crate::http::caller::bearer;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Paths that are never limited.
const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
/// Keys held before fully recovered ones are swept.
const SWEEP_AT: usize = 10_000;
/// How often (in checks) the size is looked at: `len()` visits every shard of the map.
const SWEEP_EVERY: u64 = 1024;

/// One keyed limiter; `None` in [`RateLimits`] when its rate is 0 (disabled).
struct Limiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(per_s: u32, burst: u32) -> Option<Self> {
        let quota = Quota::per_second(NonZeroU32::new(per_s)?).allow_burst(NonZeroU32::new(burst)?);
        Some(Limiter {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        })
    }

    /// `Err(seconds)` until `key` may send again.
    fn check(&self, key: &K) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY) && self.limiter.len() >= SWEEP_AT {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|refused| {
            let wait = refused.wait_time_from(self.limiter.clock().now());
            // Whole seconds, rounded up: a client that waits as told is let through.
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The per-address and per-user limiters of one server.
pub struct RateLimits {
    by_ip: Option<Limiter<IpAddr>>,
    by_user: Option<Limiter<Uuid>>,
}

impl RateLimits {
    pub fn new(settings: &Settings) -> Self {
        RateLimits {
            by_ip: Limiter::new(settings.rate_limit_per_ip_per_s, settings.rate_limit_per_ip_burst),
            by_user: Limiter::new(settings.rate_limit_per_user_per_s, settings.rate_limit_per_user_burst),
        }
    }

    /// `Err((limit, seconds))` when a limit refuses the request. The address is checked
    /// first: it needs no token verification, so a flood is turned away at the least cost.
    fn check(&self, state: &AppState, req: &HttpRequest) -> Result<(), (&'static str, u64)> {
        if let Some(by_ip) = &self.by_ip
            && let Some(ip) = state.trusted_proxies.client_ip(req)
        {
            by_ip.check(&address_key(ip)).map_err(|s| ("ip", s))?;
        }
        if let Some(by_user) = &self.by_user
            && let Some(claims) = bearer(req).and_then(|token| state.keys.verify(&token))
        {
            by_user.check(&claims.sub).map_err(|s| ("user", s))?;
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

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !EXEMPT.contains(&req.path())
        && let Some(state) = req.app_data::<web::Data<AppState>>()
        && let Err((limit, retry_after_s)) = state.rate_limits.check(state, req.request())
    {
        metrics::counter!("muster_rate_limited_total", "limit" => limit).increment(1);
        let answer = ApiError::rate_limited(retry_after_s).error_response();
        return Ok(req.into_response(answer).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
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

    #[test]
    fn a_limiter_refuses_past_its_burst_with_a_wait_and_zero_disables() {
        let limiter = Limiter::new(1, 2).unwrap();
        assert!(limiter.check(&1).is_ok());
        assert!(limiter.check(&1).is_ok());
        assert_eq!(limiter.check(&1), Err(1));
        assert!(limiter.check(&2).is_ok());
        assert!(Limiter::<u8>::new(0, 5).is_none());
    }
}
