#pragma once
// Seeded Gaussian test data, written once for every test: n draws of N(mean, sd^2) in T
// (float or double), in order, from Engine(seed); one seed names the same values everywhere.
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace qk {

template <typename T, typename Engine = std::mt19937>
std::vector<T> normals(size_t n, uint64_t seed, T sd = T(1), T mean = T(0)) {
  Engine gen(static_cast<typename Engine::result_type>(seed));
  std::normal_distribution<T> dist(mean, sd);
  std::vector<T> v(n);
  for (T& x : v) x = dist(gen);
  return v;
}

}  // namespace qk
