#!/usr/bin/env python3
"""NaN and Inf are never a number, against HF transformers' eager attention.

Checkpoints made here from the tiny fixtures: llama3 with one NaN in
model.layers.1.self_attn.k_proj.weight[0, 0]; llama3 with embed_tokens x 1e7 (overflows
f16); llama3 with a NaN in embed_tokens row 7 (only prompts holding token 7 go
non-finite); bert with layer_norm_eps = -1 (NaN in f32 from finite weights).
- `score --model` / `capture`: exit 3 (non-finite weight, or f32 from finite weights) or
  4 (f16 overflow), naming the first layer HF's attention is NaN in, its NaN query heads,
  the tensor (q/k/v) and the cause (the weight with file and index, or the --dtype hint);
  no JSON and no snapshot file;
- `sweep`: --on-nonfinite fail stops at the first such probe (exit 4, naming it and the
  weight) after committing the probes before it; --resume --on-nonfinite skip records it
  with status non_finite and NaN in every metric column; keep stores attention entropy
  NaN on exactly the (layer, head)s where HF's is NaN and HF's value elsewhere (2e-5);
  BO per-layer / per-head values NaN exactly where numpy's definitions give NaN on the
  same q/k/v (tests/reference/bo_reference.py), equal elsewhere, every aggregate NaN;
- `correlate` and `simplex --from` leave out probes whose status is not ok and, on a NaN
  in a store without status, name file, dataset, row (and probe) (no libtorch text);
  `weights` and `simplex` name file, tensor and index of a non-finite weight."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402

FIXTURES = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
IDS = [1, 2, 3, 4, 5]
TOL = 2e-5
NOT_CLEAR = ("libtorch", "c10::", "Exception raised", "Traceback", "terminate called")


def qk(*args, timeout=300):
    return subprocess.run([rc.QKGEOM_BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def make_model(tmp, name, src, edit=None, config=None):
    """A copy of fixture `src` with edit(tensors) applied and config keys replaced."""
    from safetensors.numpy import load_file, save_file
    d = os.path.join(tmp, name)
    shutil.copytree(os.path.join(FIXTURES, src), d)
    os.remove(os.path.join(d, "reference.safetensors"))
    if edit:
        t = load_file(os.path.join(d, "model.safetensors"))
        edit(t)
        save_file(t, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    if config:
        c = json.load(open(os.path.join(d, "config.json")))
        c.update(config)
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
    return d


def hf_entropy(model_dir, ids, dtype="float32"):
    """HF eager attention entropy (nats) per [layer, head], NaN where HF's probabilities are."""
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager",
                                      dtype=getattr(torch, dtype)).eval()
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True)
    ent = []
    for a in out.attentions:
        p = a[0].double().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            ent.append((-(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)).mean(-1))
    return np.array(ent)


def first_nan(ent):
    """(layer, [heads]) of HF's first layer with NaN attention."""
    bad = np.isnan(ent)
    layer = int(np.argmax(bad.any(1)))
    return layer, [int(h) for h in np.nonzero(bad[layer])[0]]


def test_score_capture(tmp, name, model, dtype, want_exit, must_say):
    ent = hf_entropy(model, IDS, {"f32": "float32", "f16": "float16"}[dtype])
    layer, heads = first_nan(ent)
    check(np.isnan(ent).any(), f"{name}: HF's attention is NaN (layer {layer}, heads {heads})")
    r = qk("score", "--model", model, "--ids", ",".join(map(str, IDS)), "--dtype", dtype, "--json",
           "--device", "cpu")
    msg = r.stderr
    says = [f"layer {layer} ", "query head(s) " + ", ".join(map(str, heads)), *must_say]
    check(r.returncode == want_exit and r.stdout == "" and all(s in msg for s in says)
          and not any(s in msg for s in NOT_CLEAR),
          f"{name}: score exit {r.returncode} (want {want_exit}) names {says}: {msg.strip()}")
    out = os.path.join(tmp, name + ".safetensors")
    r = qk("capture", "--model", model, "--ids", ",".join(map(str, IDS)), "--dtype", dtype, "--out", out,
           "--device", "cpu")
    check(r.returncode == want_exit and not os.path.exists(out) and f"layer {layer} " in r.stderr,
          f"{name}: capture exit {r.returncode}, no snapshot written")


def metric_datasets(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                 and n.split("/")[0] in ("bo", "attention") and o.dtype.kind == "f" else None)
    return names


def sweep(model, probes, out, *extra):
    return qk("sweep", "--model", model, "--probes", probes, "--out", out, "--device", "cpu", "--json",
              "--quiet", *extra)


def test_sweep_policies(tmp, model):
    """Token 7's embedding row is NaN: only probe L3 goes non-finite."""
    prompts = [[1, 2, 3], [4, 5, 6], [8, 7, 9], [10, 11]]
    probes = os.path.join(tmp, "p.ids")
    open(probes, "w").write("".join(",".join(map(str, p)) + "\n" for p in prompts))
    out = os.path.join(tmp, "fail.h5")
    r = sweep(model, probes, out, "--batch-tokens", "6")
    with h5py.File(out, "r") as f:
        rows, status = len(f["probe/index"]), rc.text_attr(f, "status")
    check(r.returncode == 4 and "probe 'L3' (line 3)" in r.stderr and "model.embed_tokens.weight" in r.stderr
          and "[7, 0]" in r.stderr and rows == 2 and status == "stopped_non_finite",
          f"fail (default): exit {r.returncode}, {rows} probes committed, names L3 and the weight: {r.stderr.strip()}")
    r = sweep(model, probes, out, "--resume", "--on-nonfinite", "skip")
    s = json.loads(r.stdout) if r.returncode == 0 else {}
    with h5py.File(out, "r") as f:
        st = rc.h5_strings(f["probe/status"])
        nan_row = all(np.isnan(f[n][2]).all() for n in metric_datasets(f))
        ok_rows = all(np.isfinite(f[n][i]).all() for n in ("bo/composite", "attention/entropy") for i in (0, 1, 3))
        where = (int(f["probe/nonfinite_layer"][2]), rc.h5_strings(f["probe/nonfinite_tensor"])[2])
    check(r.returncode == 0 and st == ["ok", "ok", "non_finite", "ok"] and nan_row and ok_rows
          and where == (0, "q") and s.get("non_finite") == 1 and s.get("scored") == 1,
          f"--resume --on-nonfinite skip: status {st}, every metric of L3 NaN, others finite, "
          f"first at {where}, summary non_finite {s.get('non_finite')}")
    keep = os.path.join(tmp, "keep.h5")
    r = sweep(model, probes, keep, "--on-nonfinite", "keep", "--save-kv", "qkv")
    with h5py.File(keep, "r") as f:
        ent, comp = f["attention/entropy"][()], f["bo/composite"][()]
    worst, same_nan = 0.0, True
    for i, ids in enumerate(prompts):
        ref = hf_entropy(model, ids)
        same_nan &= np.array_equal(np.isnan(ent[i]), np.isnan(ref))
        fin = ~np.isnan(ref)
        worst = max(worst, float(np.abs(ent[i][fin] - ref[fin]).max(initial=0.0)))
    check(r.returncode == 0 and same_nan and worst <= TOL and np.isnan(comp[2])
          and np.all(comp[[0, 1, 3]] == np.round(comp[[0, 1, 3]])),
          f"keep: entropy NaN exactly where HF's is, max |ours - HF| elsewhere {worst:.2e}; composite NaN for L3")
    return keep


def test_keep_bo(tmp, model):
    """Layer 1's KV head 0 of k is NaN: BO against numpy's definitions on the same q/k/v."""
    import bo_reference
    probes = os.path.join(tmp, "one.ids")
    open(probes, "w").write(",".join(map(str, IDS)) + "\n")
    out = os.path.join(tmp, "keep_bo.h5")
    r = sweep(model, probes, out, "--on-nonfinite", "keep", "--save-kv", "qkv")
    if r.returncode != 0:
        check(False, f"keep --save-kv qkv: exit {r.returncode}: {r.stderr.strip()}")
        return
    with h5py.File(out, "r") as f:
        o, c = f["kv/offset"][0], f["kv/count"][0]
        snap = {n: np.ascontiguousarray(f["kv/" + n][o:o + c].transpose(1, 2, 0, 3)) for n in "qkv"}
        ours = {n: f["bo/" + n][0] for n in f["bo"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = bo_reference.analyse(snap, False)
    # numpy propagates NaN through these (cosines, means, CKA) with no guard in the way.
    for name in ("head_differentiation", "layer_coherence", "layer_cross_alignment",
                 "layer_value_coherence", "layer_kv_coupling"):
        want = np.array(ref[name], dtype=float).reshape(ours[name].shape)
        fin = ~np.isnan(want)
        ok = np.array_equal(np.isnan(ours[name]), ~fin) and np.allclose(ours[name][fin], want[fin], rtol=1e-9, atol=1e-12)
        check(ok and (~fin).any() if name != "layer_value_coherence" else ok,
              f"keep BO {name}: NaN where numpy's is ({np.argwhere(~fin).tolist()}), equal elsewhere")
    bad_heads = ~np.isfinite(snap["k"]).all(axis=(2, 3))
    he = ours["head_entropy"]
    want = np.array(ref["head_entropy"], dtype=float)
    check(np.array_equal(np.isnan(he), bad_heads) and np.allclose(he[~bad_heads], want[~bad_heads], rtol=1e-9),
          "keep BO head_entropy: NaN on the heads whose k is non-finite, numpy's value elsewhere")
    aggregates = ("composite", "composite_exact", "mean_coherence", "mean_cross_alignment", "mean_head_entropy",
                  "phase_lock_score", "joint_collapse_count", "features", "mean_kv_coupling")
    check(all(np.isnan(ours[n]).all() for n in aggregates) and np.isfinite(ours["mean_value_coherence"]),
          "keep BO aggregates over k NaN (never 0), value coherence (finite v) a number")


def test_correlate(tmp, keep):
    st = os.path.join(tmp, "static.h5")
    r = qk("weights", "--model", os.path.join(FIXTURES, "llama3"), "--out", st, "--device", "cpu")
    if r.returncode != 0:
        check(False, f"weights on the clean fixture: {r.stderr.strip()}")
        return
    r = qk("correlate", "--static", st, "--sweep", keep, "--bootstrap", "20", "--json")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(j.get("probes") == 3 and j.get("probes_excluded") == 1,
          f"correlate leaves out the non-finite probe: probes {j.get('probes')}, excluded {j.get('probes_excluded')}")
    old = os.path.join(tmp, "no_status.h5")
    shutil.copy(keep, old)
    with h5py.File(old, "a") as f:
        del f["probe/status"]
    r = qk("correlate", "--static", st, "--sweep", old, "--bootstrap", "20")
    m = r.stderr
    check(r.returncode == 3 and "attention/entropy" in m and "row 2" in m and "'L3'" in m
          and not any(s in m for s in NOT_CLEAR + ("lstsq", "linalg")),
          f"correlate on NaN without status: exit {r.returncode}: {m.strip()}")
    clean = os.path.join(FIXTURES, "llama3")
    args = ["--model", clean, "--samples", "10", "--null-trials", "0", "--device", "cpu"]
    r = qk("simplex", *args, "--from", keep, "--out", os.path.join(tmp, "sx.h5"))
    check(r.returncode == 0 and "1 probe(s)" in r.stderr and "left out" in r.stderr,
          f"simplex --from leaves out the non-finite probe: exit {r.returncode}")
    r = qk("simplex", *args, "--from", old, "--out", os.path.join(tmp, "sx2.h5"))
    m = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    check(r.returncode == 3 and "kv/q row 7 [layer 0, head 0, dim 0] is not finite" in m,
          f"simplex --from on NaN without status: exit {r.returncode}: {m}")


def test_static(tmp, model):
    for cmd in (["weights"], ["simplex", "--samples", "10", "--null-trials", "0"]):
        out = os.path.join(tmp, cmd[0] + ".h5")
        r = qk(*cmd, "--model", model, "--out", out, "--device", "cpu")
        m = r.stderr
        check(r.returncode == 3 and "model.safetensors: tensor 'model.layers.1.self_attn.k_proj.weight'" in m
              and "first at [0, 0] = nan" in m and not os.path.exists(out),
              f"{cmd[0]} on a NaN weight: exit {r.returncode}, names file, tensor, index: {m.strip().splitlines()[-1]}")


def main():
    rc.require_cli()
    sys.path.insert(0, os.path.join(rc.SOURCE_DIR, "tests", "reference"))
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        from safetensors.numpy import load_file  # noqa: F401
    except ImportError as e:
        rc.skip(f"torch, transformers and safetensors are needed: {e}")
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    def nan_k(t):
        t["model.layers.1.self_attn.k_proj.weight"][0, 0] = np.nan

    def big(t):
        t["model.embed_tokens.weight"] *= 1e7

    def nan_row7(t):
        t["model.embed_tokens.weight"][7, 0] = np.nan

    with tempfile.TemporaryDirectory() as tmp:
        nanw = make_model(tmp, "nan_weight", "llama3", nan_k)
        test_score_capture(tmp, "nan_weight", nanw, "f32", 3,
                           [" k:", "model.layers.1.self_attn.k_proj.weight", "first at [0, 0] = nan"])
        test_score_capture(tmp, "f16_overflow", make_model(tmp, "f16_overflow", "llama3", big), "f16", 4,
                           ["overflow f16", "--dtype f32"])
        test_score_capture(tmp, "bert_negative_eps", make_model(tmp, "bert_eps", "bert", config={"layer_norm_eps": -1.0}),
                           "f32", 3, ["layer_norm_eps"])
        keep = test_sweep_policies(tmp, make_model(tmp, "nan_row7", "llama3", nan_row7))
        test_keep_bo(tmp, nanw)
        test_correlate(tmp, keep)
        test_static(tmp, nanw)
    print(f"{len(rc.FAILURES)} check(s) failed")
    return 1 if rc.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
