//! Google Health end to end: the real binary, the Google Health mock (testkit) serving
//! the research fixtures as the API and Google's token endpoint, a customer sink.
//! Connect through the OAuth flow (PKCE, offline access, granted scopes and the legacy
//! Fitbit id kept), answer Google's two verification requests, push the signed fixture
//! batch (its signature made by Python's `cryptography` with the test key), then more
//! notifications signed here with `ring` — independently of pulsegate's verifier. Forged,
//! tampered, unsigned and replayed pushes get 401 and nothing is enqueued. A user who
//! revokes the application in their Google account gets `deauth` at the next fetch.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use pulsegate_testkit::google_health::GoogleHealthMock;
use pulsegate_testkit::provider_api::form_pairs;
use pulsegate_testkit::sink::{Behaviour, Sink};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};

use crate::support::{test_secret, verify_delivery, Pulsegate};

const AUTHORIZATION: &str = "Bearer e2e-google-health-endpoint-secret-9c41";
const HEALTH_USER: &str = "7391827465019283746";
const KEY_ID: u32 = 1_743_186_402;
const STATE_SECRET: &str = "google-health-e2e-state-secret";
const SCOPES: &str = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly \
    https://www.googleapis.com/auth/googlehealth.sleep.readonly \
    https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly \
    https://www.googleapis.com/auth/googlehealth.settings.readonly";

macro_rules! ingest_fixture {
    ($f:literal) => {
        include_str!(concat!(
            "../../../providers/src/google_health/verify_fixtures/",
            $f
        ))
    };
}
macro_rules! api_fixture {
    ($f:literal) => {
        include_str!(concat!(
            "../../../providers/src/google_health/fixtures/",
            $f
        ))
    };
}

fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The research's test key (it signed `notification_batch_mixed.json`).
fn key() -> EcdsaKeyPair {
    let pem = ingest_fixture!("test_signing_key.pem");
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &SystemRandom::new()).unwrap()
}

/// Tink's header value: Base64(`0x01` ‖ key id, big-endian ‖ DER ECDSA signature).
fn sign(body: &str) -> String {
    let sig = key().sign(&SystemRandom::new(), body.as_bytes()).unwrap();
    let mut out = vec![0x01];
    out.extend_from_slice(&KEY_ID.to_be_bytes());
    out.extend_from_slice(sig.as_ref());
    base64::engine::general_purpose::STANDARD.encode(out)
}

async fn push(pg: &Pulsegate, auth: Option<&str>, sig: Option<&str>, body: &str) -> u16 {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    if let Some(s) = sig {
        headers.push(("google-health-api-signature", s));
    }
    pg.push_raw("google_health", &headers, body.to_string())
        .await
        .0
}

async fn scripted() -> GoogleHealthMock {
    let m = GoogleHealthMock::start().await;
    m.identity(doc(api_fixture!("identity.json")))
        .settings(doc(api_fixture!("settings.json")))
        .granted_scopes(SCOPES);
    for (t, f) in [
        ("steps", api_fixture!("daily_rollup_steps.json")),
        ("distance", api_fixture!("daily_rollup_distance.json")),
        ("floors", api_fixture!("daily_rollup_floors.json")),
        ("altitude", api_fixture!("daily_rollup_altitude.json")),
        (
            "total-calories",
            api_fixture!("daily_rollup_total_calories.json"),
        ),
        (
            "active-energy-burned",
            api_fixture!("daily_rollup_active_energy_burned.json"),
        ),
        (
            "active-minutes",
            api_fixture!("daily_rollup_active_minutes.json"),
        ),
        (
            "sedentary-period",
            api_fixture!("daily_rollup_sedentary_period.json"),
        ),
        ("heart-rate", api_fixture!("daily_rollup_heart_rate.json")),
        (
            "time-in-heart-rate-zone",
            api_fixture!("daily_rollup_time_in_heart_rate_zone.json"),
        ),
    ] {
        m.rollup(t, doc(f));
    }
    for (t, f) in [
        (
            "daily-resting-heart-rate",
            api_fixture!("daily_resting_heart_rate_list.json"),
        ),
        (
            "daily-heart-rate-variability",
            api_fixture!("daily_heart_rate_variability_list.json"),
        ),
        (
            "daily-oxygen-saturation",
            api_fixture!("daily_oxygen_saturation_list.json"),
        ),
        ("daily-vo2-max", api_fixture!("daily_vo2_max_list.json")),
        (
            "daily-respiratory-rate",
            api_fixture!("daily_respiratory_rate_list.json"),
        ),
        (
            "daily-sleep-temperature-derivations",
            api_fixture!("daily_sleep_temperature_derivations_list.json"),
        ),
        (
            "respiratory-rate-sleep-summary",
            api_fixture!("respiratory_rate_sleep_summary_list.json"),
        ),
        ("sleep", api_fixture!("sleep_list.json")),
        ("exercise", api_fixture!("exercise_list.json")),
        ("weight", api_fixture!("weight_list.json")),
        ("body-fat", api_fixture!("body_fat_list.json")),
        ("height", api_fixture!("height_list.json")),
        (
            "heart-rate-variability",
            api_fixture!("heart_rate_variability_list.json"),
        ),
        (
            "oxygen-saturation",
            api_fixture!("oxygen_saturation_list.json"),
        ),
    ] {
        m.list(t, vec![doc(f)]);
    }
    m
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn query_of(url: &str) -> HashMap<String, String> {
    form_pairs(url.split_once('?').map(|(_, q)| q).unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_health_end_to_end() {
    let api = scripted().await;
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

[connect]
public_url = "https://pulsegate.example"
state_secret = "{STATE_SECRET}"

[connect.google_health]
authorize_url = "{base}/o/oauth2/v2/auth"
token_url = "{base}/token"
api_base = "{base}"

[ingest.google_health]
authorization = "{AUTHORIZATION}"
keyset_file = "{keyset}"

[normalizer.google_health]
api_base = "{base}"
token_url = "{base}/token"
client_id = "e2e-client.apps.googleusercontent.com"
client_secret = "e2e-google-client-secret"
"#,
        url = sink.url(),
        base = api.base_url(),
        keyset = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../providers/src/google_health/verify_fixtures/test_webhooks_public_keyset.json"
        ),
    );
    let pg = Pulsegate::start(&api.base_url(), &extra).await;

    // 1. Google's subscriber verification: with the secret 201, without it 401.
    let verification = ingest_fixture!("notification_verification.json");
    assert_eq!(
        push(&pg, Some(AUTHORIZATION), None, verification).await,
        201
    );
    assert_eq!(push(&pg, None, None, verification).await, 401);
    assert_eq!(
        push(&pg, Some("Bearer guess"), None, verification).await,
        401
    );
    assert_eq!(pg.accepted("google_health").await, 0.0);

    // 2. The user connects with their Google account.
    let (status, started) = pg
        .admin(
            reqwest::Method::POST,
            "/v1/admin/auth/google_health",
            Some(json!({"reference_id": "customer-7", "auth_success_redirect_url": "https://app.example/ok"})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let user_id = started["user_id"].as_str().unwrap().to_string();
    let b = browser();
    let start = started["auth_url"]
        .as_str()
        .unwrap()
        .strip_prefix("https://pulsegate.example")
        .unwrap()
        .to_string();
    let resp = b.get(pg.url(&start)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let authorize = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(authorize.starts_with(&format!("{}/o/oauth2/v2/auth?", api.base_url())));
    let q = query_of(&authorize);
    assert_eq!(q["client_id"], "e2e-client.apps.googleusercontent.com");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["include_granted_scopes"], "true");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    for scope in [
        "googlehealth.activity_and_fitness.readonly",
        "googlehealth.health_metrics_and_measurements.readonly",
        "googlehealth.sleep.readonly",
    ] {
        assert!(
            q["scope"]
                .split(' ')
                .any(|s| s == format!("https://www.googleapis.com/auth/{scope}")),
            "{scope} in {}",
            q["scope"]
        );
    }
    assert_eq!(
        q["redirect_uri"],
        "https://pulsegate.example/v1/auth/google_health/callback"
    );
    let callback = pg.url(&format!(
        "/v1/auth/google_health/callback?state={}&code=4%2F0Ab3-e2e-code",
        q["state"]
    ));
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302, "{}", pg.logs());
    let grants = api.requests_to("/token");
    assert_eq!(grants.len(), 1);
    let form = form_pairs(std::str::from_utf8(&grants[0].body).unwrap());
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_id"], "e2e-client.apps.googleusercontent.com");
    assert_eq!(form["client_secret"], "e2e-google-client-secret");
    assert_eq!(form["code_verifier"].len(), 43, "PKCE");
    let (status, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(conn["provider"], "GOOGLE_HEALTH");
    assert_eq!(
        conn["provider_user_id"], HEALTH_USER,
        "Identity.healthUserId"
    );
    assert_eq!(
        conn["scopes"], SCOPES,
        "the granted scopes, as Google reported them"
    );
    assert_eq!(conn["metadata"]["legacy_user_id"], "X1Y2Z3");

    // 3. Refused with 401, nothing enqueued: tampered, wrong or no secret, unsigned,
    //    signed by another key, signature of another body.
    let batch = ingest_fixture!("notification_batch_mixed.json");
    let good = ingest_fixture!("notification_batch_mixed.signature.txt").trim();
    let tampered = batch.replace("\"weight\"", "\"height\"");
    let other_key = {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut out = vec![0x01];
        out.extend_from_slice(&KEY_ID.to_be_bytes());
        out.extend_from_slice(k.sign(&rng, batch.as_bytes()).unwrap().as_ref());
        base64::engine::general_purpose::STANDARD.encode(out)
    };
    let of_other_body = sign("[]");
    for (what, auth, sig, body) in [
        (
            "tampered",
            Some(AUTHORIZATION),
            Some(good),
            tampered.as_str(),
        ),
        ("wrong secret", Some("Bearer nope"), Some(good), batch),
        ("no secret", None, Some(good), batch),
        ("unsigned", Some(AUTHORIZATION), None, batch),
        (
            "another key",
            Some(AUTHORIZATION),
            Some(other_key.as_str()),
            batch,
        ),
        (
            "another body",
            Some(AUTHORIZATION),
            Some(of_other_body.as_str()),
            batch,
        ),
    ] {
        assert_eq!(push(&pg, auth, sig, body).await, 401, "{what}");
    }
    assert_eq!(
        pg.accepted("google_health").await,
        0.0,
        "nothing was enqueued"
    );

    // 4. The genuine batch: 204; the same again (a replay): 401.
    assert_eq!(push(&pg, Some(AUTHORIZATION), Some(good), batch).await, 204);
    assert_eq!(push(&pg, Some(AUTHORIZATION), Some(good), batch).await, 401);
    assert_eq!(pg.accepted("google_health").await, 1.0);

    // auth + daily + 2 sleeps (the list holds a nap) + body + the notified run.
    assert!(
        sink.wait_for(6, Duration::from_secs(30)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(sink.count(), 6);
    let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
    for r in sink.received() {
        verify_delivery(&secret, &r.headers, &r.body).unwrap_or_else(|e| panic!("{e}"));
        let v = r.json();
        assert_eq!(v["user"]["user_id"], user_id.as_str());
        assert_eq!(v["user"]["provider"], "GOOGLE_HEALTH");
        by_type
            .entry(v["type"].as_str().unwrap().to_string())
            .or_default()
            .push(v);
    }
    let count = |t: &str| by_type.get(t).map_or(0, Vec::len);
    assert_eq!(
        (
            count("auth"),
            count("daily"),
            count("sleep"),
            count("body"),
            count("activity")
        ),
        (1, 1, 2, 1, 1)
    );
    let daily = &by_type["daily"][0]["data"][0];
    assert_eq!(daily["metadata"]["start_time"], "2026-11-10T00:00:00-08:00");
    assert_eq!(daily["distance_data"]["steps"], 10432);
    assert_eq!(daily["heart_rate_data"]["summary"]["resting_hr_bpm"], 57.0);
    let run = &by_type["activity"][0]["data"][0];
    assert_eq!(run["metadata"]["summary_id"], "2026443605080188808");
    assert_eq!(run["distance_data"]["summary"]["distance_meters"], 8021);
    let body = &by_type["body"][0]["data"][0];
    assert_eq!(
        body["measurements_data"]["measurements"][0]["weight_kg"],
        78.45
    );
    let main = by_type["sleep"]
        .iter()
        .map(|s| &s["data"][0])
        .find(|s| s["metadata"]["is_nap"] == false)
        .unwrap();
    assert_eq!(
        main["sleep_durations_data"]["asleep"]["duration_deep_sleep_state_seconds"],
        3900.0
    );
    // The API was called with the connection's token, never the customer's secret.
    let rollups = api.requests_to("/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp");
    assert_eq!(rollups.len(), 1);
    assert_eq!(rollups[0].bearer(), Some("ya29.mock-access-1"));

    // 5. The user removes the application in their Google account. No push says so;
    //    the next fetch does: 401, one refresh, `invalid_grant` → deauth.
    api.revoke_all();
    let next = r#"[{"data": {"version": "1", "clientProvidedSubscriptionName": "pulsegate-prod",
        "healthUserId": "7391827465019283746", "operation": "UPSERT", "dataType": "steps",
        "intervals": [{"physicalTimeInterval": {"startTime": "2026-11-11T17:00:00Z", "endTime": "2026-11-11T17:10:00Z"},
        "civilIso8601TimeInterval": {"startTime": "2026-11-11T09:00:00", "endTime": "2026-11-11T09:10:00"}}]}}]"#;
    assert_eq!(
        push(&pg, Some(AUTHORIZATION), Some(&sign(next)), next).await,
        204
    );
    assert!(
        sink.wait_for(7, Duration::from_secs(30)).await,
        "delivered {}: {}",
        sink.count(),
        pg.logs()
    );
    let deauth = sink.received().last().unwrap().json();
    assert_eq!(deauth["type"], "deauth");
    assert_eq!(deauth["status"], "success");
    assert_eq!(deauth["user"]["user_id"], user_id.as_str());
    let (_, conn) = pg
        .admin(
            reqwest::Method::GET,
            &format!("/v1/admin/connections/{user_id}"),
            None,
        )
        .await;
    assert_eq!(conn["status"], "revoked");
    let refreshes: Vec<_> = api
        .requests_to("/token")
        .into_iter()
        .filter(|r| {
            std::str::from_utf8(&r.body)
                .unwrap()
                .contains("grant_type=refresh_token")
        })
        .collect();
    assert_eq!(
        refreshes.len(),
        1,
        "one refresh, then the connection is revoked"
    );

    // A notification for a revoked connection is counted and dropped, nothing sent.
    let later = next.replace("2026-11-11T17:10:00Z", "2026-11-11T17:20:00Z");
    assert_eq!(
        push(&pg, Some(AUTHORIZATION), Some(&sign(&later)), &later).await,
        204
    );
    // Counted once handled (however long that takes here); by then nothing was sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pg
        .metric("pulsegate_normalizer_dropped_total{provider=\"google_health\",reason=\"revoked\"")
        .await
        < 1.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked connection's notification was never counted as dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sink.count(), 7);
}
