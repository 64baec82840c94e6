#!/usr/bin/env python3
"""The layering of host/ (issue 12, docs/architecture.md): nothing under host/ but the CLI
includes a header of host/sweep or links qk_sweep; the analyses (static, simplex,
headdim) include no header of host/study and link no qk_study; host/core includes
nothing of host/runtime (libtorch) or a CUDA header. Reads the sources' #include lines
and the CMakeLists' target_link_libraries calls."""
import os
import re
import sys

SRC = os.environ.get("QK_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = os.path.join(SRC, "host")
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^">]+)[">]', re.M)
LINK = re.compile(r"target_link_libraries\(([^)]*)\)", re.S)


def headers(folder):
    return {f for f in os.listdir(os.path.join(HOST, folder)) if f.endswith((".hpp", ".h", ".cuh"))}


def sources(folder):
    for root, _, files in os.walk(os.path.join(HOST, folder)):
        for f in files:
            if f.endswith((".cpp", ".hpp", ".h", ".cu", ".cuh")):
                yield os.path.join(root, f)


def includes(path):
    return [os.path.basename(m) for m in INCLUDE.findall(open(path, encoding="utf-8").read())]


def links(folder):
    cm = os.path.join(HOST, folder, "CMakeLists.txt")
    if not os.path.exists(cm):
        return set()
    return {w for m in LINK.findall(open(cm, encoding="utf-8").read()) for w in m.split()}


def main():
    bad = []
    folders = sorted(d for d in os.listdir(HOST) if os.path.isdir(os.path.join(HOST, d)))
    sweep_h, study_h, runtime_h = headers("sweep"), headers("study"), headers("runtime")
    for folder in folders:
        if folder in ("sweep", "cli"):
            continue
        for path in sources(folder):
            rel = os.path.relpath(path, SRC)
            for h in includes(path):
                if h in sweep_h:
                    bad.append(f"{rel} includes {h} of host/sweep")
                if folder in ("static", "simplex", "headdim", "core") and h in study_h:
                    bad.append(f"{rel} includes {h} of host/study")
                if folder == "core" and (h in runtime_h or h.startswith(("torch/", "ATen/", "cuda"))):
                    bad.append(f"{rel} includes {h} (core links neither libtorch nor CUDA)")
        linked = links(folder)
        if "qk_sweep" in linked:
            bad.append(f"host/{folder}/CMakeLists.txt links qk_sweep")
        if folder in ("static", "simplex", "headdim", "core") and "qk_study" in linked:
            bad.append(f"host/{folder}/CMakeLists.txt links qk_study")
    for b in bad:
        print("FAILED: " + b)
    print(f"{len(folders)} folders of host/ checked, {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
