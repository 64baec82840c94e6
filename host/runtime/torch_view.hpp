#pragma once
// libtorch tensors as the engine core's device-aware views (host/core/tensor_view.hpp):
// what the model runtime hands to the analyses without a host round trip.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <vector>

#include "tensor_view.hpp"

namespace qk {

// A view of t (f32, f16 or bf16; host or CUDA memory), shape and strides as t's; t must
// outlive it. Throws std::invalid_argument for another dtype or device type.
TensorView torch_view(const at::Tensor& t);

// The cudaStream_t libtorch queues work on for device d (its current stream), for
// ExecContext::stream; null on the CPU. Never null on CUDA: libtorch's default stream,
// whose handle is null, is named cudaStreamLegacy (null would mean "nothing pending").
void* torch_stream(const c10::Device& d);

// Whether every value of every tensor of ts (one device, non-empty) is finite: a 0-d bool
// tensor on that device, queued on torch's stream without a wait.
at::Tensor all_finite_flag(const std::vector<at::Tensor>& ts);

// For each group of tensors (f32, f16 or bf16; host or CUDA memory), whether every value
// of every tensor in it is finite. The CUDA groups cost one reduction per tensor on the
// device and one copy of all their flags to the host: a single synchronisation.
std::vector<bool> torch_all_finite(const std::vector<std::vector<at::Tensor>>& groups);

}  // namespace qk
