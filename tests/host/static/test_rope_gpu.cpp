// GPU twin of rope-geometry (host/static/rope_gpu_cuda.cpp, kernels/rope_geometry.cu)
// against its CPU twin (rope_layer_cpu, itself checked against numpy forming B(D) in
// tests/reference/test_rope_geometry.py): the rotation kernel against R(D) formed as a
// d x d matrix, the band kernel against rope_head_bands, and whole layers (GQA, partial
// rotary, hidden < 2d and < d, a rank-deficient head, negative and large offsets):
// singular values to 1e-12 relative plus 64 eps of the largest, traces to 1e-12 of the
// nuclear norm, band energies to 1e-12 of the head's largest, fractions and shares to 1e-12.
// Kernel outputs are NaN-filled before each launch (tests/kernels/gpu_parity.hpp), so an
// output left unwritten fails. Skips without a CUDA device (the argument checks run everywhere).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu_context.hpp"
#include "host/static/static_dims.hpp"
#include "kernels/gpu_parity.hpp"
#include "require_gpu.hpp"
#include "rope_geometry.cuh"
#include "rope_operator.hpp"
#include "test_random.hpp"

namespace qk {
namespace {

// inv_freq of the default RoPE (theta 10000) over r dims, and a spec with `offsets`.
RopeSpec spec_of(int64_t r, const std::vector<int64_t>& offsets) {
  RopeSpec s;
  s.rotary_dim = r;
  for (int64_t i = 0; i < r / 2; ++i)
    s.inv_freq.push_back(1.0 / std::pow(10000.0, static_cast<double>(2 * i) / static_cast<double>(r)));
  s.offsets = offsets;
  return s;
}

TEST(RopeGpu, RotateColumnPairsEqualsTimesRotation) {
  QK_REQUIRE_GPU();
  const cudaStream_t stream = thread_gpu_context(0).stream();
  for (const auto& shape : std::vector<std::array<int64_t, 4>>{{5, 8, 8, 3}, {17, 16, 6, 2}}) {
    const int64_t rows = shape[0], d = shape[1], r = shape[2], count = shape[3];  // captured below
    const RopeSpec s = spec_of(r, {37});
    const std::vector<double> cs = rope_cos_sin(s),
                              x = normals<double>(static_cast<size_t>(rows * d * count), 3);
    // R as a d x d matrix: column i + P of y is -s x_i + c x_{i+P}, i.e. y = x M.
    std::vector<double> M(static_cast<size_t>(d * d), 0.0);
    for (int64_t j = r; j < d; ++j) M[j * d + j] = 1.0;
    for (int64_t i = 0, P = r / 2; i < P; ++i) {
      const double c = std::cos(37.0 * s.inv_freq[i]), sn = std::sin(37.0 * s.inv_freq[i]);
      M[i * d + i] = c, M[(i + P) * d + i] = sn, M[i * d + i + P] = -sn, M[(i + P) * d + i + P] = c;
    }
    const DeviceBuffer<double> dx = to_device(x, stream), dcs = to_device(cs, stream);
    const std::vector<double> y = gpu_outputs(x.size(), stream, [&](double* out) {
      launch_rotate_column_pairs(dx.data(), rows, d, rows * d, r / 2, dcs.data(), count, out, stream);
    });
    std::vector<double> want(x.size(), 0.0);
    for (int64_t c = 0; c < count; ++c)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < d; ++j)  // column-major: x_c(i, k) = x[c rows d + k rows + i]
          for (int64_t k = 0; k < d; ++k)
            want[c * rows * d + j * rows + i] += x[c * rows * d + k * rows + i] * M[k * d + j];
    expect_close(y, want, {1e-14, 0.0}, "X R(37), rows " + std::to_string(rows) + ", r " + std::to_string(r));
  }
}

TEST(RopeGpu, BandsMatchCpuTwin) {
  QK_REQUIRE_GPU();
  const cudaStream_t stream = thread_gpu_context(0).stream();
  const int64_t d = 12, r = 8, H = 3, P = r / 2;
  const StaticDims dims = static_dims(0, H, 1, d, 20);
  const RopeSpec s = spec_of(r, {0, 1, 5, -9, 4096});
  const int64_t O = static_cast<int64_t>(s.offsets.size());
  // Grams X^T X of random 20 x d X per head; head 2's K Gram zero (an all-zero operator).
  std::vector<double> gq(static_cast<size_t>(H * d * d)), gk(gq.size());
  for (int64_t h = 0; h < H; ++h) {
    const std::vector<double> a = normals<double>(20 * d, 10 + h), b = normals<double>(20 * d, 20 + h);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j)
        for (int64_t t = 0; t < 20; ++t) {
          gq[h * d * d + i * d + j] += a[t * d + i] * a[t * d + j];
          gk[h * d * d + i * d + j] += h == 2 ? 0.0 : b[t * d + i] * b[t * d + j];
        }
  }
  const std::vector<double> cs = rope_cos_sin(s);
  RopeLayer want = sized_rope_layer(dims, s);
  for (int64_t h = 0; h < H; ++h)
    rope_head_bands(&gq[h * d * d], &gk[h * d * d], d, r, O, cs.data(), h, want);
  // All six outputs in one NaN-filled buffer, so an output the kernel leaves unwritten fails.
  const DeviceBuffer<double> dq = to_device(gq, stream), dk = to_device(gk, stream),
                             dcs = to_device(cs, stream);
  const size_t ne = want.band_energy.size(), np = want.band_mean_energy.size(), nh = static_cast<size_t>(H);
  const std::vector<double> got = gpu_outputs(ne + 3 * np + 2 * nh, stream, [&](double* out) {
    launch_rope_bands(
        dq.data(), dk.data(), d, r, O, dcs.data(), H,
        {out, out + ne, out + ne + np, out + ne + 2 * np, out + ne + 3 * np, out + ne + 3 * np + nh}, stream);
  });
  const double big = *std::max_element(want.band_energy.begin(), want.band_energy.end());
  size_t at = 0;
  const auto next = [&](const std::vector<double>& ref, double atol, const char* what) {
    expect_close(slice(got, at, ref.size()), ref, {atol, 0.0}, what);
    at += ref.size();
  };
  next(want.band_energy, 1e-12 * big, "band energy");
  next(want.band_mean_energy, 1e-12 * big, "mean energy");
  next(want.invariant_fraction, 1e-12, "invariant fraction");
  next(want.band_share, 1e-12, "share");
  next(want.unrotated_energy, 1e-12 * big, "unrotated energy");
  next(want.unrotated_share, 1e-12, "unrotated share");
  EXPECT_EQ(got[ne + np + 2 * P], 1.0);  // head 2, m = 0: fraction 1
}

struct Case {
  int64_t hq, hkv, d, hidden, r;
};

// f32 weights [rows][hidden], with head 0's W_Q rows 0 and 1 equal (a rank-deficient head).
std::vector<float> weights(int64_t rows, int64_t hidden, uint32_t seed) {
  const std::vector<double> v = normals<double>(static_cast<size_t>(rows * hidden), seed);
  std::vector<float> w(v.begin(), v.end());
  if (rows > 1) std::copy(w.begin(), w.begin() + hidden, w.begin() + hidden);
  return w;
}

// got against want for one layer with O offsets: per head and offset the singular values
// (1e-12 relative + 64 eps of the largest) and the signed trace (1e-12 of the nuclear norm);
// per head the band energies and mean energies (1e-12 of the head's largest band energy),
// fractions and shares (1e-12), and the unrotated energy and share.
void expect_rope_layer_close(const RopeLayer& got, const RopeLayer& want, const Case& c, int64_t O) {
  const int64_t P = c.r / 2, OP = O * P;
  ASSERT_EQ(got.sv.size(), want.sv.size());
  for (int64_t ho = 0; ho < c.hq * O; ++ho) {
    const std::string at = "d " + std::to_string(c.d) + " head-offset " + std::to_string(ho);
    const std::vector<double> sv = slice(want.sv, ho * c.d, c.d);
    double nuclear = 0;
    for (double x : sv) nuclear += x;
    expect_close(slice(got.sv, ho * c.d, c.d), sv, {64 * DBL_EPSILON * sv[0], 1e-12}, "sv " + at);
    expect_close(slice(got.signed_trace, ho, 1), slice(want.signed_trace, ho, 1), {1e-12 * nuclear, 0.0},
                 "signed trace " + at);
  }
  for (int64_t h = 0; h < c.hq; ++h) {
    const std::string at = " d " + std::to_string(c.d) + " head " + std::to_string(h);
    const std::vector<double> e = slice(want.band_energy, h * OP, OP);
    const double big = *std::max_element(e.begin(), e.end());
    expect_close(slice(got.band_energy, h * OP, OP), e, {1e-12 * big, 0.0}, "band energy" + at);
    expect_close(slice(got.band_mean_energy, h * P, P), slice(want.band_mean_energy, h * P, P),
                 {1e-12 * big, 0.0}, "mean energy" + at);
    expect_close(slice(got.invariant_fraction, h * P, P), slice(want.invariant_fraction, h * P, P),
                 {1e-12, 0.0}, "invariant fraction" + at);
    expect_close(slice(got.band_share, h * P, P), slice(want.band_share, h * P, P), {1e-12, 0.0},
                 "share" + at);
    expect_close(slice(got.unrotated_share, h, 1), slice(want.unrotated_share, h, 1), {1e-12, 0.0},
                 "unrotated share" + at);
    const double ue = want.unrotated_energy[h];
    expect_close(slice(got.unrotated_energy, h, 1), {ue}, {1e-12 * std::max(big, std::fabs(ue)), 0.0},
                 "unrotated energy" + at);
  }
}

TEST(RopeGpu, LayerMatchesCpuTwin) {
  QK_REQUIRE_GPU();
  const std::vector<int64_t> offsets{0, 1, 2, 7, 100, -3, 4096, 131071};
  for (const Case& c : {Case{4, 2, 8, 40, 8}, Case{6, 3, 16, 24, 6}, Case{2, 1, 16, 12, 16},
                        Case{4, 4, 64, 257, 64}, Case{2, 1, 128, 96, 32}}) {
    const StaticDims dims = static_dims(1, c.hq, c.hkv, c.d, c.hidden);
    const RopeSpec s = spec_of(c.r, offsets);
    const std::vector<float> wq = weights(c.hq * c.d, c.hidden, 5), wk = weights(c.hkv * c.d, c.hidden, 6);
    const RopeLayer want = rope_layer_cpu(wq.data(), wk.data(), dims, s);
    const RopeLayer got = rope_layer_gpu(wq.data(), wk.data(), dims, s, 0);
    expect_rope_layer_close(got, want, c, static_cast<int64_t>(offsets.size()));
  }
}

// Arguments are checked before any device is touched: runs without a GPU too.
TEST(RopeGpu, RejectsBadDims) {
  const StaticDims dims = static_dims(1, 2, 1, 8, 16);
  const std::vector<float> w(2 * 8 * 16, 1.0f);
  RopeSpec s = spec_of(8, {0, 1});
  s.rotary_dim = 7;  // odd
  EXPECT_THROW(rope_layer_gpu(w.data(), w.data(), dims, s, 0), std::logic_error);
  s = spec_of(10, {0});  // r > head_dim
  EXPECT_THROW(rope_layer_gpu(w.data(), w.data(), dims, s, 0), std::logic_error);
  s = spec_of(8, {0});
  EXPECT_THROW(rope_layer_gpu(nullptr, w.data(), dims, s, 0), std::invalid_argument);
  EXPECT_THROW(launch_rotate_column_pairs(nullptr, 2, 4, 8, 3, nullptr, 1, nullptr, nullptr),
               std::invalid_argument);
}

}  // namespace
}  // namespace qk
