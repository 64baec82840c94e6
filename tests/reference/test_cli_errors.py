#!/usr/bin/env python3
"""Malformed snapshots through `qkgeom score`: each must exit non-zero without a
signal (exit code < 128), with a message on stderr naming the file; NaN/Inf
must be called non-finite. Files are generated here, in a temporary directory.

A case's `hint` words are what a good message would mention; missing ones are
printed as NOTE lines, not failures.

Also the pre-tokenized prompt options (--ids LIST, --ids-file FILE) of score and
capture: each malformed list is refused with its exact message and exit code, and
every accepted form (comma list, the JSON list `tokenize` prints, a file of lines)
captures the same bytes.

Also the exit code and message of each error class of docs/cli.md (exit_code_cases.py).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from exit_code_cases import exit_code_checks  # noqa: E402

SHAPE = [2, 2, 3, 4]
NBYTES = 2 * 2 * 3 * 4 * 4


def st_bytes(header, data=b"", header_len=None):
    """A safetensors file from a header (dict or raw bytes) and a data section."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if header_len is None else header_len
    return struct.pack("<Q", n) + raw + data


def tensor(dtype="F32", shape=None, begin=0, end=None):
    shape = SHAPE if shape is None else shape
    size = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4}.get(dtype, 4)
    n = int(np.prod(shape)) * size
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + n if end is None else end]}


def values(shape=None, seed=0):
    shape = SHAPE if shape is None else shape
    return np.random.default_rng(seed).standard_normal(shape).astype("<f4")


def st_file(tensors):
    """Well-formed safetensors bytes from {name: f32 array}."""
    header, data = {}, b""
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    return st_bytes(header, data)


def cases():
    """Yields (name, content, hint words); content: bytes, a callable(path), or None
    (the path is left absent)."""
    k = values()
    good = st_file({"k": k})
    yield "empty_file", b"", ("empty", "short", "truncat", "size", "header")
    yield "short_3_bytes", b"\x10\x00\x00", ("short", "truncat", "size", "header", "8")
    yield "cut_mid_data", good[: len(good) - NBYTES // 2], ("truncat", "offset", "size", "end", "short")
    yield "cut_mid_header", good[:20], ("truncat", "header", "size", "short")
    yield "header_len_past_end", st_bytes({"k": tensor()}, k.tobytes(), header_len=10 ** 6), ("header", "size", "length")
    yield "header_len_2e63", st_bytes({"k": tensor()}, k.tobytes(), header_len=2 ** 63 + 5), ("header", "size", "length")
    yield "header_not_json", st_bytes(b"this is {not json", k.tobytes()), ("json", "header", "parse")
    yield "header_json_array", st_bytes(b"[1, 2, 3]", k.tobytes()), ("json", "header", "object")
    yield "header_not_utf8", st_bytes(b'{"k\xff\xfe": 1}', b""), ("json", "header", "utf", "parse")
    yield "offsets_past_end", st_bytes({"k": tensor(begin=64)}, k.tobytes()), ("offset", "end", "size", "bound")
    yield ("offsets_overlap", st_bytes({"k": tensor(), "v": tensor(begin=NBYTES // 2)},
                                       (k.tobytes() * 2)[: NBYTES * 3 // 2]), ("overlap", "offset"))
    yield ("offsets_length_mismatch", st_bytes({"k": tensor(end=NBYTES // 2)}, k.tobytes()[: NBYTES // 2]),
           ("offset", "shape", "size", "length", "bytes"))
    yield "offsets_reversed", st_bytes({"k": tensor(begin=NBYTES, end=0)}, k.tobytes()), ("offset",)
    yield "offsets_missing", st_bytes({"k": {"dtype": "F32", "shape": SHAPE}}, k.tobytes()), ("offset",)
    yield ("shape_negative", st_bytes({"k": dict(tensor(), shape=[2, -2, 3, 4])}, k.tobytes()),
           ("shape", "negative", "dimension"))
    yield "shape_not_list", st_bytes({"k": dict(tensor(), shape="2x2")}, k.tobytes()), ("shape",)
    yield "k_rank3", st_file({"k": values([2, 3, 4])}), ("rank", "dim", "shape", "4")
    yield "k_rank5", st_file({"k": values([1, 2, 2, 3, 4])}), ("rank", "dim", "shape", "4")
    yield "v_shape_unlike_k", st_file({"k": k, "v": values([2, 2, 3, 5])}), ("shape", "v")
    yield "v_rank3", st_file({"k": k, "v": values([2, 6, 4])}), ("shape", "rank", "v")
    yield "q_layers_differ", st_file({"k": k, "q": values([3, 4, 3, 4])}), ("layer", "shape", "q")
    yield "q_seq_differ", st_file({"k": k, "q": values([2, 4, 5, 4])}), ("seq", "shape", "q")
    yield "q_dim_differ", st_file({"k": k, "q": values([2, 4, 3, 8])}), ("dim", "shape", "q")
    yield "q_heads_not_multiple", st_file({"k": k, "q": values([2, 3, 3, 4])}), ("multiple", "head", "q")
    yield "dtype_unknown", st_bytes({"k": tensor("F8_E9M9")}, k.tobytes()), ("dtype", "F8_E9M9")
    yield "dtype_i32", st_bytes({"k": tensor("I32")}, k.tobytes()), ("dtype", "I32")
    yield "empty_tensor", st_bytes({"k": tensor(shape=[2, 0, 3, 4])}, b""), ("empty", "zero", "shape")
    yield "missing_k", st_file({"v": k}), ("k", "missing")
    nan = k.copy()
    nan[1, 0, 2, 3] = np.nan
    yield "nan_in_k", st_file({"k": nan}), ("finite",)
    inf = k.copy()
    inf[0, 1, 0, 0] = -np.inf
    yield "inf_in_v", st_file({"k": k, "v": inf}), ("finite",)
    qinf = values([2, 4, 3, 4])
    qinf[1, 3, 2, 1] = np.inf
    yield "inf_in_q", st_file({"k": k, "q": qinf}), ("finite",)
    f16 = np.ascontiguousarray(k.astype("<f2"))
    f16.view(np.uint16)[0, 0, 0, 0] = 0x7E00
    yield ("nan_in_k_f16", st_bytes({"k": tensor("F16")}, f16.tobytes()), ("finite",))
    yield "nonexistent", None, ("exist", "no such", "not found", "open")
    yield "a_directory", lambda p: os.mkdir(p), ("directory", "regular", "read", "open")
    yield "h5_k_rank3", _h5({"k": values([2, 3, 4])}), ("rank", "dim", "shape")
    yield "h5_missing_k", _h5({"v": k}), ("k", "missing")
    yield "h5_k_int32", _h5({"k": np.ones(SHAPE, np.int32)}), ("dtype", "type")
    yield "h5_nan_in_k", _h5({"k": nan}), ("finite",)
    yield "h5_truncated", _h5({"k": k}, cut=True), ("hdf5", "open", "read", "truncat")


def _h5(datasets, cut=False):
    def write(path):
        import h5py
        with h5py.File(path, "w") as h5:
            for name, arr in datasets.items():
                h5.create_dataset(name, data=arr)
        if cut:
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
    return write


QWEN3 = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")

# (--ids value, exit code, stderr must contain); each is refused while parsing the command line.
BAD_IDS = [
    ("", 2, "--ids: empty"),
    (" ", 2, "--ids: empty"),
    ("[]", 2, "--ids: empty ids list"),
    ("1,,2", 2, "--ids: empty item at column 3"),
    ("1,2,", 2, "--ids: trailing comma"),
    ("-1", 2, "--ids: token id -1 is negative"),
    ("9223372036854775808", 2, "--ids: token id 9223372036854775808 is too large"),
    ("1.5", 2, "--ids: token id '1.5' is not an integer"),
    ("[1,2", 2, "--ids: unbalanced [ ]"),
    ("[1,2] [3]", 2, "--ids: expected one JSON list of ids"),
]


def capture(args):
    return subprocess.run([rc.QKGEOM_BIN, "capture", "--model", QWEN3, "--device", "cpu"] + args,
                          capture_output=True, text=True, errors="replace", timeout=120)


def ids_checks(chk, tmp):
    """--ids / --ids-file: refusals with their messages, and equal captures for every form."""
    from safetensors.numpy import load_file
    out = os.path.join(tmp, "ids_out.safetensors")
    for value, code, needle in BAD_IDS:
        case = f"ids {value!r}"
        proc = capture(["--ids", value, "--out", out])
        chk.field(case, "exit code", proc.returncode, code, exact=True)
        chk.field(case, "message", needle in proc.stderr, True)
    files = {"ids_json.txt": "[1, 17, 42]\n", "ids_lines.txt": "1\n17 ,\t42\n", "ids_two.txt": "[1]\n[2]\n",
             "ids_empty.txt": "\n", "ids_negative.txt": "1\n-7\n"}
    for name, text in files.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    for name, code, needle in [("ids_two.txt", 3, "--ids-file: expected one JSON list"),
                               ("ids_empty.txt", 3, "--ids-file: empty"),
                               ("ids_negative.txt", 3, "--ids-file: token id -7 is negative"),
                               ("absent.txt", 3, "--ids-file: cannot open"), ("", 2, "--ids-file: empty")]:
        path = os.path.join(tmp, name) if name else ""
        proc = capture(["--ids-file", path, "--out", out])
        chk.field(f"ids-file {name!r}", "exit code", proc.returncode, code, exact=True)
        chk.field(f"ids-file {name!r}", "message names file and problem",
                  needle in proc.stderr and (not name or os.path.basename(path) in proc.stderr), True)
    if capture(["--help"]).returncode != 0 or not os.path.isfile(os.path.join(QWEN3, "config.json")):
        print("NOTE: capture or the qwen3 fixture unavailable: accepted --ids forms not run")
        return
    forms = {"comma": ["--ids", "1,17,42"], "json": ["--ids", "[1, 17, 42]"],
             "file_json": ["--ids-file", os.path.join(tmp, "ids_json.txt")],
             "file_lines": ["--ids-file", os.path.join(tmp, "ids_lines.txt")]}
    captured = {}
    for form, args in forms.items():
        path = os.path.join(tmp, f"ids_{form}.safetensors")
        proc = capture(args + ["--out", path])
        chk.field(f"ids form {form}", "exit code", proc.returncode, 0, exact=True)
        captured[form] = load_file(path) if proc.returncode == 0 else None
    base = captured["comma"]
    for form in ("json", "file_json", "file_lines"):
        got = captured[form]
        same = base is not None and got is not None and sorted(got) == sorted(base) and all(
            np.array_equal(got[k], base[k]) for k in base)
        chk.field(f"ids form {form}", "same q/k/v as --ids 1,17,42", same, True)


def main():
    rc.require_cli()
    chk = rc.Checker()
    notes = []
    with tempfile.TemporaryDirectory(prefix="qk-cli-errors-") as tmp:
        good = os.path.join(tmp, "well_formed.safetensors")
        with open(good, "wb") as f:
            f.write(st_file({"k": values(), "v": values(seed=1), "q": values([2, 4, 3, 4], seed=2)}))
        proc = rc.run_cli(["score", "--snapshot", good, "--json", "--device", "cpu"])
        chk.field("well_formed", "exit code", proc.returncode, 0, exact=True)
        if proc.returncode != 0:
            print(f"well-formed control failed: {proc.stderr.strip()}")

        for name, content, hints in cases():
            path = os.path.join(tmp, f"bad_{name}" + (".h5" if name.startswith("h5_") else ".safetensors"))
            if isinstance(content, bytes):
                with open(path, "wb") as f:
                    f.write(content)
            elif content is not None:
                content(path)
            try:
                proc = subprocess.run([rc.QKGEOM_BIN, "score", "--snapshot", path, "--json",
                                       "--device", "cpu"], capture_output=True, text=True,
                                      errors="replace", timeout=60)
            except subprocess.TimeoutExpired:
                chk.fail(name, "run", "timeout after 60 s", "an error exit")
                continue
            code, err = proc.returncode, proc.stderr
            chk.cases.add(name)
            chk.checked += 1
            if code == 0:
                chk.fail(name, "exit code", 0, "non-zero", f"stdout {proc.stdout[:200]!r}")
            elif code < 0 or code >= 128:
                chk.fail(name, "exit code", code, "1..127", f"crash; stderr {err.strip()[-300:]!r}")
            if os.path.basename(path) not in err:
                chk.fail(name, "stderr names file", err.strip()[-300:], os.path.basename(path))
            low = err.replace(path, "").replace(os.path.basename(path), "").lower()
            if hints == ("finite",):
                if "finite" not in low:
                    chk.fail(name, "stderr says non-finite", err.strip()[-300:], "non-finite")
            elif not any(h.lower() in low for h in hints):
                notes.append(f"NOTE {name}: message mentions none of {hints}: {err.strip()[-300:]!r}")
            print(f"{name}: exit {code}: {err.strip().splitlines()[-1] if err.strip() else '(no stderr)'}")
        ids_checks(chk, tmp)
        exit_code_checks(chk, tmp)
    for n in notes:
        print(n)
    return chk.report("qkgeom score on malformed snapshots; --ids and --ids-file; exit codes")


if __name__ == "__main__":
    sys.exit(main())
