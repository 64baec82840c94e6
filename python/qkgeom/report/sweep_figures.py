"""The figures of a sweep store: attention statistics per (layer, head), key geometry per
layer with its spread over probes, composite and features by probe domain.
Each function takes the sweep restricted to its `ok` probes (data.ok_probes)."""
import numpy as np
from matplotlib.ticker import MaxNLocator

from . import data
from .render import heatmap, new_figure, render

ATTENTION = (("attention/entropy", "attention entropy"), ("attention/logit_std", "logit std"),
             ("attention/sink_mass", "sink mass"))
LAYER_CURVES = (("bo/layer_coherence", "key coherence", "layer"),
                ("bo/layer_cross_alignment", "cross alignment", "layer pair (l, l+1)"))


def attention_heatmaps(sweep):
    """Mean over probes of entropy, logit std and sink mass, [layer, head] each."""
    fig, axes = new_figure(3, height=max(3.2, 0.22 * sweep.sizes["layer"] + 1.5))
    for ax, (name, label) in zip(axes, ATTENTION):
        units = sweep[name].attrs["units"]
        heatmap(ax, data.head_means(sweep, name), f"{label} ({units})", "query head", "layer", units)
    caption = (f"Mean over {sweep.sizes['probe']} probes of each query head's attention statistics "
               "(docs/metrics.md): softmax entropy, standard deviation of the scaled logits, and "
               "the attention on the first token.")
    return render(fig, "Attention by layer and head", caption)


def spread_curve(ax, values, title, xlabel):
    """values [probe, x]: the mean over probes, its 10-90 % band and its min-max range."""
    x = np.arange(values.shape[1])
    lo, p10, p90, hi = np.nanpercentile(values, [0, 10, 90, 100], axis=0)
    ax.fill_between(x, lo, hi, color="tab:blue", alpha=0.12, label="min-max")
    ax.fill_between(x, p10, p90, color="tab:blue", alpha=0.3, label="10-90 %")
    ax.plot(x, np.nanmean(values, axis=0), color="tab:blue", marker="o", ms=3, label="mean")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(title)
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.legend(loc="best", fontsize="small")


def layer_curves(sweep):
    """Key coherence per layer and cross alignment per adjacent pair, spread over probes."""
    fig, axes = new_figure(2)
    for ax, (name, label, xlabel) in zip(axes, LAYER_CURVES):
        spread_curve(ax, sweep[name].values, label, xlabel)
    caption = (f"Bone-Orientation key geometry per layer over {sweep.sizes['probe']} probes: the mean, "
               "the band holding the middle 80 % of probes and the full range.")
    return render(fig, "Key coherence and cross-layer alignment", caption)


def domain_labels(sweep):
    """(sorted domain names, each probe's domain, 'name (count)' tick labels)."""
    dom = data.domains(sweep)
    names = sorted(set(dom))
    return names, dom, [f"{d} ({int((dom == d).sum())})" for d in names]


def composite_by_domain(sweep):
    """Box plot of the composite per probe domain."""
    names, dom, ticks = domain_labels(sweep)
    fig, (ax,) = new_figure(1, width=9.0, height=max(3.0, 0.3 * len(names) + 1.2))
    comp = sweep["bo/composite"].values
    ax.boxplot([comp[(dom == d) & np.isfinite(comp)] for d in names], orientation="horizontal", tick_labels=ticks)
    ax.invert_yaxis()
    ax.set_title("composite by domain")
    ax.set_xlabel(f"composite ({sweep['bo/composite'].attrs['units']})")
    ax.set_ylabel("probe domain (probes)")
    caption = "The composite Bone-Orientation score of each probe, by the probe set's domains."
    return render(fig, "Composite by probe domain", caption)


def features_by_domain(sweep):
    """Mean and standard deviation of each bo/features entry per probe domain."""
    names, dom, ticks = domain_labels(sweep)
    feats = sweep["bo/features"]
    labels = list(feats.coords[feats.dims[1]].values) if feats.dims[1] in feats.coords else None
    count = feats.shape[1]
    fig, axes = new_figure(count, width=2.6 * count, height=max(3.0, 0.3 * len(names) + 1.2))
    for i, ax in enumerate(axes):
        col = feats.values[:, i]
        means = [np.nanmean(col[dom == d]) for d in names]
        stds = [np.nanstd(col[dom == d]) for d in names]
        ax.errorbar(means, range(len(names)), xerr=stds, fmt="o", color="tab:green", capsize=2)
        ax.grid(axis="y", color="#eee")
        ax.set_yticks(range(len(names)), ticks if i == 0 else [""] * len(names))
        ax.invert_yaxis()
        ax.set_title(labels[i] if labels else f"feature {i}")
        ax.set_xlabel("mean ± std")
    axes[0].set_ylabel("probe domain (probes)")
    caption = "The seed's five attention features (bo/features) per domain: mean over its probes, ± one std."
    return render(fig, "Features by probe domain", caption)
