"""The figures of a `qkgeom compare` file (CMP.h5, docs/compare.md): each run's depth
profiles overlaid on relative depth (and the static descriptors' when the comparison has
STATIC.h5 files), the paired differences with their bootstrap intervals as a forest plot,
and each pair's per-probe ranks against each other. `compare_figures(path)` returns them
as `Rendered` figures for the report's page."""
import os

import h5py
import numpy as np
import pandas as pd

from ..reader import require_not_truncated
from .data import ReportError
from .render import new_figure, render

DEPTH = ("attention/entropy", "attention/sink_mass", "bo/head_entropy", "bo/layer_kv_coupling")
STATIC_DEPTH = ("exact/op", "exact/spec_ent", "exact/rank_eff")
FOREST = ("attention/mean_entropy", "attention/mean_logit_std", "attention/mean_sink_mass",
          "bo/mean_head_entropy", "bo/mean_kv_coupling", "bo/composite")
SCATTER = "attention/mean_entropy"


PAIRED_LABELS = ("mean_diff", "ci_lo", "ci_hi", "spearman")


def dataset(f, path, name, shape):
    """Dataset `name` of open CMP.h5 f, checked against `shape` (None: any size on that axis);
    ReportError naming the file and dataset when it is absent or of another shape."""
    d = f.get(name)
    if not isinstance(d, h5py.Dataset):
        raise ReportError(f"{path}: no dataset /{name}: not a complete CMP.h5 of qkgeom compare")
    if d.ndim != len(shape) or any(want is not None and have != want for have, want in zip(d.shape, shape)):
        want = " x ".join("*" if n is None else str(n) for n in shape)
        raise ReportError(f"{path}: /{name} has shape {list(d.shape)}, not {want}: a damaged CMP.h5")
    return d


def read_paired(f, path, name, pairs):
    """(rows [pair, stat] of domain 'all', stat labels, same_definition) of paired/<name>."""
    ds = dataset(f, path, "paired/" + name, (pairs, None, None))
    labels = [str(x) for x in np.ravel(ds.attrs.get("labels", []))]
    if len(labels) != ds.shape[2] or any(k not in labels for k in PAIRED_LABELS):
        raise ReportError(f"{path}: /paired/{name} has no 'labels' attribute naming its {ds.shape[2]} "
                          f"statistics ({', '.join(PAIRED_LABELS)}, ...): a damaged CMP.h5")
    return ds[:, 0, :], labels, bool(ds.attrs.get("same_definition", True))


def read_compare(path):
    """The parts of CMP.h5 the figures use, as numpy arrays and lists; ReportError naming the
    file and dataset when one is absent or of a shape that disagrees with the others."""
    require_not_truncated(path)
    try:
        with h5py.File(path, "r") as f:
            return read_compare_file(f, path)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ReportError(f"{path}: cannot be read as a CMP.h5 of qkgeom compare ({e})") from e


def read_compare_file(f, path):
    """read_compare of the open file f."""
    files = dataset(f, path, "runs/file", (None,)).asstr(errors="replace")[()]
    runs = [os.path.splitext(os.path.basename(p))[0] for p in files]
    a, b = (dataset(f, path, k, (None,))[()] for k in ("pairs/a", "pairs/b"))
    if len(a) != len(b) or not all(0 <= int(x) < len(runs) for x in (*a, *b)):
        raise ReportError(f"{path}: /pairs/a and /pairs/b are not pairs of the {len(runs)} runs: a damaged CMP.h5")
    grid = dataset(f, path, "depth/grid", (None,))[()]
    cmp = {"runs": runs, "pairs": list(zip(a.astype(int), b.astype(int))), "grid": grid, "depth": {},
           "static": {}, "paired": {}, "values": {}, "warnings": [str(w) for w in f.attrs.get("warnings", [])]}
    for q in DEPTH:
        if "depth/" + q in f:
            cmp["depth"][q] = dataset(f, path, "depth/" + q, (len(runs), len(grid)))[()]
    cmp["static_models"] = list(f["static/model"].asstr(errors="replace")[()]) if "static/model" in f else []
    for q in STATIC_DEPTH:
        if "static/depth/" + q in f and len(cmp["static_models"]):
            cmp["static"][q] = dataset(f, path, "static/depth/" + q, (len(cmp["static_models"]), len(grid)))[()]
    for q in FOREST:
        if "paired/" + q in f:
            cmp["paired"][q] = read_paired(f, path, q, len(a))
        if "values/" + q in f:
            cmp["values"][q] = dataset(f, path, "values/" + q, (len(runs), None))[()]
    return cmp


def depth_overlay(grid, curves, labels, names, title):
    """One panel per quantity: each run's (or static file's) curve on relative depth."""
    fig, axes = new_figure(len(names), width=3.2 * len(names) + 1, height=3.4)
    for ax, name in zip(axes, names):
        for k, label in enumerate(labels):
            if np.isfinite(curves[name][k]).any():
                ax.plot(grid, curves[name][k], marker="o", ms=2, label=label)
        ax.set_title(name)
        ax.set_xlabel("relative depth (0 first layer, 1 last)")
        ax.set_ylabel(name.split("/")[-1])
    axes[0].legend(loc="best", fontsize="small")
    caption = ("Per-layer means over the common probes (heads averaged), on relative depth l / (L - 1) by "
               "linear interpolation, so that models of different depth line up (docs/compare.md).")
    return render(fig, title, caption)


def paired_forest(cmp):
    """Per quantity, each pair's mean difference with its percentile bootstrap interval."""
    names = list(cmp["paired"])
    fig, axes = new_figure(len(names), width=11.0, height=1.2 + 0.45 * len(cmp["pairs"]) * 2, rows=2)
    ticks = [f"{cmp['runs'][a]} − {cmp['runs'][b]}" for a, b in cmp["pairs"]]
    for ax, name in zip(axes, names):
        rows, labels, same = cmp["paired"][name]
        mean, lo, hi = (rows[:, labels.index(k)] for k in ("mean_diff", "ci_lo", "ci_hi"))
        y = np.arange(len(ticks))
        ax.errorbar(mean, y, xerr=[mean - lo, hi - mean], fmt="o", color="tab:purple", capsize=3)
        for row in np.flatnonzero(~np.isfinite(mean)):
            ax.text(0, row, "no finite difference", ha="center", va="center", fontsize="small", color="#a40")
        ax.axvline(0, color="#999", lw=0.8)
        ax.set_yticks(y, ticks if ax is axes[0] or ax is axes[len(axes) // 2] else [""] * len(ticks))
        ax.invert_yaxis()
        ax.set_title(name + ("" if same else " (definitions differ)"))
        ax.set_xlabel("mean difference a − b")
    caption = ("Mean of the per-probe differences over the common probes, with the percentile bootstrap "
               "interval (CMP.h5 attributes bootstrap, seed, confidence_level). A title marked 'definitions "
               "differ' compares two formulas (the composite's switch at 4 KV heads).")
    return render(fig, "Paired differences between models", caption)


def rank_scatter(cmp, name=SCATTER):
    """Each pair's per-probe ranks of `name` against each other, with Spearman's rho."""
    values = cmp["values"][name]
    rows, labels, _ = cmp["paired"][name]
    fig, axes = new_figure(len(cmp["pairs"]), width=3.4 * len(cmp["pairs"]) + 1, height=3.4)
    for p, (ax, (a, b)) in enumerate(zip(axes, cmp["pairs"])):
        use = np.isfinite(values[a]) & np.isfinite(values[b])
        ra, rb = (pd.Series(values[k][use]).rank().to_numpy() for k in (a, b))
        ax.scatter(ra, rb, s=8, alpha=0.7)
        rho = rows[p, labels.index("spearman")]
        ax.set_title(f"rho {rho:+.2f}" if np.isfinite(rho) else "rho undefined")
        ax.set_xlabel(f"rank in {cmp['runs'][a]}")
        ax.set_ylabel(f"rank in {cmp['runs'][b]}")
    caption = (f"Rank of each common probe's {name} in one model against the other: probes on the diagonal "
               "keep their place; Spearman's rho as in CMP.h5.")
    return render(fig, f"Probe ranks of {name}", caption)


def compare_figures(path):
    """Every figure of CMP.h5 at `path`, in page order."""
    cmp = read_compare(path)
    figs = []
    if cmp["depth"]:
        figs.append(depth_overlay(cmp["grid"], cmp["depth"], cmp["runs"], list(cmp["depth"]),
                                  "Depth profiles of the models"))
    if cmp["static"]:
        figs.append(depth_overlay(cmp["grid"], cmp["static"], cmp["static_models"], list(cmp["static"]),
                                  "Static descriptors on relative depth"))
    if cmp["paired"]:
        figs.append(paired_forest(cmp))
    if SCATTER in cmp["values"] and SCATTER in cmp["paired"]:
        figs.append(rank_scatter(cmp))
    return figs
