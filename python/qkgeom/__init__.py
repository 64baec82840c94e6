"""qkgeom from Python (docs/python.md): the Bone-Orientation metrics and attention
statistics of `qkgeom score`, on numpy arrays or torch tensors; post-RoPE q/k/v captured
from a transformers model in memory (qkgeom.hf); result files as xarray (qkgeom.open).
torch, transformers, h5py and xarray are imported only when used."""
import importlib

from ._core import __git_sha__, __version__
from .metrics import attention_stats, bo_metrics

__all__ = ["__version__", "__git_sha__", "bo_metrics", "attention_stats", "open", "hf", "text"]


def __getattr__(name):
    """qkgeom.open (reader.py), qkgeom.hf and qkgeom.text, imported on first use."""
    if name == "open":
        return importlib.import_module(".reader", __name__).open
    if name in ("hf", "text"):
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'qkgeom' has no attribute {name!r}")
