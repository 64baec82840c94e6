"""`qkgeom compare` recomputed from the sweep stores with numpy and scipy.stats
(docs/compare.md): the reference of tests/reference/test_compare.py."""
import h5py
import numpy as np
from refcommon import h5_strings
from scipy import stats
from scipy.spatial.distance import pdist

SCALARS = ["bo/composite", "bo/mean_coherence", "bo/mean_cross_alignment", "bo/phase_lock_score",
           "bo/joint_collapse_count", "bo/mean_head_entropy", "bo/mean_kv_coupling", "attention/mean_entropy",
           "attention/mean_logit_std", "attention/mean_sink_mass"]
INVARIANT = SCALARS[5:]
SEED_FEATURES = SCALARS[1:6]
LAYERED = ["attention/entropy", "attention/logit_std", "attention/sink_mass", "bo/head_entropy",
           "bo/layer_kv_coupling", "bo/layer_coherence"]
STATIC = ["op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy"]


def read_run(path):
    with h5py.File(path, "r") as f:
        n = len(f["probe/index"])
        run = {"ids": h5_strings(f["probe/id"], n), "domains": h5_strings(f["probe/domain"], n),
               "ok": np.array(h5_strings(f["probe/status"], n)) == "ok", "values": {}, "layered": {}}
        for q in SCALARS:
            if q in f:
                run["values"][q] = f[q][:n].astype(float)
        for q in LAYERED:
            if q in f:
                a = f[q][:n].astype(float)
                run["layered"][q] = a.reshape(n, a.shape[1], -1).mean(axis=2)
    run["index"] = {pid: i for i, pid in enumerate(run["ids"])}
    return run


def match(runs):
    common = [pid for pid in runs[0]["ids"] if all(pid in r["index"] for r in runs)]
    seen, missing = set(), []
    for r in runs:
        for pid in r["ids"]:
            lacking = [k for k, o in enumerate(runs) if pid not in o["index"]]
            if lacking and pid not in seen:
                seen.add(pid)
                missing.append({"id": pid, "missing_from": lacking})
    return common, missing


def values(run, common, q):
    if q not in run["values"]:
        return np.full(len(common), np.nan)
    rows = [run["index"][p] for p in common]
    v = run["values"][q][rows].copy()
    v[~run["ok"][rows]] = np.nan
    return v


def summary(v):
    f = v[np.isfinite(v)]
    if len(f) == 0:
        return [0.0] + [np.nan] * 9
    sd = np.std(f, ddof=1) if len(f) > 1 else np.nan
    return [len(f), np.mean(f), sd] + [np.quantile(f, q) for q in (0, .05, .25, .5, .75, .95, 1)]


def bootstrap(d, resamples, seed, level):
    if len(d) == 0 or resamples == 0:
        return np.nan, np.nan
    rs = np.random.RandomState(seed)
    means = np.array([d[rs.randint(0, len(d), size=len(d))].mean() for _ in range(resamples)])
    return tuple(np.percentile(means, [50 * (1 - level), 50 * (1 + level)]))


def paired(a, b, resamples, seed, level):
    use = np.isfinite(a) & np.isfinite(b)
    x, y = a[use], b[use]
    d = x - y
    lo, hi = bootstrap(d, resamples, seed, level)
    nz = d[d != 0]
    if len(nz):
        w = stats.wilcoxon(d, zero_method="wilcox", correction=False, method="asymptotic")
        w_stat, w_z = w.statistic, w.zstatistic
        w_p = stats.wilcoxon(d, zero_method="wilcox", correction=False).pvalue  # method="auto"
        r = stats.rankdata(np.abs(nz))
        rb = (r[nz > 0].sum() - r[nz < 0].sum()) / r.sum()
    else:
        w_stat = w_z = w_p = rb = np.nan
    sd = np.std(d, ddof=1) if len(d) > 1 else np.nan
    dz = d.mean() / sd if len(d) > 1 and sd > 0 else np.nan
    rho = rho_p = tau = tau_p = np.nan
    if len(d) >= 3:
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            s = stats.spearmanr(x, y)
            rho, rho_p = s.statistic, s.pvalue
            k = stats.kendalltau(x, y, method="asymptotic")
            tau, tau_p = k.statistic, k.pvalue
    return [len(d), d.mean() if len(d) else np.nan, lo, hi, w_stat, w_z, w_p, rb, dz, rho, rho_p, tau, tau_p]


def zscore(x):
    sd = x.std(axis=0)
    return np.where(sd > 0, (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1), 0.0)


def agreement(runs, common, a, b, columns):
    if not columns or any(c not in runs[k]["values"] for k in (a, b) for c in columns):
        return 0, np.nan, np.nan
    xa = np.stack([values(runs[a], common, c) for c in columns], axis=1)
    xb = np.stack([values(runs[b], common, c) for c in columns], axis=1)
    use = np.isfinite(xa).all(axis=1) & np.isfinite(xb).all(axis=1)
    n = int(use.sum())
    if n < 3:
        return n, np.nan, np.nan
    x, y = zscore(xa[use]), zscore(xb[use])
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    cka = np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    rsa = stats.spearmanr(pdist(x, "euclidean"), pdist(y, "euclidean")).statistic
    return n, cka, rsa


def depth(run, common, q, grid):
    if q not in run["layered"]:
        return None
    rows = [run["index"][p] for p in common]
    a = run["layered"][q][rows]
    a = a[run["ok"][rows] & np.isfinite(a).all(axis=1)]
    curve = a.mean(axis=0)
    L = len(curve)
    xp = np.arange(L) / (L - 1) if L > 1 else np.zeros(1)
    return curve, np.interp(grid, xp, curve)


def static_depth(path, grid):
    out = {}
    with h5py.File(path, "r") as f:
        for d in STATIC:
            curve = f["exact/" + d][()].mean(axis=1)
            L = len(curve)
            xp = np.arange(L) / (L - 1) if L > 1 else np.zeros(1)
            out["exact/" + d] = (curve, np.interp(grid, xp, curve))
    return out
