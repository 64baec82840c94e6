#!/usr/bin/env python3
"""Schema v4 stores (fixed-length HDF5 strings, written by qkgeom before schema v5's text
columns; tests/fixtures/stores/*.gz, made from sweep_v4_probes.jsonl on the tiny qwen3) are
still read: `export` CSVs and `merge` of two v4 shards give the probe file's id, domain and
fields (compact JSON), the merged store holds text columns (schema_version 5), and
`--resume` of a v4 store is refused naming schema_version 4."""
import csv
import gzip
import json
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

STORES = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "stores")


def unpacked(name, tmp):
    out = os.path.join(tmp, name[:-3])
    with gzip.open(os.path.join(STORES, name)) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


def expected():
    """(ids, domains, fields) of the probe file, the reference."""
    rows = [json.loads(line) for line in open(os.path.join(STORES, "sweep_v4_probes.jsonl"), encoding="utf-8")]
    fields = [json.dumps({k: v for k, v in r.items() if k not in ("id", "ids", "domain")}, ensure_ascii=False,
                         separators=(",", ":"), sort_keys=True) for r in rows]
    return [r["id"] for r in rows], [r.get("domain", "") for r in rows], fields


def main():
    qk = rc.require_cli()
    ids, domains, fields = expected()
    with tempfile.TemporaryDirectory() as tmp:
        v4 = unpacked("sweep_v4.h5.gz", tmp)
        with h5py.File(v4, "r") as f:
            check(int(f.attrs["schema_version"]) == 4 and f["probe/id"].dtype.kind == "S", "the fixture is v4")
            check(rc.h5_strings(f["probe/id"]) == ids, "v4 ids read with refcommon")
        r = subprocess.run([qk, "export", v4, "--csv", os.path.join(tmp, "csv")], capture_output=True, text=True)
        with open(os.path.join(tmp, "csv", "probe.csv"), encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        got = ([x.get("probe/id", x.get("id")) for x in rows], [x.get("probe/domain", x.get("domain")) for x in rows],
               [x.get("probe/fields", x.get("fields")) for x in rows])
        check(r.returncode == 0 and got == (ids, domains, fields), f"export of a v4 store ({got}, {r.stderr[-200:]})")
        shards = [unpacked(f"sweep_v4_shard{i}.h5.gz", tmp) for i in (0, 1)]
        merged = os.path.join(tmp, "merged.h5")
        r = subprocess.run([qk, "merge", merged, *shards], capture_output=True, text=True)
        check(r.returncode == 0, f"merge of two v4 shards ({r.stderr.strip()[-300:]})")
        if r.returncode == 0:
            with h5py.File(merged, "r") as f:
                text = all("utf8_bytes" in f[c].attrs for c in ("probe/id", "probe/domain", "probe/fields"))
                got = (rc.h5_strings(f["probe/id"]), rc.h5_strings(f["probe/domain"]), rc.h5_strings(f["probe/fields"]))
                check(text and int(f.attrs["schema_version"]) == 5 and got == (ids, domains, fields),
                      f"the merged v4 shards: text columns, schema_version 5, the probe file's strings ({got})")
            # A partial merge (v5) of shard 0 completed with the v4 shard 1: the same store.
            part, again = os.path.join(tmp, "part.h5"), os.path.join(tmp, "again.h5")
            r = subprocess.run([qk, "merge", part, shards[0]], capture_output=True, text=True)
            r2 = subprocess.run([qk, "merge", again, part, shards[1]], capture_output=True, text=True)
            same = False
            if r.returncode == 0 and r2.returncode == 0:
                with h5py.File(merged, "r") as f, h5py.File(again, "r") as g:
                    a, b = rc.h5_datasets(f), rc.h5_datasets(g)
                    same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")
                                                        for k in a)
            check(same, f"merge of a v5 partial merge and a v4 shard equals the direct merge ({r2.stderr.strip()[-300:]})")
        model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
        r = subprocess.run([qk, "sweep", "--model", model, "--probes", os.path.join(STORES, "sweep_v4_probes.jsonl"),
                            "--out", v4, "--metrics", "attention", "--resume", "--quiet"], capture_output=True, text=True)
        check(r.returncode == 3 and "schema_version 4" in r.stderr, f"--resume of v4: exit 3 ({r.stderr.strip()[-200:]})")
    rc.finish("v4 stores are read")


if __name__ == "__main__":
    main()
