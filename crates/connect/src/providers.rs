//! What the connect flow needs to know of each OAuth2 provider: where users authorize,
//! where codes are exchanged, which scopes to ask for, and how to learn the provider's
//! id of the user who just connected. Every URL can be overridden in `[connect.<slug>]`
//! (tests point them at mocks on 127.0.0.1).

use pulsegate_schema::Provider;

/// How the application authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` / `client_secret` form fields.
    Body,
    /// HTTP Basic.
    Basic,
}

/// Where the provider's user id comes from after the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserIdSource {
    /// A JSON pointer into the token response (after unwrapping Withings' envelope).
    TokenField(&'static str),
    /// `GET {api_base}{path}` with the new access token, then a JSON pointer.
    Endpoint(&'static str, &'static str),
    /// The `sub` claim of the `id_token` in the token response (Huawei's openId).
    IdTokenSub,
}

/// One provider's OAuth2 facts, as documented by the provider.
#[derive(Clone, Debug)]
pub struct OAuthProvider {
    pub provider: Provider,
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    pub api_base: &'static str,
    pub scopes: &'static str,
    pub client_auth: ClientAuth,
    /// Withings wraps token answers in `{"status":0,"body":{…}}` and wants
    /// `action=requesttoken` on the token call.
    pub withings_envelope: bool,
    /// Proof Key for Code Exchange (S256), required by Garmin's OAuth2.
    pub pkce: bool,
    pub user_id: UserIdSource,
    /// Extra authorize-URL parameters.
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Facts kept in the connection's `metadata`: (key, JSON pointer into the document
    /// the user id came from). Absent or empty values are not kept.
    pub metadata: &'static [(&'static str, &'static str)],
}

/// Google Health's read scopes for the data pulsegate maps (activity, sleep, body,
/// daily), plus settings (the user's UTC offset for historical days). Google's consent
/// screen lets the user untick any of them: the granted set is the token response's
/// `scope`, stored with the connection, and types outside it are skipped.
pub const GOOGLE_HEALTH_SCOPES: &str =
    "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly \
     https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly \
     https://www.googleapis.com/auth/googlehealth.sleep.readonly \
     https://www.googleapis.com/auth/googlehealth.settings.readonly";

/// The OAuth2 providers (the on-device sources have no OAuth: they upload).
pub fn oauth_provider(p: Provider) -> Option<OAuthProvider> {
    use ClientAuth::*;
    use UserIdSource::*;
    let o = |authorize_url, token_url, api_base, scopes, client_auth, user_id| OAuthProvider {
        provider: p,
        authorize_url,
        token_url,
        api_base,
        scopes,
        client_auth,
        withings_envelope: false,
        pkce: false,
        user_id,
        authorize_params: &[],
        metadata: &[],
    };
    Some(match p {
        Provider::Strava => OAuthProvider {
            authorize_params: &[("approval_prompt", "auto")],
            ..o(
                "https://www.strava.com/oauth/authorize",
                "https://www.strava.com/oauth/token",
                "https://www.strava.com",
                "read,activity:read_all",
                Body,
                TokenField("/athlete/id"),
            )
        },
        Provider::Fitbit => o(
            "https://www.fitbit.com/oauth2/authorize",
            "https://api.fitbit.com/oauth2/token",
            "https://api.fitbit.com",
            "activity heartrate sleep weight profile",
            Basic,
            TokenField("/user_id"),
        ),
        Provider::Oura => o(
            "https://cloud.ouraring.com/oauth/authorize",
            "https://api.ouraring.com/oauth/token",
            "https://api.ouraring.com",
            "personal daily heartrate workout session spo2",
            Body,
            Endpoint("/v2/usercollection/personal_info", "/id"),
        ),
        Provider::Whoop => o(
            "https://api.prod.whoop.com/oauth/oauth2/auth",
            "https://api.prod.whoop.com/oauth/oauth2/token",
            "https://api.prod.whoop.com/developer",
            "offline read:profile read:workout read:sleep read:recovery read:cycles",
            Body,
            Endpoint("/v2/user/profile/basic", "/user_id"),
        ),
        Provider::Polar => o(
            "https://flow.polar.com/oauth2/authorization",
            "https://polarremote.com/v2/oauth2/token",
            "https://www.polaraccesslink.com",
            "accesslink.read_all",
            Basic,
            TokenField("/x_user_id"),
        ),
        Provider::Withings => OAuthProvider {
            withings_envelope: true,
            ..o(
                "https://account.withings.com/oauth2_user/authorize2",
                "https://wbsapi.withings.net/v2/oauth2",
                "https://wbsapi.withings.net",
                "user.info,user.metrics,user.activity",
                Body,
                TokenField("/userid"),
            )
        },
        Provider::Garmin => OAuthProvider {
            pkce: true,
            ..o(
                "https://connect.garmin.com/oauth2Confirm",
                "https://diauth.garmin.com/di-oauth2-service/oauth/token",
                "https://apis.garmin.com",
                "",
                Body,
                Endpoint("/wellness-api/rest/user/id", "/userId"),
            )
        },
        Provider::Huawei => OAuthProvider {
            authorize_params: &[("access_type", "offline")],
            ..o(
                "https://oauth-login.cloud.huawei.com/oauth2/v3/authorize",
                "https://oauth-login.cloud.huawei.com/oauth2/v3/token",
                "https://health-api.cloud.huawei.com",
                "openid https://www.huawei.com/healthkit/step.read \
                 https://www.huawei.com/healthkit/activity.read \
                 https://www.huawei.com/healthkit/sleep.read",
                Body,
                IdTokenSub,
            )
        },
        // Google's web-server flow: a refresh token only with access_type=offline, again
        // on a re-connect only with prompt=consent; include_granted_scopes for
        // incremental consent; PKCE (S256), which Google recommends. The user id is the
        // Identity's healthUserId (what notifications carry); legacyUserId (the Fitbit
        // id of the same account) is kept for linking an old Fitbit connection.
        Provider::GoogleHealth => OAuthProvider {
            pkce: true,
            authorize_params: &[
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
            ],
            metadata: &[("legacy_user_id", "/legacyUserId")],
            ..o(
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://health.googleapis.com",
                GOOGLE_HEALTH_SCOPES,
                Body,
                Endpoint("/v4/users/me/identity", "/healthUserId"),
            )
        },
        Provider::AppleHealth | Provider::SamsungHealth | Provider::HealthConnect => return None,
    })
}

/// Scopes as the provider separates them (Withings and Strava: commas).
pub fn join_scopes(p: Provider, scopes: &[String]) -> String {
    let sep = match p {
        Provider::Withings | Provider::Strava => ",",
        _ => " ",
    };
    scopes.join(sep)
}
