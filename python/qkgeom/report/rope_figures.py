"""The figures of ROPE.h5 (qkgeom rope-geometry, docs/static-geometry.md): per-head band
profiles of chosen layers, the operator's size against the offset D, and with a sweep/
group the implied against the measured attention mass by distance bucket."""
import warnings

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from .render import heatmap, new_figure, render

BUCKETS = ["0", "1"] + [f"{2 ** b}-{2 ** (b + 1) - 1}" for b in range(1, 14)] + ["16384+"]
BAND_MAPS = (("bands/share", "band energy share", "share of mean energy"),
             ("bands/invariant_fraction", "invariant fraction", "fraction"))


def chosen_layers(layers):
    """The first, middle and last layer (distinct)."""
    return sorted({0, layers // 2, layers - 1})


def wavelength_labels(inv_freq):
    """Each pair's wavelength 2 pi / w_p in tokens, as short tick labels ('inf' for w_p = 0)."""
    with np.errstate(divide="ignore"):
        wave = 2 * np.pi / np.asarray(inv_freq, dtype=float)
    return [f"{w:.3g}" if np.isfinite(w) else "inf" for w in wave]


def band_ticks(ax, labels):
    """At most about 8 labelled x ticks over the pairs."""
    step = max(1, len(labels) // 8)
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels(labels[::step], rotation=45, fontsize="small")


def band_profiles(rope):
    """Heatmaps head x rotary pair (ordered by frequency, highest first) of the band energy
    share and the invariant fraction, for the first, middle and last layer."""
    layers = chosen_layers(rope.sizes["layer"])
    fig, axes = new_figure(2 * len(layers), width=4.0 * len(layers), height=7.0, rows=2)
    has_freq = "inv_freq" in rope
    for col, layer in enumerate(layers):
        freq = rope["inv_freq"].values[layer] if has_freq else None
        order = np.argsort(-freq, kind="stable") if has_freq else np.arange(rope.sizes["band"])
        for row, (name, label, units) in enumerate(BAND_MAPS):
            ax = axes[row * len(layers) + col]
            xlabel = "rotary pair (wavelength, tokens)" if has_freq else "rotary pair"
            heatmap(ax, rope[name].values[layer][:, order], f"layer {layer}: {label}", xlabel, "query head", units)
            if has_freq:
                band_ticks(ax, wavelength_labels(freq[order]))
    caption = ("Per query head (rows) and rotary pair p (columns, highest frequency first, labelled with "
               "the wavelength 2π/w_p in tokens): the band's share m_p / M of the operator's mean energy "
               "over offsets, and its invariant fraction 1 - a_p / m_p, the part of that energy present "
               "at every offset (1: a band that does not depend on the offset).")
    return render(fig, "Per-head band profiles", caption)


def norm_by_offset(rope):
    """operator/op and operator/fro (mean over heads) against the offset D, one curve per layer."""
    offsets = rope["offsets"].values
    fig, axes = new_figure(2, width=11.0, height=3.8)
    layers = ScalarMappable(Normalize(0, max(rope.sizes["layer"] - 1, 1)), "viridis")
    for ax, (name, label) in zip(axes, (("operator/op", "top singular value"), ("operator/fro", "Frobenius norm"))):
        for layer, curve in enumerate(rope[name].values.mean(axis=1)):
            ax.plot(offsets, curve, color=layers.to_rgba(layer), lw=1, marker=".", ms=3)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_title(f"{label} of B(D)")
        ax.set_xlabel("offset D (tokens, log scale)")
        ax.set_ylabel(f"{label} (mean over heads)")
    fig.colorbar(layers, ax=axes, label="layer", ticks=MaxNLocator(integer=True))
    caption = ("The largest singular value and the Frobenius norm of each head's RoPE-aware operator "
               "B(D) = Q^T R(-D) K at the stored offsets D (query minus key position), mean over heads, one "
               "curve per layer (colour bar); the x axis is logarithmic above 1 and linear below, so D = 0 shows.")
    return render(fig, "Operator size against offset", caption)


def mass_heads(rope):
    """(layer, head) pairs drawn: head 0 of the first, middle and last layer."""
    return [(layer, 0) for layer in chosen_layers(rope.sizes["layer"])]


def layer_mean(values):
    """[layer, head] -> [layer]: the mean over heads of the finite values (NaN where none is)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=1)


def sweep_mass(rope):
    """Implied against measured attention mass per distance bucket for a few heads, and the
    per-layer mean Spearman between them."""
    implied, measured = rope["sweep/implied_mass"].values, rope["sweep/measured_mass"].values
    used = np.flatnonzero((implied > 0).any(axis=(0, 1)) | (measured > 0).any(axis=(0, 1)))
    last = int(used[-1]) + 1 if used.size else 1
    heads = mass_heads(rope)
    fig, axes = new_figure(len(heads) + 1, width=4.0 * (len(heads) + 1), height=3.8)
    x = np.arange(last)
    for ax, (layer, head) in zip(axes, heads):
        ax.plot(x, implied[layer, head, :last], marker="o", ms=3, label="implied")
        ax.plot(x, measured[layer, head, :last], marker="s", ms=3, label="measured")
        ax.set_title(f"layer {layer}, head {head}")
        ax.set_xticks(x)
        ax.set_xticklabels(BUCKETS[:last], rotation=45, fontsize="small")
        ax.set_xlabel("distance bucket (tokens)")
        ax.set_ylabel("attention mass (probability)")
        ax.legend(fontsize="small")
    spearman = layer_mean(rope["sweep/spearman"].values)
    ax = axes[-1]
    ax.plot(np.arange(len(spearman)), spearman, marker="o", ms=3)
    ax.set_ylim(-1.05, 1.05)
    ax.set_title("implied vs measured")
    ax.set_xlabel("layer")
    ax.set_ylabel("Spearman ρ (mean over heads)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    caption = (f"The attention mass per distance bucket implied by the sweep's mean query and key through "
               f"B(D) (a softmax over a prompt of the mean length, {rope.attrs.get('sweep/query_length', '?')} "
               "tokens) against the sweep's measured attention/distance_mass, for head 0 of the first, middle "
               "and last layer; right: Spearman's ρ of the two over the buckets, mean over each layer's heads "
               "(heads where it is undefined left out).")
    return render(fig, "Implied and measured attention by distance", caption)


def layer_ranges(layers):
    """Sorted layer indices as short text: [0, 1, 2, 5] -> '0-2, 5'."""
    runs = []
    for layer in layers:
        if runs and layer == runs[-1][1] + 1:
            runs[-1][1] = layer
        else:
            runs.append([layer, layer])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def logit_shaping_rows(rope):
    """The sliding window w (positions) and soft-cap C (logits) with which each layer's E(D)
    was read (sweep/window, sweep/softcap): one row (layers, window text, soft-cap text) per
    distinct pair, in order of first layer; None when the file stores neither."""
    if "sweep/window" not in rope or "sweep/softcap" not in rope:
        return None
    window, cap = rope["sweep/window"].values, rope["sweep/softcap"].values
    rows = {}
    for layer, pair in enumerate(zip(window.tolist(), cap.tolist())):
        rows.setdefault(pair, []).append(layer)
    return [(layer_ranges(layers), f"{w}" if w > 0 else "none (every earlier key)", f"{c:g}" if c > 0 else "none")
            for (w, c), layers in rows.items()]

