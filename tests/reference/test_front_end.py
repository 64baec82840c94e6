#!/usr/bin/env python3
"""The front end build/qkgeom (docs/architecture.md, "Startup"):
- links neither libtorch nor CUDA (ldd), and its --help lists every command;
- hands engine commands to build/qkgeom-engine by exec: same process id (a signal sent to
  the pid qkgeom got reaches the sweep), `sweep --help` is the engine's;
- `score --snapshot` gives the engine's JSON numbers exactly;
- without qkgeom-engine beside it, an engine command exits 4 naming the missing file, and
  the front end's own commands still run;
- the analyses without a model (weights, align, correlate, simplex, env) run in the front end
  (they work with no engine beside it) and give the engine's numbers; what needs libtorch or
  a GPU (simplex --cm-compat, weights --export-legacy, --device cuda) is handed to the engine
  and gives the engine's result."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

FAILURES = []


def check(ok, what):
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        FAILURES.append(what)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def numbers(j):
    """A --json object without what differs between runs and binaries (timings, engine block)."""
    j = dict(j)
    for k in ("timing", "engine", "out", "static", "file"):  # the output paths differ too
        j.pop(k, None)
    return j


def close(a, b):
    """Equal structure and strings; numbers within 1e-12 relative (both binaries call the
    same OpenBLAS LAPACK; the margin allows for a LAPACK build that differs in the last bits)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-15
    return a == b


def same_json(a, b, what):
    ok = a.returncode == 0 and b.returncode == 0
    if ok:
        ok = close(numbers(json.loads(a.stdout)), numbers(json.loads(b.stdout)))
    check(ok, f"{what} ({a.returncode}: {a.stderr.strip()[-200:]} / {b.returncode}: {b.stderr.strip()[-200:]})")


def analyses_in_front_end(qk, engine, lone, tmp):
    """`lone` is the front end with no engine beside it: what runs there ran in process."""
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    static, static_e = os.path.join(tmp, "STATIC.h5"), os.path.join(tmp, "STATIC_engine.h5")
    w = run([lone, "weights", "--model", model, "--out", static, "--device", "cpu", "--json"])
    we = run([engine, "weights", "--model", model, "--out", static_e, "--device", "cpu", "--json"])
    same_json(w, we, "weights runs in the front end and its summary equals the engine's")
    if w.returncode == 0 and we.returncode == 0:
        import h5py
        import numpy as np
        with h5py.File(static) as a, h5py.File(static_e) as b:
            names = []
            a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            diff = [n for n in names if n not in b or not np.allclose(a[n][()], b[n][()], rtol=1e-12, atol=1e-15,
                                                                      equal_nan=True)]
        check(names and not diff, f"weights: the front end's STATIC.h5 equals the engine's to 1e-12 ({diff[:4]})")
    same_json(run([lone, "align", "--static", static, "--json"]), run([engine, "align", "--static", static_e, "--json"]),
              "align runs in the front end and equals the engine's")
    sweep = os.path.join(tmp, "sweep.h5")
    with open(os.path.join(tmp, "q.jsonl"), "w") as f:
        for i in range(12):
            f.write(json.dumps({"id": f"q{i}", "ids": [1 + (i * 7 + j) % 50 for j in range(10)]}) + "\n")
    r = run([qk, "sweep", "--model", model, "--probes", os.path.join(tmp, "q.jsonl"), "--out", sweep,
             "--device", "cpu", "--quiet", "--save-kv", "qkv"])
    check(r.returncode == 0, f"a tiny sweep for correlate and simplex --from ({r.stderr.strip()[-200:]})")
    same_json(run([lone, "correlate", "--static", static, "--sweep", sweep, "--bootstrap", "50", "--json"]),
              run([engine, "correlate", "--static", static, "--sweep", sweep, "--bootstrap", "50", "--json"]),
              "correlate runs in the front end and equals the engine's")
    simplex = ["simplex", "--model", model, "--from", sweep, "--samples", "60", "--null-trials", "2", "--json"]
    same_json(run([lone, *simplex, "--device", "cpu", "--out", os.path.join(tmp, "sx.h5")]),
              run([engine, *simplex, "--device", "cpu", "--out", os.path.join(tmp, "sx_e.h5")]),
              "simplex (default mode) runs in the front end and equals the engine's")
    env = run([lone, "env", "--json"])
    check(env.returncode == 0 and json.loads(env.stdout).get("libtorch", {}).get("linked") is True,
          f"env runs in the front end and reports the engine's libtorch ({env.returncode}: {env.stderr.strip()[-200:]})")

    # Handed to the engine: with none beside the front end, exit 4 naming it; with it, its result.
    cm = ["simplex", "--model", model, "--samples", "60", "--null-trials", "2", "--cm-compat", "--json"]
    r = run([lone, *cm, "--out", os.path.join(tmp, "cm.h5")])
    check(r.returncode == 4 and "qkgeom-engine" in r.stderr, f"simplex --cm-compat is the engine's ({r.returncode})")
    same_json(run([qk, *cm, "--out", os.path.join(tmp, "cm.h5")]), run([engine, *cm, "--out", os.path.join(tmp, "cm_e.h5")]),
              "simplex --cm-compat through the front end equals the engine's")
    for args in (["weights", "--model", model, "--out", os.path.join(tmp, "L.h5"), "--export-legacy", os.path.join(tmp, "leg")],
                 ["weights", "--model", model, "--out", os.path.join(tmp, "G.h5"), "--device", "cuda"],
                 ["simplex", "--model", model, "--out", os.path.join(tmp, "G2.h5"), "--device=cuda:0"]):
        r = run([lone, *args])
        check(r.returncode == 4 and "qkgeom-engine" in r.stderr,
              f"{args[0]} {args[-2]} {args[-1]}: handed to the engine ({r.returncode})")
    r = run([qk, "weights", "--model", model, "--out", os.path.join(tmp, "L.h5"), "--export-legacy", os.path.join(tmp, "leg")])
    check(r.returncode == 0 and os.path.exists(os.path.join(tmp, "leg", "grams-eigdirs.pt")),
          f"weights --export-legacy through the front end writes the torch pickle ({r.stderr.strip()[-200:]})")


def main():
    qk = rc.require_cli()
    engine = os.path.join(os.path.dirname(qk), "qkgeom-engine")
    libs = run(["ldd", qk]).stdout
    names = ("libtorch", "libc10", "libcuda", "libcublas", "libcusolver")
    heavy = [l.split()[0] for l in libs.splitlines() if any(x in l for x in names)]
    check(not heavy, f"the front end links no libtorch or CUDA library ({heavy})")
    h = run([qk, "--help"])
    names = ["score", "tokenize", "merge", "export", "recover", "env", "capture", "sweep", "weights", "align",
             "correlate", "simplex", "headdim-sweep", "inspect"]
    check(h.returncode == 0 and all(f"  {n} " in h.stdout for n in names), "--help lists every command")
    r = run([qk, "sweep", "--help"])
    check(r.returncode == 0 and "--probes" in r.stdout and "--resume" in r.stdout, "sweep --help is the engine's")

    small = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "minilm_demo.safetensors")
    ours, theirs = run([qk, "score", "--snapshot", small, "--json"]), run([engine, "score", "--snapshot", small, "--json"])
    same = ours.returncode == 0 and theirs.returncode == 0
    if same:
        a, b = json.loads(ours.stdout), json.loads(theirs.stdout)
        for j in (a, b):
            j.pop("timing", None)
            j.get("engine", {}).pop("threads", None)
        same = a == b
    check(same, "score --snapshot: the front end's JSON equals the engine's (timings aside)")

    # The engine replaces the front end in the same process: the pid Popen knows is the sweep's.
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "p.jsonl")
        with open(probes, "w") as f:
            for i in range(400):
                f.write(json.dumps({"id": f"p{i}", "ids": [1 + i % 50, 2, 3, 4, 5, 6, 7, 8] * 4}) + "\n")
        out = os.path.join(tmp, "r.h5")
        p = subprocess.Popen([qk, "sweep", "--model", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3"),
                              "--probes", probes, "--out", out, "--device", "cpu", "--threads", "1",
                              "--batch-tokens", "64", "--quiet"], stderr=subprocess.PIPE, text=True)
        exe = ""
        for _ in range(200):
            try:
                exe = os.readlink(f"/proc/{p.pid}/exe")
            except OSError:
                break
            if exe.endswith("qkgeom-engine"):
                break
            time.sleep(0.01)
        for _ in range(3000):  # the engine installs its signal handlers once running: wait for the file
            if os.path.exists(out) or p.poll() is not None:
                break
            time.sleep(0.01)
        p.terminate()
        rc_ = p.wait(timeout=120)
        err = p.stderr.read()
        check(exe.endswith("qkgeom-engine"), f"the sweep's pid runs qkgeom-engine ({exe})")
        check(rc_ in (0, 143), f"SIGTERM to that pid stops the sweep cleanly (exit {rc_}: {err.strip()[-200:]})")

        lone = os.path.join(tmp, "lone")
        os.mkdir(lone)
        shutil.copy(qk, os.path.join(lone, "qkgeom"))
        r = run([os.path.join(lone, "qkgeom"), "sweep", "--help"])
        check(r.returncode == 4 and "qkgeom-engine" in r.stderr,
              f"no engine beside it: exit 4 naming it ({r.returncode}: {r.stderr.strip()})")
        r = run([os.path.join(lone, "qkgeom"), "score", "--snapshot", small, "--json"])
        check(r.returncode == 0, "no engine beside it: score --snapshot still runs")
        analyses_in_front_end(qk, engine, os.path.join(lone, "qkgeom"), tmp)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all front-end checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
