//! Garmin end to end: the real binary, a mock of Garmin's API (ping callbacks and the
//! OAuth2 token endpoint), a customer sink. Garmin signs nothing: requests carry the
//! application's client id in `garmin-client-id`.

use std::time::Duration;

use pulsegate_testkit::provider_api::{MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const CLIENT_ID: &str = "garmin-test-client-id";
const USER: &str = "4aacafe82427c251df9c9592d0c06768";
const PUSH: &str = include_str!("../../../providers/src/garmin/push_example.json");
const TOKEN_PATH: &str = "/di-oauth2-service/oauth/token";

async fn push(pg: &Pulsegate, client_id: Option<&str>, body: &str) -> u16 {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(c) = client_id {
        headers.push(("garmin-client-id", c));
    }
    pg.push_raw("garmin", &headers, body.to_string()).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garmin_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint(TOKEN_PATH, TokenStyle::Standard);
    api.accept_refresh_token("garmin-refresh");
    // Only issued tokens are valid: the stored one gets 401, then a refresh.
    api.accept_token("never-stored");
    let mut pulled: Value = serde_json::from_str(PUSH).unwrap();
    let mut pulled_daily = pulled["dailies"][0].take();
    pulled_daily["summaryId"] = json!("PULLED_DAILY");
    pulled_daily["steps"] = json!(9999);
    api.json("GET", "/wellness-api/rest/dailies", json!([pulled_daily]));
    // What the user grants now: permission changes are read here, not from the push.
    api.json(
        "GET",
        "/wellness-api/rest/user/permissions",
        json!(["ACTIVITY_EXPORT", "HEALTH_EXPORT"]),
    );

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(42);
    let extra = format!(
        r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms"]
allow_private_networks = true
[ingest.garmin]
client_id = "{CLIENT_ID}"
[normalizer.garmin]
api_base = "{base}"
token_url = "{base}{TOKEN_PATH}"
client_id = "{CLIENT_ID}"
client_secret = "garmin-test-client-secret"
request_timeout = "3s"
[[destinations]]
id = "customer"
url = "{url}"
secret = "{secret}"
event_types = []
"#,
        base = api.base_url(),
        url = sink.url()
    );
    let pg = Pulsegate::start("http://127.0.0.1:9", &extra).await;
    let user_id = pg
        .connect("garmin", USER, "garmin-stale-token", "garmin-refresh")
        .await;

    // No handshake.
    let get = reqwest::get(pg.url(&pg.push_path("garmin").await))
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    // Missing or wrong client id: 401, nothing enqueued.
    assert_eq!(push(&pg, None, PUSH).await, 401);
    assert_eq!(push(&pg, Some("someone-else"), PUSH).await, 401);
    assert_eq!(push(&pg, Some(&CLIENT_ID.to_uppercase()), PUSH).await, 401);
    assert_eq!(push(&pg, Some(CLIENT_ID), "{not json").await, 400);
    assert_eq!(pg.accepted("garmin").await, 0.0);

    // The push (larger than the global 4 KiB body limit: Garmin has its own), with a
    // record of a user nobody connected mixed in.
    let mut body: Value = serde_json::from_str(PUSH).unwrap();
    body["dailies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"userId": "not-connected", "summaryId": "x", "startTimeInSeconds": 1}));
    // Epochs (not mapped to Terra) ride along and are ignored.
    body["epochs"] = (0..40)
        .map(|i| {
            json!({"userId": USER, "summaryId": format!("epoch-{i}"), "activityType": "WALKING",
                   "steps": 100 + i, "durationInSeconds": 900, "startTimeInSeconds": 1768295700 + i * 900})
        })
        .collect();
    let body = body.to_string();
    assert!(body.len() > 4096);
    assert_eq!(push(&pg, Some(CLIENT_ID), &body).await, 200);

    // A ping for the dailies: pulled with a refreshed token.
    let ping = json!({"dailies": [{
        "userId": USER,
        "callbackURL": format!(
            "{}/wellness-api/rest/dailies?uploadStartTimeInSeconds=1452470400&uploadEndTimeInSeconds=1452556800&token=XYZ",
            api.base_url()
        ),
    }]})
    .to_string();
    assert_eq!(push(&pg, Some(CLIENT_ID), &ping).await, 200);
    // A ping whose callback points elsewhere: never fetched.
    let ssrf = json!({"dailies": [{
        "userId": USER,
        "callbackURL": "http://127.0.0.1:9/wellness-api/rest/dailies?token=1",
    }]})
    .to_string();
    assert_eq!(push(&pg, Some(CLIENT_ID), &ssrf).await, 200);

    // 5 pushed summaries + 1 pulled daily.
    assert!(
        sink.wait_for(6, Duration::from_secs(20)).await,
        "{} delivered; {}",
        sink.count(),
        pg.logs()
    );

    // Redeliveries of the push deliver nothing again: the same bytes are skipped whole
    // (the notification's key is its stored body), the same content spaced and ordered
    // otherwise is parsed and each event skipped by its id (from the record's canonical
    // form). Same user, so both are handled before the pushes below.
    let dropped = |reason: &str| {
        format!("pulsegate_normalizer_dropped_total{{provider=\"garmin\",reason=\"{reason}\"}}")
    };
    assert_eq!(push(&pg, Some(CLIENT_ID), &body).await, 200);
    let reordered: Value = serde_json::from_str(&body).unwrap();
    let respaced = serde_json::to_string_pretty(&reordered).unwrap();
    assert_ne!(respaced, body);
    assert_eq!(push(&pg, Some(CLIENT_ID), &respaced).await, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg.metric(&dropped("duplicate")).await < 1.0
        || pg.metric(&dropped("duplicate_event")).await < 1.0
    {
        assert!(std::time::Instant::now() < deadline, "{}", pg.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Permissions change (the push claims more than Garmin says: Garmin wins), then
    // deregistration (after the user withdrew the app at Garmin).
    let perms = json!({"userPermissionsChange": [{
        "userId": USER, "summaryId": "perm-1",
        "permissions": ["ACTIVITY_EXPORT", "HEALTH_EXPORT", "WORKOUT_IMPORT"],
        "changeTimeInSeconds": 1700000000
    }]})
    .to_string();
    assert_eq!(push(&pg, Some(CLIENT_ID), &perms).await, 200);
    assert!(
        sink.wait_for(7, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
    api.revoke_all();
    let dereg = json!({"deregistrations": [{"userId": USER}]}).to_string();
    assert_eq!(push(&pg, Some(CLIENT_ID), &dereg).await, 200);
    assert!(
        sink.wait_for(8, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let received = sink.received();
    assert_eq!(received.len(), 8);
    let mut bodies: Vec<Value> = Vec::new();
    for r in &received {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let b = r.json();
        assert_eq!(b["user"]["user_id"], user_id.as_str());
        assert_eq!(b["user"]["provider"], "GARMIN");
        bodies.push(b);
    }
    let of = |t: &str| -> Vec<&Value> { bodies.iter().filter(|b| b["type"] == t).collect() };
    let activity = &of("activity")[0]["data"][0];
    assert_eq!(activity["metadata"]["summary_id"], "5001968355");
    assert_eq!(
        activity["metadata"]["start_time"],
        "2017-12-02T10:02:06-07:00"
    );
    assert_eq!(
        activity["distance_data"]["summary"]["distance_meters"],
        5099
    );
    assert_eq!(activity["heart_rate_data"]["summary"]["avg_hr_bpm"], 148.0);
    let dailies = of("daily");
    assert_eq!(dailies.len(), 2);
    let steps: Vec<i64> = dailies
        .iter()
        .map(|d| d["data"][0]["distance_data"]["steps"].as_i64().unwrap())
        .collect();
    assert!(steps.contains(&4210) && steps.contains(&9999), "{steps:?}");
    let sleep = &of("sleep")[0]["data"][0];
    assert_eq!(sleep["scores"]["sleep_score"], 87.0);
    let bodies_ = of("body");
    assert_eq!(bodies_.len(), 2, "bodyComps and userMetrics");
    assert!(bodies_
        .iter()
        .any(|b| b["data"][0]["measurements_data"]["measurements"][0]["weight_kg"] == 75.45));
    assert!(bodies_
        .iter()
        .any(|b| b["data"][0]["oxygen_data"]["vo2max_ml_per_min_per_kg"] == 48.0));
    let perm = of("permission_change")[0];
    assert_eq!(perm["scopes_added"], "ACTIVITY_EXPORT HEALTH_EXPORT");
    assert_eq!(perm["status"], "warning");
    let deauth = of("deauth")[0];
    assert_eq!(deauth["status"], "success");

    // The ping was fetched with the refreshed token; the refresh sent the client
    // credentials in the form body.
    let pulls = api.requests_to("/wellness-api/rest/dailies");
    assert_eq!(pulls.len(), 2, "one 401, one retry after the refresh");
    assert_eq!(pulls[0].bearer(), Some("garmin-stale-token"));
    assert_eq!(pulls[1].bearer(), Some("access-1"));
    assert_eq!(
        pulls[1].query.as_deref().map(|q| q.contains("token=XYZ")),
        Some(true)
    );
    let refresh = api.requests_to(TOKEN_PATH);
    // The ping's refresh, then the refused one while confirming the deregistration.
    assert_eq!(refresh.len(), 2);
    assert_eq!(
        api.requests_to("/wellness-api/rest/user/permissions").len(),
        2,
        "once for the permission change, once (401, then a refused refresh) for the deregistration"
    );
    let form = String::from_utf8(refresh[0].body.to_vec()).unwrap();
    assert!(form.contains("grant_type=refresh_token"), "{form}");
    assert!(form.contains(&format!("client_id={CLIENT_ID}")), "{form}");
    assert!(
        form.contains("client_secret=garmin-test-client-secret"),
        "{form}"
    );
    assert_eq!(
        pg.metric(
            "pulsegate_normalizer_dropped_total{provider=\"garmin\",reason=\"forbidden_url\""
        )
        .await,
        1.0
    );
    // Push, ping, off-site ping, two redeliveries, permissions, deregistration.
    assert_eq!(pg.accepted("garmin").await, 7.0);

    // Revoked: later data for the user is dropped.
    assert_eq!(push(&pg, Some(CLIENT_ID), PUSH).await, 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.count(), 8);
}
