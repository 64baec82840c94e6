#!/usr/bin/env python3
"""The registry of stored quantities (host/core/quantities.cpp) against what the engine
writes and what the docs say:
- the table of docs/hdf5-schema.md ("Sweep columns") is the registry's markdown
  (tests/tools/print_quantities, argv[1]), character for character;
- a sweep on the tiny Qwen3 stores exactly the registry's columns (dtype, dims, units,
  description, `labels` of bo/features and bo/features7), `export --csv` puts each in its
  table and column, with a `feature_label` column, and `score --json` has each JSON field
  with the stored row's shape; stores without `labels` (v3 before the registry) merge
  with newer shards and export;
- every JSON output carries the same `engine` block (name, version, sha, device, threads);
- root attributes: one type per name across a sweep store, STATIC.h5, a simplex file and a
  headdim file
  (h5py's str for variable-length strings, bytes only for the fixed-length end-of-run
  attributes, integers as numpy int64)."""
import csv
import difflib
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402

DOC = os.path.join(rc.SOURCE_DIR, "docs", "hdf5-schema.md")
BEGIN, END = "<!-- quantities: begin", "<!-- quantities: end -->"
END_OF_RUN = {"status", "finished_at", "probes_committed", "on_nonfinite"}
ENGINE_KEYS = {"name", "version", "sha", "device", "threads"}


def qk(*args):
    return subprocess.run([rc.QKGEOM_BIN, *args], capture_output=True, text=True, timeout=300)


def registry(tool):
    """(markdown, {path: row}) of the registry; a row: dims, dtype, units, json, csv, meaning."""
    md = subprocess.run([tool], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in md.splitlines()[2:]:
        path, _shape, dims, dtype, units, js, where, meaning = [c.strip() for c in line.strip("|").split(" | ")]
        rows[path.strip("`")] = {"dtype": dtype, "units": units, "json": js.strip("`"),
                                 "csv": where.replace("`", "").split() if where else [],
                                 "meaning": meaning, "dims": dims.split(", ") if dims else []}
    return md, rows


def test_doc(md):
    text = open(DOC, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        check(False, f"{DOC} has the registry markers")
        return
    start = text.index("\n", text.index(BEGIN)) + 1
    doc = text[start:text.index(END)]
    diff = list(difflib.unified_diff(doc.splitlines(), md.splitlines(), "docs/hdf5-schema.md", "registry",
                                     lineterm=""))
    check(not diff, "docs/hdf5-schema.md's table is the registry's" + ("\n" + "\n".join(diff[:40]) if diff else ""))


DTYPES = {"f64": np.float64, "f32": np.float32, "i64": np.int64, "i32": np.int32, "u8": np.uint8}


def test_sweep_columns(rows, h5, tmp):
    with h5py.File(h5, "r") as f:
        cols = [c.decode() if isinstance(c, bytes) else c for c in f.attrs["columns"]]
        for c in cols:
            r, ds = rows.get(c), f[c]
            if r is None:
                check(False, f"{c}: in the registry")
                continue
            same_type = (("utf8_bytes" in ds.attrs and ds.dtype == np.int64) if r["dtype"] == "str"
                         else ds.dtype == DTYPES[r["dtype"]])
            dims = [d.decode() if isinstance(d, bytes) else d for d in ds.attrs["dims"]]
            check(same_type and ds.attrs["units"] == r["units"] and dims == r["dims"]
                  and r["meaning"].startswith(ds.attrs["description"]),
                  f"{c}: dtype, units, dims and description as the registry says")
        for c in ("bo/features", "bo/features7", "attention/distance_mass"):
            labels = [x.decode() if isinstance(x, bytes) else x for x in f[c].attrs.get("labels", [])]
            check(len(labels) == f[c].shape[-1] and all(f"`{x}`" in rows[c]["meaning"] for x in labels),
                  f"{c}: labels {labels}")
    out = os.path.join(tmp, "csv")
    r = qk("export", h5, "--csv", out)
    check(r.returncode == 0, f"export --csv ({r.stderr.strip()[-200:]})")
    headers = {}
    for name in os.listdir(out):
        with open(os.path.join(out, name), newline="") as fh:
            headers[name] = next(csv.reader(fh))
    for c in cols:
        where = rows.get(c, {}).get("csv")
        if where:
            table, column = where
            check(column in headers.get(table, []), f"{c}: CSV {table} column {column}")
    check_axis_names(h5, cols, rows, headers)
    with open(os.path.join(out, "bo_per_feature.csv"), newline="") as fh:
        lines = list(csv.DictReader(fh))
    check([l["feature_label"] for l in lines[:5]] == rows_labels(h5, "bo/features"),
          "bo_per_feature.csv: feature_label names each entry")
    with open(os.path.join(out, "attention_per_layer_head_distance_bucket.csv"), newline="") as fh:
        lines = list(csv.DictReader(fh))
    check([l["distance_bucket_label"] for l in lines[:16]] == rows_labels(h5, "attention/distance_mass")
          and lines[3]["distance_bucket_label"] == "4-7" and lines[15]["distance_bucket_label"] == "16384+",
          "attention_per_layer_head_distance_bucket.csv: distance_bucket_label names each bucket")


def check_axis_names(h5, cols, rows, headers):
    """Each CSV table's axis columns (after index, id) are the axes qkgeom.open gives its
    columns: one name per axis across CSV and xarray (bo/features7: `feature_7`)."""
    sys.path.insert(0, os.path.join(rc.BINARY_DIR, "python"))
    import qkgeom
    ds = qkgeom.open(h5)
    for c in cols:
        where = rows.get(c, {}).get("csv")
        if not where or c not in ds.variables or ds[c].dims[0] != "probe" or ds[c].ndim < 2:
            continue
        axes = list(ds[c].dims[1:])
        got = headers.get(where[0], [])[2:2 + len(axes)]
        check(got == axes, f"{c}: {where[0]} axis columns {got}, qkgeom.open's {axes}")


def test_older_v3(model, probes, tmp):
    """Stores written before the registry (v3, no `labels`) still merge and export."""
    shards = [os.path.join(tmp, f"shard{i}.h5") for i in range(2)]
    for i, out in enumerate(shards):
        r = qk("sweep", "--model", model, "--probes", probes, "--out", out, "--device", "cpu", "--shard", f"{i}/2")
        check(r.returncode == 0, f"sweep --shard {i}/2 ({r.stderr.strip()[-200:]})")
        if r.returncode != 0:
            return
    with h5py.File(shards[1], "r+") as f:
        for c in ("bo/features", "bo/features7"):
            del f[c].attrs["labels"]
    merged, out = os.path.join(tmp, "merged.h5"), os.path.join(tmp, "csv_old")
    r = qk("merge", merged, *shards)
    check(r.returncode == 0, f"merge of a store with labels and one without ({r.stderr.strip()[-200:]})")
    e = qk("export", shards[1], "--csv", out)
    with open(os.path.join(out, "bo_per_feature.csv"), newline="") as fh:
        header = next(csv.reader(fh)) if e.returncode == 0 else []
    check(e.returncode == 0 and header == ["index", "id", "feature", "features"],
          f"export of a store without labels: {header}")
    with h5py.File(shards[1], "r+") as f:
        f["bo/features"].attrs["labels"] = ["a", "b"]  # 2 names for 5 entries
    e = qk("export", shards[1], "--csv", os.path.join(tmp, "csv_bad"))
    check(e.returncode == 3 and "'/bo/features' has 2 labels" in e.stderr,
          f"labels that do not fit the row: exit 3 naming the dataset ({e.stderr.strip()[-200:]})")


def rows_labels(h5, col):
    with h5py.File(h5, "r") as f:
        return [x.decode() if isinstance(x, bytes) else x for x in f[col].attrs["labels"]]


def json_field(j, path):
    for part in path.split("."):
        j = j[part]
    return j


def test_score_json(rows, model, h5):
    s = qk("score", "--model", model, "--ids", "1,2,3,4,5,6,7,8", "--json", "--device", "cpu")
    check(s.returncode == 0, f"score --json ({s.stderr.strip()[-200:]})")
    if s.returncode != 0:
        return
    j = json.loads(s.stdout)
    with h5py.File(h5, "r") as f:
        for c, r in rows.items():
            if not r["json"] or c not in f:
                continue
            try:
                v = np.array(json_field(j, r["json"]))
            except KeyError:
                check(False, f"score --json has {r['json']} ({c})")
                continue
            check(v.shape == f[c].shape[1:], f"score --json {r['json']}: shape {v.shape} of {c}'s row")
    check(set(j.get("engine", {})) == ENGINE_KEYS, f"score --json engine block {j.get('engine')}")


def attr_type(v):
    if isinstance(v, bytes):
        return "bytes"
    if isinstance(v, str):
        return "str"
    a = np.asarray(v)
    return f"{a.dtype}{list(a.shape)}"


def test_attr_types(files):
    seen = {}
    for name, path in files.items():
        with h5py.File(path, "r") as f:
            for k, v in f.attrs.items():
                t = attr_type(v)
                seen.setdefault(k, {})[name] = t
                if t == "bytes":
                    check(k in END_OF_RUN, f"{name}: attribute {k} is bytes (fixed-length) only as an end-of-run attribute")
    shared = {k: v for k, v in seen.items() if len(v) > 1}
    for k, by_file in sorted(shared.items()):
        check(len(set(by_file.values())) == 1, f"attribute {k}: one type across files {by_file}")
    print(f"shared root attributes: {len(shared)} ({', '.join(sorted(shared))})")


def main():
    if len(sys.argv) < 2:
        print("usage: test_quantities_doc.py PRINT_QUANTITIES")
        return 2
    md, rows = registry(sys.argv[1])
    test_doc(md)
    rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "p.jsonl")
        with open(probes, "w") as fh:
            for i in range(3):
                fh.write(json.dumps({"id": f"p{i}", "ids": list(range(1, 6 + i))}) + "\n")
        h5 = os.path.join(tmp, "sweep.h5")
        r = qk("sweep", "--model", model, "--probes", probes, "--out", h5, "--device", "cpu", "--json")
        check(r.returncode == 0, f"sweep ({r.stderr.strip()[-300:]})")
        if r.returncode == 0:
            check(set(json.loads(r.stdout.splitlines()[-1]).get("engine", {})) == ENGINE_KEYS,
                  "sweep --json engine block")
            test_sweep_columns(rows, h5, tmp)
            test_score_json(rows, model, h5)
            test_older_v3(model, probes, tmp)
        static, simplex = os.path.join(tmp, "STATIC.h5"), os.path.join(tmp, "simplex.h5")
        w = qk("weights", "--model", model, "--out", static, "--topk", "4", "--json")
        check(w.returncode == 0 and set(json.loads(w.stdout).get("engine", {})) == ENGINE_KEYS,
              f"weights --json engine block ({w.stderr.strip()[-200:]})")
        s = qk("simplex", "--model", model, "--out", simplex, "--samples", "20", "--json")
        check(s.returncode == 0 and set(json.loads(s.stdout).get("engine", {})) == ENGINE_KEYS,
              f"simplex --json engine block ({s.stderr.strip()[-200:]})")
        headdim = os.path.join(tmp, "headdim.h5")
        d = qk("headdim-sweep", "--dims", "8", "--heads", "1", "--epochs", "1", "--samples", "20", "--out", headdim,
               "--json")
        check(d.returncode == 0 and set(json.loads(d.stdout).get("engine", {})) == ENGINE_KEYS,
              f"headdim-sweep --json engine block ({d.stderr.strip()[-200:]})")
        if r.returncode == 0 and w.returncode == 0 and s.returncode == 0 and d.returncode == 0:
            test_attr_types({"sweep": h5, "STATIC.h5": static, "simplex": simplex, "headdim": headdim})
    print(f"{len(rc.FAILURES)} failures")
    return 1 if rc.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
