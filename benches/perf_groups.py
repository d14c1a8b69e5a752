#!/usr/bin/env python3
"""Groups the samples of a `perf record -e cpu-clock -g` of pulsegate (or the broker) by
component, for docs/PERFORMANCE.md.

The release build has no frame pointers, so user-space stacks stop after a frame or
two: a sample is attributed by its thread and by its leaf frame (the function on the
CPU); kernel stacks are complete, so kernel time is split by the system call under it
(fdatasync, loopback TCP, epoll, futex wake-ups, page faults).

    perf script -i PREFIX-pulsegate.data | python3 benches/perf_groups.py
"""
import collections
import re
import sys

# (component, pattern on the leaf symbol), first match wins.
USER = [
    ("fjall / lsm-tree", r"fjall|lsm_tree|value_log|xxhash|twox|lz4"),
    ("HTTP: hyper / axum / tower", r"hyper|httparse|http::|h2::|http_body|axum|tower"),
    ("ingest handler", r"pulsegate_ingest"),
    ("reqwest", r"reqwest"),
    ("tokio / mio (scheduler, wakers, timers)", r"tokio|mio::|futures|parking_lot|crossbeam"),
    ("seal / AEAD (AES-GCM)", r"aes|gcm|ghash|polyval|ctr32|seal|aead|ring::|aws_lc"),
    ("verify (HMAC, signatures)", r"verif|hmac|sha1|sha2|Sha|constant_time"),
    ("serde / JSON", r"serde|json|RawValue|ryu|itoa"),
    ("mapping / normalizer", r"normaliz|mapping|terra|pulsegate_providers|pulsegate_schema"),
    ("dispatcher", r"dispatch"),
    ("bus (embedded log, writer, consumers)", r"pulsegate_bus|writer|rdkafka|librdkafka|rd_kafka"),
    ("state", r"pulsegate_state|evmap"),
    ("metrics", r"metrics"),
    ("allocator / memcpy", r"^mi_|_mi_|malloc|free|memmove|memcpy|memset|realloc|alloc::"),
    ("tracing / logging", r"tracing"),
]
KERNEL = [
    ("kernel: fdatasync (block I/O, virtio)", r"fsync|fdatasync|sync_file|blk_|virtio|iowrite|jbd2"),
    ("kernel: loopback TCP", r"tcp_|sock_|inet_|^ip_|loopback|skb|net_rx|__dev_queue|sendmsg|recvmsg"),
    ("kernel: epoll", r"epoll"),
    ("kernel: write/read of files", r"ext4_|xfs_|generic_perform_write|filemap|pwrite|pread"),
    ("kernel: futex / scheduling (wake-ups)", r"futex|schedule|finish_task_switch|try_to_wake_up|nanosleep"),
    ("kernel: page faults / memory", r"page_fault|clear_page|do_anonymous|mmap|munmap|madvise|exc_page"),
]


def classify(comm, frames):
    if frames and frames[0][1]:
        for name, pat in KERNEL:
            if any(re.search(pat, f) for f, _ in frames):
                return name
        return "kernel: other"
    leaf = frames[0][0] if frames else "?"
    for name, pat in USER:
        if re.search(pat, leaf):
            return name
    return "other user space"


def main():
    by_group = collections.Counter()
    by_thread = collections.Counter()
    leaves = collections.Counter()
    total = 0
    comm, frames = None, []

    def flush():
        nonlocal total
        if comm is None:
            return
        total += 1
        thread = re.sub(r"[-_ ]?\d+$", "", comm)
        by_thread[thread] += 1
        by_group[classify(comm, frames)] += 1
        if frames:
            leaves[frames[0][0]] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if not line.startswith(("\t", " ")):
            comm = line.split()[0]
            continue
        m = re.match(r"\s*[0-9a-f]+ (.*?)(\+0x[0-9a-f]+)? \((.*)\)$", line.rstrip())
        if m:
            frames.append((m.group(1), "kernel.kallsyms" in m.group(3)))
    flush()
    if not total:
        sys.exit("no samples")
    print(f"{total} samples")
    print("by thread:")
    for t, n in by_thread.most_common(6):
        print(f"  {100 * n / total:5.1f}%  {t}")
    print("by component (kernel time by the syscall under it, user time by leaf frame):")
    for g, n in by_group.most_common():
        if 100 * n / total >= 1.0:
            print(f"  {100 * n / total:5.1f}%  {g}")
    print("top leaf symbols:")
    for s, n in leaves.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {s[:110]}")


main()
