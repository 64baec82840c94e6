#!/usr/bin/env python3
"""config.json keys left out get transformers' defaults, and the two spellings HF's
precedence, per architecture. For each tiny checkpoint, every key of its config.json is
removed in turn (and a set of 4.x / 5.x spelling variants is written); for each variant:

- `qkgeom inspect --model DIR --json` must equal what transformers.AutoConfig resolves
  (shapes, eps, activation, biases, per-layer sliding windows, the attention scale) and its
  RoPE inverse frequencies and attention scaling must equal the model's rotary embedding's
  bit for bit; where AutoConfig refuses the config, qkgeom must exit 3;
- where the resolved configuration differs from the unmodified one, `qkgeom capture`'s q/k/v
  must equal HF eager's (AutoModel.from_pretrained on the same directory, f32) to 1e-5 on a
  prompt as long as max_position_embeddings allows (<= 64 ids), or both must refuse it.
Also: RoPE of every type (dynamic and longrope at their initial frequencies) at head dims
64-256 and bases 1e4-1e6 (config only) equals the rotary embedding's bit for bit, and a
directory with both model.safetensors and an index loads model.safetensors, as HF.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import torch  # noqa: F401
    import transformers
    import hf_eager
except ImportError as e:
    rc.skip(f"{e} (make deps installs torch and transformers)")

MODELS = ["llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn", "gemma3_text", "bert",
          "gemma2", "olmo2", "phi3"]
FIXTURES = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
KEEP = {"model_type", "architectures"}
QKV_TOL = 1e-5


def gemma_v4(cfg):
    """The fixture's Gemma 3 config in the 4.x spelling (same model)."""
    c = {k: v for k, v in cfg.items() if k not in ("rope_parameters", "layer_types")}
    c.update(rope_theta=1e6, rope_local_base_freq=1e4,
             rope_scaling={"rope_type": "linear", "factor": 2.0}, sliding_window_pattern=2)
    return c


def spelling_variants(name, cfg):
    """(label, config) pairs: the 4.x / 5.x spellings and their precedence."""
    out = []
    rp = cfg.get("rope_parameters")
    if name == "gemma3_text":
        v4 = gemma_v4(cfg)
        out.append(("v4_spelling", v4))
        for key in ("rope_theta", "rope_local_base_freq", "sliding_window_pattern", "rope_scaling"):
            out.append((f"v4_without_{key}", {k: v for k, v in v4.items() if k != key}))
        out.append(("v4_scaling_type_key", dict(v4, rope_scaling={"type": "linear", "factor": 8.0})))
        v5 = copy.deepcopy(cfg)
        del v5["rope_parameters"]["full_attention"]["rope_theta"]
        out.append(("v5_full_without_theta", v5))
        out.append(("v5_full_without_theta_top_theta", dict(v5, rope_theta=5e5)))
        out.append(("v5_and_v4_scaling", dict(cfg, rope_scaling={"rope_type": "linear", "factor": 4.0})))
        return out
    if name == "bert":
        return out
    flat = {k: v for k, v in (rp or {}).items()}
    out.append(("v4_spelling", dict({k: v for k, v in cfg.items() if k != "rope_parameters"},
                                    rope_theta=flat.get("rope_theta", 1e4),
                                    rope_scaling=({k: v for k, v in flat.items() if k != "rope_theta"}
                                                  if flat.get("rope_type", "default") != "default"
                                                  else None))))
    out.append(("scaling_beats_parameters",
                dict(cfg, rope_scaling={"rope_type": "linear", "factor": 3.0})))
    out.append(("empty_scaling_keeps_parameters", dict(cfg, rope_scaling={})))
    out.append(("theta_top_level_only",
                dict(cfg, rope_parameters={k: v for k, v in flat.items() if k != "rope_theta"},
                     rope_theta=123456.0)))
    out.append(("type_and_rope_type", dict(cfg, rope_parameters=dict(flat, type="linear", factor=2.0))))
    out.append(("old_type_key", dict(cfg, rope_parameters={"type": "linear", "factor": 2.0,
                                                           "rope_theta": 1e4})))
    if flat.get("rope_type") in ("llama3", "yarn"):
        out.append(("top_level_original_max", dict(cfg, original_max_position_embeddings=32)))
    if name in ("qwen2", "qwen3"):
        win = dict(cfg, use_sliding_window=True, sliding_window=4)
        out.append(("sliding_without_max_window_layers", win))
        out.append(("sliding_max_window_layers_1", dict(win, max_window_layers=1)))
        out.append(("sliding_max_window_layers_0", dict(win, max_window_layers=0)))
        out.append(("sliding_without_window_size", {k: v for k, v in dict(win, max_window_layers=1).items()
                                                    if k != "sliding_window"}))
        out.append(("sliding_off_with_window", dict(cfg, use_sliding_window=False, sliding_window=4,
                                                    max_window_layers=0)))
    if name == "mistral":
        out.append(("window_null", dict(cfg, sliding_window=None)))
    if name == "llama3":
        out += length_dependent_variants(cfg)
    return out


def length_dependent_variants(cfg):
    """dynamic and longrope on the Llama fixture (head_dim 16), each optional or required
    key of the rope object removed in turn, and the top-level original context."""
    half = cfg["head_dim"] // 2
    longrope = {"rope_type": "longrope", "rope_theta": 1e4, "factor": 4.0, "attention_factor": 1.2,
                "original_max_position_embeddings": 16,
                "short_factor": [1.0 + 0.1 * i for i in range(half)],
                "long_factor": [1.0 + 0.7 * i for i in range(half)]}
    dynamic = {"rope_type": "dynamic", "rope_theta": 1e4, "factor": 2.5}
    out = []
    for label, rope in (("longrope", longrope), ("dynamic", dynamic)):
        out.append((label, dict(cfg, rope_parameters=rope)))
        out += [(f"{label}_without_{k}", dict(cfg, rope_parameters={kk: v for kk, v in rope.items() if kk != k}))
                for k in rope if k != "rope_type"]
    out.append(("longrope_top_level_original", dict(cfg, rope_parameters=longrope,
                                                    original_max_position_embeddings=8)))
    out.append(("longrope_short_list", dict(cfg, rope_parameters=dict(longrope, short_factor=[1.0] * (half - 1)))))
    out.append(("longrope_v4_scaling", dict({k: v for k, v in cfg.items() if k != "rope_parameters"},
                                            rope_theta=1e4, rope_scaling={k: v for k, v in longrope.items()
                                                                          if k != "rope_theta"})))
    return out


def write_variant(tmp, label, cfg, src):
    d = os.path.join(tmp, label)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    os.symlink(os.path.join(src, "model.safetensors"), os.path.join(d, "model.safetensors"))
    return d


def inspect_all(qkgeom, dirs):
    """{dir: (exit code, resolved dict or error text)} from one `qkgeom inspect` run."""
    r = subprocess.run([qkgeom, "inspect", "--json"] + [a for d in dirs for a in ("--model", d)],
                       capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        j = json.loads(line)
        out[j["model"]] = (j["exit_code"], j["error"]) if "error" in j else (0, j)
    return {d: out.get(d, (r.returncode, r.stderr.strip()[-300:])) for d in dirs}


SHAPES = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
          "head_dim", "intermediate_size", "vocab_size")


def hf_config(d):
    try:
        return transformers.AutoConfig.from_pretrained(d), None
    except Exception as e:  # noqa: BLE001 -- any refusal counts
        return None, f"{type(e).__name__}: {e}"


def check_qkv(qkgeom, d, tmp, cfg, case):
    """q/k/v of HF eager vs qkgeom capture on one prompt; None when both refuse."""
    n = max(1, min(64, int(cfg.max_position_embeddings)))
    ids = np.random.default_rng(0).integers(0, min(128, int(cfg.vocab_size)), n).tolist()
    try:
        ref = hf_eager.qkv(hf_eager.load_model(d), ids)
        hf_err = None
    except Exception as e:  # noqa: BLE001
        ref, hf_err = None, f"{type(e).__name__}: {str(e)[:200]}"
    code, err, ours = hf_eager.qkgeom_capture(qkgeom, d, ids, os.path.join(tmp, case.replace("/", "__") + ".safetensors"))
    if ref is None:
        return None if code == 3 else f"HF refuses ({hf_err}) but qkgeom capture exit {code}"
    if ours is None:
        return f"HF loads but qkgeom capture exit {code}: {err.strip()[-300:]}"
    worst = max(float(np.abs(ours[t] - ref[t]).max()) if ours[t].shape == ref[t].shape else np.inf
                for t in "qkv")
    return None if worst <= QKV_TOL else f"q/k/v differ from HF eager by {worst:.3g}"


def run_case(qkgeom, tmp, case, d, inspected, baseline, seen, stats):
    """One variant: inspect vs AutoConfig; q/k/v vs HF eager when it resolves to a new
    configuration of the same shapes (a shape change only makes both refuse the weights)."""
    hf, hf_err = hf_config(d)
    code, ours = inspected
    stats["configs"] += 1
    if hf is None:
        if code != 3:
            return f"{case}: AutoConfig refuses ({hf_err[:150]}) but qkgeom inspect exit {code}"
        stats["refused"] += 1
        return None
    if code != 0:  # refused before the weights: HF must refuse building the model then
        why = check_qkv(qkgeom, d, tmp, hf, case)
        stats["refused"] += why is None
        return f"{case}: AutoConfig loads, qkgeom inspect exit {code} ({ours}): {why}" if why else None
    bad = hf_eager.compare_resolved(ours, hf_eager.resolved(hf))
    if bad:
        return f"{case}: " + "; ".join(bad)
    key = json.dumps({k: v for k, v in ours.items() if k not in ("config", "model")}, sort_keys=True)
    if key in seen or any(ours[k] != baseline[k] for k in SHAPES if k in baseline):
        return None
    seen.add(key)
    stats["qkv"] += 1
    why = check_qkv(qkgeom, d, tmp, hf, case)
    return f"{case}: {why}" if why else None


def index_beside_single(qkgeom, tmp):
    """model.safetensors and an index naming another shard: HF loads model.safetensors."""
    d = os.path.join(tmp, "both_single_and_index")
    shutil.copytree(os.path.join(FIXTURES, "qwen3"), d)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": {"model.embed_tokens.weight": "absent.safetensors"}}, f)
    cfg, _ = hf_config(d)
    why = check_qkv(qkgeom, d, tmp, cfg, "both")
    return f"single+index: {why}" if why else None


def rope_sweep(tmp):
    """Config-only directories: every RoPE type at real head dims and bases (no weights)."""
    ropes = [{"rope_type": "default"}, {"rope_type": "linear", "factor": 8.0},
             {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
             {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
             {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
              "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0,
              "truncate": False},
             {"rope_type": "dynamic", "factor": 2.0}, {"rope_type": "dynamic", "factor": 1.37}]
    dirs = []
    for model_type in ("llama", "qwen3"):
        for head_dim in (64, 128, 256):
            for theta in (1e4, 5e5, 1e6):
                half = head_dim // 2
                longrope = [{"rope_type": "longrope", "original_max_position_embeddings": 4096,
                             "short_factor": [1.0 + 0.01 * i for i in range(half)],
                             "long_factor": [1.0 + 0.5 * i for i in range(half)]},
                            {"rope_type": "longrope", "original_max_position_embeddings": 8192,
                             "factor": 3.0, "short_factor": [1.0] * half,
                             "long_factor": [2.0 + i for i in range(half)]}]
                for i, rope in enumerate(ropes + longrope):
                    d = os.path.join(tmp, f"sweep_{model_type}_{head_dim}_{int(theta)}_{i}")
                    os.makedirs(d)
                    cfg = {"model_type": model_type, "hidden_size": 8 * head_dim,
                           "num_attention_heads": 8, "num_key_value_heads": 8, "head_dim": head_dim,
                           "max_position_embeddings": 131072,
                           "rope_parameters": dict(rope, rope_theta=theta)}
                    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
                    dirs.append(d)
    return dirs


def main():
    qkgeom = rc.require_cli()
    hf_eager.quiet_transformers()
    failures, stats = [], {"configs": 0, "refused": 0, "qkv": 0}
    with tempfile.TemporaryDirectory() as tmp:
        cases = []  # (name, label, dir)
        for name in MODELS:
            cfg = json.load(open(os.path.join(FIXTURES, name, "config.json")))
            variants = [(f"without_{k}", {kk: vv for kk, vv in cfg.items() if kk != k})
                        for k in sorted(cfg) if k not in KEEP]
            variants += spelling_variants(name, cfg)
            for label, variant in variants:
                d = write_variant(tmp, f"{name}__{label}", variant, os.path.join(FIXTURES, name))
                cases.append((name, label, d))
        fixtures = [os.path.join(FIXTURES, n) for n in MODELS]
        sweep = rope_sweep(tmp)
        inspected = inspect_all(qkgeom, fixtures + [d for _, _, d in cases] + sweep)
        for d in sweep:
            hf, err = hf_config(d)
            code, ours = inspected[d]
            stats["configs"] += 1
            bad = ([f"AutoConfig: {err}"] if hf is None else [f"inspect exit {code}: {ours}"]
                   if code else hf_eager.compare_resolved(ours, hf_eager.resolved(hf)))
            if bad:
                failures.append(f"{os.path.basename(d)}: " + "; ".join(bad))
                print("MISMATCH", failures[-1])
        seen = set()
        for name, fixture in zip(MODELS, fixtures):
            code, base = inspected[fixture]
            if code != 0:
                failures.append(f"{name}: inspect of the fixture exit {code}: {base}")
            else:
                seen.add(json.dumps({k: v for k, v in base.items() if k not in ("config", "model")},
                                    sort_keys=True))
        for name, label, d in cases:
            base = inspected[os.path.join(FIXTURES, name)][1]
            why = run_case(qkgeom, tmp, f"{name}/{label}", d, inspected[d], base, seen, stats)
            if why:
                failures.append(why)
                print("MISMATCH", why)
        why = index_beside_single(qkgeom, tmp)
        if why:
            failures.append(why)
    print(f"{stats['configs']} configs checked against AutoConfig ({stats['refused']} refused by "
          f"both), {stats['qkv']} q/k/v comparisons against HF eager")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
