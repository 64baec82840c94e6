#!/usr/bin/env python3
"""--threads and the default thread count, end to end (docs/cli.md, "Threads").

The reference is the kernel's affinity mask as Python reads it (os.sched_getaffinity in a
process started under the same taskset), not our own resolver: `env --json` must report
that many threads by default, for OpenMP and libtorch alike; OMP_NUM_THREADS overrides
the mask and --threads overrides both; bad values exit 2 naming their source. Every
command that computes lists --threads, and a sweep under `taskset -c 0` runs with 1."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

COMPUTING = ["weights", "align", "correlate", "simplex", "headdim-sweep", "score", "capture", "sweep"]
TINY = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")


def run(args, env=None, prefix=()):
    e = dict(os.environ)
    e.pop("OMP_NUM_THREADS", None)
    e.pop("OMP_WAIT_POLICY", None)
    e.update(env or {})
    return subprocess.run(list(prefix) + args, capture_output=True, text=True, env=e, timeout=300)


def mask_size(prefix=()):
    r = run([sys.executable, "-c", "import os; print(len(os.sched_getaffinity(0)))"], prefix=prefix)
    return int(r.stdout)


def env_json(binary, args=(), env=None, prefix=()):
    r = run([binary, "env", "--json"] + list(args), env=env, prefix=prefix)
    if r.returncode != 0:
        return None, f"exit {r.returncode}: {r.stderr.strip()}"
    return json.loads(r.stdout), None


def main():
    qk = rc.require_cli()
    engine = os.path.join(os.path.dirname(qk), "qkgeom-engine")
    have_taskset = shutil.which("taskset") is not None
    failures = []

    def check(case, cond, detail):
        print(("ok   " if cond else "FAIL ") + case + ("" if cond else f": {detail}"))
        if not cond:
            failures.append(case)

    pinned = ("taskset", "-c", str(min(os.sched_getaffinity(0)))) if have_taskset else ()
    for binary in (qk, engine):
        name = os.path.basename(binary)
        j, err = env_json(binary)
        check(f"{name} default = affinity mask", j is not None and j["cpu_threads"] == mask_size()
              and j["threads_source"] == "affinity", err or j)
        if pinned:
            j, err = env_json(binary, prefix=pinned)
            check(f"{name} under taskset: 1 thread", j is not None and j["cpu_threads"] == 1 == mask_size(pinned)
                  and j["affinity_cpus"] == 1, err or j)
            if j is not None and j["libtorch"]["linked"]:
                check(f"{name} under taskset: libtorch 1 thread", j["libtorch"]["threads"] == 1, j["libtorch"])
        j, err = env_json(binary, env={"OMP_NUM_THREADS": "3"})
        check(f"{name} OMP_NUM_THREADS=3", j is not None and j["cpu_threads"] == 3
              and j["threads_source"] == "OMP_NUM_THREADS", err or j)
        j, err = env_json(binary, ["--threads", "2"], env={"OMP_NUM_THREADS": "3"})
        check(f"{name} --threads 2 beats OMP_NUM_THREADS", j is not None and j["cpu_threads"] == 2
              and j["threads_source"] == "--threads", err or j)
        if j is not None and j["libtorch"]["linked"]:
            check(f"{name} libtorch follows --threads", j["libtorch"]["threads"] == 2, j["libtorch"])
        for args, env, word in ((["--threads", "-1"], None, "--threads"), (["--threads", "5000"], None, "--threads"),
                                ([], {"OMP_NUM_THREADS": "abc"}, "OMP_NUM_THREADS")):
            r = run([binary, "env"] + args, env=env)
            check(f"{name} env {args or env}: exit 2 naming {word}", r.returncode == 2 and word in r.stderr,
                  f"exit {r.returncode}: {r.stderr.strip()}")

    j, err = env_json(qk)
    check("env: the OMP_WAIT_POLICY the commands get, passive", j is not None and j["omp_wait_policy"] == "passive",
          err or j)
    j, err = env_json(qk, env={"OMP_WAIT_POLICY": "active"})
    check("env: OMP_WAIT_POLICY=active stands", j is not None and j["omp_wait_policy"] == "active", err or j)
    for cmd in COMPUTING:
        r = run([qk, cmd, "--help"])
        check(f"{cmd} --help lists --threads", r.returncode == 0 and "--threads" in r.stdout, r.stdout[-300:])
    with tempfile.TemporaryDirectory(prefix="qk-threads-") as tmp:
        r = run([qk, "weights", "--model", TINY, "--out", os.path.join(tmp, "S.h5"), "--threads", "-3"])
        check("weights --threads -3: exit 2", r.returncode == 2 and "--threads" in r.stderr, r.stderr.strip())
        probes = os.path.join(tmp, "p.jsonl")
        with open(probes, "w") as f:
            f.write(json.dumps({"id": "a", "ids": [1, 2, 3, 4, 5]}) + "\n")
        out = os.path.join(tmp, "R.h5")
        r = run([qk, "sweep", "--model", TINY, "--probes", probes, "--out", out, "--device", "cpu", "--json",
                 "--quiet"], prefix=pinned)
        ok = r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["threads"] == (1 if pinned else mask_size())
        check("sweep under taskset: 1 thread", ok, f"exit {r.returncode}: {r.stdout[-300:]} {r.stderr.strip()}")
    if failures:
        print(f"FAILED: {len(failures)} checks")
        return 1
    print("all threads checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
