#!/usr/bin/env python3
"""A SIGKILL at every syscall boundary of a sweep loses nothing and never blocks the resume.

The kill_shim LD_PRELOAD library (tests/tools/kill_shim.c) counts the mutating calls
(write-like, fsync-like, rename, ftruncate, unlink) on the files of one folder and kills the
sweep right before the K-th. For every K of two runs, on the tiny qwen3 checkpoint:
  A (resume window): a file killed mid-commit (a committed batch and uncommitted rows of the
    next one) is resumed with `--resume`, killed at K;
  B (fresh run): a sweep from no file, create and finish included, killed at K.
Each killed state must
  (a) open with h5py (swmr=True) and hold committed rows (below len(probe/index)) equal to
      an uninterrupted run's, bitwise; the same after `qkgeom recover` with plain h5py;
  (b) then resume with a plain `--resume` to exit 0, status "complete", and every dataset
      equal to the uninterrupted run's (ragged columns compared probe by probe through
      each file's offset/count; the offset columns themselves are not compared).
A fresh run killed before its file exists leaves no file: `--resume` must start it
(docs/sweep.md). Prints "points: N, bad: B" per scenario and each bad point's symptoms.

The killed runs and their resumes run in a fork server (tests/tools/fork_server.c): the CPU
engine started once per worker and forked at main() for each run, which saves libtorch's
start-up and teardown (~0.3 of a run's ~0.4 s of CPU). The reference run, the bisection of
the base file and three points per scenario (the first, middle and last) are exec'd through
the front end, and a forked uninterrupted run must make as many counted calls as an exec'd one."""
import concurrent.futures
import json
import multiprocessing.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
import engine_fork  # noqa: E402

SHIM = os.environ.get("QK_KILL_SHIM") or os.path.join(rc.BINARY_DIR, "tests", "kill_shim.so")
MODEL = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
OUT = "r.h5"
N_PROBES = 300
ARGS = ["--device", "cpu", "--threads", "1", "--batch-tokens", "700", "--metrics", "attention",
        "--save-kv", "k", "--quiet"]
WORKERS = 2


def write_probes(path):
    """N_PROBES id-probes of 2-6 tokens: two batches at --batch-tokens 700, whose rows
    cross chunk boundaries (256 rows a chunk for strings and kv/k in schema v2); ids of
    224 UTF-8 bytes, so that the second batch's bytes of /probe/id_utf8 cross a 64 KiB chunk."""
    rng = random.Random(7)
    with open(path, "w") as f:
        for i in range(N_PROBES):
            ids = [rng.randrange(128) for _ in range(rng.randrange(2, 7))]
            f.write(json.dumps({"id": f"p{i:03d}" + "é" * 110, "domain": "abc"[i % 3], "ids": ids}) + "\n")


_SERVER = []


def start_server():
    """This process's fork server (the pool workers' initializer; a worker drops the one it
    inherits), closed when the process exits, so that the runs' CPU time reaches its rusage."""
    _SERVER[:] = [engine_fork.ForkServer(preload=[SHIM])]
    multiprocessing.util.Finalize(_SERVER[0], _SERVER[0].close, exitpriority=1)


def sweep(folder, probes, resume, kill_at=None, count_file=None, forked=False):
    """Runs `qkgeom sweep` writing folder/r.h5; under the shim when kill_at or count_file;
    forked: in this worker's fork server instead of an exec of the front end."""
    env = engine_fork.run_env()
    if kill_at is not None or count_file is not None:
        env.update(LD_PRELOAD=SHIM, QK_KILL_MATCH=os.path.join(folder, ""))
        if kill_at is not None:
            env["QK_KILL_AT"] = str(kill_at)
        if count_file is not None:
            env["QK_KILL_COUNT_FILE"] = count_file
    args = [rc.QKGEOM_BIN, "sweep", "--model", MODEL, "--probes", probes, "--out",
            os.path.join(folder, OUT), *ARGS] + (["--resume"] if resume else [])
    if forked:
        return _SERVER[0].run(args, env, folder)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


class ReadError(Exception):
    """A dataset or the root attributes of a file cannot be read (named in the message)."""


def ragged_end(f, name, n):
    """Rows of ragged dataset `name` that the first n probes use."""
    group = name.rsplit("/", 1)[0]
    off, cnt = f[group + "/offset"][:n], f[group + "/count"][:n]
    return int((off + cnt).max()) if n else 0


def datasets(f):
    """({name: dataset}, {bytes dataset: its text column}) of an open file, in one pass (a text
    column holds each row's end offset into the UTF-8 bytes dataset its `utf8_bytes` attribute names)."""
    sets, owners = {}, {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            sets[name] = obj
            if "utf8_bytes" in obj.attrs:
                owners[rc.text_attr(obj, "utf8_bytes")] = name
    f.visititems(visit)
    return sets, owners


def bytes_end(ends, n):
    """Bytes that the first n rows of a text column with end offsets `ends` use."""
    return int(ends[n - 1]) if n else 0


def read_file(path, swmr, committed):
    """({name: array}, {name: kind}, root attributes) of the file at `path`: every dataset
    whole or, when committed, its committed rows only (per-probe: below n = len(probe/index);
    ragged: below the last committed probe's offset + count; the UTF-8 bytes of a text column:
    below its n-th end offset). kind: 1 ragged, 0 per-probe, or the text column's name."""
    data, ragged = {}, {}
    with h5py.File(path, "r", swmr=swmr) as f:
        sets, owners = datasets(f)
        if "probe/index" not in sets:
            raise ReadError("no dataset probe/index")
        n = len(sets["probe/index"])
        for name in sorted(sets):
            try:
                d = sets[name]
                ragged[name] = owners.get(name) or int(d.attrs.get("ragged", 0))
                if not committed:
                    rows = len(d)
                elif name in owners:
                    rows = bytes_end(sets[owners[name]], n)
                else:
                    rows = ragged_end(f, name, n) if ragged[name] else n
                data[name] = d[:rows]
            except Exception as e:  # h5py raises OSError, KeyError, RuntimeError, ...
                raise ReadError(f"{name}: {type(e).__name__}: {str(e)[:150]}") from e
        try:
            attrs = rc.text_attrs(f)
        except Exception as e:
            raise ReadError(f"root attributes: {type(e).__name__}: {str(e)[:150]}") from e
    return data, ragged, attrs


def same_bits(x, y):
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    if x.dtype.kind in "fc":
        return np.array_equal(np.ascontiguousarray(x).view(np.uint8),
                              np.ascontiguousarray(y).view(np.uint8))
    return np.array_equal(x, y)


def compare(got, ragged, want, n, final):
    """Names of the datasets whose first n probes differ from `want` (all probes and the
    row count too when final). Ragged columns: each probe's rows through the files' own
    `offset`/`count`; the offset columns only as bounds."""
    bad = sorted(set(want) ^ set(got))
    for name in sorted(set(want) & set(got)):
        x, y = got[name], want[name]
        group = name.rsplit("/", 1)[0]
        if isinstance(ragged.get(name), str):  # UTF-8 bytes: those of the first n rows
            m = bytes_end(got[ragged[name]], n)
            ok = (len(x) == len(y)) if final else len(x) >= m
            ok = ok and same_bits(x[:m], y[:m])
        elif ragged.get(name):
            off, cnt = got[group + "/offset"][:n], got[group + "/count"][:n]
            woff = want[group + "/offset"]
            ok = cnt.size == 0 or int((off + cnt).max()) <= len(x)
            ok = ok and all(same_bits(x[o:o + c], y[w:w + c]) for o, c, w in zip(off, cnt, woff))
        elif name.endswith("/offset") and group + "/count" in want:
            continue
        else:
            ok = (len(x) == len(y)) if final else len(x) >= n
            ok = ok and same_bits(x[:n], y[:n])
        if not ok:
            bad.append(name)
    return bad


def check_committed(path, want, swmr, what):
    """Symptoms of the killed file at `path` read with h5py: open, committed rows."""
    try:
        got, ragged, _ = read_file(path, swmr, committed=True)
    except Exception as e:  # h5py raises OSError, KeyError, RuntimeError, ValueError
        return [f"{what}: {type(e).__name__}: {str(e)[:150]}"], -1
    n = len(got["probe/index"])
    diff = compare(got, ragged, want, n, final=False)
    return ([f"{what}: committed rows of {n} probes differ in {diff[:4]}"] if diff else []), n


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1][-250:] if lines else ""


def check_recover(path, want):
    """`qkgeom recover` on a copy of `path`, then plain h5py: (symptoms, committed)."""
    copy = path + ".recovered"
    shutil.copyfile(path, copy)
    r = subprocess.run([rc.QKGEOM_BIN, "recover", copy], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return [f"recover: exit {r.returncode}: {last_line(r.stderr)}"], -1
    return check_committed(copy, want, False, "plain h5py after recover")


def check_resume(folder, probes, want, forked):
    """A plain `--resume`: exit 0, status complete, every dataset equal to `want`."""
    r = sweep(folder, probes, True, forked=forked)
    if r.returncode != 0:
        return [f"resume: exit {r.returncode}: {last_line(r.stderr)}"]
    try:
        got, ragged, attrs = read_file(os.path.join(folder, OUT), False, committed=False)
    except Exception as e:
        return [f"after resume: {type(e).__name__}: {str(e)[:150]}"]
    status = attrs.get("status")
    status = status.decode() if isinstance(status, bytes) else status
    out = [] if status == "complete" else [f"after resume: status {status!r}"]
    diff = compare(got, ragged, want, len(want["probe/index"]), final=True)
    return out + ([f"after resume: datasets differ: {diff[:4]}"] if diff else [])


_WANT = {}


def reference(path):
    if path not in _WANT:
        _WANT[path] = read_file(path, False, committed=False)[0]
    return _WANT[path]


def run_point(job):
    """One kill point: (K, symptoms, notes, committed probes at the kill or -1: unreadable)."""
    k, folder, base, probes, ref, forked = job
    want = reference(ref)
    os.makedirs(folder)
    if base:
        shutil.copyfile(base, os.path.join(folder, OUT))
    r = sweep(folder, probes, bool(base), kill_at=k, forked=forked)
    if r.returncode != -9:
        return k, [f"not killed at call {k}: exit {r.returncode}"], [], -1
    path = os.path.join(folder, OUT)
    others = sorted(set(os.listdir(folder)) - {OUT})
    notes = [f"left {others}"] if others else []
    bad, n = [], -1
    if os.path.exists(path):
        bad, n = check_committed(path, want, True, "h5py swmr=True")
        more, n_recovered = check_recover(path, want)
        bad, n = bad + more, (n if n >= 0 else n_recovered)
    else:
        notes.append("no file")
    bad += check_resume(folder, probes, want, forked)
    shutil.rmtree(folder)
    return k, bad, notes, n


def count_calls(folder, probes, resume, forked=False):
    """Matching calls of an uninterrupted run under the shim (its file stays in folder)."""
    count = folder.rstrip("/") + ".count"
    os.makedirs(folder, exist_ok=True)
    r = sweep(folder, probes, resume, count_file=count, forked=forked)
    if r.returncode != 0:
        sys.exit(f"FAILED: counting run exits {r.returncode}: {r.stderr.strip()[-300:]}")
    return int(open(count).read())


def columns_state(path):
    """(committed probes, every other column holds all N_PROBES rows) of a killed file; a
    ragged column counts as full when it holds rows past the committed probes' end, the
    UTF-8 bytes of a text column when they hold every written row's bytes."""
    with h5py.File(path, "r", swmr=True) as f:
        n = len(f["probe/index"])
        owners = datasets(f)[1]
        full = True
        for group in f.values():
            for d in group.values():
                name = d.name.lstrip("/")
                if name == "probe/index":
                    continue
                if name in owners:
                    ends = f[owners[name]]
                    rows = bytes_end(ends, len(ends))
                else:
                    rows = ragged_end(f, name, n) + 1 if d.attrs.get("ragged", 0) else N_PROBES
                full = full and len(d) >= rows
    return n, full


def make_base(tmp, probes, n_fresh):
    """A fresh run killed when every column holds its last batch but probe/index does not
    yet: committed rows with uncommitted ones behind them in every column. Bisects for the
    first call K whose file is so (or fully committed), over the calls of the run."""
    def state(k):
        folder = os.path.join(tmp, f"base{k}")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            sweep(folder, probes, False, kill_at=k)
        try:
            n, full = columns_state(os.path.join(folder, OUT))
        except (OSError, KeyError):
            return 0, False
        return n, full or n == N_PROBES
    lo, hi = 1, n_fresh
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if state(mid)[1] else (mid + 1, hi)
    n, _ = state(lo)
    if not 0 < n < N_PROBES:
        sys.exit(f"FAILED: no kill point leaves committed and uncommitted rows (K={lo}: {n})")
    print(f"base file: a fresh run killed at call {lo} of {n_fresh}: {n} of {N_PROBES} probes "
          "committed, every column holding uncommitted rows")
    return os.path.join(tmp, f"base{lo}", OUT)


def print_bad(name, tmp, bad):
    """One line per run of consecutive bad points with the same symptoms."""
    groups = []
    for k, symptoms, notes, committed in bad:
        text = " | ".join(symptoms).replace(os.path.join(tmp, f"{name}_{k}"), "<dir>")
        key = (text, tuple(notes))
        if groups and groups[-1][0] == key and groups[-1][2] == k - 1:
            groups[-1][2] = k
            groups[-1][3].add(committed)
        else:
            groups.append([key, k, k, {committed}])
    for (text, notes), first, last, committed in groups:
        where = f"K={first}" if first == last else f"K={first}..{last} ({last - first + 1} points)"
        extra = "".join(f"; {x}" for x in notes)
        print(f"  BAD {name} {where}, committed probes {sorted(committed)}{extra}: {text}")


def counted(name, tmp, probes, base, forked):
    """Calls of an uninterrupted run of scenario `name` (from `base` when given)."""
    count_dir = os.path.join(tmp, f"count_{name}" + ("_forked" if forked else ""))
    os.makedirs(count_dir)
    if base:
        shutil.copyfile(base, os.path.join(count_dir, OUT))
    return count_calls(count_dir, probes, bool(base), forked)


def report(label, tmp, results):
    """Prints the bad points of one set of results; returns how many."""
    bad = [(k, s, notes, c) for k, s, notes, c in results if s]
    print_bad(label, tmp, bad)
    return len(bad)


def scenario(name, tmp, probes, ref, base):
    """Kills at every call 1..N of one run, each run in a fork server; the first, middle and
    last points also by an exec of the front end. Prints and returns the number of bad
    points (a forked run making other calls than an exec'd one counts as one)."""
    t0 = time.time()
    n = counted(name, tmp, probes, base, False)
    n_forked = counted(name, tmp, probes, base, True)
    if n_forked != n:
        print(f"  BAD {name}: a forked run makes {n_forked} calls, an exec'd one {n}")
    execd = sorted({1, (n + 1) // 2, n})
    jobs = [(k, os.path.join(tmp, f"{name}_{k}"), base, probes, ref, True) for k in range(1, n + 1)]
    jobs += [(k, os.path.join(tmp, f"{name}-exec_{k}"), base, probes, ref, False) for k in execd]
    with concurrent.futures.ProcessPoolExecutor(WORKERS, initializer=start_server) as pool:
        results = list(pool.map(run_point, jobs))
    bad = report(name, tmp, sorted(results[:n])) + report(f"{name}-exec", tmp, results[n:])
    bad += int(n_forked != n)
    nofile = [k for k, _, notes, _ in results[:n] if "no file" in notes]
    left = sorted({x for _, _, notes, _ in results for x in notes if x.startswith("left")})
    print(f"scenario {name}: points: {n}, also exec'd: K={execd}, bad: {bad} "
          f"({time.time() - t0:.0f} s)")
    if nofile:
        print(f"  no file at K in {nofile[0]}..{nofile[-1]} ({len(nofile)} points): --resume started it")
    if left:
        print(f"  other files left in the folder: {left[:5]}")
    return bad


def main():
    rc.require_cli()
    for lib, target in ((SHIM, "kill_shim"), (engine_fork.LIB, "fork_server")):
        if not os.path.isfile(lib):
            print(f"FAILED: {lib} not found (build the {target} target)")
            sys.exit(1)
    start_server()
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_probes(probes)
        ref_dir = os.path.join(tmp, "ref")
        os.makedirs(ref_dir)
        r = sweep(ref_dir, probes, False)
        if r.returncode != 0:
            sys.exit(f"FAILED: reference run exits {r.returncode}: {r.stderr.strip()[-300:]}")
        ref = os.path.join(ref_dir, OUT)
        n_fresh = count_calls(os.path.join(tmp, "fresh_count"), probes, False)
        base = make_base(tmp, probes, n_fresh)
        bad = scenario("A-resume", tmp, probes, ref, base)
        bad += scenario("B-fresh", tmp, probes, ref, None)
    if bad:
        print(f"FAILED: {bad} bad kill point(s)")
        sys.exit(1)
    print("all kill points passed")


if __name__ == "__main__":
    main()
