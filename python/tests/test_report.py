"""`qkgeom report` as a person sees it: the page of a tiny sweep and its STATIC.h5 rendered by
headless Chromium (Debian's chromium): no console or load error, every figure present and
not blank (each embedded PNG decoded, the screenshot too), titles and axis labels in the
DOM, nothing fetched, the provenance shown, the correlation table equal to `qkgeom
correlate --json`; then the command's errors and exit codes (docs/cli.md)."""
import base64
import io
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import h5py
import matplotlib.image
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qk_files  # noqa: E402

FIGURES = {  # heading -> words the figure's alt text must hold (its titles and axis labels)
    "Attention by layer and head": ["attention entropy (nats)", "logit std (logits)", "sink mass (probability)",
                                    "x query head", "y layer"],
    "Key coherence and cross-layer alignment": ["key coherence", "cross alignment", "x layer pair (l, l+1)"],
    "Composite by probe domain": ["composite by domain", "x composite (0..10000)", "y probe domain"],
    "Features by probe domain": ["mean_coherence", "joint_stability", "x mean ± std"],
    "Operator cosine between layers": ["operator cosine", "x layer", "y layer", "cosine"],
    "Principal angles": ["principal angles to the anchor", "y cosine (mean over heads)"],
    "Spectral descriptors per head": ["rank_eff", "spec_ent (nats)", "anisotropy", "x query head"],
    "Operator spectra": ["operator spectra", "x singular value index", "y s / max s (mean over heads)"],
    "Static descriptors against attention statistics": ["y attention entropy (nats)", "y logit std (logits)",
                                                        "x spec_ent"],
}
LOG_PROBLEMS = ("CONSOLE", "Uncaught", "ERR_", "Failed to load", "Not allowed to load")


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (make deps)")
    return exe


class Dom(HTMLParser):
    """The images (src, alt), h3 headings, URLs and text of a page."""

    def __init__(self, text):
        super().__init__()
        self.images, self.headings, self.urls, self.text, self.tags = [], [], [], [], []
        self._in_h3 = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self._in_h3 = tag == "h3"
        if tag == "img":
            self.images.append((a.get("src", ""), a.get("alt", "")))
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_endtag(self, tag):
        self._in_h3 = False if tag == "h3" else self._in_h3

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h3:
            self.headings.append(data.strip())


def browse(html_path, tmp, tag):
    """(dumped DOM, screenshot [h, w, channels], log lines) of the page in headless Chromium,
    from one load of the page (--screenshot and --dump-dom together)."""
    shot = os.path.join(tmp, f"{tag}.png")
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp}/chrome-{tag}", "--window-size=1280,6000",
           f"--screenshot={shot}", "--dump-dom", "file://" + os.path.abspath(html_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-500:]
    log = [line for line in r.stderr.splitlines() if any(p in line for p in LOG_PROBLEMS)]
    return r.stdout, matplotlib.image.imread(shot), log


def not_blank(pixels):
    """Whether an RGB(A) image shows something: spread in its values and non-white pixels."""
    rgb = np.asarray(pixels, dtype=float)[..., :3]
    return rgb.std() > 0.05 and (rgb.min(axis=-1) < 0.9).mean() > 0.01


def report(*args):
    return subprocess.run([qk_files.QKGEOM_BIN, "report", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    if not os.access(qk_files.QKGEOM_BIN, os.X_OK):
        pytest.skip(f"{qk_files.QKGEOM_BIN} is not built")
    tmp = str(tmp_path_factory.mktemp("report"))
    paths = qk_files.make_files(tmp, ("sweep", "static", "compare"))
    paths["tmp"], paths["html"] = tmp, os.path.join(tmp, "report.html")
    r = report(paths["sweep"], "--static", paths["static"], "--out", paths["html"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"report: {paths['html']} ({len(FIGURES)} figures")
    return paths


@pytest.fixture(scope="module")
def render(files):
    """render(*inputs) -> (page, CompletedProcess) of `report *inputs --out page`, run once per
    set of inputs in this module: the tests that read the same page share it."""
    done = {}

    def page(*inputs):
        if inputs not in done:
            out = os.path.join(files["tmp"], f"page-{len(done)}.html")
            done[inputs] = out, report(*inputs, "--out", out)
        return done[inputs]
    return page


def test_page_in_chromium(files):
    dom_text, shot, log = browse(files["html"], files["tmp"], "page")
    assert not log, log
    dom = Dom(dom_text)
    for title in FIGURES:
        assert title in dom.headings, title
    assert len(dom.images) == len(FIGURES)
    for src, alt in dom.images:
        title = alt.split(". ")[0]
        assert src.startswith("data:image/png;base64,"), title
        png = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert png.shape[0] > 200 and png.shape[1] > 400 and not_blank(png), title
        for word in FIGURES[title]:
            assert word in alt, (title, word)
    assert all(u.startswith(("data:", "#")) for u in dom.urls), [u[:60] for u in dom.urls]
    assert "script" not in dom.tags and "link" not in dom.tags
    assert shot.shape[:2] == (6000, 1280) and not_blank(shot)
    text = " ".join(dom.text)
    with h5py.File(files["sweep"], "r") as f:
        for key in ("git_sha", "model_path", "probes_sha256"):
            assert f.attrs[key] in text, key


def test_checks_catch_problems(files):
    """The console check and the blank check fail where they should: a page logging an
    error, and a white picture. (A broken image is caught by decoding each one.)"""
    bad = os.path.join(files["tmp"], "bad.html")
    with open(bad, "w") as f:
        f.write('<html><body><script>console.error("boom")</script></body></html>')
    _, shot, log = browse(bad, files["tmp"], "bad")
    assert any("boom" in line for line in log), log
    assert not not_blank(shot)


def correlation_table(text):
    """{descriptor: [pairs, entropy r, rho, logit_std r, rho]} from the page's correlation table."""
    start = text.index('<table class="correlations">')
    rows = text[start:text.index("</table>", start)].split("<tr>")[2:]
    table = {}
    for row in rows:
        cells = [c.split("</td>")[0] for c in row.split("<td")[1:]]
        table[cells[0].lstrip(">")] = [float(c.split(">")[1]) for c in cells[1:]]
    return table


def test_correlations_equal_qkgeom_correlate(files):
    r = subprocess.run([qk_files.QKGEOM_BIN, "correlate", "--static", files["static"], "--sweep", files["sweep"],
                        "--json", "--bootstrap", "10"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ref = json.loads(r.stdout)["exact"]["descriptors"]
    table = correlation_table(open(files["html"], encoding="utf-8").read())
    assert set(table) == set(ref)
    for name, got in table.items():
        want = [ref[name][k] for k in ("pearson_entropy", "spearman_entropy", "pearson_logit_std",
                                       "spearman_logit_std")]
        assert got[0] == json.loads(r.stdout)["layers"] * json.loads(r.stdout)["heads"], name
        assert np.allclose(got[1:], want, atol=5e-4 + 1e-12), (name, got, want)


def test_errors(files, tmp_path):
    missing = str(tmp_path / "missing.h5")
    r = report(missing)
    assert r.returncode == 3 and missing in r.stderr
    r = report(files["sweep"], "--static", missing)
    assert r.returncode == 3 and missing in r.stderr
    r = report(files["static"], "--out", str(tmp_path / "x.html"))
    assert r.returncode == 3 and files["static"] in r.stderr and "not a sweep store" in r.stderr
    r = report(files["sweep"], "--out", files["html"])
    assert r.returncode == 3 and "exists; pass --force" in r.stderr
    r = report("--bogus", files["sweep"])
    assert r.returncode == 2
    r = report("--help")
    assert r.returncode == 0 and "--static" in r.stdout
    other = str(tmp_path / "other-static.h5")
    qk_files.run("weights", "--model", os.path.join(os.path.dirname(qk_files.MODEL), "llama3"), "--out", other,
                 "--device", "cpu")
    r = report(files["sweep"], "--static", other, "--out", str(tmp_path / "y.html"))
    assert r.returncode == 3 and "two different models" in r.stderr, r.stderr
    alone = shutil.copy(qk_files.QKGEOM_BIN, tmp_path / "qkgeom")  # no python/ beside it
    r = subprocess.run([alone, "report", files["sweep"]], capture_output=True, text=True, timeout=60)
    assert r.returncode == 4 and "not built next to this executable" in r.stderr, r.stderr


def test_missing_matplotlib(files, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Block())\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([qk_files.QKGEOM_BIN, "report", files["sweep"], "--out", str(tmp_path / "z.html")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 4 and "matplotlib" in r.stderr and "make deps" in r.stderr, r.stderr
    assert not (tmp_path / "z.html").exists()


def test_compare_section(files, tmp_path):
    """--compare CMP.h5 adds qkgeom compare's figures (python/qkgeom/report/compare_figures.py,
    checked by test_report_compare.py) under their heading; a file of another kind is exit 3."""
    page = str(tmp_path / "cmp.html")
    r = report(files["sweep"], "--compare", files["compare"], "--out", page)
    assert r.returncode == 0 and "(7 figures" in r.stdout, r.stdout + r.stderr
    dom = Dom(open(page, encoding="utf-8").read())
    titles = [alt.split(". ")[0] for _, alt in dom.images]
    assert titles[4:] == ["Depth profiles of the models", "Paired differences between models",
                          "Probe ranks of attention/mean_entropy"], titles
    assert "Comparison between models" in dom.text
    r = report(files["sweep"], "--compare", files["static"], "--out", str(tmp_path / "x.html"))
    assert r.returncode == 3 and "not a CMP.h5" in r.stderr and files["static"] in r.stderr, r.stderr


def test_sweep_without_bo(files, tmp_path):
    probes, out, page = str(tmp_path / "p.jsonl"), str(tmp_path / "att.h5"), str(tmp_path / "att.html")
    qk_files.write_probes(probes, 6)
    qk_files.run("sweep", "--model", qk_files.MODEL, "--probes", probes, "--out", out, "--metrics", "attention",
                 "--device", "cpu", "--threads", "1", "--quiet")
    r = report(out, "--out", page)
    assert r.returncode == 0 and "(1 figures" in r.stdout, r.stdout + r.stderr
    text = open(page, encoding="utf-8").read()
    assert "No bo/ columns" in text and "Attention by layer and head" in text


ROPE_FIGURES = {  # the --rope section's headings -> words its alt text must hold
    "Per-head band profiles": ["layer 0: band energy share", "invariant fraction",
                               "x rotary pair (wavelength, tokens)", "y query head", "share of mean energy"],
    "Operator size against offset": ["top singular value of B(D)", "Frobenius norm of B(D)",
                                     "x offset D (tokens, log scale)", "y layer"],
    "Implied and measured attention by distance": ["layer 0, head 0", "x distance bucket (tokens)",
                                                   "y attention mass (probability)", "y Spearman ρ (mean over heads)"],
}


@pytest.fixture(scope="module")
def rope_files(files):
    """A sweep of 6 probes with --save-kv qkv, its ROPE.h5 with --sweep and one without."""
    tmp = files["tmp"]
    paths = {k: os.path.join(tmp, f"{k}.h5") for k in ("kv_sweep", "rope", "rope_plain")}
    probes = os.path.join(tmp, "kv-probes.jsonl")
    qk_files.write_probes(probes, 6)
    qk_files.run("sweep", "--model", qk_files.MODEL, "--probes", probes, "--out", paths["kv_sweep"], "--device", "cpu",
                 "--threads", "1", "--save-kv", "qkv", "--metrics", "attention", "--quiet")
    qk_files.run("rope-geometry", "--model", qk_files.MODEL, "--sweep", paths["kv_sweep"], "--out", paths["rope"])
    qk_files.run("rope-geometry", "--model", qk_files.MODEL, "--out", paths["rope_plain"], "--offsets", "0,1,3,9,40")
    return paths


def test_rope_section_in_chromium(files, rope_files, render):
    """--rope ROPE.h5 adds the section's three figures: present, decodable, not blank, labelled."""
    page, r = render(rope_files["kv_sweep"], "--rope", rope_files["rope"])
    assert r.returncode == 0 and "(4 figures" in r.stdout, r.stdout + r.stderr
    dom_text, shot, log = browse(page, files["tmp"], "rope")
    assert not log, log
    dom = Dom(dom_text)
    assert "RoPE-aware operator geometry" in " ".join(dom.text)
    alts = {alt.split(". ")[0]: (src, alt) for src, alt in dom.images}
    for title, words in ROPE_FIGURES.items():
        assert title in dom.headings and title in alts, title
        src, alt = alts[title]
        png = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert png.shape[0] > 200 and png.shape[1] > 400 and not_blank(png), title
        for word in words:
            assert word in alt, (title, word)
    assert not_blank(shot)
    with h5py.File(rope_files["rope"], "r") as f:
        assert f.attrs["model_config_sha256"] in " ".join(dom.text)


def test_rope_without_sweep_group(files, rope_files, render):
    page, r = render(files["sweep"], "--rope", rope_files["rope_plain"])
    assert r.returncode == 0 and "(6 figures" in r.stdout, r.stdout + r.stderr
    dom = Dom(open(page, encoding="utf-8").read())
    titles = [alt.split(". ")[0] for _, alt in dom.images]
    assert titles[-2:] == ["Per-head band profiles", "Operator size against offset"], titles
    assert "No sweep/ group" in " ".join(dom.text)


def test_rope_errors(files, rope_files, tmp_path):
    missing = str(tmp_path / "missing-rope.h5")
    r = report(files["sweep"], "--rope", missing, "--out", str(tmp_path / "a.html"))
    assert r.returncode == 3 and missing in r.stderr and "--rope" in r.stderr, r.stderr
    r = report(files["sweep"], "--rope", files["static"], "--out", str(tmp_path / "b.html"))
    assert r.returncode == 3 and "not a ROPE.h5" in r.stderr and files["static"] in r.stderr, r.stderr
    other = str(tmp_path / "llama3-rope.h5")
    qk_files.run("rope-geometry", "--model", os.path.join(os.path.dirname(qk_files.MODEL), "llama3"), "--out", other,
                 "--offsets", "0,1")
    r = report(files["sweep"], "--rope", other, "--out", str(tmp_path / "c.html"))
    assert r.returncode == 3 and "two different models" in r.stderr and other in r.stderr, r.stderr
    r = report("--help")
    assert "--rope" in r.stdout


class Cells(HTMLParser):
    """The cell texts of each row of the page's table of class `cls`."""

    def __init__(self, text, cls):
        super().__init__()
        self.cls, self.rows, self._in, self._cell = cls, [], False, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._in = dict(attrs).get("class") == self.cls
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_rope_window_and_softcap_shown(files, rope_files, render, tmp_path):
    """The table beside E(D) gives every layer's sweep/window and sweep/softcap: the fixture's
    (h5py reads no window and no cap), then a copy given a window of 4 on layer 0 and a cap of 0.5."""
    shaped = str(tmp_path / "shaped-rope.h5")
    shutil.copy(rope_files["rope"], shaped)
    with h5py.File(shaped, "r+") as f:
        layers = f["sweep/window"].shape[0]
        assert not f["sweep/window"][()].any() and not f["sweep/softcap"][()].any()
        assert layers >= 2 and f["sweep/window"].dtype == np.int64 and f["sweep/softcap"].dtype == np.float64
        f["sweep/window"][...] = [4] + [0] * (layers - 1)
        f["sweep/softcap"][...] = [0.5] * layers
    rest = "1" if layers == 2 else f"1-{layers - 1}"
    want = {rope_files["rope"]: [[f"0-{layers - 1}", "none (every earlier key)", "none"]],
            shaped: [["0", "4", "0.5"], [rest, "none (every earlier key)", "0.5"]]}
    for rope, rows in want.items():
        page, r = render(rope_files["kv_sweep"], "--rope", rope)
        assert r.returncode == 0, r.stderr
        table = Cells(open(page, encoding="utf-8").read(), "shaping").rows
        assert table == [["layers", "sliding window w (positions)", "soft-cap C (logits)"]] + rows, table
    plain, r = render(files["sweep"], "--rope", rope_files["rope_plain"])
    assert r.returncode == 0, r.stderr
    assert Cells(open(plain, encoding="utf-8").read(), "shaping").rows == []  # no sweep/ group: no table


def test_layer_ranges():
    from qkgeom.report.rope_figures import layer_ranges
    assert layer_ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert layer_ranges([3]) == "3"
