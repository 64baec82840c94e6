"""Matplotlib figures (no pyplot, no display) rendered to base64 PNG, with alt text made
from the figure's own titles, axis labels and colour-bar labels."""
import base64
import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

DPI = 100


@dataclass
class Rendered:
    """One figure of the page: heading, caption (HTML), PNG bytes as base64, alt text, and the
    characters of its labels that no installed font has (drawn as boxes)."""
    title: str
    caption: str
    png_base64: str
    alt: str
    missing_glyphs: str = ""


def new_figure(panels, width=11.0, height=3.6, rows=1):
    """(Figure, flat list of axes) of rows x panels/rows subplots."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, int(np.ceil(panels / rows)), squeeze=False).ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig, list(axes[:panels])


def alt_text(fig, title):
    """'title. panel: x LABEL, y LABEL; ...' over the figure's visible axes."""
    parts = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        labels = [f"{w} {t}" for w, t in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if t]
        name = ax.get_title() or "colour bar"
        if labels:
            parts.append(f"{name}: {', '.join(labels)}")
    return f"{title}. " + "; ".join(parts)


GLYPH = re.compile(r"Glyph (\d+) .*missing from font")


def render(fig, title, caption):
    """The figure as a Rendered (PNG at DPI dots per inch); matplotlib's warnings of glyphs
    missing from the fonts become its `missing_glyphs` (the page says so once)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    missing = sorted({chr(int(m.group(1))) for w in caught if (m := GLYPH.search(str(w.message)))})
    for w in caught:
        if not GLYPH.search(str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Rendered(title, caption, base64.b64encode(buf.getvalue()).decode("ascii"), alt_text(fig, title),
                    "".join(missing))


def heatmap(ax, data, title, xlabel, ylabel, units, cmap="viridis"):
    """data [rows, cols] as an image (row 0 at the top) with a colour bar labelled `units`."""
    masked = np.ma.masked_invalid(np.asarray(data, dtype=float))
    im = ax.imshow(masked, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    integer_ticks(ax, data.shape)
    ax.figure.colorbar(im, ax=ax, label=units)


def integer_ticks(ax, shape):
    """At most about 10 integer ticks per axis of an image of `shape` [rows, cols]."""
    rows, cols = shape[0], shape[1]
    ax.set_yticks(range(0, rows, max(1, rows // 10)))
    ax.set_xticks(range(0, cols, max(1, cols // 10)))
