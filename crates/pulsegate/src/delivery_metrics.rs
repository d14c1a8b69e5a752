//! The admin's [`DeliveryMetrics`] port read from the Prometheus recorder itself: the
//! text `/metrics` serves, parsed back. The dashboard's health panel so shows exactly
//! the numbers Prometheus scrapes, with no second set of counters on the delivery path.

use std::collections::HashMap;

use metrics_exporter_prometheus::PrometheusHandle;
use pulsegate_admin::{DeliveryMetrics, DeliveryReading};

pub(crate) struct RecorderMetrics(pub(crate) PrometheusHandle);

impl DeliveryMetrics for RecorderMetrics {
    fn read(&self) -> HashMap<String, DeliveryReading> {
        readings(&self.0.render())
    }
}

/// Per destination, the dispatcher's series in a Prometheus text exposition.
pub(crate) fn readings(exposition: &str) -> HashMap<String, DeliveryReading> {
    let mut out: HashMap<String, DeliveryReading> = HashMap::new();
    for (name, labels, value) in exposition.lines().filter_map(sample) {
        let label = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let count = value.max(0.0) as u64;
        if name == "pulsegate_consumer_lag" {
            // The destination's own group on `events` (retry tiers are shared).
            let Some(id) = label("group").and_then(|g| g.strip_prefix("dispatch.")) else {
                continue;
            };
            if label("topic") != Some("events") {
                continue;
            }
            let r = out.entry(id.to_string()).or_default();
            r.waiting = Some(r.waiting.unwrap_or(0) + count);
            continue;
        }
        let Some(destination) = label("destination") else {
            continue;
        };
        let r = || -> DeliveryReading { DeliveryReading::default() };
        match name.as_str() {
            "pulsegate_deliveries_total" => {
                let r = out.entry(destination.to_string()).or_insert_with(r);
                match label("outcome") {
                    Some("delivered") => r.delivered += count,
                    Some(other) => *r.failed.entry(other.to_string()).or_default() += count,
                    None => {}
                }
            }
            "pulsegate_delivery_seconds_bucket" => {
                let le = match label("le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(v) => match v.parse::<f64>() {
                        Ok(le) => le,
                        Err(_) => continue,
                    },
                    None => continue,
                };
                let r = out.entry(destination.to_string()).or_insert_with(r);
                r.latency_buckets.push((le, count));
            }
            "pulsegate_retries_scheduled_total" => {
                out.entry(destination.to_string())
                    .or_insert_with(r)
                    .retries_scheduled += count;
            }
            "pulsegate_dead_letters_total" => {
                out.entry(destination.to_string())
                    .or_insert_with(r)
                    .dead_letters += count;
            }
            "pulsegate_destination_breaker_open" => {
                out.entry(destination.to_string())
                    .or_insert_with(r)
                    .breaker_open = value > 0.0;
            }
            _ => {}
        }
    }
    for r in out.values_mut() {
        r.latency_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// A sample's labels, in the order written.
type Labels = Vec<(String, String)>;

/// One sample line: name, labels, value (`None` for comments and anything unparsable).
fn sample(line: &str) -> Option<(String, Labels, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((name, labels, value))
}

/// `k="v",k2="v2"}` (escapes `\\`, `\"`, `\n`) → the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(tail) = s.strip_prefix('}') {
            return Some((labels, tail));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        let mut chars = s[eq + 1..].strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((key, value));
        s = &s[eq + 1..][end + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# TYPE pulsegate_deliveries_total counter
pulsegate_deliveries_total{destination="good",outcome="delivered"} 12
pulsegate_deliveries_total{destination="good",outcome="timeout"} 0
pulsegate_deliveries_total{destination="bad \"one\"",outcome="failed"} 9
pulsegate_deliveries_total{destination="bad \"one\"",outcome="delivered"} 0
# TYPE pulsegate_delivery_seconds histogram
pulsegate_delivery_seconds_bucket{destination="good",le="0.001"} 2
pulsegate_delivery_seconds_bucket{destination="good",le="+Inf"} 12
pulsegate_delivery_seconds_bucket{destination="good",le="0.01"} 10
pulsegate_delivery_seconds_sum{destination="good"} 0.05
pulsegate_delivery_seconds_count{destination="good"} 12
pulsegate_retries_scheduled_total{destination="bad \"one\"",tier="0"} 3
pulsegate_retries_scheduled_total{destination="bad \"one\"",tier="1"} 3
pulsegate_dead_letters_total{destination="bad \"one\""} 3
pulsegate_destination_breaker_open{destination="bad \"one\""} 1
pulsegate_consumer_lag{topic="events",group="dispatch.good",partition="0"} 4
pulsegate_consumer_lag{topic="events",group="dispatch.good",partition="1"} 1
pulsegate_consumer_lag{topic="retry_0",group="dispatch.retry.0",partition="0"} 8
pulsegate_consumer_lag{topic="raw",group="normalizer",partition="0"} 8
pulsegate_up{role="serve"} 1
"#;

    #[test]
    fn reads_the_dispatcher_series_per_destination() {
        let r = readings(EXPOSITION);
        assert_eq!(r.len(), 2, "{r:?}");
        let good = &r["good"];
        assert_eq!(good.delivered, 12);
        assert_eq!(good.failed_total(), 0);
        assert_eq!(
            good.latency_buckets,
            vec![(0.001, 2), (0.01, 10), (f64::INFINITY, 12)],
            "sorted by bound"
        );
        assert_eq!(good.waiting, Some(5), "all partitions of its own group");
        assert!(!good.breaker_open);
        let bad = &r["bad \"one\""];
        assert_eq!((bad.delivered, bad.failed["failed"]), (0, 9));
        assert_eq!((bad.retries_scheduled, bad.dead_letters), (6, 3));
        assert!(bad.breaker_open);
        assert_eq!(bad.waiting, None);
    }

    #[test]
    fn odd_lines_are_skipped() {
        for line in [
            "",
            "# HELP x y",
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "x{a=\"1\"} nope",
        ] {
            assert!(sample(line).is_none(), "{line:?}");
        }
        assert_eq!(
            sample(r#"m{a="x\\y\n",b=""} 2.5"#),
            Some((
                "m".to_string(),
                vec![("a".into(), "x\\y\n".into()), ("b".into(), String::new())],
                2.5
            ))
        );
        assert_eq!(sample("plain 3").map(|s| s.2), Some(3.0));
    }
}
