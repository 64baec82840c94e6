#!/usr/bin/env python3
"""`qkgeom merge` refuses what does not belong together, and every command that writes a
file refuses an existing one unless --force, which replaces it atomically.

Shards are tiny sweeps of the tiny qwen3 checkpoint (id probes), read back with h5py:
- one shard per identity attribute edited with h5py (and a shard of another model, and
  of another probe file): exit 3 naming the attribute, no output left;
- per-shard attributes may differ and are kept per shard in `merged_shards`;
- a merge missing a shard is `partial` with `shards_missing`; merged again with the
  missing shard it equals a single run, dataset for dataset, bitwise;
- an input given twice (also as a symlink or hard link), or the output being an input
  (also through a symlink or hard link, --force or not): exit 3, the input unchanged;
- an existing output: exit 3 without --force; with it the file is replaced by a rename
  (a reader holding the old file still reads all of it; no temporary file is left);
- the same for capture, score --save-snapshot, weights (and --export-legacy), simplex,
  headdim-sweep, export --csv, align and correlate --export-legacy."""
import concurrent.futures
import hashlib
import itertools
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
from refcommon import check, finish  # noqa: E402
from test_sweep import datasets, same_content, write_id_probes  # noqa: E402

QK = None
IDENTITY = ["model_config_sha256", "model_weights_index_sha256", "probes_sha256", "dtype", "template",
            "metrics", "mode", "save_kv", "on_nonfinite", "engine", "engine_version", "git_sha"]
PER_SHARD = ["hostname", "device", "gpu_name", "cpu_threads", "batch_tokens", "model_path", "probes_path",
             "command_line", "started_at", "finished_at"]


def qk(*args):
    return subprocess.run([QK, *args], capture_output=True, text=True)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def sweep(model, probes, out, *extra):
    r = qk("sweep", "--model", model, "--probes", probes, "--out", out, "--device", rc.DEVICE, "--quiet",
           "--threads", "1", *extra)
    if r.returncode != 0:
        raise SystemExit(f"FAILED: sweep {out}: {r.stderr.strip()[-300:]}")
    return out


def edited(src, dst, **attrs):
    """A copy of shard `src` with root attributes set (None deletes one)."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for k, v in attrs.items():
            if v is None:
                del f.attrs[k]
            else:
                f.attrs[k] = v
    return dst


def refused(r, out, needle):
    return r.returncode == 3 and needle in r.stderr and not os.path.exists(out)


def test_identity(tmp, s0, s1, other_model, other_probes):
    """Each identity attribute edited in shard 1: exit 3 naming it. Run concurrently."""
    cases = {}
    for k in IDENTITY:
        with h5py.File(s1, "r") as f:
            old = f.attrs[k]
        cases[k] = edited(s1, os.path.join(tmp, f"id_{k}.h5"), **{k: "x" + str(old)})
    cases["schema_version"] = edited(s1, os.path.join(tmp, "id_schema.h5"), schema_version=1)
    cases["shard"] = edited(s1, os.path.join(tmp, "id_shard.h5"), shard="1/3")
    cases["custom"] = edited(s1, os.path.join(tmp, "id_custom.h5"), custom="an attribute s0 lacks")
    cases["dtype (deleted)"] = edited(s1, os.path.join(tmp, "id_nodtype.h5"), dtype=None)
    cases["model_config_sha256 (another model)"] = other_model
    cases["probes_sha256 (another probe file)"] = other_probes
    outs = {k: os.path.join(tmp, f"out_{i}.h5") for i, k in enumerate(cases)}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        res = dict(zip(cases, pool.map(lambda k: qk("merge", outs[k], s0, cases[k]), cases)))
    for k, r in res.items():
        attr = k.split(" ")[0]
        check(refused(r, outs[k], f"attribute '{attr}'") and cases[k] in r.stderr and s0 in r.stderr,
              f"identity '{k}' differs: exit 3 naming it and both files ({r.returncode}: {r.stderr.strip()[-160:]})")
    check("attribute 'dtype' is missing here" in res["dtype (deleted)"].stderr,
          "a deleted identity attribute is called missing")
    out = os.path.join(tmp, "mix.h5")
    r = qk("merge", out, s0, cases["engine_version"], "--allow-version-mix")
    ok = r.returncode == 0
    if ok:
        with h5py.File(out, "r") as f:
            rec = json.loads(f.attrs["merged_shards"])
            ok = "engine_version" not in f.attrs and rec[1]["engine_version"].startswith("x")
    check(ok, f"--allow-version-mix: merged, engine_version per shard only ({r.stderr.strip()[-200:]})")


def test_per_shard(tmp, s0, s1):
    changed = {k: f"other-{k}" for k in PER_SHARD}
    e = edited(s1, os.path.join(tmp, "per_shard.h5"), **changed)
    out = os.path.join(tmp, "per_shard_out.h5")
    r = qk("merge", out, s0, e)
    check(r.returncode == 0, f"per-shard attributes may differ ({r.stderr.strip()[-200:]})")
    if r.returncode != 0:
        return
    with h5py.File(out, "r") as f:
        a = rc.text_attrs(f)
    rec = json.loads(a["merged_shards"])
    with h5py.File(s0, "r") as f:
        a0 = rc.text_attrs(f)
    check([x["shard"] for x in rec] == [0, 1] and all(rec[1][k] == v for k, v in changed.items())
          and all(rec[0][k] == a0[k] for k in PER_SHARD) and rec[1]["path"] == os.path.abspath(e),
          "merged_shards holds each shard's own values, path and shard index")
    check(not any(k in a for k in PER_SHARD), "differing per-shard attributes are not at the root")
    check(a["dtype"] == a0["dtype"] and a["model_config_sha256"] == a0["model_config_sha256"]
          and a["status"] == "complete" and a["probes_committed"] == str(sum(x["probes"] for x in rec)),
          "root: identity attributes, status complete, probes_committed recounted")


def test_bad_utf8(tmp, s0, s1):
    """A per-shard attribute that is not UTF-8 (fuzzing found it ended merge with an uncaught
    JSON error): exit 3 naming it, no output."""
    e = edited(s1, os.path.join(tmp, "bad_utf8.h5"), hostname=np.bytes_(b"node\xff\xfe"))
    out = os.path.join(tmp, "bad_utf8_out.h5")
    r = qk("merge", out, s0, e)
    check(refused(r, out, "attribute 'hostname' is not valid UTF-8"),
          f"a non-UTF-8 attribute: exit 3 naming it ({r.returncode}: {r.stderr.strip()[-200:]})")


def test_partial(tmp, s0, s1, single):
    part = os.path.join(tmp, "partial.h5")
    r = qk("merge", part, s0)
    check(r.returncode == 0 and "(partial)" in r.stdout and "missing shard(s): 1" in r.stdout,
          f"1 of 2 shards: exit 0, the summary says partial, missing 1 ({r.stdout.strip()})")
    with h5py.File(part, "r") as f, h5py.File(s0, "r") as g:
        ok = (rc.text_attr(f, "status") == "partial" and f.attrs["shards_missing"] == "1"
              and f.attrs["shards_merged"] == "0" and rc.text_attr(f, "probes_committed") == str(len(g["probe/index"]))
              and f.attrs["shard_count"] == "2")
    check(ok, "partial merge: status partial, shards_missing 1, probes_committed recounted")
    r = qk("merge", os.path.join(tmp, "partial_json.h5"), s0, "--json")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(j.get("status") == "partial" and j.get("shards_missing") == [1] and j.get("shards_merged") == [0],
          f"--json: status partial, shards_missing [1] ({r.stdout.strip()})")
    full = os.path.join(tmp, "completed.h5")
    r = qk("merge", full, part, s1)
    got, attrs = datasets(full)
    want, _ = datasets(single)
    diff = same_content(got, want)
    check(r.returncode == 0 and attrs["status"] == "complete" and not diff,
          f"partial merge + the missing shard: complete, equal to a single run bitwise (differs: {diff[:4]})")
    check(attrs.get("shards_merged") == "0,1" and len(json.loads(attrs["merged_shards"])) == 2,
          "the re-merge keeps both shards' records")
    r = qk("merge", os.path.join(tmp, "twice_covered.h5"), part, s0)
    check(r.returncode == 3 and "holds shard 0/2" in r.stderr, f"a shard covered twice: exit 3 ({r.stderr.strip()})")
    intr = edited(s1, os.path.join(tmp, "interrupted.h5"), status="interrupted")
    r = qk("merge", os.path.join(tmp, "incomplete.h5"), s0, intr)
    with h5py.File(os.path.join(tmp, "incomplete.h5"), "r") as f:
        ok = rc.text_attr(f, "status") == "partial" and f.attrs["shards_incomplete"] == "1"
    check(r.returncode == 0 and ok and "did not complete: 1" in r.stdout,
          f"an interrupted shard: partial, shards_incomplete 1 ({r.stdout.strip()})")


def test_inputs(tmp, s0, s1):
    before = {p: sha(p) for p in (s0, s1)}
    out = os.path.join(tmp, "dup.h5")
    link, hard = os.path.join(tmp, "s0_link.h5"), os.path.join(tmp, "s0_hard.h5")
    os.symlink(s0, link)
    os.link(s0, hard)
    for name, second in (("itself", s0), ("a symlink", link), ("a hard link", hard)):
        r = qk("merge", out, s0, second, s1)
        check(refused(r, out, "is given twice"), f"an input twice ({name}): exit 3 ({r.stderr.strip()})")
    for name, target, force in (("the input", s0, []), ("the input", s1, ["--force"]),
                                ("a symlink to it", link, ["--force"]), ("a hard link to it", hard, ["--force"])):
        r = qk("merge", target, s0, s1, *force)
        check(r.returncode == 3 and "is the input" in r.stderr,
              f"output = {name} {' '.join(force)}: exit 3 ({r.stderr.strip()})")
    check(all(sha(p) == h for p, h in before.items()) and os.path.islink(link),
          "the inputs are unchanged (and the symlink is still one)")


def replaced_atomically(path, run):
    """Writes "old" to `path`; `run()` must refuse it (exit 3) and leave it; `run("--force")`
    must replace it by a rename: a reader holding the old file still reads "old". Returns
    (refused ok, replaced ok, messages)."""
    with open(path, "w") as f:
        f.write("old")
    r = run()
    no = r.returncode == 3 and "exists; pass --force" in r.stderr and open(path).read() == "old"
    ino = os.stat(path).st_ino
    with open(path, "rb") as held:
        r2 = run("--force")
        old_bytes = held.read()
    d = os.path.dirname(path)
    left = [n for n in os.listdir(d) if n.startswith(os.path.basename(path) + ".tmp")]
    yes = (r2.returncode == 0 and old_bytes == b"old" and os.stat(path).st_ino != ino
           and os.path.getsize(path) > 3 and not left)
    return no, yes, f"{r.returncode}: {r.stderr.strip()[-150:]} / {r2.returncode}: {r2.stderr.strip()[-150:]}"


def test_merge_force(tmp, s0, s1):
    out = os.path.join(tmp, "existing.h5")
    no, yes, msg = replaced_atomically(out, lambda *f: qk("merge", out, s0, s1, *f))
    check(no, f"merge onto an existing file: exit 3, untouched ({msg})")
    check(yes, f"merge --force: replaced by a rename, the old file intact for its reader, no temp left ({msg})")
    with h5py.File(out, "r") as f:
        check(rc.text_attr(f, "status") == "complete", "merge --force wrote the merged store")


def test_other_commands(tmp, model, s0):
    ids = ["--ids", "1,2,3,4", "--device", rc.DEVICE]
    static = os.path.join(tmp, "static.h5")
    fresh = (os.path.join(tmp, f"w{i}.h5") for i in itertools.count())  # new --out files
    cases = {
        "capture --out": (os.path.join(tmp, "cap.safetensors"),
                          lambda p, *f: qk("capture", "--model", model, *ids, "--out", p, *f)),
        "capture --out .h5": (os.path.join(tmp, "cap.h5"),
                              lambda p, *f: qk("capture", "--model", model, *ids, "--out", p, *f)),
        "score --save-snapshot": (os.path.join(tmp, "saved.safetensors"),
                                  lambda p, *f: qk("score", "--model", model, *ids, "--save-snapshot", p, *f)),
        "weights --out": (static, lambda p, *f: qk("weights", "--model", model, "--out", p, "--topk", "2", *f)),
        "export --csv": (os.path.join(tmp, "csv", "probe.csv"),
                         lambda p, *f: qk("export", s0, "--csv", os.path.dirname(p), *f)),
        "weights --export-legacy": (os.path.join(tmp, "legacy", "grams.json"),
                                    lambda p, *f: qk("weights", "--model", model, "--out", next(fresh), "--topk", "2",
                                                     "--export-legacy", os.path.dirname(p), *f)),
    }
    os.makedirs(os.path.join(tmp, "csv"))
    os.makedirs(os.path.join(tmp, "legacy"))
    for name, (path, run) in cases.items():
        no, yes, msg = replaced_atomically(path, lambda *f, p=path, run=run: run(p, *f))
        check(no, f"{name}: an existing file is refused with exit 3, untouched ({msg})")
        check(yes, f"{name} --force: replaced by a rename, no temp left ({msg})")
    # Refused before any work: simplex, headdim-sweep, correlate --export-legacy.
    for name, path, run in (
            ("simplex --out", os.path.join(tmp, "simplex.h5"),
             lambda p: qk("simplex", "--model", model, "--out", p)),
            ("headdim-sweep --out", os.path.join(tmp, "headdim.h5"),
             lambda p: qk("headdim-sweep", "--dims", "8", "--heads", "1", "--out", p)),
            ("correlate --export-legacy", os.path.join(tmp, "legacy.json"),
             lambda p: qk("correlate", "--static", static, "--sweep", s0, "--export-legacy", p))):
        with open(path, "w") as f:
            f.write("old")
        r = run(path)
        check(r.returncode == 3 and "exists; pass --force" in r.stderr and open(path).read() == "old",
              f"{name}: an existing file is refused with exit 3 ({r.stderr.strip()[-150:]})")
    r = qk("simplex", "--model", model, "--from", s0, "--out", s0, "--force")
    check(r.returncode == 3 and "is the input" in r.stderr, f"simplex --out = --from: exit 3 ({r.stderr.strip()})")
    r = qk("align", "--static", static)
    check(r.returncode == 0, f"align writes align/ ({r.stderr.strip()[-150:]})")
    r = qk("align", "--static", static, "--anchor", "0")
    check(r.returncode == 3 and "align/ group already" in r.stderr, f"align again: exit 3 ({r.stderr.strip()})")
    ino = os.stat(static).st_ino
    r = qk("align", "--static", static, "--anchor", "0", "--force")
    with h5py.File(static, "r") as f:
        ok = int(f["align"].attrs["anchor"]) == 0 and "exact" in f
    check(r.returncode == 0 and ok and os.stat(static).st_ino != ino,
          f"align --force: the group replaced, the file by a rename ({r.stderr.strip()[-150:]})")


def main():
    global QK
    QK = rc.require_cli()
    models = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
    tiny = os.path.join(models, "qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_id_probes(probes, 7, max_len=12)
        s0 = sweep(tiny, probes, os.path.join(tmp, "s0.h5"), "--shard", "0/2")
        s1 = sweep(tiny, probes, os.path.join(tmp, "s1.h5"), "--shard", "1/2")
        single = sweep(tiny, probes, os.path.join(tmp, "single.h5"))
        other_probes = os.path.join(tmp, "other.jsonl")
        write_id_probes(other_probes, 7, seed=8, max_len=12)
        other_p = sweep(tiny, other_probes, os.path.join(tmp, "other_probes_s1.h5"), "--shard", "1/2")
        # Another model: other hashes (and maybe other columns: the attributes are checked first).
        other_m = sweep(os.path.join(models, "llama3"), probes, os.path.join(tmp, "llama_s1.h5"), "--shard", "1/2")
        test_identity(tmp, s0, s1, other_m, other_p)
        test_per_shard(tmp, s0, s1)
        test_bad_utf8(tmp, s0, s1)
        test_partial(tmp, s0, s1, single)
        test_inputs(tmp, s0, s1)
        test_merge_force(tmp, s0, s1)
        test_other_commands(tmp, tiny, s0)
    finish("all merge and --force checks passed")


if __name__ == "__main__":
    main()
