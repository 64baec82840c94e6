#!/usr/bin/env python3
"""The device-resident cases of a bench_bo JSON (Google Benchmark --benchmark_out) as a
Markdown table: per case the measured milliseconds, the least bytes and FLOPs it must do
(bench_bo's counters GB, GFLOP; docs/benchmarks.md, "Cost model"), the rates reached
(GB/s, share of the H200's 4.8 TB/s HBM; TFLOP/s, share of the peak of the units doing the
arithmetic), the lower bound on its time and the share of it reached; then the end-to-end
`bo/` cases (host->device upload included) for comparison.

Usage: bench/side_by_side/bo_kernel_report.py BENCH_BO.json"""
import json
import sys

UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def ms(case):
    """A case's mean wall milliseconds per iteration."""
    return case["real_time"] * UNIT_MS[case["time_unit"]]


def fmt(case, key, spec):
    """case[key] formatted with spec, or "-" when the case has no such counter."""
    return format(case[key], spec) if key in case else "-"


def table(cases):
    """Markdown lines: one row per device-resident case (kernels/ and kernel/)."""
    lines = ["| case | ms | GB | GFLOP | GB/s | HBM % | TFLOP/s | peak % | bound ms | bound % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        lines.append(f"| {c['name'].removesuffix('/real_time')} | {ms(c):.3f} | {fmt(c, 'GB', '.2f')} | "
                     f"{fmt(c, 'GFLOP', '.1f')} | {fmt(c, 'GB/s', '.0f')} | {fmt(c, 'HBM%', '.1f')} | "
                     f"{fmt(c, 'TFLOP/s', '.2f')} | {fmt(c, 'peak%', '.1f')} | {fmt(c, 'bound_ms', '.3f')} | "
                     f"{fmt(c, 'bound%', '.1f')} |")
    return lines


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[-1])
    runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    failed = [b for b in runs if b.get("error_occurred")]
    ok = [b for b in runs if not b.get("error_occurred")]
    device = [b for b in ok if b["name"].startswith(("kernels/", "kernel/"))]
    e2e = [b for b in ok if b["name"].startswith("bo/")]
    lines = ["Device-resident (no upload, one synchronisation per iteration):", ""] + table(device)
    lines += ["", "End to end (analyse_bo on a host snapshot, the host->device upload included):", ""]
    lines += [f"- {b['name'].removesuffix('/real_time')}: {ms(b):.2f} ms" for b in e2e]
    lines += [f"- FAILED {b['name']}: {b.get('error_message', '')}" for b in failed]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
