"""The seed Python scripts of ../shared/seeds, runnable: they were published without their
indentation (shared/seeds/README.md), so this puts it back line by line from a fixed map,
for exactly the seed files whose sha256 is known, and changes nothing else. The web-page
header lines before the docstring are dropped.

    python3 tests/reference/seed_py.py interlayer OUT.py   # interlayer-operator-alignment.py
    python3 tests/reference/seed_py.py geometry OUT.py     # head-geometry-vs-entropy.py, lines 1-42
"""
import hashlib
import os
import sys

# name -> (file, sha256, first line kept, last line kept, [(from line, to line, indent level)])
SEEDS = {
    "interlayer": ("interlayer-operator-alignment.py",
                   "e4c5a24bb087e9a52ee450fe250ff65361810e785ac28525895aeafc0039e991", 8, 158,
                   [(30, 34, 1), (35, 35, 1), (36, 36, 2), (37, 58, 1), (59, 59, 2), (60, 62, 3),
                    (63, 72, 1), (73, 76, 2), (77, 86, 1), (87, 89, 2), (90, 96, 1), (97, 97, 2),
                    (98, 98, 3), (99, 105, 2), (106, 109, 1), (110, 110, 2), (111, 118, 1),
                    (119, 122, 2), (123, 133, 3), (134, 136, 2), (137, 149, 1), (150, 150, 2),
                    (151, 151, 1), (152, 152, 2), (153, 153, 1), (154, 154, 2), (155, 155, 1),
                    (156, 156, 2), (158, 158, 1)]),
    "geometry": ("head-geometry-vs-entropy.py",
                 "194c24a6919bf26774e3d6e72cd8bea105632c1006295879de8b60c9d4246f59", 8, 42,
                 [(27, 34, 1), (35, 35, 1), (36, 38, 2), (39, 42, 1)]),
}


class SeedUnavailable(Exception):
    pass


def shared_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("QK_SHARED_DIR") or os.path.normpath(
        os.path.join(here, "..", "..", "..", "shared"))


def restore(name):
    """The seed's source with its indentation; SeedUnavailable when absent or changed."""
    file, sha, first, last, levels = SEEDS[name]
    path = os.path.join(shared_dir(), "seeds", file)
    if not os.path.isfile(path):
        raise SeedUnavailable(f"seed not found: {path}")
    raw = open(path, "rb").read()
    if hashlib.sha256(raw).hexdigest() != sha:
        raise SeedUnavailable(f"{path} differs from the version this indentation map is for")
    lines = raw.decode("utf-8").split("\n")
    indent = {}
    for lo, hi, lvl in levels:
        for n in range(lo, hi + 1):
            indent[n] = lvl
    out = ["    " * indent.get(n, 0) + lines[n - 1].strip() for n in range(first, last + 1)]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SEEDS:
        print(__doc__)
        return 2
    try:
        src = restore(sys.argv[1])
    except SeedUnavailable as e:
        print(e, file=sys.stderr)
        return 1
    compile(src, sys.argv[2], "exec")
    with open(sys.argv[2], "w") as f:
        f.write(src)
    return 0


if __name__ == "__main__":
    sys.exit(main())
