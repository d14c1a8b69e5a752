//! One module per provider.
//!
//! Adding a provider, every place it is registered (the same list is in
//! `crates/ingest/src/providers/mod.rs`):
//! - `crates/schema/src/records.rs`: its `Provider` variant, in `Provider::ALL`,
//!   `terra_name` and `slug` (and `is_sdk` for an on-device source);
//! - `crates/provider/src/providers/<p>.rs` and one line in that folder's `LIST`: its
//!   facts (name, icon, push mode, data types, writes, rate limits, body limit, OAuth2,
//!   credentials). Here they give the config defaults (`OAUTH.api_base`,
//!   `ratelimit::defaults::of`) and the token refresh (`OAuthApp::new(&OAUTH, …)`); a test
//!   below checks the data types and writes it states against the module;
//! - here: a module implementing [`ProviderNormalizer`](crate::ProviderNormalizer) with
//!   its settings struct, a field in [`NormalizerConfig`](crate::NormalizerConfig)
//!   (`config.rs`), and one line in [`registry`];
//! - ingest: a module in `crates/ingest/src/providers/`, its settings in `IngestConfig`,
//!   one line in its `registry_with`, and `replay.rs` (`guarded`) if it has a replay
//!   guard;
//! - `crates/pulsegate/src/app.rs` (`app_credentials`): its normalizer credentials for
//!   the connect flow;
//! - documents checked against the registry by `crates/provider/tests/registry_docs.rs`:
//!   the provider enums of `crates/admin/src/openapi.json`, the README's providers table,
//!   `pulsegate.example.toml`; and `docs/providers/<p>.md`;
//! - its end-to-end test: a module in `crates/pulsegate/tests/providers/main.rs`.

use std::sync::Arc;

use pulsegate_schema::Provider;

use crate::ratelimit::Limiters;
use crate::{NormalizeError, NormalizerConfig, ProviderNormalizer};

pub mod fitbit;
pub mod garmin;
pub mod google_health;
pub mod huawei;
pub mod oura;
pub mod polar;
pub use pulsegate_provider::range;
pub mod sdk;
pub mod strava;
pub mod whoop;
pub mod withings;

/// Every provider normalizer, built from the configuration.
pub fn registry(
    cfg: &NormalizerConfig,
    limiters: &Limiters,
) -> Result<Vec<Arc<dyn ProviderNormalizer>>, NormalizeError> {
    Ok(vec![
        Arc::new(strava::StravaNormalizer::new(
            &cfg.strava,
            &cfg.retry,
            limiters,
        )?),
        Arc::new(huawei::HuaweiNormalizer::new(
            &cfg.huawei,
            &cfg.retry,
            limiters,
        )?),
        Arc::new(fitbit::FitbitNormalizer::new(
            &cfg.fitbit,
            &cfg.retry,
            limiters,
        )?),
        Arc::new(garmin::GarminNormalizer::new(
            &cfg.garmin,
            &cfg.retry,
            limiters,
        )?),
        Arc::new(oura::OuraNormalizer::new(&cfg.oura, &cfg.retry, limiters)?),
        Arc::new(polar::PolarNormalizer::new(
            &cfg.polar, &cfg.retry, limiters,
        )?),
        Arc::new(whoop::WhoopNormalizer::new(
            &cfg.whoop, &cfg.retry, limiters,
        )?),
        Arc::new(withings::WithingsNormalizer::new(
            &cfg.withings,
            &cfg.retry,
            limiters,
        )?),
        Arc::new(google_health::GoogleHealthNormalizer::new(
            &cfg.google_health,
            &cfg.retry,
            limiters,
        )?),
        Arc::new(sdk::SdkNormalizer::new(Provider::AppleHealth)),
        Arc::new(sdk::SdkNormalizer::new(Provider::SamsungHealth)),
        Arc::new(sdk::SdkNormalizer::new(Provider::HealthConnect)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_schema::{EventType, RawNotification};

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
        use crate::{write::UNSUPPORTED, NormalizeError, WriteOp};
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
        for n in registry(&NormalizerConfig::default(), &Limiters::new()).unwrap() {
            let p = n.provider();
            let d = pulsegate_provider::descriptor(p);
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
        let all = registry(&NormalizerConfig::default(), &Limiters::new()).unwrap();
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
}
