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
- a probe file with one long string (a 200 KB extra field among 200 probes) makes a store
  about that much larger, not 200 times (fixed-length strings, before schema v5), and every
  id and fields value comes back bitwise."""

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


def test_long_field(qk, model, tmp):
    """One 200 KB extra field among 200 probes grows the store by about its own bytes (fixed-width
    strings took that width for every probe: 40 MB), and every value comes back bitwise."""
    sizes, stored = [], None
    for fat in (False, True):
        probes = os.path.join(tmp, f"fat{fat}.jsonl")
        lines = []
        for i in range(200):
            extra = {"source": "x\u00e9\U0001F600" * 50000} if fat and i == 5 else {"source": f"s{i}"}
            lines.append({"id": f"p{i} \U0001F600", "ids": [1, 2, 3], **extra})
        with open(probes, "w") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines)
        out = os.path.join(tmp, f"fat{fat}.h5")
        r = subprocess.run([qk, "sweep", "--model", model, "--probes", probes, "--out", out], capture_output=True, text=True)
        check(r.returncode == 0 and "note" not in r.stderr, f"a sweep with a long field, no note ({r.stderr.strip()[-200:]})")
        sizes.append(os.path.getsize(out))
        with h5py.File(out, "r") as f:
            stored = (rc.h5_raw_strings(f["probe/id"]), rc.h5_raw_strings(f["probe/fields"]))
    field = len(json.dumps({"source": lines[5]["source"]}, ensure_ascii=False, separators=(",", ":")).encode())
    grown = sizes[1] - sizes[0]
    check(field - 128 * 1024 <= grown <= field + 192 * 1024,
          f"the 200 KB field grows the store by about its bytes ({grown} bytes for a {field}-byte field; "
          f"stores {sizes[0]} and {sizes[1]} bytes)")
    want = ([x["id"].encode() for x in lines],
            [json.dumps({"source": x["source"]}, ensure_ascii=False, separators=(",", ":")).encode() for x in lines])
    check(stored == want, "probe/id and probe/fields equal the probe file's, bitwise")


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
            comp = dict(zip(rc.h5_strings(f["probe/id"]), f["bo/composite"][()]))
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
                ok = dict(zip(rc.h5_strings(f["probe/id"]), f["bo/composite"][()])) == comp
        check(ok, f"the accepted file sweeps again to the same composites ({r.stderr.strip()[-200:]})")
        test_model_files(qk, model, tmp)
        test_long_field(qk, model, tmp)
    rc.finish("all sweep output checks passed")


if __name__ == "__main__":
    main()
