"""Checks that each binary loads one set of CUDA math libraries (docs/dependencies.md).

Usage: check_cuda_library_set.py BINARY...

Runs ldd on each binary. Fails (exit 1), naming the libraries and their folders, when
cuBLAS, cuBLASLt, cuSOLVER, cuSPARSE and nvJitLink of one binary resolve from more than
one folder (cuBLAS from the toolkit with the torch wheel's cuBLASLt, say), or when any of
them is "not found", or, in a binary that loads libtorch_cuda.so, when they do not come
from where libtorch_cuda.so alone takes them (ldd on it: its own RPATH, the torch wheel's
nvidia/cu13/lib). The wheel's nvidia/<pkg>/lib folders (one per library, the CUDA 12
wheels' layout) count as one place. Exit 77 (skipped) when no binary loads any of them:
a build without CUDA.
"""
import os
import re
import shutil
import subprocess
import sys

# The set that must come from one build; cudart is listed with it, not checked: it does
# not depend on cuBLAS's build, and one process loads only one libcudart.so.13 anyway.
CHECKED = ("libcublas", "libcublasLt", "libcusolver", "libcusparse", "libnvJitLink")
SHOWN = CHECKED + ("libcudart",)
TORCH_CUDA = "libtorch_cuda.so"
LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(.+?)(?:\s+\(0x[0-9a-f]+\))?$")


def base(soname):
    """libcublasLt.so.13 -> libcublasLt."""
    return soname.split(".so")[0]


def resolved(binary):
    """{soname: path or "not found"} of the SHOWN libraries and libtorch_cuda.so that ldd
    lists for binary."""
    run = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"FAILED: ldd {binary}: {run.stderr.strip() or run.stdout.strip()}")
    found = {}
    for line in run.stdout.splitlines():
        m = LDD_LINE.match(line)
        if m and (base(m.group(1)) in SHOWN or m.group(1) == TORCH_CUDA):
            found[m.group(1)] = m.group(2)
    return found


def place(path):
    """The folder a library loads from (symbolic links and `..` resolved); the wheel's
    per-library folders .../nvidia/<pkg>/lib (not .../nvidia/cu13/lib) are one place."""
    folder = os.path.realpath(os.path.dirname(path))
    m = re.match(r"^(.*/nvidia)/(?!cu\d+/)[^/]+/lib$", folder)
    return f"{m.group(1)}/*/lib" if m else folder


def check(binary, libs):
    """Error lines for one binary's {soname: path}, empty when it is one set."""
    errors = [f"{binary}: {so} not found" for so, p in sorted(libs.items()) if p == "not found"]
    places = {}
    for so, path in sorted(libs.items()):
        if path != "not found" and base(so) in CHECKED:
            places.setdefault(place(path), []).append(so)
    if len(places) > 1:
        errors.append(f"{binary}: cuBLAS, cuBLASLt, cuSOLVER, cuSPARSE and nvJitLink load from "
                      f"{len(places)} folders:")
        errors += [f"  {folder}: {' '.join(sos)}" for folder, sos in sorted(places.items())]
    return errors


def check_torch(binary, libs):
    """Error lines when binary loads one of CHECKED from elsewhere than libtorch_cuda.so
    (as ldd resolves it on its own) does."""
    torch_path = libs.get(TORCH_CUDA, "not found")
    if torch_path == "not found":
        return []
    own = resolved(torch_path)
    return [f"{binary}: {so} from {place(path)}, but {TORCH_CUDA} takes it from "
            f"{place(own[so])}"
            for so, path in sorted(libs.items())
            if base(so) in CHECKED and so in own and "not found" not in (path, own[so])
            and place(path) != place(own[so])]


def main(binaries):
    binaries = [b for b in binaries if b]  # ctest passes "" for a target this build lacks
    if not binaries:
        print("usage: check_cuda_library_set.py BINARY...", file=sys.stderr)
        return 2
    if shutil.which("ldd") is None:
        print("SKIP: no ldd on this machine")
        return 77
    errors, any_cuda = [], False
    for binary in binaries:
        if not os.path.isfile(binary):
            errors.append(f"{binary}: not built")
            continue
        libs = resolved(binary)
        any_cuda = any_cuda or any(base(so) in SHOWN for so in libs)
        for so, path in sorted(libs.items()):
            print(f"{binary}: {so} => {path}")
        errors += check(binary, libs) + check_torch(binary, libs)
    if not errors and not any_cuda:
        print("SKIP: no binary loads cudart, cuBLAS(Lt), cuSOLVER, cuSPARSE or nvJitLink "
              "(a build without CUDA)")
        return 77
    if os.environ.get("LD_LIBRARY_PATH") and errors:
        errors.append(f"(LD_LIBRARY_PATH={os.environ['LD_LIBRARY_PATH']} comes before RUNPATH)")
    for line in errors:
        print(line)
    print("FAILED: not one set of CUDA math libraries" if errors else "OK: one set per binary")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
