"""The metrics of `qkgeom score --snapshot --json` on arrays (docs/python.md):
bo_metrics (the top-level fields) and attention_stats (the `attention` object)."""
import numpy as np

from . import _ext
from ._inputs import as_cloud, as_int, as_list, as_real, check_q_fits_k, check_same_shape, pick_device

# Fields of the JSON that are arrays: numpy float64 here.
_BO_ARRAYS = ("layer_coherence", "layer_cross_alignment", "features", "head_differentiation",
              "head_entropy", "layer_value_coherence", "layer_kv_coupling", "features7")
_ATTENTION_ARRAYS = ("entropy", "logit_std", "sink_mass", "distance_mass", "layer_scale")


def _with_arrays(d, keys):
    for key in keys:
        if key in d:
            d[key] = np.asarray(d[key], dtype=np.float64)
    return d


def _threshold(value, default, name, lem_compat):
    """The default-mode threshold: `default` when None; TypeError unless a real number,
    ValueError outside [0, 1] or with lem_compat."""
    if value is None:
        return default
    x = as_real(value, name)
    if lem_compat:
        raise ValueError(f"{name} applies to the default mode only (lem_compat uses the seed's)")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], not {value}")
    return x


def bo_metrics(k, v=None, q=None, lem_compat=False, lock_threshold=None, collapse_threshold=None,
               device="auto"):
    """Bone-Orientation metrics of post-RoPE keys (docs/metrics.md), as `score --json`.

    k: [layers, kv_heads, seq, head_dim]; v: None or k's shape; q: None or
    [layers, q_heads, seq, head_dim] (only its head count is used: the `q_heads` field).
    numpy arrays, torch tensors (CPU or CUDA) or array-likes of f32, f16, bf16 or f64;
    contiguous f32 host arrays are read in place, others converted to f32.
    lem_compat: the seed's numbers exactly; lock_threshold (default 0.7) and
    collapse_threshold (default 0.5): the default mode's thresholds, cosines in [0, 1].
    device: auto | cpu | cuda | cuda:N (auto: a CUDA tensor's device, else the GPU of a
    CUDA build when the machine has one, else the CPU).

    Returns a dict with the keys of `qkgeom score --snapshot F --json` (without
    `attention`, `engine`, `snapshot`, `timing`): floats, ints, str, and numpy float64
    arrays for layer_coherence [layers], layer_cross_alignment [layers-1], features [5],
    head_differentiation and head_entropy [layers, analysed_heads] (empty when not
    computed), and with v: layer_value_coherence, layer_kv_coupling [layers], features7 [7].

    Raises TypeError (non-float dtype; a threshold that is not a real number), ValueError
    (rank, empty, ragged or mismatched shapes, NaN/Inf in the input, bad threshold or
    device), RuntimeError (cuda without a GPU or a CUDA build; a non-finite metric from
    finite input); each names the argument.
    """
    device = pick_device(device, k, v, q)
    kc = as_cloud(k, "k")
    vc = None if v is None else as_cloud(v, "v")
    if vc is not None:
        check_same_shape(kc, vc, ("k", "v"))
    q_heads = 0
    if q is not None:
        qc = as_cloud(q, "q")
        check_q_fits_k(qc, kc)
        q_heads = qc.shape[1]
    lock = _threshold(lock_threshold, 0.7, "lock_threshold", lem_compat)
    collapse = _threshold(collapse_threshold, 0.5, "collapse_threshold", lem_compat)
    ext, dev = _ext.for_device(device)
    d = _ext.call(ext.bo_metrics, dev, kc, vc, q_heads, bool(lem_compat), lock, collapse)
    return _with_arrays(d, _BO_ARRAYS)


def _window_args(mask, window, layer_window, layers):
    """(window, layer_window) for the extension; ValueError for combinations score refuses."""
    if mask not in ("causal", "full", "sliding"):
        raise ValueError(f"mask must be 'causal', 'full' or 'sliding', not {mask!r}")
    if mask == "sliding" and window is None:
        raise ValueError("mask='sliding' needs window=N with N >= 1 (keys per window)")
    if mask != "sliding" and window is not None:
        raise ValueError("window applies to mask='sliding' only (per-layer windows: layer_window)")
    win = 0 if window is None else as_int(window, "window", 1)
    lw = [] if layer_window is None else as_list(layer_window, "layer_window")
    if lw and len(lw) != layers:
        raise ValueError(f"layer_window needs {layers} entries (one per layer), each >= 0 or None")
    return win, [0 if w is None else as_int(w, f"layer_window[{i}]", 0) for i, w in enumerate(lw)]


def _layer_scales(layer_scale, layers):
    """layer_scale as floats; TypeError / ValueError naming the entry that is not a positive finite number."""
    ls = [] if layer_scale is None else as_list(layer_scale, "layer_scale")
    if ls and len(ls) != layers:
        raise ValueError(f"layer_scale needs {layers} entries (one per layer), not {len(ls)}")
    out = [as_real(s, f"layer_scale[{i}]") for i, s in enumerate(ls)]
    for i, s in enumerate(out):
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"layer_scale[{i}] must be a positive finite number, not {s}")
    return out


def attention_stats(q, k, mask="causal", window=None, scale=None, layer_window=None, layer_scale=None,
                    softcap=None, device="auto"):
    """Attention entropy, logit std and sink mass per (layer, query head), as the
    `attention` object of `score --json` (docs/metrics.md, "Attention statistics").

    q: [layers, q_heads, seq, head_dim], k: [layers, kv_heads, seq, head_dim] (q_heads a
    multiple of kv_heads), post-RoPE, as bo_metrics accepts them.
    mask: 'causal', 'full' or 'sliding' (with window: keys j <= i, i - j < window).
    scale: logit scale (default 1/sqrt(head_dim)). layer_window: per layer, a sliding
    window (> 0) or 0/None for `mask` (Gemma 3, Mistral); layer_scale: per-layer scales.
    softcap: logit soft-cap C (Gemma 2): each scaled logit s becomes C tanh(s / C).
    device: as bo_metrics.

    Returns a dict: entropy (nats), logit_std (logit units), sink_mass (probability in
    [0, 1]) as numpy float64 [layers, q_heads]; mean_entropy, mean_logit_std,
    mean_sink_mass (floats); mask, window, scale, backend; layer_window, layer_scale and
    logit_softcap when given. Raises as bo_metrics, TypeError for a window that is not an int
    or a scale/softcap that is not a real number, and ValueError for a bad mask, window or scale
    (a per-layer entry named by its index).
    """
    device = pick_device(device, q, k)
    qc, kc = as_cloud(q, "q"), as_cloud(k, "k")
    check_q_fits_k(qc, kc)
    win, lw = _window_args(mask, window, layer_window, qc.shape[0])
    ls = _layer_scales(layer_scale, qc.shape[0])
    scale, softcap = (None if v is None else as_real(v, n) for v, n in ((scale, "scale"), (softcap, "softcap")))
    for name, value in (("scale", scale), ("softcap", softcap)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, not {value}")
    ext, dev = _ext.for_device(device)
    d = _ext.call(ext.attention_stats, dev, qc, kc, mask, win, scale, lw, ls, softcap or 0.0)
    return _with_arrays(d, _ATTENTION_ARRAYS)
