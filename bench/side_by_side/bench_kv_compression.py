#!/usr/bin/env python3
"""Write time and size of a sweep's saved K (kv/k) under HDF5 filter settings (issue 16):
f32 and f16, unfiltered, gzip 4, shuffle + gzip 1, with the store's ~64 KiB chunks, via h5py.
Usage: bench/side_by_side/bench_kv_compression.py RESULTS.h5 (a sweep run with --save-kv k)."""

import os
import sys
import tempfile
import time

import h5py
import numpy as np

src = sys.argv[1]
k = h5py.File(src, "r")["kv/k"][()]
print("kv/k", k.shape, k.dtype, f"{k.nbytes / 2**20:.1f} MiB")
rows = []
for name, data, kw in [
    ("f32 none", k, {}),
    ("f32 gzip4", k, dict(compression="gzip", compression_opts=4)),
    ("f32 shuffle+gzip1", k, dict(compression="gzip", compression_opts=1, shuffle=True)),
    ("f16 none", k.astype(np.float16), {}),
    ("f16 gzip4", k.astype(np.float16), dict(compression="gzip", compression_opts=4)),
    ("f16 shuffle+gzip1", k.astype(np.float16), dict(compression="gzip", compression_opts=1, shuffle=True)),
]:
    path = os.path.join(tempfile.gettempdir(), "qk_kv_compression.h5")
    t = time.perf_counter()
    with h5py.File(path, "w") as f:
        f.create_dataset("k", data=data, chunks=(max(1, 65536 // (data[0].nbytes)),) + data.shape[1:], **kw)
    dt = time.perf_counter() - t
    size = os.path.getsize(path)
    rows.append((name, dt, size))
    print(f"| {name} | {dt:.2f} | {size / 2**20:.1f} | {size / k.nbytes:.0%} |")
