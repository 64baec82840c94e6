#pragma once
// The grid: for every (dim, heads), train the seed's classifier and measure the simplex CV
// of its weights and activations before, halfway through and after training.
#include "headdim_types.hpp"

namespace qk {

// std::invalid_argument for a bad grid (heads not dividing dim, empty lists, ...).
void check_headdim_options(const HeaddimOptions& o);

// Progress per config on stderr when o.progress.
HeaddimResult run_headdim_sweep(const HeaddimOptions& o);

}  // namespace qk
