#include "checkpoint.hpp"

#include <cstdint>

#include <ATen/ATen.h>

namespace qk {

namespace {

c10::ScalarType scalar_type_of(DType t) {
  switch (t) {
    case DType::F32:
      return c10::kFloat;
    case DType::F16:
      return c10::kHalf;
    case DType::BF16:
      return c10::kBFloat16;
    default:
      return c10::kFloat;
  }
}

}  // namespace

at::Tensor Checkpoint::load(const std::string& name, const std::vector<int64_t>& shape, c10::Device device,
                            c10::ScalarType dtype) {
  const WeightView w = weights_.find(name, shape);
  const c10::ScalarType src_type = scalar_type_of(w.info->dtype);
  void* bytes = const_cast<uint8_t*>(w.data());
  // The view holds the shard: the mapping lives as long as any tensor viewing it.
  std::shared_ptr<SafeTensorsFile> keep = w.file;
  at::Tensor view = at::from_blob(
      bytes, shape, [keep](void*) {}, at::TensorOptions().dtype(src_type).device(c10::kCPU));
  const bool aligned = reinterpret_cast<uintptr_t>(bytes) % dtype_size(w.info->dtype) == 0;
  if (!aligned) view = view.clone();
  if (device.is_cpu() && dtype == src_type) return view;
  return view.to(device, dtype);
}

}  // namespace qk
