#include "torch_info.hpp"

#if defined(QKGEOM_WITH_TORCH)
#include <torch/torch.h>
#endif

#include "threads.hpp"

namespace qk {

namespace {

#if defined(QKGEOM_WITH_TORCH)
void set_torch_threads(int threads) {
  at::set_num_threads(threads);
  static bool interop_set = false;  // libtorch allows one call, before any inter-op work
  if (!interop_set) {
    interop_set = true;
    at::set_num_interop_threads(threads);
  }
}
#endif

}  // namespace

void register_torch_threads() {
#if defined(QKGEOM_WITH_TORCH)
  set_thread_hook(&set_torch_threads);
#endif
}

TorchInfo torch_info() {
  TorchInfo t;
#if defined(QKGEOM_WITH_TORCH)
  t.linked = true;
  t.version = TORCH_VERSION;
  t.cuda_built = torch::cuda::is_available() || at::hasCUDA();
  t.cuda_devices = static_cast<int>(torch::cuda::device_count());
  t.threads = at::get_num_threads();
#endif
  return t;
}

}  // namespace qk
