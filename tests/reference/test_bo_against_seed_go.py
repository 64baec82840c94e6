#!/usr/bin/env python3
"""qkgeom score --lem-compat against the seed's own Go code
(shared/seeds/lem-attention.go, built by tests/reference/seed_go/run_seed.sh) on every
BO fixture: every seed field, Composite() and AttentionFeatures() on k, and the
seed run on v for the value-coherence fields. Skips (77) without go or the seed.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

import bo_reference  # noqa: E402
import seed_go  # noqa: E402


def main():
    binary = rc.seed_binary()
    rc.require_cli()
    fdir, manifest = rc.fixtures()
    chk = rc.Checker()
    for fx in manifest:
        path = os.path.join(fdir, fx["file"])
        go = seed_go.run_snapshot(binary, bo_reference.load_snapshot(path))
        ours, err = rc.score(path, compat=True)
        if err:
            chk.fail(fx["name"], "run", err, "", "qkgeom failed")
            continue
        rc.check_against_seed(chk, fx["name"], ours, go)
        chk.field(fx["name"], "mode", ours.get("mode"), "lem-compat")
    return chk.report("bo --lem-compat vs seed Go")


if __name__ == "__main__":
    sys.exit(main())
