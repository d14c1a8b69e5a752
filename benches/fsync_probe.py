#!/usr/bin/env python3
"""fdatasync latency of the disk under a data directory: what the embedded log's group
commit waits for before every 2xx.

Appends 8 KiB and fdatasyncs in a loop, with a background writer flushing 4 MiB files
every 200 ms (like the log's table flushes), on three kinds of file: a growing one
(every sync also writes the new size), a sparse one whose length was set in advance
(what fjall does with its 64 MiB journals: a sync that fills a hole still allocates
blocks, so it commits file-system metadata too), and one written out in advance (a
preallocated segment: the sync writes data only). Prints p50/p99/p99.9/max per run.

    python3 benches/fsync_probe.py [DIR] [SECONDS_PER_RUN]
"""
import os
import sys
import threading
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "."
SECS = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
stop = False


def background():
    i = 0
    while not stop:
        path = os.path.join(DIR, f"fsync-probe-bg{i % 8}.tmp")
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for _ in range(64):
            os.write(f, b"y" * 65536)
        os.fsync(f)
        os.close(f)
        i += 1
        time.sleep(0.2)


def run(mode):
    path = os.path.join(DIR, "fsync-probe.tmp")
    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    if mode == "sparse":
        os.ftruncate(f, 128 << 20)
        os.fsync(f)
    if mode == "written":
        for _ in range(2048):  # 128 MiB really written, so no block is allocated later
            os.write(f, b"\0" * 65536)
        os.fsync(f)
        os.lseek(f, 0, 0)
    lat = []
    t0 = time.time()
    while time.time() - t0 < SECS:
        os.write(f, b"x" * 8192)
        t = time.perf_counter()
        os.fdatasync(f)
        lat.append((time.perf_counter() - t) * 1000)
    os.close(f)
    os.unlink(path)
    lat.sort()
    n = len(lat)
    print(
        f"{mode:<8} {n} syncs  p50 {lat[n // 2]:.2f}  p99 {lat[int(n * .99)]:.2f}  "
        f"p99.9 {lat[int(n * .999)]:.2f}  max {lat[-1]:.1f} ms  (over 50 ms: "
        f"{sum(1 for x in lat if x > 50)})",
        flush=True,
    )


thread = threading.Thread(target=background)
thread.start()
try:
    for mode in ["growing", "sparse", "written"] * 2:
        run(mode)
finally:
    stop = True
    thread.join()
    for i in range(8):
        try:
            os.unlink(os.path.join(DIR, f"fsync-probe-bg{i}.tmp"))
        except FileNotFoundError:
            pass
