"""The report's HTML: one self-contained page (inline CSS, figures as data: URLs, no
script, nothing fetched)."""
import html
import math
import os

from . import data, rope_figures, static_figures, sweep_figures

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-family: monospace; } .note { color: #a40; }
"""
SKIPPED_ATTRS = {"columns", "source", "qkgeom_kind"}


def esc(text):
    return html.escape(str(text))


def figure_html(fig):
    return (f'<figure><h3>{esc(fig.title)}</h3><img src="data:image/png;base64,{fig.png_base64}" '
            f'alt="{esc(fig.alt)}"><figcaption>{esc(fig.caption)}</figcaption></figure>')


def note(text):
    return f'<p class="note">{esc(text)}</p>'


def sweep_sections(sweep):
    """(HTML, figures) of the sweep's sections; a note where a metric group is absent."""
    ok = data.ok_probes(sweep)
    if ok.sizes["probe"] == 0:
        return note(f"No probe with status ok among {sweep.sizes['probe']}: nothing to draw."), []
    ok, notes = data.finite_probes(ok, data.drawn(data.SWEEP_GROUPS, ok))
    figs, parts = [], [note(n) for n in notes] + ["<h2>Attention statistics</h2>"]
    if "attention/entropy" in ok:
        figs.append(sweep_figures.attention_heatmaps(ok))
        parts.append(figure_html(figs[-1]))
    else:
        parts.append(note("No attention/ columns: the sweep ran without --metrics attention."))
    parts.append("<h2>Key geometry and composite</h2>")
    if "bo/composite" in ok:
        for make in (sweep_figures.layer_curves, sweep_figures.composite_by_domain,
                     sweep_figures.features_by_domain):
            figs.append(make(ok))
            parts.append(figure_html(figs[-1]))
    else:
        parts.append(note("No bo/ columns: the sweep ran without --metrics bo."))
    return "\n".join(parts), figs


def static_sections(static, sweep):
    """(HTML, figures) of STATIC.h5's sections, with the static-vs-dynamic comparison."""
    figs = []
    parts = ["<h2>Static operator geometry</h2>"] + [
        note(n) for n in data.nonfinite_notes(static, data.drawn(data.STATIC_GROUPS, static), "STATIC.h5")]
    if "align/cos_matrix" in static:
        figs += [static_figures.cosine_matrix(static), static_figures.principal_angles(static)]
        parts += [figure_html(f) for f in figs]
    else:
        parts.append(note("No align/ group: run `qkgeom align --static FILE` for the cosines and angles."))
    for make in (static_figures.descriptor_heatmaps, static_figures.spectra):
        figs.append(make(static))
        parts.append(figure_html(figs[-1]))
    ok = data.finite_probes(data.ok_probes(sweep), data.drawn(data.SWEEP_GROUPS, sweep))[0]
    if "attention/entropy" in ok and ok.sizes["probe"] > 0:
        parts.append("<h2>Static against dynamic</h2>")
        figs.append(static_figures.static_vs_dynamic(static, ok))
        parts += [figure_html(figs[-1]), correlation_table(static_figures.correlation_rows(static, ok))]
    return "\n".join(parts), figs


def rope_section(rope):
    """(HTML, figures) of ROPE.h5: band profiles, operator size by offset, and with a sweep/
    group the implied against the measured attention by distance."""
    figs = [rope_figures.band_profiles(rope), rope_figures.norm_by_offset(rope)]
    if "sweep/implied_mass" in rope:
        figs.append(rope_figures.sweep_mass(rope))
    checked = [n for n in data.drawn(data.ROPE_GROUPS, rope) if n != "sweep/spearman"]  # NaN: undefined there
    parts = (["<h2>RoPE-aware operator geometry</h2>"] + [note(n) for n in data.nonfinite_notes(rope, checked, "ROPE.h5")]
             + [figure_html(f) for f in figs])
    if len(figs) == 2:
        parts.append(note("No sweep/ group: run `qkgeom rope-geometry --sweep RESULTS.h5` on a sweep made "
                          "with --save-kv qkv for the implied against measured attention by distance."))
    shaping = rope_figures.logit_shaping_rows(rope) if len(figs) == 3 else None
    if shaping is not None:
        parts.append(shaping_table(shaping))
    return "\n".join(parts), figs


def shaping_table(rows):
    """The layers' sliding windows and soft-caps, which E(D) and the implied mass above use."""
    body = "".join(f"<tr><td>{esc(layers)}</td><td>{esc(w)}</td><td>{esc(c)}</td></tr>" for layers, w, c in rows)
    return ('<table class="shaping"><caption>Expected logit E(D) by layer: the logit soft-cap C (E is stored '
            "capped, C tanh(x / C)) and the sliding window w (the implied mass uses D &lt; w only)</caption>"
            "<tr><th>layers</th><th>sliding window w (positions)</th><th>soft-cap C (logits)</th></tr>"
            f"{body}</table>")


def correlation_table(rows):
    """Pearson and Spearman of each exact descriptor against the dynamic statistics."""
    head = "".join(f"<th>{esc(label)}: Pearson r</th><th>Spearman ρ</th>" for _, label in static_figures.DYNAMIC)
    body = []
    for name, cells in rows:
        tds = "".join(f'<td class="num">{signed(r)}</td><td class="num">{signed(rho)}</td>' for r, rho, _ in cells)
        body.append(f'<tr><td>{esc(name)}</td><td class="num">{cells[0][2]}</td>{tds}</tr>')
    return (f'<table class="correlations"><tr><th>exact descriptor</th><th>(layer, head) pairs</th>{head}</tr>'
            f'{"".join(body)}</table>')


def signed(x):
    """x with its sign and three decimals; 'n/a' when it is undefined (NaN: too few pairs, a constant side)."""
    return f"{x:+.3f}" if math.isfinite(x) else "n/a"


def provenance_table(ds, title):
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(shorten(v))}</td></tr>"
                   for k, v in ds.attrs.items() if k not in SKIPPED_ATTRS)
    return f"<h3>{esc(title)}: {esc(ds.attrs['source'])}</h3><table class=\"provenance\">{rows}</table>"


def shorten(value, limit=300):
    text = str(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def summary(sweep):
    ok = data.ok_probes(sweep)
    a = sweep.attrs
    grid = f", {sweep.sizes['layer']} layers x {sweep.sizes['head']} query heads" if "head" in sweep.sizes else ""
    return (f"<p>Model <b>{esc(a.get('model_path', '?'))}</b>: {sweep.sizes['probe']} probes "
            f"({ok.sizes['probe']} with status ok){grid}; run status {esc(a.get('status', '?'))}, "
            f"device {esc(a.get('device', '?'))}, dtype {esc(a.get('dtype', '?'))}, qkgeom "
            f"{esc(a.get('engine_version', '?'))} ({esc(a.get('git_sha', '?'))}).</p>")


def compare_section(path, figs):
    """The figures of a compare file (compare_figures.py), under their heading."""
    head = f"<h2>Comparison between models</h2><p>From {esc(os.path.abspath(path))} (qkgeom compare).</p>"
    return head + "\n".join(figure_html(f) for f in figs)


def build_page(sweep, static, compare=None, rope=None):
    """(HTML text, number of figures) of the report of `sweep`, `static` (or None),
    `compare` ((CMP.h5 path, its Rendered figures), or None) and `rope` (ROPE.h5, or None)."""
    body, figs = sweep_sections(sweep)
    parts = [summary(sweep), body]
    if static is not None:
        sbody, sfigs = static_sections(static, sweep)
        parts.append(sbody)
        figs += sfigs
    if rope is not None:
        rbody, rfigs = rope_section(rope)
        parts.append(rbody)
        figs += rfigs
    if compare is not None:
        parts.append(compare_section(*compare))
        figs += compare[1]
    missing = "".join(sorted({c for f in figs for c in f.missing_glyphs}))
    if missing:
        parts.append(note(f"No installed font has the character(s) {' '.join(missing)} (probe domains, file "
                          "names): the figures draw them as boxes."))
    parts.append("<h2>Provenance</h2>" + provenance_table(sweep, "Sweep"))
    if static is not None:
        parts.append(provenance_table(static, "Static geometry"))
    if rope is not None:
        parts.append(provenance_table(rope, "RoPE-aware geometry"))
    title = f"qkgeom report: {sweep.attrs.get('model_path', sweep.attrs['source'])}"
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{esc(title)}</h1>\n" + "\n".join(parts) + "\n</body></html>\n")
    return page, len(figs)
