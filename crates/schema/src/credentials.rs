//! Which credentials each provider's application has, how each is validated, whether it
//! is secret (masked, encrypted), and which configuration keys it sets. The admin API
//! validates writes with this table; the binary overlays stored credentials onto the
//! configuration with it.

use crate::Provider;

/// How a credential's value is checked on write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// Non-empty printable text, at most 512 bytes.
    Text,
    /// A positive integer (written to the config as a number).
    Number,
    /// Standard Base64 (Huawei's subscriber secret is used Base64-decoded).
    Base64,
    /// An absolute `https://` URL without user info (Huawei's callback address).
    HttpsUrl,
}

/// One credential of a provider application.
#[derive(Clone, Copy, Debug)]
pub struct CredentialField {
    pub name: &'static str,
    pub kind: CredentialKind,
    /// Masked in answers and logs, and subject to rotation grace.
    pub secret: bool,
    /// Configuration keys it sets (`ingest.strava.verify_token`, …).
    pub targets: &'static [&'static str],
}

const fn f(
    name: &'static str,
    kind: CredentialKind,
    secret: bool,
    targets: &'static [&'static str],
) -> CredentialField {
    CredentialField {
        name,
        kind,
        secret,
        targets,
    }
}

use CredentialKind::*;

const STRAVA: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.strava.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.strava.client_secret"],
    ),
    f("verify_token", Text, true, &["ingest.strava.verify_token"]),
    f(
        "subscription_id",
        Number,
        false,
        &["ingest.strava.subscription_id"],
    ),
];

const HUAWEI: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.huawei.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.huawei.client_secret"],
    ),
    f(
        "subscriber_secret",
        Base64,
        true,
        &["ingest.huawei.subscriber_secret"],
    ),
    f(
        "subscriber_id",
        Text,
        false,
        &["ingest.huawei.subscriber_id"],
    ),
    f("callback_address", HttpsUrl, false, &[]),
];

const FITBIT: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.fitbit.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &[
            "normalizer.fitbit.client_secret",
            "ingest.fitbit.client_secret",
        ],
    ),
    f(
        "verification_code",
        Text,
        true,
        &["ingest.fitbit.verification_code"],
    ),
];

const GARMIN: &[CredentialField] = &[
    f(
        "client_id",
        Text,
        false,
        &["normalizer.garmin.client_id", "ingest.garmin.client_id"],
    ),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.garmin.client_secret"],
    ),
];

const OURA: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.oura.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.oura.client_secret", "ingest.oura.client_secret"],
    ),
    f(
        "verification_token",
        Text,
        true,
        &["ingest.oura.verification_token"],
    ),
];

const POLAR: &[CredentialField] = &[
    f("client_id", Text, false, &["connect.polar.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["connect.polar.client_secret"],
    ),
    f(
        "signature_secret_key",
        Text,
        true,
        &["ingest.polar.signature_secret_key"],
    ),
];

const WHOOP: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.whoop.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &[
            "normalizer.whoop.client_secret",
            "ingest.whoop.client_secret",
        ],
    ),
];

const WITHINGS: &[CredentialField] = &[
    f("client_id", Text, false, &["normalizer.withings.client_id"]),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.withings.client_secret"],
    ),
    f(
        "callback_token",
        Text,
        true,
        &["ingest.withings.callback_token"],
    ),
];

const GOOGLE_HEALTH: &[CredentialField] = &[
    f(
        "client_id",
        Text,
        false,
        &["normalizer.google_health.client_id"],
    ),
    f(
        "client_secret",
        Text,
        true,
        &["normalizer.google_health.client_secret"],
    ),
    // The subscriber's `endpointAuthorization.secret`: the whole `Authorization` header
    // value Google sends with every notification (`Bearer …`).
    f(
        "authorization",
        Text,
        true,
        &["ingest.google_health.authorization"],
    ),
];

/// The credentials `p` takes (empty for the on-device sources).
pub fn credential_fields(p: Provider) -> &'static [CredentialField] {
    match p {
        Provider::Strava => STRAVA,
        Provider::Huawei => HUAWEI,
        Provider::Fitbit => FITBIT,
        Provider::Garmin => GARMIN,
        Provider::Oura => OURA,
        Provider::Polar => POLAR,
        Provider::Whoop => WHOOP,
        Provider::Withings => WITHINGS,
        Provider::GoogleHealth => GOOGLE_HEALTH,
        Provider::AppleHealth | Provider::SamsungHealth | Provider::HealthConnect => &[],
    }
}

/// Checks a value for a field; the error names the field, never the value.
pub fn validate_credential(field: &CredentialField, value: &str) -> Result<(), String> {
    let name = field.name;
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
        return Err(format!("{name}: 1 to 512 printable characters"));
    }
    match field.kind {
        CredentialKind::Text => Ok(()),
        CredentialKind::Number => match value.parse::<u64>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(format!("{name}: must be a positive integer")),
        },
        CredentialKind::Base64 => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map(|_| ())
                .map_err(|_| format!("{name}: must be Base64 (as shown on the provider's console)"))
        }
        CredentialKind::HttpsUrl => {
            let rest = value.strip_prefix("https://").ok_or_else(|| {
                format!("{name}: must be an https:// URL (the provider refuses plain HTTP)")
            })?;
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() || host.contains('@') {
                return Err(format!("{name}: must name a host, without user info"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
