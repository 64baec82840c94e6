#pragma once
// Error checks for the CUDA runtime, cuBLAS and cuSOLVER. The checking macros
// throw qk::CudaError naming the call, file:line and the library's error text;
// the _NOTHROW variants (for destructors) print to stderr instead.
// Plain C++: usable from g++-compiled host code and from nvcc alike.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace qk {

// A failed CUDA runtime, cuBLAS or cuSOLVER call. code() is the library's status
// value, library() one of "cuda", "cublas", "cusolver".
class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, const char* library, int code)
      : std::runtime_error(what), library_(library), code_(code) {}
  const char* library() const noexcept { return library_; }
  int code() const noexcept { return code_; }

 private:
  const char* library_;
  int code_;
};

namespace detail {

inline const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default:
      return "unrecognised cusolverStatus_t";
  }
}

inline std::string error_message(const char* library, const char* text, int code, const char* expr,
                                 const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line) + ": " + library + " error " + std::to_string(code) +
         " (" + text + ") in " + expr;
}

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  throw CudaError(error_message("cuda", cudaGetErrorString(e), static_cast<int>(e), expr, file, line), "cuda",
                  static_cast<int>(e));
}

[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  throw CudaError(error_message("cublas", cublasGetStatusString(s), static_cast<int>(s), expr, file, line),
                  "cublas", static_cast<int>(s));
}

[[noreturn]] inline void throw_cusolver(cusolverStatus_t s, const char* expr, const char* file, int line) {
  throw CudaError(error_message("cusolver", cusolver_status_name(s), static_cast<int>(s), expr, file, line),
                  "cusolver", static_cast<int>(s));
}

// Logs a failure without throwing. Errors that only mean the runtime is already
// shutting down (static destruction at exit) are not worth a message.
inline void log_cuda(cudaError_t e, const char* expr, const char* file, int line) noexcept {
  if (e == cudaErrorCudartUnloading) return;
  std::fprintf(stderr, "%s\n",
               error_message("cuda", cudaGetErrorString(e), static_cast<int>(e), expr, file, line).c_str());
}

inline void log_cublas(cublasStatus_t s, const char* expr, const char* file, int line) noexcept {
  std::fprintf(
      stderr, "%s\n",
      error_message("cublas", cublasGetStatusString(s), static_cast<int>(s), expr, file, line).c_str());
}

inline void log_cusolver(cusolverStatus_t s, const char* expr, const char* file, int line) noexcept {
  std::fprintf(
      stderr, "%s\n",
      error_message("cusolver", cusolver_status_name(s), static_cast<int>(s), expr, file, line).c_str());
}

}  // namespace detail
}  // namespace qk

#define CUDA_CHECK(expr)                                                                            \
  do {                                                                                              \
    const cudaError_t qk_status_ = (expr);                                                          \
    if (qk_status_ != cudaSuccess) ::qk::detail::throw_cuda(qk_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(expr)                                               \
  do {                                                                   \
    const cublasStatus_t qk_status_ = (expr);                            \
    if (qk_status_ != CUBLAS_STATUS_SUCCESS)                             \
      ::qk::detail::throw_cublas(qk_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUSOLVER_CHECK(expr)                                               \
  do {                                                                     \
    const cusolverStatus_t qk_status_ = (expr);                            \
    if (qk_status_ != CUSOLVER_STATUS_SUCCESS)                             \
      ::qk::detail::throw_cusolver(qk_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUDA_CHECK_NOTHROW(expr)                                                                  \
  do {                                                                                            \
    const cudaError_t qk_status_ = (expr);                                                        \
    if (qk_status_ != cudaSuccess) ::qk::detail::log_cuda(qk_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK_NOTHROW(expr)                                     \
  do {                                                                 \
    const cublasStatus_t qk_status_ = (expr);                          \
    if (qk_status_ != CUBLAS_STATUS_SUCCESS)                           \
      ::qk::detail::log_cublas(qk_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUSOLVER_CHECK_NOTHROW(expr)                                     \
  do {                                                                   \
    const cusolverStatus_t qk_status_ = (expr);                          \
    if (qk_status_ != CUSOLVER_STATUS_SUCCESS)                           \
      ::qk::detail::log_cusolver(qk_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// After every kernel launch: a bad configuration or an earlier asynchronous
// fault shows up here.
#define QK_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())
