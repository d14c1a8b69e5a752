//! Where the encryption key comes from: `security.encryption_key` (config or env), else
//! `security.key_file`, else `pulsegate.key` beside the config file, generated (mode
//! 0600) when missing. The key lives outside the data dir, so a copied data dir or a
//! backup of it alone reveals nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use pulsegate_schema::Secret;
use pulsegate_state::SecurityConfig;

/// Name of the generated key file.
pub const DEFAULT_KEY_FILE: &str = "pulsegate.key";

/// Fills `security.encryption_key` (and previous keys from the file) when it is not
/// set. Logs where a key was generated, never the key.
pub fn resolve(security: &mut SecurityConfig, data_dir: &Path) -> anyhow::Result<()> {
    if !security.encryption_key.is_empty() {
        return Ok(());
    }
    let path = match &security.key_file {
        Some(p) => p.clone(),
        None => default_path(security.config_file.as_deref()),
    };
    if inside(&path, data_dir) {
        anyhow::bail!(
            "security.key_file: {} is inside bus.data_dir; a copy of the data dir would carry \
             its key. Put the key file elsewhere",
            path.display()
        );
    }
    if !path.exists() {
        generate(&path)?;
        tracing::warn!(
            path = %path.display(),
            "no encryption key was configured: generated one into this key file (mode 0600). \
             Back it up apart from the data dir: without it the data cannot be read"
        );
    }
    let (current, previous) = read(&path)?;
    security.encryption_key = current;
    security.previous_encryption_keys.extend(previous);
    Ok(())
}

/// `pulsegate.key` beside the config file, or in the working directory without one.
fn default_path(config_file: Option<&Path>) -> PathBuf {
    config_file
        .and_then(Path::parent)
        .map(|d| d.join(DEFAULT_KEY_FILE))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE))
}

fn inside(path: &Path, dir: &Path) -> bool {
    // Resolves symlinks and `..` where the path (or its parent) exists already.
    let abs = |p: &Path| {
        p.canonicalize()
            .or_else(|_| match (p.parent(), p.file_name()) {
                (Some(d), Some(f)) => d.canonicalize().map(|d| d.join(f)),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            })
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    abs(path).starts_with(abs(dir))
}

/// Writes a new key to a private temporary file, then links it into place: processes
/// starting together on one config end with one key (the link of the later ones fails,
/// they read the winner's), never a half-written file.
fn generate(path: &Path) -> anyhow::Result<()> {
    let key = pulsegate_state::crypto::generate_key();
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let cannot = |what: &str| {
        format!(
            "security.key_file: cannot {what} {} (set security.encryption_key, or \
             security.key_file to a writable place outside the data dir)",
            path.display()
        )
    };
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let written = open.open(&tmp).and_then(|mut f| {
        f.write_all(format!("{}\n", key.expose()).as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| cannot("create"));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e).with_context(|| cannot("create")),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new directory entry survives a crash too.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Who besides its owner may read a key file of `mode`, if anyone. Group read access for
/// pulsegate's own group is not a leak: that is how a Kubernetes Secret volume gives a
/// non-root process its files (root-owned, group = the pod's fsGroup, mode 0440).
fn readable_by_others(mode: u32, file_gid: u32, own_gid: u32) -> Option<&'static str> {
    if mode & 0o007 != 0 {
        Some("every user")
    } else if mode & 0o070 != 0 && file_gid != own_gid {
        Some("another group")
    } else {
        None
    }
}

/// First non-empty line: the key that encrypts; further lines: previous keys.
fn read(path: &Path) -> anyhow::Result<(Secret, Vec<Secret>)> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let own_gid = rustix::process::getegid().as_raw();
        if let Some(who) = readable_by_others(meta.permissions().mode(), meta.gid(), own_gid) {
            tracing::warn!(path = %path.display(), "the key file is readable by {who}; chmod 600 it");
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("security.key_file: cannot read {}", path.display()))?;
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(Secret::new);
    let current = keys
        .next()
        .with_context(|| format!("security.key_file: {} holds no key", path.display()))?;
    Ok((current, keys.collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_other_users_and_other_groups_are_a_leak() {
        use super::readable_by_others as r;
        assert_eq!(r(0o100600, 5, 5), None);
        // A Kubernetes Secret volume with fsGroup: root-owned, our group, 0440.
        assert_eq!(r(0o100440, 10001, 10001), None);
        assert_eq!(r(0o100640, 7, 10001), Some("another group"));
        assert_eq!(r(0o100604, 5, 5), Some("every user"));
        assert_eq!(r(0o100644, 5, 5), Some("every user"));
    }

    use super::*;

    #[test]
    fn generates_once_beside_the_config_and_reads_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("pulsegate.toml");
        let data = dir.path().join("data");
        let mut s = SecurityConfig {
            config_file: Some(config.clone()),
            ..Default::default()
        };
        resolve(&mut s, &data).unwrap();
        let file = dir.path().join(DEFAULT_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(pulsegate_state::Sealer::from_config(&s).unwrap().is_some());
        // A second start reads the same key.
        let mut again = SecurityConfig {
            config_file: Some(config),
            ..Default::default()
        };
        resolve(&mut again, &data).unwrap();
        assert_eq!(again.encryption_key, s.encryption_key);

        // Rotation in the file: new key first, the old one after it.
        let new = pulsegate_state::crypto::generate_key();
        std::fs::write(
            &file,
            format!(
                "{}\n# rotated\n{}\n",
                new.expose(),
                s.encryption_key.expose()
            ),
        )
        .unwrap();
        let mut rotated = SecurityConfig {
            key_file: Some(file),
            ..Default::default()
        };
        resolve(&mut rotated, &data).unwrap();
        assert_eq!(rotated.encryption_key, new);
        assert_eq!(rotated.previous_encryption_keys, vec![s.encryption_key]);
    }

    #[test]
    fn a_configured_key_wins_and_a_key_file_in_the_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SecurityConfig {
            encryption_key: Secret::new("configured"),
            key_file: Some(dir.path().join("never-created")),
            ..Default::default()
        };
        resolve(&mut s, dir.path()).unwrap();
        assert!(!dir.path().join("never-created").exists());

        let data = dir.path().join("data");
        let mut inside = SecurityConfig {
            key_file: Some(data.join("x").join("..").join("pulsegate.key")),
            ..Default::default()
        };
        let err = resolve(&mut inside, &data).unwrap_err().to_string();
        assert!(err.contains("inside bus.data_dir"), "{err}");
    }
}
