// Test driver for the simplex statistic: `simplex_tool ROWS.f32 N DIM SAMPLES POOL SEED [cm]`
// reads N x DIM f32 (raw, little-endian) and prints one JSON object: the default sampler's
// indices, their volumes, cv and valid; with `cm`, the --cm-compat cv and valid only.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simplex_cv.hpp"
#include "simplex_volume_cpu.hpp"

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    std::fprintf(stderr, "usage: simplex_tool ROWS.f32 N DIM SAMPLES POOL SEED [cm]\n");
    return 2;
  }
  const int64_t n = std::atoll(argv[2]), dim = std::atoll(argv[3]);
  qk::SimplexOptions o;
  o.samples = std::atoll(argv[4]);
  o.pool = std::atoll(argv[5]);
  o.seed = std::strtoull(argv[6], nullptr, 10);
  o.cm_compat = argc == 8 && std::string(argv[7]) == "cm";
  o.null_trials = 0;
  o.device = "cpu";
  std::vector<float> rows(static_cast<size_t>(n * dim));
  std::ifstream in(argv[1], std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(rows.data()),
               static_cast<std::streamsize>(rows.size() * sizeof(float)))) {
    std::fprintf(stderr, "cannot read %lld floats from %s\n", static_cast<long long>(rows.size()), argv[1]);
    return 3;
  }
  nlohmann::json j;
  const qk::SimplexStat s = qk::simplex_statistic(rows.data(), n, dim, o);
  j["cv"] = s.cv ? nlohmann::json(*s.cv) : nlohmann::json();
  j["valid"] = s.valid;
  if (!o.cm_compat && n >= 5) {
    const int64_t pool = o.pool > 0 && o.pool < n ? o.pool : n;
    const std::vector<int64_t> idx = qk::simplex_sample_indices(pool, o.samples, o.seed);
    std::vector<double> vol(static_cast<size_t>(o.samples));
    qk::simplex_volumes_cpu(rows.data(), n, dim, idx.data(), o.samples, vol.data());
    j["indices"] = idx;
    j["volumes"] = vol;
  }
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) << "\n";
  return 0;
}
