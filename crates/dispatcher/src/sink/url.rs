//! `kafka://host:port[,host:port…]/topic`: a destination that is a customer-owned Kafka
//! topic.

use pulsegate_schema::KafkaAuth;

use crate::ssrf::UrlError;

/// The URL scheme of Kafka destinations.
pub const KAFKA_SCHEME: &str = "kafka://";
/// Kafka's longest legal topic name.
const MAX_TOPIC_LEN: usize = 249;

/// A parsed `kafka://` destination URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaUrl {
    /// Bootstrap brokers as `(host, port)`; an IPv6 host keeps its brackets.
    pub brokers: Vec<(String, u16)>,
    pub topic: String,
}

impl KafkaUrl {
    /// True if `url` names a Kafka destination (whether or not it is valid).
    pub fn is_kafka(url: &str) -> bool {
        url.get(..KAFKA_SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(KAFKA_SCHEME))
    }

    /// Parses `kafka://host:port[,host:port…]/topic`. No user info, query or fragment:
    /// client secrets never go into a URL (URLs are shown by the admin API).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        if !Self::is_kafka(url) {
            return Err(UrlError::Invalid);
        }
        let rest = &url[KAFKA_SCHEME.len()..];
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
}

/// Checks a destination's Kafka credentials: only with a `kafka://` URL, mechanism
/// `PLAIN`, a username and a password. The message never echoes the password.
pub fn check_kafka_auth(url: &str, auth: Option<&KafkaAuth>) -> Result<(), String> {
    let Some(auth) = auth else {
        return Ok(());
    };
    if !KafkaUrl::is_kafka(url) {
        return Err("kafka_auth: only for kafka:// destinations".into());
    }
    if auth.mechanism != "PLAIN" {
        return Err("kafka_auth.mechanism: only PLAIN is supported".into());
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
        assert_eq!(check_kafka_auth(url, None), Ok(()));
        assert_eq!(
            check_kafka_auth(url, Some(&auth("PLAIN", "u", "pw"))),
            Ok(())
        );
        assert!(
            check_kafka_auth("https://x.example.com/", Some(&auth("PLAIN", "u", "pw"))).is_err()
        );
        assert!(check_kafka_auth(url, Some(&auth("SCRAM-SHA-512", "u", "pw"))).is_err());
        assert!(check_kafka_auth(url, Some(&auth("PLAIN", "", "pw"))).is_err());
        let e = check_kafka_auth(url, Some(&auth("PLAIN", "u", "sec\nret"))).unwrap_err();
        assert!(!e.contains("sec"), "{e}");
        assert!(check_kafka_auth(url, Some(&auth("PLAIN", "u", ""))).is_err());
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
