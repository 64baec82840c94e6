"""The report's inputs: the sweep store and STATIC.h5 read with qkgeom.open, checked
(kind, model, shapes), and the per-probe and per-head selections the figures draw."""
import os

import numpy as np
import pandas as pd

from ..reader import open as open_file


class ReportError(Exception):
    """A bad input or output: its message names the file; `code` is the exit code (docs/cli.md)."""

    def __init__(self, message, code=3):
        super().__init__(message)
        self.code = code


IDENTITY = ("model_config_sha256", "model_weights_index_sha256")
WANTED = {"sweep": "a sweep store (qkgeom sweep)", "static": "a STATIC.h5 (qkgeom weights)",
          "rope": "a ROPE.h5 (qkgeom rope-geometry)"}


def load(path, kind):
    """qkgeom.open(path) of a file that must be of `kind` ('sweep', 'static' or 'rope'); ReportError else."""
    try:
        ds = open_file(path, ragged=False)
    except FileNotFoundError as e:
        raise ReportError(f"{path}: no such file") from e
    except (ValueError, OSError) as e:
        raise ReportError(str(e) if str(path) in str(e) else f"{path}: {e}") from e
    if ds.attrs["qkgeom_kind"] != kind:
        raise ReportError(f"{path}: a {ds.attrs['qkgeom_kind']} file, not {WANTED[kind]}")
    return ds


def load_compare(path):
    """The figures of a `qkgeom compare --out` file (kind qkgeom-compare); ReportError else."""
    import h5py

    from .compare_figures import compare_figures

    if not os.path.exists(path):
        raise ReportError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise ReportError(f"{path}: not an HDF5 file")
    with h5py.File(path, "r") as f:
        kind = f.attrs.get("kind", "")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind != "qkgeom-compare":
        raise ReportError(f"{path}: not a CMP.h5 of qkgeom compare (root attribute 'kind' is {kind!r})")
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
    """Mean of per-probe column `name` [probe, layer, head] over the probes: [layer, head]."""
    return sweep[name].mean("probe").values


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
