"""python3 -m qkgeom.report RESULTS.h5 [--static STATIC.h5] [--compare CMP.h5] [--rope ROPE.h5]
[--out FILE.html] [--force] (`qkgeom report` runs it): one self-contained HTML page of a sweep's
figures, with STATIC.h5 also the static geometry and its relation to the sweep, with CMP.h5 the
comparison between models, with ROPE.h5 the RoPE-aware operator geometry (docs/report.md).
Exit codes as docs/cli.md: 2 usage, 3 bad input (a missing or wrong file, an existing
output without --force), 4 runtime (a missing Python package, an unwritable output)."""
import argparse
import importlib
import os
import sys
import tempfile

NEEDED = ("numpy", "h5py", "xarray", "pandas", "matplotlib")


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="qkgeom report", description=(
        "One self-contained HTML page (figures embedded, nothing fetched) of a sweep store: attention "
        "entropy, logit std and sink mass per layer and head, key coherence and cross alignment per "
        "layer, composite and features by probe domain; with --static also the operator cosines, "
        "principal angles, spectral descriptors and static-vs-dynamic correlations; with --compare the "
        "figures of a qkgeom compare file; with --rope the RoPE-aware operator geometry (band profiles, "
        "operator size by offset, implied vs measured attention by distance); the provenance."))
    ap.add_argument("results", metavar="RESULTS.h5", help="a sweep store (qkgeom sweep); one still running is "
                    "read up to its committed probes")
    ap.add_argument("--static", metavar="STATIC.h5", help="the same model's qkgeom weights file (with align/)")
    ap.add_argument("--compare", metavar="CMP.h5", help="a qkgeom compare --out file: its figures too")
    ap.add_argument("--rope", metavar="ROPE.h5", help="the same model's qkgeom rope-geometry --out file")
    ap.add_argument("--out", metavar="FILE.html", help="the page (default: RESULTS with .html for .h5)")
    ap.add_argument("--force", action="store_true", help="replace FILE.html when it exists")
    return ap.parse_args(argv)


def fail(message, code):
    print(f"qkgeom: error: {message}", file=sys.stderr)
    return code


def write_atomic(path, text):
    """text to `path` by a temporary file in its directory renamed onto it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # the bytes of a non-UTF-8 file name: U+FFFD
            f.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_output(out, args):
    """ReportError unless `out` may be written: not a directory, in an existing writable
    directory (as every command's output file, docs/cli.md), not one of the input files
    (also through a link; not even with --force), and absent or --force."""
    from .data import ReportError

    if os.path.isdir(out):
        raise ReportError(f"{out}: is a directory, not a file to write")
    folder = os.path.dirname(out) or "."
    if not os.path.isdir(folder):
        raise ReportError(f"{out}: cannot be written: directory '{folder}' does not exist")
    if not os.access(folder, os.W_OK):
        raise ReportError(f"{out}: cannot be written: directory '{folder}' is not writable")
    for given in (args.results, args.static, args.compare, args.rope):
        if given and os.path.exists(out) and os.path.exists(given) and os.path.samefile(out, given):
            raise ReportError(f"{out}: is the input {given}; the page would replace it (not even with --force)")
    if os.path.exists(out) and not args.force:
        raise ReportError(f"{out}: exists; pass --force to replace it")


def run(args):
    """Reads the files, writes the page; returns the exit code."""
    from .data import ReportError, check_pair, load, load_compare
    from .page import build_page

    out = args.out or os.path.splitext(args.results)[0] + ".html"
    try:
        check_output(out, args)
        sweep = load(args.results, "sweep")
        static = load(args.static, "static") if args.static else None
        if static is not None:
            check_pair(sweep, static, args.results, args.static)
        rope = load(args.rope, "rope") if args.rope else None
        if rope is not None:
            check_pair(sweep, rope, args.results, args.rope, grid="bands/share")
        compare = (args.compare, load_compare(args.compare)) if args.compare else None
        page, figures = build_page(sweep, static, compare, rope)
    except ReportError as e:
        return fail(str(e), e.code)
    try:
        write_atomic(out, page)
    except OSError as e:
        return fail(f"{out}: cannot write the report: {e.strerror or e}", 4)
    print(f"report: {out} ({figures} figures, {sweep.sizes['probe']} probes)")
    return 0


def importable(module):
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def main(argv=None):
    args = parse_args(argv)
    missing = [m for m in NEEDED if not importable(m)]
    if missing:
        return fail(f"qkgeom report needs the Python package(s) {', '.join(missing)} for "
                    f"{sys.executable} (make deps, or pip install -r scripts/requirements.txt)", 4)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
