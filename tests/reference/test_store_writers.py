#!/usr/bin/env python3
"""One writer per results store (io/store/writer_lock.hpp), on the tiny qwen3 checkpoint:
- a `sweep --resume` of a store another sweep is still writing (a duplicate Slurm job, a
  requeue while the old job runs) exits 4 naming the file, and so does `recover`; the
  running sweep then finishes, and its file equals, dataset for dataset and bitwise, a
  run nobody disturbed (before the lock, the second sweep opened the file, cleared its
  flags and wrote the same rows: exit 0 twice, and a damaged file in some timings);
- two sweeps started at once on one new --out: one writes the file, the other exits 4
  (3 when it finds the name taken as it renames its own file onto it; or, started after
  the first ended, it finds nothing to do); the file holds every probe
  once, and no temporary file is left."""

import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402
from test_sweep import datasets, same_content, wait_for_commits, write_id_probes  # noqa: E402

def sweep_args(qk, model, probes, out, *extra):
    return [
        qk,
        "sweep",
        "--model",
        model,
        "--probes",
        probes,
        "--out",
        out,
        "--batch-mode",
        "lone",
        "--threads",
        "1",
        "--batch-tokens",
        "48",
        "--quiet",
        "--json",
        *extra,
    ]


def test_live_store(qk, model, probes, tmp):
    clean = os.path.join(tmp, "clean.h5")
    r = subprocess.run(sweep_args(qk, model, probes, clean), capture_output=True, text=True)
    check(r.returncode == 0, f"undisturbed sweep exits 0 ({r.stderr.strip()[-200:]})")
    live = os.path.join(tmp, "live.h5")
    a = subprocess.Popen(sweep_args(qk, model, probes, live), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_commits(live, 1, a)
    running = a.poll() is None
    a.send_signal(signal.SIGSTOP)  # held mid-run (its file open for write) while the others try
    b = subprocess.run(sweep_args(qk, model, probes, live, "--resume"), capture_output=True, text=True)
    c = subprocess.run([qk, "recover", live], capture_output=True, text=True)
    a.send_signal(signal.SIGCONT)
    out, err = a.communicate()
    check(running, "the first sweep was still running after its first commit")
    busy = f"{live}: is being written by another process"
    check(b.returncode == 4 and busy in b.stderr, f"--resume of a live store: exit 4, named ({b.stderr.strip()})")
    check(c.returncode == 4 and busy in c.stderr, f"recover of a live store: exit 4, named ({c.stderr.strip()})")
    check(a.returncode == 0 and json.loads(out)["status"] == "complete", f"the running sweep finishes ({err[-200:]})")
    got, attrs = datasets(live)
    want, _ = datasets(clean)
    diff = same_content(got, want)
    check(not diff and attrs["status"] == "complete", f"its file equals an undisturbed run's, bitwise (differ: {diff[:5]})")


def test_simultaneous(qk, model, probes, tmp):
    out = os.path.join(tmp, "both.h5")
    procs = [
        subprocess.Popen(
            sweep_args(qk, model, probes, out, "--resume"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    res = [(p.wait(), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in res)
    idle = [r for r in res if r[0] == 0 and json.loads(r[1])["done"] == 0]
    refused = [r for r in res if r[0] in (3, 4) and "another process" in r[2]]
    check(
        codes[0] == 0 and len(refused) == 1 or codes == [0, 0] and len(idle) == 1,
        f"two sweeps on one new --out: one writes, the other stops or finds it done ({[r[2][-160:] for r in res]})",
    )
    d, attrs = datasets(out)
    n = sum(1 for line in open(probes) if line.strip())
    check(
        sorted(d["probe/index"].tolist()) == list(range(n)) and attrs["status"] == "complete",
        "the file holds every probe once, complete",
    )
    check(
        sorted(os.listdir(tmp)) == sorted(["clean.h5", "live.h5", "both.h5", "probes.jsonl"]),
        f"no temporary file left ({sorted(os.listdir(tmp))})",
    )


def main():
    qk = rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_id_probes(probes, 200, max_len=60)
        test_live_store(qk, model, probes, tmp)
        test_simultaneous(qk, model, probes, tmp)
    rc.finish("all writer-lock checks passed")


if __name__ == "__main__":
    main()
