#!/usr/bin/env python3
"""qkgeom's safetensors reader against the reference reader (the `safetensors` package,
Rust core): hand-built files with header quirks are opened by both, and qkgeom must
accept exactly the files the reference accepts (`qkgeom score --snapshot F` exit 0, with
the numbers of a clean file holding the reference's k) and refuse the others (exit 3, a
message naming the file and, where one tensor is at fault, the tensor).

A few files the reference accepts are refused on purpose (STRICTER: duplicate keys,
which the reference resolves by keeping the last; a dimension past 2^63-1; the
{"F32": null} spelling of a dtype); docs/snapshot-format.md lists them.
With a libtorch build, the same quirks in a model checkpoint go through `qkgeom capture`.
"""
import json
import os
import shutil
import struct
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    from safetensors import safe_open
except ImportError:
    rc.skip("the safetensors package is not installed")

K = (np.arange(2 * 2 * 3 * 4, dtype="<f4").reshape(2, 2, 3, 4) * 0.37 - 3.0).astype("<f4")
KB = K.tobytes()
N = len(KB)


def build(header, data=b"", lead=b"", pad=b""):
    """Safetensors bytes: a header (dict or raw bytes) with optional leading/trailing text."""
    raw = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    raw = lead + raw + pad
    return struct.pack("<Q", len(raw)) + raw + data


def ent(begin, nbytes=N, dtype="F32", shape=(2, 2, 3, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, begin + nbytes]}


def with_k(text):
    """Raw header bytes where K stands for the entry of the well-formed k."""
    return text.replace(b"K", json.dumps(ent(0)).encode())


def nested(levels):
    """A header whose k entry holds an unknown field nested `levels` deep in all."""
    return json.dumps({"k": dict(ent(0), x="@")}).encode().replace(
        b'"@"', b"[" * (levels - 2) + b"]" * (levels - 2))


EMPTY_AFTER_K = json.dumps(ent(N, 0, shape=[0])).encode()

# name: (file bytes, tensor the message must name or None, qkgeom stricter than reference)
CASES = {
    "plain": (build({"k": ent(0)}, KB), None, False),
    "space_padded": (build({"k": ent(0)}, KB, pad=b"    "), None, False),
    "whitespace_around": (build({"k": ent(0)}, KB, lead=b"\n\t ", pad=b"\t\r\n "), None, False),
    "metadata": (build({"__metadata__": {"a": "b"}, "k": ent(0)}, KB), None, False),
    "metadata_null": (build({"__metadata__": None, "k": ent(0)}, KB), None, False),
    "metadata_not_string": (build({"__metadata__": {"a": 1}, "k": ent(0)}, KB), None, False),
    "metadata_nested": (build({"__metadata__": {"a": {}}, "k": ent(0)}, KB), None, False),
    "metadata_not_object": (build({"__metadata__": "x", "k": ent(0)}, KB), None, False),
    "metadata_twice": (build(with_k(b'{"__metadata__":{},"__metadata__":{},"k":K}'), KB), None, False),
    "offsets_unsorted": (build({"z": ent(N, 16, shape=[4]), "k": ent(0)}, KB + bytes(16)), None, False),
    "unknown_entry_field": (build({"k": dict(ent(0), x=[1, {"y": 2}])}, KB), None, False),
    "empty_tensor_between": (build({"k": ent(0), "e": ent(N, 0, shape=[0, 3]), "z": ent(N, 16, shape=[4])},
                                   KB + bytes(16)), None, False),
    "empty_tensor_past_end": (build({"k": ent(0), "e": ent(N + 8, 0, shape=[0])}, KB), "e", False),
    "scalar_tensor": (build({"k": ent(0), "s": ent(N, 4, shape=[])}, KB + bytes(4)), None, False),
    "other_dtype_u16": (build({"k": ent(0), "u": ent(N, 8, "U16", [4])}, KB + bytes(8)), None, False),
    "other_dtype_f4": (build({"k": ent(0), "u": ent(N, 2, "F4", [4])}, KB + bytes(2)), None, False),
    "other_dtype_f6": (build({"k": ent(0), "u": ent(N, 3, "F6_E2M3", [4])}, KB + bytes(3)), None, False),
    "f4_partial_byte": (build({"k": ent(0), "u": ent(N, 2, "F4", [3])}, KB + bytes(2)), "u", False),
    "dtype_unknown": (build({"k": ent(0), "u": ent(N, 4, "F33", [1])}, KB + bytes(4)), "u", False),
    "dtype_lowercase": (build({"k": ent(0, dtype="f32")}, KB), "k", False),
    "dtype_map_form": (build(with_k(b'{"k":K}').replace(b'"F32"', b'{"F32":null}'), KB), "k", True),
    "no_tensors_but_data": (build({}, b"\0"), None, False),
    "hole_before_first": (build({"k": ent(64)}, bytes(64) + KB), "k", False),
    "hole_between": (build({"k": ent(0), "z": ent(N + 8, 16, shape=[4])}, KB + bytes(24)), "z", False),
    "trailing_bytes": (build({"k": ent(0)}, KB + bytes(16)), "k", False),
    "overlap": (build({"k": ent(0), "z": ent(N - 8, 16, shape=[4])}, KB + bytes(8)), "z", False),
    "same_range_twice": (build({"k": ent(0), "k_alias": ent(0)}, KB), "k_alias", False),
    "data_cut_short": (build({"k": ent(0)}, KB[:-4]), "k", False),
    "end_before_begin": (build({"k": ent(0), "e": {"dtype": "F32", "shape": [0], "data_offsets": [N, 0]}},
                               KB), "e", False),
    "size_not_shape": (build({"k": ent(0), "z": ent(N, 12, shape=[4])}, KB + bytes(12)), "z", False),
    "duplicate_k_two_ranges": (build(with_k(b'{"k":K,"k":') + json.dumps(ent(N)).encode() + b"}",
                                     KB + KB[::-1]), "k", False),
    "duplicate_k_identical": (build(with_k(b'{"k":K,"k":K}'), KB), "k", True),
    "duplicate_k_escaped": (build(with_k(b'{"k":K,"\\u006b":K}'), KB), "k", True),
    "duplicate_entry_field": (build(b'{"k":{"dtype":"F32","dtype":"F32","shape":[2,2,3,4],'
                                    b'"data_offsets":[0,%d]}}' % N, KB), "k", False),
    "duplicate_metadata_key": (build(with_k(b'{"__metadata__":{"a":"1","a":"2"},"k":K}'), KB), None, True),
    "shape_negative": (build({"k": dict(ent(0), shape=[2, -2, 3, 4])}, KB), "k", False),
    "shape_float": (build(with_k(b'{"k":K}').replace(b"4], ", b"4.0], "), KB), "k", False),
    "shape_2e64": (build({"k": ent(0), "z": ent(N, 0, shape=[2 ** 64, 0])}, KB), "z", False),
    "shape_2e63_empty": (build({"k": ent(0), "z": ent(N, 0, shape=[2 ** 63, 0])}, KB), "z", True),
    "shape_2e62_empty": (build({"k": ent(0), "z": ent(N, 0, shape=[2 ** 62, 0])}, KB), None, False),
    "shape_elements_overflow": (build({"k": ent(0), "z": ent(N, 16, shape=[2 ** 32, 2 ** 32, 4])},
                                      KB + bytes(16)), "z", False),
    "shape_bits_overflow": (build({"k": ent(0), "z": ent(N, 16, shape=[2 ** 62])}, KB + bytes(16)), "z", False),
    "offsets_float": (build(with_k(b'{"k":K}').replace(b"%d]" % N, b"%d.0]" % N), KB), "k", False),
    "offsets_minus_zero": (build(with_k(b'{"k":K}').replace(b"[0, ", b"[-0, "), KB), "k", False),
    "offsets_three": (build(with_k(b'{"k":K}').replace(b"%d]" % N, b"%d, %d]" % (N, N)), KB), "k", False),
    "offsets_2e64": (build(with_k(b'{"k":K}').replace(b"[0, ", b"[18446744073709551616, "), KB), "k", False),
    "offsets_u64_max": (build(with_k(b'{"k":K}').replace(b"[0, ", b"[18446744073709551615, "), KB), "k", False),
    "entry_missing_dtype": (build({"k": {"shape": [2, 2, 3, 4], "data_offsets": [0, N]}}, KB), "k", False),
    "entry_not_object": (build({"k": ent(0), "x": 5}, KB), "x", False),
    "header_array": (build(b"[]"), None, False),
    "header_not_json": (build(b"{not json", KB), None, False),
    "header_bom": (build(with_k(b'\xef\xbb\xbf{"k":K}'), KB), None, False),
    "header_nul_padding": (build({"k": ent(0)}, KB, pad=b"\0\0"), None, False),
    "header_trailing_junk": (build({"k": ent(0)}, KB, pad=b" x"), None, False),
    "header_formfeed": (build({"k": ent(0)}, KB, lead=b"\x0c"), None, False),
    "name_not_utf8": (build(with_k(b'{"k":K,"z\xff":') + EMPTY_AFTER_K + b"}", KB), None, False),
    "name_lone_surrogate": (build(with_k(b'{"k":K,"z\\ud800":') + EMPTY_AFTER_K + b"}", KB), None, False),
    "name_control_char": (build(with_k(b'{"k":K,"z\t":') + EMPTY_AFTER_K + b"}", KB), None, False),
    "name_empty": (build({"k": ent(0), "": ent(N, 0, shape=[0])}, KB), None, False),
    "nesting_127": (build(nested(127), KB), None, False),
    "nesting_128": (build(nested(128), KB), None, False),
    "header_len_100e6": (struct.pack("<Q", 100_000_000) + b"{}", None, False),
    "header_len_100e6_plus_1": (struct.pack("<Q", 100_000_001) + b"{}", None, False),
}


def reference(path):
    """The reference's verdict: its k as an array, or the first line of its error."""
    try:
        with safe_open(path, "np") as f:
            return f.get_tensor("k"), None
    except Exception as e:  # the reference raises several types
        return None, str(e).splitlines()[0][:120]


def numbers(score_json):
    """The metrics of a `score --json` answer (without the file name and timings)."""
    return {k: v for k, v in json.loads(score_json).items() if k not in ("snapshot", "timing")}


def run_case(tmp, name, data):
    """(reference k or None, reference error or None, qkgeom process) for one file."""
    path = os.path.join(tmp, f"{name}.safetensors")
    with open(path, "wb") as f:
        f.write(data)
    ref_k, ref_err = reference(path)
    return path, ref_k, ref_err, rc.run_cli(["score", "--snapshot", path, "--json", "--device", "cpu"], timeout=60)


def check_case(chk, clean, name, tensor, stricter, result):
    """Every accepted file holds the k of `clean` (a dict of its metrics)."""
    path, ref_k, ref_err, proc = result
    err = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    ref_says = "accepts" if ref_err is None else f"refuses ({ref_err})"
    print(f"{name}: reference {ref_says} | qkgeom exit {proc.returncode} {err[:150]}")
    chk.cases.add(name)
    want = 3 if (ref_err is not None or stricter) else 0
    chk.field(name, "exit code", proc.returncode, want, exact=True)
    if stricter and ref_err is not None:
        print(f"NOTE {name}: the reference now refuses it too")
    if proc.returncode == 3:
        chk.field(name, "message names the file", path in err, True)
        if tensor is not None:
            chk.field(name, "message names the tensor", f"'{tensor}'" in err, True)
    if proc.returncode == 0 and ref_k is not None:
        chk.field(name, "reference k is the written k", bool(np.array_equal(ref_k, K)), True)
        chk.field(name, "metrics equal those of a clean file", numbers(proc.stdout) == clean, True)


def checkpoint_cases(chk, tmp):
    """The tiny qwen3 checkpoint with a second k_proj entry, and with 64 unowned bytes."""
    fix = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    raw = open(os.path.join(fix, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    name = "model.layers.0.self_attn.k_proj.weight"
    e = header[name]
    dup = json.dumps(dict(e, data_offsets=[len(data), len(data) + e["data_offsets"][1] - e["data_offsets"][0]]))
    hole = {k: v if k == "__metadata__" else dict(v, data_offsets=[o + 64 for o in v["data_offsets"]])
            for k, v in header.items()}
    variants = {
        "ckpt_duplicate_key": (json.dumps(header)[:-1] + f',"{name}":{dup}}}',
                               data + data[slice(*e["data_offsets"])][::-1], name),
        "ckpt_hole": (json.dumps(hole), bytes(64) + data, None),
    }
    for case, (hdr, payload, tensor) in variants.items():
        d = os.path.join(tmp, case)
        os.makedirs(d)
        shutil.copy(os.path.join(fix, "config.json"), d)
        st = os.path.join(d, "model.safetensors")
        with open(st, "wb") as f:
            f.write(build(hdr.encode(), payload))
        _, ref_err = reference(st)
        proc = rc.run_cli(["capture", "--model", d, "--ids", "1,17,42", "--out",
                           os.path.join(tmp, case + ".out.safetensors"), "--device", "cpu"], timeout=120)
        err = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        print(f"{case}: reference {'accepts' if ref_err is None else 'refuses'} | qkgeom capture exit "
              f"{proc.returncode} {err[:150]}")
        chk.cases.add(case)
        chk.field(case, "reference refuses", ref_err is not None, True)
        chk.field(case, "exit code", proc.returncode, 3, exact=True)
        chk.field(case, "message names the file", st in err, True)
        if tensor:
            chk.field(case, "message names the tensor", f"'{tensor}'" in err, True)


def main():
    rc.require_cli()
    chk = rc.Checker()
    with tempfile.TemporaryDirectory(prefix="qk-st-strict-") as tmp:
        clean = run_case(tmp, "clean", build({"k": ent(0)}, KB))[3]
        if clean.returncode != 0:
            print(f"FAILED: a well-formed file is refused: {clean.stderr.strip()}")
            return 1
        with ThreadPoolExecutor(max_workers=4) as pool:  # each run is mostly process start-up
            results = {name: pool.submit(run_case, tmp, name, case[0]) for name, case in CASES.items()}
        for name, (_, tensor, stricter) in CASES.items():
            check_case(chk, numbers(clean.stdout), name, tensor, stricter, results[name].result())
        if rc.run_cli(["capture", "--help"]).returncode == 0:
            checkpoint_cases(chk, tmp)
        else:
            print("NOTE: no `capture` in this build (no libtorch): checkpoint cases not run")
    return chk.report("safetensors headers: qkgeom against the safetensors reader")


if __name__ == "__main__":
    sys.exit(main())
