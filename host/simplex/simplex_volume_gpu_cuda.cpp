// GPU dispatch of the pentachoron volumes (host C++ compiler, no nvcc).
#include <stdexcept>
#include <string>

#include "gpu_context.hpp"
#include "internal_error.hpp"
#include "simplex_volume.cuh"
#include "simplex_volume.hpp"
#include "simplex_volume_gpu.hpp"

namespace qk {

void simplex_volumes_gpu(const float* rows, int64_t n, int64_t dim, const int64_t* idx, int64_t count,
                         double* vol, int device) {
  const int64_t ni = count * simplex::kVerts;
  for (int64_t i = 0; i < ni; ++i)
    if (idx[i] < 0 || idx[i] >= n)
      throw InternalError("simplex index " + std::to_string(idx[i]) + " outside [0, " + std::to_string(n) +
                          ")");
  if (count <= 0) return;
  ScopedDevice on_device(device);  // the context's stream belongs to `device`
  GpuContext& ctx = thread_gpu_context(device);
  const cudaStream_t stream = ctx.stream();
  DeviceBuffer<float> drows(static_cast<size_t>(n * dim), stream);
  DeviceBuffer<int64_t> didx(static_cast<size_t>(ni), stream);
  DeviceBuffer<double> dvol(static_cast<size_t>(count), stream);
  drows.upload(rows, static_cast<size_t>(n * dim));
  didx.upload(idx, static_cast<size_t>(ni));
  launch_simplex_volumes(drows.data(), dim, didx.data(), count, dvol.data(), stream);
  dvol.download(vol, static_cast<size_t>(count));
}

}  // namespace qk
