#!/usr/bin/env python3
"""What the second sync of a sealed append costs, by how the log would be written
(benches/RESULTS.md, "P2"): usage `python3 benches/scripts/logsync.py DIR [N]`.

(a) append 180 B (about one seal line) to a growing file + fdatasync: checkpoints.log
    today (the size changes, so ext4 also commits the inode);
(b) overwrite 180 B inside a file pre-filled with zeros + fdatasync (size unchanged: what a
    preallocated, zero-padded log would do);
(c) append 180 B + sync_file_range(WAIT_BEFORE|WRITE|WAIT_AFTER): what sled's `flush`
    does (no device cache flush). The three are interleaved, N times each; medians."""
import os, time, statistics, sys
d = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
rec = b"x" * 180
ga = os.path.join(d, "grow.log"); pz = os.path.join(d, "prezero.log")
for p in (ga, pz):
    if os.path.exists(p): os.remove(p)
fa = os.open(ga, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
fz = os.open(pz, os.O_RDWR | os.O_CREAT, 0o600)
os.write(fz, b"\0" * (n * 180 + 4096)); os.fsync(fz)
import ctypes
libc = ctypes.CDLL("libc.so.6", use_errno=True)
gs = os.path.join(d, "grow-sfr.log")
if os.path.exists(gs): os.remove(gs)
fs = os.open(gs, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
def sfr(fd):
    # SYNC_FILE_RANGE_WAIT_BEFORE|WRITE|WAIT_AFTER = 1|2|4, what sled's flush does
    if libc.sync_file_range(fd, ctypes.c_longlong(0), ctypes.c_longlong(0), 7) != 0:
        raise OSError(ctypes.get_errno(), "sync_file_range")
ta, tz, ts = [], [], []
for i in range(n):
    t = time.perf_counter(); os.write(fa, rec); os.fdatasync(fa); ta.append(time.perf_counter() - t)
    t = time.perf_counter(); os.pwrite(fz, rec, i * 180); os.fdatasync(fz); tz.append(time.perf_counter() - t)
    t = time.perf_counter(); os.write(fs, rec); sfr(fs); ts.append(time.perf_counter() - t)
m = lambda v: statistics.median(v) * 1e6
print(f"n={n}: growing file append+fdatasync median {m(ta):.0f} us (p90 {sorted(ta)[int(n*.9)]*1e6:.0f}); pre-zeroed overwrite+fdatasync median {m(tz):.0f} us (p90 {sorted(tz)[int(n*.9)]*1e6:.0f}); growing file append+sync_file_range (sled's flush) median {m(ts):.0f} us")
