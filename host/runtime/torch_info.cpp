#include "torch_info.hpp"

#if defined(QKGEOM_WITH_TORCH)
#include <torch/torch.h>
#endif

namespace qk {

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
