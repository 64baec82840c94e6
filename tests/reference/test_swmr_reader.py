#!/usr/bin/env python3
"""h5py readers attached to a running sweep (docs/sweep.md: watching a sweep from a notebook).

While `qkgeom sweep --save-kv k --metrics bo,attention` runs on the tiny qwen3 checkpoint,
two reader processes poll the file with h5py's documented SWMR reading:
  long-lived: ONE h5py.File(p, "r", libver="latest", swmr=True) kept open; each poll
              refresh()es probe/index, takes n = len(probe/index), refresh()es the other
              datasets it reads and reads row n-1;
  reopened:   the same, opening and closing the file for every poll.
Row n-1 read: probe/index, every string column of group probe, bo/composite_exact,
attention/entropy, and the probe's kv/k rows through kv/offset and kv/count.
Then: the sweep exits 0, status "complete", no reader error, more than 3 distinct lengths
seen by each reader, and every row a reader saw equals the finished file's, bitwise.
Last, `--resume` of a finished and of a killed file while a reader holds it open: it
works, or exits 3/4 with a message naming the lock or the reader; printed either way."""
import json
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check, finish  # noqa: E402

MODEL = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
ARGS = ["--device", "cpu", "--threads", "1", "--batch-tokens", "32", "--save-kv", "k",
        "--metrics", "bo,attention", "--quiet"]
N_PROBES = 1500
METRICS = ("bo/composite_exact", "attention/entropy")


def write_probes(path, n):
    rng = random.Random(5)
    with open(path, "w") as f:
        for i in range(n):
            ids = [rng.randrange(128) for _ in range(rng.randrange(2, 30))]
            f.write(json.dumps({"id": f"probe-{i:04d}", "domain": "abc"[i % 3],
                                "note": f"probe {i} ünïcode ✓", "ids": ids}) + "\n")


def sweep_cmd(probes, out, *extra):
    return [rc.QKGEOM_BIN, "sweep", "--model", MODEL, "--probes", probes, "--out", out, *ARGS,
            *extra]


def string_columns(f):
    return sorted("probe/" + k for k, d in f["probe"].items() if "utf8_bytes" in d.attrs)


def text_row(f, name, i):
    """Row i of text column `name` as bytes: its end offsets, then its bytes (refreshed)."""
    d = f[name]
    b = f[d.attrs["utf8_bytes"]]
    b.refresh()
    start = int(d[i - 1]) if i else 0
    return b[start:int(d[i])].tobytes()


def read_newest(f, errors):
    """(row, {dataset: value}) of the newest committed row of an open file, None before the
    first commit. probe/index is refreshed first, the rest after reading n; a dataset that
    fails to read is left out and its error appended to `errors`."""
    f["probe/index"].refresh()
    n = f["probe/index"].shape[0]
    if n == 0:
        return None
    i = n - 1
    names = string_columns(f) + list(METRICS) + ["kv/offset", "kv/count", "kv/k"]
    for name in names:
        f[name].refresh()
    row = {"probe/index": f["probe/index"][i]}
    for name in names[:-3] + ["kv/k"]:
        try:
            if name == "kv/k":
                off, cnt = int(f["kv/offset"][i]), int(f["kv/count"][i])
                row[name] = f[name][off:off + cnt]
            elif "utf8_bytes" in f[name].attrs:
                row[name] = text_row(f, name, i)
            else:
                row[name] = f[name][i]
        except Exception as e:  # h5py raises OSError, RuntimeError, ...
            errors.append(f"{name}: {type(e).__name__}: {str(e)[:120]}")
    return i, row


def reader(path, reopen, done, result_file):
    """Polls `path` until `done` is set; pickles lengths, rows seen and errors."""
    seen, lengths, errors, f, polls, t_end = {}, [], [], None, 0, time.time() + 300
    while not done.is_set() and time.time() < t_end:
        try:
            if f is None:
                if not os.path.exists(path):
                    time.sleep(0.01)
                    continue
                try:
                    f = h5py.File(path, "r", libver="latest", swmr=True)
                except OSError:  # not yet in SWMR mode: not an error, try again
                    time.sleep(0.01)
                    continue
            polls += 1
            got = read_newest(f, errors)
            lengths.append(0 if got is None else got[0] + 1)
            if got:
                seen[got[0]] = got[1]
        except Exception as e:  # any failed read of committed data is what this test counts
            errors.append(f"{type(e).__name__}: {str(e)[:160]}")
        if reopen and f is not None:
            f.close()
            f = None
        time.sleep(0.01)
    if f is not None:
        f.close()
    with open(result_file, "wb") as out:
        pickle.dump({"seen": seen, "lengths": lengths, "errors": errors, "polls": polls}, out)


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))
    return np.array_equal(a, b)


def compare_seen(path, seen):
    """Rows of `seen` that differ from the finished file: [(row, dataset)]. Opened with
    swmr=True, so that a run that failed at the end is compared too."""
    bad = []
    with h5py.File(path, "r", swmr=True) as f:
        for i, row in sorted(seen.items()):
            off, cnt = int(f["kv/offset"][i]), int(f["kv/count"][i])
            for name, value in row.items():
                final = (f[name][off:off + cnt] if name == "kv/k" else
                         text_row(f, name, i) if "utf8_bytes" in f[name].attrs else f[name][i])
                if not same(value, final):
                    nan = np.asarray(value).dtype.kind == "f" and np.isnan(value).any()
                    bad.append((i, name + (" (NaN read)" if nan else "")))
    return bad


def test_live_readers(probes, tmp):
    out = os.path.join(tmp, "live.h5")
    done = multiprocessing.Event()
    readers = {}
    for name, reopen in (("long-lived", False), ("reopened", True)):
        result = os.path.join(tmp, f"{name}.pickle")
        p = multiprocessing.Process(target=reader, args=(out, reopen, done, result))
        p.start()
        readers[name] = (p, result)
    t0 = time.time()
    r = subprocess.run(sweep_cmd(probes, out), capture_output=True, text=True, timeout=600)
    took = time.time() - t0
    done.set()
    check(r.returncode == 0, f"sweep with two readers attached exits 0 in {took:.1f} s "
          f"(exit {r.returncode}: {r.stderr.strip()[-300:]})")
    with h5py.File(out, "r", swmr=True) as f:
        status, n = rc.text_attr(f, "status"), len(f["probe/index"])
    status = status.decode() if isinstance(status, bytes) else status
    check(status == "complete" and n == N_PROBES, f"status {status!r}, {n} of {N_PROBES} probes")
    for name, (p, result) in readers.items():
        p.join(60)
        if not os.path.exists(result):
            check(False, f"{name} reader left no result (exit {p.exitcode})")
            continue
        res = pickle.load(open(result, "rb"))
        errs, lengths, seen = res["errors"], res["lengths"], res["seen"]
        distinct = len(set(lengths))
        check(not errs, f"{name} reader: {len(errs)} failed reads in {res['polls']} polls "
              f"{sorted(set(errs))[:3]}")
        check(distinct > 3, f"{name} reader: {distinct} distinct lengths seen")
        bad = compare_seen(out, seen)
        check(not bad and seen, f"{name} reader: {len(seen)} rows seen, {len(bad)} differ "
              f"from the finished file {bad[:5]}")


def resume_with_reader(probes, out, what):
    """`--resume` on `out` while a swmr reader holds it open; prints what happens."""
    f = h5py.File(out, "r", libver="latest", swmr=True)
    try:
        r = subprocess.run(sweep_cmd(probes, out, "--resume"), capture_output=True, text=True,
                           timeout=300)
    finally:
        f.close()
    msg = r.stderr.strip()[-300:]
    print(f"  --resume of a {what} file with a reader open: exit {r.returncode}: {msg!r}")
    if r.returncode == 0:
        with h5py.File(out, "r") as g:
            status = rc.text_attr(g, "status")
            n = len(g["probe/index"])
        status = status.decode() if isinstance(status, bytes) else status
        check(status == "complete" and n == N_PROBES,
              f"{what} file resumed under a reader: status {status!r}, {n} probes")
    else:
        low = msg.lower()
        clear = (any(w in low for w in ("lock", "reader", "in use", "another process"))
                 and "not hdf5" not in low)
        check(r.returncode in (3, 4) and clear, f"{what} file under a reader: exit "
              f"{r.returncode} (3 or 4) naming the lock/reader, not calling it not HDF5")
        r2 = subprocess.run(sweep_cmd(probes, out, "--resume"), capture_output=True, text=True,
                            timeout=300)
        check(r2.returncode == 0, f"{what} file: --resume once the reader closed exits 0 "
              f"({r2.stderr.strip()[-200:]})")


def test_resume_under_reader(probes, tmp):
    resume_with_reader(probes, os.path.join(tmp, "live.h5"), "finished")
    out = os.path.join(tmp, "killed.h5")
    p = subprocess.Popen(sweep_cmd(probes, out), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 120:
        try:
            with h5py.File(out, "r", swmr=True) as f:
                if len(f["probe/index"]) >= N_PROBES // 4:
                    break
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    resume_with_reader(probes, out, "killed")


def main():
    rc.require_cli()
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_probes(probes, N_PROBES)
        test_live_readers(probes, tmp)
        test_resume_under_reader(probes, tmp)
    finish("all SWMR reader checks passed")


if __name__ == "__main__":
    main()
