"""Dimension names, units and descriptions of the datasets of STATIC.h5, simplex and
head-dim files, which (unlike a sweep store's) carry no `dims` or `units` attributes, and
of CMP.h5's string datasets (its numbers have `dims`).
Sources: docs/static-geometry.md, docs/simplex.md, docs/headdim.md, docs/compare.md."""

SPECTRA = {"exact": "of the operator Q^T K", "shortcut": "of the seed's shortcut K Q^T"}

DESCRIPTORS = {
    "op": ("", "largest singular value"),
    "fro": ("", "Frobenius norm, sqrt(sum s^2)"),
    "trace": ("", "sum of the singular values"),
    "rank_eff": ("", "effective rank, sum s / max s"),
    "spec_ent": ("nats", "spectral entropy of p = s^2 / sum s^2"),
    "anisotropy": ("", "max s / mean s"),
    "condition": ("", "max s / min s (exact: +inf for a numerically rank-deficient head)"),
}

STATIC = {
    "symmetric/eigenvalues": (("layer", "head", "eigen"), "",
                              "eigenvalues of (g + g^T)/2, by magnitude, signs kept"),
    "symmetric/eigenvectors": (("layer", "head", "top", "hidden"), "",
                               "unit eigenvectors of the first topk eigenvalues"),
    "operator/fro_sq": (("layer", "head"), "", "squared Frobenius norm of the operator g"),
    "operator/fro_sq_shortcut": (("layer", "head"), "", "squared Frobenius norm of K Q^T"),
    "operator/gram": (("layer", "other_layer", "head"), "", "<g_l^h, g_l'^h>_F"),
    "align/cos_matrix": (("layer", "other_layer"), "", "operator cosine between layers, mean over heads"),
    "align/adjacent_cos": (("layer_pair",), "", "operator cosine of layer l with l+1"),
    "align/to_anchor_cos": (("layer",), "", "operator cosine to the anchor layer"),
    "align/to_anchor_scale": (("layer",), "", "best scalar rescale onto the anchor, mean over heads"),
    "align/to_anchor_residual": (("layer",), "", "sqrt(1 - cos^2) of the cosine to the anchor"),
    "align/rescale_mean_cos": (("layer",), "", "per-head cosines to the anchor, mean over heads"),
    "align/rescale_mean_residual": (("layer",), "", "per-head sqrt(1 - cos^2), mean over heads"),
    "align/frac_positive": (("layer",), "", "fraction of positive symmetric eigenvalues"),
    "align/pa_mean_cos": (("layer",), "", "mean principal-angle cosine to the anchor's top-K eigen-subspace"),
    "align/pa_min_cos": (("layer",), "", "smallest principal-angle cosine to the anchor's subspace"),
    "align/pa_top1_overlap": (("layer",), "", "squared overlap of the top eigenvectors with the anchor's"),
    "align/sign_k": (("k",), "", "top-k sizes of the curvature-sign agreement"),
    "align/sign_agree": (("k",), "", "curvature-sign agreement with the anchor, mean over layers and heads"),
    "align/sign_agree_thirds": (("k", "third"), "", "curvature-sign agreement per layer third"),
}

ROPE = {  # ROPE.h5 (docs/static-geometry.md); operator/<descriptor> as "operator/op"
    "offsets": (("offset",), "positions", "offset D, query minus key position"),
    "local_rope": (("layer",), "", "1: the layer used the sliding layers' RoPE"),
    "inv_freq": (("layer", "band"), "radians per position", "inverse frequency w_p of each rotary pair"),
    "operator/singular_values": (("layer", "head", "offset", "singular"), "", "singular values of B(D)"),
    "operator/signed_trace": (("layer", "head", "offset"), "", "tr B(D)"),
    "bands/energy": (("layer", "head", "offset", "band"), "", "band energy E_p(D)"),
    "bands/mean_energy": (("layer", "head", "band"), "", "band mean energy m_p over offsets"),
    "bands/share": (("layer", "head", "band"), "", "m_p / M, the band's share of the mean energy"),
    "bands/invariant_fraction": (("layer", "head", "band"), "", "1 - a_p / m_p, energy present at every offset"),
    "bands/unrotated_energy": (("layer", "head"), "", "energy of the unrotated dims"),
    "bands/unrotated_share": (("layer", "head"), "", "E_u / M"),
    "sweep/mean_query": (("layer", "head", "head_dim"), "", "mean pre-RoPE query of the sweep"),
    "sweep/mean_key": (("layer", "kv_head", "head_dim"), "", "mean pre-RoPE key of the sweep"),
    "sweep/expected_logit": (("layer", "head", "distance"), "logits", "E_h(D) of the mean query and key"),
    "sweep/implied_mass": (("layer", "head", "bucket"), "probability", "attention mass per distance bucket implied by E"),
    "sweep/measured_mass": (("layer", "head", "bucket"), "probability", "the sweep's attention/distance_mass, mean"),
    "sweep/spearman": (("layer", "head"), "", "Spearman of implied and measured mass over buckets"),
    "sweep/total_variation": (("layer", "head"), "", "total variation between implied and measured mass"),
    "sweep/window": (("layer",), "positions", "the layer's sliding window w; 0: every earlier key"),
    "sweep/softcap": (("layer",), "logits", "the logit soft-cap C applied to E; 0: none"),
}

SIMPLEX_UNITS = {"rows": "rows", "valid": "simplices"}

HEADDIM = {
    "configs/acc_mid": ("0..1", "training-set accuracy halfway through training"),
    "configs/acc_post": ("0..1", "training-set accuracy after training"),
    "configs/loss_mid": ("nats", "cross-entropy halfway through training"),
    "configs/loss_post": ("nats", "cross-entropy after training"),
    "configs/train_s": ("s", "training time"),
    "configs/measure_s": ("s", "time of the CVs"),
}
# Head-dim files of schema_version 1 (before 2026-11-30) named the timings *_seconds.
HEADDIM["configs/train_seconds"] = HEADDIM["configs/train_s"]
HEADDIM["configs/measure_seconds"] = HEADDIM["configs/measure_s"]

SIMPLEX_TEXT = {
    "cv": "coefficient of variation of the simplex volumes",
    "null_mean": "mean CV of the Gaussian null baseline",
    "null_std": "std of the null baseline's CV",
    "z": "(cv - null_mean) / null_std",
    "band": "degenerate / band / volatile / n/a (the seed's thresholds)",
    "valid": "volumes kept (> 0)",
}


COMPARE_GROUPS = {"runs": "run", "probes": "probe", "missing": "missing", "domains": "domain",
                  "static": "static"}  # CMP.h5's string datasets, which have no `dims`


def dims_of(kind, name, shape):
    """Dimension names of dataset `name` (of `shape`) in a file of `kind`."""
    if kind == "compare" and len(shape) == 1:
        return (COMPARE_GROUPS.get(name.split("/")[0], "dim0"),)
    if kind == "simplex":
        return ("matrix",)
    if kind == "headdim":
        return ("config",) if name.startswith("configs/") else ("measurement",)
    if kind == "rope":
        return ROPE[name][0] if name in ROPE else ("layer", "head", "offset")[:len(shape)]
    group, _, leaf = name.partition("/")
    if name in STATIC:
        return STATIC[name][0]
    if leaf == "singular_values":
        return ("layer", "head", "singular")
    if group in SPECTRA and len(shape) == 2:
        return ("layer", "head")
    return tuple(f"dim{i}" for i in range(len(shape)))


def describe(kind, name):
    """(units, description) of dataset `name` in a file of `kind`; '' where none is known."""
    if kind == "static":
        group, _, leaf = name.partition("/")
        if name in STATIC:
            return STATIC[name][1:]
        if group in SPECTRA and leaf == "singular_values":
            return "", f"singular values {SPECTRA[group]}, descending"
        if group in SPECTRA and leaf in DESCRIPTORS:
            units, text = DESCRIPTORS[leaf]
            return units, f"{text}, spectrum {SPECTRA[group]}"
        return "", ""
    if kind == "rope":
        group, _, leaf = name.partition("/")
        if name in ROPE:
            return ROPE[name][1:]
        return DESCRIPTORS.get(leaf, ("", "")) if group == "operator" else ("", "")
    if kind == "headdim" and name in HEADDIM:
        return HEADDIM[name]
    units = SIMPLEX_UNITS.get(name, "") if kind == "simplex" else ""
    return units, SIMPLEX_TEXT.get(name, "")
