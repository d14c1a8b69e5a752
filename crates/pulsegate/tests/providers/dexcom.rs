//! Dexcom end to end: the real binary polls a mock of Dexcom's API v3 (egvs answers in
//! Dexcom's documented shape) for a connected user and delivers signed `body` webhooks
//! to a customer sink. Then it is killed (SIGKILL: nothing flushed) and restarted on the
//! same data while new readings arrive: the new readings are delivered, the day already
//! delivered is not delivered again, and nothing is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{Days, NaiveDate, Utc};
use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const USER: &str = "5b329ebcfbf2f0ba7e49d4c5eb57775468f5ee657ac16fcde07e1fd08197b4c7";
const EGVS: &str = "/v3/users/self/egvs";

/// One EGV record as Dexcom documents it (a receiver's: times without offset, UTC).
fn egv(id: &str, day: NaiveDate, hms: &str, mg_per_dl: i64) -> Value {
    let at = format!("{}T{hms}", day.format("%Y-%m-%d"));
    json!({
        "recordId": id, "systemTime": at, "displayTime": at,
        "transmitterId": "8a1b2c3d4e5f60718293a4b5c6d7e8f9", "transmitterTicks": 2290150,
        "value": mg_per_dl, "status": null, "trend": "flat", "trendRate": 0.1,
        "unit": "mg/dL", "rateUnit": "mg/dL/min", "displayDevice": "receiver",
        "transmitterGeneration": "g6",
    })
}

fn answer(records: &[Value]) -> Value {
    json!({"recordType": "egv", "recordVersion": "3.0", "userId": USER, "records": records})
}

/// The sink's deliveries by webhook id (a redelivery after the kill repeats its id).
fn by_id(sink: &Sink, secret: &str) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in sink.received() {
        verify_delivery(secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let id = r.header("webhook-id").unwrap().to_string();
        out.entry(id).or_default().push(r.json());
    }
    out
}

/// (UTC day start, sample times) of each distinct delivery.
fn days(deliveries: &BTreeMap<String, Vec<Value>>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = deliveries
        .values()
        .map(|copies| {
            assert!(
                copies.iter().all(|c| c == &copies[0]),
                "a redelivery carries the same payload"
            );
            let body = &copies[0]["data"][0];
            let samples = body["glucose_data"]["blood_glucose_samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["timestamp"].as_str().unwrap().to_string())
                .collect();
            (
                body["metadata"]["start_time"].as_str().unwrap().to_string(),
                samples,
            )
        })
        .collect();
    out.sort();
    out
}

async fn settle(sink: &Sink, n: usize, pg: &Pulsegate) {
    assert!(
        sink.wait_for(n, Duration::from_secs(30)).await,
        "delivered {} of {n}: {}",
        sink.count(),
        pg.logs()
    );
    // Several more polls: nothing unchanged is sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dexcom_is_polled_and_a_restart_neither_repeats_nor_skips() {
    let today = Utc::now().date_naive();
    let yesterday = today.checked_sub_days(Days::new(1)).unwrap();
    let api = MockApi::start().await;
    api.token_endpoint("/v2/oauth2/token", TokenStyle::Standard);
    api.accept_token("dex-access");
    let mut records = vec![
        egv("r1", yesterday, "10:00:00", 110),
        egv("r2", yesterday, "10:05:00", 190),
        egv("r3", yesterday, "10:10:00", 150),
    ];
    // Query ignored: every call gets every record; pulsegate keeps the days it asked.
    api.json("GET", EGVS, answer(&records));

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(11);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms"]
allow_private_networks = true

[[destinations]]
id = "customer"
url = "{url}"
secret = "{secret}"
event_types = []

[normalizer.dexcom]
api_base = "{base}"
token_url = "{base}/v2/oauth2/token"
client_id = "dexcom-client"
client_secret = "dexcom-secret"

[normalizer.poll]
interval = "1s"
check_every = "100ms"
lookback_days = 1
open_days = 1
retry_backoff = "200ms"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let mut pg = Pulsegate::start(&api.base_url(), &extra).await;
    let user_id = pg
        .connect("dexcom", USER, "dex-access", "dex-refresh")
        .await;

    settle(&sink, 1, &pg).await;
    let first = by_id(&sink, &secret);
    assert_eq!(first.len(), 1, "one day with readings: {first:#?}");
    let payload = &first.values().next().unwrap()[0];
    assert_eq!(payload["type"], "body");
    assert_eq!(payload["user"]["user_id"], user_id.as_str());
    assert_eq!(payload["user"]["provider"], "DEXCOM");
    let body = &payload["data"][0];
    let y = yesterday.format("%Y-%m-%d").to_string();
    assert_eq!(
        body["metadata"]["start_time"],
        format!("{y}T00:00:00+00:00")
    );
    let glucose = &body["glucose_data"];
    assert_eq!(
        glucose["blood_glucose_samples"],
        json!([
            {"timestamp": format!("{y}T10:00:00+00:00"), "blood_glucose_mg_per_dL": 110},
            {"timestamp": format!("{y}T10:05:00+00:00"), "blood_glucose_mg_per_dL": 190},
            {"timestamp": format!("{y}T10:10:00+00:00"), "blood_glucose_mg_per_dL": 150},
        ])
    );
    assert_eq!(glucose["day_avg_blood_glucose_mg_per_dL"], 150.0);
    assert_eq!(glucose["time_in_range"], 66.7);
    // Every poll asked Dexcom with the connection's token, for whole UTC days.
    let calls = api.requests_to(EGVS);
    assert!(calls.len() >= 2, "polled repeatedly: {}", calls.len());
    for c in &calls {
        assert_eq!(c.bearer(), Some("dex-access"));
        let q = c.query.as_deref().unwrap();
        assert!(
            q.starts_with(&format!("startDate={y}T00%3A00%3A00&endDate=")),
            "{q}"
        );
    }

    // SIGKILL; meanwhile the sensor uploads two readings of today.
    pg.kill9();
    let t = today.format("%Y-%m-%d").to_string();
    records.push(egv("r4", today, "00:00:30", 95));
    records.push(egv("r5", today, "00:05:30", 250));
    api.json("GET", EGVS, answer(&records));
    pg.spawn().await;

    settle(&sink, first.values().map(Vec::len).sum::<usize>() + 1, &pg).await;
    let all = by_id(&sink, &secret);
    assert_eq!(
        days(&all),
        [
            (
                format!("{y}T00:00:00+00:00"),
                vec![
                    format!("{y}T10:00:00+00:00"),
                    format!("{y}T10:05:00+00:00"),
                    format!("{y}T10:10:00+00:00"),
                ]
            ),
            (
                format!("{t}T00:00:00+00:00"),
                vec![format!("{t}T00:00:30+00:00"), format!("{t}T00:05:30+00:00"),]
            ),
        ],
        "yesterday once, today's new readings once: {}",
        pg.logs()
    );
    let ids: BTreeSet<&String> = all.keys().collect();
    assert!(
        first.keys().all(|id| ids.contains(id)),
        "yesterday's webhook is the one delivered before the kill"
    );
}
