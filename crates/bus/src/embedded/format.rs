//! The data dir's format version: a one-line file, `pulsegate-format`, that an upgrade
//! reads before anything else and a rollback cannot miss.
//!
//! - 1: before this file existed (fjall 3 keyspaces per partition, manifest v1, record
//!   values with or without the checksum prefix). Read as is.
//! - 2: the same layout, stamped. A data dir without the file is taken as 1 and stamped
//!   2 when opened (nothing on disk needs rewriting).
//!
//! A data dir stamped with a version this binary does not know was written by a newer
//! pulsegate: opening it is refused, never guessed at, so a rollback cannot misread or
//! rewrite data in a format it does not understand.

use std::io::Write as _;
use std::path::Path;

use crate::BusError;

pub(crate) const FILE: &str = "pulsegate-format";
/// The format this binary writes.
pub(crate) const CURRENT: u32 = 2;
const PREFIX: &str = "pulsegate-data-dir ";

/// Checks the data dir's format and stamps it as [`CURRENT`] if it is older or new.
/// Returns the version found (1 for a dir from before the file, `None` for an empty dir).
pub(crate) fn check_and_stamp(dir: &Path) -> Result<Option<u32>, BusError> {
    let path = dir.join(FILE);
    let found = match std::fs::read_to_string(&path) {
        Ok(text) => Some(parse(&text).ok_or_else(|| {
            BusError::DataLoss(format!(
                "{} is not a pulsegate format file (expected `{PREFIX}<n>`): \
                 the data dir is damaged or not pulsegate's",
                path.display()
            ))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if has_data(dir)? {
                Some(1)
            } else {
                None
            }
        }
        Err(e) => return Err(BusError::Storage(format!("{}: {e}", path.display()))),
    };
    if let Some(v) = found {
        if v > CURRENT {
            return Err(BusError::DataLoss(format!(
                "the data dir {} has format {v}, written by a newer pulsegate; this binary \
                 reads formats 1 to {CURRENT}. Run the newer version, or restore a backup \
                 taken before the upgrade (docs/OPERATIONS.md#upgrades-and-rollbacks)",
                dir.display()
            )));
        }
        if v == CURRENT {
            return Ok(found);
        }
        tracing::info!(from = v, to = CURRENT, data_dir = %dir.display(), "data dir format upgraded");
    }
    stamp(dir)?;
    Ok(found)
}

fn parse(text: &str) -> Option<u32> {
    text.trim().strip_prefix(PREFIX)?.trim().parse().ok()
}

/// Anything but our own lock-free leftovers: a dir with files in it holds data.
fn has_data(dir: &Path) -> Result<bool, BusError> {
    let mut entries = std::fs::read_dir(dir).map_err(|e| BusError::Storage(e.to_string()))?;
    Ok(entries.next().is_some())
}

/// Written like the manifest: temp file, fsync, rename, fsync of the directory.
fn stamp(dir: &Path) -> Result<(), BusError> {
    let io = |e: std::io::Error| BusError::Storage(format!("writing {FILE}: {e}"));
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(format!("{PREFIX}{CURRENT}\n").as_bytes())
        .map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, dir.join(FILE)).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_dir_is_stamped_current() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_and_stamp(dir.path()).unwrap(), None);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(parse(&text), Some(CURRENT));
        assert_eq!(check_and_stamp(dir.path()).unwrap(), Some(CURRENT));
    }

    #[test]
    fn a_dir_from_before_the_file_is_format_1_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pulsegate-manifest"), "x").unwrap();
        assert_eq!(check_and_stamp(dir.path()).unwrap(), Some(1));
        assert_eq!(check_and_stamp(dir.path()).unwrap(), Some(CURRENT));
    }

    #[test]
    fn a_newer_format_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let newer = format!("{PREFIX}{}\n", CURRENT + 1);
        std::fs::write(dir.path().join(FILE), &newer).unwrap();
        let err = check_and_stamp(dir.path()).unwrap_err().to_string();
        assert!(err.contains("newer pulsegate"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FILE)).unwrap(),
            newer
        );
    }

    #[test]
    fn a_garbled_format_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "hello").unwrap();
        assert!(check_and_stamp(dir.path()).is_err());
    }
}
