"""The report's inputs: the sweep store and STATIC.h5 read with qkgeom.open, checked
(kind, model, shapes), and the per-probe and per-head selections the figures draw."""
import os

import numpy as np
import pandas as pd

from ..reader import KINDS, require_not_truncated, text
from ..reader import open as open_file


class ReportError(Exception):
    """A bad input or output: its message names the file; `code` is the exit code (docs/cli.md)."""

    def __init__(self, message, code=3):
        super().__init__(message)
        self.code = code


IDENTITY = ("model_config_sha256", "model_weights_index_sha256")
WANTED = {"sweep": "a sweep store (qkgeom sweep)", "static": "a STATIC.h5 (qkgeom weights)",
          "rope": "a ROPE.h5 (qkgeom rope-geometry)"}


# The datasets each figure group draws, with their axes as qkgeom.open names them: a group
# present in a file (its first dataset there) must be whole, else the file is damaged.
SWEEP_GROUPS = (
    {"attention/entropy": ("probe", "layer", "head"), "attention/logit_std": ("probe", "layer", "head"),
     "attention/sink_mass": ("probe", "layer", "head")},
    {"bo/composite": ("probe",), "bo/layer_coherence": ("probe", "layer"),
     "bo/layer_cross_alignment": ("probe", "layer_pair"), "bo/features": ("probe", "feature")},
)
STATIC_GROUPS = (
    {"exact/op": ("layer", "head"), "exact/rank_eff": ("layer", "head"), "exact/spec_ent": ("layer", "head"),
     "exact/anisotropy": ("layer", "head"), "exact/singular_values": ("layer", "head", "singular")},
    {"align/cos_matrix": ("layer", "other_layer"), "align/pa_mean_cos": ("layer",),
     "align/pa_min_cos": ("layer",), "align/pa_top1_overlap": ("layer",)},
)
ROPE_GROUPS = (
    {"offsets": ("offset",), "bands/share": ("layer", "head", "band"),
     "bands/invariant_fraction": ("layer", "head", "band"), "operator/op": ("layer", "head", "offset"),
     "operator/fro": ("layer", "head", "offset")},
    {"sweep/implied_mass": ("layer", "head", "bucket"), "sweep/measured_mass": ("layer", "head", "bucket"),
     "sweep/spearman": ("layer", "head")},
)
GROUPS = {"sweep": SWEEP_GROUPS, "static": STATIC_GROUPS, "rope": ROPE_GROUPS}
REQUIRED = {"sweep": 0, "static": 1, "rope": 1}  # groups every file of the kind has (static: exact/, rope: all but sweep/)
GROUP_ATTRS = {"align/cos_matrix": ("align/anchor", "align/topk")}


def load(path, kind):
    """qkgeom.open(path) of a file that must be of `kind` ('sweep', 'static' or 'rope') and hold
    whole the groups the figures draw; ReportError else."""
    try:
        ds = open_file(path, ragged=False)
    except FileNotFoundError as e:
        raise ReportError(f"{path}: no such file") from e
    except (ValueError, OSError) as e:
        raise ReportError(str(e) if str(path) in str(e) else f"{path}: {e}") from e
    if ds.attrs["qkgeom_kind"] != kind:
        raise ReportError(f"{path}: a {ds.attrs['qkgeom_kind']} file, not {WANTED[kind]}")
    for i, group in enumerate(GROUPS[kind]):
        if i < REQUIRED[kind] or next(iter(group)) in ds:
            check_group(ds, path, group)
    return ds


def check_group(ds, path, group):
    """ReportError naming the dataset when one of `group` ({name: axes}) is absent from ds or
    has other axes (another rank, or a size that disagrees with the file's other datasets,
    which qkgeom.open names axis_<size>), or a root attribute the group needs is absent."""
    for name, dims in group.items():
        if name not in ds:
            raise ReportError(f"{path}: no dataset /{name}: a damaged or incomplete file")
        have = ds[name].dims
        if tuple(have) != dims:
            sizes = ", ".join(f"{d} {ds.sizes[d]}" for d in have)
            raise ReportError(f"{path}: /{name} has axes ({sizes}), not ({', '.join(dims)}) as the file's "
                              "other datasets: a damaged file")
        for attr in GROUP_ATTRS.get(name, ()):
            if attr not in ds.attrs:
                raise ReportError(f"{path}: no attribute {attr}: a damaged or incomplete file")


def load_compare(path):
    """The figures of a `qkgeom compare --out` file (kind qkgeom-compare); ReportError else."""
    import h5py

    from .compare_figures import compare_figures

    if not os.path.isfile(path):
        raise ReportError(f"{path}: no such file" if not os.path.exists(path) else f"{path}: not a file")
    if not h5py.is_hdf5(path):
        raise ReportError(f"{path}: not an HDF5 file")
    try:
        require_not_truncated(path)
        with h5py.File(path, "r") as f:
            kind = text(f.attrs.get("kind", ""))
            sweep = "probe/index" in f and "columns" in f.attrs
    except (OSError, ValueError) as e:
        raise ReportError(str(e) if str(path) in str(e) else f"{path}: {e}") from e
    if kind != "qkgeom-compare":
        what = KINDS.get(kind, "sweep" if sweep else None)
        found = f"a {what} file" if what else f"root attribute 'kind' is {kind!r}"
        raise ReportError(f"{path}: not a CMP.h5 of qkgeom compare ({found})")
    return compare_figures(path)


def check_pair(sweep, static, sweep_path, static_path, grid="exact/op"):
    """ReportError unless the two files are of one model with one (layer, head) grid (the
    first two axes of `static`'s variable `grid`)."""
    for key in IDENTITY:
        a, b = sweep.attrs.get(key), static.attrs.get(key)
        if a and b and a != b:
            raise ReportError(f"{static_path}: attribute '{key}' is '{b}' here but '{a}' in {sweep_path}: "
                              "files of two different models")
    if "attention/entropy" in sweep:
        have, sgrid = sweep["attention/entropy"].shape[1:], static[grid].shape[:2]
        if tuple(have) != tuple(sgrid):
            raise ReportError(f"{static_path}: {sgrid[0]} layers x {sgrid[1]} heads, but {sweep_path} has "
                              f"{have[0]} x {have[1]}")


def drawn(groups, ds):
    """The names of `groups` ({name: axes} each) present in ds."""
    return [name for group in groups for name in group if name in ds]


def finite_probes(sweep, names):
    """(sweep with every NaN or Inf of the per-probe columns `names` set to NaN, notes): one
    note per column that holds any, naming it, its probes' count and first ids; the figures
    leave those values out (a probe of status ok should hold none: the store is damaged)."""
    notes, ids = [], sweep["probe/id"].values if "probe/id" in sweep.coords else sweep["probe"].values
    for name in names:
        v = sweep[name].values
        if v.dtype.kind != "f":
            continue
        bad = ~np.isfinite(v)
        rows = np.flatnonzero(bad.reshape(len(v), -1).any(axis=1)) if v.size else []
        if len(rows):
            first = ", ".join(str(ids[i]) for i in rows[:5]) + (", ..." if len(rows) > 5 else "")
            notes.append(f"{name}: {len(rows)} of {len(v)} probes with status ok hold NaN or Inf ({first}); "
                         "left out of its figures")
            sweep = sweep.assign({name: sweep[name].where(~bad)})
    return sweep, notes


def nonfinite_notes(ds, names, label):
    """One note per variable of `names` in ds that holds NaN or Inf (left blank in the figures)."""
    notes = []
    for name in names:
        v = np.asarray(ds[name].values)
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            notes.append(f"{label} /{name}: {int((~np.isfinite(v)).sum())} of {v.size} values are NaN or Inf; "
                         "left out of its figures")
    return notes


def ok_probes(sweep):
    """The sweep restricted to the probes whose probe/status is `ok` (those with numbers)."""
    if "probe/status" not in sweep.coords:
        return sweep
    return sweep.isel(probe=np.flatnonzero(sweep["probe/status"].values == "ok"))


def domains(sweep):
    """Each probe's domain, '(none)' where the probe file gave none."""
    d = sweep["probe/domain"].values if "probe/domain" in sweep.coords else np.full(sweep.sizes["probe"], "")
    return np.where(d == "", "(none)", d)


def head_means(sweep, name):
    """Mean of per-probe column `name` [probe, layer, head] over the probes with a finite value
    (NaN where none has): [layer, head]."""
    return sweep[name].where(np.isfinite(sweep[name])).mean("probe", skipna=True).values


def pearson(x, y):
    """Pearson's r of two 1-D arrays; NaN when either is constant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.corrcoef(x, y)[0, 1])


def correlation(x, y):
    """(Pearson, Spearman, pairs used) of x and y over the pairs where both are finite;
    Spearman is Pearson's r of the ranks, ties given their mean rank."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return float("nan"), float("nan"), len(x)
    rank = lambda v: pd.Series(v).rank(method="average").to_numpy()  # noqa: E731
    return pearson(x, y), pearson(rank(x), rank(y)), len(x)
