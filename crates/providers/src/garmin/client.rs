//! Garmin's API, used for ping notifications (GET the `callbackURL` with the user's
//! OAuth2 token) and to confirm deregistrations and permission changes (the user
//! permissions endpoint). Tokens are refreshed at the configured token endpoint (client
//! credentials in the form body). Callback URLs outside `{api_base}/` are never fetched.

use pulsegate_schema::Connection;
use serde_json::Value;

use super::GarminConfig;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::{Ctx, NormalizeError, RetryConfig};

/// What a callback fetch came to.
pub enum Fetched {
    /// The summaries the callback returned.
    Records(Vec<Value>),
    /// Garmin refused the connection's credentials: a `connection_error` is due.
    ConnectionError(&'static str),
}

pub struct GarminClient {
    api: ProviderApi,
    api_base: String,
}

impl GarminClient {
    pub fn new(
        cfg: &GarminConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let api_base = cfg.api_base.trim_end_matches('/').to_string();
        let oauth = OAuthApp::new(
            &crate::garmin::descriptor::OAUTH,
            cfg.token_url.clone(),
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("garmin", "Garmin", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base,
        })
    }

    /// GETs a ping's `callbackURL`; the answer is an array of summaries (one object is
    /// taken as an array of one). 404 → `Dropped("not_found")` (callbacks expire).
    pub async fn fetch_callback(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        url: &str,
    ) -> Result<Fetched, NormalizeError> {
        if !is_under(url, &format!("{}/", self.api_base)) {
            return Err(NormalizeError::dropped(
                "forbidden_url",
                "the callbackURL is not under the configured Garmin api_base",
            ));
        }
        match self
            .api
            .get_json::<Value>(conn, ctx, "get_callback", url)
            .await?
        {
            Authorized::Ok(Value::Array(records)) => Ok(Fetched::Records(records)),
            Authorized::Ok(record @ Value::Object(_)) => Ok(Fetched::Records(vec![record])),
            Authorized::Ok(_) => Err(NormalizeError::dropped(
                "bad_response",
                "Garmin's callback answered neither an array nor an object",
            )),
            Authorized::NotFound => Err(NormalizeError::dropped(
                "not_found",
                "Garmin answered 404 for the callbackURL (expired?)",
            )),
            Authorized::ConnectionError(why) => Ok(Fetched::ConnectionError(why)),
        }
    }
}

/// What Garmin's user permissions endpoint said.
pub enum Permissions {
    /// The permissions the user grants the application now.
    Granted(Vec<String>),
    /// The user's token no longer works (401 after a refresh, 403, refused refresh):
    /// the user deregistered.
    Revoked,
    /// No answer that proves anything (404, a locally decided failure).
    Unknown(&'static str),
}

impl GarminClient {
    /// `GET {api_base}/wellness-api/rest/user/permissions` with the user's own token
    /// (refreshed first when expired, or once after a 401): the list of permissions
    /// (`["ACTIVITY_EXPORT", "HEALTH_EXPORT", …]`). This is how unsigned
    /// deregistration and permission-change pushes are confirmed.
    pub async fn permissions(
        &self,
        conn: &Connection,
        ctx: &Ctx,
    ) -> Result<Permissions, NormalizeError> {
        let url = format!("{}/wellness-api/rest/user/permissions", self.api_base);
        let answer = self
            .api
            .get_json::<Vec<Value>>(conn, ctx, "get_user_permissions", &url)
            .await?;
        Ok(match crate::confirm::revocation(&answer, true) {
            crate::confirm::Revocation::Confirmed => Permissions::Revoked,
            crate::confirm::Revocation::Denied(why) => match answer {
                Authorized::Ok(list) => Permissions::Granted(
                    list.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect(),
                ),
                _ => Permissions::Unknown(why),
            },
        })
    }
}

/// `url` starts with `prefix` (ending in `/`) and continues with a plain path: no
/// traversal, no second authority, no whitespace or control characters.
pub fn is_under(url: &str, prefix: &str) -> bool {
    let Some(rest) = url.strip_prefix(prefix) else {
        return false;
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    !path.is_empty()
        && !path.split('/').any(|seg| seg == ".." || seg == ".")
        && !path.contains(['\\', '@', '%'])
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_url_guard() {
        let p = "https://apis.garmin.com/";
        assert!(is_under(
            "https://apis.garmin.com/wellness-api/rest/activities?uploadStartTimeInSeconds=1&uploadEndTimeInSeconds=2&token=a%2Fb",
            p
        ));
        for bad in [
            "https://apis.garmin.com.evil.example/wellness-api/rest/dailies",
            "https://apis.garmin.com@evil.example/wellness-api/rest/dailies",
            "https://evil.example/wellness-api/rest/dailies",
            "http://apis.garmin.com/wellness-api/rest/dailies",
            "https://apis.garmin.com/wellness-api/../oauth",
            "https://apis.garmin.com/%2e%2e/x",
            "https://apis.garmin.com/",
            "https://apis.garmin.com/a b",
        ] {
            assert!(!is_under(bad, p), "{bad}");
        }
    }
}
