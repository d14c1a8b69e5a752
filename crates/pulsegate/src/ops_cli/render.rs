//! The ops commands' answers as text for a terminal (`--output table`).

use serde_json::Value;

use crate::deliveries_cli::when::show;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn time(v: &Value) -> String {
    v.as_u64().map_or_else(|| "-".into(), show)
}

/// A list of names, or `all` for an empty one (no filter).
fn list_or_all(v: &Value) -> String {
    match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(text).collect::<Vec<_>>().join(","),
        _ => "all".into(),
    }
}

/// At most `n` characters (a long error in a table line).
fn clip(s: String, n: usize) -> String {
    if s.chars().count() <= n {
        return s;
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    all.extend(rows);
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            all.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    all.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn dead_letters(answer: &Value) -> String {
    let letters = answer["dead_letters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if letters.is_empty() {
        return "no dead letters".into();
    }
    let rows = letters
        .iter()
        .map(|l| {
            vec![
                time(&l["failed_at_ms"]),
                text(&l["destination_id"]),
                text(&l["type"]),
                text(&l["attempts"]),
                text(&l["event_id"]),
                text(&l["user_id"]),
                clip(text(&l["last_error"]), 60),
            ]
        })
        .collect();
    table(
        &[
            "FAILED AT",
            "DESTINATION",
            "TYPE",
            "ATTEMPTS",
            "EVENT-ID",
            "USER",
            "LAST ERROR",
        ],
        rows,
    )
}

pub fn replay(answer: &Value) -> String {
    if answer["matched"] == 0 {
        return "no dead letter matched".into();
    }
    format!(
        "{} matched: {} replayed, {} already replayed before",
        text(&answer["matched"]),
        text(&answer["replayed"]),
        text(&answer["already_replayed"])
    )
}

pub fn connections(answer: &Value) -> String {
    let all = answer["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if all.is_empty() {
        return "no connections".into();
    }
    let rows = all
        .iter()
        .map(|c| {
            vec![
                text(&c["user_id"]),
                text(&c["provider"]),
                text(&c["provider_user_id"]),
                text(&c["reference_id"]),
                text(&c["status"]),
                time(&c["created_at_ms"]),
                text(&c["dev_id"]),
            ]
        })
        .collect();
    table(
        &[
            "USER-ID",
            "PROVIDER",
            "PROVIDER-USER-ID",
            "REFERENCE",
            "STATUS",
            "CREATED",
            "DEV-ID",
        ],
        rows,
    )
}

/// One object as `key: value` lines.
pub fn fields(answer: &Value) -> String {
    let Some(map) = answer.as_object() else {
        return text(answer);
    };
    let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0) + 1;
    map.iter()
        .map(|(k, v)| {
            let key = format!("{k}:");
            let value = if k.ends_with("_ms") { time(v) } else { text(v) };
            format!("{key:<width$} {value}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn destinations(answer: &Value) -> String {
    let all = answer["destinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if all.is_empty() {
        return "no destinations".into();
    }
    let rows = all
        .iter()
        .map(|d| {
            let enabled = match (&d["enabled"], &d["disabled_reason"], &d["failing_since_ms"]) {
                (Value::Bool(false), Value::String(r), _) => {
                    format!("no ({})", clip(r.clone(), 40))
                }
                (Value::Bool(false), _, _) => "no".into(),
                (_, _, Value::Number(_)) => {
                    format!("yes (failing since {})", time(&d["failing_since_ms"]))
                }
                _ => "yes".into(),
            };
            vec![
                text(&d["id"]),
                enabled,
                text(&d["url"]),
                text(&d["secret"]),
                list_or_all(&d["event_types"]),
                list_or_all(&d["providers"]),
            ]
        })
        .collect();
    table(
        &["ID", "ENABLED", "URL", "SECRET", "EVENT TYPES", "PROVIDERS"],
        rows,
    )
}

/// One line per partition and consumer group, and one `all` line per group (sums).
pub fn topics(answer: &Value) -> String {
    let all = answer["topics"].as_array().cloned().unwrap_or_default();
    if all.is_empty() {
        return "no topics".into();
    }
    let mut rows = Vec::new();
    for t in &all {
        let name = text(&t["name"]);
        let parts = t["partitions"].as_array().cloned().unwrap_or_default();
        let groups = t["groups"].as_array().cloned().unwrap_or_default();
        if groups.is_empty() {
            for p in &parts {
                rows.push(vec![
                    name.clone(),
                    text(&p["partition"]),
                    text(&p["end_offset"]),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]);
            }
            continue;
        }
        for g in &groups {
            let group = text(&g["group"]);
            let committed = g["partitions"].as_array().cloned().unwrap_or_default();
            for (p, c) in parts.iter().zip(&committed) {
                rows.push(vec![
                    name.clone(),
                    text(&p["partition"]),
                    text(&p["end_offset"]),
                    group.clone(),
                    text(&c["committed_offset"]),
                    text(&c["lag"]),
                ]);
            }
            let committed_total: Option<u64> = committed
                .iter()
                .map(|c| c["committed_offset"].as_u64())
                .sum();
            rows.push(vec![
                name.clone(),
                "all".into(),
                text(&t["end_offset_total"]),
                group,
                committed_total.map_or_else(|| "-".into(), |c| c.to_string()),
                text(&g["lag"]),
            ]);
        }
    }
    let bus = text(&answer["bus"]);
    format!(
        "bus: {bus}\n{}",
        table(
            &["TOPIC", "PARTITION", "END", "GROUP", "COMMITTED", "LAG"],
            rows
        )
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn topics_as_partition_lines_and_group_sums() {
        let t = topics(&json!({"bus": "embedded", "topics": [
            {"name": "events", "end_offset_total": 5,
             "partitions": [{"partition": 0, "end_offset": 2}, {"partition": 1, "end_offset": 3}],
             "groups": [{"group": "dispatch.a", "lag": 1, "partitions": [
                 {"partition": 0, "committed_offset": 2, "lag": 0},
                 {"partition": 1, "committed_offset": 2, "lag": 1}]}]},
            {"name": "dead_letters", "end_offset_total": 0,
             "partitions": [{"partition": 0, "end_offset": 0}], "groups": []}]}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "bus: embedded");
        assert!(lines[1].starts_with("TOPIC"));
        let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            cells(lines[3]),
            ["events", "1", "3", "dispatch.a", "2", "1"]
        );
        assert_eq!(
            cells(lines[4]),
            ["events", "all", "5", "dispatch.a", "4", "1"]
        );
        assert_eq!(cells(lines[5]), ["dead_letters", "0", "0", "-", "-", "-"]);
    }

    #[test]
    fn lists_and_empty_answers() {
        assert_eq!(
            dead_letters(&json!({"dead_letters": []})),
            "no dead letters"
        );
        let d = destinations(&json!({"destinations": [
            {"id": "a", "enabled": false, "disabled_reason": "gone", "url": "https://x",
             "secret": "whse…(38)", "event_types": [], "providers": ["GARMIN"]}]}));
        let line = d.lines().nth(1).unwrap();
        assert!(
            line.starts_with("a ") && line.contains(" no (gone) ") && line.contains(" all "),
            "{d}"
        );
        assert!(line.ends_with("GARMIN"), "{d}");
        assert_eq!(
            replay(&json!({"matched": 3, "replayed": 2, "already_replayed": 1})),
            "3 matched: 2 replayed, 1 already replayed before"
        );
        let f = fields(&json!({"user_id": "u1", "created_at_ms": 1_796_551_200_000u64}));
        assert!(f.contains("created_at_ms: 2026-12-06T10:00:00.000Z"), "{f}");
    }
}
