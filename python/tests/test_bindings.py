"""qkgeom.bo_metrics and qkgeom.attention_stats against `qkgeom score --snapshot --json`
on the same arrays, numpy against torch inputs, the package's version, and bad inputs."""
import os
import subprocess
import sys

import numpy as np
import pytest

import qkgeom
from conftest import SOURCE_DIR, assert_same, cli, score_json, write_snapshot

# (layers, kv_heads, q_heads, seq, head_dim): position mode (kv_heads <= 4), multi-head
# mode (kv_heads > 4), one token.
SHAPES = [(3, 2, 4, 9, 16), (2, 6, 6, 7, 8), (2, 2, 2, 1, 8)]
# Keys of score's JSON that describe the run, not the numbers.
RUN_KEYS = ("engine", "snapshot", "timing", "attention")


def clouds(rng, layers, kv_heads, q_heads, seq, dim):
    """k, v [layers, kv_heads, seq, dim] and q [layers, q_heads, seq, dim], f32, with a shared
    direction so that coherence is not trivial."""
    base = rng.standard_normal((1, 1, 1, dim))
    k = (rng.standard_normal((layers, kv_heads, seq, dim)) + 2 * base).astype(np.float32)
    v = rng.standard_normal((layers, kv_heads, seq, dim)).astype(np.float32)
    q = (rng.standard_normal((layers, q_heads, seq, dim)) + base).astype(np.float32)
    return k, v, q


def bo_part(ref):
    return {key: val for key, val in ref.items() if key not in RUN_KEYS}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lem_compat", [False, True])
def test_equals_score_json(tmp_path, rng, shape, lem_compat):
    k, v, q = clouds(rng, *shape)
    ref = score_json(write_snapshot(str(tmp_path / "s.safetensors"), k, v, q),
                     *(["--lem-compat"] if lem_compat else []))
    assert_same(qkgeom.bo_metrics(k, v, q, lem_compat=lem_compat, device="cpu"), bo_part(ref))
    assert_same(qkgeom.attention_stats(q, k, device="cpu"), ref["attention"], "attention.")


def test_committed_minilm_snapshot():
    """The real all-MiniLM-L6-v2 snapshot of tests/fixtures (f16, 12 heads: multi-head mode),
    read with safetensors and passed as f16 arrays, against score on the file itself."""
    from safetensors.numpy import load_file
    path = os.path.join(SOURCE_DIR, "tests", "fixtures", "minilm_demo.safetensors")
    t = load_file(path)
    assert t["k"].dtype == np.float16
    ref = score_json(path, "--mask", "full")
    assert_same(qkgeom.bo_metrics(t["k"], t["v"], t["q"], device="cpu"), bo_part(ref))
    assert_same(qkgeom.attention_stats(t["q"], t["k"], mask="full", device="cpu"), ref["attention"], "attention.")


def test_without_v_and_q(tmp_path, rng):
    k, _, _ = clouds(rng, *SHAPES[0])
    ref = score_json(write_snapshot(str(tmp_path / "k.safetensors"), k))
    ours = qkgeom.bo_metrics(k, device="cpu")
    assert_same(ours, bo_part(ref))
    assert "features7" not in ours and ours["q_heads"] == 0


def test_thresholds_equal_score_flags(tmp_path, rng):
    k, v, q = clouds(rng, *SHAPES[1])
    ref = score_json(write_snapshot(str(tmp_path / "s.safetensors"), k, v, q),
                     "--lock-threshold", "0.2", "--collapse-threshold", "0.9")
    ours = qkgeom.bo_metrics(k, v, q, lock_threshold=0.2, collapse_threshold=0.9, device="cpu")
    assert_same(ours, bo_part(ref))


def test_attention_options_equal_snapshot_metadata(tmp_path, rng):
    """Per-layer sliding windows and scales, as a model's snapshot records them."""
    k, v, q = clouds(rng, 3, 2, 4, 11, 16)
    meta = {"attention_masks": "sliding,causal,sliding", "attention_windows": "3,0,5",
            "attention_scale": "0.3", "attention_layer_scales": "0.3,0.15,0.1"}
    ref = score_json(write_snapshot(str(tmp_path / "s.safetensors"), k, v, q, meta))
    ours = qkgeom.attention_stats(q, k, scale=0.3, layer_window=[3, None, 5], layer_scale=[0.3, 0.15, 0.1],
                                  device="cpu")
    assert_same(ours, ref["attention"], "attention.")


def test_softcap_equals_snapshot_metadata(tmp_path, rng):
    """Gemma 2's logit soft-cap, as a snapshot records it; the cap changes the numbers."""
    k, _, q = clouds(rng, *SHAPES[0])
    q *= 4  # logits well beyond the cap
    meta = {"attention_masks": "causal,causal,causal", "attention_windows": "0,0,0", "attention_scale": "0.25",
            "attention_logit_softcap": "1.5"}
    ref = score_json(write_snapshot(str(tmp_path / "s.safetensors"), k, None, q, meta))
    ours = qkgeom.attention_stats(q, k, scale=0.25, softcap=1.5, device="cpu")
    assert ours["logit_softcap"] == 1.5
    assert_same(ours, ref["attention"], "attention.")
    assert abs(ours["mean_entropy"] - qkgeom.attention_stats(q, k, scale=0.25)["mean_entropy"]) > 0.01


@pytest.mark.parametrize("mask,flags,kwargs", [
    ("full", ["--mask", "full"], {"mask": "full"}),
    ("sliding", ["--mask", "sliding", "--window", "4", "--attn-scale", "0.5"],
     {"mask": "sliding", "window": 4, "scale": 0.5}),
])
def test_mask_flags(tmp_path, rng, mask, flags, kwargs):
    k, _, q = clouds(rng, *SHAPES[0])
    ref = score_json(write_snapshot(str(tmp_path / "s.safetensors"), k, None, q), *flags)
    ours = qkgeom.attention_stats(q, k, device="cpu", **kwargs)
    assert ours["mask"] == mask
    assert_same(ours, ref["attention"], "attention.")


def test_numpy_and_torch_agree(rng):
    torch = pytest.importorskip("torch")
    k, v, q = clouds(rng, *SHAPES[0])
    want_bo = qkgeom.bo_metrics(k, v, q, device="cpu")
    want_at = qkgeom.attention_stats(q, k, device="cpu")
    tk, tv, tq = (torch.from_numpy(a) for a in (k, v, q))
    assert_same(qkgeom.bo_metrics(tk, tv, tq, device="cpu"), want_bo)
    assert_same(qkgeom.attention_stats(tq, tk, device="cpu"), want_at)
    grad = tk.clone().requires_grad_(True)  # autograd tensors are read without their graph
    assert_same(qkgeom.bo_metrics(grad, tv, tq, device="cpu"), want_bo)
    half = qkgeom.attention_stats(tq.to(torch.bfloat16), tk.to(torch.bfloat16), device="cpu")
    rounded = qkgeom.attention_stats(tq.to(torch.bfloat16).float().numpy(), tk.to(torch.bfloat16).float().numpy(),
                                     device="cpu")
    assert_same(half, rounded)


def test_layouts_and_dtypes_convert(rng):
    k, v, q = clouds(rng, *SHAPES[0])
    want = qkgeom.bo_metrics(k, v, device="cpu")
    strided = np.asfortranarray(k)
    assert not strided.flags.c_contiguous
    assert_same(qkgeom.bo_metrics(strided, v, device="cpu"), want)
    assert_same(qkgeom.bo_metrics(k.astype(np.float64), v.tolist(), device="cpu"), want)
    k16 = k.astype(np.float16)
    assert_same(qkgeom.bo_metrics(k16, v, device="cpu"), qkgeom.bo_metrics(k16.astype(np.float32), v, device="cpu"))


def test_f32_input_is_not_copied(rng):
    from qkgeom._inputs import as_cloud
    k, _, _ = clouds(rng, *SHAPES[0])
    assert as_cloud(k, "k") is k
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(k)
    assert np.shares_memory(as_cloud(t, "k"), k)


@pytest.mark.parametrize("call,error,words", [
    (lambda k, q: qkgeom.bo_metrics(k[0]), ValueError, "k: expected rank 4"),
    (lambda k, q: qkgeom.bo_metrics(k.astype(np.int32)), TypeError, "k: dtype int32"),
    (lambda k, q: qkgeom.bo_metrics(k[:, :, :0]), ValueError, "empty dimension"),
    (lambda k, q: qkgeom.bo_metrics(k, v=k[:, :1]), ValueError, "v has shape"),
    (lambda k, q: qkgeom.bo_metrics(k, q=q[:, :3]), ValueError, "not a multiple of 2 KV heads"),
    (lambda k, q: qkgeom.bo_metrics(k, lem_compat=True, lock_threshold=0.5), ValueError, "default mode only"),
    (lambda k, q: qkgeom.bo_metrics(k, collapse_threshold=1.5), ValueError, "in [0, 1]"),
    (lambda k, q: qkgeom.bo_metrics(k, device="gpu"), ValueError, "device must be 'auto', 'cpu', 'cuda'"),
    (lambda k, q: qkgeom.bo_metrics(k, lock_threshold="0.5"), TypeError, "lock_threshold must be a real number"),
    (lambda k, q: qkgeom.bo_metrics(k, collapse_threshold=True), TypeError, "collapse_threshold must be a real"),
    (lambda k, q: qkgeom.bo_metrics([[[[1.0]]], [[[1.0, 2.0]]]]), ValueError, "k: not a rectangular array"),
    (lambda k, q: qkgeom.attention_stats(q, k, mask="sliding", window=2.5), TypeError, "window must be an int"),
    (lambda k, q: qkgeom.attention_stats(q, k, mask="sliding", window="2"), TypeError, "window must be an int"),
    (lambda k, q: qkgeom.attention_stats(q, k, mask="sliding", window=2**70), ValueError, "window must be in [1, "),
    (lambda k, q: qkgeom.attention_stats(q, k, mask="sliding", window=0), ValueError, "window must be in [1, "),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_window=[1, 2.5, 0]), TypeError,
     "layer_window[1] must be an int"),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_window=[1, -2, 0]), ValueError, "layer_window[1] must be in"),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_scale=[0.1, float("nan"), 1.0]), ValueError,
     "layer_scale[1] must be a positive finite number, not nan"),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_scale=[0.1, 0.2, "x"]), TypeError,
     "layer_scale[2] must be a real"),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_scale=0.5), TypeError, "layer_scale must be a list"),
    (lambda k, q: qkgeom.attention_stats(q, k, softcap="2"), TypeError, "softcap must be a real number"),
    (lambda k, q: qkgeom.attention_stats(q[:2].tolist() + [[[[1.0]]]], k), ValueError, "q: not a rectangular array"),
    (lambda k, q: qkgeom.bo_metrics(k, device=0), TypeError, "device must be a str"),
    (lambda k, q: qkgeom.attention_stats(q, k[:, :, :5]), ValueError, "incompatible with k"),
    (lambda k, q: qkgeom.attention_stats(q, k, mask="sliding"), ValueError, "needs window"),
    (lambda k, q: qkgeom.attention_stats(q, k, window=3), ValueError, "sliding' only"),
    (lambda k, q: qkgeom.attention_stats(q, k, mask="banded"), ValueError, "mask must be"),
    (lambda k, q: qkgeom.attention_stats(q, k, scale=-1.0), ValueError, "positive finite"),
    (lambda k, q: qkgeom.attention_stats(q, k, softcap=float("nan")), ValueError, "softcap must be"),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_window=[2]), ValueError, "layer_window needs 3"),
    (lambda k, q: qkgeom.attention_stats(q, k, layer_scale=[1.0]), ValueError, "layer_scale needs 3"),
    (lambda k, q: qkgeom.attention_stats(q, "k"), TypeError, "k: dtype"),
])
def test_bad_input_is_named(rng, call, error, words):
    k, _, q = clouds(rng, *SHAPES[0])
    with pytest.raises(error) as e:
        call(k, q)
    assert words in str(e.value)


def test_nonfinite_input_is_refused_with_its_index(rng):
    k, _, q = clouds(rng, *SHAPES[0])
    q[1, 2, 3, 4] = np.inf
    with pytest.raises(ValueError, match=r"q: 1 non-finite value\(s\) \(NaN or Inf\), first at \[1, 2, 3, 4\]"):
        qkgeom.attention_stats(q, k)


def test_cuda_without_gpu_is_an_error(rng):
    k, _, _ = clouds(rng, *SHAPES[0])
    with pytest.raises(RuntimeError, match="(?i)cuda") as e:  # no CUDA build, or no such GPU
        qkgeom.bo_metrics(k, device="cuda:7")
    assert "--device" not in str(e.value)  # the Python argument's name, not the CLI option's


def test_version_matches_the_cli():
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"qkgeom {qkgeom.__version__} ({qkgeom.__git_sha__})"


def test_import_loads_neither_torch_nor_transformers():
    code = "import sys, qkgeom, qkgeom.hf; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_cuda_tensors_run_on_their_gpu(rng):
    """With a GPU (a CUDA build on a GPU machine): CUDA tensors go to the GPU path and agree
    with the CPU (docs/metrics.md tolerances, bounded here by 1e-4 relative)."""
    torch = pytest.importorskip("torch")
    if not (qkgeom._ext.has_cuda_build() and torch.cuda.is_available()):
        pytest.skip("needs a CUDA build and a visible GPU")
    k, v, q = clouds(rng, *SHAPES[0])
    tk, tv, tq = (torch.from_numpy(a).cuda() for a in (k, v, q))
    gpu, cpu = qkgeom.bo_metrics(tk, tv, tq), qkgeom.bo_metrics(k, v, q, device="cpu")
    assert gpu["backend"] == "cuda:0"
    np.testing.assert_allclose(gpu["layer_coherence"], cpu["layer_coherence"], rtol=1e-4)
    gpu, cpu = qkgeom.attention_stats(tq, tk), qkgeom.attention_stats(q, k, device="cpu")
    assert gpu["backend"] == "cuda:0"
    np.testing.assert_allclose(gpu["entropy"], cpu["entropy"], rtol=1e-4, atol=1e-5)
