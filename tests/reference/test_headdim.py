#!/usr/bin/env python3
"""`qkgeom headdim-sweep` on a reduced grid (--dims 64,128 --heads 1,2): training reaches high
accuracy; the three summary tables are complete and agree with the JSON; the JSON and the
HDF5 file agree row by row; the null baselines are present with z and bands consistent with
the CVs; the same seed gives identical numbers, another seed other CVs."""
import json
import math
import os
import re
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402

DIMS, HEADS, EPOCHS = (64, 128), (1, 2), 50
# Measured here at epoch 50, seeds 0-5: D=64 0.982-0.998, D=128 0.998-1.0 (D=32 only 0.90-0.97).
ACC_MIN = 0.95
PHASES = ("pre", "mid", "post")
WEIGHT_COLS = ("emb", "Q_full", "K_full", "V_full", "out_proj")
ACT_COLS = ("act_emb", "act_Q_h0", "act_K_h0", "act_V_h0", "act_post_h0", "act_post_full")


def sweep(seed, *extra):
    args = ["headdim-sweep", "--dims", ",".join(map(str, DIMS)), "--heads", ",".join(map(str, HEADS)),
            "--epochs", str(EPOCHS), "--seed", str(seed), "--device", rc.DEVICE, "--quiet", *extra]
    proc = rc.run_cli(args, timeout=600)
    if proc.returncode != 0:
        print(f"FAILED: {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
        sys.exit(1)
    return proc.stdout


def expected_names(heads):
    names = ["emb", "Q_full", "K_full", "V_full"]
    for i in range(heads):
        names += [f"Q_h{i}", f"K_h{i}", f"V_h{i}"]
    names += ["out_proj", "cls_head"]
    for i in range(heads):
        names += [f"act_Q_h{i}", f"act_K_h{i}", f"act_V_h{i}", f"act_post_h{i}"]
    return names + ["act_emb", "act_post_full"]


def rows_of(j):
    for c in j["configs"]:
        for phase in PHASES:
            for r in c["phases"].get(phase, []):
                yield c, phase, r


def check_json(j):
    configs = [(c["dim"], c["heads"]) for c in j["configs"]]
    check(configs == [(d, h) for d in DIMS for h in HEADS], f"configs in grid order: {configs}")
    for c in j["configs"]:
        tag = f"D={c['dim']} heads={c['heads']}"
        check(c["head_dim"] == c["dim"] // c["heads"], f"{tag}: head_dim")
        check(c["acc_post"] >= ACC_MIN, f"{tag}: post-train accuracy {c['acc_post']:.3f} >= {ACC_MIN}")
        check(c["acc_mid"] is not None and 0 <= c["acc_mid"] <= 1, f"{tag}: mid accuracy {c['acc_mid']}")
        check(sorted(c["phases"]) == ["mid", "post", "pre"], f"{tag}: phases {sorted(c['phases'])}")
        for phase, rows in c["phases"].items():
            check([r["name"] for r in rows] == expected_names(c["heads"]), f"{tag} {phase}: every matrix, in order")
    bad_null, bad_z, bad_band, missing = [], [], [], []
    nulls = {}
    for c, phase, r in rows_of(j):
        where = f"D={c['dim']} h={c['heads']} {phase} {r['name']}"
        if r["cv"] is None:
            missing.append(where)
            bad_band += [where] if r["band"] != "n/a" else []
            continue
        if r["null_mean"] is None or r["null_std"] is None or r["z"] is None:
            bad_null.append(where)
            continue
        if not math.isclose(r["z"], (r["cv"] - r["null_mean"]) / r["null_std"], rel_tol=1e-9, abs_tol=1e-12):
            bad_z.append(where)
        band = "degenerate" if r["cv"] <= 0.13 else "band" if r["cv"] < 0.30 else "volatile"
        if r["band"] != band:
            bad_band.append(where)
        nulls.setdefault((c["dim"], c["heads"], r["name"]), set()).add((r["null_mean"], r["null_std"]))
    check(not missing, f"every matrix has a CV (missing: {missing[:5]})")
    check(not bad_null, f"null baselines present for every CV ({bad_null[:5]})")
    check(not bad_z, f"z = (cv - null_mean) / null_std ({bad_z[:5]})")
    check(not bad_band, f"bands follow the CVs ({bad_band[:5]})")
    check(all(len(v) == 1 for v in nulls.values()), "a matrix's null baseline is the same at every phase")


CELL = re.compile(r"([ *])(\d+\.\d{4})([ *]) \((\d+\.\d{4}|  N/A )\)|  N/A  ")


def parse_tables(text):
    """[(title, [(dim, heads, hdim, [cells], acc)])] from the three summary tables."""
    tables, cur = [], None
    for line in text.splitlines():
        if line.startswith("SUMMARY:"):
            cur = (line, [])
            tables.append(cur)
        elif cur is not None and re.match(r"^\s*\d+\s+\d+\s+\d+ \|", line):
            parts = line.split("|")
            dim, heads, hdim = map(int, parts[0].split())
            cur[1].append((dim, heads, hdim, parts[1], parts[2].strip() if len(parts) > 2 else None))
    return tables


def check_tables(text, j):
    tables = parse_tables(text)
    check(len(tables) == 3, f"three summary tables ({len(tables)})")
    if len(tables) != 3:
        return
    by = {(c["dim"], c["heads"]): c for c in j["configs"]}
    for (title, rows), cols in zip(tables[:2], (WEIGHT_COLS, ACT_COLS)):
        check([(r[0], r[1]) for r in rows] == list(by), f"{title[:40]}: one row per config")
        bad = []
        for dim, heads, hdim, body, acc in rows:
            c = by[(dim, heads)]
            post = {r["name"]: r for r in c["phases"]["post"]}
            cells = [m for m in CELL.finditer(body)]
            if len(cells) != len(cols) or hdim != dim // heads:
                bad.append(f"D={dim} h={heads}: {len(cells)} cells")
                continue
            for m, col in zip(cells, cols):
                r = post[col]
                if m.group(2) is None:
                    ok = r["cv"] is None
                else:
                    star = m.group(1) == "*"
                    ok = (r["cv"] is not None and float(m.group(2)) == round(r["cv"], 4)
                          and star == (0.13 < r["cv"] < 0.30) and m.group(1) == m.group(3)
                          and m.group(4) == f"{r['null_mean']:.4f}")
                if not ok:
                    bad.append(f"D={dim} h={heads} {col}: {m.group(0)!r} vs {r['cv']}")
            if acc != f"{100 * c['acc_post']:.2f}%":
                bad.append(f"D={dim} h={heads}: acc {acc}")
        check(not bad, f"{title[:48]}: cells agree with the JSON ({bad[:4]})")
    title, rows = tables[2]
    bad = []
    for dim, heads, _hdim, body, _ in rows:
        c = by[(dim, heads)]
        pre = {r["name"]: r for r in c["phases"]["pre"]}
        post = {r["name"]: r for r in c["phases"]["post"]}
        cells = re.findall(r"([+-]\d+\.\d{4}) \(([+-]\d+\.\d{2}|N/A)\)|  N/A  ", body)
        if len(cells) != len(ACT_COLS):
            bad.append(f"D={dim} h={heads}: {len(cells)} cells")
            continue
        for (d, _z), col in zip(cells, ACT_COLS):
            a, b = pre[col]["cv"], post[col]["cv"]
            if (a is None or b is None) != (d == "") or (d and float(d) != round(b - a, 4)):
                bad.append(f"D={dim} h={heads} {col}: {d} vs {a} -> {b}")
    check(len(rows) == len(by) and not bad, f"{title[:48]}: complete, deltas agree ({bad[:4]})")


def check_h5(path, j):
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        check(attrs.get("kind") in ("qkgeom-headdim", b"qkgeom-headdim"), "h5: kind attribute")
        check(int(attrs.get("epochs", -1)) == EPOCHS and int(attrs.get("null_trials", -1)) == j["options"]["null_trials"],
              "h5: options in root attributes")
        check("started_at" in attrs and "command_line" in attrs and "git_sha" in attrs, "h5: provenance attributes")
        cols = {k: f[k][()] for k in ("dim", "heads", "head_dim", "phase", "name", "cv", "null_mean",
                                     "null_std", "z", "band", "valid")}
        dec = lambda v: v.decode() if isinstance(v, bytes) else v  # noqa: E731
        rows = list(rows_of(j))
        check(len(cols["cv"]) == len(rows), f"h5: {len(cols['cv'])} rows, JSON {len(rows)}")
        bad = []
        for i, (c, phase, r) in enumerate(rows[:len(cols["cv"])]):
            same = (cols["dim"][i] == c["dim"] and cols["heads"][i] == c["heads"]
                    and cols["head_dim"][i] == c["head_dim"] and dec(cols["phase"][i]) == phase
                    and dec(cols["name"][i]) == r["name"] and dec(cols["band"][i]) == r["band"]
                    and cols["valid"][i] == r["valid"])
            for k in ("cv", "null_mean", "null_std", "z"):
                h = float(cols[k][i])
                same = same and ((r[k] is None and math.isnan(h)) or (r[k] is not None and h == r[k]))
            if not same:
                bad.append(f"row {i}: {c['dim']}/{c['heads']} {phase} {r['name']}")
        check(not bad, f"h5 rows equal the JSON's ({bad[:4]})")
        g = f["configs"]
        ok = [int(x) for x in g["dim"][()]] == [c["dim"] for c in j["configs"]]
        for k in ("acc_mid", "acc_post", "loss_mid", "loss_post"):
            ok = ok and [float(x) for x in g[k][()]] == [c[k] for c in j["configs"]]
        check(ok, "h5 configs/ accuracies equal the JSON's")
        # One name per quantity (docs/cli.md "JSON output": durations end in _s): the timings
        # are configs/train_s and configs/measure_s, equal to the JSON's timing.configs.
        timing = j["timing"]["configs"]
        want = {k for t in timing for k in t if k.endswith("_s")}
        have = {k for k in g if k.endswith(("_s", "_seconds"))}
        check(want == {"train_s", "measure_s"} and have == want,
              f"h5 configs/ timing names equal the JSON's: {sorted(have)} vs {sorted(want)}")
        same = all([float(x) for x in g[k][()]] == [t[k] for t in timing] for k in want & have)
        check(same, "h5 configs/ timings equal the JSON's")
        check(int(attrs.get("schema_version", -1)) == 2, f"h5: schema_version 2 ({attrs.get('schema_version')})")


def h5_numbers(path):
    """{dataset: values} of a headdim .h5 but the timings (configs/*_s): floats as
    their bytes (bit for bit, NaN equal to NaN), the rest as lists."""
    with h5py.File(path, "r") as f:
        data = rc.h5_datasets(f)
    return {k: v.tobytes() if v.dtype.kind == "f" else v.tolist() for k, v in data.items() if not k.endswith("_s")}


def main():
    rc.require_cli()
    probe = rc.run_cli(["headdim-sweep", "--help"])
    if probe.returncode != 0:
        rc.skip("this build has no headdim-sweep (no libtorch)")
    with tempfile.TemporaryDirectory() as tmp:
        h5 = os.path.join(tmp, "headdim.h5")
        a = json.loads(sweep(1, "--json", "--out", h5))
        check_json(a)
        check_h5(h5, a)
        check(not os.path.exists(h5 + ".tmp"), "no .tmp file left behind")
        # The tables' run also writes an .h5: the same seed gives the same numbers, bit for bit.
        h5_again = os.path.join(tmp, "headdim-again.h5")
        check_tables(sweep(1, "--out", h5_again), a)
        first = h5_numbers(h5)
        same = first == h5_numbers(h5_again) and {"cv", "z", "configs/acc_post", "configs/loss_post"} <= set(first)
        check(same, f"same seed: identical .h5 numbers, timings aside ({len(first)} datasets)")
        c = json.loads(sweep(2, "--json"))
        cv = lambda j: [r["cv"] for _, _, r in rows_of(j)]  # noqa: E731
        differ = sum(x != y for x, y in zip(cv(a), cv(c)))
        check(differ > 0.9 * len(cv(a)), f"another seed: other CVs ({differ} of {len(cv(a))} differ)")
        bad = rc.run_cli(["headdim-sweep", "--dims", "64", "--heads", "3", "--quiet"])
        check(bad.returncode == 2, f"--heads 3 with --dims 64: usage error (exit {bad.returncode})")
        # A value listed twice would train and store the same config twice: a usage error
        # (docs/cli.md, exit 2) naming the option and the value, before any training.
        for opt, lst, val in (("--dims", "8,8", "8"), ("--heads", "1,2,1", "1"), ("--dims", "8,08", "08")):
            args = ["headdim-sweep", "--dims", "64", "--heads", "1", opt, lst, "--quiet"]
            dup = rc.run_cli(args, timeout=60)
            check(dup.returncode == 2 and opt in dup.stderr and f"'{val}'" in dup.stderr and "twice" in dup.stderr,
                  f"{opt} {lst}: exit 2 naming {opt} and {val} (exit {dup.returncode}: {dup.stderr.strip()[:160]})")
    print(f"{len(rc.FAILURES)} failed")
    return 1 if rc.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
