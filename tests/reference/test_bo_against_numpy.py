#!/usr/bin/env python3
"""qkgeom score (--lem-compat and default) against the independent numpy
reference tests/reference/bo_reference.py on every BO fixture, value side included;
and the reference's compat mode against the seed's own Go code.

  test_bo_against_numpy.py [--reference-only]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

import bo_reference  # noqa: E402

# Fields of the reference JSON compared with the CLI's.
FIELDS = ("mean_coherence", "mean_cross_alignment", "mean_head_entropy", "phase_lock_score",
          "joint_collapse_count", "layer_coherence", "layer_cross_alignment", "gqa",
          "composite", "composite_exact", "features", "mode", "layers", "kv_heads",
          "seq_len", "head_dim", "analysed_heads", "head_entropy")
VALUE_FIELDS = ("mean_value_coherence", "layer_value_coherence", "value_phase_lock_score",
                "mean_kv_coupling", "layer_kv_coupling", "features7")


def check_cli(chk, case, ours, ref):
    for name in FIELDS:
        chk.field(case, name, ours.get(name), ref[name])
    if ref["head_differentiation"] is not None:
        chk.field(case, "head_differentiation", ours.get("head_differentiation"),
                  ref["head_differentiation"])
    elif ours.get("head_differentiation") not in (None, []):
        chk.fail(case, "head_differentiation", ours["head_differentiation"], None,
                 "expected absent, null or [] in multi-head mode")
    if "q_heads" in ours:
        chk.field(case, "q_heads", ours["q_heads"], ref["q_heads"])
    if "backend" in ours:
        chk.field(case, "backend", ours["backend"].split(":")[0], rc.DEVICE.split(":")[0])
    for name in VALUE_FIELDS:
        if name in ref:
            chk.field(case, name, ours.get(name), ref[name])
        elif ours.get(name) is not None:
            chk.fail(case, name, ours[name], None, "snapshot has no v")


def main(argv):
    reference_only = "--reference-only" in argv
    fdir, manifest = rc.fixtures()
    chk = rc.Checker()

    if rc.have_seed():
        binary = rc.seed_binary()
        import seed_go
        for fx in manifest:
            snap = bo_reference.load_snapshot(os.path.join(fdir, fx["file"]))
            go = seed_go.run_snapshot(binary, snap)
            rc.check_against_seed(chk, "reference-vs-go/" + fx["name"], bo_reference.analyse(snap, True), go)
    else:
        print("NOTE: go or the seed is absent; the reference is not cross-checked with the seed")

    if not reference_only:
        rc.require_cli()
        for fx in manifest:
            path = os.path.join(fdir, fx["file"])
            snap = bo_reference.load_snapshot(path)
            for compat in (True, False):
                case = f"{'compat' if compat else 'default'}/{fx['name']}"
                ref = bo_reference.analyse(snap, compat)
                ours, err = rc.score(path, compat)
                if err:
                    chk.fail(case, "run", err, "", "qkgeom failed")
                    continue
                check_cli(chk, case, ours, ref)
    return chk.report("bo vs numpy reference")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
