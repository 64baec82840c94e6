#!/usr/bin/env python3
"""`qkgeom compare` end to end: sweeps of three tiny checkpoints (llama3, qwen3, gemma3_text:
2 KV heads, position-wise) and all-MiniLM-L6-v2 (12 KV heads, multi-head; left out when its
package is absent) over one ids probe set, one run missing probes and holding a non-ok
probe. Every statistic of --json and CMP.h5 is recomputed from the stores with numpy and
scipy.stats (tests/reference/compare_reference.py: wilcoxon, spearmanr, kendalltau, the
bootstrap with numpy's RandomState and the same seed, CKA, RSA, np.interp); the warning
on the composite's switch at 4 KV heads; error cases with their exit codes."""
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_reference as ref  # noqa: E402
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402

REL = 1e-9
PAIRED = ["n", "mean_diff", "ci_lo", "ci_hi", "wilcoxon_statistic", "wilcoxon_z", "wilcoxon_p", "rank_biserial",
          "cohen_dz", "spearman", "spearman_p", "kendall_tau_b", "kendall_p"]


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def num(x):
    return np.nan if x is None else float(x)


def same(a, b, rel=REL):
    a, b = num(a), num(b)
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= rel * max(abs(b), 1e-300) + 1e-13


def write_probes(path, ids, seed=5):
    rng = random.Random(seed)
    doms = ["alpha", "beta", "gamma"]
    with open(path, "w") as f:
        for i in ids:
            f.write(json.dumps({"id": f"p{i}", "domain": doms[i % 3],
                                "ids": [rng.randrange(128) for _ in range(rng.randrange(4, 40))]}) + "\n")


def sweeps(qk, tmp):
    """The run files: each model over probes p0..p29; qwen3 without p27..p29 and with p5 non-ok."""
    full = os.path.join(tmp, "probes.jsonl")
    write_probes(full, range(30))
    part = os.path.join(tmp, "part.jsonl")
    with open(full) as f:
        open(part, "w").writelines(f.readlines()[:27])
    models = [("llama3", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "llama3"), full),
              ("qwen3", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3"), part),
              ("gemma3_text", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "gemma3_text"), full)]
    mini = rc.minilm_dir()
    if mini:
        models.append(("minilm", mini, full))
    files = []
    for name, model, probes in models:
        out = os.path.join(tmp, f"{name}.h5")
        r = run([qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--quiet", "--threads", "1"])
        check(r.returncode == 0, f"sweep {name} ({r.stderr.strip()[-300:]})")
        files.append(out)
    if rc.FAILURES:
        sys.exit(1)
    with h5py.File(files[1], "r+") as f:  # a probe without numbers, as --on-nonfinite skip stores it
        status = rc.h5_strings(f["probe/status"])
        rc.h5_rewrite_strings(f, "probe/status", status[:5] + ["non_finite"] + status[6:])
        for q in ref.SCALARS:
            f[q][5] = np.nan
    return files


def check_quantities(out, runs, common, opts):
    doms = ["all"] + sorted(set(runs[0]["domains"][runs[0]["index"][p]] for p in common))
    check(out["domains"] == doms, f"domains {out['domains']}")
    labels_s = ["n", "mean", "sd", "min", "q05", "q25", "median", "q75", "q95", "max"]
    bad = []
    for q in ref.SCALARS:
        oq = out["quantities"][q]
        vals = [ref.values(r, common, q) for r in runs]
        for k, v in enumerate(vals):
            want = ref.summary(v)
            bad += [f"{q} run {k} {lab}" for lab, w in zip(labels_s, want) if not same(oq["summary"][k][lab], w)]
        for pj in oq["pairs"]:
            a, b = pj["a"], pj["b"]
            for d in doms:
                use = np.array([d == "all" or runs[0]["domains"][runs[0]["index"][p]] == d for p in common])
                want = ref.paired(vals[a][use], vals[b][use], *opts)
                got = pj["domains"][d]
                for lab, w in zip(PAIRED, want):
                    if not same(got[lab], w):
                        bad.append(f"{q} {a}-{b} {d} {lab}: {got[lab]} vs {w}")
    check(not bad, f"summaries and paired statistics equal numpy/scipy ({len(bad)} differ: {bad[:4]})")


def check_agreement_depth(out, runs, common, statics):
    bad = []
    for name, cols in (("invariant", ref.INVARIANT), ("seed_features", ref.SEED_FEATURES)):
        ag = out["agreement"][name]
        for p, (a, b) in enumerate(itertools.combinations(range(len(runs)), 2)):
            n, cka, rsa = ref.agreement(runs, common, a, b, cols)
            if not (same(ag["n"][p], n) and same(ag["cka"][p], cka) and same(ag["rsa"][p], rsa)):
                bad.append(f"{name} {a}-{b}: {ag['n'][p]}, {ag['cka'][p]}, {ag['rsa'][p]} vs {n}, {cka}, {rsa}")
    grid = np.array(out["depth"]["grid"])
    check(np.allclose(grid, np.linspace(0, 1, 21), rtol=0, atol=1e-15), "depth grid 0..1, 21 points")
    for q in ref.LAYERED:
        for k, r in enumerate(runs):
            want = ref.depth(r, common, q, grid)
            got = out["depth"]["profiles"][q][k]
            if want is not None and not (all(map(same, got["layers"], want[0]))
                                         and all(same(g, w, 1e-12) for g, w in zip(got["resampled"], want[1]))):
                bad.append(f"depth {q} run {k}")
    for s, path in enumerate(statics):
        for d, (curve, res) in ref.static_depth(path, grid).items():
            got = out["static"]["profiles"][d][s]
            if not (all(map(same, got["layers"], curve)) and all(same(g, w, 1e-12) for g, w in zip(got["resampled"], res))):
                bad.append(f"static {d} file {s}")
    check(not bad, f"CKA, RSA and depth profiles equal numpy/scipy ({bad[:4]})")


def check_h5(cmp_path, out, common, runs):
    with h5py.File(cmp_path, "r") as f:
        ok = f.attrs["kind"] == "qkgeom-compare" and int(f.attrs["schema_version"]) == 1
        ok = ok and f["probes/id"].asstr()[()].tolist() == common
        ok = ok and f["missing/id"].asstr()[()].tolist() == [m["id"] for m in out["missing"]]
        bad = []
        for q, oq in out["quantities"].items():
            s = f["summary/" + q]
            labels = list(s.attrs["labels"])
            for k, row in enumerate(oq["summary"]):
                bad += [q] if not all(same(s[k, i], row[lab]) for i, lab in enumerate(labels)) else []
            pd = f["paired/" + q]
            plabels, doms = list(pd.attrs["labels"]), f["domains"].asstr()[()].tolist()
            for p, pj in enumerate(oq["pairs"]):
                for di, d in enumerate(doms):
                    bad += [q + " paired"] if not all(same(pd[p, di, i], pj["domains"][d][lab])
                                                      for i, lab in enumerate(plabels)) else []
            want = np.stack([ref.values(r, common, q) for r in runs])
            bad += [q + " values"] if not np.array_equal(f["values/" + q][()], want, equal_nan=True) else []
        for name, ag in out["agreement"].items():
            bad += [name] if not all(map(same, f[f"agreement/{name}/cka"][()], ag["cka"])) else []
        for q, curves in out["depth"]["profiles"].items():
            bad += [q] if not all(same(f["depth/" + q][k, i], v) for k, c in enumerate(curves)
                                  for i, v in enumerate(c["resampled"])) else []
        warns = list(f.attrs["warnings"])
    check(ok and not bad, f"CMP.h5 holds the JSON's numbers ({bad[:4]})")
    return warns


def error_cases(qk, tmp, files):
    other = os.path.join(tmp, "other.jsonl")
    with open(other, "w") as f:
        f.write(json.dumps({"id": "zz", "ids": [1, 2, 3]}) + "\n")
    disjoint = os.path.join(tmp, "disjoint.h5")
    run([qk, "sweep", "--model", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "llama3"),
         "--probes", other, "--out", disjoint, "--quiet"])
    r = run([qk, "compare", files[0], disjoint])
    check(r.returncode == 3 and "no probe id is common" in r.stderr and disjoint in r.stderr and files[0] in r.stderr,
          f"no common probes: exit 3 naming the files ({r.returncode}, {r.stderr.strip()[:200]})")
    changed = os.path.join(tmp, "changed_prompt.h5")
    shutil.copy(files[2], changed)
    with h5py.File(changed, "r+") as f:
        prompt = rc.h5_strings(f["probe/prompt"])
        rc.h5_rewrite_strings(f, "probe/prompt", prompt[:3] + ["x"] + prompt[4:])
    r = run([qk, "compare", files[0], changed])
    check(r.returncode == 3 and "'p3'" in r.stderr and "prompt" in r.stderr,
          f"another prompt text: exit 3 naming the probe ({r.returncode}, {r.stderr.strip()[:200]})")
    templ = os.path.join(tmp, "template.h5")
    shutil.copy(files[2], templ)
    with h5py.File(templ, "r+") as f:
        f.attrs["template"] = "chatml"
    r = run([qk, "compare", files[0], templ])
    check(r.returncode == 3 and "template" in r.stderr, f"another template: exit 3 ({r.stderr.strip()[:200]})")
    r = run([qk, "compare", files[0], templ, "--allow-template-mix", "--json"])
    check(r.returncode == 0 and any("template" in w for w in json.loads(r.stdout)["warnings"]),
          "--allow-template-mix: exit 0 with a warning")
    corrupt = os.path.join(tmp, "corrupt.h5")
    with open(files[0], "rb") as f:
        data = bytearray(f.read())
    data[0:8] = b"garbage!"
    open(corrupt, "wb").write(bytes(data))
    r = run([qk, "compare", files[0], corrupt])
    check(r.returncode == 3 and corrupt in r.stderr, f"corrupt file: exit 3 ({r.returncode}, {r.stderr.strip()[:200]})")
    r = run([qk, "compare", files[0]])
    check(r.returncode == 2, f"one run: usage error, exit 2 ({r.returncode})")
    r = run([qk, "compare", files[0], os.path.join(tmp, "absent.h5")])
    check(r.returncode == 3, f"absent file: exit 3 ({r.returncode})")
    out = os.path.join(tmp, "exists.h5")
    open(out, "w").close()
    r = run([qk, "compare", files[0], files[2], "--out", out])
    check(r.returncode == 3 and "--force" in r.stderr, "an existing --out: exit 3")
    r = run([qk, "compare", files[0], files[2], "--out", files[0], "--force"])
    check(r.returncode == 3, "--out naming an input: exit 3")


def main():
    qk = rc.require_cli()
    with tempfile.TemporaryDirectory() as tmp:
        files = sweeps(qk, tmp)
        statics = []
        for name in ("llama3", "gemma3_text"):
            st = os.path.join(tmp, f"{name}.static.h5")
            run([qk, "weights", "--model", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", name),
                 "--out", st, "--topk", "4", "--device", "cpu"])
            statics.append(st)
        cmp_path = os.path.join(tmp, "cmp.h5")
        opts = (500, 11, 0.9)
        r = run([qk, "compare", *files, "--static", *statics, "--out", cmp_path, "--json", "--bootstrap", "500",
                 "--seed", "11", "--level", "0.9"])
        check(r.returncode == 0, f"compare exits 0 ({r.stderr.strip()[-300:]})")
        out = json.loads(r.stdout)
        runs = [ref.read_run(p) for p in files]
        common, missing = ref.match(runs)
        check(out["probes_common"] == len(common) == 27, f"27 common probes ({out['probes_common']})")
        check(out["missing"] == missing and all(f"'p{i}'" in r.stderr for i in (27, 28, 29)),
              "missing probes listed in the output and on stderr")
        check_quantities(out, runs, common, opts)
        check_agreement_depth(out, runs, common, statics)
        warns = check_h5(cmp_path, out, common, runs)
        if len(files) == 4:
            mixed = [w for w in out["warnings"] if w.startswith("bo/composite")]
            check(mixed and "minilm" in mixed[0] and "position-wise" in mixed[0] and "multi-head" in mixed[0]
                  and "qkgeom: warning: bo/composite" in r.stderr and mixed[0] in warns,
                  "the composite's change of definition is warned (stderr, JSON, CMP.h5)")
            check(not any(w.startswith("attention/") for w in out["warnings"]), "no warning for the attention statistics")
        else:
            check(out["warnings"] == [], "no warning between position-wise models")
        s = run([qk, "compare", files[0], files[2], "--static", statics[0]])
        check(s.returncode == 0 and "bo/composite" in s.stdout and "wilcoxon p" in s.stdout, "the table on stdout")
        again = json.loads(run([qk, "compare", *files, "--json", "--bootstrap", "500", "--seed", "11",
                                "--level", "0.9"]).stdout)
        check(again["quantities"] == out["quantities"], "same seed, same numbers")
        error_cases(qk, tmp, files)
    if rc.FAILURES:
        print(f"{len(rc.FAILURES)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
