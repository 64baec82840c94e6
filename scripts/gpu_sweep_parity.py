#!/usr/bin/env python3
"""The sweep's layer-by-layer analysis on the device (issue 16), for scripts/gpu_check.sh:
`qkgeom sweep --device DEV` against the same sweep on the CPU in f32, read back with h5py.

Checkpoints, chosen to reach every device path: the tiny qwen3 fixture (position-mode BO,
GQA), gemma2 (logit soft-cap, sliding window) and a random llama with 6 KV heads made
here (multi-head BO: head Gram, K-V CKA, cross-layer alignment from the previous layer's
k); 12 probes of 1 to 60 tokens, --batch-tokens 96 (batches of several prompts).
- f32 on DEV: every metric column within 1e-4 (absolute and relative) of the CPU's; the
  counted ones (composite, phase lock, joint collapse, features) are printed, not bounded;
  the --save-kv qkv tensors within 1e-4 of the CPU's largest value.
- the default dtype on DEV (auto: bf16 on CUDA; on the CPU --dtype bf16 is passed, so the
  check itself can be tried there): the run's dtype is bf16, every status ok and every
  metric finite; attention statistics and the continuous BO columns within 0.05 of the
  CPU's f32 (bf16 rounding through the layers).
- non-finite: llama3 with a NaN in embed_tokens row 7, --on-nonfinite keep, f32: on DEV the
  same statuses, first layer, tensor and detail as on the CPU, NaN attention entropy at
  exactly the same (probe, layer, head)s, equal elsewhere within 1e-4.
Prints one line per check; exit 1 when any fails, 77 without torch/transformers.

Usage: scripts/gpu_sweep_parity.py [--qkgeom build-gpu/qkgeom] [--device cuda]"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.abspath(__file__)) + "/.."
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "models")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
COUNTED = ("composite", "phase_lock", "joint_collapse", "features")  # thresholds: may flip
F32_TOL, BF16_TOL = 1e-4, 0.05
import refcommon as rc  # noqa: E402
from refcommon import FAILURES, check  # noqa: E402


def write_probes(path):
    rng = np.random.default_rng(16)
    with open(path, "w") as f:
        for n in (1, 2, 60, 7, 33, 12, 5, 48, 3, 20, 9, 40):
            f.write(",".join(str(int(i)) for i in rng.integers(0, 128, n)) + "\n")


def multi_head_llama(tmp):
    """A random llama with 6 KV heads (more than 4: the multi-head BO mode)."""
    import hf_eager
    import transformers
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=96, intermediate_size=128, num_hidden_layers=3,
                                   num_attention_heads=6, num_key_value_heads=6, head_dim=16,
                                   max_position_embeddings=128)
    return hf_eager.build_random(os.path.join(tmp, "llama_mha"), cfg, "LlamaForCausalLM", "llama_mha")


def nan_llama(tmp):
    """llama3 with a NaN in embed_tokens row 7: the probes holding token 7 go non-finite."""
    from safetensors.numpy import load_file, save_file
    d = os.path.join(tmp, "llama3_nan")
    shutil.copytree(os.path.join(FIXTURES, "llama3"), d)
    path = os.path.join(d, "model.safetensors")
    t = load_file(path)
    t["model.embed_tokens.weight"][7, 0] = np.nan
    save_file(t, path, metadata={"format": "pt"})
    return d


def sweep(qk, model, probes, out, device, *extra):
    """(exit code, JSON summary or stderr, {dataset: array}) of one sweep."""
    import h5py
    r = subprocess.run([qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--device", device,
                        "--batch-tokens", "96", "--json", "--quiet", *extra], capture_output=True, text=True)
    if r.returncode != 0:
        return r.returncode, r.stderr.strip()[-300:], None
    data = {}
    with h5py.File(out, "r") as f:
        f.visititems(lambda n, o: data.__setitem__(n, stored(f, o)) if isinstance(o, h5py.Dataset)
                     and n.split("/")[0] in ("bo", "attention", "probe", "kv") else None)
    return 0, json.loads(r.stdout), data


def metric_names(d):
    return sorted(n for n in d if n.split("/")[0] in ("bo", "attention") and d[n].dtype.kind == "f")


def worst(a, b, fin):
    return float(np.abs(a[fin] - b[fin]).max(initial=0.0)) if a.shape == b.shape else float("inf")


def compare(name, label, ours, ref, tol, names):
    """Each continuous metric of ours within tol (absolute + relative) of ref's, NaN at the
    same places: one line per metric out of bounds, one for the rest; counted ones printed."""
    good, top, counted = 0, (0.0, ""), []
    for n in names:
        a, b = ours[n].astype(float), ref[n].astype(float)
        fin = np.isfinite(b)
        same_nan = a.shape == b.shape and np.array_equal(np.isfinite(a), fin)
        w = worst(a, b, fin)
        if any(c in n for c in COUNTED):
            counted.append(f"{n.split('/')[1]} {w:.2g}")
        elif same_nan and np.allclose(a[fin], b[fin], rtol=tol, atol=tol):
            good, top = good + 1, max(top, (w, n))
        else:
            check(False, f"{name} {label} {n}: max |dev - cpu| {w:.3g} (bound {tol:g}), NaN alike {same_nan}")
    check(True, f"{name} {label}: {good} metrics within {tol:g} of the CPU's f32 (worst {top[1]} {top[0]:.3g})")
    if counted:
        print(f"info: {name} {label} counted metrics, max |dev - cpu|: {', '.join(counted)}")


def stored(f, d):
    """Dataset d whole; a text column (docs/hdf5-schema.md "Strings") as a list of bytes."""
    return rc.h5_raw_strings(d) if "utf8_bytes" in d.attrs else d[()]


def text(x):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in x]


def check_model(qk, name, model, probes, device, tmp):
    f32 = ("--dtype", "f32", "--save-kv", "qkv")
    code, ref, cpu = sweep(qk, model, probes, os.path.join(tmp, name + "_cpu.h5"), "cpu", *f32)
    check(code == 0, f"{name}: cpu f32 sweep exits 0 ({'' if code == 0 else ref})")
    if code != 0:
        return
    names = metric_names(cpu)
    code, s, d32 = sweep(qk, model, probes, os.path.join(tmp, name + "_f32.h5"), device, *f32)
    check(code == 0, f"{name}: {device} f32 sweep exits 0 ({'' if code == 0 else s})")
    if code == 0:
        check(s["device"].startswith(device.split(":")[0]), f"{name}: f32 ran on {s['device']}")
        compare(name, "f32", d32, cpu, F32_TOL, names)
        kv = max(worst(d32[t], cpu[t], np.isfinite(cpu[t])) / np.abs(cpu[t]).max() for t in ("kv/q", "kv/k", "kv/v"))
        check(kv <= F32_TOL, f"{name} f32 --save-kv qkv: q, k, v within {F32_TOL:g} of the CPU's largest value "
              f"(worst {kv:.3g})")
    low = [] if device.startswith("cuda") else ["--dtype", "bf16"]  # auto is bf16 on CUDA
    code, s, d16 = sweep(qk, model, probes, os.path.join(tmp, name + "_auto.h5"), device, *low)
    check(code == 0, f"{name}: {device} {' '.join(low) or 'auto'} sweep exits 0 ({'' if code == 0 else s})")
    if code != 0:
        return
    st = text(d16["probe/status"])
    finite = all(np.isfinite(d16[n]).all() for n in names if n != "bo/head_differentiation")
    check(s["dtype"] == "bf16" and set(st) == {"ok"} and finite,
          f"{name}: dtype {s['dtype']} (bf16), statuses {sorted(set(st))}, every metric finite {finite}")
    compare(name, "bf16", d16, cpu, BF16_TOL, [n for n in names if n.startswith("attention/")
                                                or n in ("bo/layer_coherence", "bo/layer_kv_coupling",
                                                         "bo/head_entropy", "bo/layer_cross_alignment")])


def check_nonfinite(qk, model, probes, device, tmp):
    keep = ("--dtype", "f32", "--on-nonfinite", "keep")
    code, s, cpu = sweep(qk, model, probes, os.path.join(tmp, "nan_cpu.h5"), "cpu", *keep)
    code2, s2, dev = sweep(qk, model, probes, os.path.join(tmp, "nan_dev.h5"), device, *keep)
    check(code == 0 and code2 == 0, f"non-finite: keep sweeps exit 0 ({s if code else ''} {s2 if code2 else ''})")
    if cpu is None or dev is None:
        return
    cols = ("probe/status", "probe/nonfinite_layer", "probe/nonfinite_tensor", "probe/status_detail")
    same = all(text(dev[c]) == text(cpu[c]) for c in cols)
    bad = text(cpu["probe/status"]).count("non_finite")
    check(same and bad > 0, f"non-finite: {device} statuses, layers, tensors and details equal the CPU's "
          f"({bad} non_finite probes)")
    compare("llama3_nan", "keep f32", dev, cpu, F32_TOL, ["attention/entropy", "attention/sink_mass"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qkgeom", default=os.path.join(ROOT, "build", "qkgeom"))
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    try:
        import h5py  # noqa: F401
        import safetensors  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: {e}")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "p.ids")
        write_probes(probes)
        models = {"qwen3": os.path.join(FIXTURES, "qwen3"), "gemma2": os.path.join(FIXTURES, "gemma2"),
                  "llama_mha": multi_head_llama(tmp)}
        for name, model in models.items():
            check_model(a.qkgeom, name, model, probes, a.device, tmp)
        check_nonfinite(a.qkgeom, nan_llama(tmp), probes, a.device, tmp)
    print(f"{len(FAILURES)} FAILED" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
