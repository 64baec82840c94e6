#!/usr/bin/env python3
"""Writes the tokenizer parity corpus: >= 2000 varied strings, one JSON string per line.

Deterministic (fixed seed, no external data): Unicode scripts, emoji (ZWJ sequences, skin
tones, flags), whitespace runs, digits, code, punctuation, special-token text, combining
marks, long words, empty strings and lines, and random mixtures of all of these.

Usage: make_tokenizer_corpus.py OUT.jsonl [--count N]
"""
import argparse
import json
import random
import unicodedata

SCRIPTS = {
    "latin": ["café", "naïve", "Ångström", "façade", "Zürich", "señor", "Dvořák", "Łódź", "smørrebrød",
              "Straße", "élève", "garçon", "Œuvre", "Ærø", "ĳssel", "İstanbul", "ﬁnance"],
    "cyrillic": ["Привет", "мир", "Москва", "ёлка", "Щука", "съезд", "Україна", "їжак", "Ђорђе"],
    "greek": ["Καλημέρα", "κόσμε", "ΣΟΦΙΑ", "ἀρχή", "λόγος", "Ωμέγα", "ς", "ΐ"],
    "arabic": ["مرحبا", "بالعالم", "السلام عليكم", "كِتَابٌ", "٠١٢٣٤٥٦٧٨٩"],
    "hebrew": ["שלום", "עולם", "בְּרֵאשִׁית", "ירושלים"],
    "devanagari": ["नमस्ते", "दुनिया", "हिन्दी", "क्षत्रिय", "०१२३"],
    "cjk": ["你好", "世界", "東京都", "中华人民共和国", "漢字", "㐀㐁", "𠀀𠀁"],
    "kana": ["こんにちは", "カタカナ", "ひらがな", "ｶﾀｶﾅ", "ありがとうございます"],
    "hangul": ["안녕하세요", "세계", "한국어", "각"],
    "thai": ["สวัสดี", "ภาษาไทย", "ครับ"],
}
EMOJI = ["😀", "👍", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "🧑🏾‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🇺🇸", "❤️", "✨", "🤖",
         "🐍", "👩‍❤️‍💋‍👨", "🫠", "©", "™", "☕"]
WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2003",
              "\u200b", "\f", "\v", "\u2028", "\u0085"]
PUNCT = list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`") + ["...", "—", "–", "«", "»", "“", "”", "‘", "’",
                                                        "¿", "¡", "…", "•", "§", "¶", "€", "£", "¥"]
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<bos>", "<eos>", "<pad>", "<s>", "</s>",
           "<unk>", "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "<start_of_turn>", "<end_of_turn>",
           "<|im_start", "<bos", "[cls]", "<think>", "</think>", "<|fim_prefix|>"]
CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "#include <vector>\nint main() { return 0; }",
    "SELECT id, name FROM users WHERE age >= 18;",
    "const x = () => { console.log(`hi ${name}`); };",
    "if x != None and y == 'it''s':\n        pass",
    "<div class=\"a\">Hello &amp; bye</div>",
    "{\"key\": [1, 2.5, -3e10, null, true]}",
    "    indented    with    spaces    ",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "x_1 = y__2 + __init__ - self.__dict__",
    "$ ls -la | grep '^d' && echo \"done\" 2>&1",
]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "I'm", "you're", "they've",
         "it's", "we'll", "DON'T", "She'd", "Hello", "WORLD", "attention", "geometry", "transformer",
         "tokenization", "unbelievable", "antidisestablishmentarianism", "a", "I", "x", "OK"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "\u0301", "Z\u0351\u036b\u0343\u036a",
             "i\u0307", "u\u0308\u0301", "\u1100\u1161\u11a8", "ạ̈"]


CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\ufeff", "\u00ad", "\u200d", "\ufe0f", "\ufffd", "\u202e",
           "\u2060", "\U000e0041"]
# Blocks for random code points: Latin-1 and Extended, IPA, Greek, Cyrillic, Armenian, Hebrew,
# Arabic, Devanagari, Thai, Georgian, Hangul Jamo, general punctuation, currency, letterlike,
# arrows, math, box drawing, CJK symbols, kana, CJK ideographs, Hangul syllables, fullwidth
# forms, emoji and symbols.
BLOCKS = [(0x00A0, 0x024F), (0x0250, 0x02FF), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0530, 0x058F),
          (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x10A0, 0x10FF),
          (0x1100, 0x11FF), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2190, 0x21FF),
          (0x2200, 0x22FF), (0x2500, 0x257F), (0x3000, 0x303F), (0x3040, 0x30FF), (0x4E00, 0x9FFF),
          (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1D400, 0x1D7FF)]


def random_codepoints(rng):
    """Assigned (in this Python's Unicode) code points from BLOCKS, with some spaces."""
    out = []
    while len(out) < rng.randint(1, 30):
        lo, hi = rng.choice(BLOCKS)
        c = chr(rng.randint(lo, hi))
        if unicodedata.category(c) not in ("Cn", "Cs", "Co"):
            out.append(c)
        if rng.random() < 0.15:
            out.append(" ")
    return "".join(out)


def soup(rng, pool):
    """Characters drawn from every list above, with no separators."""
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 40)))


def number(rng):
    k = rng.choice([1, 2, 3, 4, 7, 12, 25, 40])
    s = "".join(rng.choice("0123456789") for _ in range(k))
    return rng.choice([s, s + "." + str(rng.randint(0, 999)), "-" + s, s[:3] + "," + s[3:], "0x" + s, s + "%"])


def atom(rng):
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice(rng.choice(list(SCRIPTS.values())))
    if kind == 1:
        return rng.choice(EMOJI)
    if kind == 2:
        return rng.choice(WHITESPACE)
    if kind == 3:
        return rng.choice(PUNCT)
    if kind == 4:
        return number(rng)
    if kind == 5:
        return rng.choice(SPECIAL)
    if kind == 6:
        return rng.choice(COMBINING)
    return rng.choice(WORDS)


def mixed(rng):
    parts = [atom(rng) for _ in range(rng.randint(1, 14))]
    out = ""
    for p in parts:
        out += p + rng.choice(["", " ", " ", " ", "  ", "\n", "\t"])
    return out


def corpus(count):
    rng = random.Random(20261123)
    items = ["", " ", "  ", "\n", "\n\n", "\r\n", "\t", " \t \n ", "a", "A", " a", "a ", " leading", "trailing ",
             "  both  ", "line1\n\nline3\n", "\n\n\nthree blank lines above", "x\r\ny\r\n", "\u00a0nbsp\u00a0"]
    for name, words in SCRIPTS.items():
        items.append(" ".join(words))
        items.append("".join(words))
        for w in words:
            items += [w, " " + w, w + "!", w.upper(), w.lower(), w * 3]
    items += EMOJI + ["".join(EMOJI), " ".join(EMOJI)]
    items += [c + " " + c for c in CODE] + CODE
    items += SPECIAL + [s + "text" + s for s in SPECIAL] + ["a" + s + "b" for s in SPECIAL]
    items += ["  " + s + "  " for s in SPECIAL] + ["".join(SPECIAL)]
    items += COMBINING + ["word" + c for c in COMBINING]
    items += [str(10 ** k) for k in range(0, 40, 3)] + ["3.14159265358979323846264338327950288419716939937510"]
    items += ["1,234,567.89", "2026-11-23T00:27:21Z", "+1 (555) 010-9999", "v1.2.3-rc.4", "1e-9", "½ ⅓ ¾ ²³"]
    items += ["a" * 300, "ab" * 150, "Donaudampfschifffahrtsgesellschaftskapitän" * 3, "x" * 1000,
              "😀" * 50, "東" * 120, "-" * 80, "=" * 64, " " * 50, "\n" * 30, "\t" * 10 + "tab",
              " " * 20000, "\n" * 5000 + "end", "a " * 5000, "١٢٣ ⅷ ²½ ৩"]
    items += [w + p for w in WORDS for p in ["", ".", ",", "'s", "?"]]
    items += [rng.choice(WHITESPACE) * rng.randint(1, 6) + rng.choice(WORDS) + rng.choice(WHITESPACE) * rng.randint(1, 6)
              for _ in range(100)]
    items += [c + "x" + c for c in CONTROL] + ["".join(CONTROL)]
    pool = [c for group in [*SCRIPTS.values(), EMOJI, WHITESPACE, PUNCT, COMBINING, CONTROL, WORDS] for w in group
            for c in w]
    while len(items) < count:
        r = rng.random()
        items.append(mixed(rng) if r < 0.6 else soup(rng, pool) if r < 0.8 else random_codepoints(rng))
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=3000)
    a = ap.parse_args()
    items = corpus(a.count)
    with open(a.out, "w", encoding="utf-8") as f:
        for s in items:
            f.write(json.dumps(s, ensure_ascii=True) + "\n")
    print(f"wrote {len(items)} strings to {a.out}")


if __name__ == "__main__":
    main()
