#include "torch_view.hpp"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

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
  return c10::impl::getDeviceGuardImpl(c10::kCUDA)->getStream(d).native_handle();
}

bool torch_all_finite(const at::Tensor& t) {
  if (t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous())
    return all_finite(t.data_ptr<float>(), t.numel());
  return at::isfinite(t).all().item<bool>();
}

}  // namespace qk
