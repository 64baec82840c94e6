#pragma once
// Depth profiles of `qkgeom compare` (docs/compare.md, "Depth profiles"): each run's
// per-layer curve of a layer quantity, and each STATIC.h5's per-layer descriptors, on the
// relative-depth grid.
#include <string>
#include <vector>

#include "compare_quantities.hpp"
#include "compare_study.hpp"

namespace qk {

// Layer quantity q: per run, the mean over the common probes with status ok (and finite
// values at every layer) of the per-layer values (heads averaged), and that curve on r.grid.
DepthProfile run_depth_profile(const ComparedQuantity& q, const CompareResult& r);

// The exact-spectrum descriptors (op, fro, trace, rank_eff, spec_ent, anisotropy; not the
// condition, +inf for a singular head) of each static file, averaged over query heads per
// layer, and on r.grid; r.statics gets each file's model and matching run. InputError
// naming a file that is not a STATIC.h5.
std::vector<DepthProfile> static_depth_profiles(CompareResult& r);

}  // namespace qk
