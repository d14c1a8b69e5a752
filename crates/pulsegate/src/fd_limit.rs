//! The listeners' connection caps against the process's open-file limit.

/// Descriptors kept for everything but client connections (log files, outbound HTTP,
/// shed answers, the listeners).
const FD_RESERVE: usize = 256;

/// Fits the listeners' connection caps to the open-file limit: raises the soft limit
/// toward the hard one if needed, else lowers the public cap (and says so), so the
/// process sheds connections before `accept` fails for lack of descriptors.
pub fn fit_to_fd_limit(public: usize, admin: usize) -> usize {
    let needed = public + admin + FD_RESERVE;
    let Some(soft) = raise_nofile(needed as u64) else {
        return public;
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    if soft >= needed {
        return public;
    }
    let fitted = soft.saturating_sub(admin + FD_RESERVE).max(16);
    tracing::warn!(
        open_file_limit = soft,
        configured = public,
        effective = fitted,
        "server.max_connections lowered to fit the open-file limit (raise `ulimit -n`)"
    );
    fitted
}

/// The soft RLIMIT_NOFILE after trying to raise it to `wanted` (at most the hard limit).
#[cfg(unix)]
fn raise_nofile(wanted: u64) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    // `None` is RLIM_INFINITY.
    let cur = lim.current.unwrap_or(u64::MAX);
    if cur >= wanted {
        return Some(cur);
    }
    let target = lim.maximum.map_or(wanted, |max| wanted.min(max));
    let raised = Rlimit {
        current: Some(target),
        maximum: lim.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(target),
        Err(_) => Some(cur),
    }
}

#[cfg(not(unix))]
fn raise_nofile(_wanted: u64) -> Option<u64> {
    None
}
