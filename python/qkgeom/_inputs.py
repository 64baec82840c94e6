"""Arrays into the form the extension reads: f32, row-major, 4-D, host memory, finite.
numpy arrays and torch tensors that are already so pass through without a copy; the
scalar and list arguments checked and named as the caller spelled them."""
import numbers

import numpy as np

_FLOAT_KINDS = ("float16", "bfloat16", "float32", "float64")


def _is_torch(x):
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _torch_to_numpy(x, name):
    """A torch tensor as an f32 numpy array (zero-copy for a contiguous CPU f32 tensor)."""
    dtype = str(x.dtype).replace("torch.", "")
    if dtype not in _FLOAT_KINDS:
        raise TypeError(f"{name}: dtype {dtype} is not a floating dtype (f32, f16, bf16 or f64)")
    x = x.detach()
    if x.device.type != "cpu":
        x = x.cpu()
    return x.float().contiguous().numpy()


def pick_device(device, *arrays):
    """`device`, except that auto becomes "cuda:N" when a torch tensor given lives on CUDA device N."""
    for x in arrays:
        if device == "auto" and x is not None and _is_torch(x) and x.device.type == "cuda":
            return f"cuda:{x.device.index or 0}"
    return device


def _as_array(x, name):
    """np.asarray(x); ValueError naming `name` for ragged nested lists."""
    try:
        return np.asarray(x)
    except ValueError as e:
        raise ValueError(f"{name}: not a rectangular array (nested lists of unequal lengths?): {e}") from None


def as_int(value, name, lo, hi=2**63 - 1):
    """value as an int in [lo, hi]: TypeError naming `name` unless it is an integer (a bool,
    float or str is not), ValueError outside the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(value).__name__} {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {int(value)}")
    return int(value)


def as_real(value, name):
    """value as a float: TypeError naming `name` unless it is a real number (int, float or a
    numpy scalar; a bool or str is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__} {value!r}")
    return float(value)


def as_list(value, name):
    """value (a list, tuple or 1-D array) as a list; TypeError naming `name` else."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list, not {type(value).__name__} {value!r}")
    return list(value)


def as_cloud(x, name):
    """x ([layers, heads, seq, head_dim], numpy, torch or array-like of floats) as a
    C-contiguous f32 numpy array. TypeError for a non-float dtype, ValueError for a rank
    other than 4, an empty dimension, or a NaN/Inf (naming the first index)."""
    a = _torch_to_numpy(x, name) if _is_torch(x) else _as_array(x, name)
    if a.dtype.name not in _FLOAT_KINDS:
        raise TypeError(f"{name}: dtype {a.dtype.name} is not a floating dtype (f32, f16, bf16 or f64)")
    if a.ndim != 4:
        raise ValueError(f"{name}: expected rank 4 [layers, heads, seq, head_dim], got shape {list(a.shape)}")
    if 0 in a.shape:
        raise ValueError(f"{name}: shape {list(a.shape)} has an empty dimension")
    a = np.ascontiguousarray(a, dtype=np.float32)
    finite = np.isfinite(a)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name}: {int((~finite).sum())} non-finite value(s) (NaN or Inf), "
                         f"first at {list(first)} = {a[first]}")
    return a


def check_same_shape(a, b, names):
    """ValueError unless a and b have one shape."""
    if a.shape != b.shape:
        raise ValueError(f"{names[1]} has shape {list(b.shape)} but {names[0]} has {list(a.shape)}; they must match")


def check_q_fits_k(q, k):
    """ValueError unless q [layers, q_heads, seq, dim] goes with k [layers, kv_heads, seq, dim]."""
    if q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"q has shape {list(q.shape)}, incompatible with k {list(k.shape)} "
                         "(layers, seq and head_dim must match)")
    if q.shape[1] % k.shape[1] != 0:
        raise ValueError(f"q: {q.shape[1]} query heads are not a multiple of {k.shape[1]} KV heads")
