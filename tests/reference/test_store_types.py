#!/usr/bin/env python3
"""`merge` and `export` check a store's columns against the registry of stored quantities
(host/core/quantity_check.hpp) before reading it. Shards are tiny sweeps of the tiny
qwen3 checkpoint; one column is then rewritten with h5py in a form no qkgeom store has:
- probe/id as integers (before: exported as numbers and merged, exit 0), probe/domain as
  floats, bo/composite as strings (before: exported as quoted text, exit 0), bo/features
  with 4 entries instead of 5, attention/entropy without its head axis;
each is exit 3 naming that file (also when it is the second shard: the merge used to blame
the good first one) and the dataset, and leaves no output; qkgeom.open of it (which
returned a Dataset with that column of the other kind) raises a ValueError naming both
when a string column holds numbers or a number column strings. The untouched shards, and a
store with bf16 K/V, still merge and export. The merge summary lists missing shards as
ranges (`0-2, 4-999` for shard 3 of 1000 alone; it printed all 999 numbers), and
`export` of a store whose sweep is not complete says so on stderr (it said nothing); a
`sweep --resume` of a merge's output says to resume the shards instead (it said
"attribute 'shard' is 'merged' in the file but '0/1'"); a merge past the file-size
limit (`ulimit -f`) is exit 4 naming OUT, not the temporary file in HDF5's words."""

import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402
from test_sweep import write_id_probes  # noqa: E402

def replace(path, name, data):
    with h5py.File(path, "a") as f:
        attrs = dict(f[name].attrs)
        del f[name]
        ds = f.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]), chunks=True)
        for k, v in attrs.items():  # a column rewritten as numbers or strings is no text column
            if k != "utf8_bytes" and (k != "dims" or len(v) == data.ndim - 1) and (
                k != "labels" or len(v) == data.shape[-1]
            ):
                ds.attrs[k] = v


EDITS = {
    "probe/id": lambda n, d: np.arange(n),
    "probe/domain": lambda n, d: np.zeros(n),
    "bo/composite": lambda n, d: np.array([b"x"] * n),
    "bo/features": lambda n, d: d[:, :4],
    "attention/entropy": lambda n, d: d[:, :, 0],
}


def open_error(path):
    """The ValueError text of qkgeom.open(path) ("" when it opens), in a fresh interpreter."""
    code = f"import qkgeom\ntry:\n    qkgeom.open({path!r})\nexcept ValueError as e:\n    print(e)\n"
    env = dict(os.environ, PYTHONPATH=os.path.join(rc.BINARY_DIR, "python"))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.strip()


def main():
    qk = rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_id_probes(probes, 6, max_len=10)
        shards = []
        for i in range(2):
            out = os.path.join(tmp, f"s{i}.h5")
            base = [qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--quiet"]
            r = subprocess.run([*base, "--shard", f"{i}/2"], capture_output=True, text=True)
            check(r.returncode == 0, f"shard {i} exits 0 ({r.stderr.strip()[-200:]})")
            shards.append(out)
        for name, edit in EDITS.items():
            bad = os.path.join(tmp, "bad.h5")
            shutil.copy(shards[1], bad)
            with h5py.File(bad, "r") as f:
                d = f[name][()]
            replace(bad, name, edit(len(d), d))
            if name in ("probe/id", "probe/domain", "bo/composite"):
                err = open_error(bad)
                check(f"{bad}: /{name} holds " in err, f"qkgeom.open with {name} rewritten: ValueError ({err})")
            csv, out = os.path.join(tmp, "csv"), os.path.join(tmp, "m.h5")
            for args, what in (([qk, "export", bad, "--csv", csv], csv), ([qk, "merge", out, shards[0], bad], out)):
                r = subprocess.run(args, capture_output=True, text=True)
                check(
                    r.returncode == 3 and f"{bad}: dataset '/{name}'" in r.stderr and not os.path.exists(what),
                    f"{args[1]} with {name} rewritten: exit 3 naming file and dataset, no output ({r.stderr.strip()})",
                )
        check(open_error(shards[0]) == "", "qkgeom.open of an untouched shard: no error")
        kv = os.path.join(tmp, "kv.h5")
        subprocess.run(
            [
                qk,
                "sweep",
                "--model",
                model,
                "--probes",
                probes,
                "--out",
                kv,
                "--quiet",
                "--save-kv",
                "qkv",
                "--save-kv-dtype",
                "bf16",
            ],
            capture_output=True,
            check=True,
        )
        for args in (
            [qk, "merge", os.path.join(tmp, "ok.h5"), *shards],
            [qk, "export", kv, "--csv", os.path.join(tmp, "c2")],
            [qk, "merge", os.path.join(tmp, "kvm.h5"), kv],
        ):
            r = subprocess.run(args, capture_output=True, text=True)
            check(r.returncode == 0, f"{args[1]} of untouched stores exits 0 ({r.stderr.strip()[-200:]})")
        one = os.path.join(tmp, "one.h5")
        subprocess.run(
            [qk, "sweep", "--model", model, "--probes", probes, "--out", one, "--quiet", "--shard", "3/1000"],
            capture_output=True,
            check=True,
        )
        r = subprocess.run([qk, "merge", os.path.join(tmp, "m1000.h5"), one], capture_output=True, text=True)
        check(r.returncode == 0 and "missing shard(s): 0-2, 4-999\n" in r.stdout, f"missing shards as ranges ({r.stdout[-80:]})")
        full = os.path.join(tmp, "full.h5")
        r = subprocess.run(
            ["bash", "-c", 'ulimit -f 100; exec "$0" "$@"', qk, "merge", full, *shards], capture_output=True, text=True
        )
        left = [n for n in os.listdir(tmp) if n.startswith("full.h5")]
        check(
            r.returncode == 4 and f"{full}: the file-size limit was reached while merging" in r.stderr and not left,
            f"merge past the file-size limit: exit 4 naming OUT, nothing left ({r.stderr.strip()[-160:]}, {left})",
        )
        merged = os.path.join(tmp, "ok.h5")
        r = subprocess.run(
            [qk, "sweep", "--model", model, "--probes", probes, "--out", merged, "--resume"], capture_output=True, text=True
        )
        check(
            r.returncode == 3 and "it is the output of qkgeom merge; resume the shards" in r.stderr,
            f"resume of a merged file: exit 3, resume the shards ({r.stderr.strip()[-160:]})",
        )
        note = "holds a sweep that is not complete (status 'partial'): the CSV files hold its 1 committed probes"
        for path, partial in ((os.path.join(tmp, "m1000.h5"), True), (os.path.join(tmp, "ok.h5"), False)):
            r = subprocess.run([qk, "export", path, "--csv", path + ".csv"], capture_output=True, text=True)
            check(
                r.returncode == 0 and (note in r.stderr) == partial and ("note" in r.stderr) == partial,
                f"export notes an incomplete sweep only ({r.stderr.strip()})",
            )
    rc.finish("all store type checks passed")


if __name__ == "__main__":
    main()
