#!/usr/bin/env python3
"""Side-by-side timing: qkgeom's CPU engine against the straightforward numpy baseline.

For each model shape and sequence length: generate a synthetic K (optionally V) snapshot,
write it as safetensors, time bench/baselines/bo_numpy.py in float64 and float32 (best of
N, compute only: the arrays are already in memory), time `qkgeom score --snapshot F
--json --device cpu` (best of N of the JSON's timing.compute_s; the process wall time
is reported too), check that the metrics agree, and print a table with the speed-up
ratio baseline_time / qkgeom compute time.

Usage: bench/side_by_side/bench_side_by_side.py [--quick] [--shapes Gemma3-4B,...] [--seqs 128,1024]
           [--with-v] [--json-out FILE] [--markdown-out FILE]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "baselines"))
import bo_numpy  # noqa: E402

# name: (layers, kv_heads, head_dim) of the KV cache.
SHAPES = {
    "Gemma3-1B": (26, 1, 256),
    "Gemma3-4B": (34, 4, 256),
    "Qwen3-4B": (36, 8, 128),
}
DEFAULT_SEQS = [128, 1024, 8192]
QUICK_MAX_SEQ = 1024

# Fields compared with the engine and their absolute tolerances per baseline precision.
# float64 follows the engine's fp64 arithmetic; float32 differs by rounding only.
CHECKS = {
    "f64": {"mean_coherence": 1e-9, "mean_cross_alignment": 1e-9, "mean_head_entropy": 1e-9,
            "phase_lock_score": 1e-9, "joint_collapse_count": 0, "composite_exact": 1e-5,
            "composite": 0, "mean_value_coherence": 1e-9, "value_phase_lock_score": 1e-9,
            "mean_kv_coupling": 1e-5},
    "f32": {"mean_coherence": 1e-4, "mean_cross_alignment": 1e-4, "mean_head_entropy": 1e-4,
            "phase_lock_score": 1e-4, "joint_collapse_count": 0, "composite_exact": 2.0,
            "composite": 2, "mean_value_coherence": 1e-4, "value_phase_lock_score": 1e-4,
            "mean_kv_coupling": 1e-4},
}


def make_snapshot(layers, heads, seq, dim, seed, with_v):
    """Synthetic post-RoPE-like k (and v) [layers, heads, seq, dim] float32.
    k_i = s_i (a_l m_lh + z_i B_lh + 0.5 e_i),
    v_i = t_i (0.3 n_lh + 0.7 (z_i + y_i) C_lh + 0.5 f_i):
    a shared mean direction with a layer random walk and a head part, rank-16 latents,
    noise, log-normal position magnitudes with a large first (sink) position; the same
    model as bench/host/bo/bench_bo.cpp."""
    rng = np.random.default_rng(seed)
    rank = 16

    def unit(n):
        x = rng.standard_normal(n)
        return x / np.linalg.norm(x)

    shared, drift = unit(dim), unit(dim)
    k = np.empty((layers, heads, seq, dim), np.float32)
    v = np.empty_like(k) if with_v else None
    bscale, zscale = 1 / np.sqrt(dim), 1 / np.sqrt(rank)
    for l in range(layers):
        drift = drift + 0.5 * unit(dim)
        drift /= np.linalg.norm(drift)
        amp = max(0.2, 0.75 + 0.3 * np.sin(0.7 * l) + 0.1 * rng.standard_normal())
        means = shared + 0.6 * drift + 0.4 * np.stack([unit(dim) for _ in range(heads)])
        basis = rng.standard_normal((heads, rank, dim), np.float32) * bscale
        z = rng.standard_normal((heads, seq, rank), np.float32) * zscale
        s = np.exp(0.3 * rng.standard_normal((heads, seq, 1))).astype(np.float32)
        s[:, 0] *= 6.0
        noise = rng.standard_normal((heads, seq, dim), np.float32) * (0.5 * bscale)
        k[l] = s * ((amp * means[:, None, :]).astype(np.float32) + z @ basis + noise)
        if with_v:
            vmean = np.stack([unit(dim) for _ in range(heads)])
            vbasis = rng.standard_normal((heads, rank, dim), np.float32) * bscale
            y = rng.standard_normal((heads, seq, rank), np.float32) * zscale
            t = np.exp(0.3 * rng.standard_normal((heads, seq, 1))).astype(np.float32)
            vnoise = rng.standard_normal((heads, seq, dim), np.float32) * (0.5 * bscale)
            v[l] = t * ((0.3 * vmean[:, None, :]).astype(np.float32)
                        + (0.7 * (z + y)) @ vbasis + vnoise)
    return k, v


def best_of(n, fn):
    """(best seconds over n calls of fn, fn's last result)."""
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_engine(qkgeom, path, n):
    """Best-of-n engine run: (compute_ms, load_ms, process wall ms, parsed JSON)."""
    best = None
    for _ in range(n):
        t0 = time.perf_counter()
        cmd = [str(qkgeom), "score", "--snapshot", str(path), "--json", "--device", "cpu"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall_ms = (time.perf_counter() - t0) * 1e3
        if p.returncode != 0:
            raise RuntimeError(f"qkgeom failed ({p.returncode}): {p.stderr.strip()}")
        j = json.loads(p.stdout)
        rec = (j["timing"]["compute_s"] * 1e3, j["timing"]["load_s"] * 1e3, wall_ms, j)
        if best is None or rec[0] < best[0]:
            best = rec
    return best


def compare(ref, eng, tolerances):
    """Largest |difference| per field present in both, and the fields out of tolerance."""
    diffs, bad = {}, []
    for field, tol in tolerances.items():
        if field not in ref or field not in eng:
            continue
        d = abs(float(ref[field]) - float(eng[field]))
        diffs[field] = d
        if d > tol:
            bad.append(f"{field} {ref[field]!r} vs {eng[field]!r}")
    return diffs, bad


def machine_info():
    """CPU model, cores, memory, numpy/BLAS and date of this run."""
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    blas = "unknown"
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version')}"
    except Exception:
        pass
    return {"cpu_model": model, "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
            "mem_gib": mem_gib, "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__, "numpy_blas": blas,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def repeats_for(seq, override):
    """Best-of count: override, else 3 up to S = 1024 and 1 above."""
    if override:
        return override
    return 3 if seq <= 1024 else 1


def fmt_ms(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def render_markdown(machine, rows, engine):
    out = ["# Bone-Orientation metric set: qkgeom CPU vs numpy baseline",
           "",
           f"- date: {machine['date']}",
           f"- machine: {machine['cpu_model']}, {machine['nproc']} cores, {machine['mem_gib']} GiB",
           f"- numpy {machine['numpy']} ({machine['numpy_blas']}), Python {machine['python']}",
           f"- engine: {engine}, `score --device cpu`; ratio = numpy time / qkgeom compute_ms",
           "",
           "| shape | S | mode | v | numpy f64 ms | numpy f32 ms | qkgeom compute ms "
           "| qkgeom load ms | qkgeom wall ms | f64 / qkgeom | f32 / qkgeom | agree |",
           "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r['shape']} | {r['seq']} | {r['mode']} | {'yes' if r['with_v'] else 'no'} "
                   f"| {fmt_ms(r['numpy_f64_ms'])} | {fmt_ms(r['numpy_f32_ms'])} "
                   f"| {fmt_ms(r['qkgeom_compute_ms'])} | {fmt_ms(r['qkgeom_load_ms'])} "
                   f"| {fmt_ms(r['qkgeom_wall_ms'])} "
                   f"| {r['ratio_f64']:.1f}x | {r['ratio_f32']:.1f}x "
                   f"| {'yes' if r['agree'] else 'NO'} |")
    bad = [r for r in rows if not r["agree"]]
    for r in bad:
        out.append("")
        out.append(f"Mismatch {r['shape']} S={r['seq']}: " + "; ".join(r["mismatches"]))
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma list of " + ", ".join(SHAPES))
    ap.add_argument("--seqs", default=",".join(map(str, DEFAULT_SEQS)), help="comma list of S")
    ap.add_argument("--quick", action="store_true", help=f"only S <= {QUICK_MAX_SEQ}")
    ap.add_argument("--with-v", action="store_true",
                    help="snapshots with v (value side and K-V CKA)")
    ap.add_argument("--repeats", type=int, default=0,
                    help="best-of count (default 3 for S <= 1024, else 1)")
    ap.add_argument("--qkgeom", default=str(ROOT / "build" / "qkgeom"), help="engine binary")
    ap.add_argument("--workdir", default=None, help="where snapshot files go (default: a temp dir)")
    ap.add_argument("--keep-files", action="store_true", help="keep the snapshot files")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json-out", help="write rows and machine info as JSON")
    ap.add_argument("--markdown-out", help="write the table as Markdown")
    a = ap.parse_args(argv)

    shapes = [s.strip() for s in a.shapes.split(",") if s.strip()]
    for s in shapes:
        if s not in SHAPES:
            ap.error(f"unknown shape {s!r}; known: {', '.join(SHAPES)}")
    seqs = [int(s) for s in a.seqs.split(",") if s.strip()]
    if a.quick:
        seqs = [s for s in seqs if s <= QUICK_MAX_SEQ]
    qkgeom = Path(a.qkgeom)
    if not qkgeom.is_file():
        ap.error(f"engine binary {qkgeom} not found; build it first (cmake --build build)")

    from safetensors.numpy import save_file

    machine = machine_info()
    ver = subprocess.run([str(qkgeom), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# {machine['date']}  {machine['cpu_model']}, {machine['nproc']} cores; "
          f"numpy {machine['numpy']} ({machine['numpy_blas']}); {ver or qkgeom}", flush=True)

    tmp = None
    if a.workdir:
        workdir = Path(a.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="qk-bench-")
        workdir = Path(tmp.name)

    rows, failed = [], False
    header = (f"{'shape':<10} {'S':>5} {'mode':<8} {'f64 ms':>9} {'f32 ms':>9} {'qk ms':>8} "
              f"{'qk wall':>8} {'f64/qk':>7} {'f32/qk':>7}  agree")
    print(header, flush=True)
    for name in shapes:
        layers, heads, dim = SHAPES[name]
        for seq in seqs:
            k, v = make_snapshot(layers, heads, seq, dim, a.seed + seq, a.with_v)
            path = workdir / f"{name}_S{seq}{'_kv' if a.with_v else ''}.safetensors"
            save_file({"k": k, "v": v} if a.with_v else {"k": k}, str(path))
            n = repeats_for(seq, a.repeats)
            t64, ref64 = best_of(n, lambda k=k, v=v: bo_numpy.analyse(k, v, np.float64))
            t32, ref32 = best_of(n, lambda k=k, v=v: bo_numpy.analyse(k, v, np.float32))
            compute_ms, load_ms, wall_ms, eng = run_engine(qkgeom, path, n)
            d64, bad64 = compare(ref64, eng, CHECKS["f64"])
            d32, bad32 = compare(ref32, eng, CHECKS["f32"])
            agree = not bad64 and not bad32
            failed |= not agree
            row = {"shape": name, "seq": seq, "layers": layers, "kv_heads": heads, "head_dim": dim,
                   "mode": "position" if eng.get("gqa") else "multi-head", "with_v": a.with_v,
                   "repeats": n, "file_mib": round(path.stat().st_size / 2**20, 1),
                   "numpy_f64_ms": t64 * 1e3, "numpy_f32_ms": t32 * 1e3,
                   "qkgeom_compute_ms": compute_ms, "qkgeom_load_ms": load_ms,
                   "qkgeom_wall_ms": wall_ms, "backend": eng.get("backend"),
                   "ratio_f64": t64 * 1e3 / compute_ms, "ratio_f32": t32 * 1e3 / compute_ms,
                   "ratio_f64_wall": t64 * 1e3 / wall_ms, "ratio_f32_wall": t32 * 1e3 / wall_ms,
                   "agree": agree,
                   "mismatches": [f"f64: {b}" for b in bad64] + [f"f32: {b}" for b in bad32],
                   "max_abs_diff_f64": d64, "max_abs_diff_f32": d32,
                   "composite": eng.get("composite"), "mean_coherence": eng.get("mean_coherence"),
                   "phase_lock_score": eng.get("phase_lock_score")}
            rows.append(row)
            print(f"{name:<10} {seq:>5} {row['mode']:<8} {fmt_ms(row['numpy_f64_ms']):>9} "
                  f"{fmt_ms(row['numpy_f32_ms']):>9} {fmt_ms(compute_ms):>8} {fmt_ms(wall_ms):>8} "
                  f"{row['ratio_f64']:>6.1f}x {row['ratio_f32']:>6.1f}x  "
                  f"{'yes' if agree else 'NO: ' + '; '.join(row['mismatches'])}", flush=True)
            del k, v
            if not a.keep_files:
                path.unlink()

    engine = ver or str(qkgeom)
    if a.json_out:
        doc = {"machine": machine, "engine": engine, "rows": rows}
        Path(a.json_out).write_text(json.dumps(doc, indent=2) + "\n")
    if a.markdown_out:
        Path(a.markdown_out).write_text(render_markdown(machine, rows, engine))
    if tmp is not None:
        tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
