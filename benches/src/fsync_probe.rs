//! The disk's own fdatasync latency, measured alongside a load run on the same
//! filesystem as pulsegate's data directory: a thread writes 4 KiB into a preallocated
//! file and fdatasyncs it every ~10 ms, recording when each sync started and how long it
//! took. A window of the run in which the probe saw a slow sync is one where the disk
//! itself stalled: pulsegate's writer waits for the same device then.
//!
//! This is the light, in-process form of `benches/fsync_probe.py` (which also adds a
//! background writer and compares a growing file with a preallocated one).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes written before each fdatasync.
const WRITE: usize = 4096;
/// The preallocated (really written) file; the probe cycles through it.
const FILE_BYTES: u64 = 4 << 20;

/// One fdatasync: when it started and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Sync {
    pub at: Instant,
    pub took: Duration,
}

pub struct FsyncProbe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<Vec<Sync>>>,
}

impl FsyncProbe {
    /// Starts probing in `dir` (a file `fsync-probe.tmp` is created there and removed
    /// when the probe stops), one write + fdatasync every `every`.
    pub fn start(dir: &Path, every: Duration) -> std::io::Result<FsyncProbe> {
        let path = dir.join("fsync-probe.tmp");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        // Written out in advance (not just `set_len`): no block is allocated while
        // probing, so a slow sync is the device's, not the filesystem's allocation.
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..FILE_BYTES / zeros.len() as u64 {
            file.write_all(&zeros)?;
        }
        file.sync_all()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fsync-probe".into())
            .spawn(move || {
                let page = vec![b'x'; WRITE];
                let mut syncs = Vec::new();
                let mut offset = 0u64;
                let mut next = Instant::now();
                while !stopped.load(Ordering::Relaxed) {
                    file.seek(SeekFrom::Start(offset))?;
                    file.write_all(&page)?;
                    let at = Instant::now();
                    file.sync_data()?;
                    syncs.push(Sync {
                        at,
                        took: at.elapsed(),
                    });
                    offset = (offset + WRITE as u64) % FILE_BYTES;
                    next += every;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                }
                drop(file);
                let _ = std::fs::remove_file(&path);
                Ok(syncs)
            })?;
        Ok(FsyncProbe { stop, thread })
    }

    /// Stops the probe; every sync it made.
    pub fn stop(self) -> std::io::Result<Vec<Sync>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("fsync probe panicked"))?
    }
}

/// Per window of `window` from `start` (`count` of them): the slowest sync that
/// overlapped it (a sync that spans a boundary counts in every window it touches), ms.
pub fn worst_per_window(
    syncs: &[Sync],
    start: Instant,
    window: Duration,
    count: usize,
) -> Vec<f64> {
    let mut worst = vec![0.0f64; count];
    for s in syncs {
        let from = s.at.saturating_duration_since(start);
        let to = (s.at + s.took).saturating_duration_since(start);
        let (a, b) = (
            (from.as_nanos() / window.as_nanos()) as usize,
            (to.as_nanos() / window.as_nanos()) as usize,
        );
        for w in worst.iter_mut().take(b.saturating_add(1)).skip(a) {
            *w = w.max(s.took.as_secs_f64() * 1000.0);
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_windows() {
        let dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let probe = FsyncProbe::start(dir.path(), Duration::from_millis(5)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let syncs = probe.stop().unwrap();
        assert!(syncs.len() >= 2, "{}", syncs.len());
        assert!(!dir.path().join("fsync-probe.tmp").exists());
        let w = worst_per_window(&syncs, start, Duration::from_secs(10), 2);
        assert!(w[0] > 0.0 && w[1] == 0.0, "{w:?}");
        // A sync spanning a boundary marks both windows.
        let s = [Sync {
            at: start + Duration::from_millis(9_990),
            took: Duration::from_millis(30),
        }];
        assert_eq!(
            worst_per_window(&s, start, Duration::from_secs(10), 3),
            [30.0, 30.0, 0.0]
        );
    }
}
