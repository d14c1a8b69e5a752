//! The registry's own checks: one plugin per provider, facts that agree with each other
//! and with what each provider's code does.

use super::*;
use pulsegate_provider::credentials::validate_credential;
use pulsegate_provider::{PushMode, PUSH_MAX_BODY_BYTES, SDK_MAX_BODY_BYTES};
use pulsegate_schema::{EventType, RawNotification};

#[test]
fn registry_is_complete() {
    assert_eq!(LISTED.len(), Provider::ALL.len(), "one plugin per provider");
    for p in Provider::ALL {
        assert_eq!(descriptor(p).id, p);
        assert_eq!(plugin(p).descriptor().id, p);
    }
}

fn registry(
    cfg: &NormalizerSettings,
    limiters: &Limiters,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    normalizers(&cfg.providers, &cfg.retry, limiters)
}

#[derive(Default)]
struct NormalizerSettings {
    providers: ProviderTables,
    retry: RetryConfig,
}

#[test]
fn facts_agree_with_each_other() {
    for d in descriptors() {
        let p = d.id;
        assert!(!d.display_name.is_empty(), "{p:?}");
        assert!(d.icon.starts_with("https://"), "{p:?}");
        // The on-device sources upload through the SDK and have no OAuth; every
        // other provider has both an OAuth application and credentials.
        assert_eq!(p.is_sdk(), d.push == PushMode::SdkUpload, "{p:?}");
        assert_eq!(p.is_sdk(), d.oauth.is_none(), "{p:?}");
        assert_eq!(p.is_sdk(), d.credentials.is_empty(), "{p:?}");
        for t in d.writes.post.iter().chain(d.writes.delete) {
            assert!(d.data_types.contains(t), "{p:?} writes {t:?}");
        }
        if let Some(o) = d.oauth {
            assert!(o.authorize_url.starts_with("https://"), "{p:?}");
            assert!(o.token_url.starts_with("https://"), "{p:?}");
            assert!(o.api_base.starts_with("https://"), "{p:?}");
            assert!(!o.api_base.ends_with('/'), "{p:?}");
        }
        let body = match d.push {
            PushMode::SdkUpload => Some(SDK_MAX_BODY_BYTES),
            _ if p == Provider::Garmin => None,
            _ => Some(PUSH_MAX_BODY_BYTES),
        };
        if let Some(b) = body {
            assert_eq!(d.max_body_bytes, b, "{p:?}");
        }
    }
    assert!(descriptor(Provider::Strava).delivers("activity"));
    assert!(!descriptor(Provider::Strava).delivers("sleep"));
}

#[test]
fn every_oauth_provider_has_its_application_and_validators_hold() {
    for p in Provider::ALL {
        let fields = credential_fields(p);
        if p.is_sdk() {
            assert!(fields.is_empty());
            continue;
        }
        assert!(fields.iter().any(|f| f.name == "client_id"), "{p:?}");
        assert!(fields.iter().any(|f| f.name == "client_secret" && f.secret));
        for f in fields {
            for t in f.targets {
                assert!(t.split('.').nth(1) == Some(p.slug()), "{t}");
            }
        }
    }
    let by = |p, n| *credential_fields(p).iter().find(|f| f.name == n).unwrap();
    let sub = by(Provider::Strava, "subscription_id");
    assert!(validate_credential(&sub, "120475").is_ok());
    assert!(validate_credential(&sub, "abc").is_err());
    let hs = by(Provider::Huawei, "subscriber_secret");
    assert!(validate_credential(&hs, "c2VjcmV0").is_ok());
    let err = validate_credential(&hs, "not base64!").unwrap_err();
    assert!(!err.contains("not base64!"));
    let cb = by(Provider::Huawei, "callback_address");
    assert!(validate_credential(&cb, "https://hooks.example.com/v1/ingest/huawei").is_ok());
    assert!(validate_credential(&cb, "http://hooks.example.com").is_err());
    assert!(validate_credential(&cb, "https://u:p@x").is_err());
    let cs = by(Provider::Strava, "client_secret");
    assert!(validate_credential(&cs, "").is_err());
    assert!(validate_credential(&cs, "a\nb").is_err());
}

fn raw(provider: Provider, body: &str) -> RawNotification {
    serde_json::from_value(serde_json::json!({
        "id": "n1",
        "provider": provider,
        "provider_user_id": "u1",
        "received_at_ms": 1,
        "body": serde_json::from_str::<serde_json::Value>(body).unwrap(),
    }))
    .unwrap()
}

/// The provider registry's facts (`pulsegate_provider::Descriptor`: the types
/// delivered, the writes supported) hold for what each normalizer really does: every
/// type it can fetch by range is one it delivers, and exactly the writes it lists
/// are not refused as unsupported (empty writes: nothing is sent to the provider).
#[tokio::test]
async fn descriptors_state_what_the_normalizers_do() {
    use crate::write::UNSUPPORTED;
    use EventType::*;
    let terra_types = [
        Activity,
        Body,
        Daily,
        Sleep,
        Athlete,
        Nutrition,
        Menstruation,
    ];
    for n in registry(&NormalizerSettings::default(), &Limiters::new()).unwrap() {
        let p = n.provider();
        let d = descriptor(p);
        let env = range::testing::env(p, "u1", "token").await;
        for t in terra_types {
            if n.range_support(t).is_some() {
                assert!(d.data_types.contains(&t), "{p:?} fetches {t:?}");
            }
            let ops = [
                (
                    WriteOp::Post {
                        data_type: t,
                        data: vec![],
                    },
                    d.writes.post.contains(&t),
                ),
                (
                    WriteOp::Delete {
                        data_type: t,
                        ids: vec![],
                    },
                    d.writes.delete.contains(&t),
                ),
            ];
            for (op, listed) in ops {
                let what = format!("{p:?} {op:?}");
                let answer = n.write(&env.conn, &env.ctx, op).await;
                let refused = matches!(
                    answer,
                    Err(NormalizeError::Dropped {
                        reason: UNSUPPORTED,
                        ..
                    })
                );
                assert_eq!(refused, !listed, "{what}: {answer:?}");
            }
        }
    }
}

#[test]
fn data_types_known_before_fetching() {
    let all = registry(&NormalizerSettings::default(), &Limiters::new()).unwrap();
    let hint = |p: Provider, body: &str| {
        all.iter()
            .find(|n| n.provider() == p)
            .unwrap()
            .data_type(&raw(p, body))
    };
    use EventType::*;
    let cases: &[(Provider, &str, Option<EventType>)] = &[
        (
            Provider::Strava,
            r#"{"object_type":"activity"}"#,
            Some(Activity),
        ),
        (Provider::Strava, r#"{"object_type":"athlete"}"#, None),
        (Provider::Oura, r#"{"data_type":"workout"}"#, Some(Activity)),
        (Provider::Oura, r#"{"data_type":"sleep"}"#, Some(Sleep)),
        (
            Provider::Oura,
            r#"{"data_type":"daily_readiness"}"#,
            Some(Daily),
        ),
        (
            Provider::Whoop,
            r#"{"type":"recovery.updated"}"#,
            Some(Daily),
        ),
        (
            Provider::Whoop,
            r#"{"type":"workout.deleted"}"#,
            Some(Activity),
        ),
        (Provider::Polar, r#"{"event":"SLEEP"}"#, Some(Sleep)),
        (Provider::Polar, r#"{"event":"PING"}"#, None),
        (Provider::Withings, r#"{"appli":4}"#, Some(Body)),
        (Provider::Withings, r#"{"appli":"44"}"#, Some(Sleep)),
        (Provider::Withings, r#"{"appli":46}"#, None),
        (
            Provider::Huawei,
            r#"{"eventType":"ACTIVITY_RECORD_EVENT$UPDATE"}"#,
            Some(Activity),
        ),
        (
            Provider::Huawei,
            r#"{"eventType":"USER_EVENT$REVOKE_ALL"}"#,
            None,
        ),
        (Provider::Fitbit, r#"[{"collectionType":"sleep"}]"#, None),
        (Provider::Garmin, r#"{"dailies":[]}"#, None),
        (
            Provider::GoogleHealth,
            r#"[{"data":{"healthUserId":"u1","dataType":"steps"}},{"data":{"healthUserId":"u1","dataType":"floors"}}]"#,
            Some(Daily),
        ),
        (
            Provider::GoogleHealth,
            r#"[{"data":{"healthUserId":"u1","dataType":"exercise"}}]"#,
            Some(Activity),
        ),
        (
            Provider::GoogleHealth,
            r#"[{"data":{"healthUserId":"u1","dataType":"steps"}},{"data":{"healthUserId":"u1","dataType":"sleep"}}]"#,
            None,
        ),
    ];
    for (p, body, want) in cases {
        assert_eq!(hint(*p, body), *want, "{p:?} {body}");
    }
}
