//! Free space on the log's disk, checked before appends so the disk never fills.
//!
//! fjall treats a failed journal write or fsync as fatal (it refuses every later write
//! until reopened), so running into ENOSPC would leave the log stuck. Refusing appends
//! while free space is below a reserve keeps the failure retryable: producers get an
//! error they can answer with 503, consumers pause, and both go on once space returns.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Cached free-space probe of one directory's filesystem.
pub(crate) struct FreeSpace {
    dir: PathBuf,
    reserve: u64,
    checked: Option<Instant>,
    free: u64,
    full: bool,
    pub(crate) refused: metrics::Counter,
    gauge: metrics::Gauge,
}

impl FreeSpace {
    pub(crate) fn new(dir: PathBuf, reserve: u64) -> Self {
        let gauge = metrics::gauge!("pulsegate_bus_disk_full");
        gauge.set(0.0);
        Self {
            dir,
            reserve,
            checked: None,
            free: u64::MAX,
            full: false,
            refused: metrics::counter!("pulsegate_bus_append_refused_total", "reason" => "disk_full"),
            gauge,
        }
    }

    /// `Err((free, reserve))` in bytes while free space is below the reserve. Asks the
    /// filesystem at most once per `every`; a failing probe counts as enough space
    /// (the write itself will tell).
    pub(crate) fn check(&mut self, every: Duration) -> Result<(), (u64, u64)> {
        if self.reserve == 0 {
            return Ok(());
        }
        if self.checked.is_none_or(|t| t.elapsed() >= every) {
            self.checked = Some(Instant::now());
            match available_bytes(&self.dir) {
                Ok(free) => self.free = free,
                Err(e) => {
                    tracing::warn!(error = %e, dir = %self.dir.display(), "cannot read free disk space");
                    self.free = u64::MAX;
                }
            }
            let full = self.free < self.reserve;
            if full != self.full {
                self.full = full;
                self.gauge.set(if full { 1.0 } else { 0.0 });
                if full {
                    tracing::error!(dir = %self.dir.display(), free_mib = self.free >> 20, reserve_mib = self.reserve >> 20,
                        "disk nearly full: refusing appends (ingest answers 503, consumers pause) until space returns");
                } else {
                    tracing::warn!(dir = %self.dir.display(), free_mib = self.free >> 20,
                        "disk space back above the reserve: accepting appends again");
                }
            }
        }
        if self.full {
            Err((self.free, self.reserve))
        } else {
            Ok(())
        }
    }
}

/// Bytes an unprivileged writer may still use on `dir`'s filesystem.
pub(crate) fn available_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    // A path with an interior NUL is EINVAL (io::ErrorKind::InvalidInput), as before.
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}
