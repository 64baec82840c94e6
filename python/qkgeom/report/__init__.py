"""qkgeom report: one self-contained HTML page of a sweep store's figures, and with
STATIC.h5 of the static geometry (docs/report.md); run as python3 -m qkgeom.report."""
