#!/usr/bin/env python3
"""The front end build/qkgeom (docs/architecture.md, "Startup"):
- links neither libtorch nor CUDA (ldd), and its --help lists every command;
- hands engine commands to build/qkgeom-engine by exec: same process id (a signal sent to
  the pid qkgeom got reaches the sweep), `sweep --help` is the engine's;
- `score --snapshot` gives the engine's JSON numbers exactly;
- without qkgeom-engine beside it, an engine command exits 4 naming the missing file, and
  the front end's own commands still run."""
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


def main():
    qk = rc.require_cli()
    engine = os.path.join(os.path.dirname(qk), "qkgeom-engine")
    libs = run(["ldd", qk]).stdout
    heavy = [l.split()[0] for l in libs.splitlines() if any(x in l for x in ("libtorch", "libc10", "libcuda", "libcublas", "libcusolver"))]
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
        check(r.returncode == 4 and "qkgeom-engine" in r.stderr, f"no engine beside it: exit 4 naming it ({r.returncode}: {r.stderr.strip()})")
        r = run([os.path.join(lone, "qkgeom"), "score", "--snapshot", small, "--json"])
        check(r.returncode == 0, "no engine beside it: score --snapshot still runs")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all front-end checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
