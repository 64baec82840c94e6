#!/usr/bin/env python3
"""Awkward text and deep nesting through `qkgeom sweep`, `export --csv` and `merge`,
read back with plain h5py and the csv module; the reference is the JSONL itself
(json.loads) and, for tokenizer.json nesting, the HF `tokenizers` library.

- prompts, ids, domains and extra fields with emoji, CJK, tabs, CR/LF, quotes, commas and
  backslashes come back exactly from h5py (docs/hdf5-schema.md "Strings"), from the
  CSV export and from a merge of two shards;
- U+0000 in a JSONL prompt is kept exactly and tokenized as the HF `tokenizers` library
  tokenizes it (stored tokens/ids equal its encode; the tokenizer has a token for it); in an
  id or domain it is refused with the line (docs/probe-sets.md), never stored cut short:
  under --on-bad-line skip the lines are listed and skipped, ids stay unique; in an extra
  field it is kept (probe/fields is JSON text);
- a probe line nesting deeper than 127 levels (70,000 deep once crashed the sweep) is a
  bad line; 127 levels are kept;
- tokenizer.json nesting: qkgeom accepts and refuses exactly what `tokenizers` does
  (127 levels load, 128 do not), and a 40,000-deep normalizer exits 3 at once."""
import csv
import json
import os
import subprocess
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check, finish  # noqa: E402



def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def wordpiece(normalizer=None):
    """A WordPiece tokenizer.json whose ids fit the tiny model's vocabulary of 128."""
    vocab = {"[UNK]": 0}
    for c in "abcdefghijklmnopqrstuvwxyz\u0000":
        vocab[c], vocab["##" + c] = len(vocab), len(vocab) + 1
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": normalizer, "pre_tokenizer": {"type": "WhitespaceSplit"},
            "post_processor": None, "decoder": None,
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}}


def model_dir(tmp, name, tokenizer_text):
    """The tiny qwen3 fixture with `tokenizer_text` as its tokenizer.json."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    src = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    for f in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(src, f), os.path.join(d, f))
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        f.write(tokenizer_text)
    return d


GOOD = [
    {"id": "emoji", "domain": "a,b \"q\"", "prompt": "emoji \U0001F600 and \u00fcn\u00efc\u00f6d\u00e9 and \u4e2d\u6587"},
    {"id": "ctrl", "prompt": "tab\there\r\nand bell\u0007 and \\backslash\\", "note": "a\u0000b"},
    {"id": 7, "prompt": "  spaces around  ", "deep": "@DEEP126@"},
    {"id": "q\"u,o\nte", "domain": "", "prompt": "\"quoted\", with commas, \u00e9\u0301"},
    {"id": "nul-mid", "prompt": "before\u0000after the null"},
    {"id": "nul-end", "prompt": "ends with null\u0000"},
    {"id": "nul-only", "prompt": "\u0000"},
]
BAD = [  # (line object or raw text, what the problem says)
    ({"id": "nul-domain", "domain": "do\u0000main", "prompt": "plain"}, "U+0000"),
    ({"id": "a\u0000x", "prompt": "first"}, "U+0000"),
    ({"id": "a\u0000y", "prompt": "second"}, "U+0000"),
    ('{"id": "deep", "prompt": "x", "f": ' + "[" * 70000 + "]" * 70000 + "}", "nests deeper than 127"),
    ('{"id": "d128", "prompt": "x", "f": ' + "[" * 127 + "]" * 127 + "}", "nests deeper than 127"),
]


def write_probes(path):
    """GOOD and BAD lines interleaved; returns (good line numbers, bad line numbers)."""
    good_lines, bad_lines = [], []
    with open(path, "w", encoding="utf-8") as f:
        for k in range(max(len(GOOD), len(BAD))):
            for group, lines in ((GOOD, good_lines), (BAD, bad_lines)):
                if k < len(group):
                    item = group[k] if group is GOOD else group[k][0]
                    text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=True)
                    f.write(text.replace('"@DEEP126@"', "[" * 126 + "]" * 126) + "\n")
                    lines.append(len(good_lines) + len(bad_lines) + 1)
    return good_lines, bad_lines


def expected(p):
    """What probe/id, prompt, domain and fields must hold for JSONL object p."""
    fields = {k: v for k, v in p.items() if k not in ("id", "prompt", "domain")}
    if fields.get("deep") == "@DEEP126@":
        fields["deep"] = json.loads("[" * 126 + "]" * 126)
    return {"id": str(p["id"]), "prompt": p["prompt"], "domain": p.get("domain", ""), "fields": fields}


def stored(path):
    """{id: {id, prompt, domain, fields}} as h5py gives them, and the ids in file order."""
    out, ids = {}, []
    with h5py.File(path, "r") as f:
        n = len(f["probe/index"])
        for i in range(n):
            row = {"id": rc.h5_strings(f["probe/id"], n)[i], "prompt": rc.h5_strings(f["probe/prompt"], n)[i],
                   "domain": rc.h5_strings(f["probe/domain"], n)[i],
                   "fields": json.loads(rc.h5_strings(f["probe/fields"], n)[i])}
            if rc.h5_raw_strings(f["probe/prompt"], n)[i].decode("utf-8") != row["prompt"]:
                row["prompt"] = None  # the strict UTF-8 read must give the same text
            out[row["id"]] = row
            ids.append(row["id"])
    return out, ids


def test_sweep(qk, model, tmp):
    probes = os.path.join(tmp, "probes.jsonl")
    good_lines, bad_lines = write_probes(probes)
    sweep = [qk, "sweep", "--model", model, "--probes", probes, "--device", rc.DEVICE, "--metrics", "attention"]
    out = os.path.join(tmp, "fail.h5")
    r = run(sweep + ["--out", out])
    check(r.returncode == 3 and f"probes.jsonl:{bad_lines[0]}: " in r.stderr and "U+0000" in r.stderr
          and not os.path.exists(out), f"default policy: exit 3 naming line {bad_lines[0]} ({r.stderr.strip()[-200:]})")
    out = os.path.join(tmp, "skip.h5")
    r = run(sweep + ["--out", out, "--on-bad-line", "skip", "--json"])
    check(r.returncode == 0, f"--on-bad-line skip: exit 0 ({r.stderr.strip()[-300:]})")
    if r.returncode != 0:
        return None
    skipped = {s["line"]: s["problem"] for s in json.loads(r.stdout)["skipped"]}
    check(sorted(skipped) == bad_lines and all(BAD[k][1] in skipped[line] for k, line in enumerate(bad_lines)),
          f"the {len(bad_lines)} bad lines are skipped with their reasons: {skipped}")
    got, ids = stored(out)
    check(len(ids) == len(set(ids)) == len(GOOD), f"{len(GOOD)} probes stored, ids unique: {ids}")
    for p in GOOD:
        want = expected(p)
        check(got.get(want["id"]) == want, f"probe {want['id']!r}: h5py gives back id, prompt, domain, fields exactly")
    check_tokens(out, model, ids)
    return out


def check_tokens(out, model, ids):
    """Every stored probe's tokens/ids equal HF tokenizers' encode of its prompt (the NUL
    prompts included: qkgeom tokenizes what HF tokenizes)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("SKIP token ids against HF: the tokenizers package is absent")
        return
    hf = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    prompts = {str(p["id"]): p["prompt"] for p in GOOD}
    with h5py.File(out, "r") as f:
        start, count, toks = f["tokens/offset"][()], f["tokens/count"][()], f["tokens/ids"][()]
    nul_token = json.loads(open(os.path.join(model, "tokenizer.json")).read())["model"]["vocab"]["##\u0000"]
    for i, pid in enumerate(ids):
        mine = [int(t) for t in toks[start[i]:start[i] + count[i]]]
        want = hf.encode(prompts[pid]).ids
        check(mine == want, f"probe {pid!r}: tokens/ids {mine} equal HF tokenizers' {want}")
        if pid == "nul-mid":
            check(nul_token in want, f"probe {pid!r}: HF gives U+0000 its own token ({nul_token} in {want})")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_export(qk, out, tmp):
    d = os.path.join(tmp, "csv")
    r = run([qk, "export", out, "--csv", d])
    check(r.returncode == 0 and "ids of up to" not in r.stderr,
          f"export --csv exits 0, no note for short ids ({r.stderr.strip()[-200:]})")
    rows = {row["id"]: row for row in read_csv(os.path.join(d, "probe.csv"))} if r.returncode == 0 else {}
    for p in GOOD:
        want, row = expected(p), rows.get(str(p["id"]), {})
        ok = (row.get("prompt"), row.get("domain")) == (want["prompt"], want["domain"]) and \
            json.loads(row.get("fields", "null")) == want["fields"]
        check(ok, f"probe.csv row {want['id']!r}: prompt, domain, fields exact (csv module)")


def test_export_ids(qk, model, tmp):
    """CSV tables are tidy long format: every line carries its key (index, id), also a 3000-byte
    id, with a note naming --id-once; --id-once writes the id in probe.csv only, and pandas'
    merge of each table with probe.csv on index gives back the default export's table."""
    import pandas as pd
    probes = os.path.join(tmp, "ids.jsonl")
    long_id = '"' + "L" * 2998 + "\u00e9"  # 3001 UTF-8 bytes; its CSV field has 3004
    with open(probes, "w", encoding="utf-8") as f:
        for pid, prompt in ((long_id, "first prompt"), ("short", "second prompt")):
            f.write(json.dumps({"id": pid, "prompt": prompt}) + "\n")
    out = os.path.join(tmp, "ids.h5")
    r = run([qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--device", rc.DEVICE, "--quiet"])
    check(r.returncode == 0, f"sweep of a 3000-byte id exits 0 ({r.stderr.strip()[-200:]})")
    every, once = os.path.join(tmp, "every"), os.path.join(tmp, "once")
    r = run([qk, "export", out, "--csv", every])
    tables = sorted(n for n in os.listdir(every) if n != "probe.csv") if r.returncode == 0 else []
    lines = sum(len(pd.read_csv(os.path.join(every, n))) for n in tables)
    size = len(long_id.encode("utf-8"))  # the id's bytes (docs/cli.md), not its quoted field's
    check(r.returncode == 0 and f"ids of up to {size} bytes are repeated on {lines} lines" in r.stderr
          and "--id-once" in r.stderr, f"export: a note names the long ids and --id-once ({r.stderr.strip()[-300:]})")
    r2 = run([qk, "export", out, "--csv", once, "--id-once"])
    check(r2.returncode == 0 and "note" not in r2.stderr, f"export --id-once: exit 0, no note ({r2.stderr.strip()})")
    if r.returncode or r2.returncode:
        return
    probe = pd.read_csv(os.path.join(once, "probe.csv"), keep_default_na=False)
    check(sorted(probe["id"]) == sorted([long_id, "short"]), "--id-once: probe.csv keeps the ids exactly")
    for n in tables:
        a = pd.read_csv(os.path.join(every, n), keep_default_na=False)
        b = pd.read_csv(os.path.join(once, n), keep_default_na=False)
        joined = b.merge(probe[["index", "id"]], on="index", how="left")[list(a.columns)]
        ok = "id" in a.columns and "id" not in b.columns and a.equals(joined) and len(tables) > 3
        check(ok, f"{n}: every line has its id; --id-once leaves it out, pandas' merge on index restores it")


def test_export_id_limit(qk, model, tmp):
    """An id of exactly 1024 UTF-8 bytes gives no note (docs/cli.md: a note for ids longer
    than 1024 bytes), though its quoted CSV field, quotes doubled, is 1030 bytes."""
    edge = '"' * 4 + "E" * 1020
    probes, out = os.path.join(tmp, "edge.jsonl"), os.path.join(tmp, "edge.h5")
    with open(probes, "w", encoding="utf-8") as f:
        f.write(json.dumps({"id": edge, "prompt": "edge prompt"}) + "\n")
    r = run([qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--device", rc.DEVICE,
             "--metrics", "attention", "--quiet"])
    r = r if r.returncode else run([qk, "export", out, "--csv", os.path.join(tmp, "edge")])
    check(r.returncode == 0 and "note" not in r.stderr,
          f"export of a {len(edge.encode())}-byte id: exit 0, no note ({r.stderr.strip()[-200:]})")


def test_merge(qk, model, tmp, single):
    probes = os.path.join(tmp, "probes.jsonl")
    shards = []
    for k in range(2):
        s = os.path.join(tmp, f"shard{k}.h5")
        r = run([qk, "sweep", "--model", model, "--probes", probes, "--out", s, "--device", rc.DEVICE,
                 "--metrics", "attention", "--on-bad-line", "skip", "--shard", f"{k}/2", "--quiet"])
        check(r.returncode == 0, f"shard {k}/2 exits 0 ({r.stderr.strip()[-200:]})")
        shards.append(s)
    merged = os.path.join(tmp, "merged.h5")
    r = run([qk, "merge", merged, *shards])
    check(r.returncode == 0, f"merge exits 0 ({r.stderr.strip()[-200:]})")
    if r.returncode == 0:
        check(stored(merged)[0] == stored(single)[0], "merge of two shards: every string equals the single run's")


def nested_normalizer(depth, inner):
    tok = json.dumps(wordpiece(normalizer="@"))
    return tok.replace('"@"', '{"type":"Sequence","normalizers":[' * depth + inner + "]}" * depth)


def test_tokenizer_depth(qk, tmp):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("SKIP tokenizer.json nesting against HF: the tokenizers package is absent")
        return
    text = "deep nesting of normalizers"
    for depth, inner, levels in ((63, "", 127), (63, '{"type":"NFC"}', 128)):
        src = nested_normalizer(depth, inner)
        try:
            hf = Tokenizer.from_str(src).encode(text, add_special_tokens=False).ids
        except Exception as e:  # noqa: BLE001 (HF raises its own exception type)
            hf = f"refused: {e}"
        d = model_dir(tmp, f"tok{depth}_{levels}", src)
        r = run([qk, "tokenize", "--model", d, "--text", text, "--no-special"])
        ours = json.loads(r.stdout) if r.returncode == 0 else f"exit {r.returncode}: {r.stderr.strip()}"
        same = ours == hf if isinstance(hf, list) else (r.returncode == 3 and "nests deeper than 127" in r.stderr)
        check(same, f"{levels} levels: qkgeom {ours!s:.80} / tokenizers {hf!s:.80}")
    d = model_dir(tmp, "tok40000", nested_normalizer(40000, '{"type":"NFC"}'))
    r = run([qk, "tokenize", "--model", d, "--text", text])
    check(r.returncode == 3 and "nests deeper than 127 levels" in r.stderr,
          f"40,000 nested normalizers: exit 3 ({r.stderr.strip()[-200:]})")


def main():
    qk = rc.require_cli()
    with tempfile.TemporaryDirectory() as tmp:
        model = model_dir(tmp, "tiny", json.dumps(wordpiece()))
        out = test_sweep(qk, model, tmp)
        if out:
            test_export(qk, out, tmp)
            test_merge(qk, model, tmp, out)
        test_export_ids(qk, model, tmp)
        test_export_id_limit(qk, model, tmp)
        test_tokenizer_depth(qk, tmp)
    finish("all string and nesting checks passed")


if __name__ == "__main__":
    main()
