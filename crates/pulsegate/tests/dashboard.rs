//! The dashboard in a real browser: Debian's headless Chromium, driven through
//! chromedriver (W3C WebDriver, with fantoccini), against the real `pulsegate` binary,
//! a mock of Strava and a customer sink, all on 127.0.0.1.
//!
//! Chromium and chromedriver must be installed (`.ci/run` installs the Debian packages
//! `chromium` and `chromium-driver`); without them this test fails, it never skips.
//! `CHROMIUM_BIN` and `CHROMEDRIVER_BIN` override the paths.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

#[path = "dashboard/browser.rs"]
mod browser;
#[path = "dashboard/health.rs"]
mod health;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use browser::{eventually, Browser};
use fantoccini::Locator;
use pulsegate_testkit::sink::{Behaviour, Sink};
use pulsegate_testkit::strava::MockStrava;
use serde_json::{json, Value};
use support::*;

pub(crate) const DISPATCH: &str = r#"
[dispatcher]
timeout = "3s"
retry_schedule = ["200ms", "400ms"]
allow_private_networks = true
"#;

async fn integration_enabled(pg: &Pulsegate, provider: &str) -> bool {
    let (status, body) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/integrations/{provider}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["enabled"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_toggles_integrations_masks_secrets_and_replays_dead_letters() {
    let strava = MockStrava::start().await;
    strava.generate_missing(true);
    strava.set_token(1, "access-token-of-athlete-1");
    strava.set_refresh_token(1, "refresh-token-of-athlete-1");
    let sink = Sink::start(Behaviour::FailAlways).await;
    let secret = test_secret(42);
    // A second destination with a claim-check store (taking no event of this test).
    let claim_secret = "ClaimCheckSecretNeverShown42";
    let extra = format!(
        "{DISPATCH}[[destinations]]\nid = \"dead\"\nurl = \"{}\"\nsecret = \"{secret}\"\n\
         [[destinations]]\nid = \"pinged\"\nurl = \"{}\"\nsecret = \"{secret}\"\n\
         event_types = [\"nutrition\"]\n[destinations.claim_check]\n\
         url = \"s3://claims/pings?endpoint=http://127.0.0.1:9\"\naccess_key_id = \"AKIADASH\"\n\
         secret_access_key = \"{claim_secret}\"\nthreshold_bytes = 1000000\n",
        sink.url(),
        sink.url()
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    let pg = &pg;
    pg.connect_athlete(1, "access-token-of-athlete-1", "refresh-token-of-athlete-1")
        .await;

    // Three events: each fails three times (first attempt and two retries), then is
    // dead-lettered.
    let client = reqwest::Client::new();
    for id in [51_001u64, 51_002, 51_003] {
        let status = push(
            &client,
            pg.port,
            strava_event("activity", id, "create", 1, "{}"),
        )
        .await;
        assert_eq!(status, 200);
    }
    eventually("three dead letters", || async move {
        let (_, body) = pg
            .admin(
                reqwest::Method::GET,
                "/v1/admin/dead-letters?destination=dead",
                None,
            )
            .await;
        body["dead_letters"].as_array().map_or(0, Vec::len) == 3
    })
    .await;
    assert_eq!(sink.count(), 9, "three attempts for each of three events");
    let failed_ids: HashSet<String> = sink
        .received()
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    assert_eq!(failed_ids.len(), 3);

    let browser = Browser::start().await;
    let b = &browser;
    b.c().goto(&pg.admin_url("/dashboard")).await.unwrap();
    assert_eq!(b.c().title().await.unwrap(), "pulsegate");

    // A wrong token is refused and forgotten.
    b.c()
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys("not-the-token")
        .await
        .unwrap();
    b.click("#login-button").await;
    eventually("the refusal", || async move {
        b.text("#login-error").await.contains("refused")
    })
    .await;
    assert_eq!(
        b.js("return sessionStorage.length").await,
        json!(0),
        "a refused token is not kept"
    );

    b.c()
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(ADMIN_TOKEN)
        .await
        .unwrap();
    b.click("#login-button").await;
    b.wait_count("#integrations tbody tr[data-provider]", 11, false)
        .await;
    assert_eq!(
        b.js("return sessionStorage.getItem('pulsegate.adminToken')")
            .await,
        json!(ADMIN_TOKEN),
        "the token is kept for this tab"
    );

    // Integrations: one row per provider.
    let providers = b
        .js(
            "return [...document.querySelectorAll('#integrations tbody tr[data-provider]')]\
             .map(r => r.getAttribute('data-provider'))",
        )
        .await;
    let providers: HashSet<String> = serde_json::from_value(providers).unwrap();
    for p in pulsegate_schema::Provider::ALL {
        assert!(
            providers.contains(p.slug()),
            "{} missing: {providers:?}",
            p.slug()
        );
    }
    // Honest about receiving: Strava is configured and got the three pushes; a push with
    // a wrong path token is counted as refused; Oura is not configured here.
    let wrong = reqwest::Client::new()
        .post(pg.url("/v1/ingest/strava/not-the-token"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    b.refresh().await;
    let strava_row = "#integrations tbody tr[data-provider='strava']";
    assert_eq!(
        b.text(&format!("{strava_row} td[data-configured]")).await,
        "yes"
    );
    assert_ne!(
        b.text(&format!("{strava_row} td[data-last]")).await,
        "never"
    );
    assert!(b
        .text(&format!("{strava_row} td[data-refused]"))
        .await
        .starts_with("1 (last "));
    assert!(b
        .text("#integrations tbody tr[data-provider='oura'] td[data-configured]")
        .await
        .starts_with("no"));
    assert!(b
        .text("#integrations tbody tr[data-provider='dexcom']")
        .await
        .contains("polled"));
    let strava_toggle = "#integrations input[data-provider='strava']";
    assert_eq!(
        b.c()
            .find(Locator::Css(strava_toggle))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert!(integration_enabled(pg, "strava").await);

    // Strava off, through the page; the admin API agrees. Then on again.
    b.click(strava_toggle).await;
    eventually("strava disabled", || integration_enabled_is(pg, false)).await;
    assert!(b.text("#message").await.contains("strava disabled"));
    assert_eq!(
        b.c()
            .find(Locator::Css(strava_toggle))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("false")
    );
    b.click(strava_toggle).await;
    eventually("strava enabled again", || integration_enabled_is(pg, true)).await;

    // The destination's secret is masked; no token or secret is anywhere in the page.
    let shown = b
        .text("#destinations tr[data-destination='dead'] td[data-secret]")
        .await;
    assert!(
        shown.starts_with("whse") && shown.contains('…'),
        "masked: {shown}"
    );
    assert_ne!(shown, secret);
    assert!(b
        .text("#destinations tr[data-destination='dead']")
        .await
        .contains(&sink.url()));
    let connection = b.text("#connections tbody tr[data-user]").await;
    assert!(connection.contains("acce…"), "{connection}");
    let page = b.c().source().await.unwrap();
    let key = secret.trim_start_matches("whsec_");
    for hidden in [
        secret.as_str(),
        &key[..12],
        ADMIN_TOKEN,
        "access-token-of-athlete-1",
        "refresh-token-of-athlete-1",
        claim_secret,
    ] {
        assert!(!page.contains(hidden), "{hidden:?} is in the page");
    }
    // The claim-check store is shown with its threshold, its key never.
    let note = b
        .text("#destinations tr[data-destination='pinged'] [data-claim-check]")
        .await;
    assert!(
        note.contains("bodies over 1000000 bytes") && note.contains("s3://claims/pings"),
        "{note}"
    );

    // Dead letters, and the attempts that led to them.
    b.wait_count("#dead-letters [data-letters] tr[data-event]", 3, true)
        .await;
    assert_eq!(
        b.count("#dead-letters [data-summary] button[data-replay-destination='dead']")
            .await,
        1
    );
    assert_eq!(
        b.count("#deliveries tbody tr[data-outcome='dead_letter']")
            .await,
        3
    );
    assert_eq!(
        b.count("#deliveries tbody tr[data-outcome='retry']").await,
        6
    );
    assert!(b
        .text("#deliveries [data-scope]")
        .await
        .contains("this process"));

    // The destination recovers: replay one letter, then the rest of the destination's.
    sink.set_behaviour(Behaviour::Ok);
    let first_event = b
        .js("return document.querySelector('#dead-letters [data-letters] button[data-replay-event]')\
             .getAttribute('data-replay-event')")
        .await;
    let first_event = first_event.as_str().unwrap().to_string();
    b.click(&format!(
        "#dead-letters [data-letters] button[data-replay-event='{first_event}']"
    ))
    .await;
    assert!(
        sink.wait_for(10, Duration::from_secs(20)).await,
        "the replayed letter arrives: {}",
        sink.count()
    );
    eventually("the replay reported", || async move {
        b.text("#message").await.contains("1 replayed")
    })
    .await;
    b.click("#dead-letters [data-summary] button[data-replay-destination='dead']")
        .await;
    assert!(
        sink.wait_for(12, Duration::from_secs(20)).await,
        "the destination's letters arrive: {}",
        sink.count()
    );
    eventually("the destination's replay reported", || async move {
        b.text("#message")
            .await
            .contains("2 replayed, 1 already replayed")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replayed: Vec<_> = sink.received().into_iter().skip(9).collect();
    assert_eq!(replayed.len(), 3, "each letter replayed once");
    assert!(replayed.iter().all(|r| r.status == 200));
    let replayed_ids: HashSet<String> = replayed
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    assert_eq!(
        replayed_ids, failed_ids,
        "the same webhook-ids as the failures"
    );
    for r in &replayed {
        verify_delivery(&secret, &r.headers, &r.body).unwrap();
    }
    b.wait_count("#deliveries tbody tr[data-outcome='ok']", 3, true)
        .await;

    // One click resends a delivered event: it arrives once more, same webhook-id.
    let before = sink.received().len();
    b.click("#deliveries tbody tr[data-outcome='ok'] button[data-resend-event]")
        .await;
    eventually("the event resent", || async move {
        b.text("#message").await.contains("1 resent")
    })
    .await;
    let sink_ref = &sink;
    eventually("the resent event delivered", || async move {
        sink_ref.received().len() > before
    })
    .await;
    let again = sink
        .received()
        .last()
        .unwrap()
        .header("webhook-id")
        .map(str::to_string);
    assert!(again.is_some_and(|id| replayed_ids.contains(&id)));

    // The delivery history, searched from the page: every attempt to the destination,
    // failed ones included, each with its webhook-id.
    b.c()
        .find(Locator::Css("#history input[data-filter='destination']"))
        .await
        .unwrap()
        .send_keys("dead")
        .await
        .unwrap();
    // (Written in the background: search again until the last attempts are in.)
    eventually("the history shows every attempt", || async move {
        b.click("#history-search").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.count("#history tbody tr[data-outcome='ok']").await >= 4
            && b.count("#history tbody tr[data-outcome='dead_letter']")
                .await
                >= 3
    })
    .await;
    let ids = b
        .js(
            "return [...document.querySelectorAll('#history tbody tr[data-webhook-id]')]\
             .map(r => r.getAttribute('data-webhook-id'))",
        )
        .await;
    let ids: HashSet<String> = serde_json::from_value(ids).unwrap();
    assert_eq!(ids, failed_ids, "the same three webhook-ids throughout");
    // `DASHBOARD_SCREENSHOT=docs/screenshots/dashboard.png` keeps a picture for the docs.
    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        b.c().set_window_size(1400, 2900).await.unwrap();
        // The searches above scrolled down: the picture starts at the top.
        b.js("window.scrollTo(0, 0)").await;
        let png = b.c().screenshot().await.unwrap();
        std::fs::write(&path, png).unwrap();
    }

    // The destination's event types and providers are edited in place and apply live.
    b.click("button[data-edit-destination='dead']").await;
    b.click("tr[data-destination-editor='dead'] input[data-types-box='sleep']")
        .await;
    b.click("tr[data-destination-editor='dead'] input[data-providers-box='GARMIN']")
        .await;
    b.click("tr[data-destination-editor='dead'] input[data-ordered-box]")
        .await;
    b.click("button[data-save-destination='dead']").await;
    eventually("the destination's filters saved", || async move {
        let (_, d) = pg
            .admin(reqwest::Method::GET, "/v1/admin/destinations/dead", None)
            .await;
        d["providers"] == json!(["GARMIN"])
            && d["event_types"] == json!(["sleep"])
            && d["ordered"] == json!(true)
    })
    .await;
    eventually("the saved filters shown", || async move {
        b.text("#destinations tr[data-destination='dead']")
            .await
            .contains("GARMIN")
    })
    .await;
    // Saving a destination with a claim check from the editor keeps it, key included.
    let (_, before) = pg
        .admin(reqwest::Method::GET, "/v1/admin/destinations/pinged", None)
        .await;
    b.click("button[data-edit-destination='pinged']").await;
    b.click("tr[data-destination-editor='pinged'] input[data-types-box='sleep']")
        .await;
    b.click("button[data-save-destination='pinged']").await;
    eventually("the claim-checked destination saved", || async move {
        let (_, d) = pg
            .admin(reqwest::Method::GET, "/v1/admin/destinations/pinged", None)
            .await;
        d["event_types"] == json!(["sleep", "nutrition"])
    })
    .await;
    let (_, after) = pg
        .admin(reqwest::Method::GET, "/v1/admin/destinations/pinged", None)
        .await;
    assert_eq!(after["claim_check"], before["claim_check"], "{after}");
    assert_eq!(after["claim_check"]["access_key_id"], "AKIADASH");

    // Forgetting the token shows the sign-in form again.
    b.click("#logout").await;
    assert_eq!(b.js("return sessionStorage.length").await, json!(0));
    assert_eq!(
        b.js("return document.getElementById('panels').hidden")
            .await,
        json!(true)
    );

    browser.close().await;

    let logs = pg.logs();
    assert!(!logs.contains(ADMIN_TOKEN), "the admin token is not logged");
    assert!(!logs.contains(key), "the destination secret is not logged");
    assert!(
        !logs.contains(claim_secret),
        "the claim-check key is not logged"
    );
}

async fn integration_enabled_is(pg: &Pulsegate, want: bool) -> bool {
    integration_enabled(pg, "strava").await == want
}

/// Every operation openapi.json describes is served by the real binary (a request to
/// it is not answered "no such route" or 405), answers only documented statuses, and
/// its JSON answers match the documented schemas. The document needs no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served_as_documented() {
    let strava = MockStrava::start().await;
    let sink = Sink::start(Behaviour::Ok).await;
    let extra = format!(
        "{DISPATCH}[[destinations]]\nid = \"dest\"\nurl = \"{}\"\nsecret = \"{}\"\n",
        sink.url(),
        test_secret(3)
    );
    let pg = Pulsegate::start(&strava.base_url(), &extra).await;
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    // An SDK connection with a token, so that GETs of real ids answer 200.
    let apple = pg.connect("apple", "device-1", "", "").await;
    let (status, issued) = pg
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/connections/{apple}/sdk-tokens"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{issued}");

    let client = reqwest::Client::new();
    let resp = client
        .get(pg.admin_url("/v1/admin/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    let (mut checked, mut wrong) = (0, Vec::new());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            // GETs read real records; other methods get ids that do not exist, so
            // nothing is changed (and the empty bodies are refused).
            let get = method == "get";
            let concrete = path
                .replace("{provider}", "strava")
                .replace("{file}", "app.js")
                .replace("{user_id}", if get { &apple } else { "no-such-user" })
                .replace("{token_id}", "no-such-token")
                // A wrong path token: documented 404.
                .replace("{token}", "not-the-path-token")
                .replace("{dev_id}", "no-such-developer")
                .replace("{id}", if get { "dest" } else { "no-such-destination" });
            assert!(!concrete.contains('{'), "{concrete}");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Provider routes and OAuth callbacks are on the public listener, the rest
            // on the admin listener.
            let public = concrete.starts_with("/v1/ingest/") || concrete.starts_with("/v1/auth/");
            let url = if public {
                pg.url(&concrete)
            } else {
                pg.admin_url(&concrete)
            };
            let resp = client
                .request(m.clone(), url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let is_json = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let body = resp.text().await.unwrap_or_default();
            let what = format!("{m} {concrete} → {status}");
            assert_ne!(status, 405, "{what}: {body}");
            assert!(
                !(status == 404 && body.contains("no such route")),
                "{m} {path} is documented but not served"
            );
            checked += 1;
            let documented = &op["responses"][status.to_string()];
            if !documented.is_object() {
                wrong.push(format!("{what} is not documented: {body}"));
                continue;
            }
            let schema = resolve(&doc, documented).pointer("/content/application~1json/schema");
            if let (true, Some(schema)) = (is_json, schema) {
                let value: Value = serde_json::from_str(&body).unwrap();
                if let Err(e) = conforms(&doc, schema, &value, "$") {
                    wrong.push(format!("{what}: {e}\n{body}"));
                }
            }
        }
    }
    assert!(checked >= 30, "checked {checked} operations");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} resolves to nothing")),
        None => v,
    }
}

/// A JSON Schema check of what the documents use: `type`, `enum`, `properties`,
/// `required`, `additionalProperties`, `items`. A property the schema does not name
/// is an error, so an answer cannot drift from the document unnoticed.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    let actual = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let allowed = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !allowed {
        return Err(format!("{at}: {actual}, documented {types:?}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            return Err(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                if !m.contains_key(r) {
                    return Err(format!("{at}: required {r:?} missing"));
                }
            }
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, x) in m {
                let at = format!("{at}.{k}");
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(s), _) | (None, Some(s)) => conforms(doc, s, x, &at)?,
                    (None, None) if props.is_some() => {
                        return Err(format!("{at}: not in the document"))
                    }
                    (None, None) => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    conforms(doc, s, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A dispatch-only process records its own attempts and answers
/// `GET /v1/admin/deliveries` (token required) on its port, and no other admin route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_process_serves_its_own_recent_deliveries() {
    let strava = MockStrava::start().await;
    let pg = Pulsegate::start_role(&Backend::Embedded, "dispatch", &strava.base_url(), "").await;
    let client = reqwest::Client::new();
    let anonymous = client
        .get(pg.admin_url("/v1/admin/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, body) = pg
        .admin(reqwest::Method::GET, "/v1/admin/deliveries", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recording"], true, "{body}");
    assert_eq!(body["deliveries"], json!([]));
    for path in [
        "/v1/admin/destinations",
        "/v1/admin/openapi.json",
        "/dashboard",
    ] {
        let (status, body) = pg.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}
