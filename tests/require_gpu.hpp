#pragma once
// QK_REQUIRE_GPU(): the first statement of a GPU test: skips it, with the reason, when no
// CUDA device is usable (host/bo/gpu_stats.hpp says why).
#include <gtest/gtest.h>

#include <string>

#include "bo/gpu_stats.hpp"

#define QK_REQUIRE_GPU()                                                       \
  do {                                                                         \
    std::string why;                                                           \
    if (!::qk::gpu_available(&why)) GTEST_SKIP() << "no CUDA device: " << why; \
  } while (0)
