#!/usr/bin/env python3
"""Snapshots carry what the model's attention needs (docs/snapshot-format.md).

For each tiny checkpoint (tests/fixtures/make_tiny_checkpoints.py) and the real all-MiniLM-L6-v2
with a text prompt:
- the snapshot's metadata, read with the safetensors library and h5py, gives per layer the
  mask kind and window that HF transformers' eager attention probabilities show (which
  entries are exactly 0) and the scale of HF's attention modules (`scaling`), and the
  provenance (model path, sha256 of config.json, token count, dtype, device, version);
- `score --model --save-snapshot X.h5 --json` equals `score --snapshot --json` on
  `capture --out X.safetensors` and on X.h5, in every field but model/tokens/snapshot/
  timing (numbers within 1e-12; they are equal bit for bit);
- `capture --out X.h5` holds the same q, k, v bits and metadata as X.safetensors.
Then: flags override the stored attention (with a note on stderr), a snapshot without the
metadata keeps the old defaults (causal, 1/sqrt(head_dim)) and says so, and an unknown
output extension is a usage error (exit 2) that writes nothing."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
import engine_fork  # noqa: E402

MODELS = ["llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn", "gemma3_text", "bert", "gemma2",
          "olmo2", "phi3"]
PROMPT = "Attention heads that agree on where to look are phase-locked."
TOL = 1e-12
RUN_FIELDS = {"model", "tokens", "snapshot", "timing"}  # differ by construction


def qk(args, ok=True):
    """`qkgeom ARGS`: the engine's commands on the CPU (capture, score --model) forked from a
    started engine (engine_fork.py), the rest exec'd."""
    cmd = [rc.QKGEOM_BIN] + args
    on_cpu = "--device" in args[:-1] and args[args.index("--device") + 1] == "cpu"
    if on_cpu and (args[0] == "capture" or (args[0] == "score" and "--model" in args)):
        r = engine_fork.run(cmd, timeout=600)
    else:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if ok and r.returncode != 0:
        raise RuntimeError(f"qkgeom {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def score(args):
    r = qk(["score", "--json", "--device", "cpu"] + args)
    return json.loads(r.stdout), r.stderr


def hf_masks_and_scale(model_dir, ids):
    """Per layer (mask, window) as HF eager attention applies it, and HF's scaling."""
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager",
                                      dtype=torch.float32).eval()
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    scales = {float(m.scaling) for m in model.modules() if hasattr(m, "scaling")}
    masks = [mask_of(a[0].double().numpy()) for a in out.attentions]
    return masks, scales


def mask_of(p):
    """(kind, window) from which probabilities of [heads, S, S] are exactly zero."""
    nz = (p > 0).any(0)
    i, j = np.indices(nz.shape)
    if nz.all():
        return "full", 0
    if (nz == (j <= i)).all():
        return "causal", 0
    w = int((i - j)[nz].max()) + 1
    if (nz == ((j <= i) & (i - j < w))).all():
        return "sliding", w
    return "unrecognized", -1


def diff(a, b, where=""):
    """Differences between two JSON values (numbers within TOL), as strings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in one" for k in set(a) ^ set(b)]
        for k in set(a) & set(b):
            out += diff(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{where}[{i}]")]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return [] if abs(a - b) <= TOL else [f"{where}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def metadata(path):
    if path.endswith(".safetensors"):
        with safe_open(path, "np") as f:
            return dict(f.metadata() or {})
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}


def tensors(path):
    if path.endswith(".safetensors"):
        return load_file(path)
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}


def check_metadata(name, meta, model_dir, n_tokens, hf_masks, hf_scales, version):
    bad = []
    masks = meta.get("attention_masks", "").split(",")
    windows = [int(w) for w in meta.get("attention_windows", "-1").split(",")]
    ours = list(zip(masks, windows))
    if ours != hf_masks:
        bad.append(f"masks/windows {ours} vs HF {hf_masks}")
    scale = float(meta.get("attention_scale", "nan"))
    if len(hf_scales) != 1 or abs(scale - next(iter(hf_scales))) > 1e-15 * scale:
        bad.append(f"attention_scale {scale!r} vs HF scaling {hf_scales}")
    with open(os.path.join(model_dir, "config.json"), "rb") as f:
        cfg_sha = hashlib.sha256(f.read()).hexdigest()
    want = {"kind": "qkgeom-snapshot", "schema_version": "1", "engine": "qkgeom",
            "engine_version": version, "model_path": os.path.abspath(model_dir),
            "model_config_sha256": cfg_sha, "tokens": str(n_tokens), "dtype": "f32",
            "device": "cpu"}
    bad += [f"{k} = {meta.get(k)!r}, expected {v!r}" for k, v in want.items() if meta.get(k) != v]
    for k in ("model_weights_index_sha256", "model_type", "command_line", "created_at", "git_sha"):
        if not meta.get(k):
            bad.append(f"{k} missing or empty")
    for line in bad:
        print(f"MISMATCH {name}: metadata {line}")
    if not bad:
        print(f"ok {name}: metadata {meta['attention_masks']} / {meta['attention_windows']}, "
              f"scale {meta['attention_scale']} as HF; provenance")
    return len(bad)


def check_model(name, model_dir, prompt_args, ids, tmp, version):
    """Metadata against HF, and score --model against every snapshot route; failures."""
    base = os.path.join(tmp, name)
    direct, _ = score(["--model", model_dir, "--save-snapshot", base + "_saved.h5"] + prompt_args)
    failures = 0
    for ext in (".safetensors", ".h5"):
        qk(["capture", "--model", model_dir, "--out", base + ext, "--device", "cpu"] + prompt_args)
    hf_masks, hf_scales = hf_masks_and_scale(model_dir, ids)
    failures += check_metadata(name, metadata(base + ".safetensors"), model_dir, len(ids),
                               hf_masks, hf_scales, version)
    meta_h5 = metadata(base + ".h5")
    for k in ("created_at", "command_line"):
        meta_h5.pop(k, None)
    meta_st = {k: v for k, v in metadata(base + ".safetensors").items() if k in meta_h5}
    if meta_h5 != meta_st:
        print(f"MISMATCH {name}: HDF5 attributes differ from safetensors metadata: {diff(meta_h5, meta_st)}")
        failures += 1
    t_st, t_h5 = tensors(base + ".safetensors"), tensors(base + ".h5")
    for t in ("q", "k", "v"):
        if t_st[t].dtype != np.float32 or not np.array_equal(t_st[t].view(np.uint32),
                                                             t_h5[t].view(np.uint32)):
            print(f"MISMATCH {name}: tensor {t} differs between safetensors and HDF5")
            failures += 1
    for path in (base + ".safetensors", base + "_saved.h5"):
        via, note = score(["--snapshot", path])
        d = diff({k: v for k, v in via.items() if k not in RUN_FIELDS},
                 {k: v for k, v in direct.items() if k not in RUN_FIELDS})
        if note.strip():
            d.append(f"unexpected note on stderr: {note.strip()}")
        status = "ok" if not d else "MISMATCH"
        print(f"{status} {name}: score --snapshot {os.path.basename(path)} vs score --model "
              f"(entropy {via['attention']['mean_entropy']:.6f} vs "
              f"{direct['attention']['mean_entropy']:.6f}){': ' + '; '.join(d[:5]) if d else ''}")
        failures += len(d)
    return failures


def check_overrides(tmp):
    """Flags replace the stored attention and say so; old snapshots keep the defaults."""
    failures = 0
    snap = os.path.join(tmp, "bert.safetensors")
    stored, _ = score(["--snapshot", snap])
    causal, note = score(["--snapshot", snap, "--mask", "causal", "--attn-scale", "0.5"])
    old = os.path.join(tmp, "bert_old.safetensors")
    save_file(load_file(snap), old)  # the same tensors, no metadata
    legacy, legacy_note = score(["--snapshot", old])
    legacy_flags, _ = score(["--snapshot", old, "--mask", "causal", "--attn-scale", "0.5"])
    dim = np.asarray(load_file(snap)["q"]).shape[-1]
    checks = [
        ("stored BERT attention is full", stored["attention"]["mask"] == "full"),
        ("--mask causal --attn-scale 0.5 applied",
         causal["attention"]["mask"] == "causal" and causal["attention"]["scale"] == 0.5),
        ("override note on stderr", "--mask causal replaces" in note and "--attn-scale" in note),
        ("override changes the entropy",
         abs(causal["attention"]["mean_entropy"] - stored["attention"]["mean_entropy"]) > 1e-3),
        ("old snapshot: causal, 1/sqrt(head_dim)",
         legacy["attention"]["mask"] == "causal" and legacy["attention"]["scale"] == 1 / np.sqrt(dim)),
        ("old snapshot: note on stderr", "records no attention" in legacy_note),
        ("flags on an old snapshot equal flags on a new one",
         not diff(legacy_flags["attention"]["entropy"], causal["attention"]["entropy"])),
    ]
    for what, ok in checks:
        print(f"{'ok' if ok else 'MISMATCH'}: {what}")
        failures += not ok
    for ext in ("x.npz", "x"):
        out = os.path.join(tmp, ext)
        r = qk(["capture", "--model", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models",
                                                   "bert"), "--ids", "1,2", "--out", out], ok=False)
        ok = r.returncode == 2 and "extension" in r.stderr and not os.path.exists(out)
        print(f"{'ok' if ok else 'MISMATCH'}: capture --out {ext}: exit {r.returncode}: {r.stderr.strip()}")
        failures += not ok
    return failures


def main():
    rc.require_cli()
    version = qk(["--version"]).stdout.split()[1]
    root = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            mdir = os.path.join(root, name)
            ids = [int(i) for i in load_file(os.path.join(mdir, "reference.safetensors"))["ids_1"]]
            failures += check_model(name, mdir, ["--ids", ",".join(map(str, ids))], ids, tmp, version)
        failures += check_overrides(tmp)
        mini = rc.minilm_dir()
        if mini:
            from transformers import AutoTokenizer
            ids = AutoTokenizer.from_pretrained(mini)(PROMPT)["input_ids"]
            failures += check_model("minilm", mini, ["--prompt", PROMPT], ids, tmp, version)
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
