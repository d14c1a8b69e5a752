//! When a user is polled: pure functions of the user id, the interval and the time.
//!
//! Each user has a fixed place in every interval, its offset: a hash of the user id
//! modulo the interval. The user's k-th slot starts at `k × interval + offset`; a user is
//! due once a slot started after the one of its last complete poll. So users are
//! spread evenly over the interval, each is polled once per interval, and a restart
//! changes nothing (the offsets derive from the ids, the last polls are durable): no
//! bunching. After downtime every overdue user is due at once (the lane's concurrency
//! and the rate limits pace them), oldest first.

/// FNV-1a, 64 bits, mixed: the same on every process and every version.
fn hash64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Murmur3's finaliser: ids that differ in their last characters land far apart.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Where in each interval `user_id` is polled, in ms after the interval's start.
pub fn offset_ms(user_id: &str, interval_ms: u64) -> u64 {
    hash64(user_id) % interval_ms.max(1)
}

/// The user's slot that `t_ms` falls in (slot `k` starts at `(k - 1) × interval +
/// offset`, so every time has a slot, from 0 on).
pub fn slot(user_id: &str, interval_ms: u64, t_ms: u64) -> u64 {
    let interval = interval_ms.max(1);
    (t_ms + interval - offset_ms(user_id, interval)) / interval
}

/// When a user last polled at `last_polled_ms` (`None`: never) is due next.
pub fn next_due_ms(user_id: &str, interval_ms: u64, last_polled_ms: Option<u64>) -> u64 {
    let Some(last) = last_polled_ms else {
        return 0;
    };
    let interval = interval_ms.max(1);
    // The start of the slot after the last poll's.
    slot(user_id, interval, last) * interval + offset_ms(user_id, interval)
}

/// Whether a user last polled at `last_polled_ms` is due at `now_ms`.
pub fn due(user_id: &str, interval_ms: u64, last_polled_ms: Option<u64>, now_ms: u64) -> bool {
    now_ms >= next_due_ms(user_id, interval_ms, last_polled_ms)
}

/// The ownership bucket of `user_id` (see the module `owner`).
pub fn bucket(user_id: &str, buckets: u32) -> u32 {
    pulsegate_bus::partition_for(user_id.as_bytes(), buckets.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: u64 = 15 * 60 * 1000;

    fn user(n: u32) -> String {
        format!("3f0c6a2e-0000-4000-8000-{n:012}")
    }

    #[test]
    fn offsets_are_stable_and_spread_over_the_interval() {
        assert_eq!(offset_ms(&user(1), I), offset_ms(&user(1), I));
        assert!(offset_ms(&user(1), I) < I);
        // 15 000 users in 15 one-minute bins: each within 20% of 1000.
        let mut bins = [0u32; 15];
        for n in 0..15_000 {
            bins[(offset_ms(&user(n), I) / 60_000) as usize] += 1;
        }
        for (i, b) in bins.iter().enumerate() {
            assert!((800..=1200).contains(b), "minute {i}: {b} users ({bins:?})");
        }
    }

    #[test]
    fn once_per_interval_at_the_users_own_time() {
        let u = user(7);
        let off = offset_ms(&u, I);
        let t0 = 1_700_000_000_000 / I * I; // an interval boundary
                                            // Never polled: due now.
        assert!(due(&u, I, None, t0));
        // Polled just before its time: due again exactly at its offset, not before.
        let last = t0 + off - 1;
        assert!(!due(&u, I, Some(last), t0 + off - 1));
        assert!(due(&u, I, Some(last), t0 + off));
        assert_eq!(next_due_ms(&u, I, Some(last)), t0 + off);
        // Polled at its time: next at the same place of the next interval.
        assert_eq!(next_due_ms(&u, I, Some(t0 + off)), t0 + off + I);
        assert!(!due(&u, I, Some(t0 + off), t0 + off + I - 1));
        // A restart in the same slot changes nothing (the last poll is durable).
        assert!(!due(&u, I, Some(t0 + off + 5), t0 + off + 60_000));
        // Downtime: three intervals missed, due at once, and then back on schedule.
        assert!(due(&u, I, Some(t0 + off), t0 + off + 3 * I + 17));
        assert_eq!(
            next_due_ms(&u, I, Some(t0 + off + 3 * I + 17)),
            t0 + off + 4 * I
        );
    }

    #[test]
    fn each_user_is_due_once_per_slot_as_time_passes() {
        // Stepping through two hours a second at a time, polling whenever due: every
        // user is polled 8 times (15-minute interval), never twice in one slot.
        for n in 0..50 {
            let u = user(n);
            let start = 1_700_000_000_000u64;
            let mut last = Some(start); // polled at the start
            let mut polls = 0;
            let mut t = start;
            while t < start + 8 * I {
                if due(&u, I, last, t) {
                    assert_ne!(slot(&u, I, t), slot(&u, I, last.unwrap()));
                    last = Some(t);
                    polls += 1;
                }
                t += 1000;
            }
            assert_eq!(polls, 8, "{u}");
        }
    }

    #[test]
    fn buckets_are_stable_and_used() {
        assert_eq!(bucket(&user(3), 64), bucket(&user(3), 64));
        let used: std::collections::HashSet<u32> =
            (0..2000).map(|n| bucket(&user(n), 64)).collect();
        assert_eq!(used.len(), 64);
        assert_eq!(bucket(&user(3), 0), 0);
    }
}
