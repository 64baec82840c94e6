"""The figures of STATIC.h5 (qkgeom weights, align): operator cosines between layers,
principal angles to the anchor, spectral descriptors per head, the spectra, and the
static descriptors against a sweep's attention statistics."""
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from . import data
from .render import heatmap, new_figure, render

DESCRIPTORS = ("op", "rank_eff", "spec_ent", "anisotropy")
TABLE_DESCRIPTORS = ("op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy", "condition")
DYNAMIC = (("attention/entropy", "attention entropy"), ("attention/logit_std", "logit std"))
MIN_COS_SCALE = 0.05  # the cosine colour scale's smallest end: near-zero cosines stay white
PRINCIPAL = (("align/pa_mean_cos", "mean cosine"), ("align/pa_min_cos", "smallest cosine"),
             ("align/pa_top1_overlap", "top-1 overlap"))


def cosine_matrix(static):
    """align/cos_matrix [layer, layer] as a heatmap."""
    fig, (ax,) = new_figure(1, width=6.5, height=5.2)
    cos = static["align/cos_matrix"].values
    heatmap(ax, cos, "operator cosine", "layer", "layer", "cosine", cmap="RdBu_r")
    off = np.abs(cos[~np.eye(len(cos), dtype=bool)])
    off = off[np.isfinite(off)]
    limit = max(float(off.max()) if off.size else 0.0, MIN_COS_SCALE)
    ax.images[0].set_clim(-limit, limit)
    verdict = static.attrs.get("align/verdict", "")
    caption = ("Cosine between the layers' attention operators g = W_Q^T W_K, mean over heads "
               f"(qkgeom align; verdict {verdict}). The colour scale ends at ±{limit:.3g}: the largest "
               f"off-diagonal |cosine|, at least {MIN_COS_SCALE}; the diagonal is 1.")
    return render(fig, "Operator cosine between layers", caption)


def principal_angles(static):
    """The align/ group's principal-angle cosines to the anchor's eigen-subspace, per layer."""
    fig, (ax,) = new_figure(1, width=8.0, height=3.6)
    for name, label in PRINCIPAL:
        ax.plot(static[name].values, marker="o", ms=3, label=label)
    anchor = static.attrs.get("align/anchor")
    ax.axvline(anchor, color="grey", ls=":", label=f"anchor layer {anchor}")
    ax.set_title("principal angles to the anchor")
    ax.set_xlabel("layer")
    ax.set_ylabel("cosine (mean over heads)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.legend(fontsize="small")
    topk = static.attrs.get("align/topk")
    caption = (f"Principal angles between each layer's top-{topk} eigen-subspace of the operator's "
               "symmetric part and the anchor layer's, as cosines (1: the same subspace).")
    return render(fig, "Principal angles", caption)


def descriptor_heatmaps(static):
    """Four descriptors of the exact spectrum, [layer, head] each."""
    fig, axes = new_figure(4, height=max(3.2, 0.22 * static.sizes["layer"] + 1.5))
    for ax, name in zip(axes, DESCRIPTORS):
        var = static[f"exact/{name}"]
        units = var.attrs["units"]
        heatmap(ax, var.values, name + (f" ({units})" if units else ""), "query head", "layer", units or name)
    caption = ("Descriptors of each head's operator spectrum (singular values s of Q^T K): largest "
               "s, effective rank sum s / max s, spectral entropy, anisotropy max s / mean s.")
    return render(fig, "Spectral descriptors per head", caption)


def spectra(static):
    """Singular values over their largest, mean over heads, one curve per layer."""
    s = static["exact/singular_values"].values
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.nanmean(s / s[..., :1], axis=1)  # [layer, index]
    fig, (ax,) = new_figure(1, width=8.0, height=3.8)
    layers = ScalarMappable(Normalize(0, max(len(norm) - 1, 1)), "viridis")
    for layer, curve in enumerate(norm):
        ax.plot(np.arange(1, len(curve) + 1), curve, color=layers.to_rgba(layer), lw=1)
    ax.set_yscale("log")
    ax.set_title("operator spectra")
    ax.set_xlabel("singular value index")
    ax.set_ylabel("s / max s (mean over heads)")
    fig.colorbar(layers, ax=ax, label="layer", ticks=MaxNLocator(integer=True))
    caption = "Each layer's singular values of Q^T K over the largest, mean over heads."
    return render(fig, "Operator spectra", caption)


def static_vs_dynamic(static, sweep):
    """Scatter of four exact descriptors against attention entropy and logit std per head."""
    fig, axes = new_figure(8, height=6.4, rows=2)
    layers = np.repeat(np.arange(static.sizes["layer"]), static.sizes["head"])
    for row, (dyn, dlabel) in enumerate(DYNAMIC):
        y = data.head_means(sweep, dyn).ravel()
        for col, name in enumerate(DESCRIPTORS):
            ax, x = axes[4 * row + col], static[f"exact/{name}"].values.ravel()
            r, rho, _ = data.correlation(x, y)
            points = ax.scatter(x, y, c=layers, s=14, cmap="viridis")
            ax.set_title(f"r {r:+.2f}, ρ {rho:+.2f}", fontsize="medium")
            ax.set_xlabel(name)
            ax.set_ylabel(f"{dlabel} ({sweep[dyn].attrs['units']})" if col == 0 else "")
    fig.colorbar(points, ax=axes, label="layer", shrink=0.6, ticks=MaxNLocator(integer=True))
    caption = ("One point per (layer, query head), colour by layer: a static descriptor of the exact "
               "spectrum against the head's attention statistic averaged over the sweep's probes, with "
               "Pearson's r and Spearman's ρ (as qkgeom correlate computes them, without its bootstrap).")
    return render(fig, "Static descriptors against attention statistics", caption)


def correlation_rows(static, sweep):
    """[(descriptor, [(r, rho, pairs) per dynamic quantity])] over the exact descriptors."""
    ys = [data.head_means(sweep, dyn).ravel() for dyn, _ in DYNAMIC]
    rows = []
    for name in TABLE_DESCRIPTORS:
        if f"exact/{name}" in static:
            x = static[f"exact/{name}"].values.ravel()
            rows.append((name, [data.correlation(x, y) for y in ys]))
    return rows
