#include "tensor_view.hpp"

#include <stdexcept>

namespace qk {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool TensorView::contiguous() const {
  if (strides.empty()) return true;
  if (strides.size() != shape.size()) return false;
  int64_t expect = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

TensorView host_view(const float* data, std::vector<int64_t> shape) {
  TensorView v;
  v.data = data;
  v.shape = std::move(shape);
  return v;
}

const float* f32_data(const TensorView& v, size_t rank, const Device& runs_on, bool device_ok,
                      const std::string& what) {
  if (v.dtype != DType::F32) throw std::invalid_argument(what + ": expected f32 data");
  if (v.shape.size() != rank)
    throw std::invalid_argument(what + ": expected rank " + std::to_string(rank) + ", got rank " +
                                std::to_string(v.shape.size()));
  for (int64_t s : v.shape)
    if (s < 0) throw std::invalid_argument(what + ": negative extent in its shape");
  if (!v.contiguous()) throw std::invalid_argument(what + ": expected a row-major contiguous tensor");
  if (v.data == nullptr && v.numel() > 0) throw std::invalid_argument(what + ": null data");
  if (v.device.cuda && !(device_ok && v.device == runs_on))
    throw std::invalid_argument(what + ": the data is in " + v.device.name() +
                                " memory, but this analysis reads " +
                                (device_ok && runs_on.cuda ? runs_on.name() + " or host" : "host") +
                                " memory; copy it to the host (or run on its device) first");
  return static_cast<const float*>(v.data);
}

}  // namespace qk
