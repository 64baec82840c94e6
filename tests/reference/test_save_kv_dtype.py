#!/usr/bin/env python3
"""`sweep --save-kv-dtype f16|bf16` against numpy: the stored K/V are the f32 run's values
rounded to nearest even (numpy's astype(float16); for bf16 the same rounding on the top 16
bits, written here with integer arithmetic), h5py reads them as float16 / float32, every
metric is the f32 run's, and the attribute save_kv_dtype says which; a resume with another
--save-kv-dtype is refused naming the attribute. One tiny model (qwen3 fixture), 3 probes."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import h5py
except ImportError as e:
    rc.skip(str(e))


def bf16_round(x):
    """f32 -> bf16 (as f32), round to nearest even; NaN stays NaN."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), rounded)


def sweep(model, probes, out, dtype, extra=()):
    r = subprocess.run(
        [
            rc.QKGEOM_BIN,
            "sweep",
            "--model",
            model,
            "--probes",
            probes,
            "--out",
            out,
            "--device",
            "cpu",
            "--threads",
            "1",
            "--save-kv",
            "qkv",
            "--save-kv-dtype",
            dtype,
            "--metrics",
            "bo,attention",
            "--quiet",
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    return r.returncode, r.stderr


def main():
    rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        probes = os.path.join(tmp, "p.jsonl")
        rng = np.random.default_rng(5)
        with open(probes, "w") as f:
            for i, n in enumerate((7, 30, 64)):
                f.write(json.dumps({"id": f"p{i}", "ids": rng.integers(0, 128, n).tolist()}) + "\n")
        files = {}
        for dt in ("f32", "f16", "bf16"):
            files[dt] = os.path.join(tmp, f"{dt}.h5")
            code, err = sweep(model, probes, files[dt], dt)
            if code != 0:
                failures.append(f"sweep --save-kv-dtype {dt} exits {code}: {err.strip()[-300:]}")
        if failures:
            return report(failures)
        ref = h5py.File(files["f32"], "r")
        want = {"f16": lambda x: x.astype(np.float16), "bf16": bf16_round}
        for dt in ("f16", "bf16"):
            with h5py.File(files[dt], "r") as f:
                if rc.text_attr(f, "save_kv_dtype") != dt:
                    failures.append(f"{dt}: attribute save_kv_dtype is {rc.text_attr(f, 'save_kv_dtype')}")
                for t in ("kv/k", "kv/v", "kv/q"):
                    got, exp = f[t][()], want[dt](ref[t][()])
                    if got.dtype != np.dtype(np.float16 if dt == "f16" else np.float32):
                        failures.append(f"{dt} {t}: h5py reads it as {got.dtype}")
                    if got.shape != exp.shape or not np.array_equal(
                        got.astype(np.float32), exp.astype(np.float32), equal_nan=True
                    ):
                        bad = int((got.astype(np.float32) != exp.astype(np.float32)).sum())
                        failures.append(f"{dt} {t}: {bad} of {exp.size} values differ from numpy's rounding")
                    elif np.array_equal(got.astype(np.float32), ref[t][()]):
                        failures.append(f"{dt} {t}: equal to f32: nothing was rounded (a test that cannot fail)")
                for c in ("bo/composite_exact", "attention/entropy"):
                    if not np.array_equal(f[c][()], ref[c][()], equal_nan=True):
                        failures.append(f"{dt} {c}: differs from the f32 run's")
        ref.close()
        code, err = sweep(model, probes, files["f16"], "f32", ("--resume",))
        if code == 0 or "save_kv_dtype" not in err:
            failures.append(f"resume with another --save-kv-dtype: exit {code}, {err.strip()[-200:]}")
    return report(failures)


def report(failures):
    for f in failures:
        print("FAILED:", f)
    print("ok" if not failures else f"{len(failures)} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
