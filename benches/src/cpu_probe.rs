//! CPU that other processes took during a load run: the machine's busy time
//! (`/proc/stat`) minus the bench's own and the measured servers' (`/proc/<pid>/stat`),
//! sampled every ~100 ms. A half-load window whose tail is long while the rest of the
//! machine was busy is not (only) the server's doing; one where nothing else ran is.
//!
//! Reads files only (no processes started), so the probe itself stays near zero.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One sample: when, and cumulative clock ticks (`USER_HZ`) busy on the whole machine
/// and in the watched processes (this one included), and every other process's ticks
/// by pid (with its name), to say who the others were.
#[derive(Debug, Clone)]
pub struct CpuSample {
    pub at: Instant,
    pub machine_busy: u64,
    pub watched: u64,
    pub others: Vec<(u32, u64, String)>,
}

pub struct CpuProbe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<CpuSample>>,
}

impl CpuProbe {
    /// Samples every `every`, counting this process and `pids` as watched.
    pub fn start(pids: Vec<u32>, every: Duration) -> std::io::Result<CpuProbe> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cpu-probe".into())
            .spawn(move || {
                let mut samples = Vec::new();
                while !stopped.load(Ordering::Relaxed) {
                    if let Some(s) = sample(&pids) {
                        samples.push(s);
                    }
                    std::thread::sleep(every);
                }
                samples
            })?;
        Ok(CpuProbe { stop, thread })
    }

    /// Stops the probe; every sample it took.
    pub fn stop(self) -> Vec<CpuSample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn sample(pids: &[u32]) -> Option<CpuSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let machine_busy = machine_busy_ticks(&stat)?;
    let me = std::process::id();
    let mut watched = 0;
    let mut others = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process that has exited meanwhile counts as nothing from then on.
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(ticks) = process_ticks(&text) else {
            continue;
        };
        if pid == me || pids.contains(&pid) {
            watched += ticks;
        } else if ticks > 0 {
            others.push((pid, ticks, process_name(&text).to_string()));
        }
    }
    Some(CpuSample {
        at: Instant::now(),
        machine_busy,
        watched,
        others,
    })
}

/// The command name of a `/proc/<pid>/stat` line (between the first `(` and last `)`).
pub fn process_name(stat: &str) -> &str {
    match (stat.find('('), stat.rfind(')')) {
        (Some(a), Some(b)) if a < b => &stat[a + 1..b],
        _ => "?",
    }
}

/// Busy ticks of all CPUs from `/proc/stat`'s first line: user, nice, system, irq,
/// softirq and steal (idle and iowait are not busy; guest time is already in user).
pub fn machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    Some(get(0) + get(1) + get(2) + get(5) + get(6) + get(7))
}

/// utime + stime of one process from its `/proc/<pid>/stat` (fields 14 and 15, counted
/// after the command name, which may itself hold spaces and parentheses).
pub fn process_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The worst second of a window for other processes: the CPU they took then, in
/// percent of one core (100 = a whole core), and the three that took the most. Beside
/// it, the machine's busy time that no process accounts for in that second
/// (interrupts, softirq work such as loopback TCP: mostly the load itself).
#[derive(Debug, Clone, Default)]
pub struct Foreign {
    pub pct: f64,
    pub top: Vec<(String, f64)>,
    pub unattributed_pct: f64,
}

/// Per window of `window` from `start` (`count` of them): its worst second of other
/// processes' CPU.
pub fn foreign_per_window(
    samples: &[CpuSample],
    start: Instant,
    window: Duration,
    count: usize,
) -> Vec<Foreign> {
    let ticks_per_sec = ticks_per_second();
    let mut worst = vec![Foreign::default(); count];
    let mut seen = vec![false; count];
    let mut from = 0;
    for (i, s) in samples.iter().enumerate() {
        // The latest sample at least a second before this one.
        while from < i && s.at.duration_since(samples[from + 1].at) >= Duration::from_secs(1) {
            from += 1;
        }
        let a = &samples[from];
        let secs = s.at.duration_since(a.at).as_secs_f64();
        if i == from || secs < 0.5 {
            continue;
        }
        let per_pct = ticks_per_sec * secs / 100.0;
        let used = others_used(a, s);
        let others: u64 = used.iter().map(|(_, d)| d).sum();
        let busy = s.machine_busy.saturating_sub(a.machine_busy);
        let watched = s.watched.saturating_sub(a.watched);
        let w = (s.at.saturating_duration_since(start).as_nanos() / window.as_nanos()) as usize;
        let pct = others as f64 / per_pct;
        if let (Some(slot), Some(seen)) = (worst.get_mut(w), seen.get_mut(w)) {
            if !*seen || pct > slot.pct {
                *seen = true;
                *slot = Foreign {
                    pct,
                    top: used
                        .into_iter()
                        .take(3)
                        .map(|(name, d)| (name, d as f64 / per_pct))
                        .collect(),
                    unattributed_pct: busy.saturating_sub(watched + others) as f64 / per_pct,
                };
            }
        }
    }
    worst
}

/// Ticks each other process used between `a` and `b`, most first.
fn others_used(a: &CpuSample, b: &CpuSample) -> Vec<(String, u64)> {
    let before: std::collections::HashMap<u32, u64> =
        a.others.iter().map(|(pid, t, _)| (*pid, *t)).collect();
    let mut used: Vec<(String, u64)> = b
        .others
        .iter()
        .filter_map(|(pid, t, name)| {
            // A process born in between counts from zero.
            let d = t.saturating_sub(before.get(pid).copied().unwrap_or(0));
            (d > 0).then(|| (name.clone(), d))
        })
        .collect();
    used.sort_by_key(|u| std::cmp::Reverse(u.1));
    used
}

/// Clock ticks per second (`USER_HZ`), the unit of `/proc`'s CPU times.
pub fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_and_a_process_with_parentheses_in_its_name() {
        let stat = "cpu  100 5 50 1000 7 3 2 1 0 0\ncpu0 50 0 25 500 3 1 1 0 0 0\n";
        assert_eq!(machine_busy_ticks(stat), Some(100 + 5 + 50 + 3 + 2 + 1));
        let pid = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                   1234 567 0 0 20 0 8 0 100 1000000 500 18446744073709551615";
        assert_eq!(process_ticks(pid), Some(1234 + 567));
        assert_eq!(process_ticks("garbage"), None);
        assert_eq!(machine_busy_ticks("intr 1 2 3"), None);
    }

    #[test]
    fn other_processes_are_summed_named_and_the_rest_is_unattributed() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let others = |a: u64, b: u64| {
            vec![
                (7, a, "jbd2/vda1-8".to_string()),
                (9, b, "cron".to_string()),
            ]
        };
        // 0-1 s: 150 ticks busy, 100 watched, others 30 + 5 -> 35% named, 15% unattributed.
        // 1-2 s: 100 busy, 100 watched, others idle -> nothing.
        let samples = [
            CpuSample {
                at: t0,
                machine_busy: 0,
                watched: 0,
                others: others(10, 0),
            },
            CpuSample {
                at: t0 + ms(1000),
                machine_busy: 150,
                watched: 100,
                others: others(40, 5),
            },
            CpuSample {
                at: t0 + ms(2000),
                machine_busy: 250,
                watched: 200,
                others: others(40, 5),
            },
        ];
        let w = foreign_per_window(&samples, t0, ms(1000), 3);
        assert!((w[1].pct - 35.0).abs() < 1e-9, "{w:?}");
        assert!((w[1].unattributed_pct - 15.0).abs() < 1e-9, "{w:?}");
        assert_eq!(w[1].top[0].0, "jbd2/vda1-8");
        assert!((w[1].top[0].1 - 30.0).abs() < 1e-9, "{w:?}");
        assert_eq!(w[1].top[1].0, "cron");
        assert!(w[2].pct.abs() < 1e-9 && w[2].top.is_empty(), "{w:?}");
        assert_eq!(w[0].pct, 0.0);
    }

    #[test]
    fn a_busy_loop_elsewhere_is_seen() {
        // Another process spinning for ~1.5 s shows as most of a core, by name.
        let mut spin = std::process::Command::new("python3")
            .arg("-c")
            .arg("import time\nend = time.time() + 1.5\nwhile time.time() < end: pass")
            .spawn()
            .unwrap();
        let probe = CpuProbe::start(Vec::new(), Duration::from_millis(100)).unwrap();
        let t0 = Instant::now();
        spin.wait().unwrap();
        let samples = probe.stop();
        let w = foreign_per_window(&samples, t0, Duration::from_secs(10), 1);
        assert!(
            w[0].pct > 30.0,
            "a spinning python3 took {:.0}% of a core",
            w[0].pct
        );
        assert!(
            w[0].top.iter().any(|(name, _)| name.starts_with("python3")),
            "the spinning process is named: {:?}",
            w[0].top
        );
    }
}
