"""The report's compare section (python/qkgeom/report/compare_figures.py) on a real
CMP.h5: sweeps of two tiny checkpoints over one ids probe set and their STATIC.h5 files,
`qkgeom compare --out`; every figure renders to a non-blank PNG with its titles and axis
labels in the alt text, and the numbers it draws equal `qkgeom compare --json`."""
import base64
import io
import json
import os
import random

import matplotlib.image
import numpy as np
import pytest

from conftest import SOURCE_DIR, cli

MODELS = ("llama3", "gemma3_text")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    probes = tmp / "probes.jsonl"
    rng = random.Random(3)
    probes.write_text("".join(json.dumps({"id": f"p{i}", "domain": "ab"[i % 2],
                                          "ids": [rng.randrange(128) for _ in range(rng.randrange(4, 30))]}) + "\n"
                              for i in range(16)))
    runs, statics = [], []
    for name in MODELS:
        model = os.path.join(SOURCE_DIR, "tests", "fixtures", "models", name)
        runs.append(tmp / f"{name}.h5")
        statics.append(tmp / f"{name}.static.h5")
        assert cli("sweep", "--model", model, "--probes", probes, "--out", runs[-1], "--quiet").returncode == 0
        assert cli("weights", "--model", model, "--out", statics[-1], "--topk", "4", "--device", "cpu").returncode == 0
    out = tmp / "cmp.h5"
    r = cli("compare", *runs, "--static", *statics, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_figures_render(comparison):
    from qkgeom.report.compare_figures import compare_figures
    figs = compare_figures(str(comparison[0]))
    titles = [f.title for f in figs]
    assert titles == ["Depth profiles of the models", "Static descriptors on relative depth",
                      "Paired differences between models", "Probe ranks of attention/mean_entropy"]
    words = {0: ["attention/entropy", "x relative depth"], 1: ["exact/op", "exact/spec_ent"],
             2: ["attention/mean_entropy", "x mean difference a − b"], 3: ["x rank in llama3", "y rank in gemma3_text"]}
    for i, fig in enumerate(figs):
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(fig.png_base64)), format="png")
        assert image.shape[0] > 100 and image.std() > 0.01, fig.title  # not blank
        for w in words[i]:
            assert w in fig.alt, (fig.title, w, fig.alt)


def test_numbers_drawn_are_the_comparison(comparison):
    from qkgeom.report.compare_figures import read_compare
    cmp = read_compare(str(comparison[0]))
    out = comparison[1]
    rows, labels, same = cmp["paired"]["attention/mean_entropy"]
    want = out["quantities"]["attention/mean_entropy"]["pairs"][0]["domains"]["all"]
    for k in ("mean_diff", "ci_lo", "ci_hi", "spearman"):
        assert rows[0, labels.index(k)] == pytest.approx(want[k], rel=1e-12)
    assert same
    for k in range(len(MODELS)):
        got = cmp["depth"]["attention/entropy"][k]
        assert np.allclose(got, out["depth"]["profiles"]["attention/entropy"][k]["resampled"], rtol=1e-12)
    assert cmp["static_models"] == [m for m in MODELS]
