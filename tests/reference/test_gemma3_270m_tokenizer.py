#!/usr/bin/env python3
"""The Gemma 3 270M folder's tokenizer (converted by transformers from the GGUF's
vocabulary) against Google's Gemma 3 tokenizer.json (../shared/tokenizers/gemma3), with
the `tokenizers` library, as docs/gemma3-270m.md states it: the same vocabulary and merge
set; 31 added tokens fewer (the runs of 2..31 U+2581 and <image_soft_token>); equal ids on
every shipped probe and on the tokenizer corpus except texts holding 32 or more spaces in
a row. Skips (77) when the folder or ../shared is absent."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

MISSING = {"\u2581" * n for n in range(2, 32)} | {"<image_soft_token>"}


def paths():
    model = os.path.join(rc.BINARY_DIR, "models", "gemma3-270m", "tokenizer.json")
    ref = os.path.normpath(os.path.join(rc.SOURCE_DIR, "..", "shared", "tokenizers", "gemma3",
                                        "tokenizer.json"))
    for p in (model, ref):
        if not os.path.isfile(p):
            rc.skip(f"{p} is absent (make model builds the first; ../shared holds the second)")
    return model, ref


def structure(model, ref):
    """Failure lines for vocabulary, merges and added tokens."""
    a, b = json.load(open(model, encoding="utf-8")), json.load(open(ref, encoding="utf-8"))
    bad = []
    if a["model"]["vocab"] != b["model"]["vocab"]:
        bad.append("vocabularies differ")
    def pair(m):
        return {tuple(x) if isinstance(x, list) else tuple(x.split(" ", 1)) for x in m}

    if pair(a["model"]["merges"]) != pair(b["model"]["merges"]):
        bad.append("merge sets differ")
    ours = {t["content"]: t["id"] for t in a["added_tokens"]}
    theirs = {t["content"]: t["id"] for t in b["added_tokens"]}
    if set(theirs) - set(ours) != MISSING or set(ours) - set(theirs):
        bad.append(f"added tokens: {len(set(theirs) - set(ours))} missing, "
                   f"{len(set(ours) - set(theirs))} extra (expected the 31 documented)")
    if any(theirs[c] != i for c, i in ours.items() if c in theirs):
        bad.append("an added token has another id")
    return bad


def texts():
    """The shipped probes' prompts and the tokenizer parity corpus (3000 strings)."""
    import make_tokenizer_corpus
    probes = [json.loads(line)["prompt"] for line in
              open(os.path.join(rc.SOURCE_DIR, "probes", "geometry-probes-v1.jsonl"),
                   encoding="utf-8")]
    return probes, make_tokenizer_corpus.corpus(3000)


def main():
    model, ref = paths()
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        rc.skip(f"{e} (make deps installs tokenizers)")
    failures = structure(model, ref)
    a, b = Tokenizer.from_file(model), Tokenizer.from_file(ref)
    probes, corpus = texts()
    spaces = [" " * n for n in range(1, 80)]
    for name, group in (("probes", probes), ("corpus", corpus), ("space runs", spaces)):
        ids_a = [e.ids for e in a.encode_batch(group)]
        ids_b = [e.ids for e in b.encode_batch(group)]
        differ = [t for t, x, y in zip(group, ids_a, ids_b) if x != y]
        unexplained = [t for t in differ if not re.search(" {32}", t)]
        print(f"{name}: {len(group)} texts, {len(differ)} tokenize differently "
              f"({len(differ) - len(unexplained)} with a run of >= 32 spaces)")
        failures += [f"{name}: ids differ for {t[:60]!r}" for t in unexplained[:10]]
        if name == "space runs" and differ != spaces[31:]:
            failures.append("space runs: differences are not exactly the runs of >= 32")
    for line in failures:
        print("FAILED:", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
