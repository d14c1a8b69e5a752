//! Usage the providers report in their response headers (Strava's
//! `X-RateLimit-Usage`, the `X-RateLimit-Remaining` style, Fitbit's).

use std::time::Duration;

use http::HeaderMap;

use super::HeaderStyle;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// `(period in seconds if known, limit, used)` as the provider reports them.
pub(super) fn reported_usage(style: HeaderStyle, h: &HeaderMap) -> Vec<(Option<u64>, u32, u32)> {
    match style {
        HeaderStyle::None => Vec::new(),
        HeaderStyle::Strava => {
            let read = (
                header(h, "x-readratelimit-limit").and_then(pair),
                header(h, "x-readratelimit-usage").and_then(pair),
            );
            let overall = (
                header(h, "x-ratelimit-limit").and_then(pair),
                header(h, "x-ratelimit-usage").and_then(pair),
            );
            let ((l15, lday), (u15, uday)) = match (read, overall) {
                ((Some(l), Some(u)), _) | (_, (Some(l), Some(u))) => (l, u),
                _ => return Vec::new(),
            };
            vec![(Some(900), l15, u15), (Some(86_400), lday, uday)]
        }
        HeaderStyle::Remaining | HeaderStyle::Fitbit => {
            let prefix = if style == HeaderStyle::Fitbit {
                "fitbit-rate-limit"
            } else {
                "x-ratelimit"
            };
            let limit_header = header(h, &format!("{prefix}-limit"));
            let remaining =
                header(h, &format!("{prefix}-remaining")).and_then(|r| r.parse::<u32>().ok());
            // `100, 100;window=60, 10000;window=86400`: the first number is the limit in
            // force; a `;window=` on an entry with that number names its period.
            let Some((limit, period)) = limit_header.and_then(|s| {
                let mut parts = s.split(',').map(str::trim);
                let first: u32 = parts.next()?.split(';').next()?.trim().parse().ok()?;
                let period = parts
                    .filter_map(|p| {
                        let (n, w) = p.split_once(";window=")?;
                        if n.trim().parse::<u32>().ok()? != first {
                            return None;
                        }
                        w.trim().parse::<u64>().ok()
                    })
                    .next();
                Some((first, period))
            }) else {
                return Vec::new();
            };
            match remaining {
                Some(r) => vec![(period, limit, limit.saturating_sub(r))],
                None => Vec::new(),
            }
        }
    }
}

/// Seconds until the provider's window resets (`X-RateLimit-Reset` style).
pub(super) fn reset_after(style: HeaderStyle, h: &HeaderMap) -> Option<Duration> {
    let name = match style {
        HeaderStyle::Remaining => "x-ratelimit-reset",
        HeaderStyle::Fitbit => "fitbit-rate-limit-reset",
        HeaderStyle::Strava | HeaderStyle::None => return None,
    };
    header(h, name)?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::super::{defaults, Decision, Lane, Limiter, RateLimitConfig};
    use super::*;

    const Q: u64 = 15 * 60 * 1000;
    const DAY: u64 = 86_400_000;
    /// 2024-01-01T00:00:00Z, a window boundary of every period.
    const T0: u64 = 1_704_067_200_000;

    fn strava() -> Limiter {
        Limiter::new(defaults::strava())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn strava_usage_headers_are_folded_in() {
        let mut l = strava();
        // Another process used 95 of the 15 minutes' 100 reads.
        l.observe(
            &headers(&[
                ("X-RateLimit-Limit", "200,2000"),
                ("X-RateLimit-Usage", "120,300"),
                ("X-ReadRateLimit-Limit", "100,1000"),
                ("X-ReadRateLimit-Usage", "95,300"),
            ]),
            None,
            T0 + 5,
        );
        assert_eq!(l.used(0, None), 95);
        assert_eq!(l.used(1, None), 300);
        assert!(matches!(
            l.acquire(Lane::Backfill, None, T0 + 6),
            Decision::Wait {
                provider_block: false,
                ..
            }
        ));
        // A raised limit reported by Strava is used.
        let mut l = strava();
        l.observe(
            &headers(&[
                ("X-ReadRateLimit-Limit", "300,3000"),
                ("X-ReadRateLimit-Usage", "95,300"),
            ]),
            None,
            T0,
        );
        assert_eq!(l.acquire(Lane::Backfill, None, T0 + 1), Decision::Go);
        // Lower counts than ours never lower ours.
        l.observe(
            &headers(&[
                ("X-ReadRateLimit-Limit", "300,3000"),
                ("X-ReadRateLimit-Usage", "1,1"),
            ]),
            None,
            T0 + 2,
        );
        assert_eq!(l.used(0, None), 96);
    }

    #[test]
    fn a_429_without_retry_after_waits_for_stravas_window() {
        let mut l = strava();
        // Strava's headers on the 429: the 15-minute read limit is used up.
        let h = headers(&[
            ("X-ReadRateLimit-Limit", "100,1000"),
            ("X-ReadRateLimit-Usage", "101,400"),
        ]);
        assert_eq!(l.on_429(&h, None, None, T0 + 60_000), T0 + Q);
        // The daily one: until midnight UTC.
        let mut l = strava();
        let h = headers(&[
            ("X-ReadRateLimit-Limit", "100,1000"),
            ("X-ReadRateLimit-Usage", "20,1001"),
        ]);
        assert_eq!(l.on_429(&h, None, None, T0 + 60_000), T0 + DAY);
        // Nothing known: the configured default.
        let mut l = Limiter::new(RateLimitConfig::default());
        assert_eq!(l.on_429(&HeaderMap::new(), None, None, T0), T0 + 60_000);
    }

    #[test]
    fn whoop_and_fitbit_headers() {
        let mut l = Limiter::new(defaults::whoop());
        let h = headers(&[
            (
                "X-RateLimit-Limit",
                "100, 100;window=60, 10000;window=86400",
            ),
            ("X-RateLimit-Remaining", "2"),
            ("X-RateLimit-Reset", "3"),
        ]);
        l.observe(&h, None, T0);
        assert_eq!(l.used(0, None), 98);
        assert_eq!(l.on_429(&h, None, None, T0 + 10), T0 + 3_010);

        // Fitbit counts per user; a 429 blocks that user only.
        let mut l = Limiter::new(defaults::fitbit());
        let h = headers(&[
            ("Fitbit-Rate-Limit-Limit", "150"),
            ("Fitbit-Rate-Limit-Remaining", "0"),
            ("Fitbit-Rate-Limit-Reset", "1200"),
        ]);
        l.observe(&h, Some("a"), T0);
        assert_eq!(l.used(0, Some("a")), 150);
        assert_eq!(l.used(0, Some("b")), 0);
        assert_eq!(l.on_429(&h, None, Some("a"), T0), T0 + 1_200_000);
        assert!(matches!(
            l.acquire(Lane::Backfill, Some("a"), T0 + 1),
            Decision::Wait {
                provider_block: true,
                ..
            }
        ));
        assert_eq!(l.acquire(Lane::Backfill, Some("b"), T0 + 1), Decision::Go);
        assert!(l.claim_notice(Some("a"), T0 + 2));
        assert!(!l.claim_notice(Some("b"), T0 + 2));
    }
}
