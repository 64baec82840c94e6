#!/usr/bin/env python3
"""Damaged results files fail fast and clearly, never hang or pass as good data:
- one bit flipped at many offsets of a small committed sweep store (tiny qwen3, --ids
  probes) and in its string heap: `qkgeom export`, `qkgeom sweep --resume` and `qkgeom recover` each finish
  within 10 s (HDF5's SWMR checksum retries are bounded), never crash (signal / exit
  >= 128), and an exit 0 of export gives the CSV of the undamaged file or differs only
  where no checksum guards the bytes (counted and printed);
- the file cut at several sizes: recover and --resume refuse with exit 3 and
  "truncated", the file's bytes and mtime unchanged; h5py says the same file is truncated."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check, finish  # noqa: E402

TIMEOUT = 10


def run(args):
    """(exit code or 'timeout', seconds, stderr)."""
    t = time.time()
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return "timeout", time.time() - t, ""
    return r.returncode, time.time() - t, r.stderr


def make_store(qk, model, tmp):
    probes = os.path.join(tmp, "p.jsonl")
    rng = random.Random(3)
    with open(probes, "w") as f:
        for i in range(4):
            ids = [rng.randrange(100) for _ in range(rng.randrange(3, 12))]
            f.write(json.dumps({"id": f"p{i}", "domain": "d", "ids": ids}) + "\n")
    out = os.path.join(tmp, "good.h5")
    r = subprocess.run([qk, "sweep", "--model", model, "--probes", probes, "--out", out,
                        "--device", rc.DEVICE], capture_output=True, text=True)
    if r.returncode != 0:
        rc.skip("sweep failed: " + r.stderr[-300:])
    return probes, out


def csv_of(qk, path, d):
    shutil.rmtree(d, ignore_errors=True)
    code, secs, err = run([qk, "export", path, "--csv", d])
    files = {}
    if code == 0:
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                files[name] = f.read()
    return code, secs, err, files


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def flip_offsets(size, n, seed=11):
    """n offsets: the first 4 KiB (superblock, root object header, B-tree nodes, string
    heap) densely, then spread over the whole file."""
    rng = random.Random(seed)
    head = rng.sample(range(min(size, 4096)), n // 2)
    return sorted(set(head + [rng.randrange(size) for _ in range(n - len(head))]))


def unguarded_ranges(path, data):
    """[start, end) byte ranges no checksum guards: global heap collections (strings) and
    raw dataset data (chunks, from h5py's chunk index). Metadata is everything else."""
    out, at = [], data.find(b"GCOL")
    while at >= 0:
        out.append((at, at + int.from_bytes(data[at + 8:at + 16], "little")))
        at = data.find(b"GCOL", at + 4)
    with h5py.File(path, "r") as f:
        def visit(_, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            if obj.chunks is None:
                off = obj.id.get_offset()
                if off is not None:
                    out.append((off, off + obj.id.get_storage_size()))
                return
            for i in range(obj.id.get_num_chunks()):
                c = obj.id.get_chunk_info(i)
                out.append((c.byte_offset, c.byte_offset + c.size))
        f.visititems(visit)
    return out


def test_bit_flips(qk, model, probes, good, tmp):
    code, _, err, want = csv_of(qk, good, os.path.join(tmp, "want"))
    check(code == 0 and want, f"export of the undamaged file works ({err[-200:]})")
    data = open(good, "rb").read()
    # Plus the size field of the first string-heap object (HDF5 1.10 faults on it).
    gcol = data.find(b"GCOL")
    offsets = sorted(set(flip_offsets(len(data), 16) + [gcol + 26, gcol + 27]))
    bad = os.path.join(tmp, "bad.h5")
    tally = {"export": {}, "resume": {}, "recover": {}}
    silent, slowest = [], 0.0
    for off in offsets:
        flipped = bytearray(data)
        flipped[off] ^= 1 << (off % 8)
        cmds = {
            "export": lambda: csv_of(qk, bad, os.path.join(tmp, "got")),
            "resume": lambda: run([qk, "sweep", "--model", model, "--probes", probes, "--out", bad,
                                   "--device", rc.DEVICE, "--resume"]) + ({},),
            "recover": lambda: run([qk, "recover", bad]) + ({},),
        }
        for name, cmd in cmds.items():
            if name != "export" and offsets.index(off) % 2:
                continue  # resume and recover on every other offset: each run costs ~0.6 s
            with open(bad, "wb") as f:
                f.write(flipped)
            code, secs, err, got = cmd()
            slowest = max(slowest, secs)
            tally[name][code] = tally[name].get(code, 0) + 1
            check(code != "timeout", f"{name} with bit {off}:{off % 8} flipped finishes in {TIMEOUT} s")
            check(code == "timeout" or code in (0, 3, 4),
                  f"{name} with bit {off}:{off % 8} flipped exits 0/3/4, got {code}: {err[-300:]}")
            if name == "export" and code == 0 and got != want:
                silent.append(off)
    print(f"bit flips: {len(offsets)} offsets (export), {(len(offsets) + 1) // 2} (resume, recover); exit codes {tally}; "
          f"slowest {slowest:.2f} s")
    print(f"export succeeded with different CSV at {len(silent)} offsets {silent} "
          f"(string heaps, raw chunks: no checksum)")
    # A silent change may only come from bytes no checksum guards.
    free = unguarded_ranges(good, data)
    meta = [off for off in silent if not any(a <= off < b for a, b in free)]
    check(not meta, f"no flip in checksummed metadata passes silently (offsets {meta})")


def test_truncated(qk, model, probes, good, tmp):
    size = os.path.getsize(good)
    cut = os.path.join(tmp, "cut.h5")
    for keep in (size - 1, size // 2, 600):
        shutil.copyfile(good, cut)
        with open(cut, "r+b") as f:
            f.truncate(keep)
        os.utime(cut, (1_000_000_000, 1_000_000_000))
        before = sha(cut)
        for name, args in (("recover", [qk, "recover", cut]),
                           ("resume", [qk, "sweep", "--model", model, "--probes", probes, "--out", cut,
                                       "--device", rc.DEVICE, "--resume"]),
                           ("export", [qk, "export", cut, "--csv", os.path.join(tmp, "cutcsv")])):
            code, _, err = run(args)
            check(code == 3 and "truncated" in err,
                  f"{name} of a file cut to {keep} of {size} bytes exits 3 saying truncated "
                  f"(got {code}: {err.strip()[-200:]})")
            check(os.path.getsize(cut) == keep and sha(cut) == before and
                  os.stat(cut).st_mtime == 1_000_000_000,
                  f"{name} leaves a file cut to {keep} bytes unchanged")
        try:
            h5py.File(cut, "r").close()
            check(False, f"h5py also refuses the file cut to {keep} bytes")
        except OSError as e:
            check("truncated" in str(e) or keep < 4096, f"h5py calls the cut file truncated ({e})")
    print("truncated: 3 sizes x recover/resume/export refused, files unchanged")


def main():
    qk = rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    if not os.path.isdir(model):
        rc.skip("no tiny qwen3 fixture")
    tmp = tempfile.mkdtemp(prefix="qk_corrupt_")
    try:
        probes, good = make_store(qk, model, tmp)
        test_truncated(qk, model, probes, good, tmp)
        test_bit_flips(qk, model, probes, good, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish("all ok")


if __name__ == "__main__":
    main()
