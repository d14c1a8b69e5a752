//! Withings end to end: the real binary, a mock of Withings' API (`POST` + bearer,
//! `{"status":0,"body":…}` envelopes) and its `requesttoken` endpoint serving the example
//! responses next to the normalizer, a customer sink. Withings does not sign
//! notifications: pulsegate checks a callback token (401), a source allow-list (403),
//! the form (400) and the subscribed applis (403).

use std::collections::HashMap;
use std::time::Duration;

use pulsegate_testkit::provider_api::{form_pairs, MockApi, TokenStyle};
use pulsegate_testkit::sink::{Behaviour, Sink};
use serde_json::Value;

use crate::support::{test_secret, verify_delivery, Pulsegate};

const TOKEN: &str = "wcb-5d1f9a3e7c";
const USERID: &str = "12345";

fn doc(text: &str) -> String {
    serde_json::from_str::<Value>(text).unwrap().to_string()
}

async fn notify(pg: &Pulsegate, query: &str, headers: &[(&str, &str)], form: &str) -> u16 {
    let mut req = reqwest::Client::new()
        .post(pg.url(&format!("{}{query}", pg.push_path("withings").await)))
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(form.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withings_end_to_end() {
    let api = MockApi::start().await;
    api.token_endpoint("/v2/oauth2", TokenStyle::Withings);
    api.accept_refresh_token("wi-refresh");
    // Withings answers HTTP 200 with status 401 for an invalid token; after the refresh
    // it still does here, so the first notification ends in `connection_error`.
    api.respond(
        "POST",
        "/measure",
        200,
        r#"{"status":401,"error":"XRequestID: Not provided invalid_token"}"#,
    );
    api.respond(
        "POST",
        "/v2/measure",
        200,
        &doc(include_str!(
            "../../../providers/src/withings/getactivity_example.json"
        )),
    );
    api.respond(
        "POST",
        "/v2/sleep",
        200,
        &doc(include_str!(
            "../../../providers/src/withings/sleep_summary_example.json"
        )),
    );

    let sink = Sink::start(Behaviour::Ok).await;
    let secret = test_secret(31);
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

[ingest.withings]
enabled = true
callback_token = "{TOKEN}"
allowed_ips = ["127.0.0.0/8", "::1"]
trust_forwarded_for = true

[normalizer.withings]
api_base = "{base}"
client_id = "wi-client"
client_secret = "wi-client-secret"
"#,
        url = sink.url(),
        base = api.base_url(),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;
    let client = reqwest::Client::new();

    // Withings' reachability check before registering the callback: HEAD (and GET) → 200.
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let url = pg.url(&format!("{}?token={TOKEN}", pg.push_path("withings").await));
        let r = client.request(method.clone(), url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{method}");
    }

    let user_id = pg
        .connect("withings", USERID, "stale-access", "wi-refresh")
        .await;
    let q = format!("?token={TOKEN}");
    let example = "userid=12345&appli=1&startdate=1594245000&enddate=1594250000";

    // Refused and not enqueued.
    assert_eq!(notify(&pg, "", &[], example).await, 401, "no token");
    assert_eq!(notify(&pg, "?token=guess", &[], example).await, 401);
    let outside = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(
        notify(&pg, &q, &outside, example).await,
        403,
        "not Withings"
    );
    assert_eq!(notify(&pg, &q, &[], "userid=abc&appli=1").await, 400);
    assert_eq!(
        notify(&pg, &q, &[], "appli=1&startdate=1&enddate=2").await,
        400
    );
    assert_eq!(
        notify(&pg, &q, &[], "userid=12345&appli=54&startdate=1&enddate=2").await,
        403,
        "appli not subscribed"
    );
    assert_eq!(pg.accepted("withings").await, 0.0, "nothing was enqueued");

    // 1. Weight, while Withings keeps answering status 401: one refresh, then
    //    `connection_error`.
    let first = "foo=bar&userid=12345&appli=1&startdate=1594240000&enddate=1594241000";
    let inside = [("x-forwarded-for", "127.0.0.1")];
    assert_eq!(notify(&pg, &q, &inside, first).await, 200);
    assert!(
        sink.wait_for(1, Duration::from_secs(20)).await,
        "{}",
        pg.logs()
    );
    // 2. Withings serves the measures again: weight + blood pressure, activity, sleep,
    //    then the user unlinks the application.
    api.respond(
        "POST",
        "/measure",
        200,
        &doc(include_str!(
            "../../../providers/src/withings/getmeas_example.json"
        )),
    );
    for form in [
        example,
        "userid=12345&appli=16&date=2020-07-08&deviceid=892359876fd8805ac45bab078c4828692f0276b1",
        "userid=12345&appli=44&startdate=1594159200&enddate=1594188000",
    ] {
        assert_eq!(notify(&pg, &q, &[], form).await, 200, "{form}");
    }
    // Delivered before the unlink: a deauthorization erases the user's data key, so
    // what is still queued then is never delivered (docs/ENCRYPTION.md).
    assert!(
        sink.wait_for(4, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    let unlink = "userid=12345&appli=46&action=unlink";
    assert_eq!(notify(&pg, &q, &[], unlink).await, 200, "{unlink}");
    assert_eq!(pg.accepted("withings").await, 5.0);
    assert!(
        sink.wait_for(5, Duration::from_secs(20)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.count(), 5);

    let mut by_type: HashMap<String, Value> = HashMap::new();
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = r.json();
        assert_eq!(v["user"]["user_id"], user_id.as_str());
        assert_eq!(v["user"]["provider"], "WITHINGS");
        let t = v["type"].as_str().unwrap().to_string();
        assert!(by_type.insert(t.clone(), v).is_none(), "one {t}");
    }
    assert_eq!(by_type["connection_error"]["status"], "warning");
    let body = &by_type["body"]["data"][0];
    assert_eq!(
        body["measurements_data"]["measurements"][0]["weight_kg"],
        65.75
    );
    assert_eq!(
        body["blood_pressure_data"]["blood_pressure_samples"][0]["systolic_bp"],
        128.0
    );
    let daily = &by_type["daily"]["data"][0];
    assert_eq!(daily["metadata"]["start_time"], "2020-07-08T00:00:00+00:00");
    assert_eq!(daily["distance_data"]["steps"], 8046);
    assert_eq!(daily["calories_data"]["total_burned_calories"], 2302);
    let sleep = &by_type["sleep"]["data"][0];
    assert_eq!(sleep["metadata"]["summary_id"], "2081804");
    assert_eq!(
        sleep["sleep_durations_data"]["asleep"]["duration_REM_sleep_state_seconds"],
        5760.0
    );
    assert_eq!(by_type["deauth"]["status"], "success");
    let (status, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{conn}");
    assert_eq!(conn["status"], "revoked");

    // One refresh: action=requesttoken, client credentials in the body.
    let grants = api.requests_to("/v2/oauth2");
    assert_eq!(grants.len(), 1);
    let form = form_pairs(std::str::from_utf8(&grants[0].body).unwrap());
    assert_eq!(form["action"], "requesttoken");
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "wi-refresh");
    assert_eq!(form["client_id"], "wi-client");
    assert_eq!(form["client_secret"], "wi-client-secret");
    // The data calls: POST forms with the bearer token (the stale one, then access-1).
    let meas = api.requests_to("/measure");
    assert_eq!(
        meas.len(),
        3,
        "401, retry after the refresh, then the weight"
    );
    assert_eq!(meas[0].bearer(), Some("stale-access"));
    assert_eq!(meas[1].bearer(), Some("access-1"));
    let last = form_pairs(std::str::from_utf8(&meas[2].body).unwrap());
    assert_eq!(last["action"], "getmeas");
    assert_eq!(last["startdate"], "1594245000");
    assert_eq!(last["enddate"], "1594250000");
    assert_eq!(last["category"], "1");
    let act = api.requests_to("/v2/measure");
    let f = form_pairs(std::str::from_utf8(&act[0].body).unwrap());
    assert_eq!(
        (
            f["action"].as_str(),
            f["startdateymd"].as_str(),
            f["enddateymd"].as_str()
        ),
        ("getactivity", "2020-07-08", "2020-07-08")
    );
    assert_eq!(act[0].bearer(), Some("access-1"));
    let sl = api.requests_to("/v2/sleep");
    let f = form_pairs(std::str::from_utf8(&sl[0].body).unwrap());
    assert_eq!(
        (
            f["action"].as_str(),
            f["startdateymd"].as_str(),
            f["enddateymd"].as_str()
        ),
        ("getsummary", "2020-07-07", "2020-07-08")
    );
}
