"""HF transformers eager references shared by the parity tests: load a model directory as
transformers loads it, and take each layer's post-RoPE q, k, v as HF's
eager_attention_forward receives them (f32 numpy [heads, seq, head_dim]), plus the
resolved configuration in the schema of `qkgeom inspect --json`."""
import contextlib
import importlib
import os
import subprocess

import numpy as np

MODULES = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
           "gemma3_text": "gemma3", "bert": "bert", "gpt2": "gpt2", "gpt_neox": "gpt_neox",
           "gemma2": "gemma2", "olmo2": "olmo2", "phi3": "phi3"}
ROTARY = {"llama": "LlamaRotaryEmbedding", "mistral": "MistralRotaryEmbedding",
          "qwen2": "Qwen2RotaryEmbedding", "qwen3": "Qwen3RotaryEmbedding",
          "gemma3_text": "Gemma3RotaryEmbedding", "gemma2": "Gemma2RotaryEmbedding",
          "olmo2": "Olmo2RotaryEmbedding", "phi3": "Phi3RotaryEmbedding"}
GEMMA = ("gemma3_text", "gemma2")


def quiet_transformers():
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parity_main(body):
    """The frame of an HF parity test: `body(qkgeom, tmp)` with the qkgeom binary and a
    temporary folder, transformers quiet and autograd off; it returns the number of
    failed checks. Returns the exit status (1 when any failed)."""
    import tempfile
    import torch
    import refcommon as rc
    qkgeom = rc.require_cli()
    quiet_transformers()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        failures = body(qkgeom, tmp)
    print(f"{failures} failed")
    return 1 if failures else 0


class IncompleteCheckpoint(Exception):
    """HF loaded the model but initialized weights the checkpoint lacks (random values)."""


def reuse_freed_memory():
    """Makes this process's glibc malloc keep freed memory (blocks up to 1 GiB from the heap,
    none trimmed): HF eager allocates [heads, S, S] scores per layer, and handing them back
    to the kernel made page faults half the CPU time of a forward at 4096 tokens. The
    numbers are unchanged; qkgeom's runs are not affected."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD


def load_model(model_dir, dtype="float32"):
    """transformers.AutoModel.from_pretrained with eager attention, in eval mode. Raises
    IncompleteCheckpoint when HF had to initialize weights the checkpoint does not hold."""
    import torch
    import transformers
    reuse_freed_memory()
    model, info = transformers.AutoModel.from_pretrained(
        model_dir, attn_implementation="eager", dtype=getattr(torch, dtype),
        output_loading_info=True)
    missing = [k for k in info.get("missing_keys", []) if "pooler" not in k]
    if missing:
        raise IncompleteCheckpoint(f"{len(missing)} weights missing, e.g. {sorted(missing)[0]}")
    return model.eval()


def build_random(d, cfg, model_cls, seed_name, one=1.0, norm_suffix="weight"):
    """A random checkpoint of transformers' `model_cls` (a class name) with config `cfg`,
    saved into `d` as HF saves it; returns `d`. The weights are HF's initialization under
    torch.manual_seed(sum of seed_name's code points), then every 1-D parameter (norms
    and biases, which start at 1 / 0) redrawn as c + 0.2 N(0, 1): c = `one` for names
    ending in `norm_suffix`, else 0, so that they count."""
    import torch
    import transformers
    torch.manual_seed(sum(map(ord, seed_name)))
    model = getattr(transformers, model_cls)(cfg).eval().float()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_((one if n.endswith(norm_suffix) else 0.0) + 0.2 * torch.randn(p.shape))
    model.save_pretrained(d, safe_serialization=True)
    return d


@contextlib.contextmanager
def captured_attention(model_type, masks=None):
    """Yields {layer: (q, k, v)} filled by HF's eager_attention_forward during a forward.
    With a dict `masks`, also masks[layer] = (allowed, scaling): the [seq, seq] bool of the
    key positions HF's attention mask leaves visible to each query, and HF's logit scale."""
    mod = importlib.import_module(f"transformers.models.{MODULES[model_type]}."
                                  f"modeling_{MODULES[model_type]}")
    import torch
    captured = {}
    original = mod.eager_attention_forward

    def capture(module, query, key, value, attention_mask, *args, **kwargs):
        captured[module.layer_idx] = tuple(t[0].detach().float().numpy().copy()
                                           for t in (query, key, value))
        if masks is not None:
            m = attention_mask[0, 0].detach()
            allowed = m if m.dtype == torch.bool else m == 0
            masks[module.layer_idx] = (allowed.numpy().copy(), kwargs.get("scaling"))
        return original(module, query, key, value, attention_mask, *args, **kwargs)

    mod.eager_attention_forward = capture
    try:
        yield captured
    finally:
        mod.eager_attention_forward = original


def qkv(model, ids, masks=None):
    """{'q'|'k'|'v': f32 [layers, heads, seq, head_dim]} of one prompt through HF eager;
    fills `masks` as captured_attention does when given."""
    import torch
    with captured_attention(model.config.model_type, masks) as cap, torch.inference_mode():
        model(input_ids=torch.tensor([list(ids)]), use_cache=False)
    layers = sorted(cap)
    return {t: np.stack([cap[l][i] for l in layers]) for i, t in enumerate("qkv")}


def reference_attention_stats(qkv, probs, masks, softcap=None):
    """Attention statistics from HF's side, each [layers, heads]: entropy and sink mass of
    HF's own probabilities `probs` (output_attentions, [heads, S, S] per layer); logit std
    of q.k times HF's scaling (then softcap tanh(s / softcap) when given, as Gemma 2) over
    HF's mask, from `qkv` (k repeated over each GQA group) and `masks` [(allowed, scaling)]."""
    ent, sink, std = [], [], []
    for l, p in enumerate(probs):
        logp = np.log(np.where(p > 0, p, 1.0))
        ent.append((-(p * logp).sum(-1)).mean(-1))
        sink.append(p[:, :, 0].mean(-1))
        allowed, scaling = masks[l]
        q = qkv["q"][l].astype(np.float64)
        k = np.repeat(qkv["k"][l].astype(np.float64), q.shape[0] // qkv["k"][l].shape[0], axis=0)
        s = np.matmul(q, k.transpose(0, 2, 1)) * scaling  # BLAS; einsum's loop took seconds
        if softcap is not None:
            s = softcap * np.tanh(s / softcap)
        n = allowed.sum(-1)
        mean = np.where(allowed, s, 0).sum(-1) / n
        var = np.where(allowed, (s - mean[..., None]) ** 2, 0).sum(-1) / n
        std.append(np.sqrt(var).mean(-1))
    return {"entropy": np.array(ent), "sink_mass": np.array(sink), "logit_std": np.array(std)}


def layer_windows(cfg):
    """Per layer: the sliding window HF applies, or None (full causal / bidirectional)."""
    layers = cfg.num_hidden_layers
    window = getattr(cfg, "sliding_window", None)
    if cfg.model_type == "bert":
        return None
    if cfg.model_type in ("mistral", "phi3"):
        return [window] * layers
    types = getattr(cfg, "layer_types", None) or ["full_attention"] * layers
    return [window if t == "sliding_attention" and window is not None else None for t in types]


def resolved(cfg):
    """The fields of `qkgeom inspect --json` as transformers resolves them."""
    import torch
    mt = cfg.model_type
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    out = {"model_type": mt, "hidden_size": cfg.hidden_size,
           "num_hidden_layers": cfg.num_hidden_layers,
           "num_attention_heads": cfg.num_attention_heads,
           "num_key_value_heads": getattr(cfg, "num_key_value_heads", cfg.num_attention_heads),
           "head_dim": head_dim, "intermediate_size": cfg.intermediate_size,
           "vocab_size": cfg.vocab_size, "max_position_embeddings": cfg.max_position_embeddings,
           "hidden_act": getattr(cfg, "hidden_activation", None) if mt in GEMMA
           else cfg.hidden_act}
    if cfg.dtype is not None:
        out["dtype"] = str(cfg.dtype).replace("torch.", "")
    if mt == "bert":
        out["layer_norm_eps"] = cfg.layer_norm_eps
        out["attention_scale"] = head_dim ** -0.5
        return out
    out["rms_norm_eps"] = cfg.rms_norm_eps
    # Biases as the modeling files build them: Qwen2 always, Mistral and Phi-3 never.
    out["attention_bias"] = {"qwen2": True, "mistral": False, "phi3": False}.get(
        mt, bool(getattr(cfg, "attention_bias", False)))
    out["mlp_bias"] = bool(getattr(cfg, "mlp_bias", False)) if mt == "llama" else False
    scalar = cfg.query_pre_attn_scalar if mt in GEMMA else head_dim
    out["attention_scale"] = scalar ** -0.5
    if mt == "gemma2":
        out["attn_logit_softcapping"] = cfg.attn_logit_softcapping
        out["final_logit_softcapping"] = cfg.final_logit_softcapping
    if mt == "phi3":
        out["rotary_dim"] = int(head_dim * cfg.rope_parameters.get("partial_rotary_factor", 1.0))
    out["layer_window"] = layer_windows(cfg)
    mod = importlib.import_module(f"transformers.models.{MODULES[mt]}.modeling_{MODULES[mt]}")
    rot = getattr(mod, ROTARY[mt])(cfg)
    if mt == "gemma3_text":
        out["rope_parameters"] = {
            t: {"inv_freq": getattr(rot, f"{t}_inv_freq").to(torch.float32).numpy(),
                "attention_scaling": getattr(rot, f"{t}_attention_scaling")}
            for t in sorted(set(cfg.layer_types))}
    else:
        out["rope_parameters"] = {"full_attention": {
            "inv_freq": rot.inv_freq.to(torch.float32).numpy(),
            "attention_scaling": rot.attention_scaling}}
    return out


def compare_resolved(ours, ref):
    """Lines naming each field where `qkgeom inspect --json` differs from `resolved`."""
    bad = []
    for key, want in ref.items():
        got = ours.get(key)
        if key == "rope_parameters":
            for t, r in want.items():
                o = (got or {}).get(t)
                if o is None:
                    bad.append(f"rope_parameters.{t}: missing")
                    continue
                f = np.asarray(o["inv_freq"], dtype=np.float32)
                if f.shape != r["inv_freq"].shape or not np.array_equal(f, r["inv_freq"]):
                    diff = (np.abs(f - r["inv_freq"]).max() if f.shape == r["inv_freq"].shape
                            else "shape")
                    bad.append(f"rope_parameters.{t}.inv_freq differs (max {diff})")
                if np.float32(o["attention_scaling"]) != np.float32(r["attention_scaling"]):
                    bad.append(f"rope_parameters.{t}.attention_scaling {o['attention_scaling']}"
                               f" != {r['attention_scaling']}")
        elif isinstance(want, float):
            if got is None or abs(got - want) > 1e-15 * abs(want):
                bad.append(f"{key}: {got} != {want}")
        elif got != want:
            bad.append(f"{key}: {got} != {want}")
    return bad


def qkgeom_capture(qkgeom, model_dir, ids, out, device="cpu", dtype="f32"):
    """`qkgeom capture` of one prompt in `dtype` (f32 | bf16 | f16; the snapshot holds it
    as f32) -> (exit code, stderr, {q, k, v} or None). On the CPU the engine is forked from
    a started one (engine_fork.py): same main(), no start-up per prompt."""
    from safetensors.numpy import load_file
    import engine_fork
    args = [qkgeom, "capture", "--model", model_dir, "--ids", ",".join(str(int(i)) for i in ids),
            "--out", out, "--dtype", dtype, "--device", device, "--force"]
    r = (engine_fork.run(args) if device == "cpu"
         else subprocess.run(args, capture_output=True, text=True))
    if r.returncode != 0:
        return r.returncode, r.stderr, None
    snap = load_file(out)
    return 0, r.stderr, {t: snap[t] for t in ("q", "k", "v")}
