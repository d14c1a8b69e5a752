//! The answers as text for a terminal (`--output table`): one line per attempt or resend.

use serde_json::Value;

use super::when::show;

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A search's attempts (`{"deliveries": […], "scanned"}`) or resend's results.
pub fn table(answer: &Value) -> String {
    if let Some(resends) = answer["resends"].as_array() {
        return resends
            .iter()
            .map(|r| {
                let more = if r["complete"] == false {
                    " (more remain: run again with a later --since)"
                } else {
                    ""
                };
                format!(
                    "{}: {} resent, {} not subscribed{more}",
                    text(&r["destination_id"]),
                    text(&r["resent"]),
                    text(&r["skipped_not_subscribed"])
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    let deliveries = answer["deliveries"].as_array().cloned().unwrap_or_default();
    if deliveries.is_empty() {
        return format!(
            "no deliveries found ({} history records scanned)",
            text(&answer["scanned"])
        );
    }
    let mut rows = vec![[
        "TIME",
        "DESTINATION",
        "TYPE",
        "ATTEMPT",
        "RESULT",
        "OUTCOME",
        "MS",
        "WEBHOOK-ID",
        "USER",
    ]
    .map(String::from)];
    for d in &deliveries {
        let result = match (&d["status"], &d["error_kind"]) {
            (Value::Number(s), _) => s.to_string(),
            (_, Value::String(k)) => k.clone(),
            _ => "-".into(),
        };
        rows.push([
            d["at_ms"].as_u64().map_or_else(|| "-".into(), show),
            text(&d["destination_id"]),
            text(&d["type"]),
            text(&d["attempt"]),
            result,
            text(&d["outcome"]),
            text(&d["latency_ms"]),
            text(&d["webhook_id"]),
            text(&d["user_id"]),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_and_resends_as_lines() {
        let t = table(&serde_json::json!({"deliveries": [
            {"at_ms": 1_796_551_200_000u64, "destination_id": "d1", "type": "sleep", "attempt": 2,
             "status": null, "error_kind": "timeout", "outcome": "retry", "latency_ms": 15000,
             "webhook_id": "msg_1", "user_id": "u1"}], "scanned": 9}));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("TIME"));
        assert!(lines[1].contains("2026-12-06T10:00:00.000Z") && lines[1].contains("timeout"));
        let none = table(&serde_json::json!({"deliveries": [], "scanned": 4}));
        assert_eq!(none, "no deliveries found (4 history records scanned)");
        let r = table(&serde_json::json!({"resends": [
            {"destination_id": "d1", "resent": 3, "skipped_not_subscribed": 1, "complete": false}]}));
        assert!(r.starts_with("d1: 3 resent, 1 not subscribed (more remain"));
    }
}
