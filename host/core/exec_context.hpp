#pragma once
// The execution context of a run, resolved once by the CLI (host/bo/backend.hpp,
// resolve_context) and handed to the analyses: where they run, with how many CPU threads,
// and for CUDA the stream and library handles. CUDA-free: the handles are opaque here.
#include <string>

#include "device.hpp"

namespace qk {

struct ExecContext {
  Device device;    // cpu or cuda:N, resolved
  int threads = 1;  // CPU threads applied to OpenMP, OpenBLAS and libtorch (threads.hpp)
  // CUDA only: the cudaStream_t that wrote the device tensors handed to the analyses
  // (the sweep: libtorch's current stream); they read them after the work queued there,
  // on their own stream. Null: nothing pending. blas_handle: a cublasHandle_t; null (as
  // every caller leaves it) means the analyses' own per-thread handle.
  void* stream = nullptr;
  void* blas_handle = nullptr;
};

// The device and thread count of this run for reports (the `engine` block of every JSON
// output): what record_context last recorded, else the CPU and the threads applied.
struct EngineSettings {
  std::string device;  // "cpu" or "cuda:N"
  int threads = 0;     // 0: none applied (a command that computes nothing)
};

// Records `ctx` as this run's (resolve_context does it).
void record_context(const ExecContext& ctx);
EngineSettings engine_settings();

}  // namespace qk
