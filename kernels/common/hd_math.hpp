#pragma once
// Host/device math wrappers: the CUDA math library in device code, <cmath> on the host,
// so one QK_HD formula compiles for both (online_softmax.hpp, rope_band_math.hpp).
#include <cmath>

#include "hd.hpp"

namespace qk {
namespace hd {

QK_HD float exp(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  return std::exp(x);
#endif
}
QK_HD double exp(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
QK_HD double log(double x) {
#if defined(__CUDA_ARCH__)
  return ::log(x);
#else
  return std::log(x);
#endif
}
QK_HD double sqrt(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

}  // namespace hd
}  // namespace qk
