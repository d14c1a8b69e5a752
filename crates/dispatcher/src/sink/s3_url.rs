//! `s3://bucket/prefix?endpoint=…&region=…`: the URL of an S3 destination or of a
//! claim-check store, and the checks made when one is registered.

use object_store::path::{Path, PathPart};

use crate::ssrf::UrlError;

/// The URL scheme of S3 destinations.
pub const SCHEME: &str = "s3://";
const DEFAULT_REGION: &str = "us-east-1";

/// A parsed `s3://` destination URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// `http(s)://host[:port]` of an S3-compatible service; `None` = AWS.
    pub endpoint: Option<String>,
    pub region: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix][?endpoint=…&region=…]`. Errors never show the query
    /// values.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix(SCHEME)
            .ok_or_else(|| UrlError::Scheme(url.split(':').next().unwrap_or("").into()))?;
        if rest.contains('#') {
            return Err(UrlError::S3("fragments are not allowed"));
        }
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(UrlError::MissingHost);
        }
        if !(3..=63).contains(&bucket.len())
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            || bucket.starts_with(['.', '-'])
            || bucket.ends_with(['.', '-'])
        {
            return Err(UrlError::S3(
                "bucket: 3-63 characters of a-z 0-9 . - (S3 bucket naming rules)",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && Path::parse(prefix).is_err() {
            return Err(UrlError::S3(
                "prefix: not a valid object key prefix (empty, . or .. segments, or control characters)",
            ));
        }
        let mut endpoint = None;
        let mut region = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v).ok_or(UrlError::S3("query: bad percent-encoding"))?;
            match k {
                "endpoint" if endpoint.is_none() => endpoint = Some(v),
                "region" if region.is_none() => region = Some(v),
                "endpoint" | "region" => return Err(UrlError::S3("query: a parameter repeats")),
                _ => return Err(UrlError::S3("query: only endpoint and region are known")),
            }
        }
        let region = region.unwrap_or_else(|| DEFAULT_REGION.to_string());
        if region.is_empty()
            || region.len() > 64
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(UrlError::S3("region: a-z 0-9 - only"));
        }
        if let Some(e) = &endpoint {
            let uri: http::Uri = e.parse().map_err(|_| UrlError::S3("endpoint: not a URL"))?;
            if !matches!(uri.scheme_str(), Some("http") | Some("https")) {
                return Err(UrlError::S3("endpoint: scheme must be http or https"));
            }
            if uri.host().is_none_or(str::is_empty) {
                return Err(UrlError::S3("endpoint: no host"));
            }
            if !matches!(uri.path(), "" | "/") || uri.query().is_some() || e.contains('@') {
                return Err(UrlError::S3(
                    "endpoint: scheme://host[:port] only (no path, query or user info)",
                ));
            }
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            region,
        })
    }

    /// The HTTP(S) URL requests go to (for the SSRF guard).
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region),
        }
    }

    /// The key of an event's object: `<prefix>/<user_id>/<event_type>/<webhook-id>.json`
    /// (each part percent-encoded where S3 keys would be ambiguous).
    pub fn object_key(&self, user_id: &str, event_type: &str, webhook_id: &str) -> Path {
        let file = format!("{webhook_id}.json");
        let parts = [user_id, event_type, file.as_str()];
        let base = if self.prefix.is_empty() {
            Path::default()
        } else {
            Path::from(self.prefix.as_str())
        };
        parts
            .into_iter()
            .fold(base, |p, part| p.child(PathPart::from(part)))
    }
}

/// For the SSRF guard: `Ok(None)` when `url` is not an S3 URL; otherwise the HTTP(S)
/// URL its requests go to, or why it is invalid.
pub fn endpoint_of(url: &str) -> Result<Option<String>, UrlError> {
    if !url.starts_with(SCHEME) {
        return Ok(None);
    }
    S3Url::parse(url).map(|u| Some(u.endpoint_url()))
}

/// Checks that an S3 destination has both credentials and other destinations none (for
/// the admin API and the config file). The message names the field.
pub fn check_credentials(
    url: &str,
    access_key_id: Option<&str>,
    secret_access_key: Option<&str>,
) -> Result<(), String> {
    let given = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
    if url.starts_with(SCHEME) {
        if !given(access_key_id) {
            return Err("s3_access_key_id: required for s3:// destinations".into());
        }
        if !given(secret_access_key) {
            return Err("s3_secret_access_key: required for s3:// destinations".into());
        }
    } else if access_key_id.is_some() || secret_access_key.is_some() {
        return Err("s3_access_key_id, s3_secret_access_key: only for s3:// destinations".into());
    }
    Ok(())
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssrf::validate_destination_url;

    #[test]
    fn parses_bucket_prefix_endpoint_region() {
        let u = S3Url::parse(
            "s3://my-bucket/a/b/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1",
        )
        .unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(u.prefix, "a/b");
        assert_eq!(u.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(u.region, "eu-west-1");
        let u = S3Url::parse("s3://bucket.example").unwrap();
        assert_eq!(u.prefix, "");
        assert_eq!(u.endpoint, None);
        assert_eq!(u.region, "us-east-1");
        assert_eq!(
            u.endpoint_url(),
            "https://bucket.example.s3.us-east-1.amazonaws.com"
        );
        let u = S3Url::parse("s3://b12/p?endpoint=https://minio.example.com/").unwrap();
        assert_eq!(u.endpoint_url(), "https://minio.example.com");
    }

    #[test]
    fn object_keys() {
        let u = S3Url::parse("s3://bkt/exports/terra").unwrap();
        assert_eq!(
            u.object_key("user-1", "activity", "msg_abc").as_ref(),
            "exports/terra/user-1/activity/msg_abc.json"
        );
        let u = S3Url::parse("s3://bkt").unwrap();
        assert_eq!(
            u.object_key("u", "sleep", "msg_x").as_ref(),
            "u/sleep/msg_x.json"
        );
        // A user id cannot climb out of its folder.
        let k = u.object_key("a/../b", "sleep", "msg_x");
        assert_eq!(k.parts().count(), 3, "{k}");
    }

    #[test]
    fn refuses_bad_s3_urls() {
        for url in [
            "s3://",
            "s3:///prefix",
            "s3://Upper/x",
            "s3://ab",
            "s3://-bucket",
            "s3://bucket/x?endpoint=ftp://h",
            "s3://bucket/x?endpoint=http://h/path",
            "s3://bucket/x?endpoint=http://user:pw@h",
            "s3://bucket/x?endpoint=notaurl",
            "s3://bucket/x?region=EU WEST",
            "s3://bucket/x?region=a.evil.com%2F",
            "s3://bucket/x?access_key=AKIA",
            "s3://bucket/x?region=a&region=b",
            "s3://bucket/x#frag",
            "s3://bucket/a/../b",
        ] {
            assert!(
                validate_destination_url(url, true).is_err(),
                "{url} should be refused"
            );
        }
    }

    #[test]
    fn the_ssrf_guard_applies_to_the_endpoint() {
        for url in [
            "s3://bucket/p?endpoint=http://127.0.0.1:9000",
            "s3://bucket/p?endpoint=http://localhost:9000",
            "s3://bucket/p?endpoint=http://169.254.169.254",
            "s3://bucket/p?endpoint=http://[::1]:9000",
            "s3://bucket/p?endpoint=https://10.0.0.8",
        ] {
            assert!(
                matches!(
                    validate_destination_url(url, false),
                    Err(UrlError::Blocked { .. })
                ),
                "{url} should be refused"
            );
            assert_eq!(validate_destination_url(url, true), Ok(()), "{url}");
        }
        for url in [
            "s3://bucket/p",
            "s3://bucket/p?region=eu-central-1",
            "s3://bucket/p?endpoint=https://s3.example.com",
            "s3://bucket?endpoint=http://93.184.216.34:9000",
        ] {
            assert_eq!(validate_destination_url(url, false), Ok(()), "{url}");
        }
    }

    #[test]
    fn credentials_are_required_for_s3_and_refused_elsewhere() {
        assert!(check_credentials("s3://b/p", Some("AKIA"), Some("sk")).is_ok());
        assert!(check_credentials("s3://b/p", None, Some("sk"))
            .unwrap_err()
            .starts_with("s3_access_key_id"));
        assert!(check_credentials("s3://b/p", Some("AKIA"), Some(""))
            .unwrap_err()
            .starts_with("s3_secret_access_key"));
        assert!(check_credentials("https://h/x", None, None).is_ok());
        assert!(check_credentials("https://h/x", Some("AKIA"), None).is_err());
    }
}
