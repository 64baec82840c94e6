#!/usr/bin/env python3
"""qkgeom score's attention statistics against the direct numpy softmax of
tests/reference/attention_stats_reference.py, on small snapshots made here with numpy and
safetensors (GQA ratios 1, 2, 4; causal, full and sliding masks; f32 and bf16). Logit
soft-capping (Gemma 2) comes from the snapshot's attention_logit_softcap metadata key and
must move the entropy measurably (so that the comparison can fail). The attention mass per
distance bucket is checked to DIST_REL against the reference's S x S softmax on lengths 1,
70 and 1100 (past bucket edge 1024), and each head's buckets must sum to 1."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

# score's JSON object `attention` (the stored quantities' names) -> the reference's key.
FIELDS = {"entropy": "attention_entropy_nats", "logit_std": "attention_logit_std",
          "sink_mass": "attention_sink_mass", "mean_entropy": "mean_attention_entropy_nats",
          "mean_logit_std": "mean_attention_logit_std", "mean_sink_mass": "mean_attention_sink_mass"}
REL = 1e-9
ABS = 1e-11
SOFTCAP_MOVES = 0.05  # nats: the least mean entropy change the cap of 1.5 must make
DIST_REL, DIST_ABS = 1e-12, 1e-15  # distance masses vs the reference (CPU)


def make_fixtures(out_dir, np, save_file):
    """[(name, path, q, k)]: float32 snapshots (values as the engine reads them)."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(1234)
    fixtures = []
    for name, layers, hkv, ratio, seq, dim, loc in (
            ("mha_s1", 1, 2, 1, 1, 8, 0.0),
            ("gqa2_s33", 2, 2, 2, 33, 16, 0.0),
            ("gqa4_s130", 2, 1, 4, 130, 64, 0.5),
            ("gqa4_s300_d1", 1, 2, 4, 300, 1, 0.0)):
        q = rng.normal(loc, 1.0, (layers, hkv * ratio, seq, dim)).astype(np.float32)
        k = rng.normal(loc, 1.0, (layers, hkv, seq, dim)).astype(np.float32)
        path = os.path.join(out_dir, name + ".safetensors")
        save_file({"q": q, "k": k}, path)
        fixtures.append((name, path, q, k))
    return fixtures


def main():
    try:
        import numpy as np
        from safetensors.numpy import save_file
    except ImportError as e:
        rc.skip(f"numpy or safetensors missing: {e}")
    import attention_stats_reference as ref
    rc.require_cli()
    rc.REL, rc.ABS = REL, ABS
    chk = rc.Checker()
    out_dir = os.path.join(rc.BINARY_DIR, "fixtures", "attention_stats")
    if rc.DEVICE != "cpu":
        rc.REL, rc.ABS = 1e-5, 1e-5
    for name, path, q, k in make_fixtures(out_dir, np, save_file):
        for mask, window, scale in (("causal", 0, None), ("full", 0, None), ("sliding", 1, None),
                                    ("sliding", 7, None), ("causal", 0, 2.5)):
            case = f"{name}/{mask}{window or ''}" + (f"/scale{scale}" if scale else "")
            args = ["score", "--snapshot", path, "--json", "--device", rc.DEVICE, "--mask", mask]
            if window:
                args += ["--window", str(window)]
            if scale:
                args += ["--attn-scale", repr(scale)]
            proc = rc.run_cli(args)
            if proc.returncode != 0:
                chk.fail(case, "run", proc.stderr.strip()[-2000:], "", "qkgeom failed")
                continue
            ours = json.loads(proc.stdout)
            # The engine rounds the scale to f32 before use; so does the reference.
            s = float(np.float32(scale if scale else 1.0 / np.sqrt(q.shape[-1])))
            want = ref.analyse(q, k, mask, window, s)
            for f, ref_key in FIELDS.items():
                chk.field(case, "attention." + f, ours["attention"].get(f), want[ref_key])
            chk.field(case, "attention.mask", ours["attention"]["mask"], mask, exact=True)
    for name, path, q, k in make_fixtures(out_dir, np, save_file)[1:3]:
        softcap_cases(chk, ref, np, save_file, name, path, q, k)
    distance_cases(chk, ref, np, save_file, out_dir)
    return chk.report("attention statistics vs numpy reference")


def distance_snapshots(out_dir, np, save_file):
    """[(name, path, q, k, cap)]: GQA and MHA snapshots of lengths 1, 70 and 1100; the
    capped ones carry attention_logit_softcap metadata (causal masks)."""
    rng = np.random.default_rng(4321)
    out = []
    for name, hkv, ratio, seq, dim, cap in (("d_s1", 2, 2, 1, 8, 0.0), ("d_s70", 2, 2, 70, 16, 0.0),
                                            ("d_s70_mha_cap", 3, 1, 70, 16, 2.0),
                                            ("d_s1100", 1, 2, 1100, 8, 0.0)):
        q = rng.normal(0.3, 1.5, (2, hkv * ratio, seq, dim)).astype(np.float32)
        k = rng.normal(0.3, 1.5, (2, hkv, seq, dim)).astype(np.float32)
        path = os.path.join(out_dir, name + ".safetensors")
        meta = None
        if cap:
            scale = repr(float(np.float32(1.0 / np.sqrt(dim))))
            meta = {"attention_masks": "causal,causal", "attention_windows": "0,0",
                    "attention_scale": scale, "attention_logit_softcap": repr(cap)}
        save_file({"q": q, "k": k}, path, metadata=meta)
        out.append((name, path, q, k, cap))
    return out


def distance_cases(chk, ref, np, save_file, out_dir):
    """score's attention.distance_mass vs the reference's S x S softmax by distance bucket,
    for causal, full and sliding (windows 7, 100) masks; buckets sum to 1 per head."""
    gpu = rc.DEVICE != "cpu"
    worst = 0.0
    for name, path, q, k, cap in distance_snapshots(out_dir, np, save_file):
        masks = (("causal", 0),) if cap else (("causal", 0), ("full", 0), ("sliding", 7), ("sliding", 100))
        for mask, window in masks:
            case = f"{name}/{mask}{window or ''}/distance"
            args = ["score", "--snapshot", path, "--json", "--device", rc.DEVICE]
            if not cap:
                args += ["--mask", mask] + (["--window", str(window)] if window else [])
            proc = rc.run_cli(args)
            if proc.returncode != 0:
                chk.fail(case, "run", proc.stderr.strip()[-2000:], "", "qkgeom failed")
                continue
            ours = json.loads(proc.stdout)["attention"]
            scale = float(np.float32(1.0 / np.sqrt(q.shape[-1])))
            want = np.array(ref.analyse(q, k, mask, window, scale, cap)["attention_distance_mass"])
            got = np.array(ours["distance_mass"], dtype=np.float64)
            if got.shape != want.shape:
                chk.fail(case, "attention.distance_mass", got.shape, want.shape, "shape")
                continue
            rel = np.abs(got - want) / np.maximum(np.abs(want), DIST_ABS / DIST_REL)
            worst = max(worst, float(rel.max()))
            tol = 1e-5 if gpu else DIST_REL
            chk.field(case, "distance_mass within tolerance", bool((rel <= tol).all()), True, exact=True)
            sums = got.sum(axis=-1)
            chk.field(case, "distance_mass sums to 1", bool((np.abs(sums - 1) <= 1e-12 + tol).all()), True,
                      exact=True)
            chk.field(case, "distance_buckets", ours["distance_buckets"],
                      [0] + [2 ** (b - 1) for b in range(1, 16)], exact=True)
    print(f"distance_mass: largest relative error vs the S x S reference {worst:.3g}")


def softcap_cases(chk, ref, np, save_file, name, path, q, k):
    """Snapshots of q, k with stored attention metadata and a soft-cap: score's statistics
    equal the reference's on capped logits (also when --mask replaces the stored masks),
    and the cap moves the mean entropy by more than SOFTCAP_MOVES."""
    layers = q.shape[0]
    scale = float(np.float32(1.0 / np.sqrt(q.shape[-1])))
    for cap, mask, window, flag in ((1.5, "causal", 0, None), (5.0, "sliding", 7, None),
                                    (1.5, "causal", 0, "full")):
        meta = {"attention_masks": ",".join([mask] * layers),
                "attention_windows": ",".join([str(window)] * layers),
                "attention_scale": repr(scale), "attention_logit_softcap": repr(cap)}
        capped = path.replace(".safetensors", f"_cap{cap}_{mask}.safetensors")
        save_file({"q": q, "k": k}, capped, metadata=meta)
        args = ["score", "--snapshot", capped, "--json", "--device", rc.DEVICE]
        case = f"{name}/softcap{cap}/{mask}{window or ''}" + (f"/--mask {flag}" if flag else "")
        proc = rc.run_cli(args + (["--mask", flag] if flag else []))
        if proc.returncode != 0:
            chk.fail(case, "run", proc.stderr.strip()[-2000:], "", "qkgeom failed")
            continue
        ours = json.loads(proc.stdout)["attention"]
        want = ref.analyse(q, k, flag or mask, 0 if flag else window, scale, float(np.float32(cap)))
        for f, ref_key in FIELDS.items():
            chk.field(case, "attention." + f, ours.get(f), want[ref_key])
        chk.field(case, "attention.logit_softcap", ours.get("logit_softcap"), cap, exact=True)
        if cap == 1.5 and not flag:
            plain = ref.analyse(q, k, mask, window, scale)["mean_attention_entropy_nats"]
            moved = abs(ours["mean_entropy"] - plain)
            print(f"{case}: the cap moves the mean entropy by {moved:.4g} nats")
            chk.field(case, "softcap moves entropy", moved > SOFTCAP_MOVES, True, exact=True)


if __name__ == "__main__":
    sys.exit(main())
