//! Polar AccessLink's REST API with the user's token. Polar tokens do not expire and
//! come with no refresh token: no OAuth refresh; a 401 or 403 is a `connection_error`.

use pulsegate_schema::Connection;
use serde::de::DeserializeOwned;

use super::PolarConfig;
use crate::api::{Authorized, ProviderApi};
use crate::{Ctx, NormalizeError, RetryConfig};

/// What fetching came to.
pub enum Fetched<T> {
    Data(T),
    /// Polar refused the connection's token: a `connection_error` is due.
    ConnectionError(&'static str),
}

pub struct PolarClient {
    api: ProviderApi,
    api_base: String,
}

impl PolarClient {
    pub fn new(
        cfg: &PolarConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        Ok(Self {
            api: ProviderApi::new("polar", "Polar", cfg.request_timeout, retry, None)?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
        })
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// The exercise to fetch: the notification's `url` if it lies under
    /// `{api_base}/v3/exercises/` (anything else is refused: never fetch a URL a
    /// notification names on another host), else built from `entity_id`.
    pub fn exercise_url(
        &self,
        url: Option<&str>,
        entity_id: Option<&str>,
    ) -> Result<String, NormalizeError> {
        let prefix = format!("{}/v3/exercises/", self.api_base);
        match url {
            Some(u) => {
                if is_under(u, &prefix) {
                    Ok(u.to_string())
                } else {
                    Err(NormalizeError::dropped(
                        "forbidden_url",
                        "the notification's url is not under the configured Polar api_base",
                    ))
                }
            }
            None => match entity_id.filter(|id| is_safe_segment(id)) {
                Some(id) => Ok(format!("{prefix}{id}")),
                None => Err(NormalizeError::dropped(
                    "malformed",
                    "EXERCISE without a usable url or entity_id",
                )),
            },
        }
    }

    /// `{api_base}/v3/users/{kind}/{date}` for a `YYYY-MM-DD` date.
    pub fn dated_url(&self, kind: &str, date: &str) -> Result<String, NormalizeError> {
        if !is_date(date) {
            return Err(NormalizeError::dropped(
                "malformed",
                "the notification's date is not YYYY-MM-DD",
            ));
        }
        Ok(format!("{}/v3/users/{kind}/{date}", self.api_base))
    }

    /// GETs `url` with the connection's token. 404 and 204 (no content) drop the
    /// notification (`not_found`, `no_data`).
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        endpoint: &'static str,
        url: &str,
    ) -> Result<Fetched<T>, NormalizeError> {
        match self.api.get_authorized(conn, ctx, endpoint, url).await? {
            Authorized::Ok(body) if body.iter().all(u8::is_ascii_whitespace) => Err(
                NormalizeError::dropped("no_data", format!("Polar has no data for {endpoint}")),
            ),
            Authorized::Ok(body) => serde_json::from_slice(&body)
                .map(Fetched::Data)
                .map_err(|e| {
                    NormalizeError::dropped(
                        "bad_response",
                        format!("Polar {endpoint}: unexpected response: {e}"),
                    )
                }),
            Authorized::NotFound => Err(NormalizeError::dropped(
                "not_found",
                format!("Polar answered 404 for {endpoint}"),
            )),
            Authorized::ConnectionError(why) => Ok(Fetched::ConnectionError(why)),
        }
    }
}

/// `url` starts with `prefix` (which ends in `/`) and the rest is a plain path: no
/// traversal, no second authority, no whitespace or control characters.
pub fn is_under(url: &str, prefix: &str) -> bool {
    let Some(rest) = url.strip_prefix(prefix) else {
        return false;
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    !rest.is_empty()
        && !path.split('/').any(|seg| seg == ".." || seg == ".")
        && !rest.contains(['\\', '@'])
        && !rest.contains("%2e")
        && !rest.contains("%2E")
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_guard() {
        let p = "https://www.polaraccesslink.com/v3/exercises/";
        assert!(is_under(
            "https://www.polaraccesslink.com/v3/exercises/aQlC83",
            p
        ));
        assert!(is_under(
            "https://www.polaraccesslink.com/v3/exercises/aQlC83?samples=true",
            p
        ));
        for bad in [
            "https://www.polaraccesslink.com.evil.example/v3/exercises/aQlC83",
            "https://www.polaraccesslink.com@evil.example/v3/exercises/x",
            "https://evil.example/v3/exercises/aQlC83",
            "http://www.polaraccesslink.com/v3/exercises/aQlC83",
            "https://www.polaraccesslink.com/v3/exercises/../users/1",
            "https://www.polaraccesslink.com/v3/exercises/%2e%2e/users",
            "https://www.polaraccesslink.com/v3/exercises/",
            "https://www.polaraccesslink.com/v3/exercises/a b",
            "https://www.polaraccesslink.com/v3/users/1",
        ] {
            assert!(!is_under(bad, p), "{bad}");
        }
        assert!(is_date("2018-05-15"));
        assert!(!is_date("2018-5-15"));
        assert!(!is_date("2018-05-15/../x"));
        assert!(is_safe_segment("aQlC83"));
        assert!(!is_safe_segment("a/b"));
    }
}
