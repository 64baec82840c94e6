"""Small files of every kind qkgeom.open reads, made by build/qkgeom from the tiny Qwen3
checkpoint of tests/fixtures (a few seconds): a sweep store (bo, attention, --save-kv k),
STATIC.h5 with its align/ group, a simplex table, a head-dim table and a CMP.h5."""
import json
import os
import subprocess

SOURCE_DIR = os.environ.get("QK_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QKGEOM_BIN = os.environ.get("QKGEOM_BIN") or os.path.join(SOURCE_DIR, "build", "qkgeom")
MODEL = os.path.join(SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
DOMAINS = ("science", "ünïcode ✓", "code")
SWEEP_ARGS = ["--device", "cpu", "--threads", "1", "--save-kv", "k", "--metrics", "bo,attention", "--quiet"]


def run(*args):
    """build/qkgeom ARGS; raises with its stderr when it fails."""
    r = subprocess.run([QKGEOM_BIN, *args], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"qkgeom {' '.join(args)}: exit {r.returncode}: {r.stderr[-500:]}")
    return r


def write_probes(path, n, seed=5):
    """n pre-tokenized probes in three domains (one of them non-ASCII), ids of 2..29 tokens."""
    import random
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            ids = [rng.randrange(128) for _ in range(rng.randrange(2, 30))]
            f.write(json.dumps({"id": f"probe-{i:04d}-é", "domain": DOMAINS[i % 3],
                                "note": f"probe {i} ünïcode ✓", "ids": ids}, ensure_ascii=False) + "\n")


def sweep_cmd(probes, out, *extra):
    return ["sweep", "--model", MODEL, "--probes", probes, "--out", out, *SWEEP_ARGS, *extra]


def make_files(tmp, kinds=("sweep", "static", "simplex", "headdim", "compare")):
    """{kind: path} of the files of `kinds`, written under directory `tmp` (compare: of the
    sweep and one of the tiny Llama 3 over the same probes)."""
    paths = {k: os.path.join(tmp, f"{k}.h5") for k in kinds}
    probes = os.path.join(tmp, "probes.jsonl")
    write_probes(probes, 24)
    if "sweep" in kinds:
        run(*sweep_cmd(probes, paths["sweep"]))
    if "static" in kinds:
        run("weights", "--model", MODEL, "--out", paths["static"], "--device", "cpu")
        run("align", "--static", paths["static"])
    if "simplex" in kinds:
        run("simplex", "--model", MODEL, "--out", paths["simplex"], "--device", "cpu", "--samples", "50",
            "--null-trials", "2")
    if "compare" in kinds:
        other = os.path.join(tmp, "llama3-sweep.h5")
        run("sweep", "--model", os.path.join(os.path.dirname(MODEL), "llama3"), "--probes", probes, "--out", other,
            "--device", "cpu", "--threads", "1", "--quiet")
        run("compare", paths["sweep"], other, "--out", paths["compare"], "--bootstrap", "50")
    if "headdim" in kinds:
        run("headdim-sweep", "--dims", "8", "--heads", "1,2", "--epochs", "2", "--samples", "30",
            "--null-trials", "2", "--device", "cpu", "--threads", "1", "--quiet", "--out", paths["headdim"])
    return paths
