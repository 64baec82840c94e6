#!/usr/bin/env python3
"""The real Gemma 3 270M (build/models/gemma3-270m, built by scripts/fetch_gemma3_270m.py)
against HF transformers eager, in f32, on prompts of 6, 600 and 2000 tokens (the last two
past the 512-token sliding window of 15 of its 18 layers):

- configuration: `qkgeom inspect --json` equals transformers' AutoConfig and rotary
  embedding (shapes, eps, scale, per-layer windows, inverse frequencies bit for bit);
- token ids: `qkgeom tokenize` of the prompts' texts equals the `tokenizers` library's;
- q/k/v: every layer's post-RoPE q, k, v of `qkgeom score --model --save-snapshot` equal
  the inputs of HF's eager_attention_forward to 1e-4 absolute;
- attention entropy, logit std and sink mass per (layer, head) of the same run equal numpy
  fp64 statistics of HF's q and k under the attention mask and scale HF applied in that
  layer, to 1e-4 relative + 1e-6 absolute.

Skips (77) when the model folder is absent. Prints the worst error per quantity and length.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

LENGTHS = [6, 600, 2000]
QKV_TOL = 1e-4
STAT_REL, STAT_ABS = 1e-4, 1e-6
STATS = ("entropy", "logit_std", "sink_mass")  # score --json: attention.<name> [layer][head]


def model_dir():
    d = os.path.join(rc.BINARY_DIR, "models", "gemma3-270m")
    if not os.path.isfile(os.path.join(d, "model.safetensors")):
        rc.skip(f"{d} is absent (make model, or scripts/fetch_gemma3_270m.py {d})")
    return d


def prompt_texts():
    """The shipped probes' prompts, and one long text: all of them joined by blank lines."""
    path = os.path.join(rc.SOURCE_DIR, "probes", "geometry-probes-v1.jsonl")
    prompts = [json.loads(line)["prompt"] for line in open(path, encoding="utf-8")]
    return prompts, "\n\n".join(prompts)


def check_config(qkgeom, d):
    """Failure lines where `qkgeom inspect --json` differs from transformers' resolution."""
    import transformers
    import hf_eager
    r = subprocess.run([qkgeom, "inspect", "--json", "--model", d], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return [f"inspect exit {r.returncode}: {r.stderr.strip()[-400:]}"]
    ours = json.loads(r.stdout)
    ref = hf_eager.resolved(transformers.AutoConfig.from_pretrained(d))
    return [f"config: {line}" for line in hf_eager.compare_resolved(ours, ref)]


def check_token_ids(tok, qkgeom, d, texts, tmp):
    """Failure lines where `qkgeom tokenize --input` differs from tokenizers on texts."""
    path = os.path.join(tmp, "texts.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    r = subprocess.run([qkgeom, "tokenize", "--model", d, "--input", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return [f"tokenize exit {r.returncode}: {r.stderr.strip()[-400:]}"]
    ours = [json.loads(line) for line in r.stdout.splitlines()]
    want = [e.ids for e in tok.encode_batch(texts)]
    bad = [f"token ids differ for {t[:60]!r}" for t, o, w in zip(texts, ours, want) if o != w]
    return bad if len(ours) == len(want) else [f"{len(ours)} id lists for {len(want)} texts"]


def qkgeom_run(qkgeom, d, ids, tmp):
    """(score JSON, {q, k, v}) of one f32 prefill through `qkgeom score --save-snapshot`."""
    from safetensors.numpy import load_file
    ids_file = os.path.join(tmp, "ids.txt")
    snap = os.path.join(tmp, f"snap_{len(ids)}.safetensors")
    open(ids_file, "w").write(",".join(map(str, ids)))
    r = subprocess.run([qkgeom, "score", "--model", d, "--ids-file", ids_file, "--dtype", "f32",
                        "--device", rc.DEVICE, "--json", "--save-snapshot", snap, "--force"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"score exit {r.returncode}: {r.stderr.strip()[-600:]}")
    t = load_file(snap)
    return json.loads(r.stdout), {n: t[n] for n in "qkv"}


def hf_stats(ref, masks):
    """Entropy, logit std, sink per [layer][head] from HF's q/k under HF's masks (fp64)."""
    import attention_stats_reference as asr
    out = {n: [] for n in STATS}
    for layer in range(ref["q"].shape[0]):
        ok, scale = masks[layer]
        for n, v in zip(STATS, asr.masked_stats(ref["q"][layer], ref["k"][layer], scale, ok)):
            out[n].append(v)
    return {n: np.array(v) for n, v in out.items()}


def compare(n, ours_json, ours, ref, stats):
    """({quantity: max error}, failure lines) of one length."""
    errs, bad = {}, []
    for t in "qkv":
        errs[t] = float(np.abs(ours[t] - ref[t]).max())
        if not errs[t] <= QKV_TOL:
            bad.append(f"{n} tokens: {t} max abs error {errs[t]:.3g} > {QKV_TOL}")
    for name in STATS:
        got = np.array(ours_json["attention"][name], dtype=np.float64)
        want = stats[name]
        if got.shape != want.shape:
            errs[name] = np.inf
            bad.append(f"{n} tokens: {name} has shape {got.shape}, HF {want.shape}")
            continue
        errs[name] = float(np.abs(got - want).max())
        over = ~(np.abs(got - want) <= STAT_ABS + STAT_REL * np.abs(want))
        if over.any():
            layer, head = np.argwhere(over)[0]
            bad.append(f"{n} tokens: {name} differs (layer {layer}, head {head}, max error "
                       f"{errs[name]:.3g})")
    return errs, bad


def main():
    qkgeom = rc.require_cli()
    d = model_dir()
    try:
        import torch
        from tokenizers import Tokenizer
        import hf_eager
    except ImportError as e:
        rc.skip(f"{e} (make deps installs torch, transformers and tokenizers)")
    hf_eager.quiet_transformers()
    torch.set_grad_enabled(False)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    prompts, long_text = prompt_texts()
    long_ids = tok.encode(long_text).ids
    failures = check_config(qkgeom, d)
    print(f"configuration: {len(failures)} fields differ from transformers'")
    with tempfile.TemporaryDirectory() as tmp:
        bad_ids = check_token_ids(tok, qkgeom, d, prompts + [long_text], tmp)
        failures += bad_ids
        print(f"token ids: {len(prompts) + 1} texts ({len(long_ids)} tokens in the longest), "
              f"{len(bad_ids)} differ")
        model = hf_eager.load_model(d)
        for n in LENGTHS:
            ids = long_ids[:n]
            masks = {}
            ref = hf_eager.qkv(model, ids, masks)
            ours_json, ours = qkgeom_run(qkgeom, d, ids, tmp)
            errs, bad = compare(n, ours_json, ours, ref, hf_stats(ref, masks))
            failures += bad
            print(f"{'ok' if not bad else 'FAILED'}: {n:5d} tokens: max abs error " +
                  " ".join(f"{k} {v:.2g}" for k, v in errs.items()))
    for line in failures:
        print("FAILED:", line)
    print(f"{len(LENGTHS)} lengths, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
