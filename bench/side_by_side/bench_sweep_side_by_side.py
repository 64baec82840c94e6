#!/usr/bin/env python3
"""Sweep throughput side by side: `qkgeom sweep` against the plain HF transformers + PyTorch
script (bench/baselines/hf_sweep.py) on the same probes, device and dtype (issue 4).

Builds (once, cached under --workdir) a random-init Qwen3-4B-shaped checkpoint (hidden
2560, 32 q heads, 8 KV heads, head_dim 128, intermediate 9728, 36 layers or --layers N;
vocab 32000: SHAPES/VOCAB of bench/side_by_side/bench_prefill_side_by_side.py), saved as safetensors
in --dtype. For each S in --seqs, a probe file of --probes probes of exactly S random token
ids (pre-tokenized JSONL). Then, in one run: a large torch.matmul in --dtype on --device
(the matmul peak, FLOP/s), and per S `qkgeom sweep ... --json --quiet` and the baseline,
each in a fresh process. Reports probes/s and tokens/s of both (from their own summaries:
model load to file finished, process start and Python imports left out), the ratio, the
fraction of the prefill roofline (2 x non-embedding parameters x tokens / prefill seconds,
against the measured peak), the shares of wall time in analysis and I/O, and whether the
first probe's composite agrees (|diff| <= 1 composite unit: two implementations).
With --save-kv k (the default; none: skip), one more qkgeom run per S with `--save-kv k`
(--save-kv-dtype) gives the writer's busy time against the prefill time (issue 16: the
writer must not stall the GPU): timing.write_busy_s / timing.prefill_s, and write_wait_s,
the prefill's wait on a full writer queue. The seconds of each stage (checkpoint, peak,
each run) go to stderr as they finish and to the JSON (`stage_s`). On --device cuda the
checkpoint is initialised on the GPU (an 8 GB bf16 Qwen3-4B in seconds; the CPU takes
about a minute), then saved.

--baseline-probes N runs the baseline on the first N probes only: its numpy BO reference
is single-threaded and takes ~16 s per probe of the full shape at S = 512 (einsum CKA,
sequential sums; measured on 2 cores), so 16 probes would take minutes. Each side's
probes/s is then over its own probes, load included, which understates the baseline's
(its load is shared by fewer probes); `ratio_probes_per_s_scaled` compares against the
baseline's time scaled to qkgeom's probe count (its setup once, plus its mean seconds per
probe after setup times the count): the ratio the target is judged on.

GPU sizing (H200, --layers 36 --probes 16 --baseline-probes 2 --seqs 512 --dtype bf16):
checkpoint ~15-30 s (init on the GPU, 8 GB written), each qkgeom run ~5-10 s (process,
CUDA init, 8 GB load; the prefill of 8192 tokens is ~0.1-0.2 s), the baseline ~45 s
(imports and load ~10-15 s, ~15 s per probe); about 80-110 s in all.

Usage: bench/side_by_side/bench_sweep_side_by_side.py [--layers N] [--probes 8] [--seqs 128,512]
           [--dtype f32|bf16] [--device cpu|cuda] [--threads N] [--repeats 1]
           [--batch-tokens N] [--save-kv k|none] [--save-kv-dtype f32|f16|bf16]
           [--baseline-probes N]
           [--workdir /tmp/qkgeom-bench] [--json-out FILE] [--markdown-out FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from safetensors import safe_open
from transformers import Qwen3Config, Qwen3ForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prefill_side_by_side import (  # noqa: E402
    DTYPES, SEED, SHAPES, VOCAB, StageClock, fmt, machine_info)

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "bench" / "baselines" / "hf_sweep.py"
SHAPE = "qwen3-4b"
TOLERANCE = 1  # composite units


def build_checkpoint(layers, dtype, workdir, device):
    """Random-init checkpoint (fixed seed, initialised on `device`) in `dtype`; reused when
    already there."""
    cfg = dict(SHAPES[SHAPE])
    if layers:
        cfg["num_hidden_layers"] = layers
    path = Path(workdir) / f"{SHAPE}-L{cfg['num_hidden_layers']}-{dtype}"
    if (path / "config.json").exists() and any(path.glob("*.safetensors")):
        return path
    torch.manual_seed(SEED)
    config = Qwen3Config(vocab_size=VOCAB, max_position_embeddings=40960, rope_theta=1e6,
                         rms_norm_eps=1e-6, **cfg)
    with torch.device(device):
        model = Qwen3ForCausalLM(config).to(DTYPES[dtype])
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    del model
    os.sync()  # the fresh file's write-back would otherwise overlap the first timings
    return path


def non_embedding_params(path):
    """Parameters a prefill multiplies by (everything but the embedding table)."""
    n = 0
    for f in sorted(path.glob("*.safetensors")):
        with safe_open(str(f), framework="np") as st:
            for name in st.keys():
                if "embed_tokens" not in name and "lm_head" not in name:
                    n += int(np.prod(st.get_slice(name).get_shape()))
    return n


def write_probes(workdir, seq, count):
    path = Path(workdir) / f"probes-S{seq}-N{count}.jsonl"
    g = torch.Generator().manual_seed(SEED + seq)
    with open(path, "w") as f:
        for i in range(count):
            ids = torch.randint(0, VOCAB, (seq,), generator=g).tolist()
            f.write(json.dumps({"id": f"p{i}", "ids": ids}) + "\n")
    return path


def matmul_peak(device, dtype, threads):
    """Best FLOP/s of an n x n x n torch.matmul in dtype on device."""
    if threads:
        torch.set_num_threads(threads)
    n, reps = (8192, 20) if device == "cuda" else (2048, 5)
    a = torch.randn(n, n, device=device).to(DTYPES[dtype])
    b = torch.randn(n, n, device=device).to(DTYPES[dtype])
    best = float("inf")
    for i in range(reps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        torch.matmul(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call is a warm-up
            best = min(best, time.perf_counter() - t0)
    return {"n": n, "repeats": reps, "seconds": best, "flop_s": 2.0 * n ** 3 / best}


def run_json(cmd):
    """Runs cmd, returns (its last stdout line as JSON, process wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def total_s(summary):
    """A run's wall time: qkgeom's timing.total_s, or the baseline's `seconds`."""
    return summary["timing"]["total_s"] if "total_s" in summary["timing"] else summary["seconds"]


def scaled_rate(summary, probes):
    """Probes/s of a run scaled to `probes` probes: its setup (load) once, plus its mean
    seconds per probe after setup times `probes`."""
    setup = summary["timing"]["setup_s"]
    return probes / (setup + (total_s(summary) - setup) * probes / summary["done"])


def agreement(ours, theirs):
    with h5py.File(ours, "r") as a, h5py.File(theirs, "r") as b:
        res = {"composite_qkgeom": int(a["bo/composite"][0]),
               "composite_baseline": int(b["bo/composite"][0]),
               "composite_exact_qkgeom": float(a["bo/composite_exact"][0]),
               "composite_exact_baseline": float(b["bo/composite_exact"][0])}
        for name in ("attention/entropy", "attention/logit_std", "attention/sink_mass",
                     "bo/mean_coherence", "bo/mean_kv_coupling"):
            res["max_abs_diff_" + name.replace("/", "_")] = float(
                np.abs(a[name][0] - b[name][0]).max())
    res["composite_diff"] = abs(res["composite_qkgeom"] - res["composite_baseline"])
    res["ok"] = res["composite_diff"] <= TOLERANCE
    return res


def save_kv_run(ours_cmd, ours_h5, a):
    """One more qkgeom run of ours_cmd with --save-kv k: the writer's busy time against the
    prefill time (issue 16), from its timing summary; its file is removed after."""
    h5 = ours_h5.with_name(ours_h5.stem + "-save-kv.h5")
    h5.unlink(missing_ok=True)
    cmd = [h5 if x == str(ours_h5) else x for x in ours_cmd]
    summary, wall = run_json([str(x) for x in cmd] + ["--save-kv", a.save_kv, "--save-kv-dtype", a.save_kv_dtype])
    size = h5.stat().st_size if h5.exists() else 0
    h5.unlink(missing_ok=True)
    t = summary["timing"]
    return {"save_kv": a.save_kv, "save_kv_dtype": a.save_kv_dtype, "file_bytes": size,
            "probes_per_s": summary["probes_per_s"], "total_s": total_s(summary),
            "prefill_s": t["prefill_s"], "analysis_s": t["analysis_s"],
            "write_busy_s": t["write_busy_s"], "write_wait_s": t["write_wait_s"],
            "finish_s": t["finish_s"], "process_wall_s": wall,
            "busy_over_prefill": t["write_busy_s"] / t["prefill_s"] if t["prefill_s"] > 0 else None}


def markdown(res):
    a, info, peak = res["args"], res["machine"], res["matmul_peak"]
    full = res["layers"] == SHAPES[SHAPE]["num_hidden_layers"]
    lines = [
        f"# Sweep throughput: qkgeom sweep vs HF transformers + PyTorch ({info['date']})", "",
        f"Command: `{info['command']}`", "",
        f"Machine: {info['cpu']} ({' '.join(info['cpu_flags'])}), {info['cores']} cores"
        + (f", {info['gpu']}" if "gpu" in info else "")
        + f"; torch {info['torch']} ({res['threads']} threads), transformers "
        f"{info['transformers']}; qkgeom: {'; '.join(info['qkgeom_env'])}. Load average "
        f"(1 min) before / after the timed part: {res['loadavg_before'][0]:.2f} / "
        f"{res['loadavg_after'][0]:.2f} (other processes on the machine skew CPU timings).",
        "",
        f"Model: random-init Qwen3-4B shape (hidden 2560, 32 q heads, 8 KV heads, head_dim "
        f"128, intermediate 9728), **{res['layers']} of 36 layers**"
        + ("" if full else " (depth-reduced)")
        + f", vocab {VOCAB}; checkpoint and compute {a['dtype']}, device {a['device']}; "
        f"{fmt(res['non_embedding_params'])} non-embedding parameters. {a['probes']} probes "
        "of exactly S random token ids per S (pre-tokenized JSONL). Both sides: BO metrics "
        "(default mode, K and V) and attention entropy, logit std, sink mass per (layer, "
        "query head), one HDF5 row per probe. qkgeom: `sweep --json --quiet` "
        f"(--batch-tokens {a['batch_tokens'] or 'default 4096'}); baseline: "
        "bench/baselines/hf_sweep.py (eager attention, batch 1, numpy BO reference, torch "
        "softmax statistics, h5py).", "",
        f"Matmul peak (same run, the better of before and after the sweeps: "
        f"{' / '.join(f'{x / 1e9:,.1f}' for x in res['matmul_peak_runs_flop_s'])}): "
        f"{peak['n']}^3 torch.matmul, {a['dtype']}, {a['device']}: "
        f"**{peak['flop_s'] / 1e9:,.1f} GFLOP/s**. Each side ran {a['repeats']} time(s) per S, "
        "alternating, in fresh processes; the tables show each side's best run (most "
        "probes/s); all runs' probes/s are listed below. "
        + (f"The baseline ran on the first {a['baseline_probes']} probes only (its numpy BO "
           "reference is slow); its probes/s include its load shared by fewer probes, so the "
           "ratio against its time scaled to qkgeom's probe count is given too. "
           if a["baseline_probes"] else "")
        + "Roofline fraction = 2 x non-embedding "
        "parameters x tokens / prefill seconds / peak (attention's S^2 FLOPs not counted).",
        "",
        "| S | qkgeom probes/s | baseline probes/s | ratio | qkgeom tok/s | baseline tok/s "
        "| qkgeom roofline | baseline roofline | qkgeom analysis | qkgeom write wait "
        "| qkgeom writer busy (overlapped) | baseline analysis | baseline I/O |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    pct = "{:.1%}".format
    for r in res["rows"]:
        q, b = r["qkgeom"], r["baseline"]
        lines.append(
            f"| {r['S']} | {q['probes_per_s']:.3g} | {b['probes_per_s']:.3g} | "
            f"**{r['ratio_probes_per_s']:.2f}x** | {fmt(q['tokens_per_s'])} | "
            f"{fmt(b['tokens_per_s'])} | {pct(r['qkgeom_roofline'])} | "
            f"{pct(r['baseline_roofline'])} | {pct(r['qkgeom_analysis_share'])} | "
            f"{pct(r['qkgeom_write_wait_share'])} | {pct(r['qkgeom_writer_busy_share'])} | "
            f"{pct(r['baseline_analysis_share'])} | {pct(r['baseline_io_share'])} |")
    lines += ["", "Time split, seconds (share of each side's own wall time `seconds`):", "",
              "| S | side | seconds | setup (load) | prefill | analysis | I/O | process wall |",
              "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        q, b = r["qkgeom"], r["baseline"]
        qt, bt = q["timing"], b["timing"]
        lines.append(
            f"| {r['S']} | qkgeom | {total_s(q):.2f} | {qt['setup_s']:.2f} | "
            f"{qt['prefill_s']:.2f} | {qt['analysis_s']:.2f} | wait {qt['write_wait_s']:.3f}, "
            f"busy {qt['write_busy_s']:.3f}, finish {qt['finish_s']:.3f} | "
            f"{r['qkgeom_process_wall_s']:.2f} |")
        lines.append(
            f"| {r['S']} | baseline | {total_s(b):.2f} | {bt['setup_s']:.2f} | "
            f"{bt['prefill_s']:.2f} | {bt['analysis_s']:.2f} | {bt['io_s']:.3f} | "
            f"{r['baseline_process_wall_s']:.2f} |")
    lines += ["", "Ratio against the baseline scaled to qkgeom's probe count (its setup once, "
              "its seconds per probe after setup times the count): " + "; ".join(
                  f"S={r['S']} **{r['ratio_probes_per_s_scaled']:.2f}x** ({r['qkgeom']['done']} vs "
                  f"{r['baseline_probes']} probes run)" for r in res["rows"]) + "."]
    lines += ["", "Probes/s of every run: " + "; ".join(
        f"S={r['S']} qkgeom " + ", ".join(f"{x:.3g}" for x in r["qkgeom_runs_probes_per_s"])
        + " / baseline " + ", ".join(f"{x:.3g}" for x in r["baseline_runs_probes_per_s"])
        for r in res["rows"]) + "."]
    for r in res["rows"]:
        k = r.get("save_kv")
        if k:
            ratio = "n/a" if k["busy_over_prefill"] is None else f"{k['busy_over_prefill']:.2f}"
            lines += ["", f"With `--save-kv {k['save_kv']} --save-kv-dtype {k['save_kv_dtype']}` (one "
                      f"more qkgeom run, S = {r['S']}, {k['file_bytes'] / 1e6:,.1f} MB written): "
                      f"writer busy {k['write_busy_s']:.3f} s vs prefill {k['prefill_s']:.3f} s "
                      f"(**{ratio}x**), prefill waiting on the writer {k['write_wait_s']:.3f} s, "
                      f"total {k['total_s']:.2f} s ({k['probes_per_s']:.3g} probes/s)."]
    lines += ["", f"Agreement, first probe (composite units; tolerance {TOLERANCE}: two "
              "implementations):", ""]
    for r in res["rows"]:
        g = r["agreement"]
        lines.append(
            f"- S = {r['S']}: composite {g['composite_qkgeom']} vs {g['composite_baseline']} "
            f"(|diff| {g['composite_diff']}, {'ok' if g['ok'] else 'MISMATCH'}; exact "
            f"{g['composite_exact_qkgeom']:.6f} vs {g['composite_exact_baseline']:.6f}); max "
            f"abs diff attention entropy {g['max_abs_diff_attention_entropy']:.1e} nats, "
            f"logit std {g['max_abs_diff_attention_logit_std']:.1e}, sink mass "
            f"{g['max_abs_diff_attention_sink_mass']:.1e}, mean coherence "
            f"{g['max_abs_diff_bo_mean_coherence']:.1e}, K-V coupling "
            f"{g['max_abs_diff_bo_mean_kv_coupling']:.1e}.")
    lines.append("")
    if a["device"] == "cpu":
        bound = ", ".join(f"S={r['S']} {total_s(r['baseline']) / r['baseline']['timing']['prefill_s']:.2f}x"
                          for r in res["rows"])
        lines += [
            "On the CPU both sides run the same libtorch kernels for the prefill, and the "
            "prefill is most of both wall times: with equal prefill times and free analysis "
            "and I/O, the ratio would be the baseline's wall time over its own prefill time, "
            f"{bound}. Shared-machine noise in the prefill is of the same size; compare the "
            "shares, not the ratio.", ""]
    if not (full and a["device"] == "cuda"):
        lines += [
            "**Not the issue's measurement.** "
            + ("" if full else f"This is a depth-reduced ({res['layers']}-layer) Qwen3-4B "
               "shape")
            + ("" if a["device"] == "cuda" else f" on a {info['cores']}-core CPU")
            + ". The H100 targets (at least 50% of the matmul roofline at 512 tokens, "
            "analysis + I/O under 10% of wall time, at least 5x the baseline's probes/s) "
            "need the GPU run, full depth, bf16:", "",
            "```",
            "python3 bench/side_by_side/bench_sweep_side_by_side.py --layers 36 --probes 16 "
            "--baseline-probes 2 --seqs 512 --dtype bf16 --device cuda --save-kv k "
            "--json-out bench/results/sweep_side_by_side_gpu.json "
            "--markdown-out bench/results/sweep_side_by_side_gpu.md",
            "```", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=0, help="first N layers (0: all 36)")
    p.add_argument("--probes", type=int, default=8, help="probes per S")
    p.add_argument("--seqs", default="128,512")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None,
                   help="checkpoint and compute dtype (default f32 on cpu, bf16 on cuda)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for both sides and the peak (0: torch's default)")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs per side and S, alternating; the best (most probes/s) is reported")
    p.add_argument("--batch-tokens", type=int, default=0,
                   help="qkgeom sweep --batch-tokens (0: its default)")
    p.add_argument("--baseline-probes", type=int, default=0,
                   help="the baseline on the first N probes only (0: all)")
    p.add_argument("--save-kv", choices=["k", "none"], default="k",
                   help="one more qkgeom run per S with --save-kv k: writer busy vs prefill")
    p.add_argument("--save-kv-dtype", choices=["f32", "f16", "bf16"], default="f32")
    p.add_argument("--qkgeom", default=str(ROOT / "build" / "qkgeom"))
    p.add_argument("--workdir", default="/tmp/qkgeom-bench")
    p.add_argument("--json-out")
    p.add_argument("--markdown-out")
    a = p.parse_args()
    a.dtype = a.dtype or ("f32" if a.device == "cpu" else "bf16")
    seqs = [int(s) for s in a.seqs.split(",")]
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    stage = StageClock()

    path = build_checkpoint(a.layers, a.dtype, a.workdir, a.device)
    stage("checkpoint")
    load_before = os.getloadavg()
    layers = json.loads((path / "config.json").read_text())["num_hidden_layers"]
    params = non_embedding_params(path)
    print(f"checkpoint: {path} ({layers} layers, {params:,} non-embedding parameters)",
          file=sys.stderr)
    peak = matmul_peak(a.device, a.dtype, a.threads)
    print(f"matmul peak: {peak['flop_s'] / 1e9:.1f} GFLOP/s", file=sys.stderr)
    stage("matmul_peak")
    threads = a.threads or torch.get_num_threads()

    rows = []
    for s in seqs:
        probes = write_probes(a.workdir, s, a.probes)
        ours_h5 = Path(a.workdir) / f"sweep-qkgeom-S{s}.h5"
        base_h5 = Path(a.workdir) / f"sweep-baseline-S{s}.h5"
        ours_cmd = [a.qkgeom, "sweep", "--model", str(path), "--probes", str(probes),
                    "--out", str(ours_h5), "--json", "--quiet", "--dtype", a.dtype,
                    "--device", a.device]
        if a.batch_tokens:
            ours_cmd += ["--batch-tokens", str(a.batch_tokens)]
        base_cmd = [sys.executable, str(BASELINE), "--model", str(path), "--probes",
                    str(probes), "--out", str(base_h5), "--device", a.device, "--dtype",
                    a.dtype]
        if a.baseline_probes:
            base_cmd += ["--limit", str(a.baseline_probes)]
        if a.threads:
            ours_cmd += ["--threads", str(a.threads)]
            base_cmd += ["--threads", str(a.threads)]
        runs = {"qkgeom": [], "baseline": []}
        for rep in range(a.repeats):  # alternating, so that a busy spell hits both sides
            for side, cmd, h5 in (("qkgeom", ours_cmd, ours_h5), ("baseline", base_cmd, base_h5)):
                h5.unlink(missing_ok=True)
                summary, wall = run_json(cmd)
                runs[side].append((summary, wall))
                print(f"{side} S={s} run {rep + 1}: {summary['probes_per_s']:.3g} probes/s "
                      f"({total_s(summary):.2f} s)", file=sys.stderr)
                stage(f"{side}_S{s}_run{rep + 1}")
        (ours, ours_wall), (base, base_wall) = (
            max(runs[side], key=lambda r: r[0]["probes_per_s"]) for side in ("qkgeom", "baseline"))
        flops = 2.0 * params * s * ours["done"]
        base_flops = 2.0 * params * s * base["done"]
        qt, bt = ours["timing"], base["timing"]
        rows.append({
            "S": s, "probes": a.probes, "qkgeom": ours, "baseline": base,
            "qkgeom_runs_probes_per_s": [r[0]["probes_per_s"] for r in runs["qkgeom"]],
            "baseline_runs_probes_per_s": [r[0]["probes_per_s"] for r in runs["baseline"]],
            "qkgeom_process_wall_s": ours_wall, "baseline_process_wall_s": base_wall,
            "ratio_probes_per_s": ours["probes_per_s"] / base["probes_per_s"],
            "ratio_tokens_per_s": ours["tokens_per_s"] / base["tokens_per_s"],
            "baseline_probes": base["done"],
            "ratio_probes_per_s_scaled": ours["probes_per_s"] / scaled_rate(base, ours["done"]),
            "prefill_flop": flops, "baseline_prefill_flop": base_flops,
            "qkgeom_roofline": flops / qt["prefill_s"] / peak["flop_s"],
            "baseline_roofline": base_flops / bt["prefill_s"] / peak["flop_s"],
            "qkgeom_analysis_share": qt["analysis_s"] / total_s(ours),
            "qkgeom_write_wait_share": qt["write_wait_s"] / total_s(ours),
            "qkgeom_writer_busy_share": qt["write_busy_s"] / total_s(ours),
            "qkgeom_setup_share": qt["setup_s"] / total_s(ours),
            "baseline_analysis_share": bt["analysis_s"] / total_s(base),
            "baseline_io_share": bt["io_s"] / total_s(base),
            "baseline_setup_share": bt["setup_s"] / total_s(base),
            "agreement": agreement(ours_h5, base_h5),
            "save_kv": save_kv_run(ours_cmd, ours_h5, a) if a.save_kv != "none" else None,
        })
        if a.save_kv != "none":
            stage(f"qkgeom_S{s}_save_kv")

    res = {"args": vars(a), "shape": SHAPE, "layers": layers, "vocab": VOCAB,
           "non_embedding_params": params, "checkpoint": str(path), "threads": threads,
           "matmul_peak": peak, "machine": machine_info(a.device, a.qkgeom), "rows": rows,
           "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    peak_after = matmul_peak(a.device, a.dtype, a.threads)
    stage("matmul_peak_after")
    res["stage_s"] = stage.stages
    res["matmul_peak_runs_flop_s"] = [peak["flop_s"], peak_after["flop_s"]]
    if peak_after["flop_s"] > peak["flop_s"]:  # the better of before and after the sweeps
        res["matmul_peak"] = peak = peak_after
        for r in rows:
            r["qkgeom_roofline"] = r["prefill_flop"] / r["qkgeom"]["timing"]["prefill_s"] / peak["flop_s"]
            r["baseline_roofline"] = r["baseline_prefill_flop"] / r["baseline"]["timing"]["prefill_s"] / peak["flop_s"]
    md = markdown(res)
    print(md)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(res, indent=2) + "\n")
    if a.markdown_out:
        Path(a.markdown_out).write_text(md)
    if not all(r["agreement"]["ok"] for r in rows):
        sys.exit("composite disagreement beyond the tolerance")


if __name__ == "__main__":
    main()
