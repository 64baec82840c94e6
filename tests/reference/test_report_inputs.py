"""Damaged and odd inputs of `qkgeom compare`, qkgeom.open and `qkgeom report` (python -m
qkgeom.report, run in process). compare: empty axes, per-layer columns of two depths,
probe/id not of strings, a run without probes, a directory: exit 3 naming file and dataset;
NaN and Inf at ok probes: a warning naming column and probes, mean_diff over the finite
pairs as numpy computes it; a file given twice: a warning. report and qkgeom.open:
truncated files (which HDF5's SWMR reader would retry for minutes), datasets absent, of
another rank or of a size the file's other datasets disagree with, a CMP.h5 whose pairs
name no run, NaN and Inf among a sweep's ok probes (a note naming column and probe, the
means over the finite values as numpy computes them). Each error is exit 3 naming the
file and the dataset; never a traceback. A few seconds (tiny Qwen3 and Llama 3 fixtures)."""
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402

sys.path.insert(0, os.path.join(rc.BINARY_DIR, "python"))
MODELS = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")


def qk(*args):
    r = subprocess.run([rc.QKGEOM_BIN, *args], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"qkgeom {' '.join(args)}: exit {r.returncode}: {r.stderr[-400:]}")


def make_inputs(tmp):
    """{name: path}: sweeps of tiny Qwen3 (bo, attention, q/k saved) and Llama 3 over 6 probes,
    their CMP.h5, Qwen3's STATIC.h5 (with align/) and ROPE.h5 (with sweep/)."""
    probes = os.path.join(tmp, "probes.jsonl")
    with open(probes, "w", encoding="utf-8") as f:
        for i in range(6):
            ids = ", ".join(str((7 * i + 3 * j) % 100) for j in range(5 + 3 * i))
            f.write(f'{{"id": "p{i}", "domain": "{"α域"[i % 2]}", "ids": [{ids}]}}\n')
    p = {k: os.path.join(tmp, k + ".h5") for k in ("sweep", "llama", "cmp", "static", "rope")}
    common = ["--probes", probes, "--quiet", "--threads", "1", "--device", "cpu"]
    qk("sweep", "--model", os.path.join(MODELS, "qwen3"), "--out", p["sweep"], "--save-kv", "qkv", *common)
    qk("sweep", "--model", os.path.join(MODELS, "llama3"), "--out", p["llama"], *common)
    qk("compare", p["sweep"], p["llama"], "--out", p["cmp"], "--bootstrap", "20")
    qk("weights", "--model", os.path.join(MODELS, "qwen3"), "--out", p["static"], "--device", "cpu")
    qk("align", "--static", p["static"])
    qk("rope-geometry", "--model", os.path.join(MODELS, "qwen3"), "--sweep", p["sweep"], "--out", p["rope"],
       "--offsets", "0,1,4", "--threads", "1")
    return p


def variant(src, tmp, name, edit):
    """A copy of `src` named `name` with `edit(h5py.File)` applied."""
    dst = os.path.join(tmp, name)
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        edit(f)
    return dst


def truncated(src, tmp, frac):
    dst = os.path.join(tmp, f"cut{int(frac * 100)}-" + os.path.basename(src))
    data = open(src, "rb").read()
    open(dst, "wb").write(data[:int(len(data) * frac)])
    return dst, len(data)


def report(*args):
    """(exit code, stderr) of python -m qkgeom.report ARGS, run in this process."""
    from qkgeom.report.__main__ import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(args))
        except Exception as e:  # a traceback is a failure of this test, not a crash of it
            code = f"exception {type(e).__name__}: {e}"
    return code, err.getvalue()


def expect_bad(args, names, what):
    code, err = report(*args)
    check(code == 3 and all(n in err for n in names) and "Traceback" not in err,
          f"{what}: exit 3 naming {names} (got {code}: {err.strip()[-300:]})")


def replace(f, name, data):
    del f[name]
    f[name] = data


def test_open_truncated(p, tmp):
    """qkgeom.open of a cut sweep: a ValueError at once with both sizes, not minutes of SWMR retries."""
    cut, size = truncated(p["sweep"], tmp, 0.5)
    code = (f"import sys; sys.path.insert(0, {os.path.join(rc.BINARY_DIR, 'python')!r}); import qkgeom\n"
            f"try:\n    qkgeom.open({cut!r})\nexcept ValueError as e:\n    print(e)\n")
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        out = r.stdout
    except subprocess.TimeoutExpired:
        out = "hang (60 s)"
    want = f"{cut}: corrupt or truncated HDF5: truncated ({os.path.getsize(cut)} of {size} bytes)"
    check(want in out, f"qkgeom.open of a truncated sweep: {want!r} (got {out.strip()[-200:]!r})")
    for kind in ("cmp", "rope"):
        cut, _ = truncated(p[kind], tmp, 0.9)
        args = ["--compare", cut] if kind == "cmp" else ["--rope", cut]
        expect_bad([p["sweep"], *args, "--out", os.path.join(tmp, "x.html")], [cut, "truncated"], f"truncated {kind}")


def test_open_shapes(p, tmp):
    import qkgeom
    bad = variant(p["sweep"], tmp, "extra.h5", lambda f: f["attention/entropy"].attrs.__setitem__(
        "dims", np.array(["layer", "head", "extra"], dtype=h5py.string_dtype())))
    try:
        qkgeom.open(bad)
        msg = "no error"
    except ValueError as e:
        msg = str(e)
    check(bad in msg and "/attention/entropy" in msg, f"axes named wrongly: ValueError naming the dataset ({msg})")


def test_report_compare_damaged(p, tmp):
    out = ["--out", os.path.join(tmp, "c.html")]
    for name, edit, names in [
            ("nogrid.h5", lambda f: f.__delitem__("depth/grid"), ["/depth/grid"]),
            ("nolabels.h5", lambda f: f["paired/attention/mean_entropy"].attrs.__delitem__("labels"),
             ["/paired/attention/mean_entropy", "labels"]),
            ("pairs.h5", lambda f: f["pairs/b"].__setitem__(0, 7), ["/pairs/a"]),
            ("depth.h5", lambda f: replace(f, "depth/attention/entropy", np.zeros((2, 5))),
             ["/depth/attention/entropy", "[2, 5]"])]:
        bad = variant(p["cmp"], tmp, "cmp-" + name, edit)
        expect_bad([p["sweep"], "--compare", bad, *out], [bad, *names], f"CMP.h5 {name}")
    expect_bad([p["sweep"], "--compare", p["llama"], *out], [p["llama"], "a sweep file"], "a sweep as --compare")


def test_report_rope_static_damaged(p, tmp):
    out = ["--out", os.path.join(tmp, "r.html")]
    bad = variant(p["rope"], tmp, "rope-noop.h5", lambda f: f.__delitem__("operator/op"))
    expect_bad([p["sweep"], "--rope", bad, *out], [bad, "/operator/op"], "ROPE.h5 without operator/op")
    bad = variant(p["rope"], tmp, "rope-off.h5", lambda f: replace(f, "offsets", np.array([0, 1])))
    expect_bad([p["sweep"], "--rope", bad, *out], [bad, "/offsets", "offset_2 2"], "ROPE.h5 offsets of another size")
    bad = variant(p["rope"], tmp, "rope-nomass.h5", lambda f: f.__delitem__("sweep/measured_mass"))
    expect_bad([p["sweep"], "--rope", bad, *out], [bad, "/sweep/measured_mass"], "ROPE.h5 sweep/ incomplete")
    bad = variant(p["static"], tmp, "static-noanchor.h5", lambda f: f["align"].attrs.__delitem__("anchor"))
    expect_bad([p["sweep"], "--static", bad, *out], [bad, "align/anchor"], "STATIC.h5 without align/anchor")
    bad = variant(p["static"], tmp, "static-nosv.h5", lambda f: f.__delitem__("exact/singular_values"))
    expect_bad([p["sweep"], "--static", bad, *out], [bad, "/exact/singular_values"], "STATIC.h5 without spectra")


def poison(f):
    """NaN in probe p1's attention/entropy at (layer 1, head 2), +Inf in p3's bo/composite."""
    e = f["attention/entropy"]
    row = e[1]
    row[1, 2] = np.nan
    e[1] = row
    f["bo/composite"][3] = np.inf


def test_report_nonfinite(p, tmp):
    from qkgeom.report import data

    import qkgeom
    bad = variant(p["sweep"], tmp, "nan.h5", poison)
    page = os.path.join(tmp, "nan.html")
    code, err = report(bad, "--out", page)
    text = open(page, encoding="utf-8").read() if code == 0 else ""
    check(code == 0, f"a sweep with NaN and Inf among ok probes is drawn (got {code}: {err[-300:]})")
    for want in ("attention/entropy: 1 of 6 probes with status ok hold NaN or Inf (p1)",
                 "bo/composite: 1 of 6 probes with status ok hold NaN or Inf (p3)"):
        check(want in text, f"note: {want}")
    check(not re.search(r">[+-]?(nan|inf)<", text), "no NaN or Inf printed as a number on the page")
    from matplotlib import font_manager, ft2font
    drawable = ft2font.FT2Font(font_manager.findfont("DejaVu Sans")).get_char_index(ord("域")) != 0
    check(drawable or "No installed font has the character(s) 域" in text, "a note for the domain 域 no font has")
    check("Glyph" not in err, "no matplotlib glyph warning on stderr")
    with h5py.File(bad, "r") as f:
        ent = f["attention/entropy"][()]
    want = np.nanmean(ent, axis=0)
    ok, _ = data.finite_probes(qkgeom.open(bad, ragged=False), ["attention/entropy"])
    got = data.head_means(ok, "attention/entropy")
    check(np.allclose(got, want, rtol=1e-12) and np.isfinite(got).all(),
          "per-head means leave the NaN probe out, as numpy's nanmean")


def compare(*args):
    return subprocess.run([rc.QKGEOM_BIN, "compare", *args], capture_output=True, text=True, timeout=120)


def test_compare_damaged(p, tmp):
    cases = [
        ("layers0.h5", lambda f: replace(f, "attention/entropy", np.zeros((6, 0, 4))),
         ["'attention/entropy' has an empty axis 1"]),
        ("depths.h5", lambda f: replace(f, "attention/sink_mass", np.zeros((6, 5, 4))),
         ["'attention/sink_mass' has 5 layers", "have 2"]),
        ("intid.h5", lambda f: replace(f, "probe/id", np.arange(6)), ["'probe/id' does not hold strings"]),
        ("empty.h5", lambda f: f["probe/index"].resize(0, axis=0), ["no committed probe"])]
    for name, edit, names in cases:
        bad = variant(p["sweep"], tmp, "cmp-in-" + name, edit)
        r = compare(p["llama"], bad)
        check(r.returncode == 3 and bad in r.stderr and all(n in r.stderr for n in names),
              f"compare with {name}: exit 3 naming {names} (got {r.returncode}: {r.stderr.strip()[-300:]})")
    deep = variant(p["static"], tmp, "static-deep.h5",
                   lambda f: replace(f, "exact/fro", np.concatenate([f["exact/fro"][()]] * 2)))
    r = compare(p["sweep"], p["llama"], "--static", deep)
    check(r.returncode == 3 and f"{deep}: dataset 'exact/fro' has 4 layers, but 'exact/op' 2" in r.stderr,
          f"compare --static with descriptors of two depths: exit 3 ({r.stderr.strip()[-200:]})")

    def nan_op(f):
        f["exact/op"][0, 1] = np.nan
    nan = variant(p["static"], tmp, "static-nan.h5", nan_op)
    r = compare(p["sweep"], p["llama"], "--static", nan, "--bootstrap", "0")
    check(r.returncode == 0 and f"{nan}: exact/op holds 1 NaN or Inf value(s)" in r.stderr,
          f"compare --static with a NaN descriptor: a warning ({r.stderr.strip()[-200:]})")
    r = compare(p["llama"], tmp)
    check(r.returncode == 3 and f"{tmp}: is a directory" in r.stderr, f"compare of a directory ({r.stderr.strip()})")
    r = compare(p["sweep"], p["sweep"], "--bootstrap", "0")
    check(r.returncode == 0 and f"{p['sweep']}: the same file as" in r.stderr, "a file given twice: a warning")


def test_compare_nonfinite(p, tmp):
    """NaN at ok probe p1 and Inf at p3 in attention/mean_entropy: left out, said, mean_diff as numpy's."""
    def edit(f):
        f["attention/mean_entropy"][1] = np.nan
        f["attention/mean_entropy"][3] = np.inf
    bad = variant(p["sweep"], tmp, "cmp-nan.h5", edit)
    r = compare(bad, p["llama"], "--json", "--bootstrap", "0")
    warn = f"{bad}: attention/mean_entropy is NaN or Inf at 2 probe(s) of status ok (p1, p3)"
    check(r.returncode == 0 and warn in r.stderr, f"warning {warn!r} ({r.stderr.strip()[-300:]})")
    if r.returncode != 0:
        return
    with h5py.File(bad, "r") as fa, h5py.File(p["llama"], "r") as fb:
        a, b = fa["attention/mean_entropy"][()], fb["attention/mean_entropy"][()]
    keep = np.isfinite(a) & np.isfinite(b)
    got = json.loads(r.stdout)["quantities"]["attention/mean_entropy"]["pairs"][0]["domains"]["all"]
    check(got["n"] == 4 and abs(got["mean_diff"] - (a[keep] - b[keep]).mean()) <= 1e-12,
          f"mean_diff over the 4 finite pairs {(a[keep] - b[keep]).mean()} (got n {got['n']}, {got['mean_diff']})")
    check(any(w.startswith(warn) for w in json.loads(r.stdout)["warnings"]), "the warning in the JSON's warnings")


def test_non_utf8_names(p, tmp):
    """A file name that is not UTF-8 (bytes 0xff 0xfe): compare --json is valid JSON with U+FFFD
    in its place, its CMP.h5 and the sweep are drawn, the page is valid UTF-8."""
    name = os.path.join(os.fsencode(tmp), b"run\xff\xfe.h5")
    shutil.copy(p["sweep"], name)
    cmp = os.path.join(os.fsencode(tmp), b"cmp\xff.h5")
    r = subprocess.run([os.fsencode(rc.QKGEOM_BIN), b"compare", name, os.fsencode(p["llama"]), b"--json",
                        b"--bootstrap", b"0", b"--out", cmp], capture_output=True, timeout=120)
    try:
        files = [run["file"] for run in json.loads(r.stdout)["runs"]]
    except ValueError:
        files = []
    check(r.returncode == 0 and files[:1] == [os.path.join(tmp, "run\ufffd\ufffd.h5")],
          f"compare --json of a non-UTF-8 name (exit {r.returncode}, {files}, {r.stderr[-200:]!r})")
    page = os.path.join(tmp, "nonutf8.html")
    code, err = report(os.fsdecode(name), "--compare", os.fsdecode(cmp), "--out", page)
    try:
        ok = code == 0 and "run\ufffd\ufffd.h5" in open(page, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError):
        ok = False
    check(ok, f"report of a non-UTF-8 name: a UTF-8 page with U+FFFD (got {code}: {err[-200:]})")


def test_output_is_an_input(p, tmp):
    """--out naming an input (or a link to it) is refused even with --force, the input kept."""
    link = os.path.join(tmp, "link.h5")
    os.symlink(p["sweep"], link)
    size = os.path.getsize(p["sweep"])
    for out, extra in ((p["sweep"], []), (link, []), (p["cmp"], ["--compare", p["cmp"]])):
        code, err = report(p["sweep"], *extra, "--out", out, "--force")
        check(code == 3 and f"{out}: is the input" in err and os.path.getsize(p["sweep"]) == size
              and h5py.is_hdf5(p["cmp"]), f"--out {os.path.basename(out)} (an input) --force: exit 3, kept ({err.strip()})")
    code, err = report(p["sweep"], "--out", tmp, "--force")
    check(code == 3 and f"{tmp}: is a directory" in err, f"--out a directory: exit 3 ({err.strip()})")


def main():
    if not os.access(rc.QKGEOM_BIN, os.X_OK):
        rc.skip(f"{rc.QKGEOM_BIN} is not built")
    for module in ("xarray", "matplotlib", "pandas"):
        try:
            __import__(module)
        except ImportError:
            rc.skip(f"Python package {module} is missing")
    tmp = tempfile.mkdtemp(prefix="qk-report-inputs-")
    try:
        p = make_inputs(tmp)
        for test in (test_compare_damaged, test_compare_nonfinite, test_open_truncated, test_open_shapes,
                     test_report_compare_damaged, test_report_rope_static_damaged, test_report_nonfinite,
                     test_non_utf8_names, test_output_is_an_input):
            test(p, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if rc.FAILURES:
        print(f"{len(rc.FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
