//! The admin token when `[admin] token` is empty: generated once into a file readable
//! only by pulsegate's user, and read back at every start. Its place is logged, never
//! its value.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pulsegate_schema::Secret;

use crate::config::{BusKind, Config, MIN_ADMIN_TOKEN_LEN};

pub const FILE_NAME: &str = "admin-token";

/// Where a generated token lives: the embedded bus's data dir; with Kafka (no data
/// dir), beside the config file, or the working directory without one.
pub fn token_path(config: &Config) -> PathBuf {
    match config.bus.kind {
        BusKind::Embedded => config.bus.data_dir.join(FILE_NAME),
        BusKind::Kafka => config
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(|dir| dir.join(FILE_NAME))
            .unwrap_or_else(|| PathBuf::from(FILE_NAME)),
    }
}

/// The configured token, or the generated one (created if missing).
pub fn resolve(config: &Config) -> anyhow::Result<Secret> {
    if !config.admin.token.expose().is_empty() {
        return Ok(config.admin.token.clone());
    }
    let path = token_path(config);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim();
            if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
                anyhow::bail!(
                    "admin token file {} holds fewer than {MIN_ADMIN_TOKEN_LEN} characters; \
                     delete it to have a new token generated",
                    path.display()
                );
            }
            tracing::info!(file = %path.display(), "admin token read from its file ([admin] token is not set)");
            return Ok(Secret::new(token.to_string()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("reading the admin token file {}", path.display()))
        }
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, &token)
        .with_context(|| format!("writing a generated admin token to {}", path.display()))?;
    tracing::warn!(
        file = %path.display(),
        "[admin] token is not set: generated one into this file (mode 0600); use it as the admin bearer token"
    );
    Ok(Secret::new(token))
}

fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.bus.data_dir = dir.path().join("data");
        let first = resolve(&config).unwrap();
        assert!(first.expose().len() >= MIN_ADMIN_TOKEN_LEN);
        let path = token_path(&config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(resolve(&config).unwrap().expose(), first.expose());
        config.bus.kind = BusKind::Kafka;
        config.path = Some(dir.path().join("pulsegate.toml"));
        assert_eq!(token_path(&config), dir.path().join(FILE_NAME));
    }
}
