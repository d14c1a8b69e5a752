//! Withings data update notifications.
//!
//! Handshake: before registering a callback URL, Withings sends it a `HEAD` request and
//! expects a 2xx; `HEAD` and `GET` are answered 200 (axum routes `HEAD` to the `GET`
//! handler). Notifications are `POST`ed as `application/x-www-form-urlencoded`
//! (`userid`, `appli`, `startdate`, `enddate`, `date`, `deviceid`, `action`) and are not
//! signed. What this verifier checks, in order:
//! 1. the source address against `allowed_ips` (CIDRs; Withings publishes its ranges in
//!    the TXT records of `ipblock-notify.withings.net`) → 403;
//! 2. the secret `?token=` of the callback URL (`callback_token`) → 401;
//! 3. the form: `userid` numeric, `appli` numeric, dates well formed → 400;
//! 4. `appli` is one this deployment subscribes to (`applis`) → 403.
//!
//! The notification on the bus is a JSON object built from the form.

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pulsegate_schema::{Provider, Secret};
use serde::Deserialize;

use pulsegate_schema::form::pairs as form_pairs;
use crate::signing;
use crate::verifier::{IngestRequest, Notification, ProviderVerifier, Rejection};

/// Withings ingest settings (`[ingest.withings]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithingsConfig {
    /// Mounts `/v1/ingest/withings`. Withings does not sign notifications: configure
    /// `callback_token` and/or `allowed_ips` as well.
    pub enabled: bool,
    /// When set, the callback URL registered with Withings carries `?token=<this>` and
    /// notifications without it get 401.
    pub callback_token: Secret,
    /// Source addresses allowed to notify (CIDRs or single addresses, IPv4 or IPv6).
    /// Empty = any. Others get 403.
    pub allowed_ips: Vec<Cidr>,
    /// Behind a reverse proxy: take the client address from the first
    /// `X-Forwarded-For` entry instead of the TCP peer.
    pub trust_forwarded_for: bool,
    /// The `appli` categories this deployment subscribes to; others get 403.
    /// Default: 1 (weight), 4 (blood pressure), 16 (activity), 44 (sleep), 46 (user
    /// actions).
    pub applis: Vec<u32>,
}

impl Default for WithingsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            callback_token: Secret::default(),
            allowed_ips: Vec::new(),
            trust_forwarded_for: false,
            applis: vec![1, 4, 16, 44, 46],
        }
    }
}

impl WithingsConfig {
    /// Mounted only once enabled.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

/// An address range: `203.0.113.0/24`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not an IP address or CIDR range"))
        })
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as dual-stack listeners report) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub struct WithingsVerifier {
    config: WithingsConfig,
}

impl WithingsVerifier {
    pub fn new(config: WithingsConfig) -> Self {
        Self { config }
    }

    fn source(&self, req: &IngestRequest<'_>) -> Option<IpAddr> {
        if self.config.trust_forwarded_for {
            if let Some(v) = req.headers.get("x-forwarded-for") {
                // A proxy we trust set it: its first entry is the client.
                return v
                    .to_str()
                    .ok()?
                    .split(',')
                    .next()?
                    .trim()
                    .parse::<IpAddr>()
                    .ok();
            }
        }
        req.peer
    }

    fn check_source(&self, req: &IngestRequest<'_>) -> Result<(), Rejection> {
        if self.config.allowed_ips.is_empty() {
            return Ok(());
        }
        match self.source(req) {
            Some(ip) if self.config.allowed_ips.iter().any(|c| c.contains(ip)) => Ok(()),
            _ => Err(Rejection::Forbidden("source address not allowed")),
        }
    }

    fn check_token(&self, req: &IngestRequest<'_>) -> Result<(), Rejection> {
        let expected = self.config.callback_token.expose();
        if expected.is_empty() {
            return Ok(());
        }
        let mut tokens = form_pairs(req.query.unwrap_or(""))
            .into_iter()
            .filter(|(k, _)| k == "token");
        match (tokens.next(), tokens.next()) {
            (Some((_, t)), None)
                if signing::constant_time_eq(t.as_bytes(), expected.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(Rejection::Unauthorized),
        }
    }
}

/// The notification form, validated.
#[derive(Default)]
struct Form {
    userid: Option<u64>,
    appli: Option<u32>,
    startdate: Option<i64>,
    enddate: Option<i64>,
    date: Option<String>,
    deviceid: Option<String>,
    action: Option<String>,
}

fn parse_form(body: &[u8]) -> Result<Form, Rejection> {
    let text =
        std::str::from_utf8(body).map_err(|_| Rejection::Malformed("body is not UTF-8".into()))?;
    let mut f = Form::default();
    fn set<T>(slot: &mut Option<T>, name: &str, v: Option<T>) -> Result<(), Rejection> {
        if slot.is_some() {
            return Err(Rejection::Malformed(format!("{name} is repeated")));
        }
        *slot = Some(v.ok_or_else(|| Rejection::Malformed(format!("{name} is invalid")))?);
        Ok(())
    }
    for (k, v) in form_pairs(text.trim()) {
        match k.as_str() {
            "userid" => set(
                &mut f.userid,
                "userid",
                number::<u64>(&v).filter(|u| *u > 0),
            )?,
            "appli" => set(&mut f.appli, "appli", number::<u32>(&v))?,
            "startdate" => set(&mut f.startdate, "startdate", number::<i64>(&v))?,
            "enddate" => set(&mut f.enddate, "enddate", number::<i64>(&v))?,
            "date" => set(&mut f.date, "date", is_date(&v).then_some(v))?,
            "deviceid" => set(&mut f.deviceid, "deviceid", token_like(&v).then_some(v))?,
            "action" => set(
                &mut f.action,
                "action",
                (!v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .then_some(v),
            )?,
            // Withings may add parameters (its own example carries `foo=bar`).
            _ => {}
        }
    }
    if f.userid.is_none() {
        return Err(Rejection::Malformed("userid is required".into()));
    }
    if f.appli.is_none() {
        return Err(Rejection::Malformed("appli is required".into()));
    }
    match (f.startdate, f.enddate) {
        (Some(s), Some(e)) if s > e => {
            return Err(Rejection::Malformed("startdate is after enddate".into()))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Rejection::Malformed(
                "startdate and enddate come together".into(),
            ))
        }
        _ => {}
    }
    let has_range = f.startdate.is_some() || f.date.is_some();
    if f.appli != Some(46) && !has_range {
        return Err(Rejection::Malformed(
            "startdate/enddate or date is required".into(),
        ));
    }
    Ok(f)
}

fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

fn token_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Form {
    fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("userid".into(), self.userid.into());
        m.insert("appli".into(), self.appli.into());
        if let Some(v) = self.startdate {
            m.insert("startdate".into(), v.into());
        }
        if let Some(v) = self.enddate {
            m.insert("enddate".into(), v.into());
        }
        for (k, v) in [
            ("date", &self.date),
            ("deviceid", &self.deviceid),
            ("action", &self.action),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        serde_json::Value::Object(m)
    }
}

impl ProviderVerifier for WithingsVerifier {
    fn provider(&self) -> Provider {
        Provider::Withings
    }

    fn handshake(&self, _query: Option<&str>, _headers: &HeaderMap) -> Response {
        // Withings' reachability check (HEAD) only needs a 2xx.
        StatusCode::OK.into_response()
    }

    fn verify(&self, req: &IngestRequest<'_>) -> Result<Vec<Notification>, Rejection> {
        self.check_source(req)?;
        self.check_token(req)?;
        let form = parse_form(req.body)?;
        let appli = form.appli.unwrap_or_default();
        if !self.config.applis.contains(&appli) {
            return Err(Rejection::Forbidden("appli is not subscribed"));
        }
        let body = serde_json::to_vec(&form.to_json())
            .map_err(|_| Rejection::Malformed("could not encode the notification".into()))?;
        Ok(vec![Notification {
            provider_user_id: form.userid.unwrap_or_default().to_string(),
            body: Bytes::from(body),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const TOKEN: &str = "cb-7f3e9a1c55d2";

    fn config() -> WithingsConfig {
        WithingsConfig {
            enabled: true,
            callback_token: Secret::new(TOKEN),
            allowed_ips: vec![
                Cidr::parse("89.30.121.0/24").unwrap(),
                Cidr::parse("2001:db8::/32").unwrap(),
            ],
            ..WithingsConfig::default()
        }
    }

    // Withings' documented example payload (`foo=bar` included).
    const EXAMPLE: &str = "foo=bar&userid=12345&appli=1&startdate=1530576000&enddate=1530698753";
    const WITHINGS_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(89, 30, 121, 150));

    fn verify(
        cfg: WithingsConfig,
        query: Option<&str>,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        body: &str,
    ) -> Result<Vec<Notification>, Rejection> {
        let body = Bytes::from(body.to_string());
        let mut req = IngestRequest::new(headers, &body);
        req.query = query;
        req.peer = peer;
        WithingsVerifier::new(cfg).verify(&req)
    }

    fn ok_query() -> String {
        format!("token={TOKEN}")
    }

    #[test]
    fn documented_example_becomes_a_json_object() {
        let n = verify(
            config(),
            Some(&ok_query()),
            Some(WITHINGS_IP),
            &HeaderMap::new(),
            EXAMPLE,
        )
        .unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].provider_user_id, "12345");
        let v: serde_json::Value = serde_json::from_slice(&n[0].body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"userid": 12345, "appli": 1, "startdate": 1530576000i64,
                "enddate": 1530698753i64})
        );
    }

    #[test]
    fn unlink_and_date_only_notifications() {
        let n = verify(
            config(),
            Some(&ok_query()),
            Some(WITHINGS_IP),
            &HeaderMap::new(),
            "userid=12345&appli=46&action=unlink",
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&n[0].body).unwrap();
        assert_eq!(v["action"], "unlink");
        let n = verify(
            config(),
            Some(&ok_query()),
            Some(WITHINGS_IP),
            &HeaderMap::new(),
            "userid=12345&appli=16&date=2024-05-01&deviceid=abc123",
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&n[0].body).unwrap();
        assert_eq!(v["date"], "2024-05-01");
        assert_eq!(v["deviceid"], "abc123");
    }

    #[test]
    fn token_is_checked() {
        let h = HeaderMap::new();
        for q in [
            None,
            Some("token=wrong".to_string()),
            Some(format!("token={TOKEN}x")),
            Some(format!("token={TOKEN}&token=other")),
            Some(TOKEN.to_string()),
        ] {
            assert_eq!(
                verify(config(), q.as_deref(), Some(WITHINGS_IP), &h, EXAMPLE).unwrap_err(),
                Rejection::Unauthorized,
                "{q:?}"
            );
        }
        let open = WithingsConfig {
            callback_token: Secret::default(),
            ..config()
        };
        assert!(verify(open, None, Some(WITHINGS_IP), &h, EXAMPLE).is_ok());
    }

    #[test]
    fn source_address_is_checked() {
        let h = HeaderMap::new();
        let q = ok_query();
        let outside: IpAddr = "198.51.100.7".parse().unwrap();
        let forbidden = Rejection::Forbidden("source address not allowed");
        assert_eq!(
            verify(config(), Some(&q), Some(outside), &h, EXAMPLE).unwrap_err(),
            forbidden
        );
        assert_eq!(
            verify(config(), Some(&q), None, &h, EXAMPLE).unwrap_err(),
            forbidden
        );
        // IPv6 range and IPv4-mapped IPv6 peers.
        assert!(verify(
            config(),
            Some(&q),
            Some("2001:db8::1".parse().unwrap()),
            &h,
            EXAMPLE
        )
        .is_ok());
        assert!(verify(
            config(),
            Some(&q),
            Some("::ffff:89.30.121.9".parse().unwrap()),
            &h,
            EXAMPLE
        )
        .is_ok());
        // X-Forwarded-For is ignored unless trusted…
        let mut xff = HeaderMap::new();
        xff.insert(
            "x-forwarded-for",
            "89.30.121.150, 10.0.0.1".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            verify(config(), Some(&q), Some(proxy), &xff, EXAMPLE).unwrap_err(),
            forbidden
        );
        // …and its first entry is the client when it is.
        let trusted = WithingsConfig {
            trust_forwarded_for: true,
            ..config()
        };
        assert!(verify(trusted.clone(), Some(&q), Some(proxy), &xff, EXAMPLE).is_ok());
        let mut spoof = HeaderMap::new();
        spoof.insert(
            "x-forwarded-for",
            "10.0.0.9, 89.30.121.150".parse().unwrap(),
        );
        assert_eq!(
            verify(trusted, Some(&q), Some(WITHINGS_IP), &spoof, EXAMPLE).unwrap_err(),
            forbidden
        );
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn malformed_forms_are_400_and_unsubscribed_applis_403() {
        let h = HeaderMap::new();
        let q = ok_query();
        for body in [
            "",
            "appli=1&startdate=1&enddate=2",
            "userid=12345&startdate=1&enddate=2",
            "userid=abc&appli=1&startdate=1&enddate=2",
            "userid=0&appli=1&startdate=1&enddate=2",
            "userid=-5&appli=1&startdate=1&enddate=2",
            "userid=12345&appli=1",
            "userid=12345&appli=1&startdate=5&enddate=2",
            "userid=12345&appli=1&startdate=5",
            "userid=12345&appli=1&startdate=x&enddate=2",
            "userid=12345&appli=16&date=May+1",
            "userid=12345&userid=6789&appli=1&startdate=1&enddate=2",
            "userid=99999999999999999999999&appli=1&startdate=1&enddate=2",
            "{\"userid\":12345,\"appli\":1}",
        ] {
            let r = verify(config(), Some(&q), Some(WITHINGS_IP), &h, body);
            assert!(matches!(r, Err(Rejection::Malformed(_))), "{body}: {r:?}");
        }
        assert_eq!(
            verify(
                config(),
                Some(&q),
                Some(WITHINGS_IP),
                &h,
                "userid=12345&appli=50&startdate=1&enddate=2"
            )
            .unwrap_err(),
            Rejection::Forbidden("appli is not subscribed")
        );
        let only_sleep = WithingsConfig {
            applis: vec![44],
            ..config()
        };
        assert!(matches!(
            verify(only_sleep, Some(&q), Some(WITHINGS_IP), &h, EXAMPLE),
            Err(Rejection::Forbidden(_))
        ));
    }

    #[test]
    fn cidr_parsing() {
        assert!(Cidr::parse("10.0.0.0/8")
            .unwrap()
            .contains("10.200.3.4".parse().unwrap()));
        assert!(!Cidr::parse("10.0.0.0/8")
            .unwrap()
            .contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(!Cidr::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.5".parse().unwrap()));
        assert!(!Cidr::parse("10.0.0.0/8")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "x",
            "10.0.0/8",
            "::/129",
            "1.2.3.4/+1",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
        let cfg: Result<WithingsConfig, _> =
            serde_json::from_str(r#"{"enabled": true, "allowed_ips": ["not-an-ip"]}"#);
        assert!(cfg.is_err());
        let cfg: WithingsConfig = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
        assert_eq!(cfg.applis, vec![1, 4, 16, 44, 46]);
        assert!(cfg.enabled());
        assert!(!WithingsConfig::default().enabled());
    }

    #[test]
    fn handshake_answers_200() {
        let v = WithingsVerifier::new(config());
        assert_eq!(
            v.handshake(None, &HeaderMap::new()).status(),
            StatusCode::OK
        );
        assert_eq!(v.accepted_status(), StatusCode::OK);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            query in ".{0,80}",
            xff in ".{0,60}",
            peer in proptest::option::of(proptest::array::uniform4(proptest::num::u8::ANY)),
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = xff.parse() {
                headers.insert("x-forwarded-for", v);
            }
            let cfg = WithingsConfig { trust_forwarded_for: true, ..config() };
            let body = Bytes::from(body);
            let mut req = IngestRequest::new(&headers, &body);
            req.query = Some(&query);
            req.peer = peer.map(IpAddr::from);
            let _ = WithingsVerifier::new(cfg).verify(&req);
        }

        #[test]
        fn arbitrary_forms_never_panic(form in "[a-z=&%0-9+-]{0,120}") {
            let r = verify(config(), Some(&ok_query()), Some(WITHINGS_IP), &HeaderMap::new(), &form);
            if let Ok(n) = r {
                serde_json::from_slice::<serde_json::Value>(&n[0].body).unwrap();
            }
        }
    }
}
