"""Shared helpers of the Python package's tests: the CLI binary, a snapshot writer and
`score --snapshot --json` (the reference the bindings must equal)."""
import json
import os
import subprocess

import numpy as np
import pytest

SOURCE_DIR = os.environ.get("QK_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BINARY_DIR = os.environ.get("QK_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
QKGEOM_BIN = os.environ.get("QKGEOM_BIN") or os.path.join(BINARY_DIR, "qkgeom")


def cli(*args):
    """Runs build/qkgeom with args; CompletedProcess (text)."""
    return subprocess.run([QKGEOM_BIN, *map(str, args)], capture_output=True, text=True)


def write_snapshot(path, k, v=None, q=None, metadata=None):
    """A safetensors snapshot of the f32 arrays given (the `score --snapshot` input)."""
    from safetensors.numpy import save_file
    tensors = {"k": k}
    tensors.update({name: t for name, t in (("v", v), ("q", q)) if t is not None})
    save_file({n: np.ascontiguousarray(t, dtype=np.float32) for n, t in tensors.items()}, path,
              metadata=metadata)
    return path


def score_json(snapshot, *flags):
    """`qkgeom score --snapshot F --json` as a dict; fails the test on a non-zero exit."""
    r = cli("score", "--snapshot", snapshot, "--json", "--device", "cpu", *flags)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_same(ours, ref, where=""):
    """ours (the package's dict, numpy arrays) equals ref (parsed JSON), key by key; floats
    to 1e-12 relative (the same code on the same data: only thread scheduling may differ)."""
    assert set(ours) == set(ref), f"{where}: keys differ: {set(ours) ^ set(ref)}"
    for key, want in ref.items():
        got = ours[key]
        if isinstance(want, dict):
            assert_same(got, want, f"{where}{key}.")
        elif isinstance(want, (str, bool)) or want is None or (isinstance(want, list) and want
                                                                and isinstance(want[0], str)):
            assert got == want, f"{where}{key}: {got!r} != {want!r}"
        else:
            np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                                       rtol=1e-12, atol=0, err_msg=f"{where}{key}")


@pytest.fixture
def rng():
    return np.random.default_rng(20261130)
