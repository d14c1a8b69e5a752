//! The credentials of a provider application: how each is validated, whether it is
//! secret (masked, encrypted), and which configuration keys it sets. Each provider's
//! list is its [`Descriptor::credentials`](crate::Descriptor::credentials). The admin API
//! validates writes with it; the binary overlays stored credentials onto the
//! configuration with it.

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

/// A field (for the providers' `const` lists).
pub const fn field(
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
