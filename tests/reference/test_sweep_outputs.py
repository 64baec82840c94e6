#!/usr/bin/env python3
"""`sweep --accepted` never replaces an input, and its lines are probes again; tiny qwen3
checkpoint, id probes:
- `--accepted` naming `--out` (a new file: before, the accepted JSONL replaced the whole
  results store at the end of the run) or `--probes` (also through a symlink or a
  `dir/../` path: before, the probe file was replaced by the accepted subset), and
  `--out` naming `--probes` with --resume: exit 3 naming the option, before any work,
  every file as it was;
- an accepted pre-tokenized probe keeps its `ids` (before: `"prompt": ""`, no ids, so the
  file could not be swept again): each line's ids equal the probe file's, its composite
  the store's, and sweeping the accepted file gives the same composites, bitwise;
- the same class for the model directory: `weights`, `capture`, `score --save-snapshot`,
  `rope-geometry` and `simplex` with `--force` and an output naming one of the model's own
  files (model.safetensors, config.json; also through a symlink) replaced it (exit 0);
  now exit 3 naming it, every model file unchanged; another file in the folder is still
  written;
- a probe file whose longest string (here a 70 KB extra field) widens every row of the
  store's fixed-length column is noted at the start with its line and width (it was not)."""

import shutil

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402
from test_sweep import write_id_probes  # noqa: E402

def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_model_files(qk, model, tmp):
    m = os.path.join(tmp, "model")
    shutil.copytree(model, m)
    before = {n: digest(os.path.join(m, n)) for n in os.listdir(m)}
    link = os.path.join(tmp, "w.safetensors")
    os.symlink(os.path.join(m, "model.safetensors"), link)
    weights, config = os.path.join(m, "model.safetensors"), os.path.join(m, "config.json")
    for args, out in (
        (["weights", "--model", m, "--out", weights], weights),
        (["weights", "--model", m, "--out", config], config),
        (["capture", "--model", m, "--ids", "1,2,3", "--out", link], weights),
        (["score", "--model", m, "--ids", "1,2,3", "--save-snapshot", weights], weights),
        (["rope-geometry", "--model", m, "--out", config], config),
        (["simplex", "--model", m, "--samples", "10", "--out", weights], weights),
    ):
        r = subprocess.run([qk, *args, "--force"], capture_output=True, text=True)
        same = {n: digest(os.path.join(m, n)) for n in before} == before
        check(
            r.returncode == 3 and f"is the model's own {os.path.basename(out)}" in r.stderr and same,
            f"{args[0]} --force onto the model's {os.path.basename(out)}: exit 3, unchanged ({r.stderr.strip()[-120:]})",
        )
    static = os.path.join(m, "static.h5")
    r = subprocess.run([qk, "weights", "--model", m, "--out", static], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(static), f"weights into the model folder still works ({r.stderr[-120:]})")


def test_wide_note(qk, model, tmp):
    probes = os.path.join(tmp, "fat.jsonl")
    with open(probes, "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"p{i}", "ids": [1, 2, 3], **({"source": "x" * 70000} if i == 5 else {})}) + "\n")
    out = os.path.join(tmp, "fat.h5")
    r = subprocess.run(
        [qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--quiet"], capture_output=True, text=True
    )
    with h5py.File(out, "r") as f:
        width = f["probe/fields"].dtype.itemsize
    want = f"the longest probe/fields (line 6, {width} bytes) sets that column's width for every probe"
    check(r.returncode == 0 and width > 70000 and want in r.stderr, f"a wide fields column is noted ({r.stderr.strip()})")


def main():
    qk = rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_id_probes(probes, 12, max_len=20)
        before = digest(probes)
        link = os.path.join(tmp, "link.jsonl")
        os.symlink(probes, link)
        os.mkdir(os.path.join(tmp, "d"))
        out = os.path.join(tmp, "out.h5")

        def sweep(*extra, probe_file=probes, out=out):
            base = [qk, "sweep", "--model", model, "--probes", probe_file, "--out", out, "--quiet", "--batch-mode"]
            return subprocess.run([*base, "lone", *extra], capture_output=True, text=True)

        for acc, names in (
            (out, "--out"),
            (probes, "--probes"),
            (link, "--probes"),
            (os.path.join(tmp, "d", "..", "probes.jsonl"), "--probes"),
        ):
            r = sweep("--min-score", "0", "--accepted", acc)
            check(
                r.returncode == 3
                and f"--accepted names {names}" in r.stderr
                and not os.path.exists(out)
                and digest(probes) == before,
                f"--accepted {os.path.relpath(acc, tmp)}: exit 3 ({r.stderr.strip()})",
            )
        r = sweep("--resume", out=probes)
        check(
            r.returncode == 3 and "--out names the probe file" in r.stderr and digest(probes) == before,
            f"--out naming --probes: exit 3, unchanged ({r.stderr.strip()})",
        )

        acc = os.path.join(tmp, "accepted.jsonl")
        r = sweep("--min-score", "0", "--accepted", acc)
        check(r.returncode == 0, f"sweep with --accepted exits 0 ({r.stderr.strip()[-200:]})")
        lines = [json.loads(x) for x in open(acc)]
        given = {p["id"]: p for p in map(json.loads, open(probes))}
        with h5py.File(out, "r") as f:
            comp = dict(zip([x.decode() for x in f["probe/id"][()]], f["bo/composite"][()]))
        check(
            len(lines) == 12
            and all(x["ids"] == given[x["id"]]["ids"] and "prompt" not in x and x["composite"] == comp[x["id"]] for x in lines),
            "accepted id probes keep their ids; composites equal the store's",
        )
        again = os.path.join(tmp, "again.h5")
        r = sweep(probe_file=acc, out=again)
        ok = r.returncode == 0
        if ok:
            with h5py.File(again, "r") as f:
                ok = dict(zip([x.decode() for x in f["probe/id"][()]], f["bo/composite"][()])) == comp
        check(ok, f"the accepted file sweeps again to the same composites ({r.stderr.strip()[-200:]})")
        test_model_files(qk, model, tmp)
        test_wide_note(qk, model, tmp)
    rc.finish("all sweep output checks passed")


if __name__ == "__main__":
    main()
