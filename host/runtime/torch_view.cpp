#include "torch_view.hpp"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <driver_types.h>  // cudaStreamLegacy, a constant: no CUDA runtime is linked

#include "finite_check.hpp"

namespace qk {

TensorView torch_view(const at::Tensor& t) {
  TensorView v;
  const at::ScalarType s = t.scalar_type();
  if (s == at::kFloat)
    v.dtype = DType::F32;
  else if (s == at::kBFloat16)
    v.dtype = DType::BF16;
  else if (s == at::kHalf)
    v.dtype = DType::F16;
  else
    throw std::invalid_argument(std::string("torch_view: unsupported dtype ") + c10::toString(s));
  if (!t.device().is_cpu() && !t.device().is_cuda())
    throw std::invalid_argument("torch_view: tensor on " + t.device().str() + ", not the CPU or CUDA");
  v.data = t.data_ptr();
  v.shape = t.sizes().vec();
  v.strides = t.strides().vec();
  v.device.cuda = t.device().is_cuda();
  v.device.index = v.device.cuda ? t.device().index() : 0;
  return v;
}

// Asked through c10's device-generic interface (libtorch_cuda registers the CUDA one), so
// no c10_cuda is linked: the CPU-only engine (qkgeom-engine-cpu) has libtorch_cpu and c10.
void* torch_stream(const c10::Device& d) {
  if (!d.is_cuda()) return nullptr;
  void* s = c10::impl::getDeviceGuardImpl(c10::kCUDA)->getStream(d).native_handle();
  return s != nullptr ? s : cudaStreamLegacy;
}

namespace {

// Whether every value of the host tensor t is finite.
bool host_all_finite(const at::Tensor& t) {
  if (t.scalar_type() == at::kFloat && t.is_contiguous()) return all_finite(t.data_ptr<float>(), t.numel());
  return at::isfinite(t).all().item<bool>();
}

}  // namespace

at::Tensor all_finite_flag(const std::vector<at::Tensor>& ts) {
  at::Tensor flag;
  for (const at::Tensor& t : ts) {
    const at::Tensor f = at::isfinite(t).all();
    flag = flag.defined() ? flag.logical_and(f) : f;
  }
  return flag;
}

std::vector<bool> torch_all_finite(const std::vector<std::vector<at::Tensor>>& groups) {
  std::vector<bool> out(groups.size(), true);
  std::vector<size_t> on_device;  // the groups holding a CUDA tensor, with their flags
  std::vector<at::Tensor> flags;
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<at::Tensor> cuda;
    for (const at::Tensor& t : groups[g]) {
      if (t.device().is_cuda())
        cuda.push_back(t);
      else
        out[g] = out[g] && host_all_finite(t);
    }
    if (cuda.empty()) continue;
    on_device.push_back(g);
    flags.push_back(all_finite_flag(cuda));
  }
  if (flags.empty()) return out;
  const at::Tensor host = at::stack(flags).to(at::kCPU);  // the one synchronisation
  const bool* h = host.data_ptr<bool>();
  for (size_t i = 0; i < on_device.size(); ++i) out[on_device[i]] = out[on_device[i]] && h[i];
  return out;
}

}  // namespace qk
