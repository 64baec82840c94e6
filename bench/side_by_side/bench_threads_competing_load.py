#!/usr/bin/env python3
"""`weights` and `sweep` with the default thread count against --threads 1, under a
competing CPU load (issue 12, "Threads").

One busy-looping process per CPU of this process's affinity mask runs for the whole
benchmark (started and killed here). Each case runs `--repeats` times alternately with the
default threads and with --threads 1 (fresh processes, same inputs); the median wall
times and their ratio (default / --threads 1, target <= 1.2) are printed and written to
--json-out and --markdown-out with the machine, the date and the commands. Cases:

  weights         a random q/k-only Qwen3-shaped checkpoint (hidden 1536) of --weights-layers layers
  sweep           a random 4-layer Qwen3 (hidden 512, 8 heads, 4 KV heads of 64), --probes
                  probes of --seq token ids
  sweep-save-kv-k the same with --save-kv k (the writer thread compresses the keys)

With --active the sweeps also run under the load with OMP_WAIT_POLICY=active, libgomp's
spinning waits (build/qkgeom sets passive unless the user chose): the cause of a collapse.

Usage: bench/side_by_side/bench_threads_competing_load.py [--qkgeom build/qkgeom] [--repeats 5] [--unloaded] [--active]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import add_output_args, cpu_model, utc_now, write_outputs
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[2]
SEED = 1234
SHAPE = dict(hidden_size=1536, num_attention_heads=16, num_key_value_heads=4, head_dim=96,
             intermediate_size=4096)
SWEEP_SHAPE = dict(hidden_size=512, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=8,
                   num_key_value_heads=4, head_dim=64)
VOCAB = 1000


def qk_checkpoint(layers, workdir):
    """q/k projections only (what `weights` reads), random, Qwen3-4B-shaped."""
    path = Path(workdir) / f"qk-only-{layers}l"
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    H, d, Hkv, hid = SHAPE["num_attention_heads"], SHAPE["head_dim"], SHAPE["num_key_value_heads"], SHAPE["hidden_size"]
    tensors = {}
    for l in range(layers):
        tensors[f"model.layers.{l}.self_attn.q_proj.weight"] = (rng.standard_normal((H * d, hid)) * 0.02).astype(np.float32)
        tensors[f"model.layers.{l}.self_attn.k_proj.weight"] = (rng.standard_normal((Hkv * d, hid)) * 0.02).astype(np.float32)
    save_file(tensors, str(path / "model.safetensors"))
    config = dict(SHAPE, num_hidden_layers=layers, model_type="qwen3", architectures=["Qwen3ForCausalLM"],
                  vocab_size=32000, max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
                  hidden_act="silu", torch_dtype="float32", attention_bias=False)
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path


def sweep_checkpoint(workdir):
    """A small random-init Qwen3 (HF transformers, fixed seed, f32)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM
    torch.manual_seed(SEED)
    path = Path(workdir) / "qwen3-small"
    config = Qwen3Config(vocab_size=VOCAB, max_position_embeddings=4096, rope_theta=1e6, rms_norm_eps=1e-6,
                         **SWEEP_SHAPE)
    Qwen3ForCausalLM(config).save_pretrained(path, safe_serialization=True)
    return path


def probes_file(workdir, count, seq):
    vocab = VOCAB
    rng = np.random.default_rng(SEED + seq)
    path = Path(workdir) / f"probes-{count}x{seq}.jsonl"
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": f"p{i}", "ids": rng.integers(0, vocab, seq).tolist()}) + "\n")
    return path


def start_load(n):
    """n busy-looping processes (one per CPU); the caller kills them."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_load(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def timed(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return dt


def run_case(make_cmd, repeats, out, env=None):
    """Median seconds of the default and of --threads 1, alternating, fresh outputs."""
    times = {"default": [], "threads1": []}
    for i in range(repeats):
        for key, extra in (("default", []), ("threads1", ["--threads", "1"])):
            target = f"{out}-{key}-{i}.h5"
            times[key].append(timed(make_cmd(target) + extra, env))
            os.unlink(target)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"default_s": med["default"], "threads1_s": med["threads1"],
            "ratio": med["default"] / med["threads1"], "runs": times}


def markdown(res):
    lines = [
        "# Default threads vs --threads 1 under a competing CPU load",
        "",
        f"Machine: {res['machine']}; {res['cpus']} CPUs in the affinity mask; {res['date']}.",
        f"Command: `{res['command']}`",
        f"1-minute load average before / after the loaded runs: {res['loadavg_1min_before_after'][0]:.1f} / "
        f"{res['loadavg_1min_before_after'][1]:.1f} (other work on the machine counts too).",
        "",
        f"A busy-looping process per CPU ({res['cpus']}) runs throughout. Median of {res['repeats']} "
        "runs each, alternating; whole process wall time. Ratio = default / --threads 1 "
        "(target <= 1.2).",
        "",
        "| case | command | default (s) | --threads 1 (s) | ratio |",
        "|---|---|---|---|---|",
    ]
    for c in res["cases"]:
        lines.append(f"| {c['name']} | `{c['command']}` | {c['default_s']:.3f} | {c['threads1_s']:.3f} | "
                     f"{c['ratio']:.2f} |")
    if res.get("unloaded"):
        lines += ["", "Without the load (same medians):", "",
                  "| case | default (s) | --threads 1 (s) | ratio |", "|---|---|---|---|"]
        for c in res["unloaded"]:
            lines.append(f"| {c['name']} | {c['default_s']:.3f} | {c['threads1_s']:.3f} | {c['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qkgeom", default=str(ROOT / "build" / "qkgeom"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights-layers", type=int, default=2)
    ap.add_argument("--probes", type=int, default=12)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--unloaded", action="store_true", help="also time each case without the load")
    ap.add_argument("--active", action="store_true",
                    help="also time the sweeps under the load with OMP_WAIT_POLICY=active (spinning waits)")
    add_output_args(ap, str(ROOT / "bench" / "results" / "threads_competing_load.json"),
                    str(ROOT / "bench" / "results" / "threads_competing_load.md"))
    a = ap.parse_args()
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="qk-threads-load-") as work:
        ckpt = qk_checkpoint(a.weights_layers, work)
        probes = probes_file(work, a.probes, a.seq)
        model = sweep_checkpoint(work)
        out = str(Path(work) / "out")
        q = a.qkgeom
        cases = [
            ("weights", lambda t: [q, "weights", "--model", str(ckpt), "--out", t, "--device", "cpu"]),
            ("sweep", lambda t: [q, "sweep", "--model", str(model), "--probes", str(probes), "--out", t,
                                 "--device", "cpu", "--quiet"]),
            ("sweep-save-kv-k", lambda t: [q, "sweep", "--model", str(model), "--probes", str(probes), "--out", t,
                                           "--device", "cpu", "--quiet", "--save-kv", "k"]),
        ]
        active = {"OMP_WAIT_POLICY": "active"}  # libgomp's spinning waits, for the cause
        for _, make in cases:  # warm the page cache and check each command runs
            target = out + "-warm.h5"
            timed(make(target))
            os.unlink(target)
        unloaded = []
        if a.unloaded:
            for name, make in cases:
                r = run_case(make, a.repeats, out)
                unloaded.append(dict(r, name=name))
                print(f"{name:16s} unloaded: default {r['default_s']:.3f} s, --threads 1 {r['threads1_s']:.3f} s, "
                      f"ratio {r['ratio']:.2f}", flush=True)
        loadavg = [os.getloadavg()[0]]
        load = start_load(cpus)
        try:
            time.sleep(0.5)
            results = []
            loaded_cases = [(n, m, None) for n, m in cases]
            if a.active:
                loaded_cases += [(n + " (OMP_WAIT_POLICY=active)", m, active) for n, m in cases if n != "weights"]
            for name, make, env in loaded_cases:
                r = run_case(make, a.repeats, out, env)
                shown = " ".join(make("OUT.h5")).replace(str(work), "$WORK").replace(str(ROOT) + "/", "")
                results.append(dict(r, name=name, command=shown))
                print(f"{name:16s} loaded:   default {r['default_s']:.3f} s, --threads 1 {r['threads1_s']:.3f} s, "
                      f"ratio {r['ratio']:.2f}", flush=True)
        finally:
            stop_load(load)
        loadavg.append(os.getloadavg()[0])
    res = {"machine": f"{platform.node()}: {cpu_model()}", "cpus": cpus, "date": utc_now(),
           "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "repeats": a.repeats,
           "cases": results, "unloaded": unloaded, "loadavg_1min_before_after": loadavg}
    Path(a.json_out).parent.mkdir(parents=True, exist_ok=True)
    write_outputs(a, res, markdown(res))
    worst = max(c["ratio"] for c in results if "active" not in c["name"])
    print(f"worst ratio with passive waits {worst:.2f} (target <= 1.2) -> {a.markdown_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
