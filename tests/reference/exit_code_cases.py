"""docs/cli.md's error classes, one command line each, for test_cli_errors.py: an option
error exits 2 naming the option, a bad input file 3 naming the file and the dataset or
field, an I/O or device failure 4. Each case asserts the exit code exactly and every
expected piece of the message; range messages must print their bounds readably (no
number of 20 digits or more). The input files are made here from the tiny qwen3
fixture (`weights`, `sweep`) and broken with h5py."""
import os
import re
import shutil
import subprocess

import numpy as np

import refcommon as rc

QWEN3 = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")


def run(args):
    return subprocess.run([rc.QKGEOM_BIN] + args, capture_output=True, text=True, errors="replace", timeout=120)


def check(chk, case, args, code, needles):
    """Runs `qkgeom args`: exit `code` and stderr holding every needle, no 20-digit number."""
    proc = run(args)
    err = proc.stderr
    chk.field(case, "exit code", proc.returncode, code, exact=True)
    missing = [n for n in needles if n not in err]
    chk.field(case, "message names " + ", ".join(needles), missing, [], exact=True)
    chk.field(case, "no 20-digit number", re.findall(r"\d{20,}", err), [], exact=True)
    print(f"{case}: exit {proc.returncode}: {err.strip().splitlines()[0] if err.strip() else '(no stderr)'}")


def usage_cases(chk, tmp, probes):
    """Option errors (2), readable range messages, unknown commands."""
    out = os.path.join(tmp, "never.h5")
    check(chk, "no command", [], 2, ["usage: qkgeom COMMAND"])
    check(chk, "unknown command", ["frobnicate", "--x"], 2, ["unknown command 'frobnicate'"])
    check(chk, "--epochs -1", ["headdim-sweep", "--epochs", "-1"], 2, ["--epochs: must be >= 0, not -1"])
    check(chk, "--samples 0", ["headdim-sweep", "--samples", "0"], 2, ["--samples: must be > 0, not 0"])
    # Grid lists: an empty item was dropped ("1,,2" ran 1,2) and an empty list read as 0.
    grid = "whole numbers in [1, 65536] separated by commas"
    check(chk, "--heads 1,,2", ["headdim-sweep", "--heads", "1,,2"], 2, [f"--heads: must be {grid}; item '' of '1,,2'"])
    check(chk, "--dims ''", ["headdim-sweep", "--dims", ""], 2, [f"--dims: must be {grid}, not an empty list"])
    check(chk, "--dims 64,2.5", ["headdim-sweep", "--dims", "64,2.5"], 2, [f"--dims: must be {grid}; item '2.5'"])
    # A list value given twice would run or write the same thing twice ("8,8" trained D=8 twice).
    check(chk, "--dims 8,08", ["headdim-sweep", "--dims", "8,08"], 2, ["--dims: item '08' of '8,08' is listed twice"])
    check(chk, "--offsets 1,1", ["rope-geometry", "--model", QWEN3, "--offsets", "1,1"], 2,
          ["--offsets: 1 is listed twice"])
    check(chk, "inspect --model twice", ["inspect", "--model", QWEN3, "--model", QWEN3 + "/"], 2,
          [f"--model: '{QWEN3}/' is given twice (the same as '{QWEN3}')"])
    check(chk, "inspect --model DIR, DIR/config.json", ["inspect", "--model", QWEN3, "--model",
          QWEN3 + "/config.json"], 2, [f"--model: '{QWEN3}/config.json' is given twice (the same as '{QWEN3}')"])
    check(chk, "compare --static twice", ["compare", out, out, "--static", QWEN3, "--static", QWEN3], 2,
          [f"--static: '{QWEN3}' is given twice"])
    # Seeds: refused, never wrapped (-1 read as 2^64 - 1 before); 32 bits for compare's RandomState.
    check(chk, "compare --seed -1", ["compare", out, out, "--seed", "-1"], 2,
          ["--seed: must be a whole number in [0, 4294967295], not -1"])
    check(chk, "compare --seed 2^32", ["compare", out, out, "--seed", "4294967296"], 2,
          ["--seed: must be a whole number in [0, 4294967295], not 4294967296"])
    check(chk, "headdim-sweep --seed -1", ["headdim-sweep", "--seed", "-1"], 2,
          ["--seed: must be a whole number in [0, 2^64 - 1], not -1"])
    check(chk, "simplex --seed 1.5", ["simplex", "--model", QWEN3, "--out", out, "--seed", "1.5"], 2,
          ["--seed: must be a whole number in [0, 2^64 - 1], not 1.5"])
    check(chk, "--lock-threshold 2", ["score", "--snapshot", out, "--lock-threshold", "2"], 2,
          ["--lock-threshold: must be in [0, 1], not 2"])
    check(chk, "--dtype f64", ["capture", "--model", QWEN3, "--ids", "1,2", "--dtype", "f64", "--out",
                               os.path.join(tmp, "never.safetensors")], 2,
          ["--dtype: unsupported dtype 'f64'; supported: bf16, f16, f32"])
    # Checked with the options, before the (here missing) model is read.
    check(chk, "--dtype fp32, no model", ["sweep", "--model", os.path.join(tmp, "no-model"), "--probes", probes,
                                          "--out", out, "--dtype", "fp32"], 2,
          ["--dtype: unsupported dtype 'fp32'; supported: auto, bf16, f16, f32"])
    sweep = ["sweep", "--model", QWEN3, "--probes", probes, "--out", out, "--device", "cpu"]
    check(chk, "--template llama", sweep + ["--template", "llama"], 2,
          ["--template: unknown template 'llama'; supported: raw, chatml, gemma"])
    check(chk, "--probe-format csv", sweep + ["--probe-format", "csv"], 2,
          ["--probe-format: unknown probe format 'csv'"])


def replace(h5, name, data, **kw):
    del h5[name]
    h5.create_dataset(name, data=data, **kw)


def broken(src, tmp, name, edit):
    """A copy of `src` named `name`.h5 after edit(h5py file)."""
    import h5py
    path = os.path.join(tmp, name + ".h5")
    shutil.copy(src, path)
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def study_cases(chk, tmp, static, sweep):
    """Bad store and static files through correlate, export and merge (3)."""
    def nan_entropy(h5):
        h5["attention/entropy"][1, 0, 0] = np.nan

    def nan_op(h5):
        h5["exact/op"][0, 1] = np.nan
    short = broken(sweep, tmp, "short_status", lambda h5: h5["probe/status"].resize((2,)))
    long_index = broken(sweep, tmp, "long_index", lambda h5: h5["probe/index"].resize((5,)))
    huge = broken(sweep, tmp, "huge_entropy", lambda h5: replace(
        h5, "attention/entropy", None, shape=(2 ** 40, 2, 4), dtype="f8", chunks=(1, 2, 4)))
    unwritten = broken(sweep, tmp, "unwritten_index", lambda h5: h5["probe/index"].resize((10 ** 6,)))
    nan = broken(sweep, tmp, "nan_entropy", nan_entropy)
    neg = broken(sweep, tmp, "negative_count", lambda h5: h5["tokens/count"].__setitem__(1, -4))
    strings = broken(static, tmp, "string_op", lambda h5: replace(h5, "exact/op", np.array([[b"x"] * 4] * 2)))
    int_status = broken(sweep, tmp, "int_status", lambda h5: replace(h5, "probe/status", np.zeros(3, np.int32)))
    nan_static = broken(static, tmp, "nan_op", nan_op)
    corr = ["correlate", "--bootstrap", "10", "--json"]
    check(chk, "correlate short probe/status", corr + ["--static", static, "--sweep", short], 3,
          [short, "'probe/status' has 2 rows, fewer than the 3 committed"])
    check(chk, "correlate probe/index past attention/entropy", corr + ["--static", static, "--sweep", long_index],
          3, [long_index, "'attention/entropy' has 3 rows, fewer than the 5 committed"])
    check(chk, "correlate huge declared shape", corr + ["--static", static, "--sweep", huge], 3,
          [huge, "'/attention/entropy': declares shape [1099511627776, 2, 4]"])
    check(chk, "correlate NaN entropy", corr + ["--static", static, "--sweep", nan], 3,
          [nan, "'attention/entropy' row 1", "[layer 0, head 0] = nan: not finite"])
    check(chk, "correlate NaN static", corr + ["--static", nan_static, "--sweep", sweep], 3,
          [nan_static, "'exact/op' [layer 0, head 1] = nan: not finite"])
    check(chk, "correlate strings as numbers", corr + ["--static", strings, "--sweep", sweep], 3,
          [strings, "'/exact/op': holds strings, not numbers"])
    check(chk, "correlate numbers as probe/status", corr + ["--static", static, "--sweep", int_status], 3,
          [int_status, "'/probe/status' does not hold strings"])
    check(chk, "export short probe/status", ["export", short, "--csv", os.path.join(tmp, "csv1")], 3,
          [short, "'/probe/status' has 2 rows, fewer than the 3 committed"])
    check(chk, "export unwritten probe/index", ["export", unwritten, "--csv", os.path.join(tmp, "csv2")], 3,
          [unwritten, "'/probe/index': declares shape [1000000]", "of its", "chunks"])
    check(chk, "merge short probe/status", ["merge", os.path.join(tmp, "m1.h5"), short], 3,
          [short, "'/probe/status' has 2 rows, fewer than the 3 committed"])
    check(chk, "merge negative token count", ["merge", os.path.join(tmp, "m2.h5"), neg], 3,
          [neg, "row 1 of tokens/offset and tokens/count", "not a range of token rows"])
    check(chk, "align --anchor 99", ["align", "--static", static, "--anchor", "99"], 2,
          ["--anchor: 99 is not a layer of " + static, "layers 0..1"])


def config_cases(chk, tmp):
    """A number past double range in config.json (3), naming the file and the number."""
    model = os.path.join(tmp, "model_1e400")
    shutil.copytree(QWEN3, model)
    cfg = os.path.join(model, "config.json")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(re.sub(r'"rms_norm_eps": [^,\n]+', '"rms_norm_eps": 1e400', text))
    check(chk, "config.json 1e400 (inspect)", ["inspect", "--model", model], 3, [cfg, "1e400"])
    check(chk, "config.json 1e400 (capture)", ["capture", "--model", model, "--ids", "1,2", "--out",
                                               os.path.join(tmp, "never.safetensors")], 3, [cfg, "1e400"])


def json_cases(chk, tmp, sweep):
    """--json with a file name that is not UTF-8 (one byte 0xFF): valid JSON, exit 0, the
    byte as U+FFFD (docs/cli.md, "JSON output"), for the front end and the engine."""
    import json
    model = os.path.join(tmp, os.fsdecode(b"m\xff"))
    shutil.copytree(QWEN3, model)
    out = os.path.join(tmp, os.fsdecode(b"merged\xff.h5"))
    static = os.path.join(tmp, os.fsdecode(b"STATIC\xff.h5"))
    cases = [("inspect", ["inspect", "--model", model, "--json"], "model", model),
             ("merge", ["merge", out, sweep, "--json"], "out", out),
             ("weights", ["weights", "--model", QWEN3, "--out", static, "--device", "cpu", "--json"], "out", static)]
    for name, args, key, path in cases:
        proc = run(args)
        chk.field(f"{name} --json, non-UTF-8 path", "exit code", proc.returncode, 0, exact=True)
        try:
            got = json.loads(proc.stdout.splitlines()[0])
        except (ValueError, IndexError):
            got = {}
        want = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        chk.field(f"{name} --json, non-UTF-8 path", key + " with U+FFFD", got.get(key), want, exact=True)


def output_dir_cases(chk, tmp, static, sweep):
    """An output file in a directory that does not exist is bad input (3), refused before
    any work for every command that writes one, naming the file and the directory, and
    the directory is not made (docs/cli.md, "Output files")."""
    probes = os.path.join(tmp, "probes.ids")
    nodir = os.path.join(tmp, "nodir")
    out, snap_out = os.path.join(nodir, "x"), os.path.join(nodir, "x.safetensors")
    cases = {
        "capture --out": ["capture", "--model", QWEN3, "--ids", "1,2", "--device", "cpu", "--out", snap_out],
        "sweep --out": ["sweep", "--model", QWEN3, "--probes", probes, "--device", "cpu", "--out", out],
        "sweep --accepted": ["sweep", "--model", QWEN3, "--probes", probes, "--device", "cpu", "--out",
                             os.path.join(tmp, "never.h5"), "--min-score", "0", "--accepted", out],
        "score --save-snapshot": ["score", "--model", QWEN3, "--ids", "1,2", "--device", "cpu",
                                  "--save-snapshot", snap_out],
        "weights --out": ["weights", "--model", QWEN3, "--device", "cpu", "--out", out],
        "rope-geometry --out": ["rope-geometry", "--model", QWEN3, "--out", out],
        "simplex --out": ["simplex", "--model", QWEN3, "--out", out],
        "headdim-sweep --out": ["headdim-sweep", "--dims", "8", "--heads", "1", "--epochs", "0", "--out", out],
        "report --out": ["report", sweep, "--out", out],
        "merge OUT": ["merge", out, sweep],
        "correlate --export-legacy": ["correlate", "--static", static, "--sweep", sweep, "--export-legacy", out],
        "compare --out": ["compare", sweep, sweep, "--out", out],
    }
    for case, args in cases.items():
        check(chk, f"{case} in a missing directory", args, 3,
              [snap_out if snap_out in args else out, f"cannot be written: directory '{nodir}' does not exist"])
        chk.field(f"{case} in a missing directory", "directory not made", os.path.exists(nodir), False,
                  exact=True)


def runtime_cases(chk, tmp, sweep):
    """I/O and device failures (4)."""
    check(chk, "export into a file", ["export", sweep, "--csv", os.path.join(sweep, "sub")], 4,
          [os.path.join(sweep, "sub")])
    static = os.path.join(tmp, "never-static.h5")
    check(chk, "weights --export-legacy into a file", ["weights", "--model", QWEN3, "--device", "cpu", "--out",
                                                        static, "--export-legacy", os.path.join(sweep, "sub")], 4,
          [os.path.join(sweep, "sub"), "cannot create the directory"])
    chk.field("weights --export-legacy into a file", "refused before any work: no --out",
              os.path.exists(static), False, exact=True)
    check(chk, "capture --device cuda:99", ["capture", "--model", QWEN3, "--ids", "1,2", "--device", "cuda:99",
                                            "--out", os.path.join(tmp, "never.safetensors")], 4, ["cuda:99"])


def exit_code_checks(chk, tmp):
    """Every case above; the ones needing the model runtime are skipped (NOTE) without it."""
    probes = os.path.join(tmp, "probes.ids")
    with open(probes, "w") as f:
        f.write("1 2 3 4\n5 6 7 8 9\n10 11 12\n")
    if run(["weights", "--help"]).returncode != 0:
        print("NOTE: a build without the model runtime: exit-code cases not run")
        return
    usage_cases(chk, tmp, probes)
    config_cases(chk, tmp)
    static, sweep = os.path.join(tmp, "STATIC.h5"), os.path.join(tmp, "RESULTS.h5")
    made = [run(["weights", "--model", QWEN3, "--out", static, "--device", "cpu"]),
            run(["sweep", "--model", QWEN3, "--probes", probes, "--out", sweep, "--device", "cpu", "--quiet"])]
    for proc in made:
        chk.field("study inputs", "exit code", proc.returncode, 0, exact=True)
    if all(p.returncode == 0 for p in made):
        study_cases(chk, tmp, static, sweep)
        output_dir_cases(chk, tmp, static, sweep)
        runtime_cases(chk, tmp, sweep)
        json_cases(chk, tmp, sweep)
