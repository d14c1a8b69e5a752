//! `kafka://host:port[,host:port…]/topic` (plaintext) and `kafkas://…` (TLS): a
//! destination that is a customer-owned Kafka topic.

use pulsegate_schema::KafkaAuth;

use crate::ssrf::UrlError;

/// The URL scheme of plaintext Kafka destinations.
pub const KAFKA_SCHEME: &str = "kafka://";
/// The URL scheme of Kafka destinations reached over TLS (as `https` to `http`).
pub const KAFKAS_SCHEME: &str = "kafkas://";
/// Kafka's longest legal topic name.
const MAX_TOPIC_LEN: usize = 249;
/// SASL mechanisms librdkafka implements without a system SASL library.
const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
/// A CA bundle larger than this is not a CA bundle.
const MAX_CA_PEM: usize = 64 * 1024;

/// A parsed `kafka://` or `kafkas://` destination URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaUrl {
    /// Bootstrap brokers as `(host, port)`; an IPv6 host keeps its brackets.
    pub brokers: Vec<(String, u16)>,
    pub topic: String,
    /// `kafkas://`: every broker connection is TLS, certificates verified.
    pub tls: bool,
}

impl KafkaUrl {
    /// True if `url` names a Kafka destination (whether or not it is valid).
    pub fn is_kafka(url: &str) -> bool {
        Self::scheme_len(url).is_some()
    }

    fn scheme_len(url: &str) -> Option<(usize, bool)> {
        let starts = |scheme: &str| {
            url.get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        };
        if starts(KAFKA_SCHEME) {
            Some((KAFKA_SCHEME.len(), false))
        } else if starts(KAFKAS_SCHEME) {
            Some((KAFKAS_SCHEME.len(), true))
        } else {
            None
        }
    }

    /// Parses `kafka[s]://host:port[,host:port…]/topic`. No user info, query or
    /// fragment: client secrets never go into a URL (URLs are shown by the admin API).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let Some((scheme_len, tls)) = Self::scheme_len(url) else {
            return Err(UrlError::Invalid);
        };
        let rest = &url[scheme_len..];
        if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_whitespace()) {
            return Err(UrlError::Kafka(
                "no user info, query or fragment allowed in kafka:// URLs",
            ));
        }
        let (authority, topic) = rest
            .split_once('/')
            .ok_or(UrlError::Kafka("missing /topic"))?;
        if authority.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let mut brokers = Vec::new();
        for hp in authority.split(',') {
            brokers.push(parse_host_port(hp)?);
        }
        check_topic(topic)?;
        Ok(Self {
            brokers,
            topic: topic.to_string(),
            tls,
        })
    }

    /// librdkafka's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// librdkafka's `security.protocol` for this URL with or without SASL.
    pub fn security_protocol(&self, sasl: bool) -> &'static str {
        match (self.tls, sasl) {
            (false, false) => "plaintext",
            (false, true) => "sasl_plaintext",
            (true, false) => "ssl",
            (true, true) => "sasl_ssl",
        }
    }
}

/// Checks a destination's Kafka settings: credentials (only with a Kafka URL; mechanism
/// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; a username and a password) and a CA
/// bundle (only with `kafkas://`; PEM certificates). Messages never echo the password.
pub fn check_kafka_settings(
    url: &str,
    auth: Option<&KafkaAuth>,
    ca_pem: Option<&str>,
) -> Result<(), String> {
    if let Some(pem) = ca_pem {
        if !url
            .get(..KAFKAS_SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(KAFKAS_SCHEME))
        {
            return Err("kafka_ca_pem: only for kafkas:// (TLS) destinations".into());
        }
        if pem.len() > MAX_CA_PEM
            || !pem.contains("-----BEGIN CERTIFICATE-----")
            || !pem.contains("-----END CERTIFICATE-----")
        {
            return Err(
                "kafka_ca_pem: PEM certificates (-----BEGIN CERTIFICATE-----), at most 64 KiB"
                    .into(),
            );
        }
    }
    let Some(auth) = auth else {
        return Ok(());
    };
    if !KafkaUrl::is_kafka(url) {
        return Err("kafka_auth: only for kafka:// and kafkas:// destinations".into());
    }
    if !MECHANISMS.contains(&auth.mechanism.as_str()) {
        return Err("kafka_auth.mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into());
    }
    if auth.username.is_empty()
        || auth.username.len() > 256
        || auth.username.chars().any(char::is_control)
    {
        return Err("kafka_auth.username: 1-256 characters, no control characters".into());
    }
    let password = auth.password.expose();
    if password.is_empty() || password.len() > 1024 || password.chars().any(char::is_control) {
        return Err("kafka_auth.password: 1-1024 characters, no control characters".into());
    }
    Ok(())
}

fn parse_host_port(hp: &str) -> Result<(String, u16), UrlError> {
    const NEED: &str = "each broker must be host:port";
    let (host, port) = if let Some(v6) = hp.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or(UrlError::Kafka(NEED))?;
        let p = p.strip_prefix(':').ok_or(UrlError::Kafka(NEED))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UrlError::Kafka("bad IPv6 broker address"));
        }
        (format!("[{h}]"), p)
    } else {
        let (h, p) = hp.rsplit_once(':').ok_or(UrlError::Kafka(NEED))?;
        let legal = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
        if h.is_empty() || !h.chars().all(legal) {
            return Err(UrlError::Kafka("bad broker host name"));
        }
        (h.to_string(), p)
    };
    let port: u16 = port.parse().map_err(|_| UrlError::Kafka(NEED))?;
    if port == 0 {
        return Err(UrlError::Kafka(NEED));
    }
    Ok((host, port))
}

fn check_topic(topic: &str) -> Result<(), UrlError> {
    if topic.is_empty() {
        return Err(UrlError::Kafka("missing /topic"));
    }
    if topic.len() > MAX_TOPIC_LEN
        || topic == "."
        || topic == ".."
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(UrlError::Kafka(
            "topic must be 1-249 characters of A-Z a-z 0-9 . _ - (not . or ..)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_brokers_and_topic() {
        let u = KafkaUrl::parse("kafka://k1.example.com:9092,[2606:4700::1]:9093/terra.events-v1")
            .unwrap();
        assert_eq!(
            u.brokers,
            vec![
                ("k1.example.com".to_string(), 9092),
                ("[2606:4700::1]".to_string(), 9093)
            ]
        );
        assert_eq!(u.topic, "terra.events-v1");
        assert_eq!(
            u.bootstrap_servers(),
            "k1.example.com:9092,[2606:4700::1]:9093"
        );
        assert!(KafkaUrl::is_kafka("KAFKA://x:1/t"));
        assert!(!u.tls);
        assert_eq!(u.security_protocol(true), "sasl_plaintext");
        let tls = KafkaUrl::parse("KafkaS://k1.example.com:9093/t").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.security_protocol(false), "ssl");
        assert_eq!(tls.security_protocol(true), "sasl_ssl");
        assert!(KafkaUrl::parse("kafkass://k1.example.com:9093/t").is_err());
    }

    #[test]
    fn kafka_auth_rules() {
        use pulsegate_schema::Secret;
        let auth = |m: &str, u: &str, p: &str| KafkaAuth {
            mechanism: m.into(),
            username: u.into(),
            password: Secret::new(p),
        };
        let url = "kafka://b.example.com:9092/t";
        let check = |url, a: Option<&KafkaAuth>| check_kafka_settings(url, a, None);
        assert_eq!(check(url, None), Ok(()));
        for m in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            assert_eq!(check(url, Some(&auth(m, "u", "pw"))), Ok(()), "{m}");
        }
        assert!(check("https://x.example.com/", Some(&auth("PLAIN", "u", "pw"))).is_err());
        assert!(check(url, Some(&auth("GSSAPI", "u", "pw"))).is_err());
        assert!(check(url, Some(&auth("scram-sha-512", "u", "pw"))).is_err());
        assert!(check(url, Some(&auth("PLAIN", "", "pw"))).is_err());
        let e = check(url, Some(&auth("PLAIN", "u", "sec\nret"))).unwrap_err();
        assert!(!e.contains("sec"), "{e}");
        assert!(check(url, Some(&auth("PLAIN", "u", ""))).is_err());
    }

    #[test]
    fn ca_bundle_rules() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let tls = "kafkas://b.example.com:9093/t";
        assert_eq!(check_kafka_settings(tls, None, Some(pem)), Ok(()));
        assert!(check_kafka_settings("kafka://b.example.com:9092/t", None, Some(pem)).is_err());
        assert!(check_kafka_settings(tls, None, Some("not a certificate")).is_err());
        let huge = format!("{pem}{}", "A".repeat(MAX_CA_PEM));
        assert!(check_kafka_settings(tls, None, Some(&huge)).is_err());
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "kafka://",
            "kafka:///topic",
            "kafka://host:9092",
            "kafka://host:9092/",
            "kafka://host/topic",
            "kafka://host:0/topic",
            "kafka://host:99999/topic",
            "kafka://host:9092,/topic",
            "kafka://host:9092/to pic",
            "kafka://host:9092/a/b",
            "kafka://host:9092/..",
            "kafka://host:9092/topic?sasl.password=x",
            "kafka://user:pw@host:9092/topic",
            "kafka://[::1:9092/topic",
            "kafka://ho$t:9092/topic",
        ] {
            assert!(KafkaUrl::parse(bad).is_err(), "{bad} must be refused");
        }
        let long = format!("kafka://h:1/{}", "a".repeat(250));
        assert!(KafkaUrl::parse(&long).is_err());
        let ok = format!("kafka://h:1/{}", "a".repeat(249));
        assert!(KafkaUrl::parse(&ok).is_ok());
    }
}
