//! Keeping deliveries away from the operator's own network (SSRF).
//!
//! A destination URL is customer input; without a guard, a customer could make
//! pulsegate POST to `http://169.254.169.254/…` (cloud metadata), `localhost` admin
//! ports or anything else on the private network. Two layers:
//!
//! * [`validate_destination_url`] at registration: http/https only, and hosts that are
//!   non-global IP literals or `localhost` names are refused.
//! * At connect time (see `client`): names are resolved by a resolver that drops
//!   non-global addresses, and the peer address of every new connection is checked
//!   again, so a name that resolved to a public address at registration and to a
//!   private one later (DNS rebinding) is still refused.
//!
//! `allow_private_networks` turns both off (tests, private deployments).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::sink::url::KafkaUrl;

/// Why a destination URL was refused. Shows the host, never the path or query (which
/// may carry tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid absolute URL")]
    Invalid,
    #[error("scheme must be http, https, kafka or s3, not {0:?}")]
    Scheme(String),
    #[error("invalid kafka:// URL: {0}")]
    Kafka(&'static str),
    #[error("invalid s3:// URL: {0}")]
    S3(&'static str),
    #[error("URL has no host")]
    MissingHost,
    #[error("host {host} is not allowed: {reason}")]
    Blocked { host: String, reason: &'static str },
    #[error("host {0} could not be resolved")]
    Unresolvable(String),
}

/// Checks a destination URL without network access: scheme, host, and (unless
/// `allow_private_networks`) that the host is neither a non-global IP literal nor a
/// `localhost` name. Names are checked again at connect time, on every connection.
///
/// A `kafka://host:port[,host:port…]/topic` URL (see [`crate::KafkaUrl`]) has every
/// broker checked by the same rules.
pub fn validate_destination_url(url: &str, allow_private_networks: bool) -> Result<(), UrlError> {
    for host in hosts(url)? {
        check_host(host, allow_private_networks)?;
    }
    Ok(())
}

/// The hosts a destination URL connects to: one for http(s), the brokers for kafka.
fn hosts(url: &str) -> Result<Vec<String>, UrlError> {
    if KafkaUrl::is_kafka(url) {
        let k = KafkaUrl::parse(url)?;
        return Ok(k.brokers.into_iter().map(|(h, _)| h).collect());
    }
    if let Some(endpoint) = crate::sink::s3::endpoint_of(url)? {
        return Ok(vec![parse_host(&endpoint)?]);
    }
    Ok(vec![parse_host(url)?])
}

pub(crate) fn check_host(host: String, allow_private_networks: bool) -> Result<(), UrlError> {
    if allow_private_networks {
        return Ok(());
    }
    if let Some(ip) = literal_ip(&host) {
        return check_ip(ip).map_err(|reason| UrlError::Blocked { host, reason });
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(UrlError::Blocked {
            host,
            reason: "loopback name",
        });
    }
    Ok(())
}

/// [`validate_destination_url`] plus a DNS lookup: refused when the name resolves to
/// nothing or to any non-global address. For the admin API, to fail early.
pub async fn validate_destination_url_resolving(
    url: &str,
    allow_private_networks: bool,
) -> Result<(), UrlError> {
    validate_destination_url(url, allow_private_networks)?;
    if allow_private_networks {
        return Ok(());
    }
    for host in hosts(url)? {
        resolve_and_check(host).await?;
    }
    Ok(())
}

/// Resolves `host` (a name or literal) and refuses it if any address is non-global.
pub(crate) async fn resolve_and_check(host: String) -> Result<(), UrlError> {
    if literal_ip(&host).is_some() {
        return Ok(());
    }
    let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .map_err(|_| UrlError::Unresolvable(host.clone()))?
        .collect();
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable(host));
    }
    for a in addrs {
        check_ip(a.ip()).map_err(|reason| UrlError::Blocked {
            host: host.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn parse_host(url: &str) -> Result<String, UrlError> {
    let uri: http::Uri = url.parse().map_err(|_| UrlError::Invalid)?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => return Err(UrlError::Scheme(other.to_string())),
        None => return Err(UrlError::Invalid),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(h.to_string()),
        _ => Err(UrlError::MissingHost),
    }
}

/// The IP address of a URL host written as a literal (`[::1]` included).
pub(crate) fn literal_ip(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

/// `Ok` for globally routable addresses; otherwise why not.
pub fn check_ip(ip: IpAddr) -> Result<(), &'static str> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

fn check_v4(ip: Ipv4Addr) -> Result<(), &'static str> {
    let o = ip.octets();
    let reason = match o {
        [0, ..] => "unspecified/\"this network\" address",
        [127, ..] => "loopback address",
        [10, ..] => "private address",
        [172, b, ..] if (16..=31).contains(&b) => "private address",
        [192, 168, ..] => "private address",
        [169, 254, ..] => "link-local address (incl. cloud metadata)",
        [100, b, ..] if (64..=127).contains(&b) => "shared (CGNAT) address",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation address",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking address",
        [a, ..] if (224..=239).contains(&a) => "multicast address",
        [a, ..] if a >= 240 => "reserved/broadcast address",
        _ => return Ok(()),
    };
    Err(reason)
}

fn check_v6(ip: Ipv6Addr) -> Result<(), &'static str> {
    if ip.is_unspecified() {
        return Err("unspecified address");
    }
    if ip.is_loopback() {
        return Err("loopback address");
    }
    // Addresses that embed an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return check_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (deprecated) ::a.b.c.d and NAT64 64:ff9b::/96.
    if (s[..6] == [0, 0, 0, 0, 0, 0]) || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return check_v4(v4);
    }
    // 6to4 2002::/16 carries an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return check_v4(v4);
    }
    let reason = match s[0] {
        x if x & 0xfe00 == 0xfc00 => "unique local address",
        x if x & 0xffc0 == 0xfe80 => "link-local address",
        x if x & 0xffc0 == 0xfec0 => "site-local address",
        x if x & 0xff00 == 0xff00 => "multicast address",
        0x2001 if s[1] == 0x0db8 => "documentation address",
        0x2001 if s[1] == 0 => "Teredo address",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only address",
        _ => return Ok(()),
    };
    Err(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(url: &str) -> bool {
        matches!(
            validate_destination_url(url, false),
            Err(UrlError::Blocked { .. })
        )
    }

    #[test]
    fn refuses_non_global_literals() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/",
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:c0a8:0101::1]/",
            "https://localhost/",
            "https://api.localhost:3000/",
        ] {
            assert!(blocked(url), "{url} should be refused");
            assert!(
                validate_destination_url(url, true).is_ok(),
                "{url} allowed when private is allowed"
            );
        }
    }

    #[test]
    fn accepts_global_literals_and_names() {
        for url in [
            "https://93.184.216.34/webhook",
            "http://8.8.8.8:8080/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "https://[2606:4700::1111]/x",
            "https://hooks.example.com/terra?token=abc",
        ] {
            assert_eq!(validate_destination_url(url, false), Ok(()), "{url}");
        }
    }

    #[test]
    fn refuses_bad_urls() {
        assert_eq!(
            validate_destination_url("ftp://example.com/", true),
            Err(UrlError::Scheme("ftp".into()))
        );
        assert_eq!(
            validate_destination_url("not a url", true),
            Err(UrlError::Invalid)
        );
        assert_eq!(
            validate_destination_url("/relative", true),
            Err(UrlError::Invalid)
        );
        let e = validate_destination_url("http://10.1.1.1/path?token=s3cr3t", false).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
        let e =
            validate_destination_url("kafka://h:9092/t?sasl.password=s3cr3t", true).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
    }

    #[test]
    fn kafka_urls() {
        // Bad schemes and shapes.
        for (url, private) in [
            ("kafkass://broker.example.com:9092/t", true),
            ("kafkas:/broker.example.com:9093/t", true),
            ("kafka:/broker.example.com:9092/t", true),
            ("kafka://broker.example.com:9092", true),
            ("kafka://broker.example.com:9092/", true),
            ("kafka://broker.example.com/t", true),
            ("kafka:///t", true),
            ("kafka://b:9092/bad topic!", true),
        ] {
            assert!(
                validate_destination_url(url, private).is_err(),
                "{url} must be refused"
            );
        }
        assert!(matches!(
            validate_destination_url("kafka://broker.example.com:9092", true),
            Err(UrlError::Kafka(_))
        ));
        // Public brokers pass.
        for url in [
            "kafka://broker.example.com:9092/terra",
            "kafka://b1.example.com:9092,8.8.8.8:9093,[2606:4700::1111]:9094/terra.events_v1",
            "kafkas://broker.example.com:9093/terra",
        ] {
            assert_eq!(validate_destination_url(url, false), Ok(()), "{url}");
        }
        // Every broker is checked: one private one refuses the URL.
        for url in [
            "kafka://127.0.0.1:9092/t",
            "kafka://localhost:9092/t",
            "kafka://broker.example.com:9092,10.0.0.5:9092/t",
            "kafka://broker.example.com:9092,[::1]:9092/t",
            "kafka://169.254.169.254:80/t",
            "kafka://kafka.localhost:9092/t",
        ] {
            assert!(blocked(url), "{url} should be refused");
            assert_eq!(
                validate_destination_url(url, true),
                Ok(()),
                "{url} allowed when private is allowed"
            );
        }
    }
}
