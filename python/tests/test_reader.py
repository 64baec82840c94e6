"""qkgeom.open against plain h5py reads of the same files: every dataset's values (strings
decoded), its dimension names and sizes, units, provenance; a sweep still being written;
errors for files of no known kind."""
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qk_files  # noqa: E402

import qkgeom  # noqa: E402

STATIC_DIMS = {  # docs/static-geometry.md, STATIC.h5: dataset -> dims as attributes of the file
    "exact/singular_values": ("num_layers", "num_heads", "head_dim"),
    "exact/spec_ent": ("num_layers", "num_heads"),
    "shortcut/condition": ("num_layers", "num_heads"),
    "operator/gram": ("num_layers", "num_layers", "num_heads"),
    "symmetric/eigenvectors": ("num_layers", "num_heads", "topk", "hidden_size"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    if not os.access(qk_files.QKGEOM_BIN, os.X_OK):
        pytest.skip(f"{qk_files.QKGEOM_BIN} is not built")
    return qk_files.make_files(str(tmp_path_factory.mktemp("files")))


def h5_values(d, n=None):
    """Dataset d's rows [:n] as h5py gives them, strings decoded with UTF-8."""
    if "utf8_bytes" in d.attrs:  # a text column (docs/hdf5-schema.md "Strings"), decoded here
        ends = d[()] if n is None else d[:n]
        blob = d.file[d.attrs["utf8_bytes"]][()].tobytes()
        return np.array([blob[a:b].decode("utf-8") for a, b in zip([0, *ends[:-1]], ends)], dtype=object)
    raw = d[()] if n is None else d[:n]
    if h5py.check_string_dtype(d.dtype) is None:
        return raw
    return np.array([x.decode("utf-8") for x in np.ravel(raw)], dtype=object).reshape(np.shape(raw))


def h5_text(v):
    if isinstance(v, bytes | np.bytes_):
        return v.decode()
    if isinstance(v, np.ndarray):
        return [h5_text(x) for x in v]
    return v


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "OU" or b.dtype.kind in "OU":
        return a.shape == b.shape and [str(x) for x in a.ravel()] == [str(x) for x in b.ravel()]
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def check_provenance(ds, f):
    for k, v in f.attrs.items():
        got, want = ds.attrs[k], h5_text(v)
        want = want.tolist() if isinstance(want, np.ndarray | np.generic) else want
        assert got == want, f"attribute {k}: {got!r} != {want!r}"
        assert not isinstance(got, bytes)


def test_sweep_against_h5py(files):
    ds = qkgeom.open(files["sweep"])
    with h5py.File(files["sweep"], "r") as f:
        n = len(f["probe/index"])
        paths = []
        f.visititems(lambda p, o: paths.append(p) if isinstance(o, h5py.Dataset) and not p.endswith("_utf8") else None)
        for p in paths:
            d = f[p]
            rows = n if not d.attrs["ragged"] else int(f["kv/offset"][-1] + f["kv/count"][-1])
            assert same(ds[p].values, h5_values(d, rows)), p
            first = "token" if d.attrs["ragged"] else "probe"
            dims = [first] + [h5_text(x) for x in d.attrs["dims"]]
            assert [x.split("_7")[0] for x in ds[p].dims] == dims, p
            assert ds[p].attrs["units"] == h5_text(d.attrs["units"]), p
        check_provenance(ds, f)
        labels = [h5_text(x) for x in f["bo/features7"].attrs["labels"]]
    assert list(ds["bo/features7"].coords[ds["bo/features7"].dims[1]].values) == labels
    assert ds.attrs["qkgeom_kind"] == "sweep" and ds.attrs["status"] == "complete"
    assert ds["attention/entropy"].dims == ("probe", "layer", "head")
    assert ds["kv/k"].dims == ("token", "layer", "kv_head", "dim")
    assert ds["attention/entropy"].attrs["units"] == "nats"
    assert list(ds["probe"].values) == list(range(n))
    lean = qkgeom.open(files["sweep"], ragged=False)
    assert "kv/k" not in lean and "tokens/ids" not in lean and "token" not in lean.sizes
    assert "kv/offset" in lean and lean["bo/composite"].equals(ds["bo/composite"])


def test_strings_decoded(files):
    ds = qkgeom.open(files["sweep"])
    for name in ("probe/id", "probe/domain", "probe/fields", "probe/status"):
        assert ds[name].dtype.kind == "U", name
    assert set(ds["probe/domain"].values) == set(qk_files.DOMAINS)
    assert ds["probe/id"].values[1] == "probe-0001-é"
    assert '"note":"probe 2 ünïcode ✓"' in ds["probe/fields"].values[2]
    means = ds["attention/mean_entropy"].groupby("probe/domain").mean()
    assert set(means["probe/domain"].values) == set(qk_files.DOMAINS)
    for key, v in ds.attrs.items():
        assert not isinstance(v, bytes | np.bytes_), key


def test_text_columns_exact(files, tmp_path):
    """A text column's values come back exactly (docs/hdf5-schema.md "Strings"), written here
    with h5py: NUL inside and at the end (numpy's str would drop it: an object array then),
    emoji, bytes that are not UTF-8 (as surrogateescape), one long value among short ones
    (no padding to it); qkgeom.text reads the same, and a v4 file's HDF5 strings too."""
    path = str(tmp_path / "text.h5")
    with h5py.File(files["sweep"], "r") as f:
        n = len(f["probe/index"])
    want = [b"a\x00b", b"end\x00", "\u00e9\U0001F600".encode(), b"bad \xff \xed\xb3\xbf", b"x" * 300000]
    want = (want * n)[:n]
    subprocess.run(["cp", files["sweep"], path], check=True)
    with h5py.File(path, "r+") as f:
        d, b = f["probe/prompt"], f[f["probe/prompt"].attrs["utf8_bytes"]]
        blob = b"".join(want)
        b.resize((len(blob),))
        b[:] = np.frombuffer(blob, np.uint8)
        d[:] = np.cumsum([len(x) for x in want])
        assert qkgeom.text.raw_strings(d) == want
        assert qkgeom.text.strings(f["probe/id"]) == list(h5_values(f["probe/id"]))
    got = qkgeom.open(path)["probe/prompt"].values
    assert got.dtype == object and list(got) == [x.decode("utf-8", "surrogateescape") for x in want]
    with h5py.File(path, "r+") as f:  # the same strings as a v4 file keeps them (no NUL there)
        del f["probe/prompt"], f["probe/prompt_utf8"]
        f["probe/prompt"] = np.array([x.replace(b"\x00", b"") for x in want], dtype=h5py.string_dtype("utf-8", 300000))
        assert qkgeom.text.raw_strings(f["probe/prompt"]) == [x.replace(b"\x00", b"") for x in want]


def _damage_text(f, how):
    """Damages text column /probe/id of writable h5py File f as `how` says."""
    d = f["probe/id"]
    if how == "offsets f64":
        attrs, v = dict(d.attrs), d[()].astype(np.float64)
        del f["probe/id"]
        f.create_dataset("probe/id", data=v, maxshape=(None,))
        f["probe/id"].attrs.update(attrs)
    elif how == "bytes i32":
        v = f["probe/id_utf8"][()].astype(np.int32)
        del f["probe/id_utf8"]
        f.create_dataset("probe/id_utf8", data=v, maxshape=(None,))
    else:
        d.attrs["utf8_bytes"] = {"missing": "probe/nope", "deep": "a/b/c/d", "group": "probe", "itself": "probe/id"}[how]


@pytest.mark.parametrize("how", ["offsets f64", "bytes i32", "missing", "deep", "group", "itself"])
def test_damaged_text_column(files, tmp_path, how):
    """A text column of another dtype, or naming a bytes dataset that is missing, a group or
    not uint8: ValueError naming the file and dataset (i32 bytes read as u8 gave NULs)."""
    path = str(tmp_path / "damaged.h5")
    subprocess.run(["cp", files["sweep"], path], check=True)
    with h5py.File(path, "r+") as f:
        _damage_text(f, how)
    with pytest.raises(ValueError, match=r"damaged\.h5: /probe/id .*a damaged file"):
        qkgeom.open(path)


@pytest.mark.parametrize("kind", ["static", "simplex", "headdim", "compare"])
def test_table_files_against_h5py(files, kind):
    ds = qkgeom.open(files[kind])
    assert ds.attrs["qkgeom_kind"] == kind
    with h5py.File(files[kind], "r") as f:
        paths = []
        f.visititems(lambda p, o: paths.append(p) if isinstance(o, h5py.Dataset) else None)
        assert sorted(ds.data_vars) == sorted(paths)
        for p in paths:
            assert same(ds[p].values, h5_values(f[p])), p
        check_provenance(ds, f)
        for g in f.values():
            if isinstance(g, h5py.Group):
                for k, v in g.attrs.items():
                    assert ds.attrs[f"{g.name[1:]}/{k}"] == h5_text(v).__class__(h5_text(v))
        if kind == "static":
            for p, dims in STATIC_DIMS.items():
                assert ds[p].shape == tuple(int(f.attrs[a]) for a in dims), p
    if kind == "static":
        assert ds["exact/singular_values"].dims == ("layer", "head", "singular")
        assert ds["operator/gram"].dims == ("layer", "other_layer", "head")
        assert ds["exact/spec_ent"].attrs["units"] == "nats"
        assert ds.attrs["align/verdict"] in ("STRONG", "MEDIUM", "WEAK", "REJECTED")
    if kind == "simplex":
        assert ds["cv"].dims == ("matrix",) and ds["name"].values[0] == "embed_tokens"
    if kind == "headdim":
        assert ds["configs/acc_post"].dims == ("config",) and ds["cv"].dims == ("measurement",)
    if kind == "compare":
        check_compare_dims(ds, files[kind])


ROPE_DIMS = {  # docs/static-geometry.md, ROPE.h5: dataset -> dims as attributes of the file
    "inv_freq": ("num_layers", "num_bands"),
    "operator/singular_values": ("num_layers", "num_heads", "offsets", "head_dim"),
    "operator/rank_eff": ("num_layers", "num_heads", "offsets"),
    "bands/energy": ("num_layers", "num_heads", "offsets", "num_bands"),
    "bands/share": ("num_layers", "num_heads", "num_bands"),
    "sweep/mean_key": ("num_layers", "num_kv_heads", "head_dim"),
    "sweep/implied_mass": ("num_layers", "num_heads", 16),
}


def test_rope_file_against_h5py(files, tmp_path):
    """ROPE.h5 of rope-geometry --sweep: every dataset's values, sizes from the root attributes."""
    probes, kv, rope = str(tmp_path / "p.jsonl"), str(tmp_path / "kv.h5"), str(tmp_path / "rope.h5")
    qk_files.write_probes(probes, 4)
    qk_files.run("sweep", "--model", qk_files.MODEL, "--probes", probes, "--out", kv, "--device", "cpu",
                 "--threads", "1", "--save-kv", "qkv", "--metrics", "attention", "--quiet")
    qk_files.run("rope-geometry", "--model", qk_files.MODEL, "--sweep", kv, "--out", rope, "--offsets", "0,1,5")
    ds = qkgeom.open(rope)
    assert ds.attrs["qkgeom_kind"] == "rope" and ds.attrs["sweep/probes"] == 4
    with h5py.File(rope, "r") as f:
        paths = []
        f.visititems(lambda p, o: paths.append(p) if isinstance(o, h5py.Dataset) else None)
        assert sorted(ds.data_vars) == sorted(paths)
        for p in paths:
            assert same(ds[p].values, h5_values(f[p])), p
        size = lambda a: a if isinstance(a, int) else (3 if a == "offsets" else int(f.attrs[a]))  # noqa: E731
        for p, dims in ROPE_DIMS.items():
            assert ds[p].shape == tuple(size(a) for a in dims), p
    assert ds["bands/share"].dims == ("layer", "head", "band")
    assert ds["operator/op"].dims == ("layer", "head", "offset")
    assert ds["sweep/measured_mass"].attrs["units"] == "probability"


def check_compare_dims(ds, path):
    """CMP.h5: a number's dims are its `dims` attribute (a name taken with another size gets
    _<size>), a `labels` attribute names the last axis, strings lie along their group's axis."""
    with h5py.File(path, "r") as f:
        for name, d in f["paired"]["attention"].items():
            var = ds[f"paired/attention/{name}"]
            assert [x.split("_")[0] for x in var.dims] == [h5_text(x) for x in d.attrs["dims"]]
            assert list(var[var.dims[-1]].values) == [h5_text(x) for x in d.attrs["labels"]]
        assert ds["runs/file"].dims == ("run",) and ds.sizes["run"] == len(f["runs/file"])
        assert ds["probes/id"].dims == ("probe",) and ds.sizes["probe"] == len(f["probes/id"])
        assert ds["values/bo/composite"].dims == ("run", "probe")
        assert list(ds["domain"].values) == [h5_text(x) for x in f["domains"][()]]
        assert ds["paired/bo/composite"].sel(domain="all", stat="mean_diff").item() == \
            f["paired/bo/composite"][0, 0, [h5_text(x) for x in f["paired/bo/composite"].attrs["labels"]].index("mean_diff")]


def test_not_qkgeom_files(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
        f.attrs["kind"] = "something-else"
    with pytest.raises(ValueError, match=f"{plain}: not a qkgeom file"):
        qkgeom.open(plain)
    text = tmp_path / "notes.txt"
    text.write_text("not HDF5")
    with pytest.raises(ValueError, match=f"{text}: not an HDF5 file"):
        qkgeom.open(text)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        qkgeom.open(tmp_path / "missing.h5")


def poll_live(path, proc):
    """qkgeom.open of `path` while `proc` writes it: [(n, dataset)] of each read."""
    seen = []
    while proc.poll() is None:
        if os.path.exists(path):
            try:
                ds = qkgeom.open(path)
            except OSError:  # the writer has not entered SWMR mode yet
                continue
            seen.append((ds.sizes.get("probe", 0), ds))
        time.sleep(0.05)
    return seen


def test_live_writer(files, tmp_path):
    probes, out = str(tmp_path / "probes.jsonl"), str(tmp_path / "live.h5")
    qk_files.write_probes(probes, 1500)
    cmd = [qk_files.QKGEOM_BIN, *qk_files.sweep_cmd(probes, out, "--batch-tokens", "32")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = poll_live(out, proc)
    assert proc.wait() == 0, proc.stderr.read()
    final = qkgeom.open(out)
    partial = [(n, ds) for n, ds in seen if 0 < n < 1500]
    assert len({n for n, _ in partial}) >= 2, f"reads saw {[n for n, _ in seen]}"
    for n, ds in partial:
        assert ds.attrs["status"] == "running"
        tokens = int(ds["kv/offset"][-1] + ds["kv/count"][-1])
        assert ds.sizes["token"] == tokens
        for name, var in ds.variables.items():
            ref = final[name]
            if "probe" in var.dims:
                ref = ref.isel(probe=slice(0, n))
            if "token" in var.dims:
                ref = ref.isel(token=slice(0, tokens))
            assert same(var.values, ref.values), (n, name)
    assert final.attrs["status"] == "complete" and final.sizes["probe"] == 1500
