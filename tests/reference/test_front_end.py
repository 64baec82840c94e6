#!/usr/bin/env python3
"""The front end build/qkgeom (docs/architecture.md, "Startup"):
- links neither libtorch nor CUDA (ldd), and its --help lists every command;
- hands engine commands to an engine by exec: same process id (a signal sent to the pid
  qkgeom got reaches the sweep), `sweep --help` is the engine's;
- the engine is build/qkgeom-engine-cpu (no libtorch_cuda, c10_cuda or CUDA library linked)
  for --device cpu, and for auto on a machine without an NVIDIA GPU; build/qkgeom-engine for
  --device cuda (here without a GPU: its clear error) and when the CPU engine is missing; the
  two write bitwise the same capture and sweep datasets;
- `score --snapshot` gives the engine's JSON numbers exactly;
- without qkgeom-engine beside it, an engine command exits 4 naming the missing file, and
  the front end's own commands still run;
- the analyses without a model (weights, align, correlate, simplex, env) run in the front end
  (they work with no engine beside it) and give the engine's numbers; what needs libtorch or
  a GPU (simplex --cm-compat, weights --export-legacy, --device cuda) is handed to the engine
  and gives the engine's result;
- the git sha in `--version` (front end, both engines) and in a sweep's `git_sha` attribute is
  the checkout's HEAD as it is now, `-dirty` when tracked files differ from it (read at
  build time, not when cmake configured: a commit after configuring once went unrecorded)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check, finish  # noqa: E402



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


def nvidia_gpu():
    """Whether the driver shows an NVIDIA GPU here (the front end's own test, asked apart)."""
    gpus = "/proc/driver/nvidia/gpus"
    return os.path.exists("/dev/nvidia0") or (os.path.isdir(gpus) and bool(os.listdir(gpus)))


def engine_of(args):
    """Runs args: the file name of the engine its process became (/proc/<pid>/exe, polled
    until it names one; "" if none), its exit code and stderr."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    exe = ""
    for _ in range(2000):
        try:
            exe = os.path.basename(os.readlink(f"/proc/{p.pid}/exe"))
        except OSError:
            break
        if exe.startswith("qkgeom-engine"):
            break
        time.sleep(0.005)
    err = p.communicate(timeout=120)[1]
    return (exe if exe.startswith("qkgeom-engine") else ""), p.returncode, err


def datasets(path):
    """Every dataset of an HDF5 file: name -> its bytes, dtype and shape."""
    import h5py
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.update({n: (o[()].tobytes(), str(o.dtype), o.shape)})
                     if isinstance(o, h5py.Dataset) else None)
    return out


def same_datasets(a, b, what):
    """Files a and b hold the same datasets, bit for bit."""
    da, db = datasets(a), datasets(b)
    diff = sorted(n for n in set(da) | set(db) if da.get(n) != db.get(n))
    check(da and not diff, f"{what}: {len(da)} datasets bitwise equal ({diff[:4]})")


def cpu_engine_links(cpu_engine):
    """qkgeom-engine-cpu needs libtorch_cpu and no CUDA library itself (readelf), and loads
    none of libtorch's CUDA side or the CUDA maths libraries (ldd; libcudart and libcupti
    come only through the torch wheel's libtorch_cpu.so, which needs them)."""
    needed = run(["readelf", "-d", cpu_engine]).stdout
    cuda = ("libtorch_cuda", "libc10_cuda", "libcudart", "libcublas", "libcusolver", "libcufft", "libnccl",
            "libcudnn", "libtorch.so")
    direct = [n for n in cuda if n in needed]
    check("libtorch_cpu.so" in needed and not direct, f"qkgeom-engine-cpu needs libtorch_cpu, no CUDA library ({direct})")
    heavy = ("libtorch_cuda", "libc10_cuda", "libcublas", "libcusolver", "libcufft", "libnccl", "libcudnn", "libcusparse")
    loaded = [line.split()[0] for line in run(["ldd", cpu_engine]).stdout.splitlines() if any(x in line for x in heavy)]
    check(not loaded, f"qkgeom-engine-cpu loads no libtorch_cuda, c10_cuda or CUDA maths library ({loaded})")


def engine_routing(qk, engine, tmp):
    """Which engine the front end execs for a model command, and that the two agree."""
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")

    def capture(front, name, *device):
        return [front, "capture", "--model", model, "--ids", "3,1,4,1,5,9,2,6", "--dtype", "f32",
                "--out", os.path.join(tmp, name), *device]

    exe, code, err = engine_of(capture(qk, "cpu.h5", "--device", "cpu"))
    check(exe == "qkgeom-engine-cpu" and code == 0, f"capture --device cpu runs qkgeom-engine-cpu ({exe}, {code}: {err[-200:]})")
    want = "qkgeom-engine" if nvidia_gpu() else "qkgeom-engine-cpu"
    exe, code, err = engine_of(capture(qk, "auto.h5"))
    check(exe == want and code == 0, f"capture (device auto) runs {want} ({exe}, {code}: {err[-200:]})")
    exe, code, err = engine_of(capture(qk, "cuda.h5", "--device=cuda"))
    ok = exe == "qkgeom-engine" and (code == 0 if nvidia_gpu() else code == 4 and "--device cuda requested but no GPU" in err)
    check(ok, f"capture --device=cuda runs qkgeom-engine (here: {'a GPU' if nvidia_gpu() else 'its no-GPU error'}) "
              f"({exe}, {code}: {err[-200:]})")
    r = run(capture(engine, "engine.h5", "--device", "cpu"))
    check(r.returncode == 0, f"qkgeom-engine's capture ({r.stderr[-200:]})")
    if r.returncode == 0:
        same_datasets(os.path.join(tmp, "cpu.h5"), os.path.join(tmp, "engine.h5"),
                      "capture: qkgeom-engine-cpu's snapshot equals qkgeom-engine's")
    fallback = os.path.join(tmp, "no_cpu_engine")
    os.mkdir(fallback)
    shutil.copy(qk, os.path.join(fallback, "qkgeom"))
    os.symlink(engine, os.path.join(fallback, "qkgeom-engine"))
    exe, code, err = engine_of(capture(os.path.join(fallback, "qkgeom"), "fallback.h5", "--device", "cpu"))
    check(exe == "qkgeom-engine" and code == 0,
          f"no qkgeom-engine-cpu beside it: --device cpu falls back to qkgeom-engine ({exe}, {code}: {err[-200:]})")


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
    sweep_args = ["sweep", "--model", model, "--probes", os.path.join(tmp, "q.jsonl"), "--device", "cpu", "--quiet",
                  "--save-kv", "qkv"]
    r = run([qk, *sweep_args, "--out", sweep])
    check(r.returncode == 0, f"a tiny sweep for correlate and simplex --from ({r.stderr.strip()[-200:]})")
    r = run([engine, *sweep_args, "--out", os.path.join(tmp, "sweep_engine.h5")])
    check(r.returncode == 0, f"qkgeom-engine's sweep ({r.stderr.strip()[-200:]})")
    if r.returncode == 0:
        same_datasets(sweep, os.path.join(tmp, "sweep_engine.h5"), "sweep: qkgeom-engine-cpu's store equals qkgeom-engine's")
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


def git_provenance(qk, engine, sweep):
    """Every binary and a result file name the sources' HEAD (docs/hdf5-schema.md, "Run record")."""
    head = run(["git", "rev-parse", "--short=12", "HEAD"], cwd=rc.SOURCE_DIR)
    if head.returncode != 0:
        print("skip git provenance: the sources are not a git checkout")
        return
    dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=rc.SOURCE_DIR).stdout.strip()
    want = head.stdout.strip() + ("-dirty" if dirty else "")
    for exe in (qk, engine, os.path.join(os.path.dirname(qk), "qkgeom-engine-cpu")):
        v = run([exe, "--version"]).stdout.strip()
        check(v.endswith(f"({want})"), f"{os.path.basename(exe)} --version names the checkout ({v} vs {want})")
    import h5py
    with h5py.File(sweep, "r") as f:
        got = f.attrs.get("git_sha")
    got = got.decode() if isinstance(got, bytes) else got
    check(got == want, f"a sweep's git_sha attribute is the checkout's ({got} vs {want})")


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
            if os.path.basename(exe).startswith("qkgeom-engine"):
                break
            time.sleep(0.01)
        for _ in range(3000):  # the engine installs its signal handlers once running: wait for the file
            if os.path.exists(out) or p.poll() is not None:
                break
            time.sleep(0.01)
        p.terminate()
        rc_ = p.wait(timeout=120)
        err = p.stderr.read()
        check(exe.endswith("qkgeom-engine-cpu"), f"the sweep's pid runs qkgeom-engine-cpu (--device cpu) ({exe})")
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
        git_provenance(qk, engine, os.path.join(tmp, "sweep.h5"))
        cpu_engine_links(os.path.join(os.path.dirname(qk), "qkgeom-engine-cpu"))
        engine_routing(qk, engine, tmp)
    finish("all front-end checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
