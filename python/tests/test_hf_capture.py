"""qkgeom.hf.capture against two references on tiny random checkpoints of every
architecture the runtime supports (tests/fixtures/models, and GPT-2 and GPT-NeoX built
here): HF eager's own attention inputs (taken by wrapping the modeling module's
eager_attention_forward, with attn_implementation="eager") and `qkgeom capture` (the C++
runtime); qkgeom.hf.metrics against `qkgeom score --model --json`."""
import importlib
import json
import os

import numpy as np
import pytest

from conftest import SOURCE_DIR, assert_same, cli

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import qkgeom.hf as hf  # noqa: E402

IDS = [1, 17, 42, 5, 99, 3, 64, 12, 7]
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "models")
TOL = 1e-4  # C++ runtime against HF, f32 (tests/reference/test_capture_cli.py)
SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             head_dim=16, intermediate_size=96, vocab_size=128, max_position_embeddings=64)
# model_type -> (config class, model class, config keys) of the architectures built here
# when tests/fixtures/models has none of that type.
BUILT = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=64, n_head=4, n_layer=3, vocab_size=128,
                                                   scale_attn_by_inverse_layer_idx=True)),
    "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM",
                 dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=96,
                      vocab_size=128, rotary_pct=0.25)),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM",
               dict(SMALL, sliding_window=4, query_pre_attn_scalar=24, attn_logit_softcapping=2.0)),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM", dict(SMALL, attention_bias=True)),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(SMALL, partial_rotary_factor=0.5, sliding_window=4,
                                                  pad_token_id=0)),
}


def fixture_dirs():
    names = sorted(os.listdir(FIXTURES)) if os.path.isdir(FIXTURES) else []
    return [os.path.join(FIXTURES, n) for n in names if os.path.exists(os.path.join(FIXTURES, n, "config.json"))]


def fixture_types():
    return {json.load(open(os.path.join(d, "config.json")))["model_type"] for d in fixture_dirs()}


@pytest.fixture(scope="module")
def built_dir(tmp_path_factory):
    """Tiny random checkpoints of the BUILT architectures, saved as HF folders."""
    root = tmp_path_factory.mktemp("models")
    transformers.logging.set_verbosity_error()
    for n, (model_type, (cfg_cls, model_cls, keys)) in enumerate(sorted(BUILT.items())):
        if model_type in fixture_types():
            continue
        torch.manual_seed(n)
        model = getattr(transformers, model_cls)(getattr(transformers, cfg_cls)(**keys))
        model.save_pretrained(str(root / model_type))
    return root


def model_dirs(built):
    return fixture_dirs() + sorted(str(p) for p in built.iterdir())


def dirs_of(built, model_type):
    """The tiny checkpoints of model_type (at least one)."""
    dirs = [d for d in model_dirs(built) if json.load(open(os.path.join(d, "config.json")))["model_type"] == model_type]
    assert dirs, f"no tiny checkpoint of {model_type}"
    return dirs


def dir_of(built, model_type):
    return dirs_of(built, model_type)[0]


def load(model_dir, attn=None):
    return transformers.AutoModel.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attn).eval()


def eager_reference(model_dir):
    """{q, k, v} f32 [layers, heads, seq, head_dim] as HF's eager_attention_forward gets them."""
    model = load(model_dir, "eager")
    mod = importlib.import_module(type(model.base_model).__module__)
    original, taken = mod.eager_attention_forward, []

    def wrapped(module, query, key, value, *args, **kwargs):
        taken.append([t[0].detach().float().numpy().copy() for t in (query, key, value)])
        return original(module, query, key, value, *args, **kwargs)

    mod.eager_attention_forward = wrapped
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([IDS]))
    finally:
        mod.eager_attention_forward = original
    return {t: np.stack([layer[i] for layer in taken]) for i, t in enumerate("qkv")}


def cli_capture(model_dir, out):
    """`qkgeom capture --dtype f32` of IDS -> {q, k, v}."""
    from safetensors.numpy import load_file
    r = cli("capture", "--model", model_dir, "--ids", ",".join(map(str, IDS)), "--out", out,
            "--dtype", "f32", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    return load_file(out)


def test_capture_equals_hf_eager(built_dir):
    for model_dir in model_dirs(built_dir):
        name = os.path.basename(model_dir)
        model = load(model_dir)
        previous = model.config._attn_implementation
        c = hf.capture(model, IDS)
        assert model.config._attn_implementation == previous != hf.IMPLEMENTATION, f"{name}: not restored"
        ref = eager_reference(model_dir)
        for t in "qkv":
            got = getattr(c, t)
            assert got.dtype == np.float32 and got.shape == ref[t].shape, f"{name} {t}"
            np.testing.assert_array_equal(got, ref[t], err_msg=f"{name} {t} vs HF eager")


@pytest.mark.parametrize("model_type", sorted(fixture_types() | set(BUILT)))
def test_capture_equals_qkgeom_capture(built_dir, tmp_path, model_type):
    for model_dir in dirs_of(built_dir, model_type):
        c = hf.capture(load(model_dir), IDS)
        ref = cli_capture(model_dir, str(tmp_path / f"{os.path.basename(model_dir)}.safetensors"))
        for t in "qkv":
            err = float(np.abs(getattr(c, t) - ref[t]).max())
            assert err <= TOL, f"{os.path.basename(model_dir)} {t}: max abs error {err}"


@pytest.mark.parametrize("model_type", ["llama", "mistral", "gemma3_text", "gemma2", "bert", "gpt2", "phi3"])
def test_metrics_equal_score_model(built_dir, model_type):
    """Causal, sliding on every layer, sliding on some layers with Gemma's scale, logit
    soft-capping, bidirectional, per-layer scales, a fused-qkv partial-RoPE model."""
    for model_dir in [dir_of(built_dir, model_type)]:
        ours = hf.metrics(load(model_dir), IDS, device="cpu")
        r = cli("score", "--model", model_dir, "--ids", ",".join(map(str, IDS)), "--json", "--dtype", "f32",
                "--device", "cpu")
        assert r.returncode == 0, r.stderr
        ref = {k: v for k, v in json.loads(r.stdout).items() if k not in ("engine", "model", "tokens", "timing")}
        for key in ("entropy", "logit_std", "sink_mass"):  # HF and the runtime differ by rounding
            np.testing.assert_allclose(ours["attention"].pop(key), ref["attention"].pop(key), rtol=1e-4, atol=1e-5)
        for key in ("mean_entropy", "mean_logit_std", "mean_sink_mass"):
            assert ours["attention"].pop(key) == pytest.approx(ref["attention"].pop(key), rel=1e-4, abs=1e-5)
        assert_same(ours["attention"], ref["attention"], f"{os.path.basename(model_dir)} attention.")
        assert ours["mean_coherence"] == pytest.approx(ref["mean_coherence"], rel=1e-4)


def test_metrics_use_hfs_masks_and_scales(built_dir):
    """Per-layer scales (GPT-2's inverse layer index) and windows (Phi-3) reach attention_stats."""
    gpt2 = hf.capture(load(dir_of(built_dir, "gpt2")), IDS)
    assert gpt2.attention_options()["layer_scale"] == pytest.approx([0.25, 0.125, 0.25 / 3])
    phi3 = hf.capture(load(dir_of(built_dir, "phi3")), IDS)
    assert phi3.attention_options() == {"mask": "causal", "scale": 0.25, "layer_window": [4, 4]}


def test_softcap_reaches_attention_stats(built_dir):
    c = hf.capture(load(dir_of(built_dir, "gemma2")), IDS)
    assert c.attention_options()["softcap"] == 2.0  # attn_logit_softcapping of the checkpoint
    c.softcap[0] = 3.0
    with pytest.raises(ValueError, match="soft-caps"):
        c.attention_options()


def test_batch_and_errors(built_dir):
    model = load(fixture_dirs()[0])
    second = [3, 5, 7, 9, 11, 13, 15, 17, 19]
    c = hf.capture(model, torch.tensor([IDS, second]), batch=1)
    np.testing.assert_array_equal(c.k, hf.capture(model, second).k)
    with pytest.raises(ValueError, match="batch 2"):
        hf.capture(model, [IDS], batch=2)
    with pytest.raises(ValueError, match="input_ids"):
        hf.capture(model, np.zeros((2, 2, 2), dtype=np.int64))
    padded = np.ones((2, len(IDS)), dtype=np.int64)
    padded[1, 6:] = 0
    model.train()
    c = hf.capture(model, torch.tensor([IDS, second]), attention_mask=padded, batch=1)
    assert model.training, "training mode not restored"
    np.testing.assert_allclose(c.k[:, :, :6], hf.capture(model, second[:6]).k, atol=1e-5)  # padding unseen
    with pytest.raises(ValueError, match="padding"):
        c.attention_options()


def test_bad_ids_and_models_are_named():
    """Ids outside [0, vocab_size) named by position and id (HF would raise an IndexError
    mid-forward), empty ids, ragged ids and a model that is not a PreTrainedModel."""
    model = load(fixture_dirs()[0])
    n = model.get_input_embeddings().num_embeddings
    cases = [([1, n + 5], f"input_ids: id {n + 5} at position 1 is outside the vocabulary [0, {n})"),
             ([1, -3], f"input_ids: id -3 at position 1 is outside the vocabulary [0, {n})"),
             (torch.tensor([[1, 2], [3, n]]), f"input_ids: id {n} at position [1, 1] is outside"),
             ([], "input_ids: empty"),
             ([[1, 2], [3]], "input_ids: not a rectangular array")]
    for ids, words in cases:
        with pytest.raises(ValueError) as e:
            hf.capture(model, ids)
        assert words in str(e.value), (ids, str(e.value))
    with pytest.raises(TypeError, match="model: not a transformers PreTrainedModel"):
        hf.capture(torch.nn.Linear(2, 2), [1, 2])
