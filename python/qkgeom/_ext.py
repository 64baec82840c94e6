"""The compiled analyses: _core (CPU, always built) or _core_cuda (CUDA builds only,
imported the first time an analysis runs on a GPU)."""
import importlib
import importlib.util
import os
import re

from . import _core


def has_cuda_build():
    """True when this build has the CUDA extension (it may still see no GPU)."""
    return importlib.util.find_spec(f"{__package__}._core_cuda") is not None


def for_device(device):
    """(extension, device string) that runs an analysis on `device` (auto | cpu | cuda |
    cuda:N). auto picks cuda:0 only in a CUDA build on a machine with an NVIDIA GPU, as
    the CLI's front end does; cuda without a CUDA build raises RuntimeError."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a str (auto, cpu, cuda or cuda:N), not {type(device).__name__}")
    if not re.fullmatch(r"auto|cpu|cuda(:[0-9]{1,4})?", device):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not {device!r}")
    wants_gpu = device.startswith("cuda") or (device == "auto" and os.path.exists("/dev/nvidia0"))
    if wants_gpu and has_cuda_build():
        return importlib.import_module(f"{__package__}._core_cuda"), device
    if device.startswith("cuda"):
        raise RuntimeError(f"device {device!r}: this qkgeom build has no CUDA (configure with a CUDA toolkit)")
    return _core, "cpu" if device == "auto" else device


def call(fn, device, *args):
    """fn(*args, device); an error about the device is said in Python terms (device='cuda',
    not the CLI's --device cuda)."""
    try:
        return fn(*args, device)
    except (RuntimeError, ValueError) as e:
        cli = f"--device {device}"
        if not str(e).startswith(cli):
            raise
        raise type(e)(f"device={device!r}" + str(e)[len(cli):]) from None
