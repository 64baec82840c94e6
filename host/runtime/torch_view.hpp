#pragma once
// libtorch tensors as the engine core's device-aware views (host/core/tensor_view.hpp):
// what the model runtime hands to the analyses without a host round trip.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "tensor_view.hpp"

namespace qk {

// A view of t (f32, f16 or bf16; host or CUDA memory), shape and strides as t's; t must
// outlive it. Throws std::invalid_argument for another dtype or device type.
TensorView torch_view(const at::Tensor& t);

// The cudaStream_t libtorch queues work on for device d (its current stream), for
// ExecContext::stream; null on the CPU.
void* torch_stream(const c10::Device& d);

// True when every value of t (f32, host or CUDA) is finite; on CUDA one reduction on the
// device and one bool to the host.
bool torch_all_finite(const at::Tensor& t);

}  // namespace qk
