"""The string columns of a sweep store, read with h5py (docs/hdf5-schema.md, "Strings").

Schema v5 keeps each string column as a text column: its dataset (e.g. /probe/id) holds
per row the int64 end offset of the value in a 1-D uint8 dataset of UTF-8 bytes, named by
its attribute `utf8_bytes` (/probe/id_utf8). Value i is bytes[end[i-1]:end[i]] (start 0).
Files of schema v4 and before hold HDF5 strings (fixed or variable length) instead; both
are read here."""
import numpy as np


def is_text(d):
    """Whether h5py dataset d is a text column (v5)."""
    return "utf8_bytes" in d.attrs


def _name(v):
    return v.decode("utf-8", "surrogateescape") if isinstance(v, (bytes, np.bytes_)) else str(v)


def _bytes_dataset(d):
    """The 1-D uint8 bytes dataset text column d names; ValueError when it is missing or
    of another kind."""
    import h5py
    name = _name(d.attrs["utf8_bytes"]) if isinstance(d.attrs["utf8_bytes"], (str, bytes)) else ""
    data = d.file.get(name) if name else None
    if not isinstance(data, h5py.Dataset) or data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"/{d.name.lstrip('/')}: its bytes dataset '{name}' (attribute utf8_bytes) "
                         "is missing or not 1-D uint8: a damaged file")
    return data


def raw_strings(d, stop=None):
    """Rows [:stop] of string column d (a text column, or an HDF5 string dataset) as bytes,
    exactly as stored (NUL bytes and bytes that are not UTF-8 kept)."""
    if not is_text(d):
        import h5py
        if h5py.check_string_dtype(d.dtype) is None:
            raise ValueError(f"/{d.name.lstrip('/')} does not hold strings")
        rows = d[: d.shape[0] if stop is None else stop]
        return [r if isinstance(r, bytes) else bytes(r) for r in rows]
    if d.dtype != np.int64 or d.ndim != 1:
        raise ValueError(f"/{d.name.lstrip('/')}: a text column holds 1-D int64 end offsets, not "
                         f"{d.dtype} of shape {list(d.shape)}: a damaged file")
    ends = np.asarray(d[: d.shape[0] if stop is None else stop], dtype=np.int64)
    if not len(ends):
        return []
    data = _bytes_dataset(d)
    starts = np.concatenate(([0], ends[:-1]))
    if (ends < starts).any() or ends[-1] > data.shape[0]:
        raise ValueError(f"/{d.name.lstrip('/')}: its end offsets are not ascending within "
                         f"/{data.name.lstrip('/')} ({data.shape[0]} bytes): a damaged file")
    blob = data[: int(ends[-1])].tobytes()
    return [blob[a:b] for a, b in zip(starts.tolist(), ends.tolist())]


def strings(d, stop=None, errors="surrogateescape"):
    """Rows [:stop] of string column d as str: UTF-8 decoded (bytes that are not UTF-8 as
    lone surrogates with the default `errors`, as os.fsdecode does)."""
    return [r.decode("utf-8", errors) for r in raw_strings(d, stop)]
