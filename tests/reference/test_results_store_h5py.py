#!/usr/bin/env python3
"""The results store (io/store) read back with h5py + numpy, after SIGKILLs at chosen
and random moments and after a write failure (file size limit, EFBIG).

tests/tools/store_writer_tool appends batches of 4 probes (indices 0, 1, 2, ...) whose
every value is a function of the index (tests/tools/store_test_data.hpp) and prints
"committed N" after each commit. Each time the file must open with
h5py.File(p, 'r', swmr=True), hold at least the last printed count in probe/index with
the right values in every column; after `recover` plain h5py.File(p, 'r') must open it;
after `resume` every index must be there exactly once."""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

WRITER = os.environ.get("QK_STORE_WRITER") or os.path.join(rc.BINARY_DIR, "tests", "store_writer_tool")
LAYERS, HEADS, DIM, WIDE = 3, 2, 4, 512


def noise(np, index, k):
    """store_test_data.hpp's noise(index, k), vectorised over k (uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = np.uint64(index) * np.uint64(0x9E3779B97F4A7C15) + k.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(31)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / 9007199254740992.0


def check_store(h5py, np, f, at_least, exact=None, wide=False):
    """Checks an open store: committed rows (>= at_least, == exact), dtypes, shapes,
    attributes and every committed value. Returns the committed count."""
    idx_ds = f["probe/index"]
    n = idx_ds.shape[0]
    assert n >= at_least, f"probe/index holds {n} rows, the writer had printed {at_least}"
    if exact is not None:
        assert n == exact, f"probe/index holds {n} rows, expected {exact}"
    idx = idx_ds[:n]
    assert idx.dtype == np.int64, idx.dtype
    assert np.array_equal(idx, np.arange(n)), "committed indices are not 0..n-1"
    assert f.attrs["schema_version"] == 1
    assert f.attrs["model"] == "test-model"
    cols = [c.decode() if isinstance(c, bytes) else c for c in f.attrs["columns"]]
    assert cols[:3] == ["probe/index", "probe/id", "bo/composite"], cols

    def rows(name, dtype, shape):
        ds = f[name]
        assert ds.dtype == np.dtype(dtype), (name, ds.dtype)
        assert ds.shape[1:] == shape, (name, ds.shape)
        assert ds.shape[0] >= n, (name, ds.shape, n)
        if exact is not None:
            assert ds.shape[0] == n, (name, ds.shape, n)
        assert ds.maxshape[0] is None and ds.chunks is not None, name
        assert ds.compression is None and not ds.shuffle, name  # unfiltered: rewritten in place
        return ds[:n]

    ids = rc.h5_strings(f["probe/id"], n)
    idb = f[f["probe/id"].attrs["utf8_bytes"]]  # text: offsets and bytes only grow (SWMR-safe)
    assert f["probe/id"].dtype == np.int64 and idb.dtype == np.uint8 and idb.maxshape == (None,), idb
    assert list(ids) == [f"p{i}" + (',"q"' if i % 7 == 3 else "") for i in range(n)]
    assert np.array_equal(rows("bo/composite", "<f8", ()), idx / 2 + 0.25)
    layer = rows("bo/layer", "<f4", (LAYERS,))
    assert np.array_equal(layer, (idx[:, None] + np.arange(LAYERS)[None, :] / 8).astype(np.float32))
    ent = rows("attention/entropy", "<f8", (LAYERS, HEADS))
    want = idx[:, None, None] * 10 + np.arange(LAYERS)[None, :, None] * 2 + np.arange(HEADS)[None, None, :]
    assert np.array_equal(ent, want)
    assert np.array_equal(rows("attention/flag", "u1", ()), (idx % 251).astype(np.uint8))
    assert np.array_equal(rows("meta/neg", "<i4", ()), -idx)
    ds = f["attention/entropy"]
    assert ds.attrs["units"] == "nats" and list(ds.attrs["dims"]) == ["layer", "head"], dict(ds.attrs)
    assert ds.attrs["ragged"] == 0 and f["kv/k"].attrs["ragged"] == 1
    assert "index * 10" in ds.attrs["description"]
    # Ragged: kv/offset and kv/count locate each probe's token rows.
    off, cnt = rows("kv/offset", "<i8", ()), rows("kv/count", "<i8", ())
    assert np.array_equal(cnt, idx % 5)
    assert np.array_equal(off, np.concatenate([[0], np.cumsum(cnt)[:-1]]) if n else off)
    total = int(off[-1] + cnt[-1]) if n else 0
    k, tok = f["kv/k"], f["kv/token"]
    assert k.dtype == np.float32 and k.shape[1:] == (DIM,) and k.shape[0] >= total
    assert tok.shape[0] >= total
    if exact is not None:
        assert k.shape[0] == total and tok.shape[0] == total
    kv = k[:total]
    toks = rc.h5_strings(tok, total)
    probe_of_row = np.repeat(idx, cnt)
    t_in_probe = np.arange(total) - np.repeat(off, cnt)
    want_k = probe_of_row[:, None] * 100 + t_in_probe[:, None] * 4 + np.arange(DIM)[None, :]
    assert np.array_equal(kv, want_k.astype(np.float32))
    assert list(toks) == [f"t{p}.{t}" for p, t in zip(probe_of_row, t_in_probe)]
    if wide:
        noi = rows("meta/noise", "<f8", (WIDE,))
        for i in range(0, n, max(1, n // 7)):
            assert np.array_equal(noi[i], noise(np, i, np.arange(WIDE))), f"meta/noise row {i}"
    return n


def last_count(lines):
    counts = [int(x.split()[1]) for x in lines if x.startswith("committed ")]
    return counts[-1] if counts else None


def run_writer(args, **kw):
    return subprocess.run([WRITER] + args, capture_output=True, text=True, timeout=120, **kw)


def after_crash(h5py, np, path, printed, label, wide=False):
    """Checks a file a writer left (killed or failed), recovers it, finishes it."""
    with h5py.File(path, "r", swmr=True) as f:
        n = check_store(h5py, np, f, printed, wide=wide)
    try:
        with h5py.File(path, "r"):
            print(f"NOTE: {label}: plain h5py opened the file before recover")
    except OSError:
        pass
    proc = run_writer(["recover", path])
    assert proc.returncode == 0, f"recover: exit {proc.returncode}: {proc.stderr}"
    with h5py.File(path, "r") as f:
        assert check_store(h5py, np, f, printed, wide=wide) == n, "recover changed the rows"
    total = n + 23
    proc = run_writer(["resume", path, "--total", str(total), "--batch", "5"] + (["--wide"] if wide else []))
    assert proc.returncode == 0, f"resume: exit {proc.returncode}: {proc.stderr}"
    with h5py.File(path, "r") as f:
        check_store(h5py, np, f, total, exact=total, wide=wide)
        assert f.attrs["status"] == b"finished"  # fixed-length: bytes
        assert len(np.unique(f["probe/index"][:])) == total
    print(f"ok: {label}: printed {printed}, committed {n}, resumed to {total}")


def kill_after(h5py, np, path, commits=None, sleep_s=None, label=""):
    proc = subprocess.Popen([WRITER, "create", path, "--batch", "4"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    if commits is not None:
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("committed ") and int(line.split()[1]) >= 4 * commits:
                break
    else:
        time.sleep(sleep_s)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    lines += out.split("\n")
    assert proc.returncode == -signal.SIGKILL, f"{label}: writer ended with {proc.returncode}"
    printed = last_count(lines)
    if printed is None:
        print(f"ok: {label}: killed before the store was created (nothing to check)")
        return
    after_crash(h5py, np, path, printed, label)


def main():
    try:
        import h5py
        import numpy as np
    except ImportError as e:
        rc.skip(f"h5py/numpy missing: {e}")
    if not os.access(WRITER, os.X_OK):
        print(f"FAILED: store_writer_tool not found: {WRITER} (set QK_STORE_WRITER)")
        return 1
    seed = int(os.environ.get("QK_STORE_SEED", "20261123"))
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for commits in (1, 7, 40):
            kill_after(h5py, np, os.path.join(tmp, f"kill{commits}.h5"), commits=commits,
                       label=f"SIGKILL after {commits} commits")
        for k in range(4):
            s = rng.uniform(0.02, 0.4)
            kill_after(h5py, np, os.path.join(tmp, f"rand{k}.h5"), sleep_s=s,
                       label=f"SIGKILL after {s:.3f} s (seed {seed})")
        # A write failing with EFBIG (file size limit) keeps every earlier commit.
        path = os.path.join(tmp, "efbig.h5")
        proc = run_writer(["create", path, "--batch", "8", "--wide", "--fsize-limit", "3000000"])
        assert proc.returncode == 3, f"EFBIG writer: exit {proc.returncode}: {proc.stderr}"
        assert path in proc.stderr and "too large" in proc.stderr, proc.stderr
        printed = last_count(proc.stdout.split("\n"))
        assert printed and printed > 0, proc.stdout
        after_crash(h5py, np, path, printed, "EFBIG", wide=True)
        # A clean run: plain h5py opens it, exact lengths.
        path = os.path.join(tmp, "clean.h5")
        proc = run_writer(["create", path, "--batches", "6"])
        assert proc.returncode == 0, proc.stderr
        with h5py.File(path, "r") as f:
            check_store(h5py, np, f, 24, exact=24)
            assert f.attrs["status"] == b"finished"  # fixed-length: bytes
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
