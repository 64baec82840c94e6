"""Post-RoPE q, k, v of a transformers model in memory (docs/python.md), without editing
its code: for one forward, the model's attention implementation is a registered
AttentionInterface function that records what the attention receives (q, k, v after
RoPE and q/k norms, k and v before the GQA repeat; HF's mask and scale) and then runs the
model's own eager attention. The previous implementation is restored afterwards."""
import dataclasses
import sys

import numpy as np

from .metrics import attention_stats, bo_metrics

IMPLEMENTATION = "qkgeom_capture"  # the name registered with transformers


@dataclasses.dataclass
class Capture:
    """One sequence's capture. q: f32 [layers, q_heads, seq, head_dim]; k, v: f32
    [layers, kv_heads, seq, head_dim] (the snapshot layout of `qkgeom capture`). Per
    layer, as HF ran it: masks ('causal', 'full', 'sliding', or 'other' for a mask with
    padding), layer_window (keys per sliding window, 0: none), layer_scale (logit scale),
    softcap (None: no logit soft-capping)."""
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    masks: list
    layer_window: list
    layer_scale: list
    softcap: list

    def attention_options(self):
        """Keyword arguments of qkgeom.attention_stats for the attention HF ran. ValueError
        for what it cannot express: padding, causal and full layers mixed, soft-caps that
        differ between layers."""
        if "other" in self.masks:
            raise ValueError(f"layer {self.masks.index('other')}: HF's attention mask is neither full, causal "
                             "nor a sliding window (padding?); capture one unpadded sequence")
        bases = {m for m in self.masks if m != "sliding"}
        if len(bases) > 1:
            raise ValueError("the layers mix causal and full attention, which attention_stats does not support")
        opts = {"mask": bases.pop() if bases else "causal", "scale": self.layer_scale[0]}
        if any(self.layer_window):
            opts["layer_window"] = self.layer_window
        if len(set(self.layer_scale)) > 1:
            opts["layer_scale"] = self.layer_scale
        caps = {c for c in self.softcap if c}
        if len(caps) > 1 or (caps and None in self.softcap):
            raise ValueError(f"per-layer logit soft-caps {self.softcap}: attention_stats takes one for all layers")
        if caps:
            opts["softcap"] = caps.pop()
        return opts


def _allowed(attention_mask, batch):
    """HF's mask of one sequence as bool [q, kv] (True: visible), or None when HF passed none."""
    if attention_mask is None:
        return None
    m = attention_mask[batch, 0].detach().cpu()
    return (m == 0 if m.dtype.is_floating_point else m.bool()).numpy()


def _layer_mask(allowed, is_causal, sliding_window):
    """(mask, window) of one layer from the mask HF built: 'full', 'causal' or 'sliding'
    with its window (the layer's sliding_window when the mask is that window), else 'other'."""
    if allowed is None:
        return ("causal" if is_causal else "full"), 0
    if allowed.all():
        return ("causal" if is_causal and allowed.shape[0] == 1 else "full"), 0
    i, j = np.indices(allowed.shape)
    causal = j <= i
    if sliding_window and np.array_equal(allowed, causal & (i - j < sliding_window)):
        return "sliding", int(sliding_window)
    if np.array_equal(allowed, causal):
        return "causal", 0
    w = int(allowed.sum(1).max())
    if np.array_equal(allowed, causal & (i - j < w)):
        return "sliding", w
    return "other", 0


def _recorder(records, batch):
    """The attention function registered for a capture: records, then runs the model's eager one."""
    def record(module, query, key, value, attention_mask, **kwargs):
        take = [t[batch].detach().float().cpu().numpy() for t in (query, key, value)]
        records.append({"qkv": take, "allowed": _allowed(attention_mask, batch),
                        "is_causal": bool(getattr(module, "is_causal", True)),
                        "scale": kwargs.get("scaling") or query.shape[-1] ** -0.5,
                        "window": kwargs.get("sliding_window"), "softcap": kwargs.get("softcap")})
        eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
        if eager is None:
            raise RuntimeError(f"{type(module).__module__} has no eager_attention_forward to run after recording")
        return eager(module, query, key, value, attention_mask, **kwargs)
    return record


def _run_recorded(model, input_ids, attention_mask, records, batch):
    """One forward of `model` in eval mode with the recording attention; the previous
    implementation and training mode restored."""
    import torch
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask
    AttentionInterface.register(IMPLEMENTATION, _recorder(records, batch))
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)
    previous, training = model.config._attn_implementation, model.training
    model.set_attn_implementation(IMPLEMENTATION)
    try:
        with torch.no_grad():
            model.eval()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    finally:
        model.set_attn_implementation(previous)
        model.train(training)


def _vocab_size(model):
    """The number of rows of the model's input embedding (config.vocab_size without one)."""
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return int(getattr(emb, "num_embeddings", None) or model.config.vocab_size)


def _as_ids(model, input_ids):
    """input_ids ([seq] or [batch, seq], list, numpy or torch) as an int64 tensor [batch, seq]
    on the model's device; ValueError for empty, ragged or non-integer ids and for an id
    outside [0, vocab_size), naming its position (as the CLI's --ids)."""
    import torch
    try:
        a = np.asarray(input_ids.cpu() if hasattr(input_ids, "cpu") else input_ids)
    except (ValueError, TypeError) as e:
        raise ValueError(f"input_ids: not a rectangular array of integer ids: {e}") from None
    if a.size == 0:
        raise ValueError(f"input_ids: empty (shape {list(a.shape)})")
    if a.dtype.kind not in "iu" or a.ndim not in (1, 2):
        raise ValueError(f"input_ids: expected integer ids [seq] or [batch, seq], got {a.dtype} "
                         f"shape {list(a.shape)}")
    n = _vocab_size(model)
    bad = np.argwhere((a < 0) | (a >= n))
    if len(bad):
        at = tuple(int(i) for i in bad[0])
        where = at[0] if a.ndim == 1 else list(at)
        raise ValueError(f"input_ids: id {int(a[at])} at position {where} is outside the vocabulary "
                         f"[0, {n}) (vocab_size)")
    ids = torch.as_tensor(a.astype(np.int64)).reshape(a.shape if a.ndim == 2 else (1, -1))
    return ids.to(next(model.parameters()).device)


def _check_model(model):
    """TypeError unless `model` is a transformers PreTrainedModel."""
    from transformers import PreTrainedModel
    if not isinstance(model, PreTrainedModel):
        raise TypeError(f"model: not a transformers PreTrainedModel (got {type(model).__module__}."
                        f"{type(model).__name__})")


def capture(model, input_ids, attention_mask=None, batch=0):
    """Post-RoPE q, k, v of every layer of `model` (a transformers PreTrainedModel whose
    attention goes through AttentionInterface: Llama, Mistral, Qwen2/3, Gemma 2/3, Phi-3,
    OLMo 2, GPT-2, GPT-NeoX, BERT, ...) on input_ids ([seq] or [batch, seq] integer ids),
    for sequence `batch` of the batch. Returns a Capture (f32 numpy, snapshot layout).
    TypeError for a model that is not a PreTrainedModel; ValueError for bad ids (empty, not
    integers, outside [0, vocab_size)) or batch; RuntimeError when no attention layer was
    recorded (the model does not dispatch through AttentionInterface)."""
    _check_model(model)
    ids = _as_ids(model, input_ids)
    if not 0 <= batch < ids.shape[0]:
        raise ValueError(f"batch {batch} is not in [0, {ids.shape[0]})")
    if attention_mask is not None:
        import torch
        attention_mask = torch.as_tensor(np.asarray(attention_mask.cpu() if hasattr(attention_mask, "cpu")
                                                    else attention_mask)).to(ids.device)
    records = []
    _run_recorded(model, ids, attention_mask, records, batch)
    if not records:
        raise RuntimeError(f"{type(model).__name__}: no attention call went through transformers' "
                           "AttentionInterface; this model cannot be captured this way")
    masks = [_layer_mask(r["allowed"], r["is_causal"], r["window"]) for r in records]
    q, k, v = (np.stack([r["qkv"][i] for r in records]) for i in range(3))
    scales, softcaps = [float(r["scale"]) for r in records], [r["softcap"] for r in records]
    records.clear()  # the registered recorder keeps the list: free the per-layer copies
    return Capture(q=q, k=k, v=v, masks=[m for m, _ in masks], layer_window=[w for _, w in masks],
                   layer_scale=scales, softcap=softcaps)


def metrics(model, input_ids, lem_compat=False, device="auto"):
    """capture() then qkgeom.bo_metrics and qkgeom.attention_stats with HF's masks,
    scales and logit soft-cap: a dict laid out as `qkgeom score --model --json` (the BO
    fields, and the attention statistics under "attention")."""
    c = capture(model, input_ids)
    options = c.attention_options()
    out = bo_metrics(c.k, c.v, c.q, lem_compat=lem_compat, device=device)
    out["attention"] = attention_stats(c.q, c.k, device=device, **options)
    return out
