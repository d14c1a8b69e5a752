use std::process::Command;
use std::sync::Mutex;

use async_trait::async_trait;
use pulsegate_schema::{NormalizedEvent, RawNotification, Secret, PAYLOAD_VERSION};
use serde_json::json;

use super::notices::{rate_limit_hit, window_events};
use super::*;
use crate::providers::range::testing::env;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn conn() -> Connection {
    Connection {
        user_id: "3f0c6a2e-0000-4000-8000-000000000001".into(),
        provider: Provider::Strava,
        provider_user_id: "134815".into(),
        reference_id: Some("customer-1".into()),
        access_token: Secret::new("tok-secret-value"),
        refresh_token: Secret::new("ref-secret-value"),
        expires_at: 0,
        scopes: Some("activity:read_all".into()),
        status: ConnectionStatus::Active,
        created_at_ms: 1,
        dev_id: None,
        metadata: Default::default(),
    }
}

fn task(index: u32, total: u32) -> BackfillTask {
    BackfillTask {
        reference: "ref-1".into(),
        user_id: conn().user_id,
        provider: Provider::Strava,
        data_type: EventType::Activity,
        start_date: "2024-01-01".into(),
        end_date: "2024-03-01".into(),
        window_start: "2024-01-01".into(),
        window_end: "2024-01-08".into(),
        index,
        total,
        with_samples: true,
        requested_at_ms: 1_700_000_000_000,
    }
}

#[test]
fn windows_cover_the_range_once_in_order() {
    let w = windows(d("2024-01-01"), d("2024-01-20"), 7);
    assert_eq!(
        w,
        vec![
            (d("2024-01-01"), d("2024-01-08")),
            (d("2024-01-08"), d("2024-01-15")),
            (d("2024-01-15"), d("2024-01-20")),
        ]
    );
    // Exact multiples, one day, leap years, month ends.
    assert_eq!(windows(d("2024-01-01"), d("2024-01-15"), 7).len(), 2);
    assert_eq!(
        windows(d("2024-02-28"), d("2024-02-29"), 30),
        vec![(d("2024-02-28"), d("2024-02-29"))]
    );
    let year = windows(d("2024-01-01"), d("2025-01-01"), 30);
    assert_eq!(year.len(), 13, "366 days in 30-day windows");
    assert_eq!(year.last().unwrap(), &(d("2024-12-26"), d("2025-01-01")));
    // Contiguous, no gap, no overlap.
    for pair in year.windows(2) {
        assert_eq!(pair[0].1, pair[1].0);
    }
    // Empty and reversed ranges have no window; 0 days per window means 1.
    assert!(windows(d("2024-01-02"), d("2024-01-02"), 7).is_empty());
    assert!(windows(d("2024-01-03"), d("2024-01-02"), 7).is_empty());
    assert_eq!(windows(d("2024-01-01"), d("2024-01-04"), 0).len(), 3);
}

proptest::proptest! {
    #[test]
    fn windows_partition_any_range(start in 0u32..5000, len in 0u32..2000, days in 1u32..60) {
        let s = d("2015-01-01") + chrono::Duration::days(i64::from(start));
        let e = s + chrono::Duration::days(i64::from(len));
        let w = windows(s, e, days);
        let total: i64 = w.iter().map(|(a, b)| (*b - *a).num_days()).sum();
        proptest::prop_assert_eq!(total, i64::from(len));
        proptest::prop_assert_eq!(w.len() as u32, len.div_ceil(days));
        for (a, b) in &w {
            proptest::prop_assert!(a < b && (*b - *a).num_days() <= i64::from(days));
        }
        if let (Some(first), Some(last)) = (w.first(), w.last()) {
            proptest::prop_assert_eq!(first.0, s);
            proptest::prop_assert_eq!(last.1, e);
        }
    }
}

#[test]
fn samples_are_removed_everywhere_and_nothing_else() {
    let mut v = json!({
        "metadata": {"summary_id": "1"},
        "heart_rate_data": {
            "summary": {"avg_hr_bpm": 120.0},
            "detailed": {"hr_samples": [{"bpm": 1}], "hrv_samples_rmssd": [], "hrv_samples_sdnn": []}
        },
        "MET_data": {"MET_samples": [{"level": 1.0}], "num_high_intensity_minutes": 3.0},
        "device_data": {"samples": [1], "name": "x"},
        "laps": [{"samples_count": 3}],
        "sleep_durations_data": {"hypnogram_samples": [{"level": 1}]}
    });
    strip_samples(&mut v);
    assert_eq!(
        v,
        json!({
            "metadata": {"summary_id": "1"},
            "heart_rate_data": {"summary": {"avg_hr_bpm": 120.0}, "detailed": {}},
            "MET_data": {"num_high_intensity_minutes": 3.0},
            "device_data": {"name": "x"},
            "laps": [{"samples_count": 3}],
            "sleep_durations_data": {}
        })
    );
}

#[test]
fn window_events_have_stable_ids_and_the_sending_notice_first() {
    let cfg = BackfillConfig::default();
    let c = conn();
    let first = window_events(&c, &task(0, 9), &cfg, vec![json!({"a": 1})]).unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].event_type, EventType::LargeRequestSending);
    assert_eq!(first[1].event_type, EventType::Activity);
    assert!(first
        .iter()
        .all(|e| e.reference == "ref-1" && e.user_id == c.user_id));
    // Processed again (after a crash): the same ids, even if the provider's answer
    // changed in between.
    let again = window_events(&c, &task(0, 9), &cfg, vec![json!({"a": 2})]).unwrap();
    assert_eq!(first[0].event_id, again[0].event_id);
    assert_eq!(first[1].event_id, again[1].event_id);
    // Other windows: no notice, other ids; small requests: no notice either.
    let second = window_events(&c, &task(1, 9), &cfg, vec![]).unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].event_id, first[1].event_id);
    let small = window_events(&c, &task(0, 4), &cfg, vec![]).unwrap();
    assert_eq!(small.len(), 1);
    let body: Value = serde_json::from_str(second[0].body.get()).unwrap();
    assert_eq!(body["type"], "activity");
    assert_eq!(body["data"], json!([]));
    assert_eq!(body["version"], PAYLOAD_VERSION);
    // Another request for the same window is another delivery.
    let mut other = task(1, 9);
    other.reference = "ref-2".into();
    let other = window_events(&c, &other, &cfg, vec![]).unwrap();
    assert_ne!(other[0].event_id, second[0].event_id);
    // No token anywhere.
    for e in first.iter().chain(&second) {
        let text = serde_json::to_string(e).unwrap();
        assert!(!text.contains("secret-value"), "{text}");
    }
}

/// Terra's notice models: the bodies validate (strict) and carry no field the model
/// does not declare (the models allow extras, so unknown keys are looked for too).
const CHECK_PY: &str = r#"
import importlib, json, sys
failures = 0
for file, module, cls_name in json.load(open(sys.argv[1])):
    cls = getattr(importlib.import_module(f"terra.types.{module}"), cls_name)
    data = json.load(open(file))
    problems = []
    known = set(cls.model_fields)
    problems += [f"unknown field {k}" for k in data if k not in known]
    user_fields = set(importlib.import_module("terra.types.terra_user").TerraUser.model_fields)
    # `created_at`: in Terra's payloads and docs, not in terra-python 1.1.0's TerraUser.
    user_fields.add("created_at")
    problems += [f"unknown user field {k}" for k in data.get("user", {}) if k not in user_fields]
    missing = [n for n, f in cls.model_fields.items() if f.is_required() and n not in data]
    problems += [f"missing required field {n}" for n in missing]
    try:
        inst = cls.model_validate(data, strict=True)
        problems += [f"pydantic extra {k}" for k in (inst.model_extra or {})]
    except Exception as e:
        problems.append(f"validation error: {e}")
    print(("ok" if not problems else "FAILED") + f": {cls_name}")
    for p in problems:
        print("    " + p)
    failures += bool(problems)
sys.exit(1 if failures else 0)
"#;

#[test]
fn notices_validate_against_terra_python() {
    // terra-python is the contract: without it this test fails, it never skips.
    let pythonpath = std::env::var("PULSEGATE_TERRA_PYTHONPATH").unwrap_or_default();
    let importable = Command::new("python3")
        .env("PYTHONPATH", &pythonpath)
        .args(["-c", "import terra, pydantic"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        importable,
        "terra-python is not importable: `python3 -m pip install terra-python==1.1.0`"
    );
    let c = conn();
    let t = task(0, 9);
    let processing = large_request_processing(&c, &t).unwrap();
    let sending = &window_events(&c, &t, &BackfillConfig::default(), vec![]).unwrap()[0];
    let hit = rate_limit_hit(&c, &t, 1_704_068_100_000).unwrap();
    let hit_body: Value = serde_json::from_str(hit.body.get()).unwrap();
    assert_eq!(hit_body["retrying_at"], "2024-01-01T00:15:00.000000+00:00");
    assert_eq!(hit_body["start_date"], "2024-01-01T00:00:00.000000+00:00");
    assert_eq!(hit_body["end_date"], "2024-03-01T00:00:00.000000+00:00");
    let sending_body: Value = serde_json::from_str(sending.body.get()).unwrap();
    assert_eq!(sending_body["expected_payloads"], 9);
    assert_eq!(sending_body["reference"], "ref-1");

    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            &processing,
            "large_request_processing_event",
            "LargeRequestProcessingEvent",
        ),
        (
            sending,
            "large_request_sending_event",
            "LargeRequestSendingEvent",
        ),
        (&hit, "rate_limit_hit_event", "RateLimitHitEvent"),
    ];
    let mut manifest = Vec::new();
    for (i, (e, module, class)) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}.json"));
        std::fs::write(&path, e.body.get()).unwrap();
        manifest.push(json!([path, module, class]));
    }
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let script = dir.path().join("check.py");
    std::fs::write(&script, CHECK_PY).unwrap();
    let out = Command::new("python3")
        .env("PYTHONPATH", &pythonpath)
        .arg(&script)
        .arg(&manifest_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "terra-python rejected the notices:\n{stdout}{stderr}"
    );
    assert_eq!(stdout.matches("ok: ").count(), 3, "{stdout}");
}

/// A provider that records the ranges it is asked for and answers one object with
/// samples.
#[derive(Default)]
struct Fake {
    asked: Mutex<Vec<(NaiveDate, NaiveDate)>>,
}

#[async_trait]
impl ProviderNormalizer for Fake {
    fn provider(&self) -> Provider {
        Provider::Polar
    }
    fn dedupe_key(&self, _raw: &RawNotification) -> Option<String> {
        None
    }
    async fn normalize(
        &self,
        _raw: &RawNotification,
        _conn: &Connection,
        _ctx: &Ctx,
    ) -> Result<Vec<NormalizedEvent>, NormalizeError> {
        Err(NormalizeError::dropped("test", "not used"))
    }
    fn range_support(&self, _t: EventType) -> Option<RangeSupport> {
        Some(RangeSupport {
            window_days: 7,
            history_days: Some(28),
        })
    }
    async fn fetch_range(
        &self,
        _conn: &Connection,
        _ctx: &Ctx,
        _t: EventType,
        start: NaiveDate,
        end: NaiveDate,
        _with_samples: bool,
    ) -> Result<RangeData, NormalizeError> {
        self.asked.lock().unwrap().push((start, end));
        Ok(RangeData::Objects(vec![json!({
            "metadata": {"summary_id": "x"},
            "heart_rate_data": {"detailed": {"hr_samples": [{"bpm": 60}]}}
        })]))
    }
}

#[tokio::test]
async fn history_is_clamped_and_samples_removed_unless_asked_for() {
    let e = env(Provider::Polar, "475", "tok").await;
    let fake = Fake::default();
    let support = fake.range_support(EventType::Sleep).unwrap();
    let today = d("2024-06-30");
    let window = |a: &str, b: &str, samples: bool| {
        fetch_window(
            &fake,
            &e.conn,
            &e.ctx,
            support,
            EventType::Sleep,
            (d(a), d(b)),
            samples,
            today,
        )
    };
    // Entirely older than Polar keeps (28 days before 2024-06-30 is 2024-06-02): no call.
    match window("2024-05-01", "2024-06-02", false).await.unwrap() {
        RangeData::Objects(o) => assert!(o.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(fake.asked.lock().unwrap().is_empty());
    // Straddling the horizon: only the days kept are asked for.
    match window("2024-05-28", "2024-06-04", false).await.unwrap() {
        RangeData::Objects(o) => {
            assert_eq!(o[0]["heart_rate_data"]["detailed"], json!({}));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.asked.lock().unwrap().last(),
        Some(&(d("2024-06-02"), d("2024-06-04")))
    );
    // with_samples keeps them.
    match window("2024-06-20", "2024-06-27", true).await.unwrap() {
        RangeData::Objects(o) => {
            assert_eq!(
                o[0]["heart_rate_data"]["detailed"]["hr_samples"][0]["bpm"],
                60
            );
        }
        other => panic!("{other:?}"),
    }
}
