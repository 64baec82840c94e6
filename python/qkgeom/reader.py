"""qkgeom.open: a qkgeom HDF5 file as an xarray Dataset.

The six kinds of file (a sweep store, STATIC.h5, a simplex table, a head-dim table, a
CMP.h5 of qkgeom compare, ROPE.h5 of qkgeom rope-geometry) are told apart by their root
attributes. Every dataset becomes a variable under its path (`attention/entropy`,
`exact/spec_ent`, `cv`) with named dimensions, strings as `str`, `units` and
`description` in its attrs; the root attributes (provenance) are the
Dataset's attrs. The file is read whole into memory and closed before returning.
"""
import builtins
import os

import numpy as np

from . import reader_schema as schema
from . import text as text_columns

try:  # `import qkgeom` works without them; open() says what is missing
    import h5py
    import xarray as xr
except ImportError as e:
    MISSING = e.name
else:
    MISSING = None

KINDS = {"qkgeom-static": "static", "qkgeom-simplex": "simplex", "qkgeom-headdim": "headdim",
         "qkgeom-compare": "compare", "qkgeom-rope-geometry": "rope"}


def open(path, ragged=True):
    """The file at `path` as an xarray.Dataset (docs/python.md, "Reading files").

    A sweep store still being written is read up to its committed probe count. With
    ragged=False a sweep's per-token columns (`tokens/ids`, `kv/*`) are left out.
    Raises FileNotFoundError for a missing file and ValueError naming the file for one
    that is not HDF5 or of no known kind."""
    if MISSING:
        raise ImportError(f"qkgeom.open needs the Python package {MISSING} (make deps, or pip install -r "
                          "scripts/requirements.txt)", name=MISSING)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no such file", path)
    if os.path.isdir(path):
        raise ValueError(f"{path}: a directory, not an HDF5 file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file")
    require_not_truncated(path)
    try:
        f = h5py.File(path, "r", libver="latest", swmr=True)
    except OSError as e:
        raise OSError(f"{path}: cannot be opened as HDF5 ({e})") from e
    with f:
        kind = file_kind(f, path)
        if kind == "sweep":
            ds = read_sweep(f, path, ragged)
        else:
            ds = read_table_file(f, kind, path)
        ds.attrs = provenance(f, kind, path)
        if kind == "sweep":
            ds.attrs["probes_read"] = ds.sizes.get("probe", 0)
    return ds


def stored_eof(block):
    """The end-of-file address an HDF5 superblock (superblock versions 0-3, 4- or 8-byte
    offsets) at the start of bytes `block` records, or None when `block` holds none."""
    if len(block) < 12 or block[:8] != b"\x89HDF\r\n\x1a\n" or block[8] > 3:
        return None
    version = block[8]
    size = block[9] if version >= 2 else (block[13] if len(block) > 13 else 0)
    if size not in (4, 8):
        return None
    at = 12 + 2 * size if version >= 2 else (28 if version == 1 else 24) + 2 * size
    if at + size > len(block):
        return None
    eof = int.from_bytes(block[at:at + size], "little")
    return None if eof == (1 << (8 * size)) - 1 else eof


def require_not_truncated(path):
    """ValueError naming `path` when the file is shorter than the end of file its superblock
    records (a copy cut short, a full disk), as the C++ readers check (io/store/h5_superblock.cpp);
    HDF5's SWMR reader would otherwise retry its reads past the end for minutes."""
    size = os.path.getsize(path)
    with builtins.open(path, "rb") as fh:
        at = 0
        while at + 12 <= size:  # the superblock sits at 0, 512, 1024, ... (after a user block)
            fh.seek(at)
            eof = stored_eof(fh.read(96))
            if eof is not None:
                if size < eof:
                    raise ValueError(f"{path}: corrupt or truncated HDF5: truncated ({size} of {eof} bytes); "
                                     f"the data past byte {size} is lost")
                return
            at = at * 2 if at else 512


def file_kind(f, path):
    """'sweep', 'static', 'simplex', 'headdim', 'compare' or 'rope' from the root attributes of open file f."""
    kind = text(f.attrs.get("kind", ""))
    if kind in KINDS:
        return KINDS[kind]
    if "probe/index" in f and "columns" in f.attrs:
        return "sweep"
    known = ", ".join(KINDS)
    raise ValueError(f"{path}: not a qkgeom file of a known kind (root attribute 'kind' is "
                     f"{kind!r}, not one of {known}; and no sweep store: no /probe/index and 'columns')")


def text(v):
    """An attribute or string element as str (fixed-length strings come as bytes; bytes that
    are not UTF-8, as in a file name, kept as os.fsdecode keeps them)."""
    return v.decode("utf-8", "surrogateescape") if isinstance(v, (bytes, np.bytes_)) else str(v)


def attr_value(v):
    """An HDF5 attribute as a plain Python value: str, int, float or a list of them."""
    if isinstance(v, (bytes, np.bytes_, str)):
        return text(v)
    if isinstance(v, np.ndarray):
        return [attr_value(x) for x in v.tolist()] if v.ndim else attr_value(v.item())
    return v.item() if isinstance(v, np.generic) else v


def provenance(f, kind, path):
    """The Dataset's attrs: every root attribute (and a group's, as `group/name`), the kind
    and the absolute path of the file."""
    attrs = {"qkgeom_kind": kind, "source": os.path.abspath(path)}
    attrs.update({k: attr_value(v) for k, v in f.attrs.items()})
    for name, g in f.items():
        if isinstance(g, h5py.Group):
            attrs.update({f"{name}/{k}": attr_value(v) for k, v in g.attrs.items()})
    return attrs


def text_array(d, stop):
    """Rows [:stop] of text column d as a numpy str array; an object array of str when a value
    ends with NUL (numpy's fixed-width str drops trailing NULs) or when padding every value to
    the longest would take over 4 times the text (one long value among many short ones)."""
    rows = text_columns.strings(d, stop)
    chars = sum(map(len, rows))
    wide = len(rows) * max(map(len, rows), default=0) > 4 * chars + (1 << 20)
    if wide or any(r.endswith("\0") for r in rows):
        return np.array(rows, dtype=object)
    return np.array(rows, dtype=str) if rows else np.zeros((0,), str)


def values(d, stop=None):
    """Rows [:stop] of h5py dataset d as numpy, strings decoded to str."""
    if text_columns.is_text(d):
        return text_array(d, stop)
    sel = slice(None) if stop is None else slice(0, stop)
    if h5py.check_string_dtype(d.dtype) is None:
        return d[sel] if d.ndim else d[()]
    rows = d.asstr(errors="surrogateescape")[sel]  # a file name that is not UTF-8 keeps its bytes, as os does
    return np.array(rows, dtype=str) if len(rows) else np.zeros(d.shape[:0] + (0,) + d.shape[1:], str)


def read_rows(d, stop, path):
    """values(d, stop); ValueError naming the file and dataset when HDF5 cannot read it."""
    try:
        return values(d, stop)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: /{d.name.lstrip('/')} cannot be read ({e})") from e


def checked_dims(dims, d, path):
    """`dims` (a name per axis of dataset d); ValueError naming the dataset when their count
    differs from its rank (a damaged or hand-edited file)."""
    if len(dims) != d.ndim:
        raise ValueError(f"{path}: /{d.name.lstrip('/')} has shape {list(d.shape)}, but its axes are "
                         f"named {list(dims)} ({len(dims)} axes)")
    return dims


def label_coord(coords, dims, d, path):
    """The dataset's `labels` attribute as the coordinate of its last axis, when it has one;
    ValueError when there is one label too many or few."""
    if "labels" not in d.attrs:
        return
    labels = [text(x) for x in np.ravel(d.attrs["labels"])]
    if not dims or len(labels) != d.shape[-1]:
        raise ValueError(f"{path}: /{d.name.lstrip('/')} has {len(labels)} labels for an axis of "
                         f"{d.shape[-1] if d.ndim else 0}")
    coords[dims[-1]] = (dims[-1], labels)


def dataset_paths(f):
    """Every dataset's path in f, in creation order where the file records it."""
    paths = []
    f.visititems(lambda name, obj: paths.append(name) if isinstance(obj, h5py.Dataset) else None)
    order = [text(c) for c in f.attrs.get("columns", [])]
    return [p for p in order if p in paths] + [p for p in paths if p not in order]


def unique_dims(dims, shape, sizes):
    """dims, a name renamed to name_<size> where `sizes` (name -> size, updated) already
    has it with another size: the CSV export's rule (features -> feature, features7 -> feature_7)."""
    out = []
    for d, n in zip(dims, shape):
        if sizes.setdefault(d, n) != n:
            d = f"{d}_{n}"
            sizes.setdefault(d, n)
        out.append(d)
    return tuple(out)


def committed_rows(f, path):
    """(probes, {group: tokens}) committed in sweep store f: len(/probe/index), and per
    ragged group the end of its last probe's rows."""
    n = f["probe/index"].shape[0]
    ends = {}
    for name in f:
        g = f[name]
        if isinstance(g, h5py.Group) and "offset" in g and "count" in g:
            if g["offset"].shape[0] < n or g["count"].shape[0] < n:
                raise ValueError(f"{path}: /{name}/offset or count is shorter than the {n} committed probes")
            ends[name] = int(g["offset"][n - 1] + g["count"][n - 1]) if n else 0
    return n, ends


# The string columns of a sweep store (host/core/quantities.cpp); every other column holds numbers.
STRING_COLUMNS = {"probe/id", "probe/domain", "probe/prompt", "probe/fields", "probe/status",
                  "probe/nonfinite_tensor", "probe/status_detail"}


def check_column_kind(name, d, path):
    """ValueError naming the file and dataset when a sweep column holds strings where a
    qkgeom store keeps numbers, or numbers where it keeps strings (e.g. probe/id rewritten
    as integers), instead of a Dataset with that column silently of another kind."""
    is_str = h5py.check_string_dtype(d.dtype) is not None or d.dtype.kind in "SUO" or text_columns.is_text(d)
    if is_str != (name in STRING_COLUMNS):
        held, kept = ("strings", "numbers") if is_str else (f"{d.dtype} numbers", "strings")
        raise ValueError(f"{path}: /{name} holds {held}, but a qkgeom sweep store keeps {kept} there")


def read_sweep(f, path, ragged):
    """A sweep store: per-probe columns along `probe` (its coordinate is /probe/index),
    ragged ones along `token`; `probe/*` columns are coordinates, `labels` name a row axis."""
    n, ends = committed_rows(f, path)
    variables, coords, sizes = {}, {}, {}
    paths = dataset_paths(f)
    text_bytes = {text(f[p].attrs["utf8_bytes"]).lstrip("/") for p in paths if text_columns.is_text(f[p])}
    for name in paths:
        if name in text_bytes and not text_columns.is_text(f[name]):  # a text column's bytes: read with it
            continue
        d = f[name]
        is_ragged = int(d.attrs.get("ragged", 0)) == 1
        if is_ragged and not ragged:
            continue
        check_column_kind(name, d, path)
        rows = ends[name.split("/")[0]] if is_ragged else n
        if d.shape[0] < rows:
            raise ValueError(f"{path}: /{name} holds {d.shape[0]} rows, fewer than the {rows} committed")
        row_dims = [text(x) for x in d.attrs.get("dims", [])] or [f"dim{i}" for i in range(d.ndim - 1)]
        data = read_rows(d, rows, path)
        dims = unique_dims(checked_dims(["token" if is_ragged else "probe", *row_dims], d, path), data.shape, sizes)
        attrs = {"units": text(d.attrs.get("units", "")), "description": text(d.attrs.get("description", ""))}
        label_coord(coords, dims, d, path)
        var = xr.Variable(dims, data, attrs)
        (coords if name.startswith("probe/") else variables)[name] = var
    coords["probe"] = ("probe", coords["probe/index"].values)
    return xr.Dataset(variables, coords)


def read_table_file(f, kind, path):
    """STATIC.h5, a simplex, head-dim, compare or ROPE.h5 file: dimensions from a dataset's `dims`
    attribute (CMP.h5's numbers) or reader_schema, units from reader_schema; `labels` name
    the last axis."""
    variables, coords, sizes = {}, {}, {}
    for name in dataset_paths(f):
        d = f[name]
        named = [text(x) for x in d.attrs.get("dims", [])]
        dims = unique_dims(checked_dims(named or schema.dims_of(kind, name, d.shape), d, path), d.shape, sizes)
        units, description = schema.describe(kind, name)
        variables[name] = xr.Variable(dims, read_rows(d, None, path), {"units": units, "description": description})
        label_coord(coords, dims, d, path)
    if kind == "compare":  # the paired statistics' domain axis: "all", then the domains
        if "domains" not in variables or variables["domains"].ndim != 1:
            raise ValueError(f"{path}: no 1-D dataset /domains: not a complete CMP.h5 of qkgeom compare")
        coords["domain"] = ("domain", variables["domains"].values)
    if "align/sign_k" in variables:  # STATIC.h5 after `qkgeom align`
        coords["k"] = ("k", variables["align/sign_k"].values.astype(np.int64))
        coords["third"] = ("third", ["early", "mid", "late"])
    return xr.Dataset(variables, coords)
