#!/usr/bin/env python3
"""The attention logit soft-cap (Gemma 2's attn_logit_softcapping) travels from config.json
to every place the attention statistics are computed or recorded, on the tiny gemma2
fixture (cap 2) and the llama3 fixture (no cap):

- `score --model --json` reports `attention.logit_softcap` 2 (none for llama3);
- `capture` writes the snapshot key `attention_logit_softcap` = "2", and `score
  --snapshot` on it gives the same statistics as `score --model` (so the key is read);
- `sweep --metrics attention` records the root attribute `attention_logit_softcap` = "2"
  (absent for llama3), and its `attention/entropy` row equals `score --model`'s.
The values themselves are checked against HF eager (test_hf_parity_gemma2_olmo2_phi3.py)
and numpy (test_attention_stats_numpy.py)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import h5py
    import numpy as np
    from safetensors import safe_open
except ImportError as e:
    rc.skip(f"{e} (make deps installs h5py, numpy and safetensors)")

IDS = [3, 99, 14, 0, 57, 127, 8, 64, 21, 5, 77]
FIXTURES = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")


def score_json(args):
    proc = rc.run_cli(["score", "--json", "--device", "cpu"] + args)
    if proc.returncode != 0:
        raise RuntimeError(f"score {args}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)["attention"]


def check_model(name, cap, tmp, failures):
    model = os.path.join(FIXTURES, name)
    ids = ",".join(map(str, IDS))
    direct = score_json(["--model", model, "--ids", ids])
    if direct.get("logit_softcap") != cap:
        failures.append(f"{name}: score --model logit_softcap {direct.get('logit_softcap')} != {cap}")
    snap = os.path.join(tmp, name + ".safetensors")
    proc = rc.run_cli(["capture", "--model", model, "--ids", ids, "--out", snap, "--dtype", "f32"])
    if proc.returncode != 0:
        failures.append(f"{name}: capture exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return
    with safe_open(snap, "np") as f:
        stored = f.metadata().get("attention_logit_softcap")
    if stored != (None if cap is None else "%.17g" % cap):
        failures.append(f"{name}: snapshot attention_logit_softcap {stored!r} for cap {cap}")
    again = score_json(["--snapshot", snap])
    for f in ("entropy", "logit_std", "sink_mass"):
        if not np.allclose(again[f], direct[f], rtol=1e-12, atol=1e-12):
            failures.append(f"{name}: score --snapshot {f} differs from score --model")
    check_sweep(name, model, cap, direct, tmp, failures)


def check_sweep(name, model, cap, direct, tmp, failures):
    probes, out = os.path.join(tmp, "probes.jsonl"), os.path.join(tmp, name + ".h5")
    with open(probes, "w") as f:
        f.write(json.dumps({"id": "p0", "domain": "a", "ids": IDS}) + "\n")
    proc = rc.run_cli(["sweep", "--model", model, "--probes", probes, "--out", out, "--device", "cpu",
                       "--metrics", "attention"])
    if proc.returncode != 0:
        failures.append(f"{name}: sweep exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return
    with h5py.File(out, "r") as h:
        attr = rc.text_attr(h, "attention_logit_softcap")
        entropy = h["attention/entropy"][0]
    want = None if cap is None else "%.17g" % cap
    if attr != want:
        failures.append(f"{name}: sweep attribute attention_logit_softcap {attr!r}, want {want!r}")
    if not np.allclose(entropy, direct["entropy"], rtol=1e-12, atol=1e-12):
        failures.append(f"{name}: sweep attention/entropy differs from score --model")


def main():
    rc.require_cli()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        check_model("gemma2", 2.0, tmp, failures)
        check_model("llama3", None, tmp, failures)
    for f in failures:
        print("FAILED:", f)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
