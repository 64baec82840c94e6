"""qkgeom from Python (docs/python.md): the Bone-Orientation metrics and attention
statistics of `qkgeom score`, on numpy arrays or torch tensors, and post-RoPE q/k/v
captured from a transformers model in memory (qkgeom.hf)."""
from ._core import __git_sha__, __version__
from .metrics import attention_stats, bo_metrics

__all__ = ["__version__", "__git_sha__", "bo_metrics", "attention_stats"]
